"""Answering Label Studio's /predict inside its timeout, without losing any finished work.

Label Studio sends every selected task in one request and waits at most 100 s
(ML_TIMEOUT_PREDICT); if the answer is late, or has not exactly one entry per task, the whole
batch is lost. So the batch runs concurrently on the agent's pool and the answer is sent when
all tasks are done or the budget is spent, whichever comes first. A task still running then is
answered without ``result`` (Label Studio skips it) but keeps running to completion: its answer
lands in the cache, and the next "Retrieve predictions" gets it at once without an LLM call.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any

from ml_backend.engine.annotate import Annotator, Outcome
from ml_backend.engine.pools import IDLE_S, AgentPools

log = logging.getLogger(__name__)

OutcomeHook = Callable[[str, Outcome], None]
LOOKUP_BATCH = 1000
# Writing the answer takes time too (about 10 us per entry measured, doubled), and Label Studio
# waits for all of it: that share of the budget is kept for it.
ANSWER_S_PER_TASK = 20e-6


class Predictor:
    """Per-process: one thread pool per agent, sized by its max_concurrency, shared by requests
    and released once idle (``engine.pools``).

    Tasks in flight are remembered, so a request that asks again for a task still running from an
    earlier, timed-out request waits for that call instead of paying for a second one.
    """

    def __init__(self, budget_s: float, on_outcome: OutcomeHook | None = None, pool_idle_s: float = IDLE_S) -> None:
        self.budget_s = budget_s
        self._on_outcome = on_outcome
        self._lock = threading.Lock()
        self._pools = AgentPools("predict", idle_s=pool_idle_s)
        self._inflight: dict[tuple[str, str], Future[Outcome]] = {}

    def predict(self, annotator: Annotator, tasks: Sequence[dict[str, Any]],
                started: float | None = None) -> list[dict[str, Any]]:
        """One entry per task, in order; cached tasks at once, the rest within the budget.

        The budget runs from ``started`` (when the request arrived; default now) and covers
        everything: looking up cached answers in batches (200,000 tasks are 400 queries, not
        200,000), the LLM calls, and a reserve for writing the answer. Tasks not even looked up
        when it is spent are answered ``over_budget`` without being started.
        """
        deadline = (time.monotonic() if started is None else started) + self.budget_s - _answer_reserve(len(tasks))
        model_version = annotator.agent.model_version
        answered: dict[int, dict[str, Any]] = {}
        pending: dict[int, Future[Outcome]] = {}
        for start in range(0, len(tasks), LOOKUP_BATCH):
            if time.monotonic() >= deadline:
                break
            batch = tasks[start:start + LOOKUP_BATCH]
            for index, outcome in enumerate(self._cached(annotator, batch), start):
                if isinstance(outcome, Outcome):
                    self._observe(model_version, outcome)
                    answered[index] = entry(outcome, model_version)
                elif outcome is None:
                    pending[index] = self._submit(annotator, tasks[index])
                else:
                    answered[index] = unanswered(model_version, outcome)
        if pending:
            wait(pending.values(), timeout=max(0.0, deadline - time.monotonic()))
        return [answered[i] if i in answered else
                _finished_entry(pending[i], model_version) if i in pending else unanswered(model_version, "over_budget")
                for i in range(len(tasks))]

    @staticmethod
    def _cached(annotator: Annotator, batch: Sequence[dict[str, Any]]) -> list[Outcome | str | None]:
        """Each task's cached outcome, None (to be labelled), or why it cannot be: one task's
        failure is that task's, never the batch's."""
        try:
            return list(annotator.cached_many(batch))
        except Exception:
            log.exception("looking up %d cached answers failed; trying the tasks one by one", len(batch))
        found: list[Outcome | str | None] = []
        for task in batch:
            try:
                found.append(annotator.cached(task))
            except Exception as exc:
                log.error("task %s cannot be predicted: %s", task.get("id"), type(exc).__name__)
                found.append("internal_error")
        return found

    def shutdown(self, wait_for_tasks: bool = False) -> None:
        """Stop the pools (tests and process exit); running calls finish unless the process ends."""
        self._pools.shutdown(wait=wait_for_tasks, cancel_futures=not wait_for_tasks)

    def _submit(self, annotator: Annotator, task: dict[str, Any]) -> Future[Outcome]:
        key = (annotator.agent.id, _task_key(task))
        with self._lock:
            future = self._inflight.get(key)
            if future is not None:
                return future
            agent = annotator.agent
            future = self._pools.submit(agent.id, agent.config.concurrency(), annotator.annotate, task)
            self._inflight[key] = future
        future.add_done_callback(lambda done: self._finished(key, annotator.agent.model_version, done))
        return future

    def _finished(self, key: tuple[str, str], model_version: str, future: Future[Outcome]) -> None:
        with self._lock:
            self._inflight.pop(key, None)
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            log.error("predicting a task failed unexpectedly: %s", type(error).__name__, exc_info=error)
            return
        self._observe(model_version, future.result())

    def _observe(self, model_version: str, outcome: Outcome) -> None:
        if self._on_outcome is not None:
            self._on_outcome(model_version, outcome)


def entry(outcome: Outcome, model_version: str) -> dict[str, Any]:
    """Label Studio's shape; a failed task has no ``result`` so that it alone is skipped."""
    if not outcome.ok:
        return {"model_version": model_version, "error": str(outcome.error_class)}
    return {"result": outcome.results, "score": outcome.score, "model_version": model_version}


def unanswered(model_version: str | None, reason: str) -> dict[str, Any]:
    """An entry Label Studio skips, with the reason for whoever reads the exchange."""
    return {"model_version": model_version, "error": reason} if model_version else {"error": reason}


def _answer_reserve(count: int) -> float:
    return count * ANSWER_S_PER_TASK


def _finished_entry(future: Future[Outcome], model_version: str) -> dict[str, Any]:
    if not future.done():
        return unanswered(model_version, "over_budget")
    if future.cancelled() or future.exception() is not None:
        return unanswered(model_version, "internal_error")
    return entry(future.result(), model_version)


def _task_key(task: dict[str, Any]) -> str:
    """A task is the same work only if its id and its data are the same."""
    payload = json.dumps([task.get("id"), task.get("data")], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
