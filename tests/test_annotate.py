"""One task through one agent: the pipeline against the simulator (real openai client over HTTP)
and a real SQLite store as the response cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ml_backend.engine.annotate import Annotator, MemoryCache
from ml_backend.store import Store

CONFIG = (
    '<View><Text name="text" value="$text"/><Choices name="sentiment" toName="text">'
    '<Choice value="Positive" alias="pos"/><Choice value="Negative" alias="neg"/><Choice value="Neutral"/>'
    "</Choices></View>"
)


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
def make_annotator(sim_annotator: Any) -> Any:
    return lambda model="sim-small", **options: sim_annotator(CONFIG, model, **options)


def test_a_label_with_its_confidence_and_label_studio_results(make_annotator: Any, sim: Any) -> None:
    outcome = make_annotator().annotate(
        {"id": 7, "data": {"text": "Lovely. [[sim:label=Negative]] [[sim:confidence=0.8]]"}})
    assert outcome.ok and outcome.labels == {"sentiment": ["neg"]}
    assert outcome.score == pytest.approx(0.8, abs=1e-4)
    assert outcome.meta["method"] == "logprobs"
    assert outcome.results == [{"from_name": "sentiment", "to_name": "text", "type": "choices",
                                "value": {"choices": ["neg"]}, "score": outcome.score}]
    assert outcome.tokens_in > 0 and outcome.attempts == 1 and not outcome.cached


def test_the_second_time_costs_no_llm_call(make_annotator: Any, sim: Any) -> None:
    annotator = make_annotator()
    task = {"id": 1, "data": {"text": "The service was excellent."}}
    assert annotator.cached(task) is None
    first = annotator.annotate(task)
    calls = sim.stats()["requests"]
    again, peeked = annotator.annotate(task), annotator.cached(task)
    assert sim.stats()["requests"] == calls == 1
    assert again.cached and peeked is not None and peeked.cached
    assert (again.labels, again.score) == (first.labels, first.score)
    assert again.tokens_in == 0  # nothing paid the second time


def test_without_a_store_answers_are_kept_in_memory(make_annotator: Any, sim: Any) -> None:
    annotator = make_annotator()
    annotator = Annotator(annotator.agent, annotator.client, MemoryCache())
    task = {"id": 1, "data": {"text": "The service was excellent."}}
    first, again = annotator.annotate(task), annotator.annotate({**task, "id": 2})
    assert sim.stats()["requests"] == 1 and again.cached and not first.cached
    assert (again.labels, again.score) == (first.labels, first.score) and again.task_id == 2


def test_empty_input_and_context_overflow_never_call_the_model(make_annotator: Any, sim: Any) -> None:
    empty = make_annotator().annotate({"id": 2, "data": {"text": "   "}})
    overflow = make_annotator("sim-tiny").annotate({"id": 3, "data": {"text": "word " * 600}})
    assert (empty.error_class, overflow.error_class) == ("empty_input", "context_overflow")
    assert "context window 512" in overflow.error_detail
    assert sim.stats()["requests"] == 0


def test_without_logprobs_confidence_is_self_consistency(make_annotator: Any, sim: Any) -> None:
    outcome = make_annotator("sim-nologprobs", consistency_samples=6).annotate(
        {"id": 4, "data": {"text": "Great product, works perfectly."}}
    )
    assert outcome.ok and outcome.meta["method"] == "self_consistency"
    assert outcome.score is not None and outcome.score * 6 == pytest.approx(round(outcome.score * 6))
    assert sim.stats()["requests"] == 2  # the answer, then one call for six samples
    assert sim.stats()["last_request"]["n"] == 6


def test_failures_are_classified_outcomes_not_exceptions(make_annotator: Any, sim: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    annotator = make_annotator()
    invalid = annotator.annotate({"id": 5, "data": {"text": "Fine. [[sim:offlabel]]"}})
    assert invalid.error_class == "invalid_label" and invalid.raw_response and invalid.results == []
    monkeypatch.setenv("SIM_KEY", "wrong-key")
    refused = make_annotator().annotate({"id": 6, "data": {"text": "Fine."}})
    assert refused.error_class == "api_error" and "401" in refused.error_detail
    assert "wrong-key" not in refused.error_detail
    assert refused.latency_s is None  # no answer, no call time: kept out of the mean latency


def test_an_endpoint_without_usage_counts_zero_tokens_instead_of_failing() -> None:
    # Ollama and llama.cpp servers may omit `usage`; the openai client then gives None.
    from ml_backend.engine.annotate import _as_response
    from ml_backend.engine.llm import Completion

    response = _as_response(Completion("{}", None, None, None, None, 0.1, 1, "stop"))
    assert (response["prompt_tokens"], response["completion_tokens"]) == (0, 0)


def test_an_agent_stored_without_capabilities_negotiates_once(make_annotator: Any, sim: Any) -> None:
    """Concurrent first calls against a server refusing json_schema with a 500: one refusal in all,
    during the one negotiation the other threads wait for; then every call sends json_object."""
    sim.configure(reject="json_schema", reject_status=500)
    annotator = make_annotator(capabilities=None)
    tasks = [{"id": i, "data": {"text": f"Review {i}: a fine, lovely film."}} for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(annotator.annotate, tasks))
    assert all(outcome.ok for outcome in outcomes), [outcome.error_detail for outcome in outcomes]
    assert sim.stats()["by_status"]["500"] == 1
    assert annotator.client.capabilities is not None
    assert annotator.client.capabilities.response_format == "json_object"
    assert sim.stats()["last_request"]["response_format"] == {"type": "json_object"}


def test_latency_is_the_calls_own_time_and_the_wait_for_a_slot_is_apart(make_annotator: Any, sim: Any) -> None:
    sim.configure(latency_ms=300)
    annotator = make_annotator(max_concurrency=1)
    tasks = [{"id": i, "data": {"text": f"Task {i} was good."}} for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(annotator.annotate, tasks))
    # One slot: the calls ran one after another, each ~0.3 s; the last waited ~0.6 s for the slot.
    assert all(0.25 <= outcome.latency_s < 0.55 for outcome in outcomes), [o.latency_s for o in outcomes]
    assert max(outcome.queue_s for outcome in outcomes) >= 0.5
    assert min(outcome.queue_s for outcome in outcomes) < 0.1
