"""One task through one agent: prompt, cache, LLM call, post-processing, confidence.

Every path ends in an ``Outcome``: a label with its confidence, or a classified error. Nothing
raises past this module for a bad task, so a batch never loses its other tasks.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ml_backend.engine import capabilities, prompts, tokens
from ml_backend.engine.answers import Answer, score_answer, to_ls_results
from ml_backend.engine.labeling import EmptyInputError, LabelSpec
from ml_backend.engine.llm import Completion, LLMCallError, LLMClient
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.postprocess import response_format

SELF_CONSISTENCY_TEMPERATURE = 0.7


class ResponseCache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_put(self, key: str, response: dict[str, Any]) -> None: ...


@dataclass
class Outcome:
    """What happened to one task; the shape an item is stored and reported in."""

    task_id: int
    labels: dict[str, list[str]] = field(default_factory=dict)
    confidence: dict[str, float | None] = field(default_factory=dict)
    score: float | None = None
    error_class: str | None = None
    error_detail: str = ""
    raw_response: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float | None = 0.0
    queue_s: float = 0.0
    attempts: int = 0
    cached: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AgentRuntime:
    """The parts of a stored agent the pipeline needs."""

    id: str
    model_version: str
    spec: LabelSpec
    config: ModelConfig
    template: prompts.PromptTemplate


def cache_key(agent_id: str, messages: list[dict[str, str]]) -> str:
    payload = json.dumps([agent_id, messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class Annotator:
    """Labels tasks with one agent; thread-safe as long as its client and cache are."""

    def __init__(self, agent: AgentRuntime, client: LLMClient, cache: ResponseCache) -> None:
        self.agent = agent
        self.client = client
        self.cache = cache
        self._response_format = response_format(agent.spec)
        self._negotiating = threading.Lock()

    def annotate(self, task: dict[str, Any]) -> Outcome:
        task_id = int(task["id"])
        try:
            messages = prompts.render_messages(self.agent.template, self.agent.spec, task.get("data") or {})
        except EmptyInputError as exc:
            return Outcome(task_id, error_class=ErrorClass.EMPTY_INPUT, error_detail=str(exc))
        overflow = self._overflow(messages)
        if overflow:
            return Outcome(task_id, error_class=ErrorClass.CONTEXT_OVERFLOW, error_detail=overflow)
        key = cache_key(self.agent.id, messages)
        response = self.cache.cache_get(key)
        if response is not None:
            return self._outcome(task_id, response, cached=True)
        try:
            response = self._call(messages)
        except LLMCallError as exc:
            # No answer, so no call time: None keeps failures out of the mean latency.
            return Outcome(task_id, error_class=exc.error_class, error_detail=exc.detail, attempts=exc.attempts,
                           latency_s=None)
        self.cache.cache_put(key, response)
        return self._outcome(task_id, response, cached=False)

    def cached(self, task: dict[str, Any]) -> Outcome | None:
        """The answer already paid for, if any; never calls the model."""
        try:
            messages = prompts.render_messages(self.agent.template, self.agent.spec, task.get("data") or {})
        except EmptyInputError:
            return None
        response = self.cache.cache_get(cache_key(self.agent.id, messages))
        return None if response is None else self._outcome(int(task["id"]), response, cached=True)

    def _overflow(self, messages: list[dict[str, str]]) -> str | None:
        config = self.agent.config
        try:
            window = tokens.context_window(config.model, config.context_window)
        except tokens.UnknownModelError:
            return None
        needed = tokens.count_messages(messages, config.model)
        if needed + config.max_tokens > window:
            return f"prompt has {needed} tokens + max_tokens {config.max_tokens} > context window {window}"
        return None

    def _negotiate(self, messages: list[dict[str, str]]) -> None:
        """Agents stored before capabilities were negotiated at registration learn them once per
        process, on the first call, while the other threads wait (none fails on a refusal)."""
        with self._negotiating:
            if self.client.capabilities is not None:
                return
            try:
                found = capabilities.negotiate(self.client, messages, self._response_format)
            except capabilities.NegotiationError as exc:
                raise LLMCallError(ErrorClass.API_ERROR, exc.status, exc.detail, 1) from None
            self.client.adopt(found)

    def _call(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        if self.client.capabilities is None:
            self._negotiate(messages)
        first = self.client.complete(messages, response_format=self._response_format)
        response = _as_response(first)
        if first.logprobs is None and first.content is not None:
            samples = self.client.complete(
                messages,
                response_format=self._response_format,
                n=self.agent.config.consistency_samples,
                temperature=max(self.agent.config.temperature, SELF_CONSISTENCY_TEMPERATURE),
            )
            extra = _as_response(samples)
            response["samples"] = samples.samples
            for key in ("prompt_tokens", "completion_tokens", "attempts", "latency_s", "queue_s"):
                response[key] += extra[key]
        return response

    def _outcome(self, task_id: int, response: dict[str, Any], *, cached: bool) -> Outcome:
        answer: Answer = score_answer(
            self.agent.spec, response.get("content"), response.get("logprobs"), response.get("samples")
        )
        outcome = Outcome(
            task_id,
            labels=answer.labels,
            confidence=answer.confidence,
            score=answer.score,
            error_class=answer.error,
            error_detail=answer.detail,
            raw_response=response.get("content"),
            meta=answer.meta(),
            cached=cached,
        )
        if not cached:
            outcome.tokens_in = response.get("prompt_tokens", 0)
            outcome.tokens_out = response.get("completion_tokens", 0)
            outcome.latency_s = response.get("latency_s", 0.0)
            outcome.queue_s = response.get("queue_s", 0.0)
            outcome.attempts = response.get("attempts", 1)
        if outcome.ok:
            outcome.results = to_ls_results(self.agent.spec, answer)
        return outcome


def _as_response(completion: Completion) -> dict[str, Any]:
    """The cached form of a completion; an endpoint that reports no usage counts 0 tokens."""
    return {
        "content": completion.content,
        "logprobs": completion.logprobs,
        "samples": None,
        "prompt_tokens": completion.prompt_tokens or 0,
        "completion_tokens": completion.completion_tokens or 0,
        "attempts": completion.attempts,
        "finish_reason": completion.finish_reason,
        "latency_s": completion.latency_s,
        "queue_s": completion.queue_s,
    }
