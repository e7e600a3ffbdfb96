"""The one way the engine calls a model: the `openai` client, paced, bounded, retried, classified.

Why each part is here:

* A semaphore of the config's concurrency (and an HTTP pool of the same size) keeps one agent
  from opening hundreds of connections to a provider or a small local server; without an
  explicit `max_concurrency` it starts low on any endpoint but OpenAI's (`ModelConfig.concurrency`).
* Before every attempt the limiter is asked for one request and the tokens it may use (prompt +
  `max_tokens` per sample), so the client stays under the provider's minute limits instead of
  discovering them as 429s. A retryable answer with `Retry-After` (a 429, a 503) pauses the
  limiter, which holds back every caller sharing it (all threads, or all Redis-limited workers).
* Retries (tenacity) only where a retry can help: 408, 429, 5xx, timeouts and dropped
  connections. Never on 400/401/403/404/422, never on an exhausted quota. The backoff is
  exponential with jitter and at least the server's `Retry-After`; attempts and the total time
  slept are both bounded (`RetryPolicy`).
* Failures come out as `LLMCallError` with an `ErrorClass`, so a job records *why* a task has no
  label; a prompt longer than the model's context is `context_overflow`, everything else is
  `api_error`. An empty answer is not an error here: post-processing calls it a format error.
* The API key is read from the environment variable the config names. It is handed to the
  `openai` client only, never kept in a field of ours, and scrubbed from every error detail.
* What the endpoint accepts (`response_format`, logprobs, seed, several choices per call) was
  negotiated at registration (`engine.capabilities`) and lives in the config's `capabilities`:
  a call sends only those parameters and never discovers a refusal by failing. Where the
  endpoint returns one choice per call, n samples are n calls.
* `latency_s` is the time of the HTTP attempt that answered; `queue_s` is the time spent waiting
  for a concurrency slot and the rate limiter, kept apart so latency figures do not grow with
  the concurrency a job is tuned to; `sent_at` (wall clock) is when that attempt started, so a
  job can tell how many calls it had in flight over time.
* A slot is held for the rate limiter's wait and the HTTP exchange only: the caller renders,
  parses, scores and records outside it, so the next call can start while it does.
* Every client of a process shares one TLS context: building one reads the system's CA bundle
  (some 25 ms of CPU), and the service builds clients per agent, per job and per probe.
"""

from __future__ import annotations

import functools
import math
import os
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
import openai
from tenacity import RetryCallState, Retrying, retry_if_exception

from ml_backend.engine.modelconfig import Capabilities, ModelConfig
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.ratelimit import LocalRateLimiter, RateLimiter, RequestTooLargeError
from ml_backend.engine.retries import RetryPolicy, is_retryable, retry_after_seconds
from ml_backend.redact import public_url

__all__ = ["Attempt", "Completion", "LLMCallError", "LLMClient", "MissingAPIKeyError", "RetryPolicy", "is_retryable",
           "retry_after_seconds", "tls_context"]

T = TypeVar("T")
Message = dict[str, Any]

_CONTEXT_MESSAGE = re.compile(r"context[ _-]?(length|window|size)|maximum context|too many tokens", re.I)
_CHARS_PER_TOKEN = 3  # a deliberately high token estimate when the caller gives none


class MissingAPIKeyError(ValueError):
    """The environment variable that should hold the API key is unset or empty."""


class LLMCallError(Exception):
    """A call that produced no completion: `error_class` says why, `status` is the HTTP status
    of the last attempt (or the exception's class name when there was no HTTP answer)."""

    def __init__(self, error_class: ErrorClass, status: int | str | None, detail: str, attempts: int) -> None:
        super().__init__(error_class, status, detail, attempts)
        self.error_class = ErrorClass(error_class)
        self.status = status
        self.detail = detail
        self.attempts = attempts

    def __str__(self) -> str:
        status = f" (status {self.status})" if self.status is not None else ""
        return f"{self.error_class.value}{status} after {self.attempts} attempt(s): {self.detail}"


@dataclass(frozen=True)
class Completion:
    """A model's answer. `logprobs` is `choices[0].logprobs.content` as plain dicts; `samples` holds
    every choice's content when more than one was asked for; `latency_s` is the answering
    requests' own duration, `queue_s` the time spent waiting for a concurrency slot and the rate
    limiter; `attempts` counts every HTTP attempt the call made; `sent_at` is the wall time the
    answering attempt started."""

    content: str | None
    logprobs: list[dict[str, Any]] | None
    samples: list[str | None] | None
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    attempts: int
    finish_reason: str | None
    queue_s: float = 0.0
    sent_at: float | None = None


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt, reported to the `on_attempt` hook (for metrics). `outcome` is "ok", the
    HTTP status as text, or the exception class name (e.g. "APITimeoutError")."""

    model: str
    number: int
    outcome: str
    latency_s: float
    retry_after_s: float | None


class _Failed(Exception):
    """Internal: the last exception of a retried call, with the number of attempts it took."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(error, attempts)
        self.error = error
        self.attempts = attempts


def _is_context_overflow(error: BaseException) -> bool:
    if not isinstance(error, openai.BadRequestError):
        return False
    return error.code == "context_length_exceeded" or bool(_CONTEXT_MESSAGE.search(str(error)))


def _outcome(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    return str(status) if isinstance(status, int) else type(error).__name__


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The TLS context every client of this process uses (httpx's default: the CA bundle and
    ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as they were when the first client was built). An
    SSLContext is safe to share between threads and connections, and needs no lock."""
    return httpx2.create_ssl_context()


class LLMClient:
    """Calls one model configuration. Thread-safe: share one per agent across a job's threads.

    `limiter` defaults to a `LocalRateLimiter` with the config's per-minute limits; pass a
    `RedisRateLimiter` to share the budget with other processes. `on_attempt` receives an
    `Attempt` after every HTTP attempt. Not picklable: build one per process from the config.
    """

    def __init__(
        self,
        config: ModelConfig,
        limiter: RateLimiter | None = None,
        *,
        retry: RetryPolicy | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.config = config
        self.limiter: RateLimiter = (
            limiter if limiter is not None
            else LocalRateLimiter(config.requests_per_minute, config.tokens_per_minute))
        self.retry = retry or RetryPolicy()
        self._on_attempt = on_attempt
        self._slots = threading.BoundedSemaphore(config.concurrency())
        self._capabilities = config.capabilities
        pool = httpx2.Limits(max_connections=config.concurrency(), max_keepalive_connections=config.concurrency())
        self._client = openai.OpenAI(
            base_url=config.base_url or os.environ.get("OPENAI_BASE_URL") or None,
            api_key=_read_api_key(config),
            max_retries=0,
            timeout=config.timeout,
            http_client=openai.DefaultHttpxClient(limits=pool, timeout=config.timeout, verify=tls_context()),
        )

    def __repr__(self) -> str:
        return (f"LLMClient(model={self.config.model!r}, base_url={public_url(str(self._client.base_url))!r}, "
                f"api_key_env={self.config.api_key_env!r})")

    def __reduce__(self) -> Any:
        raise TypeError("LLMClient holds credentials and open connections and cannot be serialised; "
                        "serialise its ModelConfig and build a client where it is needed")

    @property
    def capabilities(self) -> Capabilities | None:
        """What the endpoint accepts; None until negotiated (then calls send the config as is)."""
        return self._capabilities

    def adopt(self, capabilities: Capabilities) -> None:
        """Use negotiated capabilities from now on (for agents stored before negotiation)."""
        self._capabilities = capabilities

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    @contextmanager
    def reserved(self, tokens: int) -> Iterator[None]:
        """Hold a concurrency slot and the rate limiter's room for ``tokens`` while the caller
        sends a request of its own to the agent's endpoint (an embeddings call), so that every
        request the agent sends counts against its limits."""
        with self._slots:
            self.limiter.acquire(tokens)
            yield

    def complete(
        self,
        messages: list[Message],
        *,
        response_format: dict[str, Any] | None = None,
        n: int = 1,
        estimated_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One chat completion (`n` samples). `estimated_tokens` is the prompt's token count, used
        for rate limiting; without it a rough count from the characters is used. `temperature`
        overrides the config's for this call (self-consistency samples need some randomness)."""
        _check_request(messages, n, estimated_tokens, temperature)
        prompt = estimated_tokens if estimated_tokens is not None else _rough_tokens(messages)
        caps = self._capabilities
        if n > 1 and caps is not None and not caps.choices:
            return self._one_by_one(messages, response_format, n, prompt, temperature)
        config = self.config
        body = caps.format_body(response_format) if caps else _configured_format(config, response_format)
        request = self._request(messages, n, body, temperature, logprobs=caps.logprobs if caps else config.logprobs,
                                top_logprobs=caps.top_logprobs if caps else config.top_logprobs,
                                seed=config.seed if caps is None or caps.seed else None)
        return self._create(request, prompt + config.max_tokens * n, self.retry, n)

    def probe(self, messages: list[Message], *, response_format: dict[str, Any] | None, logprobs: bool,
              top_logprobs: int, seed: bool, n: int = 1,
              refusal: Callable[[BaseException], bool] = lambda error: False) -> Completion:
        """One test call with exactly these optional parameters (for negotiation). An error that
        `refusal` recognises is not retried: a server refusing a parameter with a 500 refuses
        it every time. Other failures get at most one more attempt."""
        request = self._request(messages, n, response_format, None, logprobs=logprobs, top_logprobs=top_logprobs,
                                seed=self.config.seed if seed else None)
        policy = RetryPolicy(max_attempts=2, max_wait_s=5.0, backoff_initial_s=self.retry.backoff_initial_s)
        return self._create(request, _rough_tokens(messages) + self.config.max_tokens * n, policy, n,
                            lambda error: is_retryable(error) and not refusal(error))

    def _create(self, request: dict[str, Any], tokens: int, policy: RetryPolicy, n: int,
                retryable: Callable[[BaseException], bool] = is_retryable) -> Completion:
        try:
            (raw, latency, queued, sent_at), used = self._with_retries(
                lambda: self._client.chat.completions.with_raw_response.create(**request), tokens, 0, policy,
                retryable)
            response = raw.parse()  # with the slot free for the next call
        except _Failed as failed:
            raise self._classify(failed.error, failed.attempts) from None
        except openai.APIError as error:  # an answer that is not a completion, as `create` would raise it
            raise self._classify(error, used) from None
        return _completion(response, latency, used, n, queued, sent_at)

    def _one_by_one(self, messages: list[Message], response_format: dict[str, Any] | None, n: int, prompt: int,
                    temperature: float | None) -> Completion:
        """n samples as n calls, for endpoints that answer one choice per call; with a seed, each
        call gets its own (the same seed would give n identical samples)."""
        caps, config = self._capabilities, self.config
        assert caps is not None
        parts = []
        for index in range(n):
            seed = config.seed + index if config.seed is not None and caps.seed else None
            request = self._request(messages, 1, caps.format_body(response_format), temperature, logprobs=False,
                                    top_logprobs=0, seed=seed)
            parts.append(self._create(request, prompt + config.max_tokens, self.retry, 1))
        return Completion(
            content=parts[0].content, logprobs=None, samples=[part.content for part in parts],
            prompt_tokens=sum(part.prompt_tokens or 0 for part in parts),
            completion_tokens=sum(part.completion_tokens or 0 for part in parts),
            latency_s=sum(part.latency_s for part in parts), attempts=sum(part.attempts for part in parts),
            finish_reason=parts[0].finish_reason, queue_s=sum(part.queue_s for part in parts),
            sent_at=parts[0].sent_at)

    def list_models(self) -> list[str]:
        """The model ids the endpoint offers (retried like a completion, not rate limited)."""
        try:
            (page, _, _, _), _ = self._with_retries(lambda: self._client.models.list(), None, 0, self.retry)
        except _Failed as failed:
            raise self._classify(failed.error, failed.attempts) from None
        return [model.id for model in page]

    def _request(self, messages: list[Message], n: int, response_format: dict[str, Any] | None,
                 temperature: float | None, *, logprobs: bool, top_logprobs: int, seed: int | None) -> dict[str, Any]:
        config = self.config
        request: dict[str, Any] = {
            "model": config.model, "messages": messages, "max_tokens": config.max_tokens,
            "temperature": config.temperature if temperature is None else temperature}
        optional = {"top_p": config.top_p, "seed": seed, "response_format": response_format,
                    "n": n if n > 1 else None}
        request.update({key: value for key, value in optional.items() if value is not None})
        if logprobs:
            request["logprobs"] = True
            if top_logprobs:
                request["top_logprobs"] = top_logprobs
        return request

    def _with_retries(self, call: Callable[[], T], tokens: int | None, done: int, policy: RetryPolicy,
                      retryable: Callable[[BaseException], bool] = is_retryable
                      ) -> tuple[tuple[T, float, float, float], int]:
        """Run `call` under `policy`: ((result, latency of the good attempt, time queued, when the
        good attempt was sent), attempts)."""
        count = 0
        queued = 0.0

        def attempt() -> tuple[T, float, float, float]:
            nonlocal count, queued
            waiting = time.monotonic()
            with self._slots:
                if tokens is not None:
                    self.limiter.acquire(tokens)
                queued += time.monotonic() - waiting
                count += 1
                sent_at = time.time()
                result, latency = self._send(call, done + count)
            return result, latency, queued, sent_at

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            stop=lambda state: state.attempt_number >= policy.max_attempts
            or state.idle_for + state.upcoming_sleep > policy.max_wait_s,
            wait=self._wait,
            reraise=True,
        )
        try:
            return retrying(attempt), count
        except (openai.APIError, RequestTooLargeError) as error:
            raise _Failed(error, count) from None

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(error) if error else None
        return max(asked or 0.0, self.retry.backoff(state.attempt_number))

    def _send(self, call: Callable[[], T], number: int) -> tuple[T, float]:
        """One HTTP attempt (the caller holds a concurrency slot and a rate-limit slot)."""
        started = time.monotonic()
        try:
            result = call()
        except openai.APIError as error:
            asked = retry_after_seconds(error)
            if asked and is_retryable(error):
                self.limiter.pause(asked)
            self._report(number, _outcome(error), time.monotonic() - started, asked)
            raise
        latency = time.monotonic() - started
        self._report(number, "ok", latency, None)
        return result, latency

    def _report(self, number: int, outcome: str, latency: float, retry_after: float | None) -> None:
        if self._on_attempt:
            self._on_attempt(Attempt(self.config.model, number, outcome, latency, retry_after))

    def _classify(self, error: Exception, attempts: int) -> LLMCallError:
        detail = _redact(f"{type(error).__name__}: {error}", self.config.api_key_env)
        if _is_context_overflow(error):
            return LLMCallError(ErrorClass.CONTEXT_OVERFLOW, 400, detail, attempts)
        status = getattr(error, "status_code", None)
        return LLMCallError(ErrorClass.API_ERROR, status if isinstance(status, int) else _outcome(error),
                            detail, attempts)


def _read_api_key(config: ModelConfig) -> str:
    key = os.environ.get(config.api_key_env, "")
    if not key.strip():
        raise MissingAPIKeyError(
            f"environment variable {config.api_key_env} is not set; it must hold the API key for model "
            f"'{config.model}' (set it, or point api_key_env at the variable that holds the key)")
    return key


def _redact(text: str, env_name: str) -> str:
    """The text with the API key (if it appears, e.g. echoed in a 401 message) replaced by ***."""
    key = os.environ.get(env_name, "")
    return text.replace(key, "***") if len(key) >= 4 else text


def _check_request(messages: list[Message], n: int, estimated_tokens: int | None, temperature: float | None) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"each message needs 'role' and 'content', got {message!r:.80}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if estimated_tokens is not None and (not isinstance(estimated_tokens, int) or estimated_tokens < 0):
        raise ValueError(f"estimated_tokens must be a non-negative integer, got {estimated_tokens!r}")
    if temperature is not None and not 0.0 <= temperature <= 2.0:
        raise ValueError(f"temperature must be between 0 and 2, got {temperature!r}")


def rough_tokens(text: str) -> int:
    """An over-estimate of a text's tokens, for pacing a request whose tokens nobody counted."""
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def _rough_tokens(messages: list[Message]) -> int:
    """``rough_tokens`` of a prompt's text, with each message's overhead."""
    return rough_tokens("".join(str(message.get("content") or "") for message in messages)) + 4 * len(messages)


def _configured_format(config: ModelConfig, schema_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The response format of a config not negotiated yet: what it asks for, as it asks."""
    if schema_format is None or config.response_format in ("auto", "json_schema"):
        return schema_format
    return None if config.response_format == "none" else {"type": "json_object"}


def _completion(response: Any, latency: float, attempts: int, n: int, queued: float = 0.0,
                sent_at: float | None = None) -> Completion:
    choices = response.choices or []
    first = choices[0] if choices else None
    content = first.message.content if first else None
    logprobs = first.logprobs if first else None
    tokens = None if logprobs is None or logprobs.content is None else [t.model_dump() for t in logprobs.content]
    usage = response.usage
    return Completion(
        content=content,
        logprobs=tokens,
        samples=[choice.message.content for choice in choices] if n > 1 else None,
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        latency_s=latency,
        attempts=attempts,
        finish_reason=first.finish_reason if first else None,
        queue_s=queued,
        sent_at=sent_at,
    )
