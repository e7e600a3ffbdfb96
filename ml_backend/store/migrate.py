"""Bringing a database to this release's schema: a new one built from ``schema.py``, an existing
one upgraded by the Alembic migrations in ``migrations/``.

An empty database gets its tables straight from the schema and is stamped at the newest
revision: the migrations from the baseline would build the same tables (tests/test_migrate.py
compares the two, column by column), at three times the cost, paid by every new store. A store
made by release 7afc181 or earlier (tables, but no ``alembic_version``) is first stamped with the
baseline, which is exactly its schema; a migrated store runs the revisions it lacks. A store
upgraded by a newer release is refused rather than touched.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

from .errors import StoreError
from .schema import Base

BASELINE = "0001"
SCRIPTS = Path(__file__).with_name("migrations")


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest revision this release knows."""
    revision = ScriptDirectory(str(SCRIPTS)).get_current_head()
    if revision is None:
        raise StoreError(f"no migrations found in {SCRIPTS}")
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at (None: not under migrations yet)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection) -> None:
    """Bring the database on `connection` to the newest revision, in the caller's transaction
    (which must hold the schema lock, so two processes never build or migrate at once)."""
    if current(connection) is None and not inspect(connection).has_table("agents"):
        create(connection)
    else:
        run_migrations(connection)


def create(connection: Connection) -> None:
    """Build an empty database's tables from the schema and stamp it at the newest revision. A
    table of the same name already there is an error, never silently taken as ours."""
    try:
        Base.metadata.create_all(connection, checkfirst=False)
        command.stamp(_config(connection), "head")
    except Exception as exc:  # whatever broke, the caller's transaction rolls it all back
        raise StoreError(
            f"the database could not be given the schema of revision {head()!r} and was left as it was "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def run_migrations(connection: Connection) -> None:
    """Run the migrations the database lacks (every one, from the baseline, on an empty one)."""
    config = _config(connection)
    at = current(connection)
    if at is None and inspect(connection).has_table("agents"):
        command.stamp(config, BASELINE)
    elif at is not None and at not in _known():
        raise StoreError(
            f"the database is at schema revision {at!r}, made by a newer lsagent release; this "
            f"release knows revisions up to {head()!r}: upgrade lsagent, or use another database"
        )
    try:
        command.upgrade(config, "head")
    except Exception as exc:  # whatever broke, the caller's transaction rolls the whole upgrade back
        raise StoreError(
            f"the database could not be upgraded to schema revision {head()!r} and was left as it was "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _known() -> set[str]:
    return {script.revision for script in ScriptDirectory(str(SCRIPTS)).walk_revisions()}
