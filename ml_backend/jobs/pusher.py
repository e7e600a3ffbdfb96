"""A job's predictions written from their own thread, so that a slow Label Studio never holds
up the planning and hand-out of chunks (a bulk import of a few hundred predictions can take
seconds on a busy Label Studio).

Every ``push_interval_s`` the pusher writes everything finished since the last time, in a few
large requests rather than many small ones. While Label Studio is unreachable it backs off
(0.5 s doubling up to ``push_backoff_max_s``) and the predictions wait in the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ml_backend.jobs.locks import Leases
from ml_backend.jobs.options import JobOptions
from ml_backend.jobs.push import PushBusy, PushResult, effective_batch, push_pending
from ml_backend.runtime import Runtime
from ml_backend.store import JobRecord

log = logging.getLogger(__name__)


class Backoff:
    """Exponential waits for retrying Label Studio: 0.5 s, 1 s, 2 s... up to ``maximum``."""

    def __init__(self, maximum: float) -> None:
        self.maximum = maximum
        self.delay = 0.0
        self.next_at = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.next_at

    def failed(self) -> float:
        self.delay = min(max(self.delay * 2, 0.5), self.maximum)
        self.next_at = time.monotonic() + self.delay
        return self.delay

    def succeeded(self) -> None:
        self.delay = 0.0
        self.next_at = 0.0


class Pusher:
    """``after_write`` runs after a push that left predictions of the agent in Label Studio."""

    def __init__(self, runtime: Runtime, job: JobRecord, model_version: str, leases: Leases, owner: str,
                 options: JobOptions, after_write: Callable[[], None]) -> None:
        self.runtime = runtime
        self.job = job
        self.model_version = model_version
        self.leases = leases
        self.owner = owner
        self.options = options
        self.after_write = after_write
        self.refused: str | None = None  # Label Studio refused the predictions: the job fails
        self._backoff = Backoff(options.push_backoff_max_s)
        self._wrote = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"push-{job.id[:8]}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def push(self) -> bool:
        """Write everything finished now, a batch at a time; False when Label Studio could not
        take it (the rest waits for a later call)."""
        from sync.client import LabelStudioError, LabelStudioUnavailable

        with self._lock:
            try:
                while True:
                    result = push_pending(self.runtime, self.job, self.model_version, self.leases, self.owner,
                                          self.options.lease_s, self.options.push_batch)
                    _log(self.job.id, result)
                    self._wrote = self._wrote or bool(result.imported or result.already_there)
                    if self._wrote:
                        self.after_write()  # idempotent; again after a failure, until it succeeds
                    if result.total < effective_batch(self.options.push_batch):  # nothing more waits
                        break
            except (LabelStudioUnavailable, PushBusy) as exc:
                log.warning("job %s: predictions wait, %s; next try in %.1fs", self.job.id, exc,
                            self._backoff.failed())
                return False
            except LabelStudioError as exc:
                self.refused = f"Label Studio refused the predictions: {exc}"
                return False
        self._backoff.succeeded()
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.options.push_interval_s):
            if self.refused is None and self._backoff.ready():
                try:
                    self.push()
                except Exception:
                    log.exception("job %s: writing predictions failed; retrying", self.job.id)
                    self._backoff.failed()


def _log(job_id: str, result: PushResult) -> None:
    if result.total:
        log.info("job %s: %d prediction(s) written, %d already there", job_id, result.imported, result.already_there)
