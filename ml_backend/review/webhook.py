"""Label Studio's webhook, read as a hint and nothing more.

Label Studio posts /webhook without any credentials, so anyone who can reach the service can post
anything, as often as they like. So a post may cost the service only a bounded, paced amount of
work, and never a prediction or an LLM call:

* The payload is only mined for ids, at most ``MAX_HINTS`` tasks per post.
* A hint is followed only for a task that a job of the hinted project has labelled: one query to
  the service's own store decides, and Label Studio is never asked about any other task. (Reading
  a task, or listing tasks, makes Label Studio 1.23.2 call a connected backend's /predict for
  tasks without predictions when "evaluate predictions automatically" is on.)
* For such a task only its annotations are read (``GET /api/tasks/<id>/annotations``, which
  never predicts), with the service's own credentials, and recorded as verifications.
* The request thread only filters and queues; one background thread per process follows the
  queue at most ``READS_PER_SECOND`` Label Studio reads a second. The queue holds at most
  ``QUEUE_SIZE`` distinct hints; beyond that, hints are dropped (``lsagent verification sync``
  catches up on anything a dropped hint would have recorded).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from ml_backend.engine.ratelimit import LocalRateLimiter
from ml_backend.review.verdicts import record_task
from ml_backend.runtime import Runtime

log = logging.getLogger(__name__)

MAX_HINTS = 10
QUEUE_SIZE = 500
READS_PER_SECOND = 5
EMAILS_TTL_S = 60.0
#: Ids above this fit no database column nor Label Studio's: not an id.
MAX_ID = 2**63 - 1

Hint = tuple[int, int]  # (project, task id)


def read_hints(payload: dict[str, Any]) -> tuple[int | None, list[int]]:
    """The project id and task ids a payload mentions; any shape is accepted, nothing is trusted."""
    project = _id(payload.get("project"))
    candidates: list[Any] = [payload.get("task")]
    annotation = payload.get("annotation")
    if isinstance(annotation, dict):
        candidates.append(annotation.get("task"))
    candidates += [item.get("task") for item in _objects(payload.get("annotations"))]
    candidates += _objects(payload.get("tasks"))
    task_ids: list[int] = []
    for candidate in candidates:
        task_id = _id(candidate)
        if task_id is not None and task_id not in task_ids:
            task_ids.append(task_id)
        if len(task_ids) == MAX_HINTS:
            break
    return project, task_ids


def follow_hint(runtime: Runtime, project: int, task_id: int, emails: dict[int, str] | None = None) -> dict[str, Any]:
    """Record the verifications of a task the service labelled, from its annotations only.

    The caller has checked the store (``Store.labelled_tasks``): the task belongs to ``project``
    because a job of the service read it there, so Label Studio is asked for nothing but the
    task's annotations.
    """
    from sync.annotations import list_annotations

    annotations = list_annotations(runtime.label_studio(), task_id)
    return record_task(runtime, {"id": task_id, "project": project, "annotations": annotations}, emails)


class HintFollower:
    """Per process: filters hints against the store, queues them and follows them at a pace.

    The thread starts on the first hint worth following, so building an app (gunicorn's master
    before it forks) starts nothing.
    """

    def __init__(self, runtime: Runtime, *, reads_per_second: int = READS_PER_SECOND,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.runtime = runtime
        self._queue: queue.Queue[Hint | None] = queue.Queue(queue_size)
        self._pending: set[Hint] = set()
        self._busy = 0
        self._lock = threading.Condition()
        self._limiter = LocalRateLimiter(reads_per_second * 60, None)
        self._thread: threading.Thread | None = None
        self._closed = False
        self._emails: tuple[float, dict[int, str]] | None = None

    def offer(self, project: int | None, task_ids: list[int]) -> dict[str, int]:
        """Queue the hints worth following; returns how many were queued, ignored and dropped."""
        known = self.runtime.store.labelled_tasks(project, task_ids) if project is not None and task_ids else set()
        counts = {"queued": 0, "ignored": len(task_ids) - len(known), "dropped": 0}
        with self._lock:
            if self._closed:
                return {**counts, "dropped": len(known)}
            for task_id in sorted(known):
                counts["queued" if self._enqueue((project, task_id)) else "dropped"] += 1  # type: ignore[arg-type]
        if counts["dropped"]:
            log.warning("webhook: %d hint(s) dropped, the queue is full; `lsagent verification sync` catches up",
                        counts["dropped"])
        return counts

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued hint has been followed (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._lock.wait(left):
                    return not (self._pending or self._busy)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop following hints; the hint in hand is finished, the queued ones are dropped."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                self._drain()
                self._queue.put_nowait(None)
            thread.join(timeout)

    def _enqueue(self, hint: Hint) -> bool:
        """Called with the lock held. A hint already waiting is not queued twice."""
        if hint in self._pending:
            return True
        try:
            self._queue.put_nowait(hint)
        except queue.Full:
            return False
        self._pending.add(hint)
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="webhook-hints", daemon=True)
            self._thread.start()
        return True

    def _run(self) -> None:
        while (hint := self._queue.get()) is not None:
            with self._lock:
                self._pending.discard(hint)
                self._busy += 1
            try:
                self._follow(*hint)
            except Exception as exc:  # a hint that cannot be followed is dropped, never an error
                log.warning("webhook hint for task %s not followed: %s", hint[1], type(exc).__name__)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._lock.notify_all()

    def _follow(self, project: int, task_id: int) -> None:
        if self._closed:
            return
        self._limiter.acquire(1)
        follow_hint(self.runtime, project, task_id, self._annotator_emails())

    def _annotator_emails(self) -> dict[int, str]:
        """The users' emails, read at most once a minute (one more paced Label Studio read)."""
        from sync.review import user_emails

        if self._emails is None or time.monotonic() - self._emails[0] > EMAILS_TTL_S:
            self._limiter.acquire(1)
            self._emails = (time.monotonic(), user_emails(self.runtime.label_studio()))
        return self._emails[1]

    def _drain(self) -> None:
        with self._lock:
            while True:
                try:
                    hint = self._queue.get_nowait()
                except queue.Empty:
                    break
                if hint is not None:
                    self._pending.discard(hint)
            self._lock.notify_all()


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _id(value: Any) -> int | None:
    """A positive integer id, directly or as {"id": n}; anything else is not an id."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value
