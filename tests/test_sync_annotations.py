"""sync.annotations against a real Label Studio: verification reads annotations back."""

import pytest

from sync.annotations import create_annotation, task_annotations
from sync.predictions import import_predictions, predictions_by_version
from sync.tasks import count_tasks
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment


def test_annotation_from_a_prediction_carries_parent_prediction(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "good"}, {"text": "bad"}])
    ids = label_studio.task_ids(project)
    sent = [{"task": task_id, "result": sentiment("Positive"), "score": 0.8, "model_version": "m@1"} for task_id in ids]
    import_predictions(label_studio.client, project, sent)
    predictions = predictions_by_version(label_studio.client, project, "m@1")
    confirmed = predictions[ids[0]][0]
    corrected = predictions[ids[1]][0]

    create_annotation(label_studio.client, ids[0], confirmed["result"], parent_prediction=confirmed["id"])
    made = create_annotation(label_studio.client, ids[1], sentiment("Negative"), parent_prediction=corrected["id"])

    (first,) = task_annotations(label_studio.client, ids[0])
    (second,) = task_annotations(label_studio.client, ids[1])
    assert first["parent_prediction"] == confirmed["id"] and first["result"] == sentiment("Positive")
    assert second == made and second["result"] == sentiment("Negative")
    me = label_studio.client.users.whoami().id
    assert second["completed_by"] == me and second["task"] == ids[1]
    assert second["was_cancelled"] is False and second["ground_truth"] is False
    assert second["created_at"] and second["updated_at"]
    assert count_tasks(label_studio.client, project, unlabeled=True) == 0


def test_annotations_come_oldest_first_and_without_parent_when_made_by_hand(label_studio):
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "twice"}])
    task_id = label_studio.task_ids(project)[0]
    first = create_annotation(label_studio.client, task_id, sentiment("Neutral"))
    second = create_annotation(label_studio.client, task_id, [], was_cancelled=True)
    found = task_annotations(label_studio.client, task_id)
    assert [annotation["id"] for annotation in found] == [first["id"], second["id"]]
    assert found[0]["parent_prediction"] is None and found[1]["was_cancelled"] is True


def test_annotation_result_must_be_a_list(label_studio):
    with pytest.raises(ValueError, match="must be a list"):
        create_annotation(label_studio.client, 1, {"choices": ["Positive"]})
