"""The jobs side of a service process: its executor, and a coordinator thread per job.

Built lazily (a new app starts no thread, so gunicorn can fork it): on the first jobs request,
or on the first request of any kind when the store holds unfinished jobs, which is how a
restarted service resumes them. A janitor re-checks every ``janitor_s`` for unfinished jobs
and starts a coordinator for each; one whose job another live process coordinates stands by for
the job's lease, so it takes over within one lease of that process's death.
"""

from __future__ import annotations

import logging
import threading

from ml_backend.jobs.chunk import ChunkProcessor, worker_name
from ml_backend.jobs.coordinator import Coordinator
from ml_backend.jobs.executor import EmbeddedExecutor, Executor, RQExecutor
from ml_backend.jobs.locks import FileLeases, Heartbeats, Leases, LocalHeartbeats, RedisLeases
from ml_backend.jobs.options import JobOptions
from ml_backend.runtime import Runtime

log = logging.getLogger(__name__)

UNFINISHED = ("queued", "running")


class JobManager:
    def __init__(self, runtime: Runtime, options: JobOptions | None = None) -> None:
        self.runtime = runtime
        self.options = options or runtime.settings.jobs
        self.owner = worker_name()
        self.processor: ChunkProcessor | None = None
        self.leases: Leases
        self.heartbeats: Heartbeats
        self.executor: Executor
        redis = runtime.redis()
        if redis is not None:
            shared = RedisLeases(redis, self.options.key_prefix)
            self.leases, self.heartbeats = shared, shared
            self.executor = RQExecutor(redis, self.options)
        else:
            self.leases = FileLeases(runtime.settings.data_dir / "locks")
            self.heartbeats = LocalHeartbeats()
            self.processor = ChunkProcessor(runtime, self.heartbeats, self.options, worker=self.owner)
            self.executor = EmbeddedExecutor(self.processor)
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._janitor = threading.Thread(target=self._janitor_loop, name="jobs-janitor", daemon=True)
        self._janitor.start()

    @property
    def mode(self) -> str:
        return "embedded" if self.processor is not None else "distributed"

    def start(self, job_id: str) -> None:
        """Coordinate ``job_id`` from this process unless a live coordinator already does."""
        with self._lock:
            thread = self._threads.get(job_id)
            if self._stopping.is_set() or (thread is not None and thread.is_alive()):
                return
            coordinator = Coordinator(self.runtime, self.executor, self.leases, self.heartbeats, self.options,
                                      job_id, self.owner, self._stopping)
            thread = threading.Thread(target=coordinator.run, name=f"job-{job_id[:8]}", daemon=True)
            self._threads[job_id] = thread
            thread.start()  # under the lock: a second start() must see it alive

    def resume(self) -> int:
        """Start a coordinator for every unfinished job (each waits for the job's lease)."""
        unfinished = [job.id for job in self.runtime.store.list_jobs() if job.status in UNFINISHED]
        for job_id in unfinished:
            self.start(job_id)
        return len(unfinished)

    def wait(self, job_id: str, timeout: float) -> bool:
        """Wait for this process's coordinator of ``job_id`` to end (tests, shutdown)."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def close(self, drain_s: float = 5.0) -> None:
        """Stop coordinating (jobs go on with the next coordinator) and stop local chunks."""
        self._stopping.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=drain_s)
        self.executor.close()
        if self.processor is not None:
            self.processor.close(drain_s)

    def _janitor_loop(self) -> None:
        self._safe_resume()
        while not self._stopping.wait(self.options.janitor_s):
            self._safe_resume()

    def _safe_resume(self) -> None:
        try:
            self.resume()
        except Exception:
            log.exception("could not look for unfinished jobs; trying again in %.0fs", self.options.janitor_s)


def has_unfinished_jobs(runtime: Runtime) -> bool:
    return any(job.status in UNFINISHED for job in runtime.store.list_jobs())
