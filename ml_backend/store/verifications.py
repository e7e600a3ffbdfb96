"""Human verdicts on an agent's labels, synced from Label Studio annotations. One row per
(job, task, annotation, control): a re-sync of an edited annotation updates its row in place."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from . import clock
from .base import StoreBase, affected
from .errors import NotFoundError, StoreInputError
from .records import VerificationRecord, to_record
from .schema import Job, Verification

VERDICTS = ("confirmed", "corrected")
_KEY = ("job_id", "task_id", "annotation_id", "control")


class VerificationOps(StoreBase):
    def record_verification(
        self,
        *,
        job_id: str,
        task_id: int,
        annotation_id: int,
        control: str,
        verdict: str,
        human_labels: Sequence[str],
        agent_labels: Sequence[str],
        annotator: str,
        annotated_at: datetime | None,
        human_value: Any = None,
    ) -> VerificationRecord:
        """Insert or update the verdict for this annotation and control. An update older than
        the stored one (`annotated_at` before it: webhooks can arrive out of order) is ignored;
        the returned record is what the store holds afterwards. `human_value` is the
        annotator's whole answer where labels alone do not say it (spans, text, numbers, paths)."""
        if verdict not in VERDICTS:
            raise StoreInputError(f"verdict must be one of {list(VERDICTS)}, got {verdict!r}")
        if annotated_at is not None and annotated_at.tzinfo is None:
            raise StoreInputError("annotated_at must be timezone-aware (Label Studio sends UTC)")
        values = {
            "job_id": job_id,
            "task_id": task_id,
            "annotation_id": annotation_id,
            "control": control,
            "verdict": verdict,
            "human_labels": list(human_labels),
            "agent_labels": list(agent_labels),
            "annotator": annotator,
            "annotated_at": annotated_at,
            "human_value": human_value,
            "recorded_at": clock.utcnow(),
        }
        statement = self._insert(Verification).values(values)
        newer = or_(
            Verification.annotated_at.is_(None),
            statement.excluded.annotated_at.is_(None),
            Verification.annotated_at <= statement.excluded.annotated_at,
        )
        statement = statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_={name: value for name, value in values.items() if name not in _KEY},
            where=newer,
        )
        with self._write() as session:
            if session.get(Job, job_id) is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            session.execute(statement)
            row = session.scalar(
                select(Verification).where(
                    *(getattr(Verification, name) == values[name] for name in _KEY)
                )
            )
            return to_record(VerificationRecord, row)

    def verifications(self, job_id: str, task_id: int | None = None) -> list[VerificationRecord]:
        """A job's verdicts by task, annotation and control; one task's when given."""
        query = select(Verification).where(Verification.job_id == job_id)
        if task_id is not None:
            query = query.where(Verification.task_id == task_id)
        query = query.order_by(
            Verification.task_id, Verification.annotation_id, Verification.control
        )
        with self._read() as session:
            return [to_record(VerificationRecord, row) for row in session.scalars(query)]

    def delete_verifications(
        self, job_id: str, task_id: int, keep_annotation_ids: Collection[int]
    ) -> int:
        """Drop the task's verdicts whose annotation is not in `keep_annotation_ids` (deleted in
        Label Studio). Returns how many rows went."""
        statement = delete(Verification).where(
            Verification.job_id == job_id, Verification.task_id == task_id
        )
        if keep_annotation_ids:
            statement = statement.where(
                Verification.annotation_id.not_in(list(keep_annotation_ids))
            )
        with self._write() as session:
            result = session.execute(statement, execution_options={"synchronize_session": False})
            return affected(result)
