"""Capability negotiation against the simulator refusing parameters the way real servers do (a
4xx or a 5xx naming the parameter), and the client sending only what was negotiated."""

from __future__ import annotations

from typing import Any

import pytest

from ml_backend.engine.capabilities import NegotiationError, negotiate, rejected_parameter
from ml_backend.engine.llm import LLMClient, RetryPolicy
from ml_backend.engine.modelconfig import Capabilities, ModelConfig
from tests.fixtures.simulator import SimulatorHandle
from tests.test_llm import SCHEMA_FORMAT, messages

KEY_ENV = "LSAGENT_TEST_CAPS_KEY"
FAST = RetryPolicy(max_attempts=3, max_wait_s=2.0, backoff_initial_s=0.01, backoff_max_s=0.02)
# The body llama-cpp-python 0.3.x sends with its 500 for a json_schema response format.
LLAMA_CPP_500 = ("Error code: 500 - {'error': {'message': \"[{'type': 'literal_error', 'loc': ('body', "
                 "'response_format', 'type'), 'msg': \\\"Input should be 'text' or 'json_object'\\\", 'input': "
                 "'json_schema'}]\", 'type': 'internal_server_error'}}")


@pytest.fixture
def client(sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(KEY_ENV, sim.api_key)
    made: list[LLMClient] = []

    def build(**config: Any) -> LLMClient:
        settings = {"model": "sim-small", "base_url": sim.base_url, "api_key_env": KEY_ENV, "timeout": 5.0, **config}
        made.append(LLMClient(ModelConfig(**settings), retry=FAST))
        return made[-1]

    yield build
    for instance in made:
        instance.close()


def test_everything_accepted(client: Any, sim: SimulatorHandle) -> None:
    found = negotiate(client(seed=3), messages(), SCHEMA_FORMAT)
    assert found == Capabilities(response_format="json_schema", logprobs=True, top_logprobs=5, seed=True, choices=True)
    assert sim.stats()["requests"] == 2  # the test call, then one asking for n=2


def test_a_500_naming_json_schema_steps_down_to_json_object(client: Any, sim: SimulatorHandle) -> None:
    sim.configure(reject="json_schema", reject_status=500)
    found = negotiate(client(), messages(), SCHEMA_FORMAT)
    assert (found.response_format, found.logprobs, found.seed) == ("json_object", True, False)
    # One refused call (not retried six times: a refusal is not transient), one accepted, one n=2.
    assert sim.stats()["by_status"] == {"500": 1, "200": 2}


def test_no_response_format_at_all(client: Any, sim: SimulatorHandle) -> None:
    sim.configure(reject="json_schema,json_object", reject_status=400)
    assert negotiate(client(), messages(), SCHEMA_FORMAT).response_format == "none"
    assert "response_format" not in sim.stats()["last_request"]


def test_logprobs_top_logprobs_seed_and_choices_refused(client: Any, sim: SimulatorHandle) -> None:
    sim.configure(reject="top_logprobs,seed,n", reject_status=422)
    found = negotiate(client(seed=1), messages(), SCHEMA_FORMAT)
    assert (found.logprobs, found.top_logprobs, found.seed, found.choices) == (True, 0, False, False)
    sim.configure(reject="logprobs", reject_status=500)
    found = negotiate(client(), messages(), SCHEMA_FORMAT)
    assert (found.logprobs, found.top_logprobs) == (False, 0)


def test_logprobs_accepted_but_never_returned_count_as_unsupported(client: Any) -> None:
    found = negotiate(client(model="sim-nologprobs"), messages(), SCHEMA_FORMAT)
    assert (found.response_format, found.logprobs, found.top_logprobs) == ("json_schema", False, 0)


def test_a_forced_format_is_not_stepped_down(client: Any, sim: SimulatorHandle) -> None:
    sim.configure(reject="json_schema", reject_status=500)
    with pytest.raises(NegotiationError) as caught:
        negotiate(client(response_format="json_schema"), messages(), SCHEMA_FORMAT)
    assert caught.value.status == 500 and "json_schema" in caught.value.detail
    assert negotiate(client(response_format="none"), messages(), SCHEMA_FORMAT).response_format == "none"


def test_an_error_naming_no_parameter_is_a_failure(client: Any, sim: SimulatorHandle) -> None:
    with pytest.raises(NegotiationError) as caught:
        negotiate(client(model="sim-tiny"), messages("word " * 800), SCHEMA_FORMAT)
    assert caught.value.status == 400 and "maximum context length" in caught.value.detail
    assert sim.stats()["requests"] == 1


def test_the_parameter_named_in_real_error_bodies() -> None:
    every = {"response_format", "top_logprobs", "logprobs", "seed"}
    assert rejected_parameter(LLAMA_CPP_500, every) == "response_format"
    assert rejected_parameter("Invalid value for 'top_logprobs': must be <= 5", every) == "top_logprobs"
    assert rejected_parameter("logprobs is not supported", every) == "logprobs"
    assert rejected_parameter("unknown field `seed`", every) == "seed"
    assert rejected_parameter("model overloaded", every) is None
    assert rejected_parameter("logprobs is not supported", {"seed"}) is None


def test_the_client_sends_only_what_was_negotiated(client: Any, sim: SimulatorHandle) -> None:
    caps = Capabilities(response_format="json_object", logprobs=True, top_logprobs=0, seed=False, choices=False)
    llm = client(seed=9, capabilities=caps)
    answer = llm.complete(messages(), response_format=SCHEMA_FORMAT)
    sent = sim.stats()["last_request"]
    assert sent["response_format"] == {"type": "json_object"} and sent["logprobs"] is True
    assert "top_logprobs" not in sent and "seed" not in sent and answer.logprobs
    sim.reset()
    samples = llm.complete(messages(), response_format=SCHEMA_FORMAT, n=3, temperature=0.7)
    assert samples.samples is not None and len(samples.samples) == 3
    assert sim.stats()["requests"] == 3 and "n" not in sim.stats()["last_request"]
    assert samples.logprobs is None and samples.completion_tokens and samples.latency_s > 0
