"""Diversity reviews through the real Label Studio and its web app (headless Chromium): cluster
representatives and the uncertainty budget, from the simulator's embeddings and, when the
endpoint serves none, from local TF-IDF, each saying which in the view's title."""

from __future__ import annotations

from typing import Any

import pytest

from sync.views import view_task_ids
from tests.review_support import Job, new_project, run_job, task_text

#: Three topics of four texts; each task's label and confidence fixed by directives.
TOPICS = {
    "battery": [("the battery died after a day", 0.9), ("battery drains fast, weak battery", 0.4),
                ("weak battery, the charge lasts hours", 0.85), ("battery swelled, battery is dead", 0.95)],
    "delivery": [("delivery was late by a week", 0.3), ("the courier lost my delivery", 0.92),
                 ("late delivery, the courier never came", 0.88), ("delivery came late and damaged", 0.97)],
    "price": [("too expensive for what it is", 0.6), ("the price is far too high", 0.93),
              ("expensive, the price doubled", 0.2), ("price went up, too expensive now", 0.99)],
}
LABELS = {"battery": "Negative", "delivery": "Neutral", "price": "Positive"}


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def topical(service: Any, label_studio: Any) -> tuple[Job, dict[int, str], dict[int, float]]:
    specs = [(topic, text, confidence) for topic, texts in TOPICS.items() for text, confidence in texts]
    project, tasks = new_project(label_studio, [task_text(text, LABELS[topic], confidence)
                                                for topic, text, confidence in specs])
    job = run_job(service, project, tasks)
    topics = {task_id: topic for task_id, (topic, _, _) in zip(tasks, specs, strict=True)}
    scores = {task_id: confidence for task_id, (_, _, confidence) in zip(tasks, specs, strict=True)}
    return job, topics, scores


def shown(browser: Any, label_studio: Any, job: Job, review: dict[str, Any]) -> list[int]:
    """The view's tasks as the web app lists them (after checking it renders them all, cleanly)."""
    listed = view_task_ids(label_studio.client, job.project, review["view_id"])
    assert browser.open_view(job.project, review["view_id"]) == (len(listed), len(job.tasks))
    assert browser.console_errors() == []
    return [int(row[0]) for row in browser.rows()]


def test_diverse_and_budget_views_cover_the_topics(browser: Any, service: Any, sim: Any, label_studio: Any,
                                                    topical: tuple[Job, dict[int, str], dict[int, float]]) -> None:
    job, topics, scores = topical
    client = service.client()
    diverse = client.create_review(job.id, "diverse", diverse=3)
    assert diverse["title"].endswith("diverse 3 · embeddings sim-small")
    assert diverse["representation"] == "embeddings sim-small" and diverse["clusters"] == 3
    assert sorted(topics[task_id] for task_id in diverse["task_ids"]) == ["battery", "delivery", "price"]
    assert set(shown(browser, label_studio, job, diverse)) == set(diverse["task_ids"])

    budget = client.create_review(job.id, "budget", budget=5)
    assert budget["clusters"] == 4 and len(budget["task_ids"]) == 5  # ceil(sqrt(12)) clusters
    assert {topics[task_id] for task_id in budget["task_ids"]} == {"battery", "delivery", "price"}
    least_confident = sorted(scores, key=scores.__getitem__)[:3]  # 0.2, 0.3, 0.4: one per topic
    assert set(least_confident) <= set(budget["task_ids"])
    assert budget["expected_errors"] == pytest.approx(sum(1 - scores[task_id] for task_id in budget["task_ids"]))
    rows = shown(browser, label_studio, job, budget)
    assert rows == sorted(budget["task_ids"], key=scores.__getitem__)  # least confident first


def test_without_embeddings_the_view_says_it_used_tfidf(browser: Any, service: Any, sim: Any, label_studio: Any,
                                                        topical: tuple[Job, dict[int, str], dict[int, float]]) -> None:
    job, topics, _ = topical
    sim.configure(reject="embeddings")
    review = service.client().create_review(job.id, "diverse", diverse=3)
    assert review["title"].endswith("diverse 3 · TF-IDF") and review["representation"] == "TF-IDF"
    assert "404" in review["representation_note"]
    assert sorted(topics[task_id] for task_id in review["task_ids"]) == ["battery", "delivery", "price"]
    assert set(shown(browser, label_studio, job, review)) == set(review["task_ids"])


def test_bad_diversity_requests_are_refused(service: Any,
                                            topical: tuple[Job, dict[int, str], dict[int, float]]) -> None:
    from ml_backend.client import ServiceError

    job = topical[0]
    with pytest.raises(ServiceError, match="diverse"):
        service.client().create_review(job.id, "diverse")
    with pytest.raises(ServiceError, match="budget"):
        service.client().create_review(job.id, "budget", budget=0)
