"""Repair of review views the Label Studio web app cannot load (ml_backend.review.repair), through
``lsagent review repair`` -> REST -> service, and on every review: the service's own views are
rewritten to the same tasks, a view it does not own is never changed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli import main
from sync import filters
from sync.views import list_views, view_task_ids
from tests.review_support import annotate, new_project, run_job, task_text
from tests.webapp_bundle import problems


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


def legacy_view(label_studio: Any, project: int, title: str, items: list[dict], **data: Any) -> int:
    """A view as earlier versions wrote it, straight through Label Studio's API."""
    payload = {"title": title, "filters": filters.combine(items), "ordering": ["tasks:id"], **data}
    return int(label_studio.client.views.create(project=project, data=payload).id)


def views_of(label_studio: Any, project: int) -> dict[int, dict[str, Any]]:
    return {int(view["id"]): view for view in list_views(label_studio.client, project)}


def test_repair_rewrites_only_the_services_views(service: Any, label_studio: Any) -> None:
    project, t = new_project(label_studio, [task_text(f"text {n}", "Positive", 0.5) for n in range(8)])
    job = run_job(service, project, t)
    annotate(label_studio, job, t[1], "Negative")
    old = legacy_view(label_studio, project, "lsagent 1a2b3c4d: score < 0.7",
                      [filters.ids_in(t[:4]), filters.unlabeled()])
    marked = legacy_view(label_studio, project, "renamed by a user", [filters.ids_in(t[5:7])], lsagent_review=True)
    odd = legacy_view(label_studio, project, "lsagent odd", [filters.ids_in(t), filters.score_below(0.4)])
    theirs = legacy_view(label_studio, project, "my own list", [filters.ids_in(t[2:3])])
    before = views_of(label_studio, project)[theirs]

    result = CliRunner().invoke(main, ["review", "repair", "--project", str(project), "--json"],
                                env={"LSAGENT_URL": service.url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = {entry["view_id"]: entry["action"] for entry in json.loads(result.output)["views"]}
    assert report == {old: "rewritten", marked: "rewritten", odd: "deleted", theirs: "not owned"}

    after = views_of(label_studio, project)
    assert odd not in after and after[theirs] == before
    for view in (old, marked):
        assert problems(after[view]["filters"]) == []
    assert view_task_ids(label_studio.client, project, old) == [t[0], t[2], t[3]]  # t1 is annotated
    assert view_task_ids(label_studio.client, project, marked) == t[5:7]
    again = CliRunner().invoke(main, ["review", "repair", "--project", str(project)],
                               env={"LSAGENT_URL": service.url}, catch_exceptions=False)
    assert "my own list" in again.output and "not owned" in again.output and "lsagent" not in again.output


def test_creating_a_review_repairs_the_project_first(service: Any, label_studio: Any) -> None:
    project, t = new_project(label_studio, [task_text(f"text {n}", "Positive", 0.5) for n in range(4)])
    job = run_job(service, project, t)
    old = legacy_view(label_studio, project, "lsagent demo: confidence below 0.7",
                      [filters.ids_in(t[:2]), filters.unlabeled()])
    theirs = legacy_view(label_studio, project, "mine", [filters.ids_in(t[:1])])
    service.client().create_review(job.id, "threshold", threshold=0.9)
    after = views_of(label_studio, project)
    assert problems(after[old]["filters"]) == [] and view_task_ids(label_studio.client, project, old) == t[:2]
    assert after[theirs]["filters"]["items"][0]["operator"] == "in_list"


def test_repair_of_a_project_without_broken_views_changes_nothing(service: Any, label_studio: Any) -> None:
    project, t = new_project(label_studio, [task_text("one", "Positive", 0.5)])
    job = run_job(service, project, t)
    review = service.client().create_review(job.id, "threshold", threshold=0.9)
    before = views_of(label_studio, project)
    assert service.client().repair_reviews(project) == {"project": project, "views": []}
    assert views_of(label_studio, project) == before and review["view_id"] in before
