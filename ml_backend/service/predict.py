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
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Sequence

from ml_backend.engine.annotate import Annotator, Outcome

log = logging.getLogger(__name__)

OutcomeHook = Callable[[str, Outcome], None]


class Predictor:
    """Per-process: one thread pool per agent, sized by its max_concurrency, shared by requests.

    Tasks in flight are remembered, so a request that asks again for a task still running from an
    earlier, timed-out request waits for that call instead of paying for a second one.
    """

    def __init__(self, budget_s: float, on_outcome: OutcomeHook | None = None) -> None:
        self.budget_s = budget_s
        self._on_outcome = on_outcome
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._inflight: dict[tuple[str, str], Future[Outcome]] = {}

    def predict(self, annotator: Annotator, tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """One entry per task, in order; cached tasks at once, the rest within the budget."""
        deadline = time.monotonic() + self.budget_s
        model_version = annotator.agent.model_version
        answered: dict[int, dict[str, Any]] = {}
        pending: dict[int, Future[Outcome]] = {}
        for index, task in enumerate(tasks):
            outcome = annotator.cached(task)
            if outcome is None:
                pending[index] = self._submit(annotator, task)
            else:
                self._observe(model_version, outcome)
                answered[index] = entry(outcome, model_version)
        if pending:
            wait(pending.values(), timeout=max(0.0, deadline - time.monotonic()))
        return [answered[i] if i in answered else _finished_entry(pending[i], model_version) for i in range(len(tasks))]

    def shutdown(self, wait_for_tasks: bool = False) -> None:
        """Stop the pools (tests and process exit); running calls finish unless the process ends."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.shutdown(wait=wait_for_tasks, cancel_futures=not wait_for_tasks)

    def _submit(self, annotator: Annotator, task: dict[str, Any]) -> Future[Outcome]:
        key = (annotator.agent.id, _task_key(task))
        with self._lock:
            future = self._inflight.get(key)
            if future is not None:
                return future
            future = self._pool(annotator).submit(annotator.annotate, task)
            self._inflight[key] = future
        future.add_done_callback(lambda done: self._finished(key, annotator.agent.model_version, done))
        return future

    def _pool(self, annotator: Annotator) -> ThreadPoolExecutor:
        agent = annotator.agent
        pool = self._pools.get(agent.id)
        if pool is None:
            pool = ThreadPoolExecutor(agent.config.concurrency(), thread_name_prefix=f"predict-{agent.id[:8]}")
            self._pools[agent.id] = pool
        return pool

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
