"""Annotation jobs in the distributed mode: chunks are RQ jobs on a real Redis, run by two real
``lsagent worker`` processes sharing a real PostgreSQL store; one worker is SIGKILLed mid-job."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fixtures.processes import REDIS_URL, wait_for_workers
from tests.jobs_support import assert_exactly_once, new_project, register, texts, wait_for


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


def test_a_worker_without_the_agents_key_fails_the_chunk_with_that_message(
        make_service: Any, sim: Any, label_studio: Any, fresh_postgres_url: str, names: dict[str, str],
        start_worker: Callable[..., subprocess.Popen[bytes]], tmp_path: Path) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, chunk_size=20, redis_url=REDIS_URL,
                           database_url=fresh_postgres_url)
    start_worker({**names, "DATABASE_URL": fresh_postgres_url, "REDIS_URL": REDIS_URL,
                  "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
                  "OPENAI_API_KEY": None, "LSAGENT_DATA_DIR": str(tmp_path / "worker-data")})
    wait_for_workers(names["LSAGENT_QUEUE"], 1)
    project, _ = new_project(label_studio, texts(10, seed=23))
    agent = register(service, project)
    sim.reset()
    job = wait_for(service.client().run_job(agent["id"])["id"], service.client(), timeout=90)
    assert job["status"] == "failed"
    assert "environment variable OPENAI_API_KEY is not set" in job["error"], job["error"]
    assert sim.stats()["completions"] == 0  # nothing was sent anywhere without the key
