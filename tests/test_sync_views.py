"""sync.views and sync.filters against a real Label Studio: review views and what they show."""

import pytest

from sync import filters
from sync.annotations import create_annotation
from sync.predictions import import_predictions
from sync.projects import set_model_version
from sync.views import delete_view, list_views, upsert_view, view_task_ids, view_url
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment

SCORES = [0.91, 0.15, 0.62, 0.33, 0.07, 0.48, 0.99, 0.21, 0.55, 0.7]
LABELS = ["Positive", "Negative", "Neutral", "Positive", "Negative"] * 2


@pytest.fixture(scope="module")
def scored(label_studio):
    """12 tasks; the first 10 have a prediction of agent@1 (the project's model_version) with SCORES."""
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(12)])
    ids = label_studio.task_ids(project)
    predictions = [
        {"task": task_id, "result": sentiment(LABELS[n]), "score": SCORES[n], "model_version": "agent@1"}
        for n, task_id in enumerate(ids[:10])
    ]
    import_predictions(label_studio.client, project, predictions)
    set_model_version(label_studio.client, project, "agent@1")
    return project, ids


def _by_score(ids, positions):
    return [ids[n] for n in sorted(positions, key=lambda n: SCORES[n])]


def test_score_filters_need_the_project_model_version(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "a"}, {"text": "b"}])
    ids = label_studio.task_ids(project)
    predictions = [{"task": ids[0], "result": sentiment("Positive"), "score": 0.2, "model_version": "agent@2"}]
    import_predictions(label_studio.client, project, predictions)
    low = filters.combine([filters.score_below(0.5)])
    view = upsert_view(label_studio.client, project, "before model_version", low, ["predictions_score"])
    assert view_task_ids(label_studio.client, project, view) == []
    set_model_version(label_studio.client, project, "agent@2")
    assert view_task_ids(label_studio.client, project, view) == [ids[0]]


def test_review_view_job_ids_unlabeled_low_score_in_score_order(label_studio, scored):
    project, ids = scored
    create_annotation(label_studio.client, ids[3], sentiment("Negative"))
    job_span = filters.item("id", "in", {"min": ids[1], "max": ids[8]})
    review = filters.combine([job_span, filters.unlabeled(), filters.score_below(0.6)])
    view = upsert_view(label_studio.client, project, "Review: low confidence", review, ["predictions_score"])
    assert view_task_ids(label_studio.client, project, view) == _by_score(ids, [1, 4, 5, 7, 8])
    highest_first = upsert_view(label_studio.client, project, "Review: lowest-k desc", review, ["-predictions_score"])
    assert view_task_ids(label_studio.client, project, highest_first) == _by_score(ids, [1, 4, 5, 7, 8])[::-1]


def test_upsert_updates_the_view_with_the_same_title(label_studio, scored):
    project, ids = scored
    first = upsert_view(label_studio.client, project, "Audit", filters.ids_any(ids[:3]), ["id"])
    again = upsert_view(label_studio.client, project, "Audit", filters.ids_any(ids[5:7]), ["-id"])
    assert again == first
    (audit,) = [view for view in list_views(label_studio.client, project) if view["title"] == "Audit"]
    assert audit["filters"]["items"][0]["value"] == {"min": ids[5], "max": ids[6]}
    assert audit["ordering"] == ["-tasks:id"]
    assert view_task_ids(label_studio.client, project, first) == [ids[6], ids[5]]


def test_empty_ordering_and_filters_reset_a_view(label_studio, scored):
    project, ids = scored
    view = upsert_view(label_studio.client, project, "Reset", filters.ids_any(ids[:2]), ["-id"])
    upsert_view(label_studio.client, project, "Reset", filters.combine([]), [])
    assert view_task_ids(label_studio.client, project, view) == ids


def test_filter_by_predicted_label(label_studio, scored):
    project, ids = scored
    negative = filters.combine([filters.prediction_label("Negative")])
    view = upsert_view(label_studio.client, project, "Predicted negative", negative, ["id"])
    assert view_task_ids(label_studio.client, project, view) == [ids[1], ids[4], ids[6], ids[9]]


def test_or_conjunction_and_between(label_studio, scored):
    project, ids = scored
    either = filters.combine(
        [filters.item("id", "equal", ids[0]), filters.item("id", "in", {"min": ids[10], "max": ids[11]})], "or"
    )
    view = upsert_view(label_studio.client, project, "Either", either, ["id"])
    assert view_task_ids(label_studio.client, project, view) == [ids[0], ids[10], ids[11]]


def test_hidden_columns_are_stored(label_studio, scored):
    project, _ = scored
    view = upsert_view(label_studio.client, project, "Narrow", filters.combine([]), ["id"], ["data.text"])
    stored = label_studio.client.views.get(str(view)).data
    assert stored["hiddenColumns"] == {"explore": ["tasks:data.text"], "labeling": ["tasks:data.text"]}


def test_delete_view(label_studio, scored):
    project, _ = scored
    view = upsert_view(label_studio.client, project, "Temporary", filters.combine([]), ["id"])
    delete_view(label_studio.client, view)
    assert view not in [item["id"] for item in list_views(label_studio.client, project)]


def test_view_url():
    assert view_url("http://ls.example:8080/", 3, 17) == "http://ls.example:8080/projects/3/data?tab=17"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: filters.item("id", "between", 1), "unknown Data Manager filter operator"),
        (lambda: filters.combine([], "xor"), "conjunction must be"),
    ],
)
def test_filter_mistakes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_view_needs_a_title_and_filters_object(label_studio, scored):
    project, _ = scored
    with pytest.raises(ValueError, match="non-empty title"):
        upsert_view(label_studio.client, project, " ", filters.combine([]), [])
    with pytest.raises(ValueError, match="filters must be"):
        upsert_view(label_studio.client, project, "x", [filters.unlabeled()], [])
    with pytest.raises(ValueError, match="web app cannot load a view with operator 'in_list'"):
        upsert_view(label_studio.client, project, "x", filters.combine([filters.ids_in([1])]), [])


def test_filter_items_have_the_data_manager_shape():
    assert filters.ids_in([3, "4"]) == {
        "filter": "filter:tasks:id",
        "operator": "in_list",
        "type": "Number",
        "value": [3, 4],
    }
    assert filters.item("tasks:data.text", "contains", "x", "String")["filter"] == "filter:tasks:data.text"
    assert filters.model_version_in("a@1")["value"] == ["a@1"]
    assert filters.ordering_column("-predictions_score") == "-tasks:predictions_score"
    assert filters.ordering_column("tasks:id") == "tasks:id"
