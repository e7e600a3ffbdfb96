"""The LLM simulator, exercised over HTTP through the real ``openai`` client."""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.prompts import build_template, render_messages
from ml_backend.simulator import lexicon
from ml_backend.simulator.cli import options_from_values, simulator_command
from ml_backend.simulator.logprobs import pieces
from ml_backend.simulator.options import OptionsError, SimulatorOptions
from ml_backend.simulator.prompt import controls_from_prompt
from tests.fixtures.simulator import SimulatorError, SimulatorHandle

SENTIMENT = ["Positive", "Negative", "Neutral"]
TOPICS = ["Sports", "Politics", "Science"]
SYSTEM = """Label the text.

Sentiment of the text: sentiment
- Positive
- Negative
- Neutral

Topics (choose one or more): topics
- Sports
- Politics
- Science
"""


_CLIENTS: dict[tuple[Any, ...], openai.OpenAI] = {}


def client(sim: SimulatorHandle, max_retries: int = 0, timeout: float = 10.0) -> openai.OpenAI:
    """A real openai client for the simulator, reused (building one costs ~50 ms)."""
    key = (sim.base_url, max_retries, timeout)
    if key not in _CLIENTS:
        _CLIENTS[key] = openai.OpenAI(base_url=sim.base_url, api_key=sim.api_key, max_retries=max_retries,
                                      timeout=timeout)
    return _CLIENTS[key]


def schema_format(sentiment: list[str] = SENTIMENT, topics: list[str] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"sentiment": {"type": "string", "enum": sentiment}}
    if topics:
        properties["topics"] = {"type": "array", "items": {"type": "string", "enum": topics}}
    return {"type": "json_schema", "json_schema": {"name": "labels", "strict": True, "schema": {
        "type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}}}


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Classify the text."}, {"role": "user", "content": text}]


def ask(sim: SimulatorHandle, text: str, **kwargs: Any) -> Any:
    kwargs.setdefault("model", "sim-small")
    kwargs.setdefault("response_format", schema_format())
    return client(sim).chat.completions.create(messages=messages(text), **kwargs)


def label_confidence(logprobs: list[Any], label: str, labels: list[str]) -> float:
    """The chosen label's probability normalised over the labels' first tokens (as the engine does)."""
    position = next(i for i, token in enumerate(logprobs) if token.token == pieces(label)[0])
    top = {alt.token: math.exp(alt.logprob) for alt in logprobs[position].top_logprobs}
    firsts = {pieces(option)[0] for option in labels}
    return top[pieces(label)[0]] / sum(prob for token, prob in top.items() if token in firsts)


# --- models, answers, determinism -------------------------------------------------------------

def test_models_lists_the_simulated_models(sim: SimulatorHandle) -> None:
    models = {model.id: model for model in client(sim).models.list().data}
    assert {"sim-small", "sim-tiny", "sim-nologprobs"} <= set(models)
    assert models["sim-tiny"].model_extra["context_window"] == 512
    assert client(sim).models.retrieve("sim-small").id == "sim-small"


def test_same_request_gives_same_answer_and_seed_changes_some(sim: SimulatorHandle) -> None:
    texts = [f"Review number {i}: the product arrived and it is what it is." for i in range(20)]

    def answers(**kwargs: Any) -> list[str]:
        return [ask(sim, text, logprobs=True, top_logprobs=3, **kwargs).choices[0].message.content for text in texts]

    first = answers(seed=7)
    assert answers(seed=7) == first
    assert answers(seed=8) != first


def test_json_schema_answer_is_an_object_of_enum_labels(sim: SimulatorHandle) -> None:
    for i in range(10):
        content = ask(sim, f"Great win for the team in the {i}th game of sports season!",
                      response_format=schema_format(topics=TOPICS)).choices[0].message.content
        answer = json.loads(content)
        assert set(answer) == {"sentiment", "topics"}
        assert answer["sentiment"] in SENTIMENT
        assert 1 <= len(answer["topics"]) <= 2 and len(set(answer["topics"])) == len(answer["topics"])
        assert set(answer["topics"]) <= set(TOPICS)


def test_plain_text_answer_uses_the_labels_in_the_prompt(sim: SimulatorHandle) -> None:
    response = client(sim).chat.completions.create(
        model="sim-small", messages=[{"role": "system", "content": SYSTEM},
                                     {"role": "user", "content": "Parliament voted on the new sports budget."}])
    lines = dict(line.split(": ", 1) for line in response.choices[0].message.content.splitlines())
    assert set(lines) == {"sentiment", "topics"}
    assert lines["sentiment"] in SENTIMENT
    assert set(lines["topics"].split(", ")) <= set(TOPICS)


def test_prompt_reading_is_lenient_but_skips_lists_of_rules() -> None:
    found = controls_from_prompt('## Labels for "sentiment" (choose exactly one)\n- **Positive**\n- Negative\n\n'
                                 "Pick all that apply: topics\n* Sports\n* Politics\n"
                                 "Rules:\n- Answer only with the label.\n- Do not explain.\n")
    assert [(c.name, c.labels, c.multiple) for c in found] == [
        ("sentiment", ("Positive", "Negative"), False), ("topics", ("Sports", "Politics"), True)]


def test_prompt_reading_skips_the_instruction_before_lsagents_label_headings(sim: SimulatorHandle) -> None:
    spec = parse_label_config('<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
                              '<Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>'
                              "</Choices></View>")
    instructions = "Decide how the customer feels.\n- Positive: the customer is happy\n- Negative: they are upset"
    prompt = render_messages(build_template(spec, instructions), spec, {"text": "The parcel came on Monday."})
    found = controls_from_prompt(prompt[0]["content"])
    assert [(c.name, c.labels, c.multiple) for c in found] == [("sentiment", tuple(SENTIMENT), False)]
    content = client(sim).chat.completions.create(model="sim-small", messages=prompt).choices[0].message.content
    assert [line.split(": ")[0] for line in content.splitlines()] == ["sentiment"]
    assert [c.name for c in controls_from_prompt(instructions)] == ["feels"], "without lsagent headings: lenient"


def test_json_object_answer_uses_the_labels_in_the_prompt(sim: SimulatorHandle) -> None:
    response = client(sim).chat.completions.create(
        model="sim-small", response_format={"type": "json_object"},
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "A lovely science fair."}])
    answer = json.loads(response.choices[0].message.content)
    assert answer["sentiment"] in SENTIMENT and set(answer["topics"]) <= set(TOPICS)


def test_sentiment_answers_are_mostly_right_and_confidence_tracks_correctness(sim: SimulatorHandle) -> None:
    cases = [(f"Item {i}: I love it, great quality and excellent service.", "Positive") for i in range(30)]
    cases += [(f"Item {i}: terrible, broken on arrival, awful support.", "Negative") for i in range(20)]
    cases += [(f"Item {i}: not good, and not worth the price.", "Negative") for i in range(10)]
    right, wrong = [], []
    for text, truth in cases:
        response = ask(sim, text, logprobs=True, top_logprobs=5)
        label = json.loads(response.choices[0].message.content)["sentiment"]
        confidence = label_confidence(response.choices[0].logprobs.content, label, SENTIMENT)
        (right if label == truth else wrong).append(confidence)
    assert len(right) >= 0.75 * len(cases)
    assert wrong, "the simulated model should make some mistakes"
    assert sum(right) / len(right) > sum(wrong) / len(wrong) + 0.1


def test_sentiment_reading_understands_negation_contrast_intensifiers_and_neutral_text() -> None:
    def net(text: str) -> float:
        return lexicon.read(text).net

    assert net("The soup was good.") > 0 > net("The soup was not good.")
    assert net("We waited an hour. Never again.") < 0 and net("I would definitely order again.") > 0
    assert net("Honestly it wasn't worth the money.") < 0
    assert 0 < net("Not bad at all.") < net("Good.")
    assert net("Staff were extremely helpful.") > net("Staff were helpful.") > net("Staff were a bit helpful.")
    assert net("The lobby looks lovely, but our room was filthy.") < 0
    assert net("Checkout was slow, but the view from the balcony was stunning.") > 0
    assert net("The lid doesn't close and the handle snapped off.") < 0
    assert lexicon.read("The store opens at nine and closes at six on weekdays.").mass == 0
    assert lexicon.read("Good screen, bad speakers.").balance < 0.2


def test_sentiment_answers_follow_the_reading_and_confidence_follows_its_margin(sim: SimulatorHandle) -> None:
    cases = {
        "The waiter was incredibly friendly and the lamb was superb.": "Positive",
        "The charger stopped working after two days. Total waste of money.": "Negative",
        "The breakfast was not good and the coffee wasn't worth the price.": "Negative",
        "The lobby looks lovely, but our room was filthy and the air conditioning was broken.": "Negative",
        "Checkout was slow, but the view from the balcony was absolutely stunning.": "Positive",
        "The store opens at nine and closes at six on weekdays.": "Neutral",
        "Good screen, bad speakers.": "Neutral",
    }
    confidence: dict[str, float] = {}
    for text, expected in cases.items():
        votes, probabilities = [], []
        for seed in range(1, 8):
            response = ask(sim, text, seed=seed, logprobs=True, top_logprobs=5)
            label = json.loads(response.choices[0].message.content)["sentiment"]
            votes.append(label)
            probabilities.append(label_confidence(response.choices[0].logprobs.content, label, SENTIMENT))
        assert max(SENTIMENT, key=votes.count) == expected, (text, votes)
        confidence[text] = sum(probabilities) / len(probabilities)
    one_sided = [confidence[text] for text in list(cases)[:2]]
    mixed = confidence["Good screen, bad speakers."]
    assert min(one_sided) > mixed + 0.15


# --- logprobs ----------------------------------------------------------------------------------

def test_logprobs_have_the_api_shape_and_are_valid(sim: SimulatorHandle) -> None:
    response = ask(sim, "Loved the match!", logprobs=True, top_logprobs=4,
                   response_format=schema_format(topics=TOPICS))
    tokens = response.choices[0].logprobs.content
    assert "".join(token.token for token in tokens) == response.choices[0].message.content
    assert response.usage.completion_tokens == len(tokens)
    for token in tokens:
        assert token.logprob <= 0 and token.bytes == list(token.token.encode())
        top = token.top_logprobs
        assert 1 <= len(top) <= 4
        assert [alt.logprob for alt in top] == sorted((alt.logprob for alt in top), reverse=True)
        assert all(alt.logprob <= 0 and alt.bytes == list(alt.token.encode()) for alt in top)
        assert sum(math.exp(alt.logprob) for alt in top) <= 1 + 1e-9
        assert token.token in {alt.token for alt in top}


def test_label_token_top_logprobs_rank_the_label_alternatives(sim: SimulatorHandle) -> None:
    response = ask(sim, "[[sim:label=Negative]] It was fine.", logprobs=True, top_logprobs=5)
    tokens = response.choices[0].logprobs.content
    assert [token.token for token in tokens] == ['{"', "sentiment", '":"', "Neg", "ative", '"}']
    first = tokens[3].top_logprobs
    assert first[0].token == "Neg"
    assert {"Pos", "Neu"} <= {alt.token for alt in first}
    assert any(alt.token not in {"Pos", "Neg", "Neu"} for alt in first), "non-label tokens belong in the list"
    continuation = tokens[4].top_logprobs
    assert continuation[0].token == "ative" and math.exp(continuation[0].logprob) > 0.99


def test_labels_sharing_a_first_token_split_the_probability_at_the_second(sim: SimulatorHandle) -> None:
    labels = ["Very positive", "Very negative", "Neutral"]
    response = ask(sim, "[[sim:label=Very negative]] [[sim:confidence=0.6]] meh", logprobs=True, top_logprobs=5,
                   response_format=schema_format(sentiment=labels))
    tokens = response.choices[0].logprobs.content
    assert [token.token for token in tokens[3:6]] == ["Very", " neg", "ative"]
    very = {alt.token: math.exp(alt.logprob) for alt in tokens[3].top_logprobs}
    assert very["Very"] == pytest.approx(0.8 * (1 - (1 - sum(very.values()))), rel=0.05)
    second = {alt.token: math.exp(alt.logprob) for alt in tokens[4].top_logprobs}
    assert second[" neg"] / (second[" neg"] + second[" pos"]) == pytest.approx(0.75, abs=0.01)


def test_top_logprobs_count_is_honoured(sim: SimulatorHandle) -> None:
    two = ask(sim, "ok", logprobs=True, top_logprobs=2).choices[0].logprobs.content
    assert all(len(token.top_logprobs) == 2 for token in two)
    none = ask(sim, "ok", logprobs=True).choices[0].logprobs.content
    assert all(token.top_logprobs == [] for token in none)
    assert ask(sim, "ok").choices[0].logprobs is None


def test_split_rule_is_long_words_in_two() -> None:
    assert pieces("Positive") == ["Pos", "itive"]
    assert pieces("Sports") == ["Sports"]
    assert pieces("Very negative", lead=" ") == [" Very", " neg", "ative"]


def test_forced_confidence_is_the_normalised_label_probability(sim: SimulatorHandle) -> None:
    response = ask(sim, "[[sim:confidence=0.42]] The weather is nice today.", logprobs=True, top_logprobs=6)
    label = json.loads(response.choices[0].message.content)["sentiment"]
    assert label_confidence(response.choices[0].logprobs.content, label, SENTIMENT) == pytest.approx(0.42, abs=1e-6)


def test_nologprobs_model_samples_vary_with_temperature(sim: SimulatorHandle) -> None:
    def contents(temperature: float) -> list[str]:
        response = ask(sim, "It was a day like any other.", model="sim-nologprobs", logprobs=True, n=12,
                       temperature=temperature)
        assert all(choice.logprobs is None for choice in response.choices)
        return [choice.message.content for choice in response.choices]

    assert len(set(contents(1.5))) > 1
    assert len(set(contents(0.0))) == 1


def test_max_tokens_truncates_with_finish_reason_length(sim: SimulatorHandle) -> None:
    response = ask(sim, "Great!", max_tokens=2, logprobs=True)
    assert response.choices[0].finish_reason == "length"
    assert response.choices[0].message.content == '{"sentiment'
    assert response.usage.completion_tokens == 2
    assert ask(sim, "Great!").choices[0].finish_reason == "stop"


# --- errors -------------------------------------------------------------------------------------

def test_wrong_or_missing_api_key_is_401(sim: SimulatorHandle) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=sim.base_url, api_key="wrong", max_retries=0).models.list()
    assert caught.value.code == "invalid_api_key"
    response = httpx.post(f"{sim.base_url}/chat/completions", json={"model": "sim-small", "messages": []})
    assert response.status_code == 401 and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_model_is_404_model_not_found(sim: SimulatorHandle) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        ask(sim, "hi", model="gpt-nope")
    assert caught.value.code == "model_not_found"


@pytest.mark.parametrize(("params", "param"), [
    ({"temperature": 2.5}, "temperature"),
    ({"temperature": -0.1}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"n": 0}, "n"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format.json_schema"),
])
def test_invalid_parameters_are_400_naming_the_parameter(sim: SimulatorHandle, params: dict[str, Any],
                                                         param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sim, "hi", **params)
    assert caught.value.param == param
    assert caught.value.body["type"] == "invalid_request_error"


def test_empty_messages_and_bad_json_are_400(sim: SimulatorHandle) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(sim).chat.completions.create(model="sim-small", messages=[])
    assert caught.value.param == "messages"
    response = httpx.post(f"{sim.base_url}/chat/completions", content=b"{not json",
                          headers={"Authorization": f"Bearer {sim.api_key}", "Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_tiny_model_rejects_prompts_over_512_tokens(sim: SimulatorHandle) -> None:
    assert ask(sim, "short text", model="sim-tiny").choices[0].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sim, "word " * 600, model="sim-tiny")
    assert caught.value.code == "context_length_exceeded"
    assert "512" in caught.value.message


# --- rate limit and faults ----------------------------------------------------------------------

def test_rpm_limit_answers_429_with_retry_after(sim: SimulatorHandle) -> None:
    sim.configure(rpm=3)
    for _ in range(3):
        ask(sim, "ok")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(sim, "ok")
    assert caught.value.code == "rate_limit_exceeded"
    assert 50 < float(caught.value.response.headers["retry-after"]) <= 60
    assert 50_000 < int(caught.value.response.headers["retry-after-ms"]) <= 60_000
    sim.reset()
    assert ask(sim, "ok").choices


def test_rpm_holds_pro_rata_in_a_short_sliding_window(sim: SimulatorHandle) -> None:
    """600 rpm over 1-s windows: 10 requests per second, strictly; the window slides."""
    sim.configure(rpm=600, rpm_window_s=1.0, latency_ms=0)
    started = time.monotonic()
    for _ in range(10):
        ask(sim, "ok")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(sim, "ok")
    assert "10 per 1 s" in caught.value.message
    assert 0 < float(caught.value.response.headers["retry-after-ms"]) <= 1000
    time.sleep(max(0.0, started + 1.05 - time.monotonic()))
    assert ask(sim, "ok").choices  # the first request left the window
    with pytest.raises(SimulatorError, match="rpm_window_s"):
        sim.configure(rpm_window_s=0)


def test_random_429s_are_retried_to_success(sim: SimulatorHandle) -> None:
    sim.configure(fault_429=0.5)
    with pytest.raises(openai.RateLimitError) as caught:
        for _ in range(20):
            ask(sim, "ok")
    assert 0.05 <= float(caught.value.response.headers["retry-after"]) <= 0.2
    patient = client(sim, max_retries=15)
    for i in range(5):
        patient.chat.completions.create(model="sim-small", messages=messages(f"text {i}"))
    stats = sim.stats()
    assert stats["by_status"]["429"] >= 2 and stats["completions"] >= 5


@pytest.mark.parametrize(("option", "error"), [
    ("fault_500", openai.InternalServerError),
    ("fault_429", openai.RateLimitError),
    ("fault_drop", openai.APIConnectionError),
])
def test_transport_faults(sim: SimulatorHandle, option: str, error: type[Exception]) -> None:
    sim.configure(**{option: 1.0})
    with pytest.raises(error):
        ask(sim, "ok")
    sim.configure(**{option: 0.0})
    assert ask(sim, "ok").choices


def test_timeout_fault_sleeps_then_answers(sim: SimulatorHandle) -> None:
    sim.configure(fault_timeout=1.0, timeout_sleep_s=0.3)
    with pytest.raises(openai.APITimeoutError):
        client(sim, timeout=0.1).chat.completions.create(model="sim-small", messages=messages("ok"))
    started = time.monotonic()
    assert client(sim, timeout=5).chat.completions.create(model="sim-small", messages=messages("ok")).choices
    assert time.monotonic() - started >= 0.3
    assert sim.stats()["by_status"]["timeout"] == 2


def test_content_faults(sim: SimulatorHandle) -> None:
    sim.configure(fault_malformed=1.0)
    with pytest.raises(json.JSONDecodeError):
        json.loads(ask(sim, "ok").choices[0].message.content)
    sim.configure(fault_malformed=0.0, fault_offlabel=1.0)
    assert json.loads(ask(sim, "ok").choices[0].message.content)["sentiment"] not in SENTIMENT


@pytest.mark.parametrize(("directive", "error"), [
    ("500", openai.InternalServerError),
    ("429", openai.RateLimitError),
    ("drop", openai.APIConnectionError),
])
def test_transport_directives_fail_only_their_task(sim: SimulatorHandle, directive: str,
                                                   error: type[Exception]) -> None:
    for _ in range(2):
        with pytest.raises(error):
            ask(sim, f"[[sim:{directive}]] this task always fails")
    assert ask(sim, "this one does not").choices


def test_timeout_directive(sim: SimulatorHandle) -> None:
    sim.configure(timeout_sleep_s=0.5)
    with pytest.raises(openai.APITimeoutError):
        client(sim, timeout=0.2).chat.completions.create(model="sim-small", messages=messages("[[sim:timeout]] x"))


def test_content_directives(sim: SimulatorHandle) -> None:
    malformed = ask(sim, "[[sim:malformed]] x").choices[0].message.content
    assert "{" not in malformed and not any(label in malformed for label in SENTIMENT)
    assert json.loads(ask(sim, "[[sim:offlabel]] x").choices[0].message.content) == {"sentiment": "Mixed"}
    both = json.loads(ask(sim, "[[sim:two-labels]] x").choices[0].message.content)["sentiment"]
    named = [label for label in SENTIMENT if label in both]
    assert len(named) == 2 and both not in SENTIMENT
    forced = ask(sim, "[[sim:label=negative]] I love it, wonderful!").choices[0].message.content
    assert json.loads(forced) == {"sentiment": "Negative"}
    assert json.loads(ask(sim, "[[sim:label=Sarcastic]] x").choices[0].message.content) == {"sentiment": "Sarcastic"}
    plain = client(sim).chat.completions.create(
        model="sim-small", messages=[{"role": "system", "content": SYSTEM},
                                     {"role": "user", "content": "[[sim:label=Science|Politics]] x"}])
    assert "topics: Science, Politics" in plain.choices[0].message.content


def test_unknown_directive_is_a_clear_400(sim: SimulatorHandle) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ask(sim, "[[sim:explode]] x")
    assert "[[sim:explode]]" in caught.value.message


# --- latency, stats, config ---------------------------------------------------------------------

def test_latency_is_per_request_not_serialised(sim: SimulatorHandle) -> None:
    sim.configure(latency_ms=300)
    shared = client(sim)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        list(pool.map(lambda i: shared.chat.completions.create(model="sim-small", messages=messages(f"t{i}")),
                      range(20)))
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.5


def test_stats_report_the_requests_in_flight_peak_and_time_average(sim: SimulatorHandle) -> None:
    sim.configure(latency_ms=400)
    shared = client(sim)
    before = time.time()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: shared.chat.completions.create(model="sim-small", messages=messages(f"f{i}")),
                      range(6)))
    flight = sim.stats()["in_flight"]
    assert flight["now"] == 0 and flight["max"] == 6
    assert 5.0 < flight["mean"] <= 6.0, flight  # six calls held together for ~0.4 s of a ~0.4 s span
    assert 0.4 <= flight["busy_s"] < 1.0 and before < flight["last_at"] <= time.time()
    ask(sim, "one more, alone")  # 0.4 s more at 1 in flight: the time average falls to about 3.5
    flight = sim.stats()["in_flight"]
    assert flight["max"] == 6 and 2.5 < flight["mean"] < 4.5, flight
    assert sim.reset()["in_flight"] == {"now": 0, "max": 0, "mean": 0.0, "busy_s": 0.0, "last_at": None}


def test_stats_count_requests_statuses_and_tokens(sim: SimulatorHandle) -> None:
    first = ask(sim, "one")
    second = ask(sim, "two")
    with pytest.raises(openai.InternalServerError):
        ask(sim, "[[sim:500]] three")
    stats = sim.stats()
    assert stats["requests"] == 3 and stats["completions"] == 2
    assert stats["by_status"] == {"200": 2, "500": 1}
    assert stats["prompt_tokens"] == first.usage.prompt_tokens + second.usage.prompt_tokens
    assert stats["last_request"]["messages"][-1]["content"] == "[[sim:500]] three"
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert sim.reset()["requests"] == 0


def test_config_changes_options_and_rejects_bad_ones(sim: SimulatorHandle) -> None:
    effective = sim.configure(latency_ms=5, logprobs=False)
    assert effective["latency_ms"] == 5 and effective["logprobs"] is False
    assert "api_key" not in effective and effective["api_key_set"] is True
    assert ask(sim, "x", logprobs=True).choices[0].logprobs is None
    for bad in ({"fault_500": 1.5}, {"latency": 1}, {"api_key": "x"}, {"rpm": "many"}):
        with pytest.raises(SimulatorError, match="400"):
            sim.configure(**bad)


def test_control_endpoints_need_the_key(sim: SimulatorHandle) -> None:
    assert httpx.get(sim.base_url.removesuffix("/v1") + "/_sim/stats").status_code == 401


def test_options_validate_and_parse_from_flags() -> None:
    with pytest.raises(OptionsError, match="fault_429"):
        SimulatorOptions(fault_429=1.5)
    with pytest.raises(OptionsError, match="sum"):
        SimulatorOptions(fault_429=0.6, fault_500=0.6)
    context = simulator_command.make_context("simulator", ["--port", "0", "--rpm", "60", "--fault-drop", "0.1",
                                                           "--no-logprobs"])
    values = {key: value for key, value in context.params.items() if key not in ("host", "port")}
    options = options_from_values(values)
    assert (options.rpm, options.fault_drop, options.logprobs) == (60, 0.1, False)


def test_lsagent_simulator_help_is_click_style_with_defaults() -> None:
    from click.testing import CliRunner

    from ml_backend.cli import main

    shown = CliRunner().invoke(main, ["simulator", "--help"], prog_name="lsagent", terminal_width=200)
    assert shown.exit_code == 0 and shown.output.startswith("Usage: lsagent simulator [OPTIONS]")
    for option, default in (("--port", "8089"), ("--latency-ms", "200.0"), ("--fault-429", "0.0"),
                            ("--timeout-sleep-s", "30.0")):
        line = next(line for line in shown.output.splitlines() if line.strip().startswith(option))
        assert f"[default: {default}" in line, line
    assert "env var: LSAGENT_SIM_API_KEY" in shown.output
