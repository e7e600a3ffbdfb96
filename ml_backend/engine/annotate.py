"""One task through one agent: prompt, cache, LLM call, post-processing, confidence.

Every path ends in an ``Outcome``: a label with its confidence, or a classified error. Nothing
raises past this module for a bad task, so a batch never loses its other tasks. A ``similar``
agent derived with embeddings first has its task's examples chosen (``engine.nearest``); how
they were chosen is the item's ``few_shot`` metadata.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from ml_backend.engine import capabilities, prompts, selfverify, signals, tokens
from ml_backend.engine.agents import Agent
from ml_backend.engine.answers import Answer, score_answer, to_ls_results
from ml_backend.engine.labeling import EmptyInputError
from ml_backend.engine.llm import Completion, LLMCallError, LLMClient
from ml_backend.engine.nearest import Choice, NearestExamples
from ml_backend.engine.outcomes import ErrorClass
from ml_backend.engine.postprocess import response_format

log = logging.getLogger(__name__)

SELF_CONSISTENCY_TEMPERATURE = 0.7


class ResponseCache(Protocol):
    def cache_get(self, key: str) -> dict[str, Any] | None: ...

    def cache_get_many(self, keys: list[str]) -> dict[str, Any]: ...

    def cache_put(self, key: str, response: dict[str, Any]) -> bool | None: ...


class MemoryCache:
    """A ``ResponseCache`` in this process's memory, for an Annotator used without a store
    (scripts, benchmarks): every distinct prompt is still asked once."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def cache_get(self, key: str) -> dict[str, Any] | None:
        return self._data.get(key)

    def cache_get_many(self, keys: list[str]) -> dict[str, Any]:
        return {key: self._data[key] for key in keys if key in self._data}

    def cache_put(self, key: str, response: dict[str, Any]) -> None:
        self._data[key] = response


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
    sent_at: float | None = None
    attempts: int = 0
    cached: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error_class is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cache_key(agent_id: str, messages: list[dict[str, str]]) -> str:
    payload = json.dumps([agent_id, messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class Annotator:
    """Labels tasks with one agent; thread-safe as long as its client and cache are."""

    def __init__(self, agent: Agent, client: LLMClient, cache: ResponseCache,
                 combiner: signals.Combiner | None = None) -> None:
        self.agent = agent
        self.client = client
        self.cache = cache
        self.combiner = combiner
        self._response_format = response_format(agent.spec)
        self._negotiating = threading.Lock()
        shots = agent.config.few_shot
        self.nearest = (NearestExamples(agent.id, shots, client, cache)
                        if shots is not None and shots.embedded else None)

    def _text(self, task: dict[str, Any]) -> str:
        """The task's input texts as the examples are matched on; EmptyInputError without any."""
        return "\n".join(self.agent.spec.read_inputs(task.get("data") or {}).values())

    def choose(self, task: dict[str, Any]) -> Choice:
        """The task's examples by embeddings (may call the endpoint), or (None, {}) when the agent
        has none to choose that way."""
        return self.nearest.choose(self._text(task)) if self.nearest is not None else (None, {})

    def _messages(self, task: dict[str, Any], choice: Choice) -> list[dict[str, str]]:
        agent = self.agent
        return prompts.render_messages(agent.template, agent.spec, task.get("data") or {}, agent.config.few_shot,
                                       chosen=choice[0])

    def annotate(self, task: dict[str, Any]) -> Outcome:
        task_id = int(task["id"])
        try:
            choice = self.choose(task)
            messages = self._messages(task, choice)
        except EmptyInputError as exc:
            return Outcome(task_id, error_class=ErrorClass.EMPTY_INPUT, error_detail=str(exc))
        overflow = self._overflow(messages)
        if overflow:
            return Outcome(task_id, error_class=ErrorClass.CONTEXT_OVERFLOW, error_detail=overflow)
        key = cache_key(self.agent.id, messages)
        response = self.cache.cache_get(key)
        if response is not None:
            return _with_choice(self._outcome(task_id, response, cached=True, data=task.get("data") or {}), choice)
        try:
            response = self._call(messages)
        except LLMCallError as exc:
            # No answer, so no call time: None keeps failures out of the mean latency.
            return _with_choice(Outcome(task_id, error_class=exc.error_class, error_detail=exc.detail,
                                        attempts=exc.attempts, latency_s=None), choice)
        try:
            self.cache.cache_put(key, response)
        except Exception:  # the answer is paid for: this task keeps it even if the cache cannot
            log.exception("task %s: its answer could not be cached", task_id)
        return _with_choice(self._outcome(task_id, response, cached=False, data=task.get("data") or {}), choice)

    def cached(self, task: dict[str, Any]) -> Outcome | None:
        """The answer already paid for, if any; never calls the model (nor the embeddings)."""
        return self.cached_many([task])[0]

    def cached_many(self, tasks: Sequence[dict[str, Any]]) -> list[Outcome | None]:
        """``cached`` for many tasks with one cache lookup; a task with no text to read gets its
        empty_input outcome at once. Tasks with the same answer share one parse of it."""
        keys: list[str | None] = []
        found: list[Outcome | None] = []
        choices = self._cached_choices(tasks)
        for task, choice in zip(tasks, choices, strict=True):
            if choice is None:  # no cached choice of examples, so no cached answer to them either
                keys.append(None)
                found.append(None)
                continue
            try:
                messages = self._messages(task, choice)
            except EmptyInputError as exc:
                keys.append(None)
                found.append(Outcome(int(task["id"]), error_class=ErrorClass.EMPTY_INPUT, error_detail=str(exc)))
                continue
            keys.append(cache_key(self.agent.id, messages))
            found.append(None)
        responses = self.cache.cache_get_many([key for key in keys if key is not None])
        parsed: dict[str, Outcome] = {}
        for index, (task, key) in enumerate(zip(tasks, keys, strict=True)):
            if key is None or key not in responses:
                continue
            if key not in parsed:
                parsed[key] = self._outcome(int(task["id"]), responses[key], cached=True, data=task.get("data") or {})
            found[index] = _with_choice(replace(parsed[key], task_id=int(task["id"])), choices[index] or (None, {}))
        return found

    def _cached_choices(self, tasks: Sequence[dict[str, Any]]) -> list[Choice | None]:
        """Each task's cached choice of examples (all (None, {}) for an agent that needs none);
        a task without text gets (None, {}) so that its empty_input outcome is given."""
        if self.nearest is None:
            return [(None, {})] * len(tasks)
        texts: dict[int, str] = {}
        for index, task in enumerate(tasks):
            try:
                texts[index] = self._text(task)
            except EmptyInputError:
                continue
        looked = dict(zip(texts, self.nearest.lookup(list(texts.values())), strict=True))
        return [looked[index] if index in texts else (None, {}) for index in range(len(tasks))]

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
        wanted = signals.needs_samples(self.agent.config.confidence)
        if (first.logprobs is None or wanted) and first.content is not None:
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
            if first.logprobs is not None:
                response["consistency_cost"] = {"calls": extra["attempts"], "prompt_tokens": extra["prompt_tokens"],
                                                "completion_tokens": extra["completion_tokens"]}
        if signals.needs_verification(self.agent.config.confidence):
            self._verify(messages, response)
        return response

    def _verify(self, messages: list[dict[str, str]], response: dict[str, Any]) -> None:
        """Ask the model whether its labels are right (``engine.selfverify``); the verdict and
        its cost join the cached response, so a cached answer keeps its verification."""
        answer = score_answer(self.agent.spec, response.get("content"), response.get("logprobs"))
        if answer.error is not None:
            return
        config = self.agent.config
        asked = selfverify.messages(self.agent.spec, self.agent.template.instructions, messages, answer.labels)
        response["self_verify"] = selfverify.ask(self.client, asked, config.consistency_samples, config.temperature)
        for key in ("prompt_tokens", "completion_tokens"):
            response[key] += response["self_verify"]["cost"][key]

    def _outcome(self, task_id: int, response: dict[str, Any], *, cached: bool, data: dict[str, Any]) -> Outcome:
        """The scored outcome; ``data`` is the task's (its text places spans: tasks sharing a
        cached answer share their messages, and so their text)."""
        inputs = self.agent.spec.read_inputs(data)
        answer: Answer = score_answer(
            self.agent.spec, response.get("content"), response.get("logprobs"), response.get("samples"), inputs
        )
        found = signals.read_signals(self.agent.spec, answer, response)
        answer = signals.select(self.agent.config.confidence, answer, found, self.combiner)
        outcome = Outcome(
            task_id,
            labels=answer.labels,
            confidence=answer.confidence,
            score=answer.score,
            error_class=answer.error,
            error_detail=answer.detail,
            raw_response=response.get("content"),
            meta={**answer.meta(), "signals": found},
            cached=cached,
        )
        if not cached:
            outcome.tokens_in = response.get("prompt_tokens", 0)
            outcome.tokens_out = response.get("completion_tokens", 0)
            outcome.latency_s = response.get("latency_s", 0.0)
            outcome.queue_s = response.get("queue_s", 0.0)
            outcome.sent_at = response.get("sent_at")
            outcome.attempts = response.get("attempts", 1)
        if outcome.ok:
            outcome.results = to_ls_results(self.agent.spec, answer, data)
        return outcome


def _with_choice(outcome: Outcome, choice: Choice) -> Outcome:
    """The outcome with how its examples were chosen in its metadata (when they were chosen)."""
    if choice[1]:
        outcome.meta = {**outcome.meta, "few_shot": choice[1]}
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
        "sent_at": completion.sent_at,
    }
