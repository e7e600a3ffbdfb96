"""Bringing a database to this release's schema with the Alembic migrations in ``migrations/``.

Three cases, one path: an empty database runs every migration from the baseline; a store made
by release 7afc181 or earlier (tables, but no ``alembic_version``) is first stamped with the
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
    """Run the missing migrations on `connection`, in the caller's transaction (which must hold
    the schema lock, so two processes never migrate at once)."""
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
