"""Alembic's entry point. The store hands over its own connection, already in a transaction that
holds the schema lock, so migrations never open a second connection or commit on their own.
Without one (the ``alembic`` command line, writing a new revision with ``--autogenerate``) it
connects to the database given as ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from ml_backend.store.schema import Base


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("name the database to compare with: alembic -c alembic.ini -x url=sqlite:///path.db ...")
    with create_engine(url).begin() as own:
        run(own)
