"""A running job survives its service: ``lsagent serve`` (gunicorn, embedded mode, SQLite) is
SIGKILLed mid-job and started again; the first request resumes the job, which then finishes
with every task labeled once and every prediction written once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ml_backend.client import Client
from ml_backend.store import Store
from sync.server import free_port
from tests.jobs_support import assert_exactly_once, new_project, texts, wait_for

LSAGENT = Path(sys.executable).with_name("lsagent")  # the one installed with the interpreter running the tests


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], subprocess.Popen[bytes]]]:
    """``serve(env)`` starts ``lsagent serve`` in its own process group and waits for /health."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"service-{len(started)}.log", "wb")
        process = subprocess.Popen([str(LSAGENT), "serve", "--workers", "1"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{env['PORT']}/health", timeout=1)
                return process
            except requests.RequestException:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError("lsagent serve did not come up; see " + str(tmp_path)) from None
                time.sleep(0.2)

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def test_killed_service_resumes_its_job_on_restart(sim: Any, label_studio: Any, tmp_path: Path,
                                                   serve: Callable[[dict[str, str]], subprocess.Popen[bytes]]) -> None:
    database = f"sqlite:///{tmp_path / 'lsagent.sqlite3'}"
    env = {**os.environ, "PORT": str(free_port()), "DATABASE_URL": database, "LSAGENT_DATA_DIR": str(tmp_path / "data"),
           "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
           "OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": sim.api_key, "LSAGENT_CHUNK_SIZE": "20",
           "LSAGENT_LEASE_S": "3", "LSAGENT_POLL_S": "0.2", "LSAGENT_PUSH_INTERVAL_S": "0.2", "LOG_LEVEL": "INFO"}
    env.pop("REDIS_URL", None)
    first = serve(env)
    client = Client(f"http://127.0.0.1:{env['PORT']}", timeout=60)
    project, task_ids = new_project(label_studio, texts(160, seed=31))
    agent = client.create_agent(project, "sentiment", "sim-small", max_concurrency=4)
    sim.configure(latency_ms=60)
    job = client.run_job(agent["id"])
    wait_for(job["id"], client, until=lambda found: found["counts"]["done"] >= 40)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    stopped_at = client_job(database, job["id"])
    assert stopped_at.status == "running" and stopped_at.done < len(task_ids)

    serve(env)
    final = wait_for(job["id"], client, timeout=120)
    store = Store(database)
    try:
        assert_exactly_once(final, store, label_studio, task_ids)
        assert any(chunk.attempts >= 2 for chunk in store.chunks(job["id"]))  # the killed service's chunks
    finally:
        store.dispose()


def client_job(database: str, job_id: str) -> Any:
    store = Store(database)
    try:
        return store.get_job(job_id)
    finally:
        store.dispose()
