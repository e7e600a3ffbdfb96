"""Admin routes for annotation jobs: start, estimate, list, show, cancel.

A job runs on the agent's own project. Starting one only records it and wakes its coordinator
(``ml_backend.jobs.manager``); the work happens in the background, so the answer is 202 and the
client follows ``GET /api/jobs/<id>?wait=S``, which answers as soon as the job's status changes.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.jobs.coordinator import FINAL
from ml_backend.jobs.estimate import estimate
from ml_backend.jobs.manager import JobManager, has_unfinished_jobs
from ml_backend.jobs.pricing import PricingError
from ml_backend.jobs.subset import Subset, SubsetError, parse_subset
from ml_backend.jobs.watch import MAX_WAIT_S, WATCH
from ml_backend.service.api import ensure_project_exists, json_body, query_int, resolve_job_id, state
from ml_backend.service.api.agents import agent_or_404, ensure_agent_fits
from ml_backend.service.api.errors import ApiError
from ml_backend.service.api.jobs_openapi import OPENAPI_PATHS, OPENAPI_SCHEMAS
from ml_backend.store import COUNTERS, AgentRecord, InvalidTransitionError, JobRecord

__all__ = ["OPENAPI_PATHS", "OPENAPI_SCHEMAS", "bp", "job_json", "manager", "resume_jobs"]

log = logging.getLogger(__name__)
bp = Blueprint("jobs", __name__)
bp.before_request(resolve_job_id)

JOB_FIELDS = ("agent", "subset", "project")
_EXTENSION = "lsagent.jobs"
_CHECKED = "lsagent.jobs.checked"
_lock = threading.Lock()


def manager(app: Flask | None = None) -> JobManager:
    """The app's job manager, built on first use (so that a new app starts no thread)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    with _lock:
        found = app.extensions.get(_EXTENSION)
        if found is None:
            found = JobManager(app.extensions["lsagent"].runtime)
            app.extensions[_EXTENSION] = found
        return found


def resume_jobs(app: Flask) -> None:
    """Resume the unfinished jobs of the app's store, once per process. Runs on the first
    request of any kind; a server may also call it after forking a worker (gunicorn's
    ``post_worker_init``) so that jobs resume without waiting for a request."""
    if app.extensions.get(_CHECKED):
        return
    with _lock:
        if app.extensions.get(_CHECKED):
            return
        app.extensions[_CHECKED] = True
    try:
        if has_unfinished_jobs(app.extensions["lsagent"].runtime):
            manager(app)
    except Exception:
        log.exception("could not look for unfinished jobs to resume; the next request will")
        app.extensions[_CHECKED] = False


@bp.before_app_request
def _resume_on_first_request() -> None:
    resume_jobs(current_app._get_current_object())  # type: ignore[attr-defined]


@bp.post("/api/jobs")
def create_job() -> tuple[Response, int]:
    record, subset, project = _agent_and_subset()
    state().runtime.check_endpoint(ModelConfig(**record.config))  # a rule made stricter since registration
    if subset.kind == "view":
        _check_view(project, subset.view)
    elif subset.kind == "ids":
        _check_ids(project, subset.ids)
    job = state().runtime.store.create_job(agent_id=record.id, project=project, subset=subset.text)
    manager().start(job.id)
    return jsonify(job_json(job, record.model_version)), 202


@bp.post("/api/jobs/estimate")
def estimate_job() -> Response:
    from sync.client import LabelStudioError, LabelStudioUnavailable

    record, subset, project = _agent_and_subset()
    try:
        return jsonify(estimate(state().runtime, record, subset, project))
    except PricingError as exc:
        raise ApiError(500, "bad_price_file", str(exc)) from None
    except LabelStudioUnavailable as exc:
        raise ApiError(503, "label_studio_unavailable", f"cannot read the subset's tasks: {exc}") from None
    except LabelStudioError as exc:
        raise ApiError(400, "invalid_subset", f"Label Studio refused the subset {subset.text!r}: {exc}") from None


@bp.get("/api/jobs")
def list_jobs() -> Response:
    store = state().runtime.store
    versions: dict[str, str | None] = {}
    jobs = []
    project = query_int("project")
    found = store.list_jobs(project)
    if project is not None and not found:
        ensure_project_exists(project)
    for job in found:
        if job.agent_id not in versions:
            agent = store.get_agent(job.agent_id)
            versions[job.agent_id] = agent.model_version if agent else None
        jobs.append(job_json(job, versions[job.agent_id]))
    return jsonify({"jobs": jobs})


@bp.get("/api/jobs/<job_id:job_id>")
def show_job(job_id: str) -> Response:
    """With ``?wait=S`` (seconds, up to 30) an unfinished job's answer is held until its status
    changes or S seconds pass (``jobs.watch``): a client following a job hears of its end at once."""
    seconds = _wait_seconds()
    job = _job(job_id)
    if seconds and job.status not in FINAL:
        store, status = state().runtime.store, job.status
        job = WATCH.wait(job.id, lambda: store.get_job(job_id) or job,
                         lambda current: current.status != status, seconds)
    return jsonify(_job_json(job))


@bp.post("/api/jobs/<job_id:job_id>/cancel")
def cancel_job(job_id: str) -> Response:
    job = _job(job_id)
    try:
        job = state().runtime.store.set_status(job.id, "cancelled", error="cancelled by the user")
        WATCH.changed(job.id)
    except InvalidTransitionError:
        raise ApiError(409, "conflict", f"job {job.id} is {job.status}; only a queued or running job "
                       "can be cancelled") from None
    return jsonify(_job_json(job))


def job_json(job: JobRecord, model_version: str | None) -> dict[str, Any]:
    """The job as the REST contract shows it. The summary appears once the job has ended."""
    return {
        "id": job.id,
        "agent_id": job.agent_id,
        "model_version": model_version,
        "project": job.project,
        "subset": job.subset,
        "status": job.status,
        "total": job.total,
        "counts": {name: getattr(job, name) for name in COUNTERS},
        "tokens_in": job.tokens_in,
        "tokens_out": job.tokens_out,
        "cost": round(job.cost, 6),
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "error": job.error,
        "summary": job.summary,
        "project_model_version_set": job.project_model_version_set,
    }


def _job_json(job: JobRecord) -> dict[str, Any]:
    agent = state().runtime.store.get_agent(job.agent_id)
    return job_json(job, agent.model_version if agent else None)


def _wait_seconds() -> float:
    raw = request.args.get("wait")
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_WAIT_S:
        raise ApiError(400, "invalid_request", f"query parameter 'wait' must be a number of seconds from 0 to "
                       f"{MAX_WAIT_S:g}, got {raw[:40]!r}")
    return value


def _agent_and_subset() -> tuple[AgentRecord, Subset, int]:
    """The agent, the subset, and the project: the agent's own unless another is named, which
    must have the same controls and labels (a saved agent is reusable across such projects)."""
    body = json_body()
    unknown = sorted(set(body.data) - set(JOB_FIELDS))
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; known fields: {', '.join(JOB_FIELDS)}")
    record = agent_or_404(body.text("agent"))
    try:
        subset = parse_subset(body.text("subset", "all"))
    except SubsetError as exc:
        raise ApiError(400, "invalid_subset", str(exc)) from None
    project = body.integer("project", record.project, minimum=1)
    if project != record.project:
        ensure_agent_fits(project, record)
    return record, subset, project


def _check_view(project: int, view: int | None) -> None:
    """Refuse a view that is not in the project now, rather than fail the job later; if Label
    Studio cannot be reached, the job starts and waits for it."""
    from sync.client import LabelStudioUnavailable
    from sync.views import list_views

    try:
        views = list_views(state().runtime.label_studio(), project)
    except LabelStudioUnavailable:
        return
    if not any(found.get("id") == view for found in views):
        raise ApiError(400, "invalid_subset", f"project {project} has no Data Manager view {view}; "
                       "see the view ids in Label Studio's Data Manager tabs")


def _check_ids(project: int, ids: tuple[int, ...]) -> None:
    """Refuse task ids the project does not hold (a typo would otherwise label nothing, silently);
    the list is bounded by the subset's length. If Label Studio cannot be reached, the job starts."""
    from sync.client import LabelStudioUnavailable
    from sync.tasks import iter_task_pages

    try:
        pages = iter_task_pages(state().runtime.label_studio(), project, ids=list(ids), fields=("id",))
        found = {task["id"] for page in pages for task in page}
    except LabelStudioUnavailable:
        return
    missing = [task for task in ids if task not in found]
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        noun = "task" if len(missing) == 1 else "tasks"
        raise ApiError(400, "invalid_subset", f"project {project} has no {noun} {shown}; "
                       "`lsagent jobs run --subset all` labels every task")


def _job(job_id: str) -> JobRecord:
    job = state().runtime.store.get_job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}; `lsagent jobs list --project P` shows the job ids")
    return job


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
