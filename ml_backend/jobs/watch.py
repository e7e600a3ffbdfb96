"""Waiting for a job's status to change, without polling on a fixed delay.

``GET /api/jobs/<id>?wait=S`` holds its answer until the job's status changes (it ends, most
of all) or ``S`` seconds pass, so a client following a job learns that it is done at once rather
than at its next poll. A change made in this process (the coordinator ending the job, a chunk
finishing) wakes the waiters at once; a change made by another process (another gunicorn worker's
coordinator) is seen at the next look at the store, every ``look_s``.

A held request holds a server thread, so the waits are bounded twice: at most ``max_waiters``
requests wait at once in a process (one more is answered at once, as without ``wait``), and no
wait lasts more than ``MAX_WAIT_S``. The coordinator uses the same signal to notice its chunks
finishing without waiting for its next round.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

MAX_WAIT_S = 30.0
LOOK_S = 0.1


class JobWatch:
    """Thread-safe; one per process (``WATCH``)."""

    def __init__(self, max_waiters: int = 4, look_s: float = LOOK_S) -> None:
        self.look_s = look_s
        self._changed = threading.Condition()
        self._versions: dict[str, int] = {}
        self._waiters = threading.BoundedSemaphore(max_waiters)
        self._max_waiters = max_waiters
        self._lock = threading.Lock()

    def configure(self, max_waiters: int) -> None:
        """Set the bound on waiting requests (the service: half its threads per process)."""
        with self._lock:
            self._waiters = threading.BoundedSemaphore(max(1, max_waiters))
            self._max_waiters = max(1, max_waiters)

    def changed(self, job_id: str) -> None:
        """Something of ``job_id`` changed in this process: wake whoever waits on it."""
        with self._changed:
            self._versions[job_id] = self._versions.get(job_id, 0) + 1
            self._changed.notify_all()

    def version(self, job_id: str) -> int:
        with self._changed:
            return self._versions.get(job_id, 0)

    def pause(self, job_id: str, seconds: float, since: int) -> int:
        """Sleep up to ``seconds``, less if ``job_id`` changes in this process after version
        ``since``; returns the version now."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while self._versions.get(job_id, 0) == since:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._versions.get(job_id, 0)

    def wait(self, job_id: str, read: Callable[[], T], settled: Callable[[T], bool], seconds: float) -> T:
        """``read()`` again and again until ``settled(value)`` or ``seconds`` (at most
        ``MAX_WAIT_S``) pass; the last value read. Over the waiter bound: one read, no wait."""
        value = read()
        if settled(value) or seconds <= 0:
            return value
        with self._lock:
            waiters = self._waiters
        if not waiters.acquire(blocking=False):
            return value
        try:
            deadline = time.monotonic() + min(seconds, MAX_WAIT_S)
            version = self.version(job_id)
            while not settled(value) and time.monotonic() < deadline:
                version = self.pause(job_id, min(self.look_s, deadline - time.monotonic()), version)
                value = read()
            return value
        finally:
            waiters.release()


WATCH = JobWatch()
