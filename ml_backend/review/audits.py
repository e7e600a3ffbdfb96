"""Audit samples: the seeded uniform samples a review drew, kept with the job so that the
verification figures can find the audited tasks again."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ml_backend.runtime import Runtime
from ml_backend.store import JobRecord


def remember_audit(runtime: Runtime, job_id: str, title: str, view_id: int, facts: dict[str, Any]) -> None:
    """Keep the audit's sample and threshold in the job's summary, replacing one of the same title."""
    entry = {
        "title": title,
        "view_id": view_id,
        "threshold": facts["threshold"],
        "seed": facts["seed"],
        "size": facts["audit"],
        "task_ids": facts["sample"],
        "created_at": datetime.now(timezone.utc).isoformat(),
    }

    def add(summary: dict[str, Any]) -> dict[str, Any]:
        reviews = dict(summary.get("reviews") or {})
        kept = [audit for audit in reviews.get("audits") or [] if audit.get("title") != title]
        reviews["audits"] = [*kept, entry]
        return {**summary, "reviews": reviews}

    runtime.store.update_summary(job_id, add)


def audits(job: JobRecord) -> list[dict[str, Any]]:
    """The job's remembered audits, oldest first."""
    return list(((job.summary or {}).get("reviews") or {}).get("audits") or [])
