"""Human annotations on a task: what verification reads back (confirmed or corrected).

Measured with label-studio 1.23.2:
- ``GET /api/tasks/<id>/annotations`` leaves out cancelled (skipped) annotations;
  ``GET /api/tasks/<id>`` embeds all of them, with ``completed_by`` as a user object (turned
  into the user id here); the paged task list embeds them only as ``{"id": ..}``.
- An annotation created from a prediction carries its id in ``parent_prediction``; a skipped
  task has an annotation with ``was_cancelled`` true (not counted in ``total_annotations``).
"""

from __future__ import annotations

from label_studio_sdk.client import LabelStudio

from sync.client import guarded

ANNOTATION_KEYS = (
    "id", "task", "result", "completed_by", "created_at", "updated_at", "parent_prediction",
    "was_cancelled", "ground_truth", "lead_time",
)  # fmt: skip


def _plain(annotation: dict) -> dict:
    """The ANNOTATION_KEYS of an annotation, completed_by as a user id."""
    plain = {key: annotation.get(key) for key in ANNOTATION_KEYS}
    if isinstance(plain["completed_by"], dict):
        plain["completed_by"] = plain["completed_by"].get("id")
    return plain


@guarded
def task_annotations(client: LabelStudio, task_id: int) -> list[dict]:
    """The task's annotations (keys ANNOTATION_KEYS), skipped ones included, oldest first."""
    task = client.tasks.get(str(int(task_id))).model_dump(mode="json")
    annotations = [_plain(annotation) for annotation in task.get("annotations") or []]
    return sorted(annotations, key=lambda annotation: annotation["id"])


@guarded
def list_annotations(client: LabelStudio, task_id: int) -> list[dict]:
    """The task's live annotations (keys ANNOTATION_KEYS), oldest first, read without the task.

    ``GET /api/tasks/<id>/annotations`` reads annotations only: unlike ``GET /api/tasks/<id>``
    and the task list it never makes Label Studio ask a connected ML backend for a prediction.
    """
    annotations = client.annotations.list(int(task_id))
    return sorted((_plain(a.model_dump(mode="json")) for a in annotations), key=lambda a: a["id"])


@guarded
def create_annotation(
    client: LabelStudio,
    task_id: int,
    result: list[dict],
    parent_prediction: int | None = None,
    was_cancelled: bool = False,
) -> dict:
    """Annotate a task as the API key's user would in the UI (tests and the demo use it)."""
    if not isinstance(result, list):
        raise ValueError("annotation 'result' must be a list of result items")
    extra = {} if parent_prediction is None else {"parent_prediction": int(parent_prediction)}
    created = client.annotations.create(int(task_id), result=result, was_cancelled=was_cancelled, **extra)
    return _plain(created.model_dump(mode="json"))
