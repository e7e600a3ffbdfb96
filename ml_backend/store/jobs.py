"""Annotation jobs: life cycle and counters, all changed by single atomic UPDATE statements so
any number of workers in any number of processes can report progress on one job."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import clock, validate
from .base import StoreBase, affected
from .errors import AmbiguousReferenceError, InvalidTransitionError, NotFoundError, StoreInputError
from .records import JobRecord, to_record
from .schema import COUNTERS, Agent, Job

AMBIGUOUS_SHOWN = 5

STATUSES = ("queued", "running", "done", "failed", "cancelled")
#: Allowed moves. Setting the current status again is a no-op (several workers may each say
#: "running"); done and cancelled are final; failed -> queued is a retry, running -> queued a
#: requeue after a lost worker.
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"queued", "done", "failed", "cancelled"}),
    "failed": frozenset({"queued"}),
    "done": frozenset(),
    "cancelled": frozenset(),
}
FINAL = frozenset({"done", "failed", "cancelled"})
#: What `add_counts` may add to: the counters plus the usage totals.
ADDABLE = (*COUNTERS, "tokens_in", "tokens_out", "cost")


def increment(session: Session, job_id: str, deltas: Mapping[str, float]) -> None:
    """`UPDATE jobs SET x = x + :n ...` in the caller's transaction: the database adds, so
    concurrent increments never lose each other's updates."""
    unknown = sorted(set(deltas) - set(ADDABLE))
    if unknown:
        raise StoreInputError(f"unknown job counter(s) {unknown}; known: {list(ADDABLE)}")
    for name, amount in deltas.items():
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise StoreInputError(f"{name} increment must be a number, got {amount!r}")
        if name != "cost" and not isinstance(amount, int):
            raise StoreInputError(f"{name} increment must be an integer, got {amount!r}")
        validate.non_negative(amount, f"{name} increment")
    values = {name: getattr(Job, name) + amount for name, amount in deltas.items() if amount}
    if not values:
        if session.get(Job, job_id) is None:
            raise NotFoundError(f"no job with id {job_id!r}")
        return
    statement = update(Job).where(Job.id == job_id).values(values)
    result = session.execute(statement, execution_options={"synchronize_session": False})
    if affected(result) == 0:
        raise NotFoundError(f"no job with id {job_id!r}")


class JobOps(StoreBase):
    def create_job(self, *, agent_id: str, project: int, subset: str, total: int = 0) -> JobRecord:
        """A queued job of `agent_id` over `subset` of `project`'s tasks."""
        validate.subset(subset)
        validate.non_negative(total, "total")
        job = Job(
            id=uuid.uuid4().hex,
            agent_id=agent_id,
            project=project,
            subset=subset,
            status="queued",
            total=total,
            created_at=clock.utcnow(),
            planned=False,
            project_model_version_set=False,
            **{name: 0 for name in ADDABLE},
        )
        with self._write() as session:
            if session.get(Agent, agent_id) is None:
                raise NotFoundError(f"no agent with id {agent_id!r}")
            session.add(job)
            session.flush()
            return to_record(JobRecord, job)

    def get_job(self, job_id: str) -> JobRecord | None:
        with self._read() as session:
            row = session.get(Job, job_id)
            return to_record(JobRecord, row) if row is not None else None

    def find_job(self, ref: str) -> JobRecord | None:
        """A job by full id or by a unique id prefix of at least 8 hex characters (what
        ``lsagent jobs list`` shows), as agents are found. None when nothing matches; a prefix
        of several jobs raises AmbiguousReferenceError listing them."""
        job = self.get_job(ref)
        if job is not None or not validate.is_hex_prefix(ref):
            return job
        with self._read() as session:
            query = (select(Job).where(Job.id.startswith(ref, autoescape=True)).order_by(Job.id)
                     .limit(AMBIGUOUS_SHOWN + 1))
            rows = session.scalars(query).all()
        if len(rows) > 1:
            more = ", ..." if len(rows) > AMBIGUOUS_SHOWN else ""
            shown = ", ".join(row.id for row in rows[:AMBIGUOUS_SHOWN]) + more
            raise AmbiguousReferenceError(f"job prefix {ref!r} matches several jobs ({shown}); give more characters")
        return to_record(JobRecord, rows[0]) if rows else None

    def list_jobs(self, project: int | None = None, limit: int | None = None) -> list[JobRecord]:
        """Jobs, newest first; only `project`'s when given."""
        query = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if project is not None:
            query = query.where(Job.project == project)
        with self._read() as session:
            return [to_record(JobRecord, row) for row in session.scalars(query)]

    def set_status(self, job_id: str, status: str, *, error: str | None = None) -> JobRecord:
        """Move the job to `status` if its life cycle allows it, atomically (the WHERE clause
        checks the current status). A cancelled job stays cancelled: asking it to change
        returns it unchanged, so a worker racing a cancel just sees "cancelled" and stops.
        Any other forbidden move raises `InvalidTransitionError`."""
        if status not in STATUSES:
            raise StoreInputError(f"unknown job status {status!r}; known: {list(STATUSES)}")
        if error is not None and status not in ("failed", "cancelled"):
            raise StoreInputError("an error message only goes with status failed or cancelled")
        sources = [source for source, targets in TRANSITIONS.items() if status in targets]
        with self._write() as session:
            statement = update(Job).where(Job.id == job_id, Job.status.in_(sources))
            statement = statement.values(self._status_values(status, error))
            result = session.execute(statement, execution_options={"synchronize_session": False})
            row = session.get(Job, job_id)
            if row is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            if affected(result) == 0 and row.status not in (status, "cancelled"):
                raise InvalidTransitionError(
                    f"job {job_id} is {row.status}; it cannot become {status}"
                )
            return to_record(JobRecord, row)

    @staticmethod
    def _status_values(status: str, error: str | None) -> dict[str, Any]:
        now = clock.utcnow()
        values: dict[str, Any] = {"status": status}
        if status == "running":
            values["started_at"] = func.coalesce(Job.started_at, now)
        if status in FINAL:
            values["finished_at"] = now
            values["error"] = error
        if status == "queued":
            values["finished_at"] = None
            values["error"] = None
        return values

    def add_counts(self, job_id: str, **deltas: float) -> JobRecord:
        """Add to counters (done, labeled, each error class, skipped) and usage totals
        (tokens_in, tokens_out, cost) in one atomic UPDATE. `record_item` already counts the
        item it records: use this only for what has no item (e.g. skipped tasks)."""
        with self._write() as session:
            increment(session, job_id, deltas)
            return to_record(JobRecord, session.get(Job, job_id))

    def set_total(self, job_id: str, total: int) -> JobRecord:
        """The number of tasks in the subset, once the runner has resolved it."""
        validate.non_negative(total, "total")
        return self._set(job_id, total=total)

    def save_summary(self, job_id: str, summary: dict[str, Any]) -> JobRecord:
        """Persist the job's report (plain JSON data) once it has ended, replacing any previous
        one. A blind write: nothing else lives in the summary."""
        return self._set(job_id, summary=summary)

    def set_facts(self, job_id: str, *, planned: bool | None = None,
                  project_model_version_set: bool | None = None) -> JobRecord:
        """Record running facts of a job (its subset is fully planned; the project shows its
        agent's model_version), each a column set by one UPDATE: the coordinator's threads and
        review commands write at the same time without reading first."""
        facts = {"planned": planned, "project_model_version_set": project_model_version_set}
        given = {name: bool(value) for name, value in facts.items() if value is not None}
        if not given:
            raise StoreInputError("set_facts needs at least one fact: planned, project_model_version_set")
        return self._set(job_id, **given)

    def set_calibration(self, job_id: str, calibration: dict[str, Any] | None) -> JobRecord:
        """Keep the calibration a rescore wrote to Label Studio (plain JSON data; None: the raw
        confidence), replacing the previous one: a blind write of one column, like the summary."""
        return self._set(job_id, calibration=calibration)

    def _set(self, job_id: str, **values: Any) -> JobRecord:
        with self._write() as session:
            statement = update(Job).where(Job.id == job_id).values(values)
            result = session.execute(statement, execution_options={"synchronize_session": False})
            if affected(result) == 0:
                raise NotFoundError(f"no job with id {job_id!r}")
            return to_record(JobRecord, session.get(Job, job_id))
