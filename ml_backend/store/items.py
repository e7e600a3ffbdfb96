"""Per-task results of a job. An item is written once, ever: the (job, task) key makes a re-run
or a crashed worker's retry a no-op, and the job's counters move in the same transaction, so
counts stay exact whatever happens between processes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import BigInteger, Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError

from ml_backend.engine.outcomes import ErrorClass

from . import clock, validate
from .base import StoreBase, affected
from .errors import NotFoundError, StoreInputError
from .jobs import increment
from .records import ItemRecord, to_record
from .schema import Item, Job

#: Rows per statement when a call names many tasks (keeps under every driver's parameter limit).
BATCH = 500


class ItemOps(StoreBase):
    def record_item(self, job_id: str, task_id: int, **fields: Any) -> bool:
        """Record the outcome of `task_id` in `job_id` exactly once.

        Returns False, changing nothing, when the item already exists. When it is new, the job's
        counters grow in the same transaction: done, then labeled (no error) or the counter named
        by `error_class`, plus tokens and cost. The fields are those of `_row`: `invalid_label` is
        the unknown label text the model answered; `api_error_kind` the HTTP status or exception
        class of an API error.
        """
        return bool(self.record_items(job_id, [{"task_id": task_id, **fields}]))

    def record_items(self, job_id: str, items: Sequence[Mapping[str, Any]]) -> list[int]:
        """`record_item` for many tasks of one job, in one transaction with one counters UPDATE
        (added for the job runner: per-item UPDATEs of the job's row serialise every worker
        writing to it). Each mapping holds `task_id` and the keyword arguments of `record_item`.
        Returns the ids of the tasks recorded now; tasks already recorded change nothing."""
        rows = [_row(job_id, **item) for item in items]
        if len({row["task_id"] for row in rows}) != len(rows):
            raise StoreInputError("a batch of items names a task twice")
        if not rows:
            return []
        statement = (
            self._insert(Item)
            .on_conflict_do_nothing(index_elements=["job_id", "task_id"])
            .returning(Item.task_id)
        )
        try:
            with self._write() as session:
                new: set[int] = set()
                for start in range(0, len(rows), BATCH // 10):
                    new.update(session.scalars(statement.values(rows[start : start + BATCH // 10])))
                if new:
                    increment(session, job_id, _deltas([row for row in rows if row["task_id"] in new]))
                return sorted(new)
        except IntegrityError:
            with self._read() as session:
                if session.get(Job, job_id) is None:
                    raise NotFoundError(f"no job with id {job_id!r}") from None
            raise

    def get_item(self, job_id: str, task_id: int) -> ItemRecord | None:
        with self._read() as session:
            row = session.get(Item, (job_id, task_id))
            return to_record(ItemRecord, row) if row is not None else None

    def labelled_tasks(self, project: int, task_ids: Sequence[int]) -> set[int]:
        """Which of ``task_ids`` a job of ``project`` has an item for: the tasks this service
        itself labelled there, known without asking Label Studio (one query)."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return set()
        query = (select(Item.task_id).join(Job, Job.id == Item.job_id)
                 .where(Job.project == project, Item.task_id.in_(wanted)).distinct())
        with self._read() as session:
            return set(session.scalars(query))

    def items(
        self,
        job_id: str,
        *,
        outcome: str | None = None,
        min_score: float | None = None,
        max_score: float | None = None,
        pushed: bool | None = None,
        page_size: int = 500,
    ) -> Iterator[ItemRecord]:
        """A job's items by task id, fetched `page_size` at a time (one short session per page,
        none held between pages). `outcome` is "labeled" or an error class; scores are bounds
        inclusive; items without a score never match a score bound."""
        if page_size < 1:
            raise StoreInputError(f"page_size must be >= 1, got {page_size}")
        query = select(Item).where(Item.job_id == job_id).order_by(Item.task_id)
        if outcome is not None:
            _outcome(None if outcome == "labeled" else outcome)
            query = query.where(
                Item.error_class.is_(None) if outcome == "labeled" else Item.error_class == outcome
            )
        if min_score is not None:
            query = query.where(Item.score >= min_score)
        if max_score is not None:
            query = query.where(Item.score <= max_score)
        if pushed is not None:
            query = query.where(Item.pushed.is_(pushed))
        after: int | None = None
        while True:
            page_query = query if after is None else query.where(Item.task_id > after)
            with self._read() as session:
                page = [
                    to_record(ItemRecord, r) for r in session.scalars(page_query.limit(page_size))
                ]
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].task_id

    def unpushed_items(self, job_id: str, limit: int = 500) -> list[ItemRecord]:
        """Labeled items not yet pushed to Label Studio, by task id (failed items have no
        prediction to push)."""
        query = (
            select(Item)
            .where(Item.job_id == job_id, Item.error_class.is_(None), Item.pushed.is_(False))
            .order_by(Item.task_id)
            .limit(limit)
        )
        with self._read() as session:
            return [to_record(ItemRecord, row) for row in session.scalars(query)]

    def mark_pushed(
        self, job_id: str, task_ids: Sequence[int], prediction_ids: Sequence[int] | None = None
    ) -> int:
        """Flag items as pushed, with their Label Studio prediction ids when known (the bulk
        import answers without ids). Returns how many items were updated."""
        if prediction_ids is not None and len(prediction_ids) != len(task_ids):
            raise StoreInputError(
                f"{len(task_ids)} task ids but {len(prediction_ids)} prediction ids"
            )
        ids = prediction_ids if prediction_ids is not None else [None] * len(task_ids)
        # Task order keeps row locks in one order, so two pushers cannot deadlock.
        pairs = sorted(zip(task_ids, ids, strict=True), key=lambda pair: pair[0])
        rows = [{"t": t, "p": p} for t, p in pairs]
        table = cast(Table, Item.__table__)
        new_id = bindparam("p", type_=BigInteger)
        statement = (
            update(table)
            .where(table.c.job_id == job_id, table.c.task_id == bindparam("t"))
            .values(pushed=True, prediction_id=func.coalesce(new_id, table.c.prediction_id))
        )
        updated = 0
        with self._write() as session:
            for start in range(0, len(rows), BATCH):
                updated += affected(session.execute(statement, rows[start : start + BATCH]))
        return updated


def _row(
    job_id: str,
    task_id: int,
    *,
    labels: dict[str, list[str]] | None = None,
    confidence: dict[str, float | None] | None = None,
    score: float | None = None,
    error_class: str | None = None,
    error_detail: str = "",
    invalid_label: str | None = None,
    api_error_kind: str | None = None,
    raw_response: str | None = None,
    meta: dict[str, Any] | None = None,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: float = 0.0,
    latency_s: float | None = None,
    attempts: int = 1,
) -> dict[str, Any]:
    """An item's column values, checked (unknown error class, score outside [0, 1], negative usage)."""
    _outcome(error_class)
    validate.unit_interval(score, "score")
    for name, value in (("tokens_in", tokens_in), ("tokens_out", tokens_out), ("cost", cost)):
        validate.non_negative(value, name)
    return {
        "job_id": job_id,
        "task_id": task_id,
        "labels": labels or {},
        "confidence": confidence or {},
        "score": score,
        "error_class": error_class,
        "error_detail": error_detail,
        "invalid_label": invalid_label,
        "api_error_kind": api_error_kind,
        "raw_response": raw_response,
        "meta": meta or {},
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost": cost,
        "latency_s": latency_s,
        "attempts": attempts,
        "prediction_id": None,
        "pushed": False,
        "created_at": clock.utcnow(),
    }


def _deltas(rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """What recording these items adds to the job's counters."""
    deltas: dict[str, float] = {"done": len(rows), "tokens_in": 0, "tokens_out": 0, "cost": 0.0}
    for row in rows:
        outcome = _outcome(row["error_class"])
        deltas[outcome] = deltas.get(outcome, 0) + 1
        deltas["tokens_in"] += row["tokens_in"]
        deltas["tokens_out"] += row["tokens_out"]
        deltas["cost"] += row["cost"]
    return deltas


def _outcome(error_class: str | None) -> str:
    """The counter an item adds to: "labeled", or its error class (which must be a known one)."""
    if error_class is None:
        return "labeled"
    try:
        return ErrorClass(error_class).value
    except ValueError:
        known = [member.value for member in ErrorClass]
        raise StoreInputError(f"unknown error class {error_class!r}; known: {known}") from None
