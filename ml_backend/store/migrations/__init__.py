"""Alembic migrations of the store, run by ``Store.create_all()`` on an existing store (a new one
is built from ``schema.py`` and stamped at the head; see ``ml_backend.store.migrate``).

``versions/0001_baseline.py`` is the schema of the last release without migrations (7afc181):
a store made by that release is stamped with it, then upgraded like any other. To change the
schema, edit ``schema.py`` and add the next revision under ``versions/`` (``alembic -c
alembic.ini revision --rev-id 0003 -m "what and why"`` writes the file from ``script.py.mako``;
add ``--autogenerate -x url=sqlite:///scratch.db`` to have the changes listed, against a scratch
store upgraded to the previous head);
``tests/test_migrate.py`` fails until the migrations build exactly what ``schema.py`` says.
Downgrades are not supported: back the database up before upgrading the service.
"""
