"""The verification report: how accurate the agent is, and above which confidence to trust it.

The figures behind ``lsagent verification show``, as pure functions over plain data (no store,
no Label Studio, no I/O) so that the CLI, the REST API and the tests compute the same numbers.
This is the module to import from; the confidence-versus-correctness building blocks (records,
Wilson interval, bands, AUROC, calibration error) live in ``ml_backend.review.calibration`` and are
re-exported here. Rendering is left to the callers.

Two samples feed it. *Verified* records are whatever annotators reviewed, usually picked by
review views (low confidence first), so they describe the agent per confidence level, not the
dataset as a whole. The *audit* is a uniform random sample of the tasks accepted at a
threshold, which is what makes an unbiased estimate of the final dataset's accuracy possible.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from ml_backend.review.calibration import (
    DEFAULT_EDGES,
    Z95,
    AccuracyInputError,
    Band,
    Interval,
    Verified,
    accuracy_by_band,
    auroc,
    check_count,
    check_records,
    check_score,
    expected_calibration_error,
    interval_dict,
    wilson_interval,
)

__all__ = [
    "DEFAULT_EDGES",
    "DEFAULT_MIN_SUPPORT",
    "Z95",
    "Accuracy",
    "AccuracyInputError",
    "AuditEstimate",
    "Band",
    "Recommendation",
    "Threshold",
    "Unavailable",
    "Verified",
    "accuracy_by_band",
    "audit_estimate",
    "auroc",
    "expected_calibration_error",
    "overall_accuracy",
    "recommend_threshold",
    "summarize",
    "wilson_interval",
]

DEFAULT_MIN_SUPPORT = 30

Row = tuple[float, int, int]  # (threshold, n, correct) of the verified records at or above it


@dataclass(frozen=True)
class Unavailable:
    """A figure the data cannot give yet, and why, in words fit for the user."""

    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"available": False, "reason": self.reason}


@dataclass(frozen=True)
class Accuracy:
    """Share of records whose label the annotator confirmed, with its Wilson interval."""

    n: int
    correct: int
    accuracy: float
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": True,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "interval": interval_dict(self.interval),
        }


def _interval(correct: int, n: int, z: float) -> Interval:
    """Wilson interval where the caller guarantees at least one record."""
    interval = wilson_interval(correct, n, z)
    if interval is None:
        raise AccuracyInputError("an interval needs at least one record")
    return interval


def overall_accuracy(records: Sequence[Verified], z: float = Z95) -> Accuracy | None:
    """Accuracy of all verified records, with or without a confidence; ``None`` when there are none."""
    records = check_records(records)
    if not records:
        return None
    correct = sum(record.correct for record in records)
    return Accuracy(
        n=len(records), correct=correct, accuracy=correct / len(records), interval=_interval(correct, len(records), z)
    )


@dataclass(frozen=True)
class Threshold:
    """A confidence threshold and what it implies.

    ``n``/``correct``/``accuracy``/``interval`` describe the verified records at or above it.
    ``accepted``/``to_humans`` split ALL labelled tasks: at or above, the agent's label is kept;
    below, or without a score, the task is left to annotators (``human_share`` of them, ``None``
    when no labelled task was given).
    """

    threshold: float
    n: int
    correct: int
    accuracy: float
    interval: Interval
    accepted: int
    to_humans: int
    human_share: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": True,
            "threshold": self.threshold,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "interval": interval_dict(self.interval),
            "accepted": self.accepted,
            "to_humans": self.to_humans,
            "human_share": self.human_share,
        }


@dataclass(frozen=True)
class Recommendation:
    """The lowest thresholds that reach a target accuracy, by two standards.

    ``point``: the observed accuracy at or above the threshold reaches the target; optimistic
    on small samples. ``wilson``: the lower end of its 95% Wilson interval reaches the target;
    the one to act on, since it asks for enough verified records to be sure (at 0.95, at least
    73 all-confirmed records). Each is a ``Threshold``, or ``Unavailable`` with the reason.
    """

    target: float
    min_support: int
    point: Threshold | Unavailable
    wilson: Threshold | Unavailable

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "min_support": self.min_support,
            "point": self.point.to_dict(),
            "wilson": self.wilson.to_dict(),
        }


def check_all_scores(all_scores: Sequence[float | None]) -> list[float | None]:
    """Scores of all labelled tasks: probabilities, or ``None`` for a task without one."""
    return [None if s is None else check_score(s, f"all_scores[{i}]") for i, s in enumerate(all_scores)]


def split_at(all_scores: Sequence[float | None], threshold: float) -> tuple[int, int]:
    """(accepted, to_humans) at a threshold: a task without a score cannot be accepted."""
    accepted = sum(1 for score in all_scores if score is not None and score >= threshold)
    return accepted, len(all_scores) - accepted


def cumulative(records: Sequence[Verified]) -> list[Row]:
    """A row per distinct confidence, highest first: the verified records at or above it."""
    scored = sorted(((r.confidence, r.correct) for r in records if r.confidence is not None), reverse=True)
    rows: list[Row] = []
    n = correct = 0
    for confidence, group in groupby(scored, key=lambda pair: pair[0]):
        outcomes = [ok for _, ok in group]
        n += len(outcomes)
        correct += sum(outcomes)
        rows.append((confidence, n, correct))
    return rows


def recommend_threshold(
    records: Sequence[Verified],
    all_scores: Sequence[float | None],
    target: float = 0.95,
    min_support: int = DEFAULT_MIN_SUPPORT,
    z: float = Z95,
) -> Recommendation:
    """Lowest confidence thresholds at which the verified records at or above reach ``target``.

    Only a record's own confidence can be a lowest threshold: the set at or above it changes
    nowhere else. Accuracy need not fall steadily as the threshold falls, so every candidate is
    checked rather than stopping at the first miss. A candidate needs ``min_support`` verified
    records at or above it, so that a few lucky records cannot set the threshold.
    """
    target = check_score(target, "target")
    if target == 0.0:
        raise AccuracyInputError("target must be above 0")
    if check_count(min_support, "min_support") < 1:
        raise AccuracyInputError("min_support must be at least 1")
    scores = check_all_scores(all_scores)
    rows = cumulative(check_records(records))

    def observed(row: Row) -> float:
        return row[2] / row[1]

    def lower_bound(row: Row) -> float:
        return _interval(row[2], row[1], z)[0]

    return Recommendation(
        target=target,
        min_support=min_support,
        point=_describe(_lowest(rows, min_support, target, observed, "accuracy"), scores, z),
        wilson=_describe(_lowest(rows, min_support, target, lower_bound, "Wilson lower bound"), scores, z),
    )


def _lowest(
    rows: list[Row], min_support: int, target: float, measure: Callable[[Row], float], what: str
) -> Row | Unavailable:
    """The lowest supported row whose ``measure`` reaches the target, or why there is none."""
    if not rows:
        return Unavailable("no verified record has a confidence")
    supported = [row for row in rows if row[1] >= min_support]
    if not supported:
        return Unavailable(
            f"only {rows[-1][1]} verified record(s) have a confidence; "
            f"a threshold needs at least {min_support} at or above it"
        )
    passing = [row for row in supported if measure(row) >= target]
    if passing:
        return passing[-1]
    best = max(supported, key=measure)
    return Unavailable(
        f"the best {what} with at least {min_support} verified records is {_floor4(measure(best))} "
        f"(confidence >= {best[0]:g}, {best[1]} records), below the target {target:g}"
    )


def _floor4(value: float) -> str:
    """Four decimals rounded down, so a figure short of the target never prints as reaching it."""
    return f"{math.floor(value * 10_000) / 10_000:.4f}"


def _describe(row: Row | Unavailable, scores: list[float | None], z: float) -> Threshold | Unavailable:
    if isinstance(row, Unavailable):
        return row
    threshold, n, correct = row
    accepted, to_humans = split_at(scores, threshold)
    return Threshold(
        threshold=threshold,
        n=n,
        correct=correct,
        accuracy=correct / n,
        interval=_interval(correct, n, z),
        accepted=accepted,
        to_humans=to_humans,
        human_share=to_humans / len(scores) if scores else None,
    )


@dataclass(frozen=True)
class AuditEstimate:
    """Estimated accuracy of the final dataset: human labels below the threshold (taken as
    correct), the agent's labels at or above it (as accurate as the random audit of them)."""

    accepted: int
    human: int
    audit_n: int
    audit_correct: int
    audit_accuracy: float | None
    audit_interval: Interval | None
    accuracy: float
    interval: Interval

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": True,
            "accepted": self.accepted,
            "human": self.human,
            "audit_n": self.audit_n,
            "audit_correct": self.audit_correct,
            "audit_accuracy": self.audit_accuracy,
            "audit_interval": interval_dict(self.audit_interval),
            "accuracy": self.accuracy,
            "interval": interval_dict(self.interval),
        }


def audit_estimate(
    audit_records: Sequence[Verified], accepted_count: int, human_count: int, z: float = Z95
) -> AuditEstimate | Unavailable:
    """``(human + accepted * p_audit) / total``, its interval from the audit's Wilson interval
    scaled the same way (the scaling is increasing, so the ends map to the ends).

    The Wilson interval treats the audit as drawn with replacement; drawn without replacement
    from ``accepted_count`` tasks, the true interval is narrower, so this errs on the safe side.
    When nothing was accepted every label is human and the estimate is exactly 1.
    """
    audit = check_records(audit_records, "audit records")
    accepted = check_count(accepted_count, "accepted_count")
    human = check_count(human_count, "human_count")
    total = accepted + human
    if total == 0:
        return Unavailable("no labelled tasks")
    if len(audit) > accepted:
        raise AccuracyInputError(f"the audit has {len(audit)} records but only {accepted} tasks were accepted")
    if accepted == 0:
        return AuditEstimate(accepted, human, 0, 0, None, None, accuracy=1.0, interval=(1.0, 1.0))
    if not audit:
        return Unavailable(f"the audit sample is empty: verify a random sample of the {accepted} accepted tasks")
    correct = sum(record.correct for record in audit)
    low, high = _interval(correct, len(audit), z)
    p = correct / len(audit)

    def scaled(q: float) -> float:
        return (human + accepted * q) / total

    return AuditEstimate(
        accepted, human, len(audit), correct, p, (low, high), accuracy=scaled(p), interval=(scaled(low), scaled(high))
    )


def _audit_at(
    audit: list[Verified], scores: list[float | None], threshold: float | None, z: float
) -> AuditEstimate | Unavailable:
    """The audit estimate at ``threshold``, refusing an audit that cannot come from it."""
    if threshold is None:
        if audit:
            raise AccuracyInputError("audit records were given without the threshold they were accepted at")
        return Unavailable("no acceptance threshold is set")
    threshold = check_score(threshold, "threshold")
    for record in audit:
        if record.confidence is None or record.confidence < threshold:
            raise AccuracyInputError(
                f"audit task {record.task_id} has confidence {record.confidence!r}, so it was not accepted "
                f"at the threshold {threshold:g}: the audit must sample the accepted tasks"
            )
    accepted, human = split_at(scores, threshold)
    return audit_estimate(audit, accepted, human, z)


def summarize(
    records: Sequence[Verified],
    all_scores: Sequence[float | None],
    audit_records: Sequence[Verified],
    threshold: float | None,
    target: float = 0.95,
    *,
    edges: Sequence[float] = DEFAULT_EDGES,
    bins: int = 10,
    min_support: int = DEFAULT_MIN_SUPPORT,
    z: float = Z95,
) -> dict[str, Any]:
    """Everything ``lsagent verification show`` reports, as a JSON-serialisable dict.

    ``threshold`` is the one in use (tasks at or above it keep the agent's label), ``None``
    when none is set yet; the audit estimate is computed at it.
    """
    records = check_records(records)
    scores = check_all_scores(all_scores)
    audit = check_records(audit_records, "audit records")
    confirmed = sum(record.correct for record in records)
    overall = overall_accuracy(records, z)
    return {
        "verified": len(records),
        "confirmed": confirmed,
        "corrected": len(records) - confirmed,
        "without_confidence": sum(record.confidence is None for record in records),
        "labelled": len(scores),
        "accuracy": (overall or Unavailable("no verified records")).to_dict(),
        "bands": [band.to_dict() for band in accuracy_by_band(records, edges, z)],
        "auroc": auroc(records),
        "ece": expected_calibration_error(records, bins),
        "recommendation": recommend_threshold(records, scores, target, min_support, z).to_dict(),
        "threshold": threshold,
        "audit": _audit_at(audit, scores, threshold, z).to_dict(),
    }
