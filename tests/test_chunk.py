"""A process holding chunks keeps their heartbeats while its database cannot answer: another
session locks the jobs table of a real PostgreSQL. Liveness must never wait for the store, or a
busy worker (whose annotating threads hold every pooled connection) loses its live chunks to a
takeover, and their tasks are paid for twice; a CI run saw exactly that (905 calls for 900 tasks)."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from ml_backend.jobs.chunk import ChunkProcessor, _Run
from ml_backend.jobs.locks import LocalHeartbeats, chunk_key
from ml_backend.jobs.options import JobOptions
from ml_backend.runtime import Runtime
from ml_backend.settings import Settings
from ml_backend.store import Store

LEASE_S = 1.2  # a beat every 0.4 s


def test_heartbeats_go_on_while_the_store_cannot_answer(fresh_postgres_url: str, tmp_path: Path) -> None:
    store = Store(fresh_postgres_url)
    store.create_all()
    settings = Settings.from_env({"LSAGENT_DATA_DIR": str(tmp_path), "DATABASE_URL": fresh_postgres_url})
    beats = LocalHeartbeats()
    processor = ChunkProcessor(Runtime(settings, store=store), beats, JobOptions(lease_s=LEASE_S), worker="w")
    key = chunk_key("job-x", 0)
    dsn = make_url(fresh_postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(dsn) as locker:
            locker.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")  # held until the block ends
            processor._hold(_Run("job-x", 0))
            seen = []
            deadline = time.monotonic() + 3 * LEASE_S
            while time.monotonic() < deadline:
                seen.append(beats.alive(key))
                time.sleep(0.1)
            locker.rollback()
        assert all(seen), f"the heartbeat lapsed after {seen.index(False) * 0.1:.1f} s while the store was locked"
    finally:
        processor.close(drain_s=0)
        store.dispose()
