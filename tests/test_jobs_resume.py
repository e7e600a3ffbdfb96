"""A running job survives its service: ``lsagent serve`` (gunicorn, embedded mode, SQLite) is
SIGKILLed mid-job and started again; the first request resumes the job, which then finishes
with every task labeled once and every prediction written once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ml_backend.client import Client
from ml_backend.store import Store
from sync.server import free_port
from tests.jobs_support import assert_exactly_once, new_project, texts, wait_for


def test_killed_service_resumes_its_job_on_restart(
    sim: Any, label_studio: Any, tmp_path: Path,
    lsagent_serve: Callable[[dict[str, str]], subprocess.Popen[bytes]],
) -> None:
    database = f"sqlite:///{tmp_path / 'lsagent.sqlite3'}"
    env = {**os.environ, "PORT": str(free_port()), "DATABASE_URL": database, "LSAGENT_DATA_DIR": str(tmp_path / "data"),
           "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
           "OPENAI_BASE_URL": sim.base_url, "OPENAI_API_KEY": sim.api_key, "LSAGENT_CHUNK_SIZE": "20",
           "LSAGENT_LEASE_S": "3", "LSAGENT_POLL_S": "0.2", "LSAGENT_PUSH_INTERVAL_S": "0.2", "LOG_LEVEL": "INFO"}
    env.pop("REDIS_URL", None)
    first = lsagent_serve(env)
    client = Client(f"http://127.0.0.1:{env['PORT']}", timeout=60)
    project, task_ids = new_project(label_studio, texts(160, seed=31))
    agent = client.create_agent(project, "sentiment", "sim-small", max_concurrency=4)
    sim.configure(latency_ms=60)
    job = client.run_job(agent["id"])
    wait_for(job["id"], client, until=lambda found: found["counts"]["done"] >= 40)
    follower = Follower(client, job["id"])  # the Python client's wait=True, following throughout
    follower.until_it_has_seen_progress(timeout=30)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    stopped_at = client_job(database, job["id"])
    assert stopped_at.status == "running" and stopped_at.done < len(task_ids)
    time.sleep(1.0)  # the follower finds the service gone

    lsagent_serve(env)
    final = follower.result(timeout=120)
    assert final["status"] == "done"
    assert "Waiting for the service" in follower.told[0] and "answers again" in follower.told[-1]
    assert max(follower.progress) == len(task_ids) and min(follower.progress) < len(task_ids)
    store = Store(database)
    try:
        assert_exactly_once(final, store, label_studio, task_ids)
        assert any(chunk.attempts >= 2 for chunk in store.chunks(job["id"]))  # the killed service's chunks
    finally:
        store.dispose()


class Follower:
    """``Client.wait`` in a thread, recording what it says and the progress it sees."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.told: list[str] = []
        self.progress: list[int] = []
        self._pool = ThreadPoolExecutor(1)
        self._future = self._pool.submit(client.wait, job_id, poll=0.2, on_waiting=self.told.append,
                                         on_progress=lambda job: self.progress.append(job["counts"]["done"]))

    def until_it_has_seen_progress(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.progress:
            assert time.monotonic() < deadline, "the follower saw no progress"
            time.sleep(0.05)

    def result(self, timeout: float) -> Any:
        try:
            return self._future.result(timeout=timeout)
        finally:
            self._pool.shutdown(wait=False)


def client_job(database: str, job_id: str) -> Any:
    store = Store(database)
    try:
        return store.get_job(job_id)
    finally:
        store.dispose()
