"""The confidence scale a job's figures and score-based review views are on: the agent's raw
confidence, or its calibrated confidence (``ml_backend.review.calibration_map``).

The rule: a job is on the scale Label Studio shows for it. Until ``lsagent jobs rescore`` that
is the raw confidence; after it, the calibrated one, through the very map the rescore wrote
(kept with the job in the store, ``jobs.calibration``). So the recommended threshold of
``verification show``, a threshold or lowest-K review view, an audit's acceptance threshold and
the Data Manager's score column and filter all mean the same number. A new rescore (after more
verdicts) moves all of them to its new map at once; until then a newer fit is only reported
beside the figures, never silently applied, since Label Studio would not show it.

``verification show --calibrated`` asks for the calibrated scale where the job was not rescored:
the agent's current map (fitted on all its verified items in the project), a preview of what a
rescore would give; ``--raw`` asks for the raw scale of a rescored job. Review views have no such
choice: they select by the scores Label Studio shows.

A calibrated score is rounded to 6 decimals, as the rescore writes it to Label Studio, so the
tasks a view selects here and those Label Studio's own score filter selects are the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_backend.review.calibration_map import CalibrationMap

DECIMALS = 6


@dataclass(frozen=True)
class Scale:
    """Raw (no map) or calibrated by ``map``, fitted on ``n`` verified items."""

    map: CalibrationMap | None = None
    n: int = 0

    @property
    def calibrated(self) -> bool:
        return self.map is not None

    def score(self, raw: float | None) -> float | None:
        """A raw confidence on this scale (None stays None: a task without a score)."""
        return None if raw is None else self.value(raw)

    def value(self, raw: float) -> float:
        if self.map is None:
            return raw
        return round(min(max(self.map.apply(raw), 0.0), 1.0), DECIMALS)

    def describe(self) -> str:
        """The scale in words: "raw", or "calibrated: <method>, fitted on N verified items"."""
        if self.map is None:
            return "raw"
        return f"calibrated: {self.map.method}, fitted on {self.n} verified items"

    def to_dict(self) -> dict[str, Any] | None:
        """As the store keeps it (None for raw)."""
        if self.map is None:
            return None
        return {"method": self.map.method, "map": self.map.to_dict(), "n": self.n}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Scale:
        if not data:
            return cls()
        return cls(CalibrationMap.from_dict(data["map"]), int(data["n"]))


RAW = Scale()
