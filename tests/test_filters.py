"""sync.filters against what Label Studio's web app accepts, read from its installed bundle."""

import pytest

from sync import filters
from sync.repair import rewritten
from sync.review import MAX_RUNS, ReviewTooLarge, bounded_filters, review_filters
from tests.webapp_bundle import problems, webapp


def test_the_operators_called_webapp_safe_are_those_the_bundle_accepts():
    accepted = webapp()
    assert filters.WEBAPP_OPERATORS == accepted.operators
    assert filters.API_OPERATORS - accepted.operators == {"in_list", "not_in_list"}
    assert filters.WEBAPP_TYPES <= accepted.types and set(filters.CONJUNCTIONS) == accepted.conjunctions
    assert accepted.child_filter


@pytest.mark.parametrize("operator", sorted(filters.API_OPERATORS))
def test_check_webapp_refuses_exactly_what_the_bundle_refuses(operator):
    view = filters.combine([filters.item("id", operator, 1)])
    assert (filters.webapp_problems(view) == []) == (problems(view) == [])


ID_SETS = [[], [7], [3, 4, 5], [1, 2, 3, 9, 11, 12, 40], list(range(2, 2 * MAX_RUNS, 2)), list(range(5, 20_005))]


def _every_saved_filter():
    """Every filters object the service can save: review views of any task set, the filter
    descriptions the review kinds offer, plain id sets, and repaired legacy views."""
    for ids in ID_SETS:
        yield review_filters(ids)
        yield filters.ids_any(ids)
        for description in (filters.score_below(0.7), filters.item("predictions_score", "less_or_equal", 0.4),
                            filters.prediction_label("Negative")):
            yield bounded_filters([description], ids)
        legacy = filters.combine([filters.ids_in(ids), filters.unlabeled()])
        yield rewritten(legacy)


def test_every_filter_the_service_saves_loads_in_the_webapp():
    saved = list(_every_saved_filter())
    assert len(saved) == 6 * len(ID_SETS)
    for chosen in saved:
        assert chosen is not None and problems(chosen) == [] and filters.webapp_problems(chosen) == []


def test_review_filters_select_exactly_the_ids_and_only_unannotated():
    chosen = review_filters([12, 3, 4, 5, 9, 10])
    assert chosen["conjunction"] == "or"
    assert [(entry["operator"], entry["value"]) for entry in chosen["items"]] == [
        ("in", {"min": 3, "max": 5}), ("in", {"min": 9, "max": 10}), ("equal", 12)]
    assert all(entry["child_filter"] == filters.unlabeled() for entry in chosen["items"])
    assert review_filters([])["items"] == [filters.with_child(filters.no_task(), filters.unlabeled())]


def test_a_set_too_scattered_for_one_view_is_refused():
    assert len(review_filters(range(2, 2 * MAX_RUNS + 2, 2))["items"]) == MAX_RUNS
    with pytest.raises(ReviewTooLarge, match=f"{MAX_RUNS + 1} separate runs"):
        review_filters(range(2, 2 * MAX_RUNS + 4, 2))


def test_legacy_views_are_rewritten_only_in_their_known_shape():
    legacy = filters.combine([filters.ids_in([4, 5, 8]), filters.unlabeled()])
    assert rewritten(legacy) == review_filters([4, 5, 8])
    assert rewritten(filters.combine([filters.ids_in([4])])) == filters.ids_any([4])
    assert rewritten(filters.combine([filters.ids_in([4]), filters.score_below(0.5)])) is None
    assert rewritten(filters.combine([filters.ids_in([4]), filters.unlabeled()], "or")) is None
    assert rewritten(filters.combine([filters.ids_in(range(1, 2000, 2)), filters.unlabeled()])) is None
