"""The LLM client through the real `openai` client over HTTP against the simulator: retries where
they help, never where they cannot, Retry-After, concurrency, classification, secrets."""

from __future__ import annotations

import email.utils
import json
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2
import openai
import pytest

from ml_backend.engine.llm import (
    Attempt,
    LLMCallError,
    LLMClient,
    MissingAPIKeyError,
    RetryPolicy,
    is_retryable,
    retry_after_seconds,
)
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.ratelimit import LocalRateLimiter
from tests.fixtures.simulator import SimulatorHandle

KEY_ENV = "LSAGENT_TEST_LLM_KEY"
FAST = RetryPolicy(max_attempts=6, max_wait_s=5.0, backoff_initial_s=0.01, backoff_max_s=0.05)
SYSTEM = "Label the sentiment of the text.\n\nSentiment of the text: sentiment\n- Positive\n- Negative\n- Neutral\n"
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "labels", "strict": True, "schema": {
    "type": "object", "properties": {"sentiment": {"type": "string", "enum": ["Positive", "Negative", "Neutral"]}},
    "required": ["sentiment"], "additionalProperties": False}}}


def messages(text: str = "I loved this wonderful film.") -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


@pytest.fixture
def key_env(sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> str:
    """The simulator's key in an env var of our own; OPENAI_BASE_URL must not leak in."""
    monkeypatch.setenv(KEY_ENV, sim.api_key)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return KEY_ENV


class Recorder:
    """The `on_attempt` hook: keeps every attempt with its wall-clock end time."""

    def __init__(self, after_first: Any = None) -> None:
        self.attempts: list[tuple[Attempt, float]] = []
        self._after_first = after_first
        self._lock = threading.Lock()

    def __call__(self, attempt: Attempt) -> None:
        with self._lock:
            self.attempts.append((attempt, time.monotonic()))
        if attempt.number == 1 and self._after_first:
            self._after_first()

    @property
    def outcomes(self) -> list[str]:
        return [attempt.outcome for attempt, _ in self.attempts]


def make(sim: SimulatorHandle, key_env: str, *, retry: RetryPolicy = FAST, limiter: Any = None,
         on_attempt: Any = None, **config: Any) -> LLMClient:
    settings = {"model": "sim-small", "base_url": sim.base_url, "api_key_env": key_env, "timeout": 5.0, **config}
    return LLMClient(ModelConfig(**settings), limiter=limiter, retry=retry, on_attempt=on_attempt)


def test_a_completion_carries_content_logprobs_and_usage(sim: SimulatorHandle, key_env: str) -> None:
    recorder = Recorder()
    result = make(sim, key_env, on_attempt=recorder, seed=7).complete(messages(), response_format=SCHEMA_FORMAT)
    assert json.loads(result.content or "")["sentiment"] in ("Positive", "Negative", "Neutral")
    assert result.logprobs and {"token", "logprob", "bytes", "top_logprobs"} <= set(result.logprobs[0])
    assert all(1 <= len(token["top_logprobs"]) <= 5 for token in result.logprobs)
    assert result.samples is None and result.attempts == 1 and result.finish_reason == "stop"
    assert result.prompt_tokens and result.completion_tokens == len(result.logprobs)
    assert result.latency_s > 0 and recorder.outcomes == ["ok"]
    sent = sim.stats()["last_request"]
    assert sent["seed"] == 7 and sent["logprobs"] is True and sent["top_logprobs"] == 5
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.0 and sent["response_format"] == SCHEMA_FORMAT
    assert "n" not in sent and "top_p" not in sent


def test_samples_and_temperature_override(sim: SimulatorHandle, key_env: str) -> None:
    result = make(sim, key_env, top_p=0.9).complete(messages(), n=3, temperature=1.0)
    assert result.samples is not None and len(result.samples) == 3 and result.samples[0] == result.content
    sent = sim.stats()["last_request"]
    assert (sent["n"], sent["temperature"], sent["top_p"]) == (3, 1.0, 0.9)


def test_no_logprobs_when_the_model_gives_none(sim: SimulatorHandle, key_env: str) -> None:
    result = make(sim, key_env, model="sim-nologprobs").complete(messages())
    assert result.content and result.logprobs is None


def test_logprobs_are_not_asked_for_when_disabled(sim: SimulatorHandle, key_env: str) -> None:
    assert make(sim, key_env, logprobs=False).complete(messages()).logprobs is None
    assert "logprobs" not in sim.stats()["last_request"]


@pytest.mark.parametrize("fault, outcome", [
    ("fault_500", "500"), ("fault_429", "429"), ("fault_drop", "APIConnectionError"),
    ("fault_timeout", "APITimeoutError")])
def test_retry_then_success(sim: SimulatorHandle, key_env: str, fault: str, outcome: str) -> None:
    sim.configure(**{fault: 1.0}, timeout_sleep_s=1.0)
    recorder = Recorder(after_first=lambda: sim.configure(**{fault: 0.0}))
    result = make(sim, key_env, on_attempt=recorder, timeout=0.5).complete(messages())
    assert result.content and result.attempts == 2
    assert recorder.outcomes == [outcome, "ok"]
    stats = sim.stats()
    assert stats["requests"] == 2 and stats["completions"] == 1


def test_gives_up_after_max_attempts(sim: SimulatorHandle, key_env: str) -> None:
    retry = RetryPolicy(max_attempts=3, max_wait_s=5.0, backoff_initial_s=0.01, backoff_max_s=0.05)
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, retry=retry).complete(messages("Always fails [[sim:500]]"))
    error = caught.value
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.API_ERROR, 500, 3)
    assert "InternalServerError" in error.detail
    assert sim.stats()["by_status"] == {"500": 3}


def test_timeouts_are_classified_by_exception(sim: SimulatorHandle, key_env: str) -> None:
    sim.configure(timeout_sleep_s=1.0)
    retry = RetryPolicy(max_attempts=2, max_wait_s=5.0, backoff_initial_s=0.01, backoff_max_s=0.05)
    started = time.monotonic()
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, retry=retry, timeout=0.15).complete(messages("[[sim:timeout]]"))
    assert (caught.value.status, caught.value.attempts) == ("APITimeoutError", 2)
    assert time.monotonic() - started < 1.5  # the per-call timeout cut both attempts short


def test_total_wait_is_bounded(sim: SimulatorHandle, key_env: str) -> None:
    retry = RetryPolicy(max_attempts=6, max_wait_s=0.2, backoff_initial_s=0.08, backoff_max_s=1.0)
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, retry=retry).complete(messages("[[sim:500]]"))
    assert caught.value.attempts == 2  # slept 0.08-0.16 s; another 0.16-0.24 s would pass 0.2 s
    assert sim.stats()["requests"] == 2


@pytest.mark.parametrize("case, status", [("bad_request", 400), ("bad_key", 401), ("no_model", 404)])
def test_no_retry_on_client_errors(sim: SimulatorHandle, key_env: str, monkeypatch: pytest.MonkeyPatch,
                                   case: str, status: int) -> None:
    text, model = {"bad_request": ("[[sim:nonsense]]", "sim-small"), "no_model": ("hi", "sim-huge")}.get(
        case, ("hi", "sim-small"))
    if case == "bad_key":
        monkeypatch.setenv(KEY_ENV, "not-the-key")
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, model=model).complete(messages(text))
    assert (caught.value.error_class, caught.value.status, caught.value.attempts) == (ErrorClass.API_ERROR, status, 1)
    assert sim.stats()["requests"] == 1


NO_BACKOFF = RetryPolicy(max_attempts=3, max_wait_s=5.0, backoff_initial_s=0.0, backoff_max_s=0.0)


def test_retry_after_is_honoured(sim: SimulatorHandle, key_env: str) -> None:
    sim.configure(fault_429=1.0)
    recorder = Recorder(after_first=lambda: sim.configure(fault_429=0.0))
    result = make(sim, key_env, retry=NO_BACKOFF, on_attempt=recorder).complete(messages())
    (first, failed_at), (second, done_at) = recorder.attempts
    assert first.outcome == "429" and first.retry_after_s and first.retry_after_s >= 0.05
    assert done_at - second.latency_s - failed_at >= first.retry_after_s - 0.002  # waited the header out
    assert result.attempts == 2


def test_a_retry_after_beyond_the_wait_budget_gives_up(sim: SimulatorHandle, key_env: str) -> None:
    retry = RetryPolicy(max_attempts=3, max_wait_s=0.04, backoff_initial_s=0.0, backoff_max_s=0.0)
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, retry=retry).complete(messages("[[sim:429]]"))  # asks for 0.05-0.2 s
    assert (caught.value.status, caught.value.attempts) == (429, 1)


def test_a_429_holds_back_every_caller_of_the_limiter(sim: SimulatorHandle, key_env: str) -> None:
    limiter = LocalRateLimiter(None, None)
    first, second = Recorder(), Recorder()
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, retry=RetryPolicy(max_attempts=1), limiter=limiter, on_attempt=first).complete(
            messages("[[sim:429]]"))
    assert (caught.value.status, caught.value.attempts) == (429, 1)
    (refused, refused_at), = first.attempts
    assert refused.retry_after_s is not None
    make(sim, key_env, limiter=limiter, on_attempt=second).complete(messages())
    (sent, sent_done), = second.attempts
    assert sent_done - sent.latency_s - refused_at >= refused.retry_after_s - 0.002


def test_concurrency_is_bounded(sim: SimulatorHandle, key_env: str) -> None:
    sim.configure(latency_ms=100)
    assert max_in_flight(sim, key_env, concurrency=2, calls=6) == 2
    assert max_in_flight(sim, key_env, concurrency=6, calls=6) > 2  # the measure can see more


def max_in_flight(sim: SimulatorHandle, key_env: str, concurrency: int, calls: int) -> int:
    recorder = Recorder()
    client = make(sim, key_env, max_concurrency=concurrency, on_attempt=recorder)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=calls) as pool:
        list(pool.map(lambda i: client.complete(messages(f"Task {i}: great")), range(calls)))
    elapsed = time.monotonic() - started
    assert elapsed >= 0.1 * -(-calls // concurrency) - 0.02
    spans = [(end - attempt.latency_s, end) for attempt, end in recorder.attempts]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


def test_the_config_limits_pace_calls(sim: SimulatorHandle, key_env: str) -> None:
    client = make(sim, key_env, requests_per_minute=600)  # burst 10, then one per 60/591 s
    started = time.monotonic()
    for _ in range(14):
        client.complete(messages())
    assert time.monotonic() - started >= 4 * 60 / 591 - 0.01


def test_a_request_over_the_token_limit_is_not_sent(sim: SimulatorHandle, key_env: str) -> None:
    client = make(sim, key_env, tokens_per_minute=100, max_tokens=64)
    with pytest.raises(LLMCallError) as caught:
        client.complete(messages(), estimated_tokens=50)
    assert caught.value.status == "RequestTooLargeError" and caught.value.attempts == 0
    assert "114 tokens exceeds the limit of 100" in caught.value.detail
    assert sim.stats()["requests"] == 0


def test_context_overflow_is_classified(sim: SimulatorHandle, key_env: str) -> None:
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, model="sim-tiny").complete(messages("word " * 800))
    error = caught.value
    assert (error.error_class, error.status, error.attempts) == (ErrorClass.CONTEXT_OVERFLOW, 400, 1)
    assert "maximum context length is 512 tokens" in error.detail
    assert sim.stats()["requests"] == 1


def test_a_refused_parameter_is_an_error_not_a_silent_retry(sim: SimulatorHandle, key_env: str) -> None:
    """Refusals are found once, at registration (``engine.capabilities``): a call never drops a
    parameter by itself, so what an agent sends is always what it was registered with."""
    sim.configure(reject="json_schema", reject_status=400)
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env).complete(messages(), response_format=SCHEMA_FORMAT)
    assert caught.value.status == 400 and "json_schema" in caught.value.detail
    assert sim.stats()["requests"] == 1


def test_unusable_answers_are_returned_as_is(sim: SimulatorHandle, key_env: str) -> None:
    client = make(sim, key_env, max_tokens=1)
    truncated = client.complete(messages(), response_format=SCHEMA_FORMAT)
    assert truncated.finish_reason == "length" and truncated.completion_tokens == 1
    assert truncated.content and len(truncated.logprobs or []) == 1
    malformed = make(sim, key_env).complete(messages("[[sim:malformed]]"), response_format=SCHEMA_FORMAT)
    assert malformed.content and "sentiment" not in malformed.content and malformed.attempts == 1


def test_list_models(sim: SimulatorHandle, key_env: str) -> None:
    assert {"sim-small", "sim-tiny", "sim-nologprobs"} <= set(make(sim, key_env).list_models())


def test_list_models_with_a_bad_key(sim: SimulatorHandle, key_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "wrong-key-123")
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env).list_models()
    assert (caught.value.status, caught.value.attempts) == (401, 1)


def test_missing_key_names_the_variable(sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LSAGENT_NO_SUCH_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError, match="LSAGENT_NO_SUCH_KEY is not set"):
        make(sim, "LSAGENT_NO_SUCH_KEY")
    monkeypatch.setenv("LSAGENT_NO_SUCH_KEY", "  ")
    with pytest.raises(MissingAPIKeyError, match="LSAGENT_NO_SUCH_KEY"):
        make(sim, "LSAGENT_NO_SUCH_KEY")


def test_the_key_never_shows(sim: SimulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-secret-0123456789abcdef"
    monkeypatch.setenv(KEY_ENV, secret)
    client = make(sim, KEY_ENV)
    assert secret not in repr(client) and secret not in str(client) and KEY_ENV in repr(client)
    with pytest.raises(TypeError, match="cannot be serialised"):
        pickle.dumps(client)
    with pytest.raises(LLMCallError) as caught:
        client.complete(messages())  # 401: the simulator wants its own key
    assert caught.value.status == 401 and caught.value.__cause__ is None
    for text in (str(caught.value), repr(caught.value), caught.value.detail):
        assert secret not in text


def test_the_key_is_scrubbed_from_error_details(sim: SimulatorHandle, key_env: str) -> None:
    # the endpoint echoes the model name in its 404; here the "model" carries the key
    with pytest.raises(LLMCallError) as caught:
        make(sim, key_env, model=f"model-{sim.api_key}").complete(messages())
    assert caught.value.status == 404 and "The model `model-***` does not exist" in caught.value.detail
    assert sim.api_key not in str(caught.value) and sim.api_key not in repr(caught.value)


def test_llm_call_error_survives_pickling() -> None:
    error = LLMCallError(ErrorClass.API_ERROR, 503, "InternalServerError: busy", 6)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.error_class, copy.status, copy.detail, copy.attempts) == (ErrorClass.API_ERROR, 503,
                                                                           "InternalServerError: busy", 6)
    assert str(copy) == "api_error (status 503) after 6 attempt(s): InternalServerError: busy"


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "n must be a positive integer"), ({"estimated_tokens": -1}, "estimated_tokens"),
    ({"temperature": 3.0}, "temperature must be between 0 and 2")])
def test_bad_arguments_are_refused(sim: SimulatorHandle, key_env: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(sim, key_env).complete(messages(), **kwargs)
    with pytest.raises(ValueError, match="non-empty list"):
        make(sim, key_env).complete([])
    assert sim.stats()["requests"] == 0


def rate_limited(headers: dict[str, str], body: object = None) -> openai.RateLimitError:
    """A 429 as the openai client builds it from an HTTP response."""
    response = httpx2.Response(429, headers=headers, request=httpx2.Request("POST", "http://llm.test/v1"))
    return openai.RateLimitError("Rate limit reached", response=response, body=body)


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5), ({"retry-after": "2"}, 2.0),
    ({"retry-after": "0.25"}, 0.25), ({"retry-after": "soon"}, None), ({}, None)])
def test_retry_after_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(rate_limited(headers)) == expected


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after_seconds(rate_limited({"retry-after": when})) or 0) <= 30


def test_an_exhausted_quota_is_not_retried() -> None:
    assert is_retryable(rate_limited({}))
    assert not is_retryable(rate_limited({}, body={"code": "insufficient_quota", "message": "quota"}))
