"""Audit samples: the seeded uniform samples a review drew, kept with the job (one row per
review title in the store's ``audits`` table) so that the verification figures can find the
audited tasks again."""

from __future__ import annotations

from typing import Any

from ml_backend.review.scale import Scale
from ml_backend.runtime import Runtime
from ml_backend.store import AuditRecord, JobRecord


def remember_audit(runtime: Runtime, job_id: str, title: str, view_id: int, facts: dict[str, Any],
                   scale: Scale) -> AuditRecord:
    """Keep the audit's sample and threshold, with the scale of the threshold, replacing one of the same title."""
    return runtime.store.save_audit(job_id, title=title, view_id=view_id, threshold=facts["threshold"],
                                    seed=facts["seed"], size=facts["audit"], task_ids=facts["sample"],
                                    scale=scale.to_dict())


def audits(runtime: Runtime, job: JobRecord) -> list[AuditRecord]:
    """The job's remembered audits, oldest first."""
    return runtime.store.audits(job.id)
