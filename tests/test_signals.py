"""Uncertainty signals: hand-computed margin and P(yes), the selection of the agent's confidence,
and self-verification through the simulator (real openai client over HTTP)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ml_backend.engine import agents, selfverify, signals
from ml_backend.engine.answers import score_answer
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.llm import LLMClient
from ml_backend.engine.modelconfig import Capabilities, ModelConfig
from ml_backend.review.combined import CombinedModel

CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="Positive" alias="pos"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/>'
    "</Choices></View>"
)
SPEC = parse_label_config(CONFIG)
CAPS = Capabilities(response_format="json_schema", logprobs=True, top_logprobs=5, seed=False, choices=True)
FORCED = "Lovely. [[sim:label=Negative]] [[sim:confidence=0.8]]"


def token(text: str, p: float, top: dict[str, float] | None = None) -> dict[str, Any]:
    return {"token": text, "logprob": math.log(p),
            "top_logprobs": [{"token": t, "logprob": math.log(q)} for t, q in (top or {text: p}).items()]}


def answer_tokens(key: str, pieces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [token('{"', 0.999), token(key, 0.999), token('":"', 0.999), *pieces, token('"}', 0.999)]


# --- P(yes), by hand ----------------------------------------------------------------------------

def test_p_yes_is_yes_normalised_over_yes_and_no_at_the_verdict_token() -> None:
    logprobs = answer_tokens("verdict", [token("yes", 0.6, {"yes": 0.6, "no": 0.3, '"': 0.05})])
    assert selfverify.p_yes('{"verdict":"yes"}', logprobs, None) == pytest.approx(0.6 / 0.9)


def test_p_yes_of_a_no_answer_is_one_minus_p_no() -> None:
    logprobs = answer_tokens("verdict", [token("no", 0.7, {"no": 0.7, " Yes": 0.2, "The": 0.05})])
    assert selfverify.p_yes('{"verdict":"no"}', logprobs, None) == pytest.approx(1 - 0.7 / 0.9)


def test_p_yes_without_logprobs_is_the_share_of_readable_sampled_verdicts() -> None:
    samples = ['{"verdict":"yes"}', '{"verdict":"no"}', "I cannot tell.", '{"verdict":"yes"}']
    assert selfverify.p_yes(None, None, samples) == pytest.approx(2 / 3)
    assert selfverify.p_yes(None, None, ["I cannot tell.", None]) is None


def test_the_question_is_locked_and_names_options_and_proposed_labels() -> None:
    text = selfverify.question(SPEC, "Classify reviews.", {"sentiment": ["neg"]})
    assert "## Options for: sentiment\n- Positive\n- Negative\n- Neutral" in text
    assert "## Proposed label for: sentiment\n- Negative" in text
    assert text.startswith("Classify reviews.") and text.endswith('{"verdict": "no"} if not.')


# --- margin, by hand -----------------------------------------------------------------------------

def _margin(top: dict[str, float]) -> tuple[float | None, float | None]:
    content = '{"sentiment":"Positive"}'
    logprobs = answer_tokens("sentiment", [token("Pos", top["Pos"], top), token("itive", 0.999)])
    answer = score_answer(SPEC, content, logprobs)
    return answer.score, signals.margin(SPEC, answer, content, logprobs, None)


def test_margin_is_the_chosen_probability_minus_the_best_rivals() -> None:
    label, margin = _margin({"Pos": 0.6, "Neg": 0.25, "Neu": 0.1, '"': 0.05})
    assert label == pytest.approx(0.6 / 0.95)
    # rivals share what Positive leaves (0.35/0.95) as 0.25 : 0.1, so Negative has 0.25/0.95
    assert margin == pytest.approx((0.6 - 0.25) / 0.95)


def test_a_rival_never_listed_takes_all_that_is_left() -> None:
    label, margin = _margin({"Pos": 0.9, '"': 0.1})
    assert label == pytest.approx(0.9 / 1.1)  # two unseen labels bounded by the smallest listed, 0.1 each
    assert margin == pytest.approx(0.9 / 1.1 - 0.2 / 1.1)


def test_margin_from_samples_is_the_difference_of_shares() -> None:
    samples = ['{"sentiment":"Positive"}'] * 3 + ['{"sentiment":"Negative"}', '{"sentiment":"Neutral"}']
    answer = score_answer(SPEC, '{"sentiment":"Positive"}', None, samples)
    assert answer.method == "self_consistency" and answer.score == pytest.approx(0.6)
    assert signals.margin(SPEC, answer, None, None, samples) == pytest.approx(0.4)


# --- the agent's confidence ---------------------------------------------------------------------

def test_the_default_confidence_keeps_agent_ids_and_another_makes_a_new_agent() -> None:
    assert ModelConfig(model="m", confidence="label").identity() == ModelConfig(model="m").identity()
    assert ModelConfig(model="m", confidence="self_verify").identity()["confidence"] == "self_verify"


SPANS_AND_TEXT = (
    '<View><Text name="text" value="$text"/><Labels name="entities" toName="text"><Label value="PER"/></Labels>'
    '<TextArea name="summary" toName="text"/></View>'
)


def test_signals_that_compare_label_choices_are_refused_for_other_controls() -> None:
    with pytest.raises(agents.AgentValidationError, match="confidence: confidence 'margin' .* labels, textarea"):
        agents.draft(name="ner", project=1, label_config=SPANS_AND_TEXT,
                     config=ModelConfig(model="m", confidence="margin"))
    assert agents.draft(name="ner", project=1, label_config=SPANS_AND_TEXT, config=ModelConfig(model="m")).spec


def test_a_config_without_choices_has_no_margin_and_no_consistency() -> None:
    """The job that crashed on every task: margin read a free-text control as if it had labels."""
    spec = parse_label_config(SPANS_AND_TEXT)
    content = '{"entities":[{"text":"Ann","label":"PER"}],"summary":"Ann is here."}'
    answer = score_answer(spec, content, None, [content, content], {"text": "Ann is here."})
    assert answer.error is None and answer.spans["entities"][0]["start"] == 0
    found = signals.read_signals(spec, answer, {"content": content, "samples": [content, content]})
    assert found["margin"] is None and found["consistency"] is None and found["label"] == answer.score


def test_an_unreadable_signal_falls_back_to_the_label_probability_and_says_why() -> None:
    answer = score_answer(SPEC, '{"sentiment":"Positive"}', None, ['{"sentiment":"Positive"}'] * 2)
    found = {"label": answer.score, "self_verify": None, "self_verify_error": "api_error (status 500)"}
    kept = signals.select("self_verify", answer, found, None)
    assert kept.score == answer.score and found["selected"] == "label"
    assert found["fallback"] == "self_verify: api_error (status 500); the label probability is used"


def test_combined_uses_the_fitted_model_or_says_it_has_none() -> None:
    answer = score_answer(SPEC, '{"sentiment":"Positive"}', None, ['{"sentiment":"Positive"}'] * 2)
    found = {"label": 0.9, "margin": 0.8, "self_verify": 0.2}
    model = CombinedModel((1.0, 1.0, 2.0), -2.0, n=40)
    chosen = signals.select("combined", answer, found, model)
    assert chosen.score == pytest.approx(1 / (1 + math.exp(-(0.9 + 0.8 + 0.4 - 2.0))))
    assert found["selected"] == "combined" and found["combined"] == chosen.score
    waiting = {"label": 0.9, "margin": 0.8, "self_verify": 0.2}
    signals.select("combined", answer, waiting, CombinedModel(n=3, unavailable="3 verified items"))
    assert waiting["selected"] == "label" and waiting["fallback"].startswith("combined: 3 verified items")


# --- through the simulator ----------------------------------------------------------------------

@pytest.fixture
def make_annotator(sim_annotator: Any) -> Any:
    return lambda confidence, model="sim-small", **options: sim_annotator(
        CONFIG, model, confidence=confidence, **({"capabilities": CAPS} | options))


def test_self_verification_is_a_second_call_whose_p_yes_becomes_the_score(make_annotator: Any, sim: Any) -> None:
    annotator = make_annotator("self_verify")
    outcome = annotator.annotate({"id": 1, "data": {"text": FORCED}})
    found = outcome.meta["signals"]
    assert sim.stats()["requests"] == 2
    asked = sim.stats()["last_request"]["messages"]
    assert "## Proposed label for: sentiment\n- Negative" in asked[0]["content"] and asked[1]["content"] == FORCED
    # the simulator's second look gives the forced label its forced probability, 0.8
    assert found["self_verify"] == pytest.approx(0.8, abs=1e-3) and found["selected"] == "self_verify"
    assert outcome.score == found["self_verify"] and outcome.results[0]["score"] == outcome.score
    assert found["label"] == pytest.approx(0.8, abs=1e-4) and found["margin"] == pytest.approx(0.7, abs=1e-3)
    cost = found["cost"]["self_verify"]
    assert cost["calls"] == 1 and cost["prompt_tokens"] > 0 and cost["completion_tokens"] > 0
    assert outcome.tokens_in == sim.stats()["prompt_tokens"]  # both calls are billed to the task
    again = annotator.annotate({"id": 1, "data": {"text": FORCED}})
    assert again.cached and again.meta["signals"]["self_verify"] == found["self_verify"]
    assert sim.stats()["requests"] == 2


def test_a_wrong_proposed_label_gets_a_low_p_yes(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_KEY", sim.api_key)
    client = LLMClient(ModelConfig(model="sim-small", base_url=sim.base_url, api_key_env="SIM_KEY", capabilities=CAPS))
    task = [{"role": "system", "content": "labels"},
            {"role": "user", "content": "Wonderful, excellent, I love it: the best purchase I ever made."}]
    right = selfverify.ask(client, selfverify.messages(SPEC, "", task, {"sentiment": ["pos"]}), 5, 0.0)
    wrong = selfverify.ask(client, selfverify.messages(SPEC, "", task, {"sentiment": ["neg"]}), 5, 0.0)
    assert right["method"] == "logprobs" and right["p_yes"] > 0.8
    assert wrong["p_yes"] < 0.2 and wrong["error"] is None


def test_without_logprobs_self_verification_samples_verdicts(make_annotator: Any, sim: Any) -> None:
    outcome = make_annotator("self_verify", "sim-nologprobs", consistency_samples=4).annotate(
        {"id": 2, "data": {"text": "Great product, works perfectly."}})
    found = outcome.meta["signals"]
    assert sim.stats()["requests"] == 4  # answer, its samples, the question, its sampled verdicts
    shares = found["self_verify"] * 4
    assert found["self_verify"] is not None and shares == pytest.approx(round(shares))
    assert found["cost"]["self_verify"]["calls"] == 2


def test_margin_and_consistency_agents_push_their_signal(make_annotator: Any, sim: Any) -> None:
    margin = make_annotator("margin").annotate({"id": 3, "data": {"text": FORCED}})
    assert sim.stats()["requests"] == 1  # margin is free
    assert margin.score == pytest.approx(0.7, abs=1e-3) == margin.meta["signals"]["margin"]
    consistency = make_annotator("consistency", consistency_samples=5).annotate({"id": 3, "data": {"text": FORCED}})
    assert sim.stats()["requests"] == 3 and sim.stats()["last_request"]["n"] == 5
    found = consistency.meta["signals"]
    assert consistency.score == found["consistency"] and found["cost"]["consistency"]["calls"] == 1
    assert consistency.meta["method"] == "logprobs" and found["label"] == pytest.approx(0.8, abs=1e-4)


def test_the_default_agent_makes_one_call_and_keeps_the_label_probability(make_annotator: Any, sim: Any) -> None:
    outcome = make_annotator("label").annotate({"id": 4, "data": {"text": FORCED}})
    assert sim.stats()["requests"] == 1
    assert outcome.meta["signals"] == {"label": outcome.score, "margin": pytest.approx(0.7, abs=1e-3),
                                       "selected": "label"}
