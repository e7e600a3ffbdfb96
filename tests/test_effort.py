"""Effort figures on known synthetic data: an agent whose confidence is calibrated, so the true
number of tasks to verify for a target accuracy is known and the estimate can be checked."""

from __future__ import annotations

import math
import random

from ml_backend.review.effort import effort

TARGET = 0.95


def calibrated(n: int, seed: int = 11) -> tuple[list[dict[str, float]], list[bool]]:
    """Label confidence c (mostly high), right with probability c; margin is noise."""
    draw = random.Random(seed)
    tasks, right = [], []
    for _ in range(n):
        c = 1 - 0.5 * draw.random() ** 2
        tasks.append({"label": c, "margin": draw.random()})
        right.append(draw.random() < c)
    return tasks, right


def oracle_ordered(confidences: list[float], failed: int, target: float) -> int:
    """The effort with the true P(right): verify the least confident until the target is met."""
    ordered, total = sorted(confidences), len(confidences) + failed
    kept = sum(ordered)
    for verified in range(len(ordered) + 1):
        if (failed + verified + kept) / total >= target:
            return failed + verified
        kept -= ordered[verified]
    return total


def test_the_estimate_matches_the_true_effort_and_ordering_beats_random() -> None:
    tasks, right = calibrated(1000)
    verified = [(tasks[i], right[i]) for i in random.Random(2).sample(range(1000), 300)]
    figures = effort(tasks, verified, failed=0, target=TARGET)
    truth = oracle_ordered([t["label"] for t in tasks], 0, TARGET)
    label = figures["label"]
    assert label["available"] and abs(label["tasks"] - truth) <= 0.15 * truth
    assert label["interval"]["low"] <= label["tasks"] <= label["interval"]["high"]
    assert label["interval"]["low"] <= truth <= label["interval"]["high"]
    mean = sum(t["label"] for t in tasks) / 1000
    random_truth = math.ceil(1000 * (TARGET - mean) / (1 - mean))
    assert abs(figures["random"]["tasks"] - random_truth) <= 0.15 * random_truth
    assert label["tasks"] < figures["margin"]["tasks"] and label["tasks"] < figures["random"]["tasks"]
    assert label["share"] == label["tasks"] / 1000


def test_failed_tasks_are_always_verified() -> None:
    tasks, right = calibrated(500)
    verified = list(zip(tasks[:200], right[:200], strict=True))
    without, with_failed = effort(tasks, verified, 0, TARGET), effort(tasks, verified, 25, TARGET)
    # the 25 are verified whatever happens; once verified they are right, so fewer labelled ones are needed
    assert without["label"]["tasks"] < with_failed["label"]["tasks"] <= without["label"]["tasks"] + 25
    assert effort(tasks, verified, 0, 0.5)["label"]["tasks"] == 0  # already above the target
    assert effort(tasks, verified, 25, 0.5)["label"]["tasks"] == 25


def test_missing_signals_and_too_few_verdicts_say_why() -> None:
    tasks, right = calibrated(100)
    figures = effort(tasks, list(zip(tasks[:10], right[:10], strict=True)), 0, TARGET)
    assert not figures["label"]["available"] and "10 verified items" in figures["label"]["reason"]
    figures = effort(tasks, list(zip(tasks, right, strict=True)), 0, TARGET)
    assert not figures["self_verify"]["available"] and "self_verify" in figures["self_verify"]["reason"]


def test_the_report_shows_effort_and_calibration() -> None:
    from ml_backend.report.display import VerificationFigures

    tasks, right = calibrated(400)
    figures = VerificationFigures({
        "target": TARGET, "effort": effort(tasks, list(zip(tasks, right, strict=True)), 0, TARGET),
        "calibration": {"available": True, "n": 400, "method": "platt", "ece_before": 0.12, "ece_after": 0.03,
                        "reliability_after": [{"low": 0.5, "high": 0.6, "n": 10, "correct": 6, "accuracy": 0.6,
                                               "interval": None, "mean_confidence": 0.55}]}})
    html = figures._repr_html_()
    label = figures["effort"]["label"]
    assert "Tasks to verify for a final accuracy of 95%" in html
    assert f"{label['tasks']} ({label['share'] * 100:.1f}%; 95% interval" in html
    assert "0 verified items with a self_verify signal" in html
    assert "0.12 → 0.03 (platt, 400 verified items)" in html
    assert "Accuracy by calibrated confidence (cross-validated)" in html
