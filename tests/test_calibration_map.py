"""The calibration map on known synthetic data: an over-confident agent whose true probability of
being right is known, so the fitted map and the ECE before and after can be checked."""

from __future__ import annotations

import random

import pytest

from ml_backend.review.calibration import Verified
from ml_backend.review.calibration_map import MIN_ITEMS, CalibrationInputError, fit_calibration


def overconfident(n: int, seed: int = 3) -> list[Verified]:
    """Raw confidence c, right with probability c**2 (at 0.9 it is right 81% of the time)."""
    draw = random.Random(seed)
    records = []
    for task_id in range(n):
        confidence = 0.5 + 0.5 * draw.random()
        records.append(Verified(task_id, confidence, draw.random() < confidence ** 2))
    return records


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_the_map_learns_the_true_probability_and_lowers_the_ece(method: str) -> None:
    fit = fit_calibration(overconfident(2000), method)
    assert fit.map is not None and fit.map.method == method and fit.n == 2000
    for raw in (0.6, 0.75, 0.9):
        assert fit.map.apply(raw) == pytest.approx(raw ** 2, abs=0.06)
    assert fit.ece_before is not None and fit.ece_after is not None
    assert fit.ece_before > 0.1 and fit.ece_after < 0.04  # cross-validated, not the fit's own items
    assert sum(band.n for band in fit.before) == 2000
    assert sum(band.n for band in fit.after) == 2000


def test_auto_keeps_the_method_with_the_lower_cross_validated_ece() -> None:
    records = overconfident(400)
    fits = {method: fit_calibration(records, method) for method in ("isotonic", "platt")}
    chosen = fit_calibration(records, "auto")
    best = min(fits, key=lambda method: fits[method].ece_after or 1.0)
    assert chosen.map is not None and chosen.map.method == best
    assert chosen.ece_after == fits[best].ece_after


def test_a_calibrated_agent_stays_calibrated() -> None:
    draw = random.Random(5)
    records = [Verified(i, c, draw.random() < c) for i, c in enumerate(draw.random() for _ in range(3000))]
    fit = fit_calibration(records, "isotonic")
    assert fit.ece_before is not None and fit.ece_after is not None and fit.ece_after < 0.04
    assert fit.map is not None
    grid = [i / 20 for i in range(2, 19)]
    assert sum(abs(fit.map.apply(x) - x) for x in grid) / len(grid) < 0.04  # close to the identity


def test_too_few_items_give_the_reason_and_bad_methods_are_refused() -> None:
    few = fit_calibration(overconfident(MIN_ITEMS - 1))
    assert few.map is None and few.to_dict() == {"available": False, "n": MIN_ITEMS - 1, "reason": few.unavailable}
    assert f"needs {MIN_ITEMS}" in (few.unavailable or "")
    unscored = fit_calibration([Verified(i, None, True) for i in range(50)])
    assert unscored.n == 0 and unscored.map is None
    with pytest.raises(CalibrationInputError, match="unknown calibration method 'beta'"):
        fit_calibration(overconfident(50), "beta")
