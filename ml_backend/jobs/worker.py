"""``lsagent worker``: an RQ worker that runs chunks of annotation jobs, on any machine that
reaches the database, Redis, Label Studio and the LLM endpoint.

It is rq's ``SimpleWorker`` (no fork per RQ job): an RQ job only puts a chunk on this process's
pools and returns, so the process keeps one LLM client per agent, one connection pool, and a
pipeline that never idles between chunks. Exactly-once does not rest on RQ: chunks are claimed
in the store and items recorded once; a killed worker's chunks are taken back by the job's
coordinator when its heartbeats stop.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from ml_backend.jobs.chunk import ChunkProcessor
from ml_backend.jobs.locks import RedisLeases
from ml_backend.jobs.options import JobOptions
from ml_backend.redact import install_log_filter
from ml_backend.runtime import Runtime
from ml_backend.settings import Settings

log = logging.getLogger(__name__)

_processor: ChunkProcessor | None = None
_lock = threading.Lock()


class WorkerConfigError(RuntimeError):
    """The worker cannot run with this environment; the message says what to set."""


def processor() -> ChunkProcessor:
    """This process's chunk processor, built from the environment on first use."""
    global _processor
    with _lock:
        if _processor is None:
            settings, options = _configuration()
            if not settings.redis_url:
                raise WorkerConfigError("REDIS_URL must be set: workers take chunks from a Redis queue")
            runtime = Runtime(settings)
            _processor = ChunkProcessor(runtime, RedisLeases(runtime.redis(), options.key_prefix), options)
        return _processor


def run_chunk(job_id: str, index: int, task_ids: list[int], attempts: int,
              tasks: list[dict[str, Any]] | None = None) -> str:
    """The RQ job: start one chunk on this process (see ``ChunkProcessor.run``)."""
    return processor().run(job_id, index, task_ids, attempts, tasks)


def work(queue: str | None = None, burst: bool = False) -> bool:
    """Process chunks until stopped (SIGINT/SIGTERM) or, with ``burst``, until the queue is
    empty; then let the chunks in hand finish. Returns whether they all did."""
    from rq import Queue, SimpleWorker

    settings, options = _configuration()
    install_log_filter()
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s")
    for chatty in ("httpx", "httpx2"):  # one line per HTTP request would drown the worker's log
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))
    chunks = processor()
    redis = chunks.runtime.redis()
    name = queue or options.queue
    worker = SimpleWorker([Queue(name, connection=redis)], connection=redis)
    log.info("lsagent worker %s on queue %r (store %s)", chunks.worker, name, chunks.runtime.store.url)
    worker.work(burst=burst, with_scheduler=False, logging_level=settings.log_level)
    drained = chunks.close(options.drain_s)
    if not drained:
        log.warning("stopped with chunks unfinished; their coordinator hands them out again")
    return drained


def _configuration() -> tuple[Settings, JobOptions]:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        raise WorkerConfigError(str(exc)) from None
    return settings, settings.jobs
