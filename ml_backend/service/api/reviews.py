"""Review and verification routes: build review views, pull verdicts, show figures, export.

``OPENAPI_PATHS`` / ``OPENAPI_SCHEMAS`` describe them for /api/openapi.json. Errors of these
modules (a bad review request, a bad target, a bad export format) become 400s naming the field;
an audit of a job that is still running is a 409.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, stream_with_context

from ml_backend.review import export, verdicts
from ml_backend.review.accuracy import AccuracyInputError
from ml_backend.review.calibration_map import METHODS, CalibrationInputError
from ml_backend.review.figures import figures
from ml_backend.review.repair import repair_project
from ml_backend.review.rescore import CalibrationUnavailable, RescoreConflict, rescore
from ml_backend.review.views import ReviewConflict, ReviewError, ReviewRequest, create_review
from ml_backend.service.api import ensure_project_exists, json_body, path_project, resolve_job_id, state
from ml_backend.service.api.errors import ApiError, error_response
from ml_backend.service.api.schema import JOB_ID, Schema, operation, path_param, query_param, ref, text_content

bp = Blueprint("reviews", __name__)
bp.before_request(resolve_job_id)

REVIEW_FIELDS = ("job", "kind", "threshold", "lowest", "label", "keyword", "other_job", "audit", "seed", "title",
                 "diverse", "budget")


@bp.errorhandler(ReviewError)
def _review_error(exc: ReviewError) -> Response:
    if isinstance(exc, ReviewConflict):
        return error_response(409, "conflict", str(exc))
    return error_response(400, "invalid_request", str(exc))


@bp.errorhandler(CalibrationUnavailable)
@bp.errorhandler(RescoreConflict)
def _no_calibration(exc: ValueError) -> Response:
    return error_response(409, "conflict", str(exc))


@bp.errorhandler(AccuracyInputError)
@bp.errorhandler(CalibrationInputError)
@bp.errorhandler(export.ExportError)
def _input_error(exc: ValueError) -> Response:
    return error_response(400, "invalid_request", str(exc))


@bp.post("/api/reviews")
def create_review_route() -> tuple[Response, int]:
    body = json_body()
    unknown = sorted(set(body.data) - set(REVIEW_FIELDS))
    if unknown:
        known = ", ".join(REVIEW_FIELDS)
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; known fields: {known}")
    review = ReviewRequest(
        job_id=body.text("job"),
        kind=body.text("kind"),
        threshold=body.number("threshold", None),
        lowest=body.integer("lowest", None, minimum=1),
        label=body.text("label", None),
        keyword=body.text("keyword", None),
        other_job=body.text("other_job", None),
        audit=body.integer("audit", None, minimum=1),
        seed=body.integer("seed", None),
        title=body.text("title", None),
        diverse=body.integer("diverse", None, minimum=1),
        budget=body.integer("budget", None, minimum=1),
    )
    result = create_review(state().runtime, review)
    return jsonify(result), 201 if result["created"] else 200


@bp.post("/api/projects/<int:project>/reviews/repair")
def repair_reviews_route(project: int) -> Response:
    """Rewrite the service's views of the project that Label Studio's web app cannot load."""
    project = path_project(project)
    fields = json_body(optional=True).data
    if fields:
        raise ApiError(400, "invalid_request", f"repair takes no fields, got {', '.join(sorted(fields)[:5])}")
    ensure_project_exists(project)
    return jsonify({"project": project, "views": repair_project(state().runtime, project)})


@bp.post("/api/jobs/<job_id:job_id>/verification/sync")
def sync_verification_route(job_id: str) -> Response:
    return jsonify(verdicts.sync_job(state().runtime, job_id))


@bp.get("/api/jobs/<job_id:job_id>/verification")
def verification_route(job_id: str) -> Response:
    target = _query_probability("target")
    calibrated = _query_bool("calibrated")
    return jsonify(figures(state().runtime, job_id, 0.95 if target is None else target, calibrated))


@bp.post("/api/jobs/<job_id:job_id>/rescore")
def rescore_route(job_id: str) -> Response:
    """Rewrite the job's prediction scores in Label Studio with the agent's calibrated confidence."""
    body = json_body(optional=True)
    unknown = sorted(set(body.data) - {"method"})
    if unknown:
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; rescore takes 'method'")
    return jsonify(rescore(state().runtime, job_id, body.text("method", "auto")))


@bp.get("/api/jobs/<job_id:job_id>/export")
def export_route(job_id: str) -> Response:
    fmt = request.args.get("format") or "jsonl"
    threshold = _query_probability("threshold")
    lines = export.lines(state().runtime, job_id, fmt, threshold)
    response = Response(stream_with_context(lines), mimetype=export.MEDIA_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="lsagent-{job_id[:8]}.{fmt}"'
    return response


def _query_probability(name: str) -> float | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "invalid_request", f"query parameter '{name}' must be a number, got {raw[:40]!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ApiError(400, "invalid_request", f"query parameter '{name}' must be between 0 and 1, got {value:g}")
    return value


def _query_bool(name: str) -> bool | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() not in ("true", "false"):
        raise ApiError(400, "invalid_request", f"query parameter '{name}' must be true or false, got {raw[:40]!r}")
    return raw.lower() == "true"


_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_INTERVAL = {"type": ["object", "null"], "properties": {"low": {"type": "number"}, "high": {"type": "number"}}}

OPENAPI_PATHS: dict[str, Schema] = {
    "/api/reviews": {"post": operation(
        "Create or update a review view (a Data Manager tab) for a job; 409: an audit of a running job",
        (200, "the view", ref("Review")), (201, "a new view", ref("Review")),
        errors=(400, 401, 404, 409, 413, 503), body=ref("ReviewRequest"))},
    "/api/projects/{project}/reviews/repair": {"post": operation(
        "Rewrite the service's review views of a project that Label Studio's web app cannot load "
        "(views it does not own are listed, never changed)", (200, "what was done per view", ref("ReviewRepair")),
        errors=(400, 401, 404, 503),
        params=(path_param("project", {"type": "integer", "minimum": 1}, "Label Studio project id"),))},
    "/api/jobs/{job_id}/verification/sync": {"post": operation(
        "Read the job's annotated tasks from Label Studio and record confirmed/corrected verdicts",
        (200, "what the sync recorded", ref("VerificationSync")), errors=(401, 404, 503), params=(JOB_ID,))},
    "/api/jobs/{job_id}/verification": {"get": operation(
        "Verification figures: accuracy, bands, AUROC, ECE, recommended threshold, audit estimate, on the "
        "scale Label Studio shows for the job unless 'calibrated' asks (409: no calibration yet)",
        (200, "figures", ref("VerificationFigures")), errors=(400, 401, 404, 409),
        params=(JOB_ID, query_param("target", _PROBABILITY, "target accuracy (default 0.95)"),
                query_param("calibrated", {"type": "boolean"},
                            "true: on the calibrated confidence (the rescore's map, else the agent's current "
                            "one); false: on the raw confidence; default: calibrated once the job was rescored")))},
    "/api/jobs/{job_id}/rescore": {"post": operation(
        "Rewrite the job's prediction scores in Label Studio with the agent's calibrated confidence (409: too "
        "few verified items to calibrate, or the job is still running)",
        (200, "the calibration used and how many predictions it rescored", ref("Rescore")),
        errors=(400, 401, 404, 409), params=(JOB_ID,), body=ref("RescoreRequest"))},
    "/api/jobs/{job_id}/export": {"get": operation(
        "Final labels, one row per task, with their source (human, llm, none)",
        (200, "JSON lines or CSV, streamed", None), errors=(400, 401, 404),
        content=text_content("application/x-ndjson", "text/csv"),
        params=(JOB_ID, query_param("format", {"enum": list(export.FORMATS), "default": "jsonl"}, "file format"),
                query_param("threshold", _PROBABILITY, "keep the agent's label at or above this confidence")))},
}

OPENAPI_SCHEMAS: dict[str, Schema] = {
    "ReviewRequest": {"type": "object", "required": ["job", "kind"], "additionalProperties": False, "properties": {
        "job": {"type": "string"},
        "kind": {"enum": ["threshold", "lowest", "label", "keyword", "errors", "disagree", "audit", "diverse",
                          "budget"]},
        "threshold": {**_PROBABILITY, "description": "threshold: score bound; audit: acceptance threshold "
                                                     "(default: the recommended one)"},
        "lowest": {"type": "integer", "minimum": 1}, "label": {"type": "string"}, "keyword": {"type": "string"},
        "other_job": {"type": "string"}, "audit": {"type": "integer", "minimum": 1, "description": "sample size"},
        "seed": {"type": "integer", "description": "audit sample seed (default 0)"},
        "title": {"type": "string", "description": "view title (default: derived from job, kind, parameters)"},
        "diverse": {"type": "integer", "minimum": 1, "description": "diverse: clusters, one representative each"},
        "budget": {"type": "integer", "minimum": 1,
                   "description": "budget: tasks with the most expected errors, covering the clusters"}}},
    "Review": {"type": "object", "required": ["view_id", "url", "title", "task_ids", "created"], "properties": {
        "view_id": {"type": "integer"}, "url": {"type": "string"}, "title": {"type": "string"},
        "task_ids": {"type": "array", "items": {"type": "integer"}, "description": "the view's tasks, in order"},
        "created": {"type": "boolean"}, "job": {"type": "string"}, "project": {"type": "integer"},
        "kind": {"type": "string"}, "ordering": {"enum": ["predictions_score", "id"]},
        "model_version": {"type": "string"},
        "form": {"enum": ["ids", "filters"], "description": "how the view selects its tasks"},
        "sample": {"type": "array", "items": {"type": "integer"}, "description": "audit: the whole sample"},
        "representation": {"type": "string", "description": "diverse, budget: embeddings <model> or TF-IDF"},
        "representation_note": {"type": "string", "description": "why not embeddings, when TF-IDF"},
        "clusters": {"type": "integer"}, "expected_errors": {"type": "number"}}},
    "RescoreRequest": {"type": "object", "additionalProperties": False, "properties": {
        "method": {"enum": list(METHODS), "default": "auto"}}},
    "Rescore": {"type": "object", "required": ["job", "rescored", "available"], "properties": {
        "job": {"type": "string"}, "model_version": {"type": "string"}, "rescored": {"type": "integer"},
        "available": {"const": True}, "n": {"type": "integer"}, "method": {"enum": ["isotonic", "platt"]},
        "ece_before": {"type": "number"}, "ece_after": {"type": "number", "description": "cross-validated"},
        "map": {"type": "object"}}},
    "ReviewRepair": {"type": "object", "properties": {
        "project": {"type": "integer"},
        "views": {"type": "array", "items": {"type": "object", "properties": {
            "view_id": {"type": "integer"}, "title": {"type": ["string", "null"]},
            "problems": {"type": "array", "items": {"type": "string"}},
            "action": {"enum": ["rewritten", "deleted", "not owned"]}}}}}},
    "VerificationSync": {"type": "object", "properties": {
        "job": {"type": "string"}, "synced": {"type": "integer", "description": "annotated tasks recorded"},
        "confirmed": {"type": "integer"}, "corrected": {"type": "integer"},
        "failed_tasks": {"type": "integer", "description": "annotated tasks the agent had failed on"},
        "annotations": {"type": "integer"}, "removed": {"type": "integer"}}},
    "VerificationFigures": {"type": "object", "properties": {
        "job": {"type": "string"}, "model_version": {"type": "string"}, "target": {"type": "number"},
        "scale": {"type": "string", "description": "the confidence scale of every figure: 'raw', or "
                  "'calibrated: <method>, fitted on N verified items'"},
        "rescored": {"type": "boolean", "description": "Label Studio shows the job's calibrated scores"},
        "verified": {"type": "integer"}, "confirmed": {"type": "integer"}, "corrected": {"type": "integer"},
        "labelled": {"type": "integer"}, "accuracy": {"type": "object"},
        "bands": {"type": "array", "items": {"type": "object", "properties": {
            "low": {"type": "number"}, "high": {"type": "number"}, "n": {"type": "integer"},
            "accuracy": {"type": ["number", "null"]}, "interval": _INTERVAL}}},
        "auroc": {"type": ["number", "null"]}, "ece": {"type": ["number", "null"]},
        "recommendation": {"type": "object"}, "threshold": {"type": ["number", "null"]},
        "audit": {"type": "object"}, "recommended_threshold": {"type": ["number", "null"]},
        "failed_verified": {"type": "integer"}, "audits": {"type": "array", "items": {"type": "object"}},
        "calibration": {"type": "object", "description": "the agent's calibration map from all its verified items: "
                        "available, n, method, ece_before, ece_after (cross-validated), reliability_before/after; "
                        "or available false and the reason"},
        "effort": {"type": "object", "description": "{strategy: tasks humans must verify for the final dataset "
                   "to reach the target (failed tasks included), share, 95% bootstrap interval; or the reason}"},
        "controls": {"type": "object", "description": "per control other than Choices, its figures element by "
                     "element: spans (precision, recall, F1 per label, AUROC), text, numbers, taxonomy paths",
                     "additionalProperties": {"type": "object", "required": ["kind"], "properties": {
                         "kind": {"enum": ["labels", "textarea", "rating", "number", "taxonomy"]}}}}}},
}
