"""Placing listed entities at exact offsets (``engine.spans``), through the whole reading of an
answer (``answers.score_answer``): 46 messy answers of our own in tests/data/messy_spans.jsonl,
each with the spans expected (offsets checked by hand) and how many listings are dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_backend.engine.answers import score_answer, to_ls_results
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.spans import Listing, candidates, place

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "messy_spans.jsonl").read_text().splitlines()]
CONFIG = (
    '<View><Text name="text" value="$text"/><Labels name="ner" toName="text"{choice}>'
    '<Label value="Person" alias="PER"/><Label value="Organisation" alias="ORG"/><Label value="Location" alias="LOC"/>'
    "</Labels></View>"
)
SINGLE = parse_label_config(CONFIG.format(choice=""))
MULTIPLE = parse_label_config(CONFIG.format(choice=' choice="multiple"'))


def test_the_data_file_holds_at_least_40_cases_whose_offsets_spell_their_text() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        for start, end, text, _ in case["spans"]:
            assert case["text"][start:end] == text, case["note"]


@pytest.mark.parametrize("case", CASES, ids=[case["note"] for case in CASES])
def test_a_messy_answer_is_placed_by_the_rule(case: dict[str, Any]) -> None:
    spec = MULTIPLE if case["multiple"] else SINGLE
    answer = score_answer(spec, case["answer"], None, inputs={"text": case["text"]})
    assert (answer.error.value if answer.error else None) == case["error"], answer.detail
    if case["error"] in (None, "span_not_found"):
        assert answer.dropped_spans.get("ner", 0) == case["dropped"]
        assert answer.meta()["dropped_spans"] == ({"ner": case["dropped"]} if case["dropped"] else {})
    if case["error"] is None:
        placed = [[s["start"], s["end"], s["text"], s["label"]] for s in answer.spans["ner"]]
        assert placed == case["spans"]
        assert answer.labels["ner"] == sorted({label for *_, label in case["spans"]})
    else:
        assert answer.labels == {} and answer.spans == {}


def test_an_entity_listed_n_times_takes_its_first_n_unclaimed_occurrences() -> None:
    control = SINGLE.control("ner")
    source = "Bob, Bob and Bob."
    placed = place(source, [Listing("Bob", "Person", i) for i in range(2)], control)
    assert [(s.start, s.end) for s in placed.spans] == [(0, 3), (5, 8)] and not placed.dropped


def test_exact_occurrences_come_before_loose_ones_and_never_inside_a_word() -> None:
    assert candidates("apple Apple APPLE", "Apple") == [(6, 11), (0, 5), (12, 17)]
    assert candidates("Annual report by Ann", "Ann") == [(17, 20)]
    assert candidates("New\n York", " new york ") == [(0, 9)]
    assert candidates("anything", "   ") == []


def test_drops_are_counted_per_reason() -> None:
    placed = place("Tom met Ann.", [Listing("Tom", "Person", 0), Listing("Bob", "Person", 1),
                                    Listing("Ann", "Pet", 2), Listing("Tom", "Location", 3)], SINGLE.control("ner"))
    assert placed.counts == {"span_not_found": 1, "invalid_label": 1, "label_conflict": 1}


def test_a_multi_label_region_is_one_label_studio_region_holding_both_labels() -> None:
    answer = score_answer(MULTIPLE, '{"ner": [{"text": "Jordan", "label": ["Person", "Location"]}]}', None,
                          inputs={"text": "Jordan won."})
    [region] = to_ls_results(MULTIPLE, answer, {"text": "Jordan won."})
    assert region["value"] == {"start": 0, "end": 6, "text": "Jordan", "labels": ["PER", "LOC"]}
    assert region["type"] == "labels" and region["from_name"] == "ner" and region["to_name"] == "text"


def test_label_studio_offsets_count_utf16_units_after_an_emoji() -> None:
    text = "🎉 Party at Acme Bank!"
    answer = score_answer(SINGLE, '{"ner": [{"text": "Acme Bank", "label": "ORG"}]}', None, inputs={"text": text})
    assert answer.spans["ner"][0]["start"] == 11  # Python characters
    [region] = to_ls_results(SINGLE, answer, {"text": text})
    assert (region["value"]["start"], region["value"]["end"]) == (12, 21)  # the emoji is two UTF-16 units


def test_spans_without_the_task_text_cannot_be_placed() -> None:
    answer = score_answer(SINGLE, '{"ner": [{"text": "Tom", "label": "PER"}]}', None)
    assert answer.error is not None and answer.error.value == "empty_input"
    assert "no task text" in answer.detail
