"""The job and agent a review, a verdict or an export is about, or an error naming what is missing."""

from __future__ import annotations

from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord, JobRecord, NotFoundError


def job_and_agent(runtime: Runtime, job_id: str) -> tuple[JobRecord, AgentRecord]:
    """The job (full id or unique prefix) and its agent; NotFoundError naming the job otherwise."""
    job = runtime.store.find_job(job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}; `lsagent jobs list --project P` shows the job ids")
    agent = runtime.store.get_agent(job.agent_id)
    if agent is None:
        raise NotFoundError(f"the agent {job.agent_id!r} of job {job.id} is gone")
    return job, agent
