"""A self-verifying agent's job through the service and the real Label Studio: the estimate names
the extra call, the pushed prediction scores are P(yes), and the summary counts what the
verification cost."""

from __future__ import annotations

from typing import Any

import pytest

from sync.predictions import predictions_by_version
from tests.review_support import new_project, run_job, task_text

TEXTS = [task_text("fine", "Positive", 0.8), task_text("awful", "Negative", 0.6), task_text("a box", "Neutral", 0.9)]


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


def test_a_self_verifying_job_reports_its_extra_calls(service: Any, sim: Any, label_studio: Any) -> None:
    project, tasks = new_project(label_studio, TEXTS)
    client = service.client()
    agent = client.create_agent(project, "verifier", "sim-small", confidence="self_verify")
    assert agent["config"]["confidence"] == "self_verify"
    plain = client.create_agent(project, "plain", "sim-small")
    estimate, baseline = client.estimate(agent["id"]), client.estimate(plain["id"])
    extra = estimate["signals"]["extra"]["self_verify"]
    assert estimate["signals"]["confidence"] == "self_verify" and extra["calls"] == 3
    assert estimate["prompt_tokens"] == baseline["prompt_tokens"] + extra["prompt_tokens"]
    assert estimate["expected_output_tokens"] == baseline["expected_output_tokens"] + extra["completion_tokens"]
    assert baseline["signals"] == {"confidence": "label", "extra": {}}

    sim.reset()
    job = run_job(service, project, tasks, name="verifier", confidence="self_verify")
    assert sim.stats()["requests"] == 6  # an answer and a verification per task
    summary = client.job(job.id)["summary"]
    spent = summary["signals"]["cost"]["self_verify"]
    assert summary["signals"]["confidence"] == "self_verify" and spent["calls"] == 3
    assert summary["tokens_in"] == sim.stats()["prompt_tokens"] and spent["prompt_tokens"] < summary["tokens_in"]
    pushed = predictions_by_version(label_studio.client, project, job.model_version)
    items = job.items(service)
    for task_id, confidence in zip(tasks, (0.8, 0.6, 0.9), strict=True):
        (prediction,) = pushed[task_id]
        assert items[task_id].meta["signals"]["self_verify"] == pytest.approx(confidence, abs=1e-3)
        assert prediction["score"] == pytest.approx(items[task_id].meta["signals"]["self_verify"])
