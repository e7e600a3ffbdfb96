"""Confidence per element, against values computed by hand from the logprobs given.

Each answer is spelled by its tokens exactly; at the deciding token ``top_logprobs`` lists the
alternatives with the probabilities written beside each test."""

from __future__ import annotations

import math

import pytest

from ml_backend.engine.answers import score_answer, to_ls_results
from ml_backend.engine.labeling import parse_label_config

TEXT = "Tom met Ana in Lyon."
CONFIG = """<View><Text name="text" value="$text"/>
<Labels name="ner" toName="text"><Label value="Person" alias="PER"/><Label value="Organisation" alias="ORG"/>
<Label value="Location" alias="LOC"/></Labels>
<Rating name="stars" toName="text" maxRating="5"/>
<Number name="n" toName="text" min="0" max="1" step="0.5"/>
<Taxonomy name="where" toName="text"><Choice value="Europe"><Choice value="France"/><Choice value="Spain"/></Choice>
<Choice value="Asia"/></Taxonomy>
<TextArea name="summary" toName="text"/>
</View>"""
SPEC = parse_label_config(CONFIG)


def tok(text: str, p: float = 0.999, *alternatives: tuple[str, float]) -> dict[str, object]:
    """A token generated with probability ``p``; ``alternatives`` are the other listed tokens."""
    top = [{"token": text, "logprob": math.log(p)}] + [{"token": t, "logprob": math.log(q)} for t, q in alternatives]
    return {"token": text, "logprob": math.log(p), "top_logprobs": top}


TOKENS = [
    tok('{"ner": [{"text": "Tom", "label": "'),
    # Person 0.6, Location 0.2, '"' 0.1 (no label); Organisation unseen: adds the smallest listed, 0.1.
    tok("Person", 0.6, ("Location", 0.2), ('"', 0.1)),            # 0.6 / (0.6 + 0.2 + 0.1) = 2/3
    tok('"}, {"text": "Lyon", "label": "'),
    tok("Location", 0.5, ("Person", 0.4), ("Organisation", 0.1)),  # 0.5 / 1.0
    tok('"}], "stars": '),
    # 4: 0.5, 5: 0.3, 3: 0.1, '}' 0.05 (no label); 1 and 2 unseen add 0.05 each.
    tok("4", 0.5, ("5", 0.3), ("3", 0.1), ("}", 0.05)),           # 0.5 / (0.5 + 0.3 + 0.1 + 0.1) = 0.5
    tok(', "n": '),
    tok("0", 0.7, ("1", 0.3)),       # "0" is shared by 0 and 0.5: S = 0.7, O = 0.3
    tok(".5", 0.6, ("}", 0.4)),      # after "0": ".5" only 0.5 (0.6), "}" ends at 0 (0.4): f = 0.6
    tok(', "where": ["'),            # n: (0.7 * 0.6) / (0.7 + 0.3) = 0.42
    tok("Europe", 0.9, ("Asia", 0.1)),   # shared by both Europe paths: S = 0.9, O = 0.1
    tok(" >", 0.999),                     # still shared, nothing else listed
    tok(" France", 0.75, (" Spain", 0.25)),  # path: 0.9 * 0.75 = 0.675
    tok('"], "summary": "'),
    tok("Tom", 0.9), tok(" left", 0.6), tok(" early", 0.3),  # mean token probability 0.6
    tok('"}'),
]
CONTENT = "".join(str(t["token"]) for t in TOKENS)


def test_each_element_has_its_hand_computed_confidence() -> None:
    answer = score_answer(SPEC, CONTENT, TOKENS, inputs={"text": TEXT})
    assert answer.error is None, answer.detail
    assert [(s["text"], s["label"]) for s in answer.spans["ner"]] == [("Tom", "PER"), ("Lyon", "LOC")]
    assert [s["confidence"] for s in answer.spans["ner"]] == pytest.approx([2 / 3, 0.5])
    assert answer.confidence["ner"] == pytest.approx(0.5)  # the lowest span
    assert answer.confidence["stars"] == pytest.approx(0.5)
    assert answer.confidence["n"] == pytest.approx(0.42)
    assert answer.confidence["where"] == pytest.approx(0.675)
    assert answer.per_label["where"] == {"Europe > France": pytest.approx(0.675)}
    assert answer.confidence["summary"] == pytest.approx(0.6)
    assert answer.methods == {"ner": "logprobs", "stars": "logprobs", "n": "logprobs", "where": "logprobs",
                              "summary": "mean_token_prob"}
    assert answer.score == pytest.approx(0.42)  # the lowest over controls


def test_each_region_carries_its_own_score_and_the_contract_fields() -> None:
    answer = score_answer(SPEC, CONTENT, TOKENS, inputs={"text": TEXT})
    results = to_ls_results(SPEC, answer, {"text": TEXT})
    spans = [r for r in results if r["type"] == "labels"]
    assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in spans] == [
        (0, 3, ["PER"]), (15, 19, ["LOC"])]
    assert [r["score"] for r in spans] == pytest.approx([2 / 3, 0.5])
    others = {r["type"]: r["value"] for r in results if r["type"] != "labels"}
    assert others == {"rating": {"rating": 4}, "number": {"number": 0.5},
                      "taxonomy": {"taxonomy": [["Europe", "France"]]}, "textarea": {"text": ["Tom left early"]}}
    assert answer.labels == {"ner": ["LOC", "PER"], "stars": ["4"], "n": ["0.5"], "where": ["Europe", "France"],
                             "summary": []}
    assert answer.numbers == {"stars": 4, "n": 0.5} and answer.paths == {"where": [["Europe", "France"]]}
    assert answer.texts == {"summary": ["Tom left early"]}


def test_self_consistency_is_the_share_of_samples_agreeing_per_element() -> None:
    chosen = '{"ner": [{"text": "Tom", "label": "Person"}], "stars": 4, "n": 1, "where": ["Asia"], "summary": "Tom"}'
    other = '{"ner": [{"text": "Ana", "label": "Person"}], "stars": 4, "n": 0, "where": ["Asia"], "summary": "tom "}'
    third = '{"ner": [{"text": "Tom", "label": "Location"}], "stars": 2, "n": 1, "where": ["Asia"], "summary": "x"}'
    answer = score_answer(SPEC, chosen, None, [chosen, other, third, None], inputs={"text": TEXT})
    assert answer.method == "self_consistency"
    assert answer.spans["ner"][0]["confidence"] == pytest.approx(1 / 4)  # only the chosen sample holds Tom/PER
    assert answer.confidence["stars"] == pytest.approx(2 / 4)
    assert answer.confidence["n"] == pytest.approx(2 / 4)
    assert answer.confidence["where"] == pytest.approx(3 / 4)
    assert answer.confidence["summary"] == pytest.approx(2 / 4)  # case and spaces ignored
    assert answer.methods["summary"] == "self_consistency"


def test_an_empty_span_list_is_scored_by_the_token_closing_it() -> None:
    spec = parse_label_config(CONFIG.split("<Rating")[0] + "</View>")
    tokens = [tok('{"ner": ['), tok("]", 0.7, ('{"', 0.3)), tok("}")]
    answer = score_answer(spec, '{"ner": []}', tokens, inputs={"text": TEXT})
    assert answer.spans == {"ner": []} and answer.labels == {"ner": []}
    assert answer.confidence["ner"] == pytest.approx(0.7) and answer.methods["ner"] == "empty_list"


def test_off_range_numbers_and_ratings_are_invalid_never_clamped() -> None:
    for content, problem in (('{"stars": 6}', "from 1 to 5"), ('{"stars": 2.5}', "multiple of step 1"),
                             ('{"n": 0.7}', "multiple of step 0.5"), ('{"n": -1}', "from 0 to 1")):
        spec = parse_label_config(CONFIG.split("<Labels")[0] + CONFIG[CONFIG.index("<Rating"):CONFIG.index("<Taxonomy")]
                                  + "</View>")
        full = content[:-1] + (', "n": 0}' if "stars" in content else ', "stars": 3}')
        answer = score_answer(spec, full, None)
        assert answer.error is not None and answer.error.value == "invalid_label" and problem in answer.detail
