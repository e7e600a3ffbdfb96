"""Review views in the real Label Studio web app (headless Chromium, tests/fixtures/browser.py).

Every review kind is created through the service over real jobs, then opened where annotators
open it: the tab renders (no console error), its footer counts exactly the tasks the API lists
for it, the table shows them in the view's order with the text, the agent's label and score.
An annotator then accepts one prediction and changes another by clicking and submitting, and the
webhook and ``lsagent verification sync`` record one confirmed and one corrected verdict.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli import main
from sync import filters
from sync.projects import connect_ml_backend
from sync.views import list_views, view_task_ids
from tests.review_support import Job, new_project, run_job, task_text
from tests.test_reviews import BASE
from tests.webapp_bundle import problems

KINDS = {
    "threshold": {"threshold": 0.7},
    "lowest": {"lowest": 3},
    "label": {"label": "Positive"},
    "keyword": {"keyword": "refund"},
    "errors": {},
    "disagree": {},
    "audit": {"audit": 3, "threshold": 0.6, "seed": 7},
}


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def reviewed(service: Any, label_studio: Any) -> tuple[Job, dict[str, dict[str, Any]], int]:
    """Two jobs on BASE (the second reads two texts differently), the service connected as the
    project's ML backend, a review view of every kind, and a legacy view the first review repaired."""
    project, tasks = new_project(label_studio, [task_text(*spec) for spec in BASE])
    connect_ml_backend(label_studio.client, project, service.url, "lsagent")
    first = run_job(service, project, tasks, name="first")
    for task_id, text in {tasks[1]: task_text("late again", "Positive", 0.95),
                          tasks[3]: task_text("just a box", "Negative", 0.1)}.items():
        label_studio.client.tasks.update(str(task_id), data={"text": text})
    second = run_job(service, project, tasks, name="second", seed=2)
    legacy = label_studio.client.views.create(project=project, data={"title": "lsagent 0ld00000: score < 0.9",
        "filters": filters.combine([filters.ids_in(tasks[:4]), filters.unlabeled()]), "ordering": ["tasks:id"]})
    client = service.client()
    reviews = {kind: client.create_review(first.id, kind, other_job=second.id if kind == "disagree" else None,
                                          **options) for kind, options in KINDS.items()}
    return first, reviews, int(legacy.id)


def test_every_review_kind_renders_exactly_its_tasks(browser: Any, label_studio: Any,
                                                     reviewed: tuple[Job, dict[str, dict[str, Any]], int]) -> None:
    job, reviews, legacy = reviewed
    t = job.tasks
    assert reviews["threshold"]["task_ids"] == [t[4], t[0], t[2], t[5]]
    assert reviews["errors"]["task_ids"] == [t[7], t[8]]
    assert reviews["disagree"]["task_ids"] == [t[1], t[3]]
    views = {view["id"]: view for view in list_views(label_studio.client, job.project)}
    for kind, review in reviews.items():
        assert review["task_ids"], kind
        assert review["form"] == "ids" and problems(views[review["view_id"]]["filters"]) == []
        listed = view_task_ids(label_studio.client, job.project, review["view_id"])
        assert browser.open_view(job.project, review["view_id"]) == (len(listed), len(t)), kind
        assert browser.console_errors() == [], kind
        rows = browser.rows()
        assert [int(row[0]) for row in rows] == listed == review["task_ids"], kind
        assert {"ID", "Prediction score", "Prediction results", "text"} <= set(browser.header()), kind
        assert "Created at" not in browser.header() and "Annotated by" not in browser.header()
    assert problems(views[legacy]["filters"]) == []
    assert browser.open_view(job.project, legacy) == (4, len(t)) and browser.console_errors() == []


def test_threshold_view_shows_labels_and_scores_least_confident_first(
        browser: Any, reviewed: tuple[Job, dict[str, dict[str, Any]], int]) -> None:
    job, reviews, _ = reviewed
    browser.open_view(job.project, reviews["threshold"]["view_id"])
    rows = browser.rows()
    header = browser.header()
    score, result, text = header.index("Prediction score"), header.index("Prediction results"), header.index("text")
    assert [float(row[score]) for row in rows] == [0.2, 0.35, 0.55, 0.65]
    assert [row[result].count("choices: [") for row in rows] == [2, 2, 2, 2]  # both agents' predictions
    labels = ["Positive", "Positive", "Positive", "Negative"]
    assert all(row[result].count(f"choices: [{label}]") == 2 for row, label in zip(rows, labels, strict=True))
    assert [row[text].split(" [[")[0] for row in rows] == ["meh", "the parcel arrived", "fine I guess",
                                                           "I want a refund"]


def lsagent(service: Any, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, [*args, "--json"], env={"LSAGENT_URL": service.url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_an_annotator_accepts_and_corrects_in_the_browser(browser: Any, service: Any, label_studio: Any,
                                                          reviewed: tuple[Job, dict[str, dict[str, Any]], int]) -> None:
    job, reviews, _ = reviewed
    t = job.tasks
    view = reviews["threshold"]["view_id"]
    pre_selected = {"Positive": True, "Negative": False, "Neutral": False}  # the agent's label
    assert browser.open_task(job.project, view, t[4]) == pre_selected
    browser.submit()
    assert browser.open_task(job.project, view, t[0]) == pre_selected
    browser.choose("Negative")
    browser.submit()
    assert browser.console_errors() == []

    deadline = time.monotonic() + 30
    while len(service.runtime.store.verifications(job.id)) < 2:  # Label Studio's webhook, no pull
        assert time.monotonic() < deadline, "the webhook did not record the two verdicts"
        time.sleep(0.3)
    synced = lsagent(service, "verification", "sync", "--job", job.id)
    assert (synced["synced"], synced["confirmed"], synced["corrected"]) == (2, 1, 1)
    rows = {row.task_id: row for row in service.runtime.store.verifications(job.id)}
    assert (rows[t[4]].verdict, rows[t[4]].human_labels) == ("confirmed", ["Positive"])
    assert (rows[t[0]].verdict, rows[t[0]].human_labels) == ("corrected", ["Negative"])
    assert {row.annotator for row in rows.values()} == {label_studio.username}
    assert browser.open_view(job.project, view) == (2, len(t))  # verified tasks left the view
    assert [int(row[0]) for row in browser.rows()] == [t[2], t[5]]
