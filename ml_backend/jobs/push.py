"""Writing a job's finished predictions to Label Studio in bulk, exactly once.

Label Studio does not de-duplicate predictions, and a bulk import that times out may or may not
have been saved. So every batch is written under a lease on (project, model_version), as short as
every other lease (``LSAGENT_LEASE_S``) and renewed while the write goes on, so a holder that dies
(even by SIGKILL) frees it within one lease; inside it, Label Studio is first asked which of the
batch's tasks already hold a prediction of this model_version: those are only marked pushed (with
the existing prediction's id), the others are imported and then marked. A crash between import and
marking, a re-run of the same tasks, or two jobs of one agent over the same tasks therefore never
produce a second prediction.
If Label Studio is unreachable the items simply stay unpushed; the coordinator calls again later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ml_backend.jobs.locks import LeaseKeeper, Leases, acquire
from ml_backend.runtime import Runtime
from ml_backend.store import ItemRecord, JobRecord

log = logging.getLogger(__name__)


class PushBusy(RuntimeError):
    """Another process is writing this model version's predictions; try again shortly."""


@dataclass
class PushResult:
    imported: int = 0
    already_there: int = 0
    task_gone: int = 0

    @property
    def total(self) -> int:
        return self.imported + self.already_there + self.task_gone


def effective_batch(requested: int) -> int:
    """At most one import request's worth, so that a batch is saved whole or not at all."""
    from sync.predictions import BATCH_SIZE

    return max(1, min(requested, BATCH_SIZE))


def push_pending(runtime: Runtime, job: JobRecord, model_version: str, leases: Leases, owner: str,
                 lease_s: float, batch: int = 500) -> PushResult:
    """Push one batch (at most ``batch``) of the labeled, unpushed items of ``job``; an empty
    result when none is left. Raises ``LabelStudioUnavailable`` (or ``PushBusy``) with the
    items left unpushed for a later call. The lease lives ``lease_s`` unless renewed; waiting
    up to one lease for it lets a dead holder's lease run out rather than fail the call."""
    batch = effective_batch(batch)
    result = PushResult()
    items = runtime.store.unpushed_items(job.id, limit=batch)
    if not items:
        return result
    name = f"push:{job.project}:{model_version}"
    if not acquire(leases, name, owner, lease_s, lease_s):
        raise PushBusy(f"predictions of {model_version} are being written by another process")
    with LeaseKeeper(leases, name, owner, lease_s):
        _push_batch(runtime, job, model_version, items, result)
    return result


def _push_batch(runtime: Runtime, job: JobRecord, model_version: str, items: Sequence[ItemRecord],
                result: PushResult) -> None:
    from sync.predictions import MissingTasks, import_predictions, predictions_by_version

    client = runtime.label_studio()
    store = runtime.store
    by_task = {item.task_id: item for item in items}
    existing = predictions_by_version(client, job.project, model_version, task_ids=list(by_task))
    if existing:
        ids = sorted(existing)
        store.mark_pushed(job.id, ids, [existing[task_id][0]["id"] for task_id in ids])
        result.already_there += len(ids)
    fresh = [item for task_id, item in by_task.items() if task_id not in existing]
    while fresh:
        try:
            import_predictions(client, job.project, [prediction(item, model_version) for item in fresh])
        except MissingTasks as gone:
            missing = set(gone.task_ids)
            log.warning("job %s: %d task(s) were deleted from Label Studio before their prediction was "
                        "written: %s", job.id, len(missing), sorted(missing)[:20])
            store.mark_pushed(job.id, sorted(missing))
            result.task_gone += len(missing)
            fresh = [item for item in fresh if item.task_id not in missing]
            continue
        store.mark_pushed(job.id, [item.task_id for item in fresh])
        result.imported += len(fresh)
        return


def prediction(item: ItemRecord, model_version: str) -> dict[str, Any]:
    """The Label Studio prediction of a labeled item (its result items were stored with it)."""
    return {"task": item.task_id, "result": item.meta.get("results") or [], "score": item.score,
            "model_version": model_version}
