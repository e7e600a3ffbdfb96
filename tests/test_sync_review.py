"""sync.review against a real Label Studio: the two forms of a review view, and its columns."""

from __future__ import annotations

from typing import Any

import pytest

from sync import filters
from sync.predictions import import_predictions
from sync.projects import set_model_version
from sync.review import MAX_RUNS, ReviewTooLarge, review_hidden_columns, upsert_review_view
from sync.views import list_views, view_task_ids
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment
from tests.webapp_bundle import problems

SIZE = 2 * MAX_RUNS + 20


@pytest.fixture(scope="module")
def alternating(label_studio: Any) -> tuple[int, list[int]]:
    """SIZE tasks, every other one scored low (0.2), the others high (0.9), by agent@1."""
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(SIZE)])
    ids = label_studio.task_ids(project)
    import_predictions(label_studio.client, project, [
        {"task": task_id, "result": sentiment("Positive"), "score": 0.2 if n % 2 else 0.9, "model_version": "agent@1"}
        for n, task_id in enumerate(ids)])
    set_model_version(label_studio.client, project, "agent@1")
    return project, ids


def test_a_scattered_set_uses_its_description_only_when_exact(label_studio: Any, alternating: Any) -> None:
    project, ids = alternating
    low = ids[1::2]
    assert len(filters.id_runs(low)) > MAX_RUNS
    written = upsert_review_view(label_studio.client, project, "lsagent test: low", low, True,
                                 [filters.score_below(0.5)])
    assert written.form == "filters" and written.created
    assert view_task_ids(label_studio.client, project, written.view_id) == low
    [view] = [view for view in list_views(label_studio.client, project) if view["id"] == written.view_id]
    assert problems(view["filters"]) == []
    with pytest.raises(ReviewTooLarge, match="no filter Label Studio's web app knows selects exactly"):
        upsert_review_view(label_studio.client, project, "lsagent test: not quite", [*low, ids[0]], True,
                           [filters.score_below(0.5)])
    with pytest.raises(ReviewTooLarge, match="narrow the review"):
        upsert_review_view(label_studio.client, project, "lsagent test: no description", low, True)


def test_a_review_view_shows_the_text_label_and_score(label_studio: Any, alternating: Any) -> None:
    project, ids = alternating
    written = upsert_review_view(label_studio.client, project, "lsagent test: few", ids[:3], True)
    assert written.form == "ids"
    data = label_studio.client.views.get(str(written.view_id)).data
    hidden = set(data["hiddenColumns"]["explore"])
    for shown in ("tasks:id", "tasks:data.text", "tasks:predictions_score", "tasks:predictions_results"):
        assert shown not in hidden
    assert {"tasks:created_at", "tasks:annotators", "tasks:inner_id"} <= hidden
    assert data["hiddenColumns"]["labeling"] == data["hiddenColumns"]["explore"]
    assert data["columnsWidth"]["tasks:predictions_results"] > 0 and data["lsagent_review"] is True
    assert "predictions_score" not in review_hidden_columns(label_studio.client, project, ["data.text"])
