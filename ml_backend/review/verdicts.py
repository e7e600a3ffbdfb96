"""Verification flowing back: what annotators decided about the agent's labels, and the figures.

Label Studio is the only source of truth. Both paths, the pull (``sync_job``: every annotated task
of the job, read in pages) and the webhook hint (``record_task``, after the service re-read the
task itself), end in ``sync_task``, which records per annotation and control whether the human
kept the agent's answer (confirmed) or changed it (corrected), and forgets annotations that
are gone or were cancelled (a skip is not a verdict). Re-running either changes nothing.

A task's verdict is that of its latest annotation (annotators may revise one another); the task
is correct when every control is confirmed. A task the agent failed on has nothing to confirm:
an annotation of it is stored as "corrected" (so the human's label reaches the export) but left
out of the accuracy figures, which describe the labels the agent did give.

Every control type is compared whole here (a span control is confirmed when the annotator kept
exactly the agent's spans); the annotator's answer is kept with the verdict so that
``ml_backend.review.elements`` can also judge it span by span, text by text, number by number.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from itertools import islice
from typing import Any

from ml_backend.review.controls import review_controls
from ml_backend.review.lookup import job_and_agent
from ml_backend.review.regions import agent_value, as_labels, human_values, same
from ml_backend.review.task_verdicts import task_verdicts
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, ItemRecord, Store, VerificationRecord

ITEM_BATCH = 1000


@dataclass
class SyncCounts:
    """What one sync saw: annotated tasks recorded (by verdict), and verdict rows removed."""

    synced: int = 0
    confirmed: int = 0
    corrected: int = 0
    failed_tasks: int = 0
    annotations: int = 0
    removed: int = 0

    def add(self, other: SyncCounts) -> None:
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def control_kinds(agent: AgentRecord) -> dict[str, str]:
    """{control name: kind} of the controls the agent answers, in config order."""
    return {control.name: control.kind for control in review_controls(agent.label_config)}


def sync_task(store: Store, item: ItemRecord, kinds: dict[str, str], task: dict[str, Any],
              emails: dict[int, str]) -> SyncCounts:
    """Record the verdicts of a task's live annotations for the item's job; drop the others.

    ``kinds``: {control: kind} of the agent's config (a control only the item names counts as
    Choices). Besides the label values, a verdict keeps the annotator's whole answer for the
    kinds verified element by element."""
    counts = SyncCounts()
    live = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    kinds = {**kinds, **{name: "choices" for name in item.labels if name not in kinds}}
    for annotation in live:
        human = human_values(annotation.get("result"), kinds)
        for control, kind in kinds.items():
            final = human[control]
            kept = item.error_class is None and same(kind, agent_value(item, control, kind), final)
            store.record_verification(
                job_id=item.job_id, task_id=item.task_id, annotation_id=int(annotation["id"]), control=control,
                verdict="confirmed" if kept else "corrected", human_labels=as_labels(kind, final),
                agent_labels=item.labels.get(control, []),
                annotator=_annotator(annotation.get("completed_by"), emails),
                annotated_at=_time(annotation.get("updated_at") or annotation.get("created_at")),
                human_value=None if kind == "choices" else final,
            )
    counts.removed = store.delete_verifications(item.job_id, item.task_id, [int(a["id"]) for a in live])
    counts.annotations = len(live)
    if live:
        _count_task(counts, store.verifications(item.job_id, item.task_id), item)
    return counts


def _count_task(counts: SyncCounts, rows: list[VerificationRecord], item: ItemRecord) -> None:
    verdict = task_verdicts(rows).get(item.task_id)
    if verdict is None:
        return
    counts.synced += 1
    if item.error_class is not None:
        counts.failed_tasks += 1
    elif verdict.correct:
        counts.confirmed += 1
    else:
        counts.corrected += 1


def sync_job(runtime: Runtime, job_id: str) -> dict[str, Any]:
    """Read every annotated task of the job from Label Studio and record the verdicts."""
    from sync.review import iter_annotated_tasks, user_emails

    job, agent = job_and_agent(runtime, job_id)
    store = runtime.store
    client = runtime.label_studio()
    emails = user_emails(client)
    kinds = control_kinds(agent)
    known = {row.task_id for row in store.verifications(job.id)}
    total = SyncCounts()
    for batch in _batches(store.items(job.id), ITEM_BATCH):
        by_id = {item.task_id: item for item in batch}
        seen: set[int] = set()
        for page in iter_annotated_tasks(client, job.project, list(by_id)):
            for task in page:
                seen.add(task["id"])
                total.add(sync_task(store, by_id[task["id"]], kinds, task, emails))
        for task_id in sorted(known.intersection(by_id) - seen):
            total.removed += store.delete_verifications(job.id, task_id, [])
    return {"job": job.id, **asdict(total)}


def record_task(runtime: Runtime, task: dict[str, Any], emails: dict[int, str] | None = None) -> dict[str, Any]:
    """Record a task freshly read from Label Studio for every job of its project that labelled it.

    ``emails`` ({user id: email}) names the annotators; without it they are read when needed."""
    store = runtime.store
    project, task_id = task.get("project"), task.get("id")
    if not isinstance(project, int) or not isinstance(task_id, int):
        return {"task": task_id, "jobs": []}
    done: dict[str, dict[str, int]] = {}
    for job in store.list_jobs(project):
        item = store.get_item(job.id, task_id)
        agent = store.get_agent(job.agent_id)
        if item is None or agent is None:
            continue
        if emails is None:
            emails = _emails_if_needed(runtime, task)
        counts = sync_task(store, item, control_kinds(agent), task, emails)
        done[job.id] = {"annotations": counts.annotations, "removed": counts.removed}
    return {"task": task_id, "project": project, "jobs": done}


def _emails_if_needed(runtime: Runtime, task: dict[str, Any]) -> dict[int, str]:
    """A single task read with ``GET /api/tasks/<id>`` names its annotators already."""
    from sync.review import user_emails

    annotators = [a.get("completed_by") for a in task.get("annotations") or [] if isinstance(a, dict)]
    if all(isinstance(who, dict) for who in annotators):
        return {}
    return user_emails(runtime.label_studio())


def _batches(items: Iterator[ItemRecord], size: int) -> Iterator[list[ItemRecord]]:
    while batch := list(islice(items, size)):
        yield batch


def _annotator(who: Any, emails: dict[int, str]) -> str:
    """The annotator's email: Label Studio names them by user object or by user id."""
    if isinstance(who, dict):
        return str(who.get("email") or who.get("id") or "unknown")
    if isinstance(who, int):
        return emails.get(who, str(who))
    return "unknown"


def _time(value: Any) -> datetime | None:
    """An ISO 8601 time from Label Studio (always UTC, "Z"), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
