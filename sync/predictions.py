"""Pushing an agent's predictions in bulk, and reading them back by model_version.

Measured with label-studio 1.23.2 (``POST /api/projects/<id>/import/predictions``):
- 1,000 predictions import in well under a second; the answer is ``{"created": n}``.
- One prediction whose task is not in the project (deleted, or another project's) makes Label
  Studio refuse the *whole* request with 400 and save nothing from it.
- A prediction whose result does not fit the labeling config (unknown from_name, ...) is
  dropped silently: ``created`` is smaller than what was sent.
- A prediction without model_version is stored as "undefined"; importing the same task and
  model_version twice stores two predictions (no de-duplication), hence ``predictions_by_version``
  to check before re-sending after a crash.
- ``GET /api/predictions?project=`` is not paginated (the whole project in one answer), so
  predictions are read through the paged task list instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from numbers import Real
from typing import Any, cast

from label_studio_sdk.client import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from sync import filters
from sync.client import LabelStudioError, guarded
from sync.tasks import existing_task_ids, iter_task_pages

BATCH_SIZE = 1000
PREDICTION_KEYS = ("id", "task", "model_version", "score", "result", "created_at", "updated_at")


class MissingTasks(LabelStudioError):
    """Some predictions point at tasks that are not in the project; their batch was not saved.

    ``task_ids``: the missing tasks; ``created``: predictions saved by earlier batches.
    """

    def __init__(self, task_ids: list[int], created: int) -> None:
        super().__init__(f"tasks not in the project: {task_ids[:20]}{' ...' if len(task_ids) > 20 else ''}", 400)
        self.task_ids = task_ids
        self.created = created


def check_prediction(prediction: dict) -> dict:
    """The prediction as Label Studio wants it; ValueError naming the problem otherwise."""
    if not isinstance(prediction, dict):
        raise ValueError(f"a prediction must be a dict, got {type(prediction).__name__}")
    task, result = prediction.get("task"), prediction.get("result")
    model_version, score = prediction.get("model_version"), prediction.get("score")
    if not isinstance(task, int) or isinstance(task, bool):
        raise ValueError(f"prediction 'task' must be a task id (int), got {task!r}")
    if not isinstance(result, list):
        raise ValueError(f"prediction for task {task}: 'result' must be a list of result items")
    if not isinstance(model_version, str) or not model_version:
        raise ValueError(f"prediction for task {task}: 'model_version' must be a non-empty string")
    if score is not None and (not isinstance(score, Real) or isinstance(score, bool)):
        raise ValueError(f"prediction for task {task}: 'score' must be a number or None, got {score!r}")
    checked = {"task": task, "result": result, "model_version": model_version}
    if score is not None:
        checked["score"] = float(score)
    return checked


@guarded
def import_predictions(client: LabelStudio, project: int, predictions: list[dict], batch_size: int = BATCH_SIZE) -> int:
    """Save predictions (``{task, result, score, model_version}``) in bulk; returns how many were created.

    Raises MissingTasks when a batch names a task that is not in the project. The SDK does not
    retry these POSTs: after LabelStudioUnavailable a batch may or may not have been saved, so
    check ``predictions_by_version`` before sending it again.
    """
    checked = [check_prediction(prediction) for prediction in predictions]
    created = 0
    for start in range(0, len(checked), batch_size):
        batch = checked[start : start + batch_size]
        try:
            response = client.projects.import_predictions(project, request=cast(Any, batch),
                                                          request_options={"max_retries": 0})
        except ApiError as error:
            if error.status_code == 400:
                _raise_missing(client, project, batch, created, error)
            raise
        created += int(response.created or 0)
    return created


def _raise_missing(client: LabelStudio, project: int, batch: list[dict], created: int, error: ApiError) -> None:
    """Raise MissingTasks if the batch was refused because some of its tasks are not in the project."""
    wanted = {prediction["task"] for prediction in batch}
    missing = sorted(wanted - existing_task_ids(client, project, wanted))
    if missing:
        raise MissingTasks(missing, created) from error


@guarded
def iter_prediction_pages(
    client: LabelStudio,
    project: int,
    model_version: str,
    *,
    task_ids: Iterable[int] | None = None,
    page_size: int = 500,
) -> Iterator[list[dict]]:
    """Yield lists of this model_version's predictions (keys PREDICTION_KEYS), by ascending task id."""
    pages = iter_task_pages(
        client,
        project,
        ids=task_ids,
        page_size=page_size,
        fields=("id", "predictions"),
        where=[filters.model_version_in(model_version)],
    )
    for tasks in pages:
        found = [
            {key: prediction.get(key) for key in PREDICTION_KEYS}
            for task in tasks
            for prediction in task.get("predictions") or []
            if prediction.get("model_version") == model_version
        ]
        if found:
            yield found


@guarded
def predictions_by_version(
    client: LabelStudio, project: int, model_version: str, *, task_ids: Iterable[int] | None = None
) -> dict[int, list[dict]]:
    """{task id: [predictions of this model_version, oldest first]} (optionally only for task_ids)."""
    by_task: dict[int, list[dict]] = {}
    for page in iter_prediction_pages(client, project, model_version, task_ids=task_ids):
        for prediction in page:
            by_task.setdefault(prediction["task"], []).append(prediction)
    for found in by_task.values():
        found.sort(key=lambda prediction: prediction["id"])
    return by_task


@guarded
def delete_prediction(client: LabelStudio, prediction_id: int) -> None:
    """Delete one prediction (e.g. a duplicate left by a crash between push and record)."""
    client.predictions.delete(int(prediction_id))


@guarded
def update_prediction_score(client: LabelStudio, prediction: dict, score: float) -> None:
    """Set a prediction's score, on the prediction and on each of its results (the Data Manager's
    score column reads the first, the labeling editor the second)."""
    results = [{**result, "score": score} if isinstance(result, dict) else result
               for result in prediction.get("result") or []]
    client.predictions.update(int(prediction["id"]), score=score, result=results)
