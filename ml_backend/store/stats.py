"""A job's aggregates, counted by the database (GROUP BY) rather than by loading every item;
only the label distribution walks the items, in pages, since labels are JSON."""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ml_backend.engine.outcomes import ErrorClass

from .base import StoreBase
from .errors import NotFoundError
from .records import JobStats
from .schema import Item, Job

BINS = 10
TOP_INVALID = 10
PAGE = 1000


class StatsOps(StoreBase):
    def job_stats(self, job_id: str) -> JobStats:
        """Outcome counts, label distribution, score histogram (10 bins), top invalid labels,
        API errors by status or exception class, usage totals."""
        with self._read() as session:
            if session.get(Job, job_id) is None:
                raise NotFoundError(f"no job with id {job_id!r}")
            totals = session.execute(
                select(
                    func.count(),
                    func.count(Item.score),
                    func.avg(Item.score),
                    func.coalesce(func.sum(Item.tokens_in), 0),
                    func.coalesce(func.sum(Item.tokens_out), 0),
                    func.coalesce(func.sum(Item.cost), 0.0),
                    func.avg(Item.latency_s),
                    func.coalesce(func.sum(case((Item.pushed, 1), else_=0)), 0),
                    func.avg(Item.meta["queue_s"].as_float()),
                ).where(Item.job_id == job_id)
            ).one()
            return JobStats(
                job_id=job_id,
                items=totals[0],
                outcomes=_outcomes(session, job_id),
                labels=_label_distribution(session, job_id),
                score_histogram=_histogram(session, job_id),
                scored=totals[1],
                mean_score=None if totals[2] is None else float(totals[2]),
                top_invalid_labels=_top_invalid(session, job_id),
                api_errors=_api_errors(session, job_id),
                tokens_in=int(totals[3]),
                tokens_out=int(totals[4]),
                cost=float(totals[5]),
                mean_latency_s=None if totals[6] is None else float(totals[6]),
                mean_queue_s=None if totals[8] is None else float(totals[8]),
                pushed=int(totals[7]),
            )


    def call_spans(self, job_id: str) -> list[tuple[float, float]]:
        """(sent at, latency) of the LLM call that answered each task of the job, wall-clock
        seconds, read a page at a time; cached answers and failed calls have none."""
        sent_at = Item.meta["sent_at"].as_float()
        query = (select(Item.task_id, sent_at, Item.latency_s)
                 .where(Item.job_id == job_id, sent_at.is_not(None), Item.latency_s.is_not(None))
                 .order_by(Item.task_id).limit(PAGE))
        spans: list[tuple[float, float]] = []
        after = None
        with self._read() as session:
            while True:
                page = session.execute(query if after is None else query.where(Item.task_id > after)).all()
                spans.extend((float(start), float(latency)) for _, start, latency in page)
                if len(page) < PAGE:
                    return spans
                after = page[-1][0]


def _label_distribution(session: Session, job_id: str) -> dict[str, dict[str, int]]:
    """Counts of each label value per control over labeled items, read a page at a time."""
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    query = (
        select(Item.task_id, Item.labels)
        .where(Item.job_id == job_id, Item.error_class.is_(None))
        .order_by(Item.task_id)
        .limit(PAGE)
    )
    after = None
    while True:
        page = session.execute(query if after is None else query.where(Item.task_id > after)).all()
        for _, labels in page:
            for control, values in labels.items():
                counts[control].update(values)
        if len(page) < PAGE:
            return {control: dict(counter) for control, counter in sorted(counts.items())}
        after = page[-1][0]


def _outcomes(session: Session, job_id: str) -> dict[str, int]:
    rows = session.execute(
        select(Item.error_class, func.count())
        .where(Item.job_id == job_id)
        .group_by(Item.error_class)
    ).all()
    outcomes = {"labeled": 0, **{member.value: 0 for member in ErrorClass}}
    for error_class, count in rows:
        outcomes[error_class or "labeled"] = count
    return outcomes


def _histogram(session: Session, job_id: str) -> tuple[int, ...]:
    """Bin i holds [i/10, (i+1)/10); 1.0 goes in the last bin. Grouped on a subquery column
    because PostgreSQL does not match a CASE with bound literals in SELECT and GROUP BY."""
    whens = [(Item.score < (i + 1) / BINS, i) for i in range(BINS - 1)]
    binned = (
        select(case(*whens, else_=BINS - 1).label("bin"))
        .where(Item.job_id == job_id, Item.score.is_not(None))
        .subquery()
    )
    counts = [0] * BINS
    for index, count in session.execute(select(binned.c.bin, func.count()).group_by(binned.c.bin)):
        counts[index] = count
    return tuple(counts)


def _top_invalid(session: Session, job_id: str) -> list[tuple[str, int]]:
    count = func.count().label("n")
    rows = session.execute(
        select(Item.invalid_label, count)
        .where(Item.job_id == job_id, Item.invalid_label.is_not(None))
        .group_by(Item.invalid_label)
        .order_by(count.desc(), Item.invalid_label)
        .limit(TOP_INVALID)
    ).all()
    return [(label, n) for label, n in rows if label is not None]  # the query excludes NULL


def _api_errors(session: Session, job_id: str) -> dict[str, int]:
    kind = func.coalesce(Item.api_error_kind, "unknown").label("kind")
    inner = (
        select(kind).where(Item.job_id == job_id, Item.error_class == ErrorClass.API_ERROR.value)
    ).subquery()
    rows = session.execute(select(inner.c.kind, func.count()).group_by(inner.c.kind)).all()
    return dict(sorted(rows))
