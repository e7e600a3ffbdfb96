"""Helpers shared by the review, verification and export tests: a project whose tasks force the
simulated model's label and confidence, a real job over it, and annotations made as a human
would make them (through Label Studio's API, from the agent's prediction)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync.annotations import create_annotation
from sync.predictions import predictions_by_version
from sync.tasks import get_task
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment

FINAL = ("done", "failed", "cancelled")


def task_text(text: str, label: str | None = None, confidence: float | None = None, fault: str | None = None) -> str:
    """A task text with the simulator directives that fix its outcome."""
    directives = [f"[[sim:label={label}]]" if label else "", f"[[sim:confidence={confidence}]]" if confidence else "",
                  f"[[sim:{fault}]]" if fault else ""]
    return " ".join([text, *filter(None, directives)])


@dataclass
class Job:
    """A finished job and what the tests need of it."""

    id: str
    project: int
    agent_id: str
    model_version: str
    tasks: list[int]

    def items(self, service: Any) -> dict[int, Any]:
        return {item.task_id: item for item in service.runtime.store.items(self.id)}


def new_project(label_studio: Any, texts: list[str]) -> tuple[int, list[int]]:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in texts])
    return project, label_studio.task_ids(project)


def run_job(service: Any, project: int, tasks: list[int], name: str = "reviewer", timeout: float = 90.0,
            **options: Any) -> Job:
    """Register an agent on the simulator and run a real job over all the project's tasks.

    An agent is its model config and template, so a second agent (or one for another project)
    needs another config: pass e.g. ``seed``."""
    client = service.client()
    agent = client.create_agent(project, name, "sim-small", **options)
    assert agent["project"] == project, "the service returned an agent registered for another project"
    job = client.run_job(agent["id"])
    deadline = time.monotonic() + timeout
    while job["status"] not in FINAL:
        assert time.monotonic() < deadline, f"job did not finish in {timeout}s: {job}"
        time.sleep(0.2)
        job = client.job(job["id"])
    assert job["status"] == "done", job
    return Job(job["id"], project, agent["id"], agent["model_version"], tasks)


def prediction_of(label_studio: Any, project: int, model_version: str, task_id: int) -> int:
    [prediction] = predictions_by_version(label_studio.client, project, model_version, task_ids=[task_id])[task_id]
    return int(prediction["id"])


def annotate(label_studio: Any, job: Job, task_id: int, label: str, from_prediction: bool = True,
             cancelled: bool = False) -> dict[str, Any]:
    """Annotate a task through Label Studio's API, starting from the agent's prediction."""
    parent = prediction_of(label_studio, job.project, job.model_version, task_id) if from_prediction else None
    return create_annotation(label_studio.client, task_id, sentiment(label), parent_prediction=parent,
                             was_cancelled=cancelled)


def annotation_ids(label_studio: Any, task_id: int) -> list[int]:
    return [annotation["id"] for annotation in get_task(label_studio.client, task_id)["annotations"]]


def verdict_rows(service: Any, job: Job) -> list[tuple[Any, ...]]:
    """The stored verdicts without their recording time (which a re-sync refreshes)."""
    return [(row.task_id, row.annotation_id, row.control, row.verdict, tuple(row.human_labels),
             tuple(row.agent_labels), row.annotator, row.annotated_at)
            for row in service.runtime.store.verifications(job.id)]


def record_verdict(service: Any, job: Job, index: int, right: bool) -> None:
    """A reviewer's verdict on the job's ``index``-th task (the agent said Positive), straight into
    the store as the webhook would record it: for figures on verdicts set by the test."""
    service.runtime.store.record_verification(
        job_id=job.id, task_id=job.tasks[index], annotation_id=1000 + index, control="sentiment",
        verdict="confirmed" if right else "corrected", human_labels=["Positive" if right else "Negative"],
        agent_labels=["Positive"], annotator="reviewer@example.com", annotated_at=datetime.now(UTC))


def positive_job(service: Any, label_studio: Any, confidences: list[float]) -> Job:
    """A finished job whose agent said Positive on one task per confidence, at that confidence."""
    project, tasks = new_project(label_studio, [task_text(f"review number {index}", "Positive", confidence)
                                                for index, confidence in enumerate(confidences)])
    return run_job(service, project, tasks)


def slow_running_job(service: Any, sim: Any, label_studio: Any) -> dict[str, Any]:
    """A job of six tasks at two seconds a call, just started: still running for the next seconds."""
    project, _ = new_project(label_studio, [task_text(f"slow {index}", "Positive", 0.9) for index in range(6)])
    sim.configure(latency_ms=2000)
    client = service.client()
    agent = client.create_agent(project, "slow", "sim-small")
    return client.run_job(agent["id"])
