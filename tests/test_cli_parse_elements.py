"""``lsagent parse`` with every kind of control: spans placed in the line's task data, free
texts, numbers and taxonomy paths beside the Choices' labels."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ml_backend.cli import main

CONFIG = """<View><Text name="review" value="$body"/>
<Labels name="ner" toName="review"><Label value="Person" alias="PER"/><Label value="Location" alias="LOC"/></Labels>
<TextArea name="summary" toName="review"/>
<Rating name="stars" toName="review" maxRating="5"/>
<Number name="year" toName="review" min="1990" max="2030"/>
<Taxonomy name="where" toName="review"><Choice value="Europe"><Choice value="France"/></Choice>
<Choice value="Asia"/></Taxonomy>
<Choices name="sentiment" toName="review"><Choice value="Positive"/><Choice value="Negative"/></Choices>
</View>"""
TEXT = "Lyon was lovely, said Tom, back in Lyon in 2019."


def answer(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "ner": [{"text": "Lyon", "label": "Location"}, {"text": "Tom", "label": "Person"},
                {"text": "Lyon", "label": "Location"}],
        "summary": "Tom liked Lyon.", "stars": 5, "year": 2019, "where": ["Europe > France"], "sentiment": "Positive",
    }
    values.update(overrides)
    return json.dumps(values)


def run(tmp_path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    lines = "\n".join(json.dumps(record) for record in records) + "\n"
    result = CliRunner().invoke(main, ["parse", "--config", str(config)], input=lines)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_every_control_has_its_place_in_the_line(tmp_path: Path) -> None:
    [line] = run(tmp_path, [{"content": answer(), "data": {"body": TEXT}}])
    assert line["error"] is None, line["detail"]
    assert line["labels"] == {"sentiment": ["Positive"]}
    assert line["spans"] == {"ner": [
        {"start": 0, "end": 4, "text": "Lyon", "label": "LOC", "confidence": None},
        {"start": 22, "end": 25, "text": "Tom", "label": "PER", "confidence": None},
        {"start": 35, "end": 39, "text": "Lyon", "label": "LOC", "confidence": None},
    ]}
    assert line["texts"] == {"summary": ["Tom liked Lyon."]}
    assert line["numbers"] == {"stars": 5, "year": 2019}
    assert line["paths"] == {"where": [["Europe", "France"]]}
    assert set(line["confidence"]) == {"ner", "summary", "stars", "year", "where", "sentiment"}


def test_span_not_found_only_when_every_listed_span_of_a_control_is_dropped(tmp_path: Path) -> None:
    some, none, empty = run(tmp_path, [
        {"content": answer(ner=[{"text": "Tom", "label": "Person"}, {"text": "Paris", "label": "Location"}]),
         "data": {"body": TEXT}},
        {"content": answer(ner=[{"text": "Paris", "label": "Location"}]), "data": {"body": TEXT}},
        {"content": answer(ner=[]), "data": {"body": TEXT}},
    ])
    assert some["error"] is None and [s["text"] for s in some["spans"]["ner"]] == ["Tom"]
    assert "'Paris' as 'Location': not in the text" in some["detail"]
    assert none["error"] == "span_not_found" and none["spans"] == {} and "Paris" in none["detail"]
    assert empty["error"] is None and empty["spans"] == {"ner": []}


def test_spans_need_the_task_data_and_off_range_numbers_are_errors(tmp_path: Path) -> None:
    no_data, bad_year, blank = run(tmp_path, [
        {"content": answer()},
        {"content": answer(year=2031), "data": {"body": TEXT}},
        {"content": answer(), "data": {"body": "  "}},
    ])
    assert no_data["error"] == "empty_input" and "no task text for 'review'" in no_data["detail"]
    assert bad_year["error"] == "invalid_label" and "'year' must be from 1990 to 2030, got 2031" in bad_year["detail"]
    assert blank["error"] == "empty_input" and "'body'" in blank["detail"]


def test_span_confidence_from_logprobs_in_a_whole_chat_completion(tmp_path: Path) -> None:
    content = '{"ner": [{"text": "Tom", "label": "Person"}], "summary": "x", "stars": 5, "year": 2019, ' \
              '"where": "Asia", "sentiment": "Positive"}'
    head, tail = content.split("Person", 1)
    tokens = [{"token": head, "logprob": 0.0, "top_logprobs": [{"token": head, "logprob": 0.0}]},
              {"token": "Person", "logprob": math.log(0.8),
               "top_logprobs": [{"token": "Person", "logprob": math.log(0.8)},
                                {"token": "Location", "logprob": math.log(0.2)}]},
              {"token": tail, "logprob": 0.0, "top_logprobs": []}]
    completion = {"choices": [{"message": {"content": content}, "logprobs": {"content": tokens}}],
                  "data": {"body": TEXT}}
    [line] = run(tmp_path, [completion])
    assert line["spans"]["ner"][0]["confidence"] == 0.8 and line["confidence"]["ner"] == 0.8


def test_data_that_is_not_an_object_stops_with_its_line_number(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(main, ["parse", "--config", str(config)],
                                input=json.dumps({"content": answer(), "data": "Tom"}) + "\n")
    assert result.exit_code == 2 and "line 1: 'data' must be an object" in result.output
