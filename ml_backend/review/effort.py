"""Effort figures: how many tasks humans must verify for the final dataset to reach a target
accuracy, under each way of choosing them.

The model of the final dataset: every task a human verified is right; every other task keeps the
agent's label, right with the probability its signal's calibration map gives (``calibration_map``,
Platt: steady on few items), fitted on the verified and audited items (selecting items by their
confidence does not bias a map of P(right | confidence)). Tasks the agent failed on must be
verified whatever the strategy and are counted in every figure.

* random: tasks verified in random order, so each is right with the mean P(right) of the
  unverified: ``m = ceil(N * (target - A) / (1 - A))`` with A the mean P(right);
* label, margin, self_verify, combined: tasks verified by ascending signal, so the least likely
  right first; the effort is the smallest m whose expected final accuracy
  ``(m + sum of P(right) of the others) / N`` reaches the target.

Intervals: the Platt map's two parameters are drawn ``ROUNDS`` times from their asymptotic normal
distribution (mean the fit, covariance the inverse of the log-likelihood's Hessian at the fit), and
the effort recomputed for each draw; the 2.5th and 97.5th percentiles. A parametric bootstrap:
refitting the map on resampled items gives the same picture at a hundred times the cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ml_backend.review.calibration_map import MIN_ITEMS, MIN_PER_CLASS, fit_map

STRATEGIES = ("random", "label", "margin", "self_verify", "combined")
ROUNDS = 200
SEED = 0

Signals = Mapping[str, Any]


def effort(tasks: Sequence[Signals], verified: Sequence[tuple[Signals, bool]], failed: int,
           target: float) -> dict[str, Any]:
    """Per strategy, the tasks to verify (``tasks``), their share and a 95% interval, or why not."""
    figures: dict[str, Any] = {}
    for strategy in STRATEGIES:
        signal = "label" if strategy == "random" else strategy
        pairs = [(float(s[signal]), ok) for s, ok in verified if _number(s.get(signal))]
        values = [float(s[signal]) if _number(s.get(signal)) else None for s in tasks]
        reason = _unavailable(pairs, values, signal)
        if reason:
            figures[strategy] = {"available": False, "reason": reason}
            continue
        xs = np.array([value for value in values if value is not None])
        mean, covariance = _platt(pairs)
        point = _effort(strategy, xs, mean, failed, target)
        draws = np.random.default_rng(SEED).multivariate_normal(mean, covariance, ROUNDS)
        rounds = sorted(_effort(strategy, xs, draw, failed, target) for draw in draws)
        total = len(tasks) + failed
        figures[strategy] = {"available": True, "tasks": point, "share": point / total if total else None,
                             "interval": {"low": rounds[int(0.025 * ROUNDS)], "high": rounds[int(0.975 * ROUNDS) - 1]}}
    return figures


def _platt(pairs: Sequence[tuple[float, bool]]) -> tuple[Any, Any]:
    """The Platt map's (a, b) and their covariance (inverse Hessian of the log-likelihood)."""
    xs = np.array([x for x, _ in pairs])
    fitted = fit_map(xs, np.array([int(ok) for _, ok in pairs]), "platt")
    design = np.column_stack([xs, np.ones(len(xs))])
    p = 1.0 / (1.0 + np.exp(-(design @ np.array([fitted.a, fitted.b]))))
    hessian = design.T @ (design * (p * (1 - p))[:, None])
    return np.array([fitted.a, fitted.b]), np.linalg.pinv(hessian)


def _effort(strategy: str, xs: Any, parameters: Any, failed: int, target: float) -> int:
    """Tasks to verify, the failed ones included, with P(right) = 1 / (1 + exp(-(a x + b)))."""
    total = len(xs) + failed
    if not total:
        return 0
    p = 1.0 / (1.0 + np.exp(-(parameters[0] * xs + parameters[1])))
    if strategy == "random":
        mean = float(p.mean()) if len(p) else 1.0
        needed = (target * total - failed - mean * len(xs)) / (1.0 - mean) if mean < 1 else 0.0
        return failed + min(len(xs), max(0, math.ceil(needed - 1e-9)))
    ordered = np.sort(p)
    prefix = np.concatenate([[0.0], np.cumsum(ordered)])
    final = (failed + np.arange(len(xs) + 1) + prefix[-1] - prefix) / total
    return failed + int(np.argmax(final >= target - 1e-12))


def _unavailable(pairs: Sequence[tuple[float, bool]], values: Sequence[float | None], signal: str) -> str | None:
    right = sum(ok for _, ok in pairs)
    if len(pairs) < MIN_ITEMS or min(right, len(pairs) - right) < MIN_PER_CLASS:
        return (f"{len(pairs)} verified items with a {signal} signal ({right} confirmed); needs {MIN_ITEMS}, "
                f"with at least {MIN_PER_CLASS} of each verdict")
    if any(value is None for value in values):
        missing = sum(value is None for value in values)
        return f"{missing} labelled tasks have no {signal} signal (the agent's confidence option did not compute it)"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
