"""Driving one job from queued to done, in a thread of the service.

One coordinator per job at a time, anywhere: it holds the job's lease (a Redis key with a TTL,
or a file lock), so a restarted service, or a second service process, can take over a job whose
coordinator died, and never run two. The coordinator
- reads the subset a page at a time and hands each page out as a chunk, staying a few chunks
  ahead of the workers (``planner``);
- hands out again the chunks that went back to pending, and takes back those whose worker
  stopped sending heartbeats;
- writes finished predictions in bulk (the only writer of the job's predictions), then sets the
  project's model_version to the agent's so the score column and filters show this agent;
  while Label Studio is unreachable it backs off and the predictions wait;
- when every chunk is done and every prediction written, persists the summary and ends the job.
Every step is idempotent, so a coordinator that resumes after a crash simply goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from ml_backend.jobs.executor import Executor
from ml_backend.jobs.locks import Heartbeats, LeaseKeeper, Leases, chunk_key
from ml_backend.jobs.options import JobOptions
from ml_backend.jobs.planner import Planner
from ml_backend.jobs.pricing import price_for
from ml_backend.jobs.pusher import Backoff, Pusher
from ml_backend.jobs.summary import build_summary
from ml_backend.jobs.watch import WATCH
from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, ChunkRecord, JobRecord

log = logging.getLogger(__name__)

FINAL = ("done", "failed", "cancelled")
LAST_LOOK_S = 0.1


class Stop(Exception):
    """The coordinator must stop: the service is closing, or the job's lease was lost."""


class JobFailed(Exception):
    """The job cannot finish; the message is what the user reads."""


class Coordinator:
    def __init__(self, runtime: Runtime, executor: Executor, leases: Leases, heartbeats: Heartbeats,
                 options: JobOptions, job_id: str, owner: str, stopping: threading.Event) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.executor = executor
        self.leases = leases
        self.heartbeats = heartbeats
        self.options = options
        self.job_id = job_id
        self.owner = owner
        self.stopping = stopping
        self._lease = f"job:{job_id}"
        self._plan_backoff = Backoff(options.push_backoff_max_s)
        self._planner: Planner | None = None
        self._pusher: Pusher | None = None
        self._model_version_refused = False
        self._keeper: LeaseKeeper | None = None
        self._next_listener_check = time.monotonic() + 10
        self._start_failures: dict[int, tuple[int, float]] = {}
        self._seen = WATCH.version(job_id)

    def run(self) -> None:
        """The thread's body: returns when the job ends, or when this process stops."""
        if not self._stand_by():
            return
        try:
            with LeaseKeeper(self.leases, self._lease, self.owner, self.options.lease_s) as self._keeper:
                self._run_holding_the_lease()
        finally:
            self.executor.forget(self.job_id)

    def _stand_by(self) -> bool:
        """Wait for the job's lease while another coordinator holds it, so that when that one
        dies (even by SIGKILL) this one takes over as soon as its lease runs out, not at the next
        janitor round. False when the job ended meanwhile or this process stops."""
        next_look = time.monotonic() + self.options.lease_s
        while not self.leases.try_acquire(self._lease, self.owner, self.options.lease_s):
            if self.stopping.wait(self.options.poll_s):
                return False
            if time.monotonic() >= next_look:
                job = self.store.get_job(self.job_id)
                if job is None or job.status in FINAL:
                    return False
                next_look = time.monotonic() + self.options.lease_s
        return True

    def _run_holding_the_lease(self) -> None:
        try:
            self._drive()
        except Stop:
            log.info("job %s: coordinator stopping; the job resumes with the next coordinator", self.job_id)
        except JobFailed as exc:
            self._fail(str(exc))
        except Exception as exc:
            log.exception("job %s: coordinator failed", self.job_id)
            self._fail(f"internal error in the job coordinator ({type(exc).__name__}); see the service log")

    # --- the life of a job -----------------------------------------------------------------

    def _drive(self) -> None:
        job = self._job()
        if job.status in FINAL:
            return
        if job.status == "queued":
            job = self.store.set_status(self.job_id, "running")
        agent = self.store.get_agent(job.agent_id)
        if agent is None:
            raise JobFailed(f"agent {job.agent_id} no longer exists")
        price_for(agent.config["model"])  # a broken LSAGENT_PRICES file fails the job now, clearly
        self._start_planning(job)
        self._pusher = Pusher(self.runtime, job, agent.model_version, self.leases, self.owner, self.options,
                              after_write=lambda: self._set_model_version(job, agent))
        self._pusher.start()
        try:
            self._loop(agent)
        finally:
            self._pusher.stop()

    def _loop(self, agent: AgentRecord) -> None:
        while True:
            job = self._job()
            if job.status == "cancelled":
                self._wind_down(job, agent)
                return
            if job.status != "running":
                return
            if self._pusher is not None and self._pusher.refused:
                raise JobFailed(self._pusher.refused)
            chunks = self.store.chunks(self.job_id)
            self._supervise(chunks)
            self._plan_ahead(job, chunks)
            self._warn_if_nobody_works(chunks)
            if self._finished(agent):
                self._finish(agent)
                return
            self._pause(self._next_look(chunks))

    def _next_look(self, chunks: list[ChunkRecord]) -> float:
        """``poll_s``; a tenth of a second once every chunk is planned and claimed. Chunks that
        run in other processes (RQ workers) cannot wake this coordinator when they end, so near
        the end it looks more often and the job ends within a tenth of a second of its last record."""
        if self._planner is None and chunks and all(chunk.status != "pending" for chunk in chunks):
            return min(self.options.poll_s, LAST_LOOK_S)
        return self.options.poll_s

    def _finished(self, agent: AgentRecord) -> bool:
        """Planned, every chunk done (read now: planning may have just added some), every
        labeled item written to Label Studio (a last push from here), the model_version set."""
        from sync.client import LabelStudioUnavailable

        if self._planner is not None or any(chunk.status != "done" for chunk in self.store.chunks(self.job_id)):
            return False
        if self.store.unpushed_items(self.job_id, 1) and self._pusher is not None:
            self._pusher.push()
        if self.store.unpushed_items(self.job_id, 1):
            return False
        job = self._job()
        try:
            if job.labeled:
                self._set_model_version(job, agent)
        except LabelStudioUnavailable:
            return False
        return True

    def _start_planning(self, job: JobRecord) -> None:
        """Go on planning where the previous coordinator stopped (from the start for a new job)."""
        if job.planned:
            return
        self._planner = Planner(self.runtime, job, self.options.chunk_size, self.store.chunks(self.job_id))
        if job.total == 0:
            try:
                self.store.set_total(self.job_id, self._planner.expected_total() or 0)
            except Exception as exc:  # only for progress: planning itself reports real problems
                log.info("job %s: no early task count (%s)", self.job_id, exc)

    def _plan_ahead(self, job: JobRecord, chunks: list[ChunkRecord]) -> None:
        """Read and hand out new chunks while fewer than ``plan_ahead`` wait to be claimed."""
        from sync.client import LabelStudioError, LabelStudioUnavailable

        if self._planner is None or not self._plan_backoff.ready():
            return
        waiting = sum(1 for chunk in chunks if chunk.status == "pending")
        while waiting < self.options.plan_ahead:
            try:
                found = self._planner.next_chunk()
            except LabelStudioUnavailable as exc:
                log.warning("job %s: Label Studio unreachable while reading tasks (%s); retrying in %.1fs",
                            self.job_id, exc, self._plan_backoff.failed())
                return
            except LabelStudioError as exc:
                raise JobFailed(f"Label Studio refused to read the subset {job.subset!r}: {exc}") from None
            self._plan_backoff.succeeded()
            if found is None:
                self._finish_planning()
                return
            index, tasks = found
            self.executor.dispatch(self.job_id, index, [task["id"] for task in tasks], 0, tasks)
            waiting += 1

    def _finish_planning(self) -> None:
        total = self._planner.planned if self._planner else 0
        self.store.set_total(self.job_id, total)
        self.store.set_facts(self.job_id, planned=True)
        self._planner = None
        log.info("job %s: %d task(s) in subset %s", self.job_id, total, self._job().subset)

    def _supervise(self, chunks: list[ChunkRecord]) -> None:
        """Hand out pending chunks; take back running ones whose worker is gone."""
        now = datetime.now(UTC)
        for chunk in chunks:
            if chunk.status == "done":
                continue
            if chunk.status == "running":
                if not self._lost(chunk, now):
                    continue
                log.warning("job %s: chunk %s lost its worker %s; handing it out again",
                            self.job_id, chunk.index, chunk.claimed_by)
                self.store.release_chunk(self.job_id, chunk.index, chunk.claimed_by or "")
            elif self.executor.waiting(self.job_id, chunk.index) or not self._may_start_again(chunk):
                continue
            if chunk.attempts >= self.options.max_chunk_attempts:
                raise JobFailed(f"chunk {chunk.index} (tasks {chunk.task_ids[0]}..{chunk.task_ids[-1]}) failed "
                                f"{chunk.attempts} times; see the worker logs")
            self.executor.dispatch(self.job_id, chunk.index, chunk.task_ids, chunk.attempts)

    def _may_start_again(self, chunk: ChunkRecord) -> bool:
        """A chunk whose hand-over failed before it was claimed (a worker without the API key,
        say) is handed out again after a growing pause, and fails the job after a few tries."""
        failure = self.executor.failure(self.job_id, chunk.index)
        if failure is None:
            self._start_failures.pop(chunk.index, None)
            return True
        count, retry_at = self._start_failures.get(chunk.index, (0, 0.0))
        if time.monotonic() < retry_at:
            return False
        if count + 1 >= self.options.max_chunk_attempts:
            raise JobFailed(f"chunk {chunk.index} could not start {count + 1} times: {failure}")
        self._start_failures[chunk.index] = (count + 1, time.monotonic() + min(0.5 * 2 ** count, 30.0))
        return count > 0

    def _warn_if_nobody_works(self, chunks: list[ChunkRecord]) -> None:
        """Distributed mode with no ``lsagent worker`` on the queue: say so, every minute."""
        if time.monotonic() < self._next_listener_check or all(chunk.status != "pending" for chunk in chunks):
            return
        self._next_listener_check = time.monotonic() + 60
        if self.executor.listeners() == 0:
            log.warning("job %s waits: no `lsagent worker` listens on queue %r (same REDIS_URL and LSAGENT_QUEUE)",
                        self.job_id, self.options.queue)

    def _lost(self, chunk: ChunkRecord, now: datetime) -> bool:
        """No heartbeat, and claimed more than a lease ago (a fresh claim may not have beaten yet)."""
        if self.heartbeats.alive(chunk_key(self.job_id, chunk.index)):
            return False
        claimed = chunk.claimed_at
        return claimed is None or (now - claimed).total_seconds() > self.options.lease_s

    def _set_model_version(self, job: JobRecord, agent: AgentRecord) -> None:
        """Make the project's score column and filters show this agent. Label Studio accepts a
        model_version only once a prediction of it exists, hence after the first push."""
        from sync.client import LabelStudioUnavailable
        from sync.projects import set_model_version

        if self._job().project_model_version_set or self._model_version_refused:
            return
        try:
            set_model_version(self.runtime.label_studio(), job.project, agent.model_version)
        except LabelStudioUnavailable:
            raise
        except Exception as exc:
            self._model_version_refused = True
            log.warning("job %s: Label Studio refused model_version %s for project %s: %s", self.job_id,
                        agent.model_version, job.project, exc)
            return
        self.store.set_facts(self.job_id, project_model_version_set=True)
        log.info("job %s: project %s now shows model_version %s", self.job_id, job.project, agent.model_version)

    def _finish(self, agent: AgentRecord) -> None:
        job = self._job()
        missing = job.total - job.done - job.skipped
        if missing > 0:  # tasks deleted from Label Studio after planning: nothing to label
            job = self.store.add_counts(self.job_id, skipped=missing)
        self._save_summary(job, agent)
        self.store.set_status(self.job_id, "done")
        WATCH.changed(self.job_id)
        log.info("job %s done: %d task(s), %d labeled", self.job_id, job.total, job.labeled)

    def _wind_down(self, job: JobRecord, agent: AgentRecord) -> None:
        """Cancelled: workers skip the tasks they have not started; wait for the ones in flight
        (their chunks go back to pending, or their worker is lost), write what is finished if
        Label Studio answers, and keep the summary."""
        while any(chunk.status == "running" and not self._lost(chunk, datetime.now(UTC))
                  for chunk in self.store.chunks(self.job_id)):
            self._pause(self.options.poll_s)
        if self._pusher is not None:
            self._pusher.push()
        self._save_summary(self._job(), agent)

    def _fail(self, message: str) -> None:
        log.error("job %s failed: %s", self.job_id, message)
        try:
            job = self.store.set_status(self.job_id, "failed", error=message)
            WATCH.changed(self.job_id)
            agent = self.store.get_agent(job.agent_id)
            if agent is not None:
                self._save_summary(job, agent)
        except Exception:
            log.exception("job %s: could not record its failure", self.job_id)

    def _save_summary(self, job: JobRecord, agent: AgentRecord) -> None:
        """The report of the ended job; facts and audits live in their own columns and rows."""
        self.store.save_summary(self.job_id, build_summary(self.store, job, agent))

    # --- plumbing --------------------------------------------------------------------------

    def _job(self) -> JobRecord:
        job = self.store.get_job(self.job_id)
        if job is None:
            raise Stop()
        return job

    def _pause(self, seconds: float) -> None:
        """Sleep, renewing the lease, less when a chunk of the job ends in this process (the last
        one ends the job at once); raise Stop when the service closes or the lease is lost."""
        self._seen = WATCH.pause(self.job_id, seconds, self._seen)
        if self.stopping.is_set():
            raise Stop()
        if self._keeper is not None and self._keeper.lost.is_set():
            log.warning("job %s: lease lost to another coordinator", self.job_id)
            raise Stop()
