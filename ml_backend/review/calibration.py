"""How an agent's confidence relates to whether annotators kept its labels.

The building blocks of the verification report (``ml_backend.review.accuracy`` assembles them and is
the module to import from): the verified record, the Wilson interval, accuracy per confidence
band, AUROC (does a higher confidence mean a likelier correct label?) and the expected
calibration error (does a confidence of 0.8 mean right 80% of the time?). Pure functions over
plain data, standard library only: the formulas are few, exact and small enough to check by hand
(see ``tests/test_accuracy.py``).

A record's ``confidence`` may be ``None`` (no score was computed): such a record counts in the
overall accuracy but in nothing that orders or bins by confidence.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

Z95 = 1.959964
DEFAULT_EDGES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

Interval = tuple[float, float]


class AccuracyInputError(ValueError):
    """The data handed to the statistics is malformed; the message names the item and why."""


def check_score(value: Any, what: str) -> float:
    """``value`` as a float; raises unless it is a probability (a finite number in [0, 1])."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AccuracyInputError(f"{what} must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise AccuracyInputError(f"{what} must be between 0 and 1, got {value!r}")
    return float(value)


def check_count(value: Any, what: str) -> int:
    """``value`` if it is a non-negative int (a bool is refused: it is a mistake, not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AccuracyInputError(f"{what} must be a non-negative int, got {value!r}")
    return value


@dataclass(frozen=True)
class Verified:
    """One reviewed task: the agent's confidence, and whether the annotator confirmed its label
    (``correct=True``) or corrected it (``False``)."""

    task_id: int
    confidence: float | None
    correct: bool

    def __post_init__(self) -> None:
        if isinstance(self.task_id, bool) or not isinstance(self.task_id, int):
            raise AccuracyInputError(f"task_id must be an int, got {self.task_id!r}")
        if not isinstance(self.correct, bool):
            raise AccuracyInputError(f"task {self.task_id}: correct must be True or False, got {self.correct!r}")
        if self.confidence is not None:
            check_score(self.confidence, f"task {self.task_id}: confidence")


def check_records(records: Sequence[Verified], what: str = "records") -> list[Verified]:
    """Refuse anything but ``Verified`` items, and a task listed twice (it would count double)."""
    seen: set[int] = set()
    for record in records:
        if not isinstance(record, Verified):
            raise AccuracyInputError(f"{what} must be Verified items, got {type(record).__name__}")
        if record.task_id in seen:
            raise AccuracyInputError(f"{what}: task {record.task_id} appears more than once")
        seen.add(record.task_id)
    return list(records)


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval | None:
    """Wilson score interval ``(low, high)`` of a proportion; ``None`` when ``n`` is 0.

    Wilson rather than the normal approximation because verified samples are small and
    accuracies sit near 1, where ``p +- z*sqrt(p(1-p)/n)`` shrinks to nothing at 10/10.
    """
    check_count(successes, "successes")
    check_count(n, "n")
    if successes > n:
        raise AccuracyInputError(f"successes ({successes}) cannot exceed n ({n})")
    if isinstance(z, bool) or not isinstance(z, int | float) or not math.isfinite(z) or z <= 0:
        raise AccuracyInputError(f"z must be a positive number, got {z!r}")
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def interval_dict(interval: Interval | None) -> dict[str, float] | None:
    """JSON shape of an interval: named ends read better than a pair in an API response."""
    return None if interval is None else {"low": interval[0], "high": interval[1]}


@dataclass(frozen=True)
class Band:
    """Records with ``low <= confidence < high`` (``<= high`` for the top band).

    ``mean_confidence`` sits next to ``accuracy`` because the pair is the reliability diagram,
    and the calibration error is computed from it.
    """

    low: float
    high: float
    n: int
    correct: int
    accuracy: float | None
    interval: Interval | None
    mean_confidence: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "interval": interval_dict(self.interval),
            "mean_confidence": self.mean_confidence,
        }


def check_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """Band edges: at least two probabilities, strictly increasing."""
    values = tuple(check_score(edge, "band edge") for edge in edges)
    if len(values) < 2:
        raise AccuracyInputError(f"at least two band edges are needed, got {list(edges)!r}")
    if any(a >= b for a, b in zip(values, values[1:], strict=False)):
        raise AccuracyInputError(f"band edges must be strictly increasing, got {list(edges)!r}")
    return values


def band_index(edges: tuple[float, ...], confidence: float) -> int | None:
    """Index of the band holding ``confidence``; the top edge is closed so 1.0 is counted."""
    if confidence == edges[-1]:
        return len(edges) - 2
    index = bisect_right(edges, confidence) - 1
    return index if 0 <= index < len(edges) - 1 else None


def accuracy_by_band(records: Sequence[Verified], edges: Sequence[float] = DEFAULT_EDGES, z: float = Z95) -> list[Band]:
    """Accuracy per confidence band, every band listed even when empty.

    Records without a confidence, and confidences outside the edges, fall in no band.
    """
    bounds = check_edges(edges)
    members: list[list[Verified]] = [[] for _ in bounds[1:]]
    for record in check_records(records):
        if record.confidence is not None:
            index = band_index(bounds, record.confidence)
            if index is not None:
                members[index].append(record)
    return [_band(low, high, group, z) for low, high, group in zip(bounds, bounds[1:], members, strict=False)]


def _band(low: float, high: float, group: list[Verified], z: float) -> Band:
    n = len(group)
    correct = sum(record.correct for record in group)
    total_confidence = sum(record.confidence for record in group if record.confidence is not None)
    return Band(
        low=low,
        high=high,
        n=n,
        correct=correct,
        accuracy=correct / n if n else None,
        interval=wilson_interval(correct, n, z),
        mean_confidence=total_confidence / n if n else None,
    )


def auroc(records: Sequence[Verified]) -> float | None:
    """Probability that a confirmed label has a higher confidence than a corrected one.

    Ties count one half. Computed as the Mann-Whitney U statistic from mid-ranks: exact (ranks
    are half-integers, so the sums are exact in floating point) and O(n log n) instead of
    comparing every pair. ``None`` unless both confirmed and corrected scored records exist.
    """
    scored = sorted((r.confidence, r.correct) for r in check_records(records) if r.confidence is not None)
    positives = sum(correct for _, correct in scored)
    negatives = len(scored) - positives
    if positives == 0 or negatives == 0:
        return None
    rank_sum = 0.0
    below = 0
    for _, group in groupby(scored, key=lambda pair: pair[0]):
        outcomes = [correct for _, correct in group]
        mid_rank = below + (len(outcomes) + 1) / 2
        rank_sum += mid_rank * sum(outcomes)
        below += len(outcomes)
    u = rank_sum - positives * (positives + 1) / 2
    return u / (positives * negatives)


def expected_calibration_error(records: Sequence[Verified], bins: int = 10) -> float | None:
    """Sum over equal-width bins of ``(n_b / N) * |accuracy_b - mean confidence_b|``.

    Only records with a confidence count (N is their number); ``None`` when there are none.
    Bins are the bands of ``accuracy_by_band`` with edges ``i / bins``, so a confidence on an
    edge lands in the same bin as in the report's bands, and 1.0 in the top bin.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise AccuracyInputError(f"bins must be a positive int, got {bins!r}")
    bands = accuracy_by_band(records, [i / bins for i in range(bins + 1)])
    total = sum(band.n for band in bands)
    if total == 0:
        return None
    return sum(
        band.n / total * abs(band.accuracy - band.mean_confidence)
        for band in bands
        if band.accuracy is not None and band.mean_confidence is not None
    )
