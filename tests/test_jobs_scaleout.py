"""Scale-out as an operator runs it, with faults: ``lsagent serve`` (gunicorn) and two
``lsagent worker``s on a real PostgreSQL and Redis, started with the environment the README's
scale-out section lists and nothing more (the workers have no OPENAI_BASE_URL: the agent's
endpoint was fixed when it was registered). One worker is SIGKILLed mid-job, then the service is
SIGKILLed while it writes predictions (it holds the push lease) and started again, while
``lsagent jobs run --wait`` follows the job in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from ml_backend.client import Client
from ml_backend.store import Store
from sync.server import free_port
from tests.fixtures.processes import LSAGENT, REDIS_URL, environment, wait_for_workers
from tests.jobs_support import assert_exactly_once, new_project, register, texts

LEASE_S = 3.0
#: Writing one batch of predictions to Label Studio, and the polls around it, at most.
ONE_WRITE_S = 10.0


def deployment(names: dict[str, str], database: str, label_studio: Any, sim: Any, tmp_path: Path
               ) -> tuple[dict[str, str], dict[str, str]]:
    """The service's and the workers' environments, as the README's scale-out section lists them."""
    shared = {**names, "DATABASE_URL": database, "REDIS_URL": REDIS_URL, "LABEL_STUDIO_URL": label_studio.url,
              "LABEL_STUDIO_API_KEY": label_studio.api_key, "OPENAI_API_KEY": sim.api_key, "LOG_LEVEL": "INFO",
              "LSAGENT_LEASE_S": str(LEASE_S)}
    service = environment({**shared, "PORT": str(free_port()), "OPENAI_BASE_URL": sim.base_url,
                           "LSAGENT_CHUNK_SIZE": "20",
                           "LSAGENT_DATA_DIR": str(tmp_path / "service-data")})
    worker = {**shared, "OPENAI_BASE_URL": None, "LSAGENT_DATA_DIR": str(tmp_path / "worker-data")}
    return service, worker  # type: ignore[return-value]


def test_killed_worker_and_killed_service_lose_nothing_and_the_follower_follows(
        sim: Any, label_studio: Any, fresh_postgres_url: str, names: dict[str, str], tmp_path: Path,
        start_worker: Callable[..., subprocess.Popen[bytes]],
        lsagent_serve: Callable[[dict[str, str]], subprocess.Popen[bytes]]) -> None:
    service_env, worker_env = deployment(names, fresh_postgres_url, label_studio, sim, tmp_path)
    first_service = lsagent_serve(service_env)
    url = f"http://127.0.0.1:{service_env['PORT']}"
    victim, survivor = start_worker(worker_env), start_worker(worker_env)
    wait_for_workers(names["LSAGENT_QUEUE"], 2)
    project, task_ids = new_project(label_studio, texts(300, seed=61))
    client = Client(url, timeout=60)
    agent = client.create_agent(project, "scaleout", "sim-small", max_concurrency=4)
    assert agent["config"]["base_url"] == sim.base_url  # fixed at registration, used by every worker
    sim.configure(latency_ms=150)
    sim.reset()

    follower = follow(url, agent["id"], tmp_path)
    store = Store(fresh_postgres_url)
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        job_id = wait_until(lambda: next(iter(client.jobs(project)), {}).get("id"), 30)
        wait_until(lambda: held_by(store, job_id, victim) and store.get_job(job_id).done >= 40, 60)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)

        push_lease = f"{names['LSAGENT_KEY_PREFIX']}:push:{project}:{agent['model_version']}"
        wait_until(lambda: store.get_job(job_id).done >= 180, 90)
        wait_until(lambda: connection.exists(push_lease), 30, every=0.002)
        os.killpg(first_service.pid, signal.SIGKILL)
        killed_at = time.time()
        first_service.wait(timeout=10)
        assert connection.exists(push_lease), "the service was killed while holding the push lease"
        assert store.get_job(job_id).status == "running"

        time.sleep(2 * LEASE_S)  # the follower finds the service gone; the survivor goes on labeling
        lsagent_serve(service_env)
        restarted_at = time.time()
        output, code = finish(follower, tmp_path, 120)
        assert code == 0, output
        assert "Waiting for the service" in output and "answers again" in output, output

        job = store.get_job(job_id)
        final = client.job(job_id)
        items = assert_exactly_once(final, store, label_studio, task_ids)
        assert all(item.error_class is None for item in items.values())  # every worker reached the simulator
        taken_over = [chunk for chunk in store.chunks(job_id) if chunk.attempts >= 2]
        assert taken_over and all(f":{survivor.pid}:" in (chunk.claimed_by or "") for chunk in taken_over)
        last_item = max(item.created_at for item in items.values()).timestamp()
        done_at = _utc(job.finished_at).timestamp()
        # done within the leases: once the service is back and the last item is in, one lease for
        # the dead service's leases to run out, plus one write
        assert done_at - max(restarted_at, last_item) <= LEASE_S + ONE_WRITE_S, (killed_at, restarted_at,
                                                                                 last_item, done_at)
    finally:
        if follower.poll() is None:
            follower.kill()
        store.dispose()
        connection.close()


def test_two_workers_never_exceed_a_strict_window(
        make_service: Any, sim: Any, label_studio: Any, fresh_postgres_url: str, names: dict[str, str],
        tmp_path: Path, start_worker: Callable[..., subprocess.Popen[bytes]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The run that once saw a 429, ten times faster: the provider allows 600 requests in any
    sliding window (here 6 s: 6,000 rpm pro rata, as providers enforce short windows), two
    workers share the agent's limit through Redis, 900 requests cross the window's edge. The
    limiter must leave the window its margin: not one 429."""
    monkeypatch.setenv("LSAGENT_RATE_WINDOW_S", "6")
    service = make_service(simulator=sim, label_studio=label_studio, chunk_size=50, redis_url=REDIS_URL,
                           database_url=fresh_postgres_url, rate_window_s=6.0)
    worker_env = {**names, "DATABASE_URL": fresh_postgres_url, "REDIS_URL": REDIS_URL,
                  "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.api_key,
                  "OPENAI_API_KEY": sim.api_key, "LSAGENT_RATE_WINDOW_S": "6",
                  "LSAGENT_DATA_DIR": str(tmp_path / "worker-data")}
    start_worker(worker_env), start_worker(worker_env)
    wait_for_workers(names["LSAGENT_QUEUE"], 2)
    project, task_ids = new_project(label_studio, texts(900, seed=71))
    agent = register(service, project, max_concurrency=32, requests_per_minute=6000)
    sim.configure(latency_ms=30, rpm=6000, rpm_window_s=6.0)
    sim.reset()
    job = service.client().run_job(agent["id"], wait=True, timeout=180)

    items = assert_exactly_once(job, service.runtime.store, label_studio, task_ids)
    stats = sim.stats()
    assert stats["by_status"].get("429", 0) == 0, stats["by_status"]
    assert stats["completions"] == 900
    times = sorted(item.created_at.timestamp() for item in items.values())
    assert times[-1] - times[0] >= 8.0  # the limit was what paced them: 891 requests at 541 per 6 s
    connection = redis.Redis.from_url(REDIS_URL)
    try:  # the shared budget is this deployment's: under its key prefix
        assert connection.exists(f"{names['LSAGENT_KEY_PREFIX']}:ratelimit:{agent['id']}")
        assert not connection.exists(f"lsagent:ratelimit:{agent['id']}")
    finally:
        connection.close()


def follow(url: str, agent: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``lsagent jobs run --agent A --wait`` in a process of its own; its output goes to
    follower.log in ``tmp_path``."""
    with open(tmp_path / "follower.log", "wb") as log:
        return subprocess.Popen([str(LSAGENT), "jobs", "run", "--agent", agent, "--wait"], stdout=log,
                                stderr=subprocess.STDOUT, env=environment({"LSAGENT_URL": url, "COLUMNS": "200"}))


def finish(process: subprocess.Popen[bytes], tmp_path: Path, timeout: float) -> tuple[str, int]:
    """The follower's exit code and everything it printed."""
    code = process.wait(timeout=timeout)
    return " ".join((tmp_path / "follower.log").read_text().split()), code


def held_by(store: Store, job_id: str, worker: subprocess.Popen[bytes]) -> bool:
    """The worker holds a running chunk of the job."""
    return any(chunk.status == "running" and f":{worker.pid}:" in (chunk.claimed_by or "")
               for chunk in store.chunks(job_id))


def wait_until(condition: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not there within {timeout}s")
        time.sleep(every)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
