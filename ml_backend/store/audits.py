"""Audit samples of a job: one row per (job, title), written by one upsert so that reviews made
at the same time as the job's coordinator never touch each other's data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from . import clock, validate
from .base import StoreBase
from .errors import NotFoundError, StoreInputError
from .records import AuditRecord, to_record
from .schema import Audit, Job

MAX_TITLE = 500


class AuditOps(StoreBase):
    def save_audit(
        self,
        job_id: str,
        *,
        title: str,
        view_id: int,
        threshold: float,
        seed: int,
        size: int,
        task_ids: Sequence[int],
        scale: dict[str, Any] | None = None,
    ) -> AuditRecord:
        """Keep an audit sample of `job_id`, replacing the one of the same title (a new draw for
        the same view). It then counts as the newest audit. ``scale`` is the confidence scale of
        its threshold (None: the raw confidence)."""
        if not title.strip() or len(title) > MAX_TITLE:
            raise StoreInputError(f"an audit title has 1 to {MAX_TITLE} characters, got {len(title)}")
        validate.int64(view_id, "view_id")
        validate.int64(seed, "seed")
        validate.unit_interval(threshold, "threshold")
        validate.non_negative(size, "size")
        values: dict[str, Any] = {
            "job_id": job_id,
            "title": title,
            "view_id": view_id,
            "threshold": threshold,
            "seed": seed,
            "size": size,
            "task_ids": [int(task_id) for task_id in task_ids],
            "created_at": clock.utcnow(),
            "scale": scale,
        }
        changed = {key: value for key, value in values.items() if key not in ("job_id", "title")}
        statement = self._insert(Audit).values(values)
        statement = statement.on_conflict_do_update(index_elements=["job_id", "title"], set_=changed)
        with self._write() as session:
            if session.get(Job, job_id) is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            session.execute(statement)
        return AuditRecord(**values)

    def audits(self, job_id: str) -> list[AuditRecord]:
        """The job's audits, oldest first (a replaced one counts from its new draw)."""
        query = select(Audit).where(Audit.job_id == job_id).order_by(Audit.created_at, Audit.id)
        with self._read() as session:
            return [to_record(AuditRecord, row) for row in session.scalars(query)]

