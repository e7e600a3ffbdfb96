"""The confidence scale of the figures and of the score-based review views, through the service,
the real Label Studio and the simulator.

60 tasks scored 0.40..0.99 by directives, every one verified: the agent is right on one in two
below 0.60, three in four below 0.80 and nineteen in twenty above. At a target of 0.7 the raw
Wilson threshold is 0.57 (43 tasks accepted); Platt (what ``auto`` picks here) moves it to the
image of 0.57, isotonic (written to Label Studio by a rescore) to 0.75 with 39 accepted. Every
expected figure is computed here from the scores and verdicts, by brute force over the
candidate thresholds, not by the service's code.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest
import requests
from click.testing import CliRunner, Result

from ml_backend.cli import main
from ml_backend.client import ServiceError
from sync.predictions import predictions_by_version
from sync.views import view_task_ids
from tests.review_support import Job, positive_job, record_verdict

CONFIDENCES = [round(0.4 + 0.01 * index, 2) for index in range(60)]
RIGHT = [index % 2 != 0 if index < 20 else index % 4 != 0 if index < 40 else index % 20 != 0 for index in range(60)]
TARGET = 0.7
Z = NormalDist().inv_cdf(0.975)
MIN_SUPPORT = 30


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def job(service: Any, label_studio: Any) -> Job:
    return positive_job(service, label_studio, CONFIDENCES)


def verify(service: Any, job: Job, count: int) -> None:
    for index in range(min(count, len(job.tasks))):
        record_verdict(service, job, index, RIGHT[index])


def lsagent(service: Any, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LSAGENT_URL": service.url}, catch_exceptions=False)


def wilson_low(correct: int, n: int) -> float:
    p = correct / n
    centre = p + Z * Z / (2 * n)
    spread = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - spread) / (1 + Z * Z / n)


def by_hand(scores: list[float]) -> tuple[float, int]:
    """(lowest threshold whose Wilson lower bound reaches TARGET with 30 tasks at or above, tasks
    accepted at it), every task being verified with the verdicts of RIGHT."""
    passing = []
    for candidate in set(scores):
        above = [right for score, right in zip(scores, RIGHT, strict=True) if score >= candidate]
        if len(above) >= MIN_SUPPORT and wilson_low(sum(above), len(above)) >= TARGET:
            passing.append(candidate)
    threshold = min(passing)
    return threshold, sum(score >= threshold for score in scores)


def mapped(calibration: dict[str, Any]) -> list[float]:
    """The raw confidences through the map the figures report, rounded as Label Studio gets them."""
    found = calibration["map"]
    if found["method"] == "platt":
        return [round(1 / (1 + math.exp(-(found["a"] * c + found["b"]))), 6) for c in CONFIDENCES]
    xs, ys = zip(*found["knots"], strict=True)
    return [round(float(np.interp(c, xs, ys)), 6) for c in CONFIDENCES]


def test_figures_on_the_calibrated_scale(service: Any, job: Job) -> None:
    verify(service, job, 60)
    client = service.client()
    raw = client.verification(job.id, TARGET)
    assert raw["scale"] == "raw" and raw["rescored"] is False  # not rescored: raw by default
    assert (raw["recommended_threshold"], raw["recommendation"]["wilson"]["accepted"]) == by_hand(CONFIDENCES)
    assert by_hand(CONFIDENCES) == (0.57, 43)

    calibrated = client.verification(job.id, TARGET, calibrated=True)
    assert calibrated["scale"] == "calibrated: platt, fitted on 60 verified items"
    scores = mapped(calibrated["calibration"])
    threshold, accepted = by_hand(scores)
    assert calibrated["recommended_threshold"] == pytest.approx(threshold, abs=1e-9) != raw["recommended_threshold"]
    assert calibrated["recommendation"]["wilson"]["accepted"] == accepted
    bands = {(band["low"], band["high"]): band["n"] for band in calibrated["bands"]}
    for (low, high), n in bands.items():
        assert n == sum(low <= s < high or (high == 1.0 and s == 1.0) for s in scores), (low, high)
    assert bands != {(band["low"], band["high"]): band["n"] for band in raw["bands"]}
    assert client.verification(job.id, TARGET, calibrated=False)["scale"] == "raw"
    page = client.report(job.id, TARGET)
    assert "Confidence scale of these figures and thresholds: <strong>raw</strong>" in page
    assert "review below 0.57" in page  # the raw histogram marks the raw threshold


def test_verification_show_takes_the_scale(service: Any, job: Job) -> None:
    verify(service, job, 60)
    shown = lsagent(service, "verification", "show", "--job", job.id, "--target", "0.7", "--calibrated")
    assert shown.exit_code == 0, shown.output
    flat = " ".join(shown.output.split())
    assert "calibrated: platt, fitted on 60 verified items" in flat
    threshold = service.client().verification(job.id, TARGET, calibrated=True)["recommended_threshold"]
    assert f"{threshold:.4g}" in flat and "0.57 " not in flat

    raw = lsagent(service, "verification", "show", "--job", job.id, "--target", "0.7", "--raw", "--json")
    assert raw.exit_code == 0, raw.output
    data = json.loads(raw.output)
    assert data["scale"] == "raw" and data["recommended_threshold"] == 0.57


def test_calibrated_figures_need_a_calibration(service: Any, job: Job) -> None:
    verify(service, job, 10)
    with pytest.raises(ServiceError, match=r"no calibration for .* yet: 10 verified items .*needs 20") as err:
        service.client().verification(job.id, calibrated=True)
    assert err.value.status == 409
    assert service.client().verification(job.id)["scale"] == "raw"  # the default still answers
    shown = lsagent(service, "verification", "show", "--job", job.id, "--calibrated")
    assert shown.exit_code == 1
    assert shown.output.startswith("error: 409: no calibration for") and "10 verified items" in shown.output
    assert "Traceback" not in shown.output
    bad = requests.get(f"{service.url}/api/jobs/{job.id}/verification", params={"calibrated": "maybe"}, timeout=10)
    assert bad.status_code == 400 and "true or false" in bad.json()["message"]


def test_a_rescored_job_is_on_the_scale_label_studio_shows(service: Any, label_studio: Any, job: Job) -> None:
    verify(service, job, 60)
    client = service.client()
    done = client.rescore_job(job.id, "isotonic")
    found = predictions_by_version(label_studio.client, job.project, job.model_version)
    shown = [found[task_id][0]["score"] for task_id in job.tasks]  # what the Data Manager filters on
    assert shown == pytest.approx(mapped(done), abs=1e-9)

    figures = client.verification(job.id, TARGET)
    assert figures["rescored"] is True and figures["scale"] == "calibrated: isotonic, fitted on 60 verified items"
    assert (figures["recommended_threshold"], figures["recommendation"]["wilson"]["accepted"]) == by_hand(shown)
    assert by_hand(shown) == (0.75, 39)  # not the raw 0.57 with 43: isotonic ties change the accepted set
    assert client.verification(job.id, TARGET, calibrated=False)["recommended_threshold"] == 0.57

    review = client.create_review(job.id, "threshold", threshold=0.75)
    expected = {task_id for task_id, score in zip(job.tasks, shown, strict=True) if score < 0.75}
    raw_below = {task_id for task_id, score in zip(job.tasks, CONFIDENCES, strict=True) if score < 0.75}
    assert expected != raw_below
    held = view_task_ids(label_studio.client, job.project, review["view_id"])
    assert set(held) == set(review["task_ids"]) == expected and len(held) == len(expected)
    scores = dict(zip(job.tasks, shown, strict=True))
    assert [scores[task_id] for task_id in held] == sorted(scores[task_id] for task_id in held)
    assert review["scale"] == figures["scale"]

    audit = client.create_review(job.id, "audit", audit=5, threshold=0.75, seed=1)
    assert audit["accepted"] == 39 and all(scores[task_id] >= 0.75 for task_id in audit["sample"])
    figures = client.verification(job.id, TARGET)
    assert figures["threshold"] == 0.75 and figures["audit"]["available"] is True
    assert figures["audit"]["accepted"] == 39 and figures["audit"]["audit_n"] == 5
    assert figures["audits"][-1]["scale"] == figures["scale"]
    raw = client.verification(job.id, TARGET, calibrated=False)
    assert raw["threshold"] is None and raw["audit"]["available"] is False
    assert "on the calibrated: isotonic, fitted on 60 verified items scale" in raw["audit"]["reason"]

    page = client.report(job.id, TARGET)
    assert "Confidence scale of these figures and thresholds: <strong>calibrated: isotonic" in page
    assert "target 70%, calibrated: isotonic, fitted on 60 verified items scale" in page
    assert "review below" not in page and "The histogram above counts the raw confidence" in page


def test_the_export_of_a_rescored_job_keeps_labels_by_the_calibrated_score(service: Any, label_studio: Any,
                                                                            job: Job) -> None:
    verify(service, job, 40)  # tasks scored 0.80..0.99 are left to the threshold
    client = service.client()
    client.rescore_job(job.id, "platt")
    found = predictions_by_version(label_studio.client, job.project, job.model_version)
    shown = {task_id: found[task_id][0]["score"] for task_id in job.tasks}
    open_tasks = job.tasks[40:]
    threshold = shown[open_tasks[5]]  # the calibrated score of the raw 0.85 (about 0.87)
    raw_kept = {task_id for task_id, score in zip(job.tasks, CONFIDENCES, strict=True) if score >= threshold}
    assert raw_kept & set(open_tasks) != set(open_tasks[5:])  # compared raw, other tasks would be kept

    rows = [json.loads(line) for line in client.export(job.id, threshold=threshold).splitlines()]
    kept = {row["task_id"] for row in rows if row["source"] == "llm"}
    assert kept == {task_id for task_id in open_tasks if shown[task_id] >= threshold} == set(open_tasks[5:])
    assert {row["task_id"]: row["confidence"] for row in rows} == pytest.approx(shown, abs=1e-9)
    assert {row["task_id"] for row in rows if row["source"] == "none"} == set(open_tasks[:5])
