"""Chunks of a distributed job. A chunk is claimed by one conditional UPDATE, so of many workers
handed the same chunk exactly one wins; a claim older than `stale_after_s` (dead worker) may be
taken over, which is safe because items are recorded exactly once anyway."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, and_, or_, select, update

from . import clock
from .base import StoreBase, affected
from .errors import NotFoundError, StoreInputError
from .records import ChunkRecord, to_record
from .schema import Chunk, Job


class ChunkOps(StoreBase):
    def add_chunks(self, job_id: str, chunks: Sequence[Sequence[int]], *, start: int = 0) -> int:
        """Store the job's chunks as pending, numbered start..start+n-1 (so a planner can add
        them a page at a time). Idempotent: chunks already present are kept as they are.
        Returns how many were added."""
        rows = [
            {
                "job_id": job_id,
                "index": index,
                "task_ids": [int(t) for t in task_ids],
                "status": "pending",
                "attempts": 0,
            }
            for index, task_ids in enumerate(chunks, start=start)
        ]
        if not rows:
            return 0
        statement = (
            self._insert(Chunk)
            .on_conflict_do_nothing(index_elements=["job_id", "index"])
            .returning(Chunk.index)
        )
        added = 0
        with self._write() as session:
            if session.get(Job, job_id) is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            for row in rows:
                added += session.execute(statement.values(row)).first() is not None
        return added

    def claim_chunk(
        self, job_id: str, index: int, worker: str, *, stale_after_s: float | None = None
    ) -> bool:
        """Take chunk `index` for `worker`: True for exactly one caller while the chunk is
        pending (or, with `stale_after_s`, running under a claim older than that)."""
        if not worker:
            raise StoreInputError("worker must name the claimant")
        now = clock.utcnow()
        claimable = Chunk.status == "pending"
        if stale_after_s is not None:
            cutoff = now - timedelta(seconds=stale_after_s)
            claimable = or_(claimable, and_(Chunk.status == "running", Chunk.claimed_at < cutoff))
        statement = (
            update(Chunk)
            .where(Chunk.job_id == job_id, Chunk.index == index, claimable)
            .values(
                status="running", claimed_by=worker, claimed_at=now, attempts=Chunk.attempts + 1
            )
        )
        return self._changed(statement)

    def finish_chunk(self, job_id: str, index: int, worker: str) -> bool:
        """Mark the chunk done. False when `worker` no longer holds it (its claim went stale
        and another worker took it over)."""
        return self._change_held(job_id, index, worker, status="done", finished_at=clock.utcnow())

    def release_chunk(self, job_id: str, index: int, worker: str) -> bool:
        """Give a claimed chunk back (pending) after a failure, so another worker can retry it."""
        return self._change_held(job_id, index, worker, status="pending", claimed_by=None, claimed_at=None)

    def chunks(self, job_id: str) -> list[ChunkRecord]:
        query = select(Chunk).where(Chunk.job_id == job_id).order_by(Chunk.index)
        with self._read() as session:
            return [to_record(ChunkRecord, row) for row in session.scalars(query)]

    def _change_held(self, job_id: str, index: int, worker: str, **values: Any) -> bool:
        """Change a running chunk only while `worker` still holds it."""
        statement = (
            update(Chunk)
            .where(
                Chunk.job_id == job_id,
                Chunk.index == index,
                Chunk.status == "running",
                Chunk.claimed_by == worker,
            )
            .values(**values)
        )
        return self._changed(statement)

    def _changed(self, statement: Executable) -> bool:
        with self._write() as session:
            result = session.execute(statement, execution_options={"synchronize_session": False})
            return affected(result) == 1
