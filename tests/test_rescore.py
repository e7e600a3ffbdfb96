"""Calibration from verified items through the service and the real Label Studio: the figures show
ECE before and after, and ``lsagent jobs rescore`` rewrites the job's prediction scores in Label
Studio with the calibrated confidence while the store keeps the raw one."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli import main
from ml_backend.client import ServiceError
from sync.predictions import predictions_by_version
from tests.review_support import Job, positive_job, record_verdict, slow_running_job

#: 30 tasks scored 0.70..0.99 by directives; the agent is right on two in three: over-confident.
CONFIDENCES = [round(0.7 + 0.01 * index, 2) for index in range(30)]


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def job(service: Any, label_studio: Any) -> Job:
    return positive_job(service, label_studio, CONFIDENCES)


def verify(service: Any, job: Job, count: int) -> None:
    for index in range(min(count, len(job.tasks))):
        record_verdict(service, job, index, index % 3 != 0)


def lsagent(service: Any, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"LSAGENT_URL": service.url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_rescore_waits_for_enough_verified_items(service: Any, job: Job) -> None:
    verify(service, job, 10)
    figures = service.client().verification(job.id)
    assert figures["calibration"]["available"] is False and "10 verified items" in figures["calibration"]["reason"]
    with pytest.raises(ServiceError, match="no calibration for .* yet: 10 verified items"):
        service.client().rescore_job(job.id)


def test_rescore_writes_calibrated_scores_to_label_studio(service: Any, label_studio: Any, job: Job) -> None:
    verify(service, job, 30)
    calibration = service.client().verification(job.id)["calibration"]
    assert calibration["available"] and calibration["n"] == 30
    assert calibration["ece_before"] > 0.15 and calibration["ece_after"] < calibration["ece_before"]
    shown = lsagent(service, "verification", "show", "--job", job.id)
    assert f"ECE {calibration['ece_before']:.4f}" in shown and "cross-validated on 30" in shown

    done = json.loads(lsagent(service, "jobs", "rescore", job.id, "--method", "platt", "--json"))
    assert done["rescored"] == 30 and done["method"] == "platt"
    a, b = done["map"]["a"], done["map"]["b"]
    found = predictions_by_version(label_studio.client, job.project, job.model_version)
    for task_id, confidence in zip(job.tasks, CONFIDENCES, strict=True):
        (prediction,) = found[task_id]
        expected = 1 / (1 + math.exp(-(a * confidence + b)))
        assert prediction["score"] == pytest.approx(expected, abs=1e-5)
        assert prediction["result"][0]["score"] == pytest.approx(expected, abs=1e-5)
        assert prediction["result"][0]["value"] == {"choices": ["Positive"]}
        assert 0.55 < prediction["score"] < 0.8  # pulled down to about two in three
    items = job.items(service)
    assert [items[task_id].score for task_id in job.tasks] == pytest.approx(CONFIDENCES)  # raw kept


def test_rescore_refuses_a_running_job(service: Any, sim: Any, label_studio: Any) -> None:
    """Its later predictions would reach Label Studio with the raw score while the job's figures and
    views read them as calibrated."""
    job = slow_running_job(service, sim, label_studio)
    client = service.client()
    with pytest.raises(ServiceError, match="rescore it once it has finished") as refused:
        client.rescore_job(job["id"])
    assert refused.value.status == 409
    assert service.runtime.store.get_job(job["id"]).calibration is None
    client.cancel(job["id"])


def test_rescore_keeps_its_map_with_the_job(service: Any, job: Job) -> None:
    verify(service, job, 30)
    assert service.runtime.store.get_job(job.id).calibration is None
    done = service.client().rescore_job(job.id, "platt")
    kept = service.runtime.store.get_job(job.id).calibration
    assert kept == {"method": "platt", "map": done["map"], "n": 30}
