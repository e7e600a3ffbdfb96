"""``GET /api/jobs/<id>/report``: the job's self-contained HTML report (``ml_backend.report.html``).

The page is built from the same JSON the API gives for the job and its verification figures, so
what the report says is exactly what ``lsagent jobs show`` and ``verification show`` say.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from ml_backend.review.figures import figures
from ml_backend.service.api import resolve_job_id, state
from ml_backend.service.api.errors import ApiError
from ml_backend.service.api.jobs import job_json
from ml_backend.report.html import render_report

bp = Blueprint("report", __name__)
bp.before_request(resolve_job_id)

_HTML = {"text/html": {"schema": {"type": "string"}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/jobs/{job_id}/report": {"get": {
        "summary": "The job's report: a self-contained HTML page (summary, confidence histogram, label "
                   "distribution, accuracy by confidence once tasks are verified)",
        "parameters": [
            {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "job id"},
            {"name": "target", "in": "query", "required": False,
             "schema": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.95},
             "description": "target accuracy of the recommended threshold"},
        ],
        "responses": {
            "200": {"description": "the HTML page", "content": _HTML},
            "400": {"$ref": "#/components/responses/E400"},
            "401": {"$ref": "#/components/responses/E401"},
            "404": {"$ref": "#/components/responses/E404"},
        },
    }},
}


@bp.get("/api/jobs/<job_id>/report")
def job_report(job_id: str) -> Response:
    runtime = state().runtime
    job = runtime.store.get_job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}; `lsagent jobs list --project P` shows the job ids")
    agent = runtime.store.get_agent(job.agent_id)
    verification = figures(runtime, job.id, _target())
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
