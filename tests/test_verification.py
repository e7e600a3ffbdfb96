"""Verification flowing back from the real Label Studio: annotations made through its API are
synced (pull and webhook) into confirmed/corrected verdicts, and every figure of the report is
checked against values worked out by hand here."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest
import requests

from ml_backend.client import ServiceError
from tests.fixtures.label_studio import sentiment
from tests.review_support import Job, annotate, annotation_ids, new_project, run_job, task_text, verdict_rows

Z = 1.959964
ADMIN = "admin@example.com"


def wilson(correct: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, written out independently of ml_backend.review.calibration."""
    p = correct / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (0.0 if correct == 0 else centre - half, 1.0 if correct == n else centre + half)


def interval(low_high: tuple[float, float]) -> dict[str, Any]:
    return {"low": pytest.approx(low_high[0], abs=1e-9), "high": pytest.approx(low_high[1], abs=1e-9)}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_option(request: pytest.FixtureRequest) -> dict[str, str]:
    """Each store the service ships for: verdicts are upserts whose SQL differs per dialect. (Set
    up before the service, so a PostgreSQL database outlives the service that uses it.)"""
    return {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("fresh_postgres_url")}


@pytest.fixture
def service(store_option: dict[str, str], make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio, **store_option)


@pytest.fixture
def small(service: Any, label_studio: Any) -> Job:
    """Four labelled tasks and one failure."""
    texts = [task_text("nice", "Positive", 0.9), task_text("awful", "Negative", 0.4),
             task_text("a lamp", "Neutral", 0.7), task_text("so-so", "Positive", 0.6),
             task_text("garbled", fault="malformed")]
    project, tasks = new_project(label_studio, texts)
    return run_job(service, project, tasks)


# ---- the report, against hand-worked figures -------------------------------------------------

#: groups of (label, confidence, count, annotated labels...): the design of the big job.
CONFIRMED_HIGH = 30   # Positive 0.95, all confirmed
MIDDLE = 5            # Negative 0.85: 4 confirmed, 1 corrected
LOW = 4               # Neutral 0.55: 2 confirmed (one after a first, wrong annotation), 2 corrected
UNREVIEWED = 6        # Positive 0.97, nobody annotates them (until the audit)


@pytest.fixture
def big(service: Any, label_studio: Any) -> tuple[Job, dict[str, list[int]]]:
    specs = ([("high", "Positive", 0.95)] * CONFIRMED_HIGH + [("middle", "Negative", 0.85)] * MIDDLE
             + [("low", "Neutral", 0.55)] * LOW + [("lowest", "Positive", 0.3)]
             + [("unreviewed", "Positive", 0.97)] * UNREVIEWED + [("skipped", "Negative", 0.65)])
    texts = [task_text(f"{name} {index}", label, confidence) for index, (name, label, confidence) in enumerate(specs)]
    texts += [task_text("failed 1", fault="malformed"), task_text("failed 2", fault="offlabel")]
    project, tasks = new_project(label_studio, texts)
    job = run_job(service, project, tasks)
    groups: dict[str, list[int]] = {}
    for task_id, text in zip(tasks, texts, strict=True):
        groups.setdefault(text.split(" ")[0], []).append(task_id)
    return job, groups


def test_figures_match_the_hand_worked_report(service: Any, label_studio: Any,
                                              big: tuple[Job, dict[str, list[int]]]) -> None:
    job, groups = big
    for task_id in groups["high"]:
        annotate(label_studio, job, task_id, "Positive")
    for index, task_id in enumerate(groups["middle"]):
        annotate(label_studio, job, task_id, "Positive" if index == 0 else "Negative")
    low = groups["low"]
    annotate(label_studio, job, low[0], "Neutral")
    annotate(label_studio, job, low[1], "Positive")
    annotate(label_studio, job, low[1], "Neutral")  # a second look: the latest annotation wins
    annotate(label_studio, job, low[2], "Negative")
    annotate(label_studio, job, low[3], "Positive")
    annotate(label_studio, job, groups["lowest"][0], "Negative")
    annotate(label_studio, job, groups["skipped"][0], "Neutral", cancelled=True)
    annotate(label_studio, job, groups["failed"][0], "Neutral", from_prediction=False)

    client = service.client()
    synced = client.sync_verification(job.id)
    assert synced == {"job": job.id, "synced": 41, "confirmed": 36, "corrected": 4, "failed_tasks": 1,
                      "annotations": 42, "removed": 0}

    figures = client.verification(job.id, target=0.85)
    # 40 verified labelled tasks: 30 + 4 + 2 confirmed; 1 + 2 + 1 corrected; the failed task apart
    assert (figures["verified"], figures["confirmed"], figures["corrected"]) == (40, 36, 4)
    assert (figures["labelled"], figures["failed_verified"], figures["without_confidence"]) == (49, 1, 0)
    assert figures["accuracy"] == {"available": True, "n": 40, "correct": 36, "accuracy": 0.9,
                                   "interval": interval(wilson(36, 40))}
    bands = [(band["low"], band["high"], band["n"], band["correct"]) for band in figures["bands"]]
    assert bands == [(0.0, 0.5, 1, 0), (0.5, 0.6, 4, 2), (0.6, 0.7, 0, 0), (0.7, 0.8, 0, 0),
                     (0.8, 0.9, 5, 4), (0.9, 1.0, 30, 30)]
    assert figures["bands"][1]["interval"] == interval(wilson(2, 4))
    assert figures["bands"][1]["mean_confidence"] == pytest.approx(0.55)
    # AUROC: each corrected task against the 36 confirmed, ties counting one half:
    # 0.3 -> 36; 0.55 (twice) -> 34 above + 2 ties / 2 = 35 each; 0.85 -> 30 above + 4 ties / 2 = 32
    assert figures["auroc"] == pytest.approx((36 + 35 + 35 + 32) / (36 * 4))
    # ECE over ten bins: |0 - .3| * 1 + |.5 - .55| * 4 + |.8 - .85| * 5 + |1 - .95| * 30, over 40
    assert figures["ece"] == pytest.approx((0.3 + 0.05 * 4 + 0.05 * 5 + 0.05 * 30) / 40)

    # At or above 0.85: 34 of 35 confirmed, Wilson low 0.8546 >= 0.85; at 0.55 the low end falls short.
    assert wilson(34, 35)[0] >= 0.85 > wilson(36, 39)[0]
    wilson_pick = figures["recommendation"]["wilson"]
    assert wilson_pick["threshold"] == pytest.approx(0.85)
    assert (wilson_pick["n"], wilson_pick["correct"]) == (35, 34)
    assert wilson_pick["interval"] == interval(wilson(34, 35))
    # accepted at 0.85: 30 + 5 verified + 6 unreviewed; to humans: the 8 others (failed included)
    assert (wilson_pick["accepted"], wilson_pick["to_humans"]) == (41, 8)
    assert wilson_pick["human_share"] == pytest.approx(8 / 49)
    assert figures["recommended_threshold"] == pytest.approx(0.85)
    # the observed accuracy stays >= 0.85 down to the lowest record (36/40 = 0.9)
    assert figures["recommendation"]["point"]["threshold"] == pytest.approx(0.3)

    strict = client.verification(job.id)  # target 0.95: 30/30 has a Wilson low end of 0.8865 only
    assert strict["target"] == 0.95
    assert strict["recommendation"]["wilson"]["available"] is False
    assert "below the target 0.95" in strict["recommendation"]["wilson"]["reason"]
    assert strict["recommendation"]["point"]["threshold"] == pytest.approx(0.85)
    assert strict["audit"] == {"available": False, "reason": "no acceptance threshold is set"}


def test_audit_estimates_the_accuracy_of_the_final_dataset(service: Any, label_studio: Any,
                                                           big: tuple[Job, dict[str, list[int]]]) -> None:
    job, groups = big
    middle = groups["middle"]
    annotate(label_studio, job, middle[0], "Positive")  # the one wrong label among the accepted tasks
    client = service.client()
    client.sync_verification(job.id)
    audit = client.create_review(job.id, "audit", audit=8, threshold=0.85, seed=3)
    accepted = sorted(groups["high"] + middle + groups["unreviewed"])
    sample = sorted(random.Random(3).sample(accepted, 8))
    assert audit["sample"] == sample
    assert audit["task_ids"] == [task_id for task_id in sample if task_id != middle[0]]

    waiting = client.verification(job.id)["audit"]
    if middle[0] in sample:
        assert waiting["audit_n"] == 1 and waiting["audit_correct"] == 0
    else:
        assert waiting == {"available": False, "reason": "the audit sample is empty: verify a random "
                                                         "sample of the 41 accepted tasks"}
    reviewed = audit["task_ids"][:-1]  # annotators audit all but the last task of the view
    for task_id in reviewed:
        annotate(label_studio, job, task_id, "Negative" if task_id in middle else "Positive")
    client.sync_verification(job.id)
    figures = client.verification(job.id)
    audited = reviewed + ([middle[0]] if middle[0] in sample else [])
    correct = len(reviewed)
    p = correct / len(audited)
    low, high = wilson(correct, len(audited))
    human, accepted_count = 8, 41
    assert figures["threshold"] == 0.85
    assert figures["audit"] == {
        "available": True, "accepted": accepted_count, "human": human, "audit_n": len(audited),
        "audit_correct": correct, "audit_accuracy": pytest.approx(p), "audit_interval": interval((low, high)),
        "accuracy": pytest.approx((human + accepted_count * p) / 49),
        "interval": interval(((human + accepted_count * low) / 49, (human + accepted_count * high) / 49)),
    }
    assert figures["audits"] == [{"title": audit["title"], "view_id": audit["view_id"], "threshold": 0.85,
                                  "seed": 3, "size": 8, "verified": len(audited), "scale": "raw"}]


# ---- the pull: idempotent, edits, deletions, skips ---------------------------------------------

def test_sync_records_per_control_and_is_idempotent(service: Any, label_studio: Any, small: Job) -> None:
    t = small.tasks
    kept = annotate(label_studio, small, t[0], "Positive")
    changed = annotate(label_studio, small, t[1], "Neutral")
    client = service.client()
    first = client.sync_verification(small.id)
    assert (first["synced"], first["confirmed"], first["corrected"]) == (2, 1, 1)
    rows = service.runtime.store.verifications(small.id)
    assert [(r.task_id, r.annotation_id, r.control, r.verdict, r.human_labels, r.agent_labels, r.annotator)
            for r in rows] == [
        (t[0], kept["id"], "sentiment", "confirmed", ["Positive"], ["Positive"], ADMIN),
        (t[1], changed["id"], "sentiment", "corrected", ["Neutral"], ["Negative"], ADMIN)]
    assert all(r.annotated_at is not None for r in rows)

    before, report = verdict_rows(service, small), client.verification(small.id)
    assert client.sync_verification(small.id) == first
    assert verdict_rows(service, small) == before
    assert client.verification(small.id) == report


def test_edits_deletions_and_skips_follow_label_studio(service: Any, label_studio: Any, small: Job) -> None:
    t = small.tasks
    ls = label_studio.client
    edited = annotate(label_studio, small, t[0], "Positive")
    deleted = annotate(label_studio, small, t[1], "Negative")
    annotate(label_studio, small, t[2], "Positive", cancelled=True)
    client = service.client()
    assert client.sync_verification(small.id)["synced"] == 2

    ls.annotations.update(edited["id"], result=sentiment("Negative"))
    ls.annotations.delete(deleted["id"])
    after = client.sync_verification(small.id)
    assert (after["synced"], after["confirmed"], after["corrected"], after["removed"]) == (1, 0, 1, 1)
    [row] = service.runtime.store.verifications(small.id)
    assert (row.task_id, row.verdict, row.human_labels) == (t[0], "corrected", ["Negative"])
    assert client.verification(small.id)["verified"] == 1


# ---- the webhook: a hint, never a source ------------------------------------------------------

def post_webhook(service: Any, payload: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(f"{service.url}/webhook", json=payload, timeout=30)
    assert response.status_code == 200
    service.webhook_done()
    return response.json()


def forged(project: int, task_id: int, label: str, annotation_id: int = 999_999) -> dict[str, Any]:
    return {"action": "ANNOTATION_CREATED", "project": {"id": project}, "task": {"id": task_id, "project": project},
            "annotation": {"id": annotation_id, "task": task_id, "result": sentiment(label), "was_cancelled": False,
                           "completed_by": {"id": 1, "email": "mallory@example.com"}}}


def test_forged_webhooks_change_nothing_label_studio_does_not_confirm(service: Any, label_studio: Any,
                                                                      small: Job) -> None:
    t = small.tasks
    store = service.runtime.store
    post_webhook(service, forged(small.project, t[1], "Positive"))  # no annotation exists in Label Studio
    assert store.verifications(small.id) == []

    real = annotate(label_studio, small, t[0], "Positive")
    post_webhook(service, forged(small.project, t[0], "Negative", real["id"]))  # lies about a real one
    [row] = store.verifications(small.id)
    assert (row.annotation_id, row.verdict, row.human_labels, row.annotator) == (
        real["id"], "confirmed", ["Positive"], ADMIN)

    other_project, other_tasks = new_project(label_studio, [task_text("elsewhere", "Neutral", 0.5)])
    annotate_other = label_studio.client.annotations.create(other_tasks[0], result=sentiment("Neutral"))
    assert annotate_other.id
    answer = post_webhook(service, forged(small.project, other_tasks[0], "Neutral"))  # another project's task
    assert answer["tasks"] == [other_tasks[0]]
    post_webhook(service, forged(small.project, 10_000_000, "Neutral"))  # a task that does not exist
    post_webhook(service, {"action": "ANNOTATION_CREATED", "task": "1; DROP TABLE", "project": None})
    assert verdict_rows(service, small) == [
        (t[0], real["id"], "sentiment", "confirmed", ("Positive",), ("Positive",), ADMIN, row.annotated_at)]


def test_webhook_hint_records_and_unrecords_what_label_studio_holds(service: Any, label_studio: Any,
                                                                    small: Job) -> None:
    t = small.tasks
    store = service.runtime.store
    made = annotate(label_studio, small, t[3], "Negative")
    post_webhook(service, {"action": "ANNOTATION_CREATED", "project": {"id": small.project}, "task": {"id": t[3]}})
    [row] = store.verifications(small.id)
    assert (row.task_id, row.verdict, row.human_labels, row.agent_labels) == (t[3], "corrected", ["Negative"],
                                                                              ["Positive"])
    label_studio.client.annotations.delete(made["id"])
    post_webhook(service, {"action": "ANNOTATIONS_DELETED", "project": {"id": small.project},
                           "annotations": [{"id": made["id"], "task": t[3]}]})
    assert store.verifications(small.id) == []


def test_label_studio_webhooks_reach_the_service(service: Any, label_studio: Any, small: Job) -> None:
    """Label Studio itself posts to /webhook (as it does for a connected backend); the verdict
    appears without any pull."""
    hook = label_studio.client.webhooks.create(url=f"{service.url}/webhook", project=small.project,
                                               send_payload=True, send_for_all_actions=True)
    try:
        annotate(label_studio, small, small.tasks[0], "Neutral")
        deadline = time.monotonic() + 20
        while not service.runtime.store.verifications(small.id):
            assert time.monotonic() < deadline, "Label Studio's webhook did not arrive"
            time.sleep(0.2)
        [row] = service.runtime.store.verifications(small.id)
        assert (row.verdict, row.human_labels) == ("corrected", ["Neutral"])
        assert annotation_ids(label_studio, small.tasks[0]) == [row.annotation_id]
    finally:
        label_studio.client.webhooks.delete(hook.id)


def test_verification_errors_are_clear(service: Any, small: Job) -> None:
    client = service.client()
    with pytest.raises(ServiceError, match="no job 'missing'") as missing:
        client.sync_verification("missing")
    assert missing.value.status == 404
    with pytest.raises(ServiceError, match="'target' must be between 0 and 1") as bad:
        client.verification(small.id, target=1.5)
    assert bad.value.status == 400
    with pytest.raises(ServiceError, match="target must be above 0"):
        client.verification(small.id, target=0)
