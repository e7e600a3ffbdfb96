"""Where chunks run: in the service process (embedded) or on RQ workers (distributed).

A freshly planned chunk travels with its tasks (read once from Label Studio by the planner); a
chunk handed out again after a failure travels with its task ids only and is read again.

Both executors only *hand over* a chunk; the store decides who runs it (a chunk is claimed by
exactly one process), so handing a chunk over twice is harmless: the coordinator re-dispatches
whenever it cannot be sure a hand-over is still on its way. ``waiting`` says whether one is.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from ml_backend.jobs.chunk import ChunkProcessor
from ml_backend.jobs.options import JobOptions

log = logging.getLogger(__name__)

RQ_FUNCTION = "ml_backend.jobs.worker.run_chunk"
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


class Executor(Protocol):
    def dispatch(self, job_id: str, index: int, task_ids: Sequence[int], attempts: int,
                 tasks: list[dict[str, Any]] | None = None) -> None: ...

    def waiting(self, job_id: str, index: int) -> bool: ...

    def failure(self, job_id: str, index: int) -> str | None: ...

    def forget(self, job_id: str) -> None: ...

    def listeners(self) -> int: ...

    def close(self) -> None: ...


class EmbeddedExecutor:
    """A feeder thread hands chunks to this process's ``ChunkProcessor`` one after the other
    (``run`` returns once a chunk is on the pool, so one feeder keeps the pool full)."""

    def __init__(self, processor: ChunkProcessor) -> None:
        self.processor = processor
        self._queue: queue.Queue[tuple[str, int, list[int], int, Any] | None] = queue.Queue()
        self._waiting: set[tuple[str, int]] = set()
        self._failures: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._feed, name="chunk-feeder", daemon=True)
        self._thread.start()

    def dispatch(self, job_id: str, index: int, task_ids: Sequence[int], attempts: int,
                 tasks: list[dict[str, Any]] | None = None) -> None:
        with self._lock:
            if (job_id, index) in self._waiting:
                return
            self._waiting.add((job_id, index))
        self._queue.put((job_id, index, list(task_ids), attempts, tasks))

    def waiting(self, job_id: str, index: int) -> bool:
        with self._lock:
            return (job_id, index) in self._waiting

    def failure(self, job_id: str, index: int) -> str | None:
        """Why the last hand-over of the chunk could not start it, if it could not."""
        with self._lock:
            return self._failures.get((job_id, index))

    def forget(self, job_id: str) -> None:
        with self._lock:
            for key in [key for key in self._failures if key[0] == job_id]:
                del self._failures[key]

    def listeners(self) -> int:
        """Processes that run this executor's chunks: this one."""
        return 1

    def close(self) -> None:
        self._queue.put(None)

    def _feed(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job_id, index, task_ids, attempts, tasks = item
            failure = None
            try:
                result = self.processor.run(job_id, index, task_ids, attempts, tasks)
                log.debug("job %s: chunk %s: %s", job_id, index, result)
            except Exception as exc:
                log.exception("job %s: chunk %s could not start; it will be dispatched again", job_id, index)
                failure = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._waiting.discard((job_id, index))
                if failure is None:
                    self._failures.pop((job_id, index), None)
                else:
                    self._failures[(job_id, index)] = failure


class RQExecutor:
    """Chunks are RQ jobs on ``options.queue``, run by ``lsagent worker`` processes anywhere."""

    def __init__(self, redis: Any, options: JobOptions) -> None:
        from rq import Queue

        self.redis = redis
        self.options = options
        self.queue = Queue(options.queue, connection=redis)
        self._prefix = _NOT_ID.sub("_", options.key_prefix)
        self._sent: dict[tuple[str, int], str] = {}
        self._taken: dict[str, float] = {}  # RQ jobs out of the queue but not started: since when
        self._lock = threading.Lock()

    def dispatch(self, job_id: str, index: int, task_ids: Sequence[int], attempts: int,
                 tasks: list[dict[str, Any]] | None = None) -> None:
        rq_id = f"{self._prefix}-{job_id}-{index}-{uuid.uuid4().hex[:8]}"
        self.queue.enqueue_call(
            RQ_FUNCTION,
            args=(job_id, index, list(task_ids), attempts, tasks),
            job_id=rq_id,
            at_front=attempts > 0,  # a chunk taken back from a lost worker goes before the planned ones
            timeout=-1,  # a chunk may wait for room or for Label Studio; its lease, not RQ, decides
            result_ttl=600,
            failure_ttl=24 * 3600,
            description=f"lsagent job {job_id} chunk {index}",
        )
        with self._lock:
            self._sent[(job_id, index)] = rq_id

    def waiting(self, job_id: str, index: int) -> bool:
        """In the queue, or taken by a worker less than a lease ago. A worker killed between
        taking an RQ job and claiming its chunk leaves the RQ job "queued" (RQ moved it out of
        the queue) or "started" for good: after a lease it counts as lost."""
        from rq.job import Job, JobStatus

        with self._lock:
            rq_id = self._sent.get((job_id, index))
        if rq_id is None:
            return False
        job = Job.fetch_many([rq_id], connection=self.redis)[0]
        if job is None:
            return False
        status = job.get_status(refresh=False)
        if status in (JobStatus.DEFERRED, JobStatus.SCHEDULED):
            return True
        if status == JobStatus.QUEUED:
            if rq_id in self.queue.get_job_ids():
                return True
            with self._lock:
                taken = self._taken.setdefault(rq_id, time.monotonic())
            return time.monotonic() - taken < self.options.lease_s
        if status == JobStatus.STARTED and job.started_at is not None:
            started = job.started_at.replace(tzinfo=job.started_at.tzinfo or UTC)
            return (datetime.now(UTC) - started).total_seconds() < self.options.lease_s
        return False

    def failure(self, job_id: str, index: int) -> str | None:
        """The last line of the error that failed the chunk's last RQ job, if it failed."""
        from rq.job import Job, JobStatus

        with self._lock:
            rq_id = self._sent.get((job_id, index))
        job = Job.fetch_many([rq_id], connection=self.redis)[0] if rq_id else None
        if job is None or job.get_status(refresh=False) != JobStatus.FAILED:
            return None
        result = job.latest_result()
        lines = ((result.exc_string if result is not None else None) or "").strip().splitlines()
        return lines[-1] if lines else "the RQ job failed"

    def forget(self, job_id: str) -> None:
        """Drop the bookkeeping of a finished job."""
        with self._lock:
            for key in [key for key in self._sent if key[0] == job_id]:
                self._taken.pop(self._sent.pop(key), None)

    def listeners(self) -> int:
        """RQ workers listening on the queue now (0: chunks wait until one starts)."""
        from rq import Worker

        return Worker.count(connection=self.redis, queue=self.queue)

    def close(self) -> None:
        """Nothing to stop: the queue lives in Redis."""
