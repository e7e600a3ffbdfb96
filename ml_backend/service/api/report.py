"""``GET /api/jobs/<id>/report``: the job's self-contained HTML report (``ml_backend.report.html``).

The page is built from the same JSON the API gives for the job and its verification figures, so
what the report says is exactly what ``lsagent jobs show`` and ``verification show`` say.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from ml_backend.report.html import render_report
from ml_backend.review.figures import figures
from ml_backend.service.api import resolve_job_id, state
from ml_backend.service.api.errors import ApiError
from ml_backend.service.api.jobs import job_json
from ml_backend.service.api.schema import JOB_ID, Schema, operation, query_param, text_content

bp = Blueprint("report", __name__)
bp.before_request(resolve_job_id)

OPENAPI_PATHS: dict[str, Schema] = {
    "/api/jobs/{job_id}/report": {"get": operation(
        "The job's report: a self-contained HTML page (summary, confidence histogram, label distribution, "
        "accuracy by confidence once tasks are verified)",
        (200, "the HTML page", None), errors=(400, 401, 404), content=text_content("text/html"),
        params=(JOB_ID, query_param("target", {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.95},
                                    "target accuracy of the recommended threshold, in (0, 1]")))},
}


@bp.get("/api/jobs/<job_id:job_id>/report")
def job_report(job_id: str) -> Response:
    target = _target()  # the request is checked before anything is looked up
    runtime = state().runtime
    job = runtime.store.get_job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}; `lsagent jobs list --project P` shows the job ids")
    agent = runtime.store.get_agent(job.agent_id)
    verification = figures(runtime, job.id, target)
    page = render_report(job_json(job, agent.model_version if agent else None), verification)
    return Response(page, mimetype="text/html")


def _target() -> float:
    raw = request.args.get("target", "0.95")
    try:
        target = float(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"query parameter 'target' must be a number, got {raw[:40]!r}") from None
    if not 0.0 < target <= 1.0:
        raise ApiError(400, "invalid_request", f"query parameter 'target' must be in (0, 1], got {target:g}")
    return target
