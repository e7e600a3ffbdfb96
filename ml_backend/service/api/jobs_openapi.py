"""The jobs routes in the service's OpenAPI document (``/api/openapi.json`` merges these)."""

from __future__ import annotations

from ml_backend.service.api.schema import JOB_ID, Schema, operation, query_param
from ml_backend.service.api.schema import ref as _ref
from ml_backend.store import COUNTERS

_PROJECT = query_param("project", {"type": "integer"}, "only this project's jobs")
_SUBSET = {"type": "string", "default": "all", "description": "all | unlabeled | ids:1,2,3 | view:<view id>",
           "pattern": r"^(all|unlabeled|ids:\d+(,\d+)*|view:\d+)$"}
_WAIT = query_param("wait", {"type": "number", "minimum": 0, "maximum": 30},
                    "hold the answer until the job's status changes, for up to this many seconds")
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

OPENAPI_SCHEMAS: dict[str, Schema] = {
    "JobRequest": {"type": "object", "required": ["agent"], "additionalProperties": False, "properties": {
        "agent": {"type": "string", "description": "agent id, unique id prefix, model_version or unique name"},
        "subset": _SUBSET,
        "project": {"type": "integer", "minimum": 1,
                    "description": "another project with the same controls and labels (default: the agent's)"}}},
    "Job": {"type": "object", "required": ["id", "agent_id", "project", "subset", "status", "counts"], "properties": {
        "id": {"type": "string"}, "agent_id": {"type": "string"}, "model_version": {"type": ["string", "null"]},
        "project": {"type": "integer"}, "subset": {"type": "string"},
        "status": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
        "total": {"type": "integer"},
        "counts": {"type": "object", "properties": {name: {"type": "integer"} for name in COUNTERS}},
        "tokens_in": {"type": "integer"}, "tokens_out": {"type": "integer"},
        "cost": {"type": "number", "description": "USD"},
        "created_at": {"type": "string", "format": "date-time"}, "started_at": _NULLABLE_TIME,
        "finished_at": _NULLABLE_TIME, "error": {"type": ["string", "null"]},
        "summary": {"oneOf": [_ref("JobSummary"), {"type": "null"}]},
        "project_model_version_set": {"type": "boolean", "description": "the project's model_version is the "
                                      "agent's, so the Data Manager score column and filters show it"}}},
    "JobSummary": {"type": "object", "properties": {
        "counts": {"type": "object"}, "labels": {"type": "object", "description": "{control: {label: n}}"},
        "confidence_histogram": {"type": "array", "items": {"type": "object", "properties": {
            "from": {"type": "number"}, "to": {"type": "number"}, "count": {"type": "integer"}}}},
        "invalid_labels": {"type": "array", "items": {"type": "object", "properties": {
            "label": {"type": "string"}, "count": {"type": "integer"}}}},
        "api_errors": {"type": "object", "description": "{error class: n}"},
        "tokens_in": {"type": "integer"}, "tokens_out": {"type": "integer"}, "cost": {"type": "number"},
        "price_source": {"type": "string"}, "predictions_written": {"type": "integer"},
        "wall_time_s": {"type": "number"}, "throughput_per_s": {"type": ["number", "null"]},
        "in_flight": {"oneOf": [{"type": "null"}, {"type": "object", "description": "LLM calls open at once: "
                                 "peak, time-average (mean) over span_s, last_answer_at (epoch s)", "properties": {
            "peak": {"type": "integer"}, "mean": {"type": "number"}, "span_s": {"type": "number"},
            "last_answer_at": {"type": "number"}}}]},
        "signals": {"type": ["object", "null"], "description": "calls and tokens the agent's confidence signal "
                    "spent ({confidence, cost: {signal: {calls, prompt_tokens, completion_tokens}}, "
                    "fallback_items}); null when it costs nothing extra"}}},
    "JobList": {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("Job")}}},
    "JobEstimate": {"type": "object", "properties": {
        "estimate": {"const": True}, "tasks": {"type": "integer"}, "cached_tasks": {"type": "integer"},
        "empty_input_tasks": {"type": "integer"}, "billable_tasks": {"type": "integer"},
        "prompt_tokens": {"type": "integer"}, "expected_output_tokens": {"type": "integer"},
        "cost": {"type": "number"}, "currency": {"const": "USD"}, "price_source": {"type": "string"},
        "signals": {"type": "object", "description": "the agent's confidence signal and its extra calls and "
                    "tokens (included in prompt_tokens, expected_output_tokens and cost)"},
        "note": {"type": "string"}}},
}

OPENAPI_PATHS: dict[str, Schema] = {
    "/api/jobs": {
        "post": operation("Start an annotation job of an agent on a subset of its project",
                          (202, "job queued", _ref("Job")), errors=(400, 401, 404, 413, 503), body=_ref("JobRequest")),
        "get": operation("List jobs, newest first (404: a project Label Studio does not hold)",
                         (200, "jobs", _ref("JobList")), errors=(400, 401, 404), params=(_PROJECT,))},
    "/api/jobs/estimate": {"post": operation(
        "Estimate a job's tokens and cost from the real prompts of the subset", (200, "estimate", _ref("JobEstimate")),
        errors=(400, 401, 404, 413, 500, 503), body=_ref("JobRequest"))},
    "/api/jobs/{job_id}": {"get": operation(
        "Show a job: progress, counts, and its summary once ended; with wait, held until its status changes",
        (200, "job", _ref("Job")), errors=(400, 401, 404), params=(JOB_ID, _WAIT))},
    "/api/jobs/{job_id}/cancel": {"post": operation("Cancel a queued or running job (409 once it has ended)",
                                                    (200, "cancelled job", _ref("Job")), errors=(401, 404, 409),
                                                    params=(JOB_ID,))},
}
