"""Review views over spans, numbers and taxonomies, through the real Label Studio and in its web app
(headless Chromium): ``--label`` finds tasks holding a span or a taxonomy node with that label,
``--threshold`` reads the least confident element of a task, ``--errors`` adds the tasks where
some of the model's spans were dropped."""

from __future__ import annotations

from typing import Any

import pytest

from ml_backend.client import ServiceError
from sync.views import list_views, view_task_ids
from tests.element_support import MIXED_CONFIG, A, Answer, B, C, D, E, ElementJob, build_job, span
from tests.webapp_bundle import problems

HIGH = {"summary": 0.99, "quality": 0.99, "count": 0.99, "topic": 0.99, "sentiment": 0.99}
ANSWERS = [
    Answer([span(A, "Maria Okafor", "PER", 0.9), span(A, "Northwind Logistics", "ORG", 0.8)],
           ["s"], 4, 1, [["Business", "Hiring"]], ["Positive"]),                                   # score .8
    Answer([span(B, "Priya Raman", "PER", 0.95), span(B, "Lisbon", "ORG", 0.4), span(B, "Osaka", "LOC", 0.7)],
           ["s"], 3, 2, [["Travel"]], ["Neutral"]),                                                # .4
    Answer([span(C, "Vantor", "ORG", 0.6), span(C, "Omar Haddad", "PER", 0.5), span(C, "chief executive", "LOC", 0.3)],
           ["s"], 5, 0, [["Business", "Leadership"]], ["Neutral"]),                                # .3
    Answer([span(D, "Grace Liu", "PER", 0.9)], ["s"], 2, 3, [["Business"]], ["Neutral"], dropped=1),  # .9, dropped
    Answer([span(E, "Jonas Lindqvist", "PER", 0.9), span(E, "Aiko Tanaka", "PER", 0.85)], ["s"], 5, 2,
           [["Business"]], ["Positive"]),                                                          # .6: its rating
    None,                                                                                          # failed
]
CONFIDENCES = [HIGH, HIGH, HIGH, HIGH, {**HIGH, "quality": 0.6}, HIGH]
KINDS: dict[str, dict[str, Any]] = {
    "threshold": {"threshold": 0.7},
    "label": {"label": "LOC"},
    "errors": {},
}


@pytest.fixture
def service(make_service: Any, label_studio: Any) -> Any:
    return make_service(label_studio=label_studio)


@pytest.fixture
def job(service: Any, label_studio: Any) -> ElementJob:
    return build_job(service, label_studio, MIXED_CONFIG, [A, B, C, D, E, "Nothing to see here."], ANSWERS,
                     CONFIDENCES)


def test_label_review_finds_span_labels_and_taxonomy_nodes(service: Any, job: ElementJob) -> None:
    t, client = job.tasks, service.client()
    items = {item.task_id: item for item in service.runtime.store.items(job.id)}
    assert [items[task_id].score for task_id in t[:5]] == [0.8, 0.4, 0.3, 0.9, 0.6]
    # by ascending score: the least confident first
    assert client.create_review(job.id, "label", label="LOC")["task_ids"] == [t[2], t[1]]
    assert client.create_review(job.id, "label", label="ORG")["task_ids"] == [t[2], t[1], t[0]]
    assert client.create_review(job.id, "label", label="Leadership")["task_ids"] == [t[2]]  # a taxonomy leaf
    assert client.create_review(job.id, "label", label="Business")["task_ids"] == [t[2], t[4], t[0], t[3]]
    with pytest.raises(ServiceError) as unknown:
        client.create_review(job.id, "label", label="DATE")
    assert ("its labels are: Business, Hiring, LOC, Leadership, Negative, Neutral, ORG, PER, Planning, Positive, "
            "Travel") in str(unknown.value)


def test_threshold_reads_the_least_confident_element_and_errors_include_dropped_spans(
        service: Any, job: ElementJob) -> None:
    t, client = job.tasks, service.client()
    # t[4]'s spans are confident, its rating is not (0.6): it is below 0.7 too
    assert client.create_review(job.id, "threshold", threshold=0.7)["task_ids"] == [t[2], t[1], t[4]]
    assert client.create_review(job.id, "threshold", threshold=0.85)["task_ids"] == [t[2], t[1], t[4], t[0]]
    errors = client.create_review(job.id, "errors")
    assert errors["task_ids"] == [t[3], t[5]] and errors["ordering"] == "id"  # a dropped span, a failure


def test_element_reviews_render_in_the_web_app(browser: Any, service: Any, label_studio: Any,
                                              job: ElementJob) -> None:
    client = service.client()
    reviews = {kind: client.create_review(job.id, kind, **options) for kind, options in KINDS.items()}
    views = {view["id"]: view for view in list_views(label_studio.client, job.project)}
    for kind, review in reviews.items():
        assert review["form"] == "ids" and problems(views[review["view_id"]]["filters"]) == [], kind
        listed = view_task_ids(label_studio.client, job.project, review["view_id"])
        assert browser.open_view(job.project, review["view_id"]) == (len(listed), len(job.tasks)), kind
        assert browser.console_errors() == [], kind
        rows = browser.rows()
        assert [int(row[0]) for row in rows] == listed == review["task_ids"], kind
    browser.open_view(job.project, reviews["threshold"]["view_id"])
    header, rows = browser.header(), browser.rows()
    score, result = header.index("Prediction score"), header.index("Prediction results")
    assert [float(row[score]) for row in rows] == [0.3, 0.4, 0.6]  # the prediction's score: its lowest element
    assert "labels: [LOC]" in rows[0][result] and "Omar Haddad" in rows[0][result]
