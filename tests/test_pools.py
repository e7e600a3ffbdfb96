"""Per-agent thread pools are reused while busy and released once idle (issue 10 item 16: 320
threads stayed after four agents). Against the real service, Label Studio and the simulator; the
threads are counted in the service's own process, by the names the pools give them."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from tests.review_support import new_project, run_job, task_text

IDLE_S = 1.0
CONCURRENCY = 24


def threads_named(prefix: str) -> set[int]:
    return {thread.ident for thread in threading.enumerate() if thread.name.startswith(prefix) and thread.ident}


def settles(prefix: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while threads_named(prefix):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def predict(service: Any, project: int, agent: dict[str, Any], texts: list[str]) -> None:
    activated = requests.put(f"{service.url}/api/projects/{project}/agent", json={"agent": agent["id"]}, timeout=30)
    assert activated.status_code == 200, activated.text
    tasks = [{"id": index, "data": {"text": text}} for index, text in enumerate(texts, 1)]
    answer = requests.post(f"{service.url}/predict", json={"project": project, "tasks": tasks}, timeout=60)
    assert len(answer.json()["results"]) == len(tasks) and all("result" in r for r in answer.json()["results"])


def test_predict_pools_are_reused_and_released(label_studio: Any, sim: Any, make_service: Any) -> None:
    sim.configure(latency_ms=100)
    service = make_service(simulator=sim, label_studio=label_studio, pool_idle_s=IDLE_S)
    project, _ = new_project(label_studio, ["A fine lamp.", "A poor lamp."])
    client = service.client()
    agents = [client.create_agent(project, f"agent{seed}", "sim-small", seed=seed, max_concurrency=CONCURRENCY)
              for seed in range(4)]

    predict(service, project, agents[0], [f"first batch {i}" for i in range(CONCURRENCY)])
    first = threads_named("predict-")
    assert 0 < len(first) <= CONCURRENCY
    predict(service, project, agents[0], [f"second batch {i}" for i in range(CONCURRENCY)])
    second = threads_named("predict-")
    assert first <= second and len(second) <= CONCURRENCY  # the same pool: its threads, none beyond its size

    for agent in agents[1:]:
        predict(service, project, agent, [f"{agent['id']} {i}" for i in range(CONCURRENCY)])
    assert settles("predict-", timeout=IDLE_S + 5), f"{len(threads_named('predict-'))} predict threads stayed"
    predict(service, project, agents[0], [f"after release {i}" for i in range(4)])  # a released agent works again


def test_job_pools_are_released(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, pool_idle_s=IDLE_S)
    for seed in range(2):
        project, tasks = new_project(label_studio, [task_text(f"job {seed} task {i}", "Positive", 0.8)
                                                    for i in range(20)])
        run_job(service, project, tasks, name=f"job{seed}", seed=seed, max_concurrency=8)
    assert settles("job-", timeout=IDLE_S + 5), f"{len(threads_named('job-'))} job threads stayed"
