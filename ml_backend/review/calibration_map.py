"""A calibration map per agent: from its raw confidence to the probability that its label is right,
fitted on the items humans verified.

Why: a confidence of 0.9 that is right 70% of the time makes every threshold and every estimate
built on it wrong. The verified items say how often the agent was right at each confidence, so a
monotone map learnt from them turns raw confidence into a probability (``lsagent jobs rescore``
writes it to Label Studio as the prediction score; the raw one stays in the store).

Two maps (scikit-learn): ``isotonic`` (a monotone step function; no assumed shape, needs more
items) and ``platt`` (a logistic curve of the raw confidence; two parameters, steady on few
items). ``auto`` takes the one whose cross-validated ECE is lower. The ECE "after" is always
cross-validated (``FOLDS`` stratified folds: each item scored by a map fitted without it), so
the improvement shown is what new items can expect, not what a map does on the items it was
fitted to. The map kept is then fitted on all the items.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ml_backend.review.calibration import Band, Verified, accuracy_by_band, check_records, expected_calibration_error

METHODS = ("auto", "isotonic", "platt")
MIN_ITEMS = 20
MIN_PER_CLASS = 3
FOLDS = 5
SEED = 0
RELIABILITY_EDGES = tuple(i / 10 for i in range(11))


class CalibrationInputError(ValueError):
    """A calibration request the data or the arguments cannot satisfy."""


@dataclass(frozen=True)
class CalibrationMap:
    """The fitted map: isotonic knots (``xs``, ``ys``, linear between, clipped outside) or the
    Platt curve ``1 / (1 + exp(-(a * x + b)))``."""

    method: str
    xs: tuple[float, ...] = ()
    ys: tuple[float, ...] = ()
    a: float = 0.0
    b: float = 0.0

    def apply(self, confidence: float) -> float:
        if self.method == "isotonic":
            return float(np.interp(confidence, self.xs, self.ys))
        return 1.0 / (1.0 + math.exp(-(self.a * confidence + self.b)))

    def to_dict(self) -> dict[str, Any]:
        if self.method == "isotonic":
            return {"method": self.method, "knots": [[x, y] for x, y in zip(self.xs, self.ys, strict=True)]}
        return {"method": self.method, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CalibrationMap:
        """The map ``to_dict`` wrote (kept with a rescored job in the store)."""
        if data["method"] == "isotonic":
            knots = data["knots"]
            return cls("isotonic", tuple(float(x) for x, _ in knots), tuple(float(y) for _, y in knots))
        return cls(str(data["method"]), a=float(data["a"]), b=float(data["b"]))


@dataclass(frozen=True)
class CalibrationFit:
    """The map with its evidence: items used, ECE and reliability bands before and after."""

    n: int
    map: CalibrationMap | None = None
    ece_before: float | None = None
    ece_after: float | None = None
    before: list[Band] = field(default_factory=list)
    after: list[Band] = field(default_factory=list)
    unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.map is None:
            return {"available": False, "n": self.n, "reason": self.unavailable}
        return {"available": True, "n": self.n, "method": self.map.method, "map": self.map.to_dict(),
                "ece_before": self.ece_before, "ece_after": self.ece_after, "cross_validated": True,
                "reliability_before": [band.to_dict() for band in self.before],
                "reliability_after": [band.to_dict() for band in self.after]}


def fit_calibration(records: Sequence[Verified], method: str = "auto") -> CalibrationFit:
    """The calibration of ``records`` (those with a confidence), or why there is none yet."""
    if method not in METHODS:
        raise CalibrationInputError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
    scored = [record for record in check_records(records) if record.confidence is not None]
    right = sum(record.correct for record in scored)
    if len(scored) < MIN_ITEMS or min(right, len(scored) - right) < MIN_PER_CLASS:
        return CalibrationFit(len(scored), unavailable=(
            f"{len(scored)} verified items with a confidence ({right} confirmed, {len(scored) - right} corrected); "
            f"calibration needs {MIN_ITEMS}, with at least {MIN_PER_CLASS} of each"))
    xs = np.array([record.confidence for record in scored], dtype=float)
    ys = np.array([int(record.correct) for record in scored])
    candidates = ("platt", "isotonic") if method == "auto" else (method,)
    held_out = {name: _cross_validated(xs, ys, name) for name in candidates}
    best = min(candidates, key=lambda name: _ece(scored, held_out[name]))  # a tie keeps platt (fewer parameters)
    after = [Verified(r.task_id, value, r.correct) for r, value in zip(scored, held_out[best], strict=True)]
    return CalibrationFit(
        n=len(scored), map=fit_map(xs, ys, best),
        ece_before=expected_calibration_error(scored), ece_after=expected_calibration_error(after),
        before=accuracy_by_band(scored, RELIABILITY_EDGES), after=accuracy_by_band(after, RELIABILITY_EDGES))


def fit_map(xs: Any, ys: Any, method: str) -> CalibrationMap:
    """One map fitted on all of ``xs`` (raw confidences) and ``ys`` (1 = right)."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(xs, ys)
        return CalibrationMap("isotonic", tuple(map(float, model.X_thresholds_)),
                              tuple(map(float, model.y_thresholds_)))
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e4, solver="newton-cholesky").fit(np.asarray(xs).reshape(-1, 1), ys)
    return CalibrationMap("platt", a=float(model.coef_[0][0]), b=float(model.intercept_[0]))


def _cross_validated(xs: Any, ys: Any, method: str) -> list[float]:
    """Each item's calibrated confidence from a map fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    folds = min(FOLDS, int(np.bincount(ys).min()))
    out = np.zeros(len(xs))
    for train, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(xs, ys):
        fitted = fit_map(xs[train], ys[train], method)
        out[test] = [fitted.apply(float(x)) for x in xs[test]]
    return [min(max(float(value), 0.0), 1.0) for value in out]


def _ece(records: Sequence[Verified], values: Sequence[float]) -> float:
    shifted = [Verified(r.task_id, value, r.correct) for r, value in zip(records, values, strict=True)]
    return expected_calibration_error(shifted) or 0.0
