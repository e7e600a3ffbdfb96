"""Helpers shared by the job tests: projects of varied texts, waiting for a job, and the
exactly-once check that reads everything back from the store and from Label Studio."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

from ml_backend.store import COUNTERS
from sync.predictions import predictions_by_version
from tests.fixtures.label_studio import SENTIMENT_CONFIG

LABELS = {"Positive", "Negative", "Neutral"}
_WORDS = ("great service and a lovely view", "terrible support, my order was lost", "the parcel came on monday",
          "I love the new design", "awful battery, it crashed twice", "a phone with a screen",
          "best purchase this year", "slow delivery and rude staff", "it is blue and weighs 200 g")
FINAL = ("done", "failed", "cancelled")


def texts(count: int, seed: int = 7) -> list[str]:
    """Distinct, varied task texts (distinct prompts: no two tasks share a cached answer)."""
    rng = random.Random(seed)
    return [f"{rng.choice(_WORDS)} (review {index})" for index in range(count)]


def new_project(label_studio: Any, items: list[str]) -> tuple[int, list[int]]:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in items])
    return project, label_studio.task_ids(project)


def register(service: Any, project: int, name: str = "sentiment", **options: Any) -> dict[str, Any]:
    return service.client().create_agent(project, name, "sim-small", **options)


def wait_for(job_id: str, client: Any, timeout: float = 60.0, until: Any = None) -> dict[str, Any]:
    """Poll the job through the API until it ends (or ``until(job)`` holds); fails on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.job(job_id)
        if (until(job) if until else job["status"] in FINAL):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job did not get there in {timeout}s: {job}")
        time.sleep(0.2)


def assert_exactly_once(job: dict[str, Any], store: Any, label_studio: Any, task_ids: list[int]) -> dict[int, Any]:
    """The job finished with one outcome per task, counts that add up, and in Label Studio one
    prediction of the agent per labeled task and none for a failed one. Returns the items."""
    assert job["status"] == "done", job
    assert job["total"] == len(task_ids)
    counts = job["counts"]
    assert counts["done"] == len(task_ids)
    assert sum(counts[name] for name in COUNTERS if name not in ("done", "skipped")) == counts["done"]
    items = {item.task_id: item for item in store.items(job["id"])}
    assert sorted(items) == sorted(task_ids)
    outcomes = Counter(item.error_class or "labeled" for item in items.values())
    assert {name: outcomes.get(name, 0) for name in outcomes} == {name: counts[name] for name in outcomes}
    assert all(item.pushed for item in items.values() if item.error_class is None)
    found = predictions_by_version(label_studio.client, job["project"], job["model_version"])
    labeled = {task_id for task_id, item in items.items() if item.error_class is None}
    assert set(found) == labeled, "a labeled task without prediction, or a failed task with one"
    duplicated = {task_id: len(predictions) for task_id, predictions in found.items() if len(predictions) != 1}
    assert not duplicated, f"tasks with more than one prediction of {job['model_version']}: {duplicated}"
    for task_id, [prediction] in found.items():
        [result] = prediction["result"]
        assert result["value"]["choices"] == items[task_id].labels["sentiment"]
        assert prediction["score"] == items[task_id].score
    return items
