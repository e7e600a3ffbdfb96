"""``ml_backend.worker``: RQ jobs queued before the flow layout name ``ml_backend.worker.run_chunk``;
after an upgrade a real ``lsagent worker`` must still find and run that function."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus

import ml_backend.worker
from ml_backend.jobs import worker

OLD_PATH = "ml_backend.worker.run_chunk"
LSAGENT = Path(sys.executable).with_name("lsagent")


@pytest.fixture
def queue(redis_url: str) -> Iterator[Queue]:
    """A queue of this test alone; its keys are deleted afterwards."""
    connection = redis.Redis.from_url(redis_url)
    tag = f"lsagent-test-{uuid.uuid4().hex[:10]}"
    yield Queue(tag, connection=connection)
    keys = list(connection.scan_iter(match=f"rq:*{tag}*", count=1000))
    if keys:
        connection.delete(*keys)
    connection.srem("rq:queues", f"rq:queue:{tag}")
    connection.close()


def test_the_old_path_is_the_new_function() -> None:
    assert ml_backend.worker.run_chunk is worker.run_chunk


def test_a_chunk_queued_under_the_old_path_runs_on_a_worker(queue: Queue, redis_url: str, tmp_path: Path) -> None:
    job_id = "job-from-before-the-upgrade"
    queued = queue.enqueue_call(OLD_PATH, args=(job_id, 0, [1, 2], 0, None), job_id=f"{queue.name}-old")
    assert queued.func_name == OLD_PATH
    env = {**os.environ, "REDIS_URL": redis_url, "LSAGENT_QUEUE": queue.name, "LSAGENT_KEY_PREFIX": queue.name,
           "LSAGENT_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([str(LSAGENT), "worker", "--burst"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ran = Job.fetch(queued.id, connection=queue.connection)
    assert ran.get_status() == JobStatus.FINISHED, ran.exc_info
    # the chunk's own answer: the job is not in this (new, empty) store, so nothing was labelled
    assert ran.return_value() == "chunk 0: job is gone, nothing to do"
