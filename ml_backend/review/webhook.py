"""Label Studio's webhook, read as a hint and nothing more.

Label Studio posts /webhook without any credentials, so anyone who can reach the service can post
anything. The payload is therefore only mined for ids: which task may have a new annotation. The
task and its annotations are then re-read from Label Studio with the service's own credentials,
and only what Label Studio itself says is handed on to be recorded as a verification. Hints are
followed only for projects with an active agent or a job, so a flood of forged posts costs no
call to Label Studio.
"""

from __future__ import annotations

from typing import Any

from ml_backend.runtime import Runtime
from ml_backend.review.verdicts import record_task

MAX_HINTS = 20


def read_hints(payload: dict[str, Any]) -> tuple[int | None, list[int]]:
    """The project id and task ids a payload mentions; any shape is accepted, nothing is trusted."""
    project = _id(payload.get("project"))
    candidates: list[Any] = [payload.get("task")]
    annotation = payload.get("annotation")
    if isinstance(annotation, dict):
        candidates.append(annotation.get("task"))
    candidates += [item.get("task") for item in _objects(payload.get("annotations"))]
    candidates += _objects(payload.get("tasks"))
    task_ids: list[int] = []
    for candidate in candidates:
        task_id = _id(candidate)
        if task_id is not None and task_id not in task_ids:
            task_ids.append(task_id)
    return project, task_ids[:MAX_HINTS]


def record_verification_hint(runtime: Runtime, project_id: int | None, task_id: int) -> dict[str, Any]:
    """Re-read the task and its annotations from Label Studio, then record its verifications.

    Only a task that Label Studio lists in the hinted project, and that has a prediction to
    verify, is read in full: a forged payload cannot attach a task to another project, and it
    cannot make the service read a task without predictions, a read that makes Label Studio 1.23.2
    call /predict for it (``GET /api/tasks/<id>`` with "show predictions to annotators" on).
    """
    from sync import tasks

    if project_id is None or not _works_on(runtime, project_id):
        return {"task": task_id, "project": project_id, "ignored": "lsagent has no agent or job on this project"}
    client = runtime.label_studio()
    pages = tasks.iter_task_pages(client, project_id, ids=[task_id], fields=("id", "total_predictions"))
    listed = [task for page in pages for task in page]
    if not listed:
        return {"task": task_id, "project": project_id, "ignored": "Label Studio has no such task in this project"}
    if not listed[0].get("total_predictions"):
        return {"task": task_id, "project": project_id, "ignored": "the task has no prediction to verify"}
    return record_task(runtime, tasks.get_task(client, task_id))


def _works_on(runtime: Runtime, project: int) -> bool:
    store = runtime.store
    return store.active_agent(project) is not None or bool(store.list_jobs(project, limit=1))


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _id(value: Any) -> int | None:
    """A positive integer id, directly or as {"id": n}; anything else is not an id."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value
