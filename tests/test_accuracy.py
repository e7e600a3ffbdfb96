"""Verification statistics, each figure checked against arithmetic done by hand in the comments.

Z = 1.959964, so Z^2 = 3.841459 throughout.
"""

import json
import math
import random

import pytest

from ml_backend.review.accuracy import (
    AccuracyInputError,
    AuditEstimate,
    Threshold,
    Unavailable,
    Verified,
    accuracy_by_band,
    audit_estimate,
    auroc,
    expected_calibration_error,
    overall_accuracy,
    recommend_threshold,
    summarize,
    wilson_interval,
)

Z2 = 1.959964**2  # 3.841459


def records(*pairs: tuple[float | None, bool]) -> list[Verified]:
    """Verified records numbered from 1 in the order given."""
    return [Verified(task_id=i, confidence=c, correct=ok) for i, (c, ok) in enumerate(pairs, start=1)]


# --- Wilson interval -------------------------------------------------------------------------


def test_wilson_8_of_10_matches_the_hand_computation():
    # p = 0.8, n = 10, Z^2/n = 0.3841459, denominator = 1.3841459
    # centre = (0.8 + 0.19207295) / 1.3841459 = 0.7167402
    # half   = 1.959964 / 1.3841459 * sqrt(0.8*0.2/10 + 3.841459/400)
    #        = 1.4160097 * sqrt(0.016 + 0.00960365) = 1.4160097 * 0.1600114 = 0.2265777
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.7167402 - 0.2265777, abs=1e-6)  # 0.4901625
    assert high == pytest.approx(0.7167402 + 0.2265777, abs=1e-6)  # 0.9433179
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)


def test_wilson_with_no_data_is_none_not_a_crash():
    assert wilson_interval(0, 0) is None


def test_wilson_10_of_10_reaches_exactly_one():
    # p = 1: centre - half = (1 + Z^2/20 - Z^2/20) / (1 + Z^2/10) = 10 / (10 + Z^2)
    #      = 10 / 13.841459 = 0.722467; centre + half = 1 exactly.
    low, high = wilson_interval(10, 10)
    assert low == pytest.approx(10 / 13.841459, abs=1e-6)
    assert round(low, 4) == 0.7225
    assert high == 1.0


@pytest.mark.parametrize(("n", "expected_high"), [(3, 0.561497), (10, 0.277533)])
def test_wilson_0_of_n_starts_at_exactly_zero(n, expected_high):
    # mirror of 10/10: high = Z^2 / (n + Z^2); n = 3: 3.841459 / 6.841459 = 0.561497,
    # n = 10: 3.841459 / 13.841459 = 0.277533. The formula's low end is 0 only up to rounding
    # (5.6e-17 at n = 3), and a report must not show a zero success rate as possibly above 0.
    low, high = wilson_interval(0, n)
    assert low == 0.0
    assert high == pytest.approx(expected_high, abs=1e-6)


def test_wilson_narrows_with_z():
    # a smaller z (e.g. 1.0, about 68%) must give a narrower interval around the same centre
    wide, narrow = wilson_interval(8, 10), wilson_interval(8, 10, z=1.0)
    assert wide[0] < narrow[0] < 0.8 < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("successes", "n", "z", "message"),
    [
        (11, 10, 1.96, "cannot exceed"),
        (-1, 10, 1.96, "successes must be a non-negative int"),
        (True, 10, 1.96, "successes must be a non-negative int"),
        (1, 2.0, 1.96, "n must be a non-negative int"),
        (1, 2, 0, "z must be a positive number"),
        (1, 2, math.inf, "z must be a positive number"),
    ],
)
def test_wilson_refuses_bad_counts(successes, n, z, message):
    with pytest.raises(AccuracyInputError, match=message):
        wilson_interval(successes, n, z)


# --- records and overall accuracy -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task_id": 1, "confidence": 1.2, "correct": True}, "task 1: confidence must be between 0 and 1"),
        ({"task_id": 1, "confidence": -0.1, "correct": True}, "between 0 and 1"),
        ({"task_id": 1, "confidence": math.nan, "correct": True}, "must be a number"),
        ({"task_id": 1, "confidence": "0.9", "correct": True}, "must be a number"),
        ({"task_id": True, "confidence": 0.9, "correct": True}, "task_id must be an int"),
        ({"task_id": 1, "confidence": 0.9, "correct": "yes"}, "correct must be True or False"),
    ],
)
def test_verified_refuses_malformed_records(kwargs, message):
    with pytest.raises(AccuracyInputError, match=message):
        Verified(**kwargs)


def test_a_task_verified_twice_is_refused_rather_than_counted_twice():
    twice = [Verified(7, 0.9, True), Verified(7, 0.9, True)]
    with pytest.raises(AccuracyInputError, match="task 7 appears more than once"):
        overall_accuracy(twice)


def test_overall_accuracy_counts_records_without_confidence():
    # 3 confirmed (one has no confidence) out of 4 -> 0.75; interval = Wilson(3, 4)
    result = overall_accuracy(records((0.9, True), (None, True), (0.4, False), (0.7, True)))
    assert (result.n, result.correct, result.accuracy) == (4, 3, 0.75)
    assert result.interval == wilson_interval(3, 4)


def test_overall_accuracy_of_nothing_is_none():
    assert overall_accuracy([]) is None


# --- bands -----------------------------------------------------------------------------------


def test_bands_put_edges_in_the_upper_band_and_one_in_the_top_band():
    data = records(
        (0.0, False),  # [0, .5)
        (0.49, False),  # [0, .5)
        (0.5, True),  # [.5, .6): an edge belongs to the band it opens
        (0.6, False),  # [.6, .7)
        (0.9, True),  # [.9, 1]
        (1.0, True),  # [.9, 1]: the top band is closed
        (1.0, False),  # [.9, 1]
        (None, True),  # no band
    )
    bands = accuracy_by_band(data)
    assert [(b.low, b.high) for b in bands] == [(0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0)]
    assert [b.n for b in bands] == [2, 1, 1, 0, 0, 3]
    assert [b.correct for b in bands] == [0, 1, 0, 0, 0, 2]
    top = bands[-1]
    assert top.accuracy == pytest.approx(2 / 3)
    assert top.mean_confidence == pytest.approx((0.9 + 1.0 + 1.0) / 3)  # 0.966667
    assert top.interval == wilson_interval(2, 3)
    empty = bands[3]
    assert (empty.accuracy, empty.interval, empty.mean_confidence) == (None, None, None)


def test_bands_with_custom_edges_leave_out_confidences_outside_them():
    bands = accuracy_by_band(records((0.2, True), (0.5, True), (0.8, False)), edges=(0.5, 0.7, 0.9))
    assert [b.n for b in bands] == [1, 1]  # 0.2 is below the first edge


@pytest.mark.parametrize(
    ("edges", "message"),
    [((0.5,), "at least two"), ((0.0, 0.6, 0.5), "strictly increasing"), ((0.0, 1.5), "between 0 and 1")],
)
def test_bands_refuse_bad_edges(edges, message):
    with pytest.raises(AccuracyInputError, match=message):
        accuracy_by_band([], edges=edges)


# --- AUROC -----------------------------------------------------------------------------------


def test_auroc_on_a_hand_example_with_a_tie():
    # confirmed: 0.9, 0.8, 0.6; corrected: 0.7, 0.6 -> 3 * 2 = 6 pairs
    # 0.9 > 0.7, 0.9 > 0.6, 0.8 > 0.7, 0.8 > 0.6 -> 4; 0.6 < 0.7 -> 0; 0.6 = 0.6 -> 1/2
    # AUROC = 4.5 / 6 = 0.75
    data = records((0.9, True), (0.8, True), (0.6, True), (0.7, False), (0.6, False), (None, False))
    assert auroc(data) == 0.75


def test_auroc_extremes():
    assert auroc(records((0.9, True), (0.2, False))) == 1.0
    assert auroc(records((0.2, True), (0.9, False))) == 0.0
    assert auroc(records((0.5, True), (0.5, False))) == 0.5  # one tie: 1/2 over 1 pair


def test_auroc_needs_both_outcomes_among_scored_records():
    assert auroc(records((0.9, True), (0.4, True))) is None
    assert auroc(records((0.9, True), (None, False))) is None
    assert auroc([]) is None


def test_auroc_equals_the_pairwise_definition_on_random_data_with_ties():
    rng = random.Random(20240607)
    data = records(*((rng.choice([0.1, 0.3, 0.5, 0.7, 0.9, 1.0]), rng.random() < 0.6) for _ in range(300)))
    positives = [r.confidence for r in data if r.correct]
    negatives = [r.confidence for r in data if not r.correct]
    wins = sum((p > q) + 0.5 * (p == q) for p in positives for q in negatives)
    assert auroc(data) == pytest.approx(wins / (len(positives) * len(negatives)), abs=1e-12)


# --- expected calibration error --------------------------------------------------------------


def test_ece_on_a_hand_example():
    data = records(
        (0.9, True),
        (1.0, True),
        (0.95, False),  # bin [.9, 1]: acc 2/3, mean conf 0.95 -> |2/3 - 0.95| = 17/60
        (0.6, True),
        (0.65, False),  # bin [.6, .7): acc 1/2, mean conf 0.625 -> 1/8
        (0.2, False),  # bin [.2, .3): acc 0, mean conf 0.2 -> 1/5
        (None, True),  # excluded: N = 6
    )
    # ECE = 3/6 * 17/60 + 2/6 * 1/8 + 1/6 * 1/5 = 17/120 + 5/120 + 4/120 = 26/120 = 13/60
    assert expected_calibration_error(data) == pytest.approx(13 / 60, abs=1e-12)  # 0.216667


def test_ece_of_a_calibrated_agent_is_zero_and_coarse_bins_change_it():
    # 0.5 right once, wrong once -> |0.5 - 0.5| = 0 in every bin count
    assert expected_calibration_error(records((0.5, True), (0.5, False))) == 0.0
    # one bin [0, 1]: acc 1/2, mean conf (0.9 + 0.1)/2 = 0.5 -> 0; ten bins: each record alone
    # -> 1/2 * |1 - 0.9| + 1/2 * |0 - 0.1| = 0.1
    data = records((0.9, True), (0.1, False))
    assert expected_calibration_error(data, bins=1) == 0.0
    assert expected_calibration_error(data, bins=10) == pytest.approx(0.1, abs=1e-12)


def test_ece_without_scored_records_is_none_and_bins_must_be_positive():
    assert expected_calibration_error(records((None, True))) is None
    with pytest.raises(AccuracyInputError, match="bins must be a positive int"):
        expected_calibration_error([], bins=0)


# --- threshold recommendation ----------------------------------------------------------------

# Cumulative accuracy at or above each threshold, highest first:
#   0.95: 1/1   0.9: 2/2   0.85: 3/3   0.8: 3/4 = .75   0.75: 4/5 = .8   0.7: 5/6 = .833
#   0.6: 5/7 = .714   0.5: 5/8 = .625
NON_MONOTONE = records(
    (0.95, True), (0.9, True), (0.85, True), (0.8, False), (0.75, True), (0.7, True), (0.6, False), (0.5, False)
)
ALL_SCORES = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, 0.3, None]


def test_threshold_is_the_lowest_reaching_the_target_even_past_a_dip():
    # target 0.8: 0.8 fails (.75) but 0.75 (.8) and 0.7 (.833) pass; 0.6 and 0.5 fail -> 0.7
    point = recommend_threshold(NON_MONOTONE, ALL_SCORES, target=0.8, min_support=1).point
    assert isinstance(point, Threshold)
    assert (point.threshold, point.n, point.correct) == (0.7, 6, 5)
    assert point.accuracy == pytest.approx(5 / 6)
    # all labelled tasks >= 0.7: six; below: 0.6, 0.5, 0.3 and the unscored one -> 4 of 10
    assert (point.accepted, point.to_humans, point.human_share) == (6, 4, 0.4)


def test_threshold_reaching_the_target_exactly_counts():
    # at 0.5: 4/5 = 0.8 exactly = target -> 0.5 (a strict > would give 0.6 with 4/4)
    data = records((0.9, True), (0.8, True), (0.7, True), (0.6, True), (0.5, False))
    point = recommend_threshold(data, [0.9, 0.8, 0.7, 0.6, 0.5], target=0.8, min_support=1).point
    assert point.threshold == 0.5
    assert (point.accepted, point.to_humans, point.human_share) == (5, 0, 0.0)


def test_threshold_unreachable_with_the_minimum_support_says_why():
    # target 0.9: only 0.85 (3/3) passes, but min_support 4 leaves thresholds <= 0.8, whose best is
    # 0.7 with 5/6 = 0.8333 -> unreachable
    result = recommend_threshold(NON_MONOTONE, ALL_SCORES, target=0.9, min_support=4)
    assert isinstance(result.point, Unavailable)
    assert result.point.reason == (
        "the best accuracy with at least 4 verified records is 0.8333 (confidence >= 0.7, 6 records), "
        "below the target 0.9"
    )
    assert recommend_threshold(NON_MONOTONE, ALL_SCORES, target=0.9, min_support=3).point.threshold == 0.85


def test_threshold_unavailable_without_enough_scored_records():
    few = recommend_threshold(NON_MONOTONE, ALL_SCORES, target=0.5)  # default min_support 30
    assert few.point == Unavailable(
        "only 8 verified record(s) have a confidence; a threshold needs at least 30 at or above it"
    )
    none = recommend_threshold(records((None, True)), [None], min_support=1)
    assert none.point == none.wilson == Unavailable("no verified record has a confidence")


def test_wilson_threshold_asks_for_more_support_than_the_point_estimate():
    # 73 confirmed at 0.9, 1 corrected at 0.8, 30 confirmed at 0.7; target 0.95
    # point: 0.7 -> 103/104 = 0.990 >= 0.95 (lowest)
    # Wilson lower ends: 0.9 -> 73/73: 73/(73 + Z^2) = 73/76.841459 = 0.950008 >= 0.95
    #   0.8 -> 73/74: centre (0.986486 + 0.025956)/1.051912 = 0.962478, half 0.035133 -> 0.927345
    #   0.7 -> 103/104: centre (0.990385 + 0.018469)/1.036937 = 0.972918, half 0.025384 -> 0.947534
    data = records(*([(0.9, True)] * 73 + [(0.8, False)] + [(0.7, True)] * 30))
    result = recommend_threshold(data, [r.confidence for r in data] + [0.2] * 96, target=0.95, min_support=30)
    assert (result.point.threshold, result.point.n) == (0.7, 104)
    assert (result.wilson.threshold, result.wilson.n) == (0.9, 73)
    assert result.wilson.interval[0] == pytest.approx(73 / (73 + Z2))
    # 200 labelled tasks: 73 at or above 0.9 -> 127 left to humans
    assert (result.wilson.accepted, result.wilson.to_humans, result.wilson.human_share) == (73, 127, 0.635)


def test_wilson_threshold_unreachable_when_support_is_one_record_short():
    # 72/72 all confirmed: point accuracy 1 >= 0.95, but 72/(72 + Z^2) = 72/75.841459 = 0.949349 < 0.95
    data = records(*[(0.9, True)] * 72)
    result = recommend_threshold(data, [0.9] * 72, target=0.95, min_support=30)
    assert result.point.threshold == 0.9
    assert result.wilson == Unavailable(
        "the best Wilson lower bound with at least 30 verified records is 0.9493 "
        "(confidence >= 0.9, 72 records), below the target 0.95"
    )


def test_unreachable_reason_rounds_down_so_it_never_shows_the_target_as_met():
    # 2/3 = 0.666667 -> "0.6666", not "0.6667"; likewise 0.99996 must not print as "1.0000"
    result = recommend_threshold(records((0.9, True), (0.9, True), (0.9, False)), [], target=0.7, min_support=1)
    assert "is 0.6666 (confidence >= 0.9, 3 records)" in result.point.reason


def test_threshold_without_labelled_tasks_has_no_share():
    point = recommend_threshold(records((0.9, True)), [], target=0.9, min_support=1).point
    assert (point.accepted, point.to_humans, point.human_share) == (0, 0, None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0.0}, "target must be above 0"),
        ({"target": 1.5}, "target must be between 0 and 1"),
        ({"min_support": 0}, "min_support must be at least 1"),
        ({"all_scores": [0.5, 2.0]}, r"all_scores\[1\] must be between 0 and 1"),
    ],
)
def test_threshold_refuses_bad_arguments(kwargs, message):
    arguments = {"records": NON_MONOTONE, "all_scores": ALL_SCORES, **kwargs}
    with pytest.raises(AccuracyInputError, match=message):
        recommend_threshold(**arguments)


# --- audit estimate --------------------------------------------------------------------------


def test_audit_estimate_scales_the_audit_interval():
    # audit: 18 of 20 confirmed, p = 0.9; 600 accepted, 400 by humans, 1000 in all
    # estimate = (400 + 600 * 0.9) / 1000 = 940 / 1000 = 0.94
    # Wilson(18, 20): Z^2/n = 0.192073; centre = (0.9 + 0.096036)/1.192073 = 0.835549
    #   half = 1.959964/1.192073 * sqrt(0.09/20 + 3.841459/1600) = 1.644165 * 0.083072 = 0.136584
    #   -> (0.698966, 0.972134); scaled: (400 + 600 * 0.698966)/1000 = 0.819379,
    #   (400 + 600 * 0.972134)/1000 = 0.983280
    audit = records(*([(0.95, True)] * 18 + [(0.95, False)] * 2))
    result = audit_estimate(audit, accepted_count=600, human_count=400)
    assert isinstance(result, AuditEstimate)
    assert (result.audit_n, result.audit_correct, result.audit_accuracy) == (20, 18, 0.9)
    assert result.accuracy == pytest.approx(0.94, abs=1e-12)
    assert result.audit_interval == pytest.approx((0.698966, 0.972134), abs=2e-6)
    assert result.interval == pytest.approx((0.819379, 0.983280), abs=2e-6)


def test_audit_estimate_without_an_audit_says_why():
    assert audit_estimate([], accepted_count=600, human_count=400) == Unavailable(
        "the audit sample is empty: verify a random sample of the 600 accepted tasks"
    )
    assert audit_estimate([], 0, 0) == Unavailable("no labelled tasks")


def test_audit_estimate_when_nothing_was_accepted_is_all_human():
    result = audit_estimate([], accepted_count=0, human_count=50)
    assert (result.accuracy, result.interval, result.audit_interval) == (1.0, (1.0, 1.0), None)


def test_audit_larger_than_the_accepted_tasks_is_refused():
    with pytest.raises(AccuracyInputError, match="the audit has 2 records but only 1 tasks were accepted"):
        audit_estimate(records((0.9, True), (0.9, True)), accepted_count=1, human_count=5)


# --- summary ---------------------------------------------------------------------------------

VERIFIED = records(
    (0.95, True),
    (0.9, True),
    (0.85, True),
    (0.8, False),
    (0.75, True),
    (0.7, True),
    (0.6, False),
    (0.5, False),
    (None, True),
)
LABELLED = [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5, None, 0.3, 0.92, 0.97]
# accepted at 0.9: 0.95, 0.9, 0.92, 0.97 -> 4; the other 8 go to humans
AUDIT = [Verified(2, 0.9, True), Verified(10, 0.92, True), Verified(11, 0.97, False)]


def test_summary_holds_every_figure_and_is_json():
    summary = summarize(VERIFIED, LABELLED, AUDIT, threshold=0.9, target=0.8, min_support=1)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert (summary["verified"], summary["confirmed"], summary["corrected"]) == (9, 6, 3)
    assert (summary["without_confidence"], summary["labelled"], summary["threshold"]) == (1, 12, 0.9)
    assert summary["accuracy"]["accuracy"] == pytest.approx(6 / 9)
    assert summary["accuracy"]["interval"] == pytest.approx(
        dict(zip(("low", "high"), wilson_interval(6, 9), strict=True)))
    # bands [0,.5) .. [.9,1]: none; 0.5 F; 0.6 F; 0.7 T 0.75 T; 0.8 F 0.85 T; 0.9 T 0.95 T
    assert [(b["n"], b["correct"]) for b in summary["bands"]] == [(0, 0), (1, 0), (1, 0), (2, 2), (2, 1), (2, 2)]
    # confirmed .95 .9 .85 beat all 3 corrected (.8 .6 .5): 9; .75 and .7 beat .6 and .5: 4 -> 13/15
    assert summary["auroc"] == pytest.approx(13 / 15)
    # bins 5..9: |0-.5| + |0-.6| + 2|1-.725| + 2|.5-.825| + 2|1-.925| = 2.45, over 8 -> 0.30625
    assert summary["ece"] == pytest.approx(0.30625)
    point = summary["recommendation"]["point"]
    # target 0.8 -> 0.7 (5/6); labelled >= 0.7: 8 of 12 -> 4 left to humans = 1/3
    assert (point["threshold"], point["accepted"], point["to_humans"]) == (0.7, 8, 4)
    assert point["human_share"] == pytest.approx(1 / 3)
    assert summary["recommendation"]["wilson"]["available"] is False
    # audit 2/3 of 4 accepted, 8 human: (8 + 4 * 2/3) / 12 = (32/3) / 12 = 8/9
    assert summary["audit"]["available"] is True
    assert (summary["audit"]["accepted"], summary["audit"]["human"]) == (4, 8)
    assert summary["audit"]["accuracy"] == pytest.approx(8 / 9)


def test_summary_of_nothing_reports_what_is_missing():
    summary = summarize([], [], [], threshold=None)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["accuracy"] == {"available": False, "reason": "no verified records"}
    assert (summary["auroc"], summary["ece"]) == (None, None)
    assert summary["recommendation"]["point"]["reason"] == "no verified record has a confidence"
    assert summary["audit"] == {"available": False, "reason": "no acceptance threshold is set"}


def test_summary_refuses_an_audit_that_does_not_match_the_threshold():
    with pytest.raises(
        AccuracyInputError, match="audit task 2 has confidence 0.9, so it was not accepted at the threshold 0.92"
    ):
        summarize(VERIFIED, LABELLED, AUDIT, threshold=0.92)
    with pytest.raises(AccuracyInputError, match="audit records were given without the threshold"):
        summarize(VERIFIED, LABELLED, AUDIT, threshold=None)
