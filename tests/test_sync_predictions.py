"""sync.predictions against a real Label Studio: bulk import, reading back by model_version."""

import httpx
import pytest
from label_studio_sdk.client import LabelStudio

from sync.predictions import (
    MissingTasks,
    check_prediction,
    delete_prediction,
    import_predictions,
    iter_prediction_pages,
    predictions_by_version,
)
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment


@pytest.fixture
def counting_client(label_studio):
    """An SDK client that records the path of every request it sends."""
    sent = []
    http = httpx.Client(timeout=60, event_hooks={"request": [lambda request: sent.append(request.url.path)]})
    yield LabelStudio(base_url=label_studio.url, api_key=label_studio.api_key, httpx_client=http), sent
    http.close()


def _imports(sent, project):
    return sent.count(f"/api/projects/{project}/import/predictions")


def test_250_predictions_in_one_request_read_back_by_version(label_studio, counting_client):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(260)])
    ids = label_studio.task_ids(project)
    labels = ("Positive", "Negative", "Neutral")
    sent = [
        {"task": task_id, "result": sentiment(labels[n % 3]), "score": n / 250, "model_version": "agent@0001"}
        for n, task_id in enumerate(ids[:250])
    ]
    client, requests = counting_client
    assert import_predictions(client, project, sent) == 250
    assert _imports(requests, project) == 1
    import_predictions(client, project, [{**sent[0], "model_version": "agent@00012"}])

    found = predictions_by_version(label_studio.client, project, "agent@0001")
    assert sorted(found) == ids[:250]
    for n, task_id in enumerate(ids[:250]):
        (prediction,) = found[task_id]
        assert prediction["result"] == sent[n]["result"] and prediction["score"] == pytest.approx(n / 250)
        assert prediction["model_version"] == "agent@0001" and isinstance(prediction["id"], int)
    assert list(predictions_by_version(label_studio.client, project, "agent@00012")) == [ids[0]]
    assert predictions_by_version(label_studio.client, project, "agent@9999") == {}


def test_batches_and_reading_back_only_some_tasks(label_studio, counting_client):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(25)])
    ids = label_studio.task_ids(project)
    sent = [{"task": task_id, "result": sentiment("Positive"), "model_version": "m@1"} for task_id in ids]
    client, requests = counting_client
    assert import_predictions(client, project, sent, batch_size=10) == 25
    assert _imports(requests, project) == 3
    pages = list(iter_prediction_pages(label_studio.client, project, "m@1", task_ids=ids[5:9], page_size=2))
    assert [[prediction["task"] for prediction in page] for page in pages] == [ids[5:7], ids[7:9]]
    assert pages[0][0]["score"] is None


def test_duplicates_are_kept_by_label_studio_and_can_be_deleted(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "once"}])
    task_id = label_studio.task_ids(project)[0]
    prediction = {"task": task_id, "result": sentiment("Neutral"), "score": 0.5, "model_version": "m@1"}
    import_predictions(label_studio.client, project, [prediction])
    import_predictions(label_studio.client, project, [prediction])
    first, second = predictions_by_version(label_studio.client, project, "m@1")[task_id]
    assert first["id"] < second["id"]
    delete_prediction(label_studio.client, second["id"])
    assert [p["id"] for p in predictions_by_version(label_studio.client, project, "m@1")[task_id]] == [first["id"]]


def test_a_task_not_in_the_project_is_reported_and_its_batch_not_saved(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": f"t{n}"} for n in range(4)])
    ids = label_studio.task_ids(project)
    good = [{"task": task_id, "result": sentiment("Positive"), "model_version": "m@1"} for task_id in ids]
    bad = {"task": 99_999_999, "result": sentiment("Positive"), "model_version": "m@1"}
    with pytest.raises(MissingTasks) as caught:
        import_predictions(label_studio.client, project, [*good[:2], *good[2:3], bad, good[3]], batch_size=2)
    assert caught.value.task_ids == [99_999_999] and caught.value.created == 2
    assert sorted(predictions_by_version(label_studio.client, project, "m@1")) == ids[:2]


def test_results_that_do_not_fit_the_config_are_dropped_silently(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "a"}, {"text": "b"}])
    ids = label_studio.task_ids(project)
    wrong = [{"from_name": "topic", "to_name": "text", "type": "choices", "value": {"choices": ["X"]}}]
    sent = [
        {"task": ids[0], "result": sentiment("Positive"), "model_version": "m@1"},
        {"task": ids[1], "result": wrong, "model_version": "m@1"},
    ]
    assert import_predictions(label_studio.client, project, sent) == 1


@pytest.mark.parametrize(
    ("prediction", "message"),
    [
        ({"task": "1", "result": [], "model_version": "m"}, "'task' must be a task id"),
        ({"task": True, "result": [], "model_version": "m"}, "'task' must be a task id"),
        ({"task": 1, "result": {}, "model_version": "m"}, "'result' must be a list"),
        ({"task": 1, "result": []}, "'model_version' must be a non-empty string"),
        ({"task": 1, "result": [], "model_version": "m", "score": "high"}, "'score' must be a number"),
        ([1, 2], "must be a dict"),
    ],
)
def test_bad_predictions_are_refused_before_sending(prediction, message):
    with pytest.raises(ValueError, match=message):
        check_prediction(prediction)


def test_check_prediction_keeps_only_what_label_studio_stores():
    checked = check_prediction({"task": 3, "result": [], "model_version": "m", "score": 1, "extra": "x"})
    assert checked == {"task": 3, "result": [], "model_version": "m", "score": 1.0}
