"""Annotation jobs in the distributed mode: chunks are RQ jobs on a real Redis, run by two real
``lsagent worker`` processes sharing a real PostgreSQL store; one worker is SIGKILLed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue, Worker

from tests.jobs_support import assert_exactly_once, new_project, register, texts, wait_for

REDIS_URL = "redis://127.0.0.1:6379/0"
LSAGENT = Path(sys.executable).with_name("lsagent")  # the one installed with the interpreter running the tests


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A queue and key prefix of this test alone (set for the service, passed to the workers);
    every Redis key they made is deleted afterwards."""
    tag = f"lsagent-test-{uuid.uuid4().hex[:10]}"
    env = {"LSAGENT_QUEUE": tag, "LSAGENT_KEY_PREFIX": tag, "LSAGENT_LEASE_S": "3", "LSAGENT_POLL_S": "0.2",
           "LSAGENT_PUSH_INTERVAL_S": "0.2"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield env
    connection = redis.Redis.from_url(REDIS_URL)
    for worker in Worker.all(queue=Queue(tag, connection=connection)):
        connection.delete(worker.key)
        connection.srem("rq:workers", worker.key)
    for pattern in (f"{tag}:*", f"rq:*{tag}*"):
        keys = list(connection.scan_iter(match=pattern, count=1000))
        if keys:
            connection.delete(*keys)
    connection.srem("rq:queues", f"rq:queue:{tag}")
    connection.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``start_worker(env)`` runs ``lsagent worker`` as a subprocess; all are stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")
        process = subprocess.Popen([str(LSAGENT), "worker"], env={**os.environ, **env}, stdout=log,
                                   stderr=subprocess.STDOUT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def wait_for_workers(queue: str, count: int, timeout: float = 30.0) -> None:
    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while len(Worker.all(queue=Queue(queue, connection=connection))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} worker(s) did not register on {queue} within {timeout}s")
        time.sleep(0.2)


def test_sigkilled_worker_loses_nothing_and_duplicates_nothing(
        make_service: Any, sim: Any, label_studio: Any, fresh_postgres_url: str, names: dict[str, str],
        start_worker: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, chunk_size=20, redis_url=REDIS_URL,
                           database_url=fresh_postgres_url)
    env = {**names, "DATABASE_URL": fresh_postgres_url, "REDIS_URL": REDIS_URL, "LABEL_STUDIO_URL": label_studio.url,
           "LABEL_STUDIO_API_KEY": label_studio.api_key, "OPENAI_BASE_URL": sim.base_url,
           "LSAGENT_DATA_DIR": str(tmp_path / "worker-data")}
    victim, survivor = start_worker(env), start_worker(env)
    wait_for_workers(names["LSAGENT_QUEUE"], 2)
    project, task_ids = new_project(label_studio, texts(200, seed=21))
    agent = register(service, project, max_concurrency=4)
    sim.configure(latency_ms=100)
    sim.reset()
    job = service.client().run_job(agent["id"])
    store = service.runtime.store

    def victim_busy(found: dict[str, Any]) -> bool:
        held = [chunk for chunk in store.chunks(found["id"])
                if chunk.status == "running" and f":{victim.pid}:" in (chunk.claimed_by or "")]
        return found["counts"]["done"] >= 30 and bool(held)

    wait_for(job["id"], service.client(), timeout=60, until=victim_busy)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    final = wait_for(job["id"], service.client(), timeout=120)
    assert_exactly_once(final, service.runtime.store, label_studio, task_ids)
    chunks = store.chunks(job["id"])
    taken_over = [chunk for chunk in chunks if chunk.attempts >= 2]
    assert taken_over and all(f":{survivor.pid}:" in (chunk.claimed_by or "") for chunk in taken_over)
    # Paid twice at most: the killed worker's calls in flight (at most its concurrency, 4) and the
    # answers it had received but not yet cached (as many again); everything else came from the
    # cache or was recorded.
    assert len(task_ids) <= sim.stats()["completions"] <= len(task_ids) + 2 * 4
    assert survivor.poll() is None
