"""``lsagent parse``: the offline post-processing debugger, and the stability of its output shape."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from ml_backend.cli import main

CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/></Choices></View>'
)


def _token(text: str, logprob: float, top: list[tuple[str, float]]) -> dict:
    return {
        "token": text,
        "logprob": logprob,
        "bytes": list(text.encode()),
        "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in top],
    }


def _run(tmp_path: Path, lines: list[str]) -> list[dict]:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(main, ["parse", "--config", str(config)], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_one_line_per_input_in_the_documented_shape(tmp_path: Path) -> None:
    # Label token "Positive" with p=0.6; "Negative" 0.3; a non-label quote token 0.05 left out;
    # Neutral unseen, at most the smallest listed 0.05: confidence = 0.6 / (0.6 + 0.3 + 0.05).
    logprobs = [
        _token('{"', 0.0, [('{"', 0.0)]),
        _token("sentiment", 0.0, [("sentiment", 0.0)]),
        _token('":"', 0.0, [('":"', 0.0)]),
        _token("Positive", math.log(0.6), [("Positive", math.log(0.6)), ("Negative", math.log(0.3)),
                                           ('"', math.log(0.05))]),
        _token('"}', 0.0, [('"}', 0.0)]),
    ]
    lines = [
        json.dumps({"content": '{"sentiment":"Positive"}', "logprobs": logprobs}),
        json.dumps({"content": "Sentiment: postive."}),
        json.dumps({"content": "It is Positive and Negative."}),
        json.dumps({"content": "I'm sorry, I cannot decide what this text is about, it is too short!"}),
    ]
    good, typo, two, prose = _run(tmp_path, lines)
    assert set(good) == {"labels", "confidence", "error", "detail"}
    assert good["labels"] == {"sentiment": ["Positive"]} and good["error"] is None
    assert abs(good["confidence"]["sentiment"] - 0.6 / 0.95) < 1e-9
    assert typo["labels"] == {"sentiment": ["Positive"]} and typo["confidence"] == {"sentiment": None}
    assert two["error"] == "invalid_label" and two["labels"] == {}
    assert prose["error"] == "format_error"


def test_a_line_that_is_not_an_answer_stops_with_its_line_number(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    result = CliRunner().invoke(main, ["parse", "--config", str(config)], input='{"content": "Positive"}\n[1, 2]\n')
    assert result.exit_code == 2
    assert "line 2" in result.output


def test_an_unusable_config_is_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text('<View><Text name="t" value="$text"/></View>')
    result = CliRunner().invoke(main, ["parse", "--config", str(config)], input="")
    assert result.exit_code == 1
    assert "supported are Choices" in result.output


def test_the_three_shapes_of_logprobs_give_the_same_line(tmp_path: Path) -> None:
    """``logprobs`` as the ``content`` list, as the whole ``logprobs`` object, or a whole
    chat-completion response: the same answer and confidence, 0.6 / (0.6 + 0.3) as above."""
    content = '{"sentiment":"Positive"}'
    tokens = [
        _token('{"sentiment":"', 0.0, [('{"sentiment":"', 0.0)]),
        _token("Positive", math.log(0.6), [("Positive", math.log(0.6)), ("Negative", math.log(0.3)),
                                           ("Neutral", math.log(0.05))]),
        _token('"}', 0.0, [('"}', 0.0)]),
    ]
    whole = {"content": tokens, "refusal": None}
    response = {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "logprobs": whole, "finish_reason": "stop"}]}
    lines = [json.dumps({"content": content, "logprobs": tokens}), json.dumps({"content": content, "logprobs": whole}),
             json.dumps(response)]
    outputs = _run(tmp_path, lines)
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0]["labels"] == {"sentiment": ["Positive"]}
    assert outputs[0]["confidence"]["sentiment"] == pytest.approx(0.6 / 0.95)


def test_a_missing_content_is_reported_as_such(tmp_path: Path) -> None:
    config = tmp_path / "config.xml"
    config.write_text(CONFIG)
    for line, message in (('{"text": "Positive"}', "no 'content'"),
                          ('{"choices": [{"message": {"role": "assistant"}}]}', "has no message content"),
                          ('{"content": "Positive", "logprobs": "oops"}', "'logprobs' must be a list")):
        result = CliRunner().invoke(main, ["parse", "--config", str(config)], input=line + "\n")
        assert result.exit_code == 2 and "line 1" in result.output and message in result.output, result.output
