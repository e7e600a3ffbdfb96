"""The ``combined`` confidence: a logistic model over an agent's signals, fitted on its verified items.

Why logistic regression: the signals (label probability, margin, P(yes) of self-verification) are
each informative and correlated, and the target is a probability of being right; a logistic model
over them is the smallest model that weighs them and outputs a probability, and its few
coefficients can be read. scikit-learn fits it (L2-regularised, so a few dozen items do not give
wild weights).

It is fitted only once there are enough verified items (``MIN_VERIFIED``, with at least
``MIN_PER_CLASS`` confirmed and as many corrected ones): before that, the agent's items are
scored by the label probability and say so. ``StoreCombiner`` refits from the store at most every
``REFRESH_S`` seconds, so verdicts arriving during a job are used by its later tasks.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_backend.engine.signals import COMBINED_FEATURES
from ml_backend.review.task_verdicts import task_verdicts
from ml_backend.store import Store

MIN_VERIFIED = 30
MIN_PER_CLASS = 5
REFRESH_S = 60.0

Row = tuple[Mapping[str, Any], bool]


@dataclass(frozen=True)
class CombinedModel:
    """Coefficients over ``COMBINED_FEATURES`` (in order) and an intercept; or ``unavailable``."""

    coefficients: tuple[float, ...] = ()
    intercept: float = 0.0
    n: int = 0
    unavailable: str | None = None

    def predict(self, signals: Mapping[str, Any]) -> float | None:
        """P(right) for one item's signals; None when the model or a signal is missing."""
        values = [signals.get(name) for name in COMBINED_FEATURES]
        if self.unavailable or any(value is None for value in values):
            return None
        z = self.intercept + math.fsum(c * float(v or 0.0) for c, v in zip(self.coefficients, values, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(COMBINED_FEATURES), "coefficients": list(self.coefficients),
                "intercept": self.intercept, "n": self.n, "unavailable": self.unavailable}


def fit(rows: Sequence[Row]) -> CombinedModel:
    """The logistic model of ``correct`` over the rows' signals; rows missing a signal are left out."""
    usable = [(signals, correct) for signals, correct in rows
              if all(isinstance(signals.get(name), int | float) for name in COMBINED_FEATURES)]
    right = sum(correct for _, correct in usable)
    wrong = len(usable) - right
    if len(usable) < MIN_VERIFIED or min(right, wrong) < MIN_PER_CLASS:
        return CombinedModel(n=len(usable), unavailable=(
            f"{len(usable)} verified items with all of {', '.join(COMBINED_FEATURES)} ({right} confirmed, {wrong} "
            f"corrected); the fit needs {MIN_VERIFIED}, with at least {MIN_PER_CLASS} of each"))
    from sklearn.linear_model import LogisticRegression

    features = [[float(signals[name]) for name in COMBINED_FEATURES] for signals, _ in usable]
    model = LogisticRegression(C=1.0, solver="newton-cholesky").fit(features, [int(correct) for _, correct in usable])
    return CombinedModel(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]), len(usable))


def training_rows(store: Store, agent_id: str, project: int) -> list[Row]:
    """(signals, correct) of every verified, labelled item of the agent's jobs in ``project``."""
    rows: list[Row] = []
    for job in store.list_jobs(project):
        if job.agent_id != agent_id:
            continue
        verdicts = task_verdicts(store.verifications(job.id))
        if verdicts:
            rows += _rows(store.items(job.id, outcome="labeled"), verdicts)
    return rows


def _rows(items: Iterable[Any], verdicts: Mapping[int, Any]) -> list[Row]:
    return [((item.meta or {}).get("signals") or {}, verdicts[item.task_id].correct)
            for item in items if item.task_id in verdicts]


class StoreCombiner:
    """The agent's combined model as the annotator sees it (``engine.signals.Combiner``), refitted
    from the store at most every ``REFRESH_S`` seconds."""

    def __init__(self, store: Store, agent_id: str, project: int, refresh_s: float = REFRESH_S) -> None:
        self._store, self._agent, self._project, self._refresh = store, agent_id, project, refresh_s
        self._lock = threading.Lock()
        self._model: CombinedModel | None = None
        self._fitted_at = 0.0

    def model(self) -> CombinedModel:
        with self._lock:
            if self._model is None or time.monotonic() - self._fitted_at >= self._refresh:
                self._model = fit(training_rows(self._store, self._agent, self._project))
                self._fitted_at = time.monotonic()
            return self._model

    def predict(self, signals: Mapping[str, Any]) -> float | None:
        return self.model().predict(signals)

    @property
    def unavailable(self) -> str | None:
        return self.model().unavailable
