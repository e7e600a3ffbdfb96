"""Reading model answers: the messy-response table, offsets, the fuzzy rule and response_format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml_backend.engine.labeling import LabelSpec, parse_label_config
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.postprocess import allowed_edits, edit_distance, parse_response, response_format

TABLE = Path(__file__).parent / "data" / "messy_responses.jsonl"


def _choices(name: str, labels: str, multiple: bool = False) -> str:
    mode = ' choice="multiple"' if multiple else ""
    return f'<Choices name="{name}" toName="text"{mode}>{labels}</Choices>'


def _config(*controls: str) -> LabelSpec:
    return parse_label_config(f'<View><Text name="text" value="$text"/>{"".join(controls)}</View>')


SENTIMENT = _choices(
    "sentiment", '<Choice value="Positive" alias="pos"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/>'
)
TOPICS = _choices(
    "topics",
    '<Choice value="Sports"/><Choice value="Politics"/><Choice value="Science &amp; Tech"/><Choice value="Health"/>',
    multiple=True,
)
SPECS = {
    "sentiment": _config(SENTIMENT),
    "topics": _config(TOPICS),
    "both": _config(SENTIMENT, TOPICS),
    "nli": _config(_choices("nli", '<Choice value="contradiction"/><Choice value="neutral"/>')),
    "spam": _config(_choices("spam", '<Choice value="Spam"/><Choice value="Not Spam"/>')),
    "bank": _config(_choices("bank", '<Choice value="Bank"/><Choice value="Band"/>')),
    "yesno": _config(_choices("yesno", '<Choice value="Yes"/><Choice value="No"/>')),
    "rating": _config(_choices("rating", "".join(f'<Choice value="{n}"/>' for n in range(1, 6)))),
    "genre": _config(
        _choices("genre", '<Choice value="Misinformation"/><Choice value="Satire"/><Choice value="Opinion"/>')
    ),
}
ROWS = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_table_is_large_and_spread() -> None:
    configs = {row["config"] for row in ROWS}
    errors = {row.get("error") for row in ROWS}
    assert len(ROWS) >= 60
    assert {"sentiment", "topics", "both"} <= configs
    assert {None, "format_error", "invalid_label"} == errors


@pytest.mark.parametrize("row", ROWS, ids=[f"{row['id']}-{row['config']}" for row in ROWS])
def test_messy_response(row: dict) -> None:
    spec = SPECS[row["config"]]
    parsed = parse_response(row["content"], spec)
    assert parsed.error == (ErrorClass(row["error"]) if "error" in row else None), parsed.detail
    if "error" in row:
        assert parsed.answers == {}
        if "invalid" in row:
            assert parsed.invalid == row["invalid"]
        return
    assert {name: answer.labels for name, answer in parsed.answers.items()} == row["labels"]
    dropped = {name: answer.dropped for name, answer in parsed.answers.items() if answer.dropped}
    assert dropped == row.get("dropped", {})
    assert ("read " in parsed.detail) == row.get("fuzzy", False), parsed.detail
    for name, answer in parsed.answers.items():
        control = spec.control(name)
        assert answer.texts == [control.text_of(value) for value in answer.labels]
        assert len(answer.offsets) == len(answer.labels)


@pytest.mark.parametrize("row", [r for r in ROWS if "labels" in r and not r.get("fuzzy")], ids=lambda r: str(r["id"]))
def test_offsets_point_at_the_written_label(row: dict) -> None:
    spec = SPECS[row["config"]]
    content = row["content"]
    for name, answer in parse_response(content, spec).answers.items():
        control = spec.control(name)
        for value, offset in zip(answer.labels, answer.offsets, strict=True):
            assert offset is not None
            written = content[offset:].casefold()
            label = next(lb for lb in control.labels if lb.value == value)
            assert written.startswith(label.text.casefold()) or written.startswith(label.value.casefold())


def test_offsets_for_json_in_prose_and_lists() -> None:
    content = 'Answer: {"sentiment": "Negative", "topics": ["Health", "Politics"]}'
    parsed = parse_response(content, SPECS["both"])
    assert parsed.answers["sentiment"].offsets == [content.index("Negative")]
    assert parsed.answers["topics"].offsets == [content.index("Health"), content.index("Politics")]


def test_offset_of_a_repeated_value_is_the_one_under_its_key() -> None:
    # "Positive" first appears inside the reasoning text; the label's offset is the value of "sentiment".
    content = '{"reasoning": "Positive words", "sentiment": "Positive"}'
    parsed = parse_response(content, SPECS["sentiment"])
    assert parsed.answers["sentiment"].offsets == [content.rindex("Positive")]


def test_offset_is_none_when_json_escapes_hide_the_text() -> None:
    content = '{"topics": ["Science \\u0026 Tech"]}'
    parsed = parse_response(content, SPECS["topics"])
    assert parsed.answers["topics"].labels == ["Science & Tech"]
    assert parsed.answers["topics"].offsets == [None]


def test_labels_keep_the_written_order_when_offsets_are_unknown() -> None:
    content = '{"topics": "Helth, Sports\\u0021"}'  # the escape hides the value's text: no offsets
    parsed = parse_response(content, SPECS["topics"])
    assert parsed.answers["topics"].labels == ["Health", "Sports"]
    assert parsed.answers["topics"].offsets == [None, None]


def test_offset_of_a_fuzzy_match_is_where_the_typo_starts() -> None:
    content = "I would say Negitive overall"
    parsed = parse_response(content, SPECS["sentiment"])
    assert parsed.answers["sentiment"].offsets == [content.index("Negitive")]
    assert "read 'Negitive' as 'Negative'" in parsed.detail


def test_none_content_is_a_format_error() -> None:
    parsed = parse_response(None, SPECS["sentiment"])
    assert parsed.error is ErrorClass.FORMAT_ERROR
    assert parsed.detail == "empty response"


def test_invalid_label_detail_names_the_control_and_the_text() -> None:
    parsed = parse_response('{"sentiment": "Ecstatic"}', SPECS["sentiment"])
    assert parsed.error is ErrorClass.INVALID_LABEL
    assert "'sentiment'" in parsed.detail and "Ecstatic" in parsed.detail


def test_two_labels_detail_names_both() -> None:
    parsed = parse_response("Positive, Negative", SPECS["sentiment"])
    assert parsed.detail == "single-choice 'sentiment' answered with 'Positive' and 'Negative'"


def test_missing_control_detail_lists_it() -> None:
    parsed = parse_response('{"sentiment": "Positive"}', SPECS["both"])
    assert parsed.detail == "JSON answer has no key for 'topics' (keys: sentiment)"


def test_prose_after_a_list_is_not_counted_as_dropped() -> None:
    content = "Topics: Sports, Politics. The article discusses the election and a football match."
    parsed = parse_response(content, SPECS["topics"])
    assert parsed.answers["topics"].labels == ["Sports", "Politics"]
    assert parsed.answers["topics"].dropped == []


def test_dropped_entries_keep_their_written_form_and_are_noted() -> None:
    parsed = parse_response('["Sports", "  Cooking ", "Knitting"]', SPECS["topics"])
    assert parsed.answers["topics"].dropped == ["Cooking", "Knitting"]
    assert parsed.detail == "dropped unknown label(s) for 'topics': 'Cooking', 'Knitting'"


@pytest.mark.parametrize(
    ("label", "edits"),
    [("Yes", 0), ("Spam", 1), ("Neutral", 1), ("Positive", 2), ("Misinformation", 2), ("Not Spam", 2)],
)
def test_allowed_edits_by_label_length(label: str, edits: int) -> None:
    assert allowed_edits(label) == edits


@pytest.mark.parametrize(
    ("a", "b", "limit", "distance"),
    [
        ("positive", "positive", 2, 0),
        ("postive", "positive", 2, 1),  # one deletion
        ("psoitive", "positive", 2, 1),  # one transposition (plain Levenshtein would say 2)
        ("negitive", "negative", 2, 1),  # one substitution
        ("negitive", "positive", 2, 3),  # three substitutions: capped at limit + 1
        ("satyr", "satire", 1, 2),  # substitution + insertion, above the limit of 1
        ("entailment", "neutral", 2, 3),  # length gap alone exceeds the limit
    ],
)
def test_edit_distance(a: str, b: str, limit: int, distance: int) -> None:
    assert edit_distance(a, b, limit) == distance


def test_response_format_schema() -> None:
    spec = _config(SENTIMENT, TOPICS)
    assert response_format(spec) == {
        "type": "json_schema",
        "json_schema": {
            "name": "labels",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "sentiment": {"type": "string", "enum": ["Positive", "Negative", "Neutral"]},
                    "topics": {
                        "type": "array",
                        "items": {"type": "string", "enum": ["Sports", "Politics", "Science & Tech", "Health"]},
                    },
                },
                "required": ["sentiment", "topics"],
                "additionalProperties": False,
            },
        },
    }


def test_response_format_enum_has_no_duplicate_texts() -> None:
    spec = _config(
        _choices("tone", '<Choice value="Calm" alias="a"/><Choice value="Calm" alias="b"/><Choice value="Angry"/>')
    )
    assert response_format(spec)["json_schema"]["schema"]["properties"]["tone"]["enum"] == ["Calm", "Angry"]


def test_answer_in_the_response_format_parses_back() -> None:
    spec = SPECS["both"]
    schema = response_format(spec)["json_schema"]["schema"]["properties"]
    answer = {"sentiment": schema["sentiment"]["enum"][1], "topics": schema["topics"]["items"]["enum"][2:]}
    parsed = parse_response(json.dumps(answer), spec)
    assert parsed.error is None
    assert {name: a.labels for name, a in parsed.answers.items()} == {
        "sentiment": ["neg"],
        "topics": ["Science & Tech", "Health"],
    }
