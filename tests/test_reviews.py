"""Review views against the real Label Studio, over real jobs on the simulator.

Every task's label and confidence are fixed by directives, so each view's tasks and order are
known in advance; they are read back THROUGH the view (the Data Manager's own listing)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from ml_backend.client import ServiceError
from sync.projects import model_version
from sync.views import list_views, view_task_ids
from tests.review_support import Job, annotate, new_project, run_job, slow_running_job, task_text

#: (text, label, confidence, fault): tasks 7 and 8 fail (unparseable answer, unknown label).
BASE = [
    ("the parcel arrived", "Positive", 0.35, None),
    ("late again", "Negative", 0.8, None),
    ("fine I guess", "Positive", 0.55, None),
    ("just a box", "Neutral", 0.95, None),
    ("meh", "Positive", 0.2, None),
    ("I want a refund", "Negative", 0.65, None),
    ("REFUND received, thanks", "Positive", 0.9, None),
    ("broken output", None, None, "malformed"),
    ("strange answer", None, None, "offlabel"),
    ("a chair", "Neutral", 0.99, None),
]


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def base(service: Any, label_studio: Any) -> Job:
    """A finished job over BASE, checked to hold exactly the designed outcomes."""
    project, tasks = new_project(label_studio, [task_text(*spec) for spec in BASE])
    job = run_job(service, project, tasks)
    items = job.items(service)
    for task_id, (_, label, confidence, fault) in zip(tasks, BASE, strict=True):
        item = items[task_id]
        if fault:
            assert item.error_class is not None
        else:
            assert item.labels == {"sentiment": [label]}
            assert item.score == pytest.approx(confidence, abs=1e-9)
    return job


def through_view(label_studio: Any, job: Job, review: dict[str, Any]) -> list[int]:
    return view_task_ids(label_studio.client, job.project, review["view_id"])


def titled(label_studio: Any, job: Job, title: str) -> list[int]:
    return [view["id"] for view in list_views(label_studio.client, job.project) if view["title"] == title]


def test_threshold_view_holds_open_tasks_below_it_least_confident_first(service: Any, label_studio: Any,
                                                                         base: Job) -> None:
    t = base.tasks
    client = service.client()
    review = client.create_review(base.id, "threshold", threshold=0.7)
    expected = [t[4], t[0], t[2], t[5]]  # 0.2, 0.35, 0.55, 0.65; failed tasks are not here
    assert review["task_ids"] == expected
    assert through_view(label_studio, base, review) == expected
    assert review["created"] is True
    assert review["title"] == f"lsagent {base.id[:8]}: score < 0.7"
    assert review["url"] == f"{label_studio.url}/projects/{base.project}/data?tab={review['view_id']}"
    assert model_version(label_studio.client, base.project) == base.model_version

    annotate(label_studio, base, t[0], "Positive")
    annotate(label_studio, base, t[2], "Negative")
    annotate(label_studio, base, t[4], "Positive", cancelled=True)  # a skip is not an annotation
    assert through_view(label_studio, base, review) == [t[4], t[5]]

    again = client.create_review(base.id, "threshold", threshold=0.7)
    assert (again["view_id"], again["created"], again["task_ids"]) == (review["view_id"], False, [t[4], t[5]])
    assert titled(label_studio, base, review["title"]) == [review["view_id"]]


def test_lowest_k_are_the_least_confident_tasks_nobody_annotated(service: Any, label_studio: Any, base: Job) -> None:
    t = base.tasks
    client = service.client()
    review = client.create_review(base.id, "lowest", lowest=3)
    assert review["task_ids"] == through_view(label_studio, base, review) == [t[4], t[0], t[2]]
    annotate(label_studio, base, t[4], "Negative")
    assert through_view(label_studio, base, review) == [t[0], t[2]]
    again = client.create_review(base.id, "lowest", lowest=3)
    assert again["view_id"] == review["view_id"]
    assert again["task_ids"] == through_view(label_studio, base, again) == [t[0], t[2], t[5]]


def test_label_and_keyword_views(service: Any, label_studio: Any, base: Job) -> None:
    t = base.tasks
    client = service.client()
    positive = client.create_review(base.id, "label", label="Positive")
    assert positive["task_ids"] == through_view(label_studio, base, positive) == [t[4], t[0], t[2], t[6]]
    assert positive["title"] == f"lsagent {base.id[:8]}: label Positive"

    refund = client.create_review(base.id, "keyword", keyword="refund")
    assert refund["task_ids"] == through_view(label_studio, base, refund) == [t[5], t[6]]
    shouting = client.create_review(base.id, "keyword", keyword="REFUND")
    assert shouting["task_ids"] == [t[5], t[6]] and shouting["view_id"] != refund["view_id"]

    annotate(label_studio, base, t[6], "Positive")
    assert through_view(label_studio, base, refund) == [t[5]]
    assert through_view(label_studio, base, positive) == [t[4], t[0], t[2]]

    with pytest.raises(ServiceError) as refused:
        client.create_review(base.id, "label", label="Happy")
    assert refused.value.status == 400
    assert "Negative, Neutral, Positive" in str(refused.value)


def test_errors_view_and_a_custom_title(service: Any, label_studio: Any, base: Job) -> None:
    t = base.tasks
    review = service.client().create_review(base.id, "errors", title="  to label by hand ")
    assert review["title"] == "to label by hand"
    assert review["ordering"] == "id"
    assert review["task_ids"] == through_view(label_studio, base, review) == [t[7], t[8]]
    annotate(label_studio, base, t[8], "Neutral", from_prediction=False)
    assert through_view(label_studio, base, review) == [t[7]]


def test_disagreement_view_orders_by_this_jobs_agent(service: Any, label_studio: Any) -> None:
    specs = [("one", "Positive", 0.6), ("two", "Negative", 0.3), ("three", "Neutral", 0.9),
             ("four", "Positive", 0.45), ("five", "Negative", 0.7)]
    project, t = new_project(label_studio, [task_text(*spec) for spec in specs])
    first = run_job(service, project, t, name="first")
    # The second agent reads changed texts: it disagrees on two tasks and fails on a third.
    changes = {t[1]: task_text("two", "Positive", 0.95), t[3]: task_text("four", "Negative", 0.1),
               t[4]: task_text("five", fault="malformed")}
    for task_id, text in changes.items():
        label_studio.client.tasks.update(str(task_id), data={"text": text})
    second = run_job(service, project, t, name="second", seed=2)
    assert first.model_version != second.model_version
    assert model_version(label_studio.client, project) == second.model_version

    client = service.client()
    review = client.create_review(first.id, "disagree", other_job=second.id)
    # ordered by the first agent's scores (0.3, 0.45): the review set the project's model_version back
    assert model_version(label_studio.client, project) == first.model_version
    assert review["task_ids"] == through_view(label_studio, first, review) == [t[1], t[3]]
    assert review["title"] == f"lsagent {first.id[:8]}: disagree {second.id[:8]}"
    mirrored = client.create_review(second.id, "disagree", other_job=first.id)
    assert mirrored["task_ids"] == through_view(label_studio, second, mirrored) == [t[3], t[1]]

    with pytest.raises(ServiceError, match="cannot disagree with itself"):
        client.create_review(first.id, "disagree", other_job=first.id)
    other_project, other_tasks = new_project(label_studio, [task_text("x", "Neutral", 0.5)])
    elsewhere = run_job(service, other_project, other_tasks, name="elsewhere", seed=3)
    with pytest.raises(ServiceError, match="same project") as refused:
        client.create_review(first.id, "disagree", other_job=elsewhere.id)
    assert refused.value.status == 400


def test_audit_is_a_seeded_sample_of_accepted_tasks(service: Any, label_studio: Any, base: Job) -> None:
    t = base.tasks
    client = service.client()
    accepted = [t[1], t[3], t[5], t[6], t[9]]  # labelled with a confidence >= 0.6
    audit = client.create_review(base.id, "audit", audit=3, threshold=0.6, seed=7)
    expected = sorted(random.Random(7).sample(accepted, 3))
    assert audit["sample"] == expected
    assert audit["task_ids"] == through_view(label_studio, base, audit) == expected  # by id, not by confidence
    assert (audit["accepted"], audit["threshold"], audit["seed"]) == (5, 0.6, 7)
    assert audit["title"] == f"lsagent {base.id[:8]}: audit 3 >= 0.6 seed 7"

    annotate(label_studio, base, expected[0], "Positive")
    again = client.create_review(base.id, "audit", audit=3, threshold=0.6, seed=7)
    assert (again["view_id"], again["created"], again["sample"]) == (audit["view_id"], False, expected)
    assert again["task_ids"] == expected[1:]

    everything = client.create_review(base.id, "audit", audit=10, threshold=0.6, seed=8)
    assert everything["sample"] == accepted and everything["view_id"] != audit["view_id"]
    remembered = service.runtime.store.audits(base.id)
    assert [(a.title, a.task_ids, a.threshold, a.seed) for a in remembered] == [
        (audit["title"], expected, 0.6, 7), (everything["title"], accepted, 0.6, 8)]

    with pytest.raises(ServiceError, match="nothing to audit"):
        client.create_review(base.id, "audit", audit=3, threshold=1.0)
    with pytest.raises(ServiceError, match="give the acceptance threshold") as refused:
        client.create_review(base.id, "audit", audit=3)
    assert refused.value.status == 400


def test_audit_waits_for_the_job_to_finish(service: Any, sim: Any, label_studio: Any) -> None:
    job = slow_running_job(service, sim, label_studio)
    client = service.client()
    with pytest.raises(ServiceError, match="wait until the job has finished") as refused:
        client.create_review(job["id"], "audit", audit=2, threshold=0.5)
    assert refused.value.status == 409
    client.cancel(job["id"])


def test_bad_review_requests_are_refused_with_the_reason(service: Any, base: Job) -> None:
    client = service.client()
    cases = [
        ({"kind": "everything"}, 400, "unknown review kind"),
        ({"kind": "threshold"}, 400, "needs 'threshold'"),
        ({"kind": "threshold", "threshold": 1.5}, 400, "between 0 and 1"),
        ({"kind": "lowest", "lowest": 0}, 400, "'lowest' must be >= 1"),
        ({"kind": "keyword", "keyword": "  "}, 400, "non-empty 'keyword'"),
        ({"kind": "disagree"}, 400, "needs 'other_job'"),
        ({"kind": "errors", "colour": "red"}, 400, "unknown field 'colour'"),
    ]
    for options, status, message in cases:
        kind = options.pop("kind")
        with pytest.raises(ServiceError, match=message) as refused:
            client.create_review(base.id, kind, **options)
        assert refused.value.status == status
    with pytest.raises(ServiceError, match="no job 'nope'") as missing:
        client.create_review("nope", "errors")
    assert missing.value.status == 404
