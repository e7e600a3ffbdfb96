"""Processing chunks of a job inside one process (the service, or an ``lsagent worker``).

A chunk is claimed in the store (one conditional UPDATE: of several processes handed the same
chunk exactly one wins), its tasks are read from Label Studio, and every task not recorded yet
is annotated on the agent's pool and recorded (in batches, ``recorder``); the store keeps one item
per (job, task) ever, whatever retries or takeovers happen. While a process holds chunks it sends heartbeats;
a coordinator takes back the chunks of a process whose heartbeats stopped (SIGKILL included).

Chunks are pipelined: ``run`` returns as soon as the chunk's tasks are on the pool, once the
pool has room, so the caller (an RQ job, the embedded feeder) can fetch the next chunk while
the tail of this one is still running; the last task of a chunk marks it done. The pool never
idles between chunks, which is what keeps a worker at its concurrency bound.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_backend.engine.annotate import Annotator
from ml_backend.engine.pools import AgentPools
from ml_backend.jobs.items import item_fields
from ml_backend.jobs.locks import Heartbeats, chunk_key
from ml_backend.jobs.options import JobOptions
from ml_backend.jobs.pricing import Price, price_for
from ml_backend.jobs.recorder import Recorder
from ml_backend.jobs.watch import WATCH
from ml_backend.runtime import Runtime

log = logging.getLogger(__name__)

TASK_FIELDS = ("id", "data")
#: Threads per unit of the agent's concurrency: the LLM client still allows only max_concurrency
#: calls at once, the other threads render prompts and read the cache meanwhile.
POOL = 2
#: Tasks on the pool, per unit of concurrency, below which another chunk is taken: the queue
#: beyond the threads covers the time to claim (and maybe read) the next chunk.
BACKLOG = 3


class Stopped(Exception):
    """The job stopped running, or this process is shutting down."""


def worker_name() -> str:
    """Unique per process and per start: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class _Run:
    """One claimed chunk in this process."""

    job_id: str
    index: int
    remaining: int = 0
    failed: bool = False
    skipped: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def key(self) -> str:
        return chunk_key(self.job_id, self.index)

    def task_done(self) -> bool:
        with self.lock:
            self.remaining -= 1
            return self.remaining == 0


class ChunkProcessor:
    """One per process. Thread-safe: the embedded feeder and RQ's job both call ``run``."""

    def __init__(self, runtime: Runtime, heartbeats: Heartbeats, options: JobOptions,
                 worker: str | None = None) -> None:
        self.runtime = runtime
        self.heartbeats = heartbeats
        self.options = options
        self.worker = worker or worker_name()
        self.recorder = Recorder(runtime.store)
        self._room = threading.Condition()
        self._outstanding: defaultdict[str, int] = defaultdict(int)
        self._pools = AgentPools("job", idle_s=runtime.settings.pool_idle_s)
        self._admission: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._held: dict[str, _Run] = {}
        self._stopped_jobs: set[str] = set()
        self._closing = threading.Event()
        self._aborting = threading.Event()
        self._beater: threading.Thread | None = None
        self._lock = threading.Lock()

    # --- the entry point -------------------------------------------------------------------

    def run(self, job_id: str, index: int, task_ids: Sequence[int], attempts: int = 0,
            tasks: list[dict[str, Any]] | None = None) -> str:
        """Claim chunk ``index`` of ``job_id`` and put its unrecorded tasks on the pool.
        Returns what happened, for logs. ``attempts`` is the chunk's claim count when it was
        dispatched: above 0 a previous holder may have recorded some of its tasks. ``tasks``
        (id and data) come with a freshly planned chunk; otherwise they are read again."""
        job = self.runtime.store.get_job(job_id)
        if job is None or job.status != "running" or self._closing.is_set():
            return f"chunk {index}: job is {job.status if job else 'gone'}, nothing to do"
        record = self.runtime.store.get_agent(job.agent_id)
        if record is None:
            raise RuntimeError(f"chunk {index}: the agent {job.agent_id} of job {job_id} is gone")
        annotator = self.runtime.annotator(record)
        price = price_for(record.config["model"])
        with self._admission[record.id]:
            self._wait_for_room(annotator)
            if self._closing.is_set():
                return f"chunk {index}: this process is shutting down"
            if not self.runtime.store.claim_chunk(job_id, index, self.worker):
                return f"chunk {index}: already taken"
            run = _Run(job_id, index)
            self._hold(run)
            if not self._still_running(job_id):  # cancelled while we waited: the coordinator may be past us
                self._release(run)
                return f"chunk {index}: released, the job stopped"
            try:
                if tasks is None:
                    tasks = self._fetch(job.project, job_id, task_ids)
                tasks = self._unrecorded(job_id, tasks, attempts)
            except Stopped:
                self._release(run)
                return f"chunk {index}: released, the job stopped"
            except Exception:
                log.exception("chunk %s of job %s: reading its tasks failed", index, job_id)
                self._release(run)
                raise
            self._submit(run, annotator, price, tasks)
        return f"chunk {index}: {len(tasks)} task(s) started"

    # --- reading tasks ---------------------------------------------------------------------

    def _fetch(self, project: int, job_id: str, task_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The chunk's tasks; while Label Studio is unreachable, wait and retry (heartbeats go
        on, so the chunk stays ours) until it answers or the job stops."""
        from sync.client import LabelStudioUnavailable
        from sync.tasks import iter_task_pages

        delay = 0.5
        while True:
            try:
                client = self.runtime.label_studio()
                pages = iter_task_pages(client, project, page_size=max(len(task_ids), 1), ids=task_ids,
                                        fields=TASK_FIELDS)
                return [task for page in pages for task in page]
            except LabelStudioUnavailable as exc:
                log.warning("job %s: Label Studio unreachable while reading tasks (%s); retrying in %.1fs",
                            job_id, exc, delay)
            self._sleep_unless_stopped(job_id, delay)
            delay = min(delay * 2, self.options.push_backoff_max_s)

    def _unrecorded(self, job_id: str, tasks: list[dict[str, Any]], attempts: int) -> list[dict[str, Any]]:
        """Drop tasks a previous holder of the chunk already recorded (only a retried chunk can
        have any), so that nothing is annotated, or paid for, twice."""
        if attempts <= 0:
            return tasks
        store = self.runtime.store
        return [task for task in tasks if store.get_item(job_id, int(task["id"])) is None]

    def _sleep_unless_stopped(self, job_id: str, seconds: float) -> None:
        if self._closing.wait(seconds) or not self._still_running(job_id):
            raise Stopped()

    def _still_running(self, job_id: str) -> bool:
        job = self.runtime.store.get_job(job_id)
        return job is not None and job.status == "running"

    # --- running tasks ---------------------------------------------------------------------

    def _wait_for_room(self, annotator: Annotator) -> None:
        limit = BACKLOG * annotator.agent.config.concurrency()
        with self._room:
            self._room.wait_for(lambda: self._outstanding[annotator.agent.id] < limit or self._closing.is_set())

    def _submit(self, run: _Run, annotator: Annotator, price: Price, tasks: list[dict[str, Any]]) -> None:
        if not tasks:
            self._complete(run)
            return
        run.remaining = len(tasks)
        agent = annotator.agent
        with self._room:
            self._outstanding[agent.id] += len(tasks)
        for task in tasks:
            self._pools.submit(agent.id, POOL * agent.config.concurrency(), self._one, run, annotator, price, task)

    def _one(self, run: _Run, annotator: Annotator, price: Price, task: dict[str, Any]) -> None:
        recording = False
        try:
            if self._aborting.is_set() or run.job_id in self._stopped_jobs:
                run.skipped = True
            else:
                outcome = annotator.annotate(task)
                self.recorder.add(run.job_id, outcome.task_id, item_fields(outcome, price),
                                  lambda ok: self._recorded(run, ok))
                recording = True
        except Exception:
            log.exception("job %s chunk %s: task %s failed unexpectedly", run.job_id, run.index, task.get("id"))
            run.failed = True
        finally:
            with self._room:
                self._outstanding[annotator.agent.id] -= 1
                self._room.notify_all()
            if not recording:
                self._task_over(run)

    def _recorded(self, run: _Run, ok: bool) -> None:
        if not ok:
            run.failed = True
        self._task_over(run)

    def _task_over(self, run: _Run) -> None:
        if run.task_done():
            self._complete(run)

    def _complete(self, run: _Run) -> None:
        """The chunk's last task is over: done if all of them were recorded, else back to pending."""
        try:
            if run.failed or run.skipped:
                self.runtime.store.release_chunk(run.job_id, run.index, self.worker)
            elif not self.runtime.store.finish_chunk(run.job_id, run.index, self.worker):
                log.warning("job %s chunk %s was taken over by another worker; its items are kept once",
                            run.job_id, run.index)
        except Exception:
            log.exception("job %s chunk %s: could not update its status; its lease will expire",
                          run.job_id, run.index)
        finally:
            self._unhold(run)
            WATCH.changed(run.job_id)

    def _release(self, run: _Run) -> None:
        try:
            self.runtime.store.release_chunk(run.job_id, run.index, self.worker)
        finally:
            self._unhold(run)

    # --- heartbeats and shutdown -----------------------------------------------------------

    def _hold(self, run: _Run) -> None:
        with self._lock:
            self._held[run.key] = run
            if self._beater is None:
                self._beater = threading.Thread(target=self._beat_forever, name="chunk-heartbeat", daemon=True)
                self._beater.start()
                threading.Thread(target=self._watch_jobs_forever, name="chunk-job-watch", daemon=True).start()
        self.heartbeats.beat([run.key], self.worker, self.options.lease_s)

    def _unhold(self, run: _Run) -> None:
        with self._lock:
            self._held.pop(run.key, None)
        try:
            self.heartbeats.forget(run.key, self.worker)
        except Exception:
            log.warning("could not clear the heartbeat of %s; it expires on its own", run.key)

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def _beat_forever(self) -> None:
        """Heartbeats only, never behind the database: a busy process's annotating threads can
        hold every pooled connection for seconds, and a beat that waited for one would arrive
        after the lease and lose live chunks to a takeover (and their tasks would be paid twice)."""
        while not self._aborting.wait(self.options.heartbeat_s):
            with self._lock:
                keys = list(self._held)
            if not keys:
                continue
            try:
                self.heartbeats.beat(keys, self.worker, self.options.lease_s)
            except Exception:
                log.exception("heartbeat failed; retrying in %.1fs", self.options.heartbeat_s)

    def _watch_jobs_forever(self) -> None:
        """As often as the heartbeats, on a thread of its own: which held jobs stopped running."""
        while not self._aborting.wait(self.options.heartbeat_s):
            with self._lock:
                job_ids = {run.job_id for run in self._held.values()}
            try:
                self._note_stopped_jobs(job_ids)
            except Exception:
                log.exception("could not read the status of jobs %s; retrying in %.1fs", sorted(job_ids),
                              self.options.heartbeat_s)

    def _note_stopped_jobs(self, job_ids: set[str]) -> None:
        """A cancelled job's queued tasks are skipped instead of annotated."""
        for job_id in job_ids:
            job = self.runtime.store.get_job(job_id)
            if job is None or job.status != "running":
                self._stopped_jobs.add(job_id)

    def close(self, drain_s: float) -> bool:
        """Take no more chunks, let held ones finish for up to ``drain_s``, then skip the rest
        (their chunks go back to pending). Returns whether everything finished."""
        self._closing.set()
        with self._room:
            self._room.notify_all()
        deadline = time.monotonic() + drain_s
        while self.held() and time.monotonic() < deadline:
            time.sleep(0.05)
        drained = not self.held()
        self._aborting.set()
        self._pools.shutdown(wait=not drained, cancel_futures=False)
        self.recorder.close()
        return drained
