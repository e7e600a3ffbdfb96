"""Engine and session plumbing shared by every part of the store.

One engine per `Store`, one short session per call: threads never share a session, and nothing
relies on an in-process lock, so RQ workers on other machines see the same guarantees.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from .errors import StoreInputError
from .schema import Base

#: How long a SQLite writer waits for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: The PostgreSQL advisory lock that serialises schema creation (an arbitrary constant).
SCHEMA_LOCK_KEY = 0x15A6E47

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    """A forked child (RQ forks a work horse per job) must not reuse its parent's sockets or
    SQLite handles: drop them from the pools without closing them under the parent."""
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def normalise_url(url: str) -> URL:
    """Parse `url`, map bare PostgreSQL URLs to psycopg 3 (the driver we ship) and refuse what
    the store cannot serve safely."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise StoreInputError(  # the URL itself may hold a password: never repeat it
            "the database URL (DATABASE_URL) cannot be parsed: use sqlite:///path/to/file.db "
            "or postgresql://user:password@host/db"
        ) from None
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreInputError(
            f"unsupported database {parsed.drivername!r}: use sqlite:///path/to/file.db "
            "or postgresql+psycopg://user@host/db"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise StoreInputError(
            "an in-memory SQLite database is private to one connection; give a file path "
            "(sqlite:///path/to/lsagent.db)"
        )
    return parsed


def _use_wal(cursor: Any) -> None:
    """Switch a new database file to WAL (it stays so). The switch needs the file to itself and
    SQLite answers "locked" at once instead of waiting, so processes creating the same new file
    together (a service and its workers) retry until the first one has switched it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def _sqlite_engine(url: URL) -> Engine:
    Path(url.database or "").expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from pysqlite so the "begin" hook below decides how to begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that reads then writes cannot wait for the lock (SQLite answers
        # "database is locked" at once); writers take the lock up front and queue on busy_timeout.
        immediate = conn.get_execution_options().get("lsagent_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class StoreBase:
    """Owns the engine; subclasses add the operations on each table."""

    def __init__(self, url: str) -> None:
        parsed = normalise_url(url)
        if parsed.get_backend_name() == "sqlite":
            self._engine = _sqlite_engine(parsed)
        else:
            self._engine = create_engine(parsed, pool_pre_ping=True)
        _ENGINES.add(self._engine)
        self._dialect = parsed.get_backend_name()
        self._reader = sessionmaker(self._engine, expire_on_commit=False)
        self._writer = sessionmaker(
            self._engine.execution_options(lsagent_write=True), expire_on_commit=False
        )

    @property
    def url(self) -> str:
        """The database URL without its password, fit for logs."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._dialect

    def create_all(self) -> None:
        """Create the schema of a new store, or upgrade an older one in place through the
        migrations (``migrate``); idempotent.

        Serialised across processes, since a service and its workers may start at the same time:
        SQLite takes its write lock up front, PostgreSQL an advisory lock held to commit. The
        whole upgrade is one transaction, so a failed one leaves the store as it was.
        """
        from . import migrate  # Alembic only loads for a process that opens the store

        with self._engine.execution_options(lsagent_write=True).begin() as connection:
            if self._dialect == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            migrate.upgrade(connection)

    def dispose(self) -> None:
        """Close pooled connections (tests and shutdown)."""
        self._engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reader() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A transaction committed on exit and rolled back on error."""
        with self._writer.begin() as session:
            yield session

    def _insert(self, model: type[Base]) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both dialects spell it the same).
        Whether a row went in is read from RETURNING: rowcount of an INSERT is not reliable
        across drivers."""
        module = sqlite if self._dialect == "sqlite" else postgresql
        return module.insert(model)


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed: every statement the store counts this way is DML, whose
    result is a CursorResult (the session's return type does not say so)."""
    return cast(CursorResult[Any], result).rowcount
