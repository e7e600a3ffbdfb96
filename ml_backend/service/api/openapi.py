"""The OpenAPI 3.1 document of the service, served at /api/openapi.json.

The protocol, agents and metrics routes are described here; the jobs, reviews and report
modules export ``OPENAPI_PATHS`` (and ``OPENAPI_SCHEMAS``) of their own. All are built with the
one builder in ``schema``. A test compares the document with the app's URL map both ways, so a
route cannot go undocumented, and a schema-driven fuzzer checks the answers against it.
"""

from __future__ import annotations

import typing
from typing import Any

from flask import Blueprint, Response, jsonify

from ml_backend import __version__
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.service.api import jobs, report, reviews
from ml_backend.service.api.schema import Schema, json_content, operation, path_param, query_param, ref, text_content

bp = Blueprint("openapi", __name__)

AGENT_REF = path_param("reference", {"type": "string"},
                       "agent id, unique id prefix (8+ hex), model_version or unique name")
PROJECT = path_param("project", {"type": "integer", "minimum": 1}, "Label Studio project id")


def _json_schema(annotation: Any) -> Schema:
    """The JSON schema of a ModelConfig field from its annotation (int, float, str, bool, a
    Literal of strings, a nested model, each optionally None)."""
    names = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
    if typing.get_origin(annotation) is typing.Literal:
        return {"type": "string", "enum": list(typing.get_args(annotation))}
    members = typing.get_args(annotation) or (annotation,)
    return {"type": sorted({names.get(member, "object") for member in members})}


_CONFIG_PROPERTIES = {name: _json_schema(field.annotation) for name, field in ModelConfig.model_fields.items()}
_CREATE_PROPERTIES = {name: value for name, value in _CONFIG_PROPERTIES.items() if name != "capabilities"}

SCHEMAS: dict[str, Schema] = {
    "Error": {"type": "object", "required": ["error", "message"], "properties": {
        "error": {"type": "string"}, "message": {"type": "string"},
        "check": {"type": "string", "description": "the failed validation check (agent registration)"}}},
    "ModelConfig": {"type": "object", "properties": _CONFIG_PROPERTIES},
    "Agent": {"type": "object", "required": ["id", "name", "project", "model_version", "config", "created_at"],
              "properties": {
                  "id": {"type": "string"}, "name": {"type": "string"}, "project": {"type": "integer"},
                  "model_version": {"type": "string"}, "config": ref("ModelConfig"),
                  "instructions": {"type": "string"}, "template": {"type": "string"},
                  "label_signature": {"type": "string"},
                  "ignored_controls": {"type": "array", "items": {"type": "string"}, "description":
                                       "control tags of the config the agent does not answer (left to annotators)"},
                  "created_at": {"type": "string", "format": "date-time"}}},
    "AgentCreate": {"type": "object", "required": ["project", "name", "model"], "additionalProperties": False,
                    "properties": {
                        "project": {"type": "integer", "minimum": 1}, "name": {"type": "string"},
                        "instructions": {"type": "string"},
                        "template": {"type": "string", "description": "full Jinja source (advanced)"},
                        "activate": {"type": "boolean"}, **_CREATE_PROPERTIES}},
    "AgentList": {"type": "object", "properties": {"agents": {"type": "array", "items": ref("Agent")}}},
    "PreviewRequest": {"type": "object", "properties": {
        "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 3},
        "task_ids": {"type": "array", "items": {"type": "integer"}, "maxItems": 50}}},
    "Preview": {"type": "object", "properties": {
        "agent": {"type": "string"},
        "previews": {"type": "array", "items": {"type": "object", "properties": {
            "task_id": {"type": ["integer", "null"]},
            "messages": {"type": ["array", "null"], "items": {"type": "object", "properties": {
                "role": {"type": "string"}, "content": {"type": "string"}}}},
            "prompt_tokens": {"type": ["integer", "null"]}, "error": {"type": ["string", "null"]},
            "few_shot": {"type": "object", "description": "how the examples were chosen, for an agent matching "
                         "tasks by embeddings (representation, examples, fallback)"}}}}}},
    "DeriveRequest": {"type": "object", "required": ["examples"], "additionalProperties": False, "properties": {
        "examples": {"type": "integer", "minimum": 1, "maximum": 50,
                     "description": "verified tasks (confirmed or corrected) put in the prompt"},
        "select": {"enum": ["similar", "diverse"], "default": "similar",
                   "description": "similar: the K nearest per task; diverse: one fixed representative set"},
        "name": {"type": "string", "description": "the new agent's name (default <agent>-<select><K>)"}}},
    "DerivedAgent": {"allOf": [ref("Agent"), {"type": "object", "properties": {"derived": {
        "type": "object", "properties": {
            "from": {"type": "string"}, "select": {"type": "string"}, "examples": {"type": "integer"},
            "verified": {"type": "integer"},
            "representation": {"type": "string", "description": "embeddings <model> or TF-IDF"},
            "representation_note": {"type": "string", "description": "why not the endpoint's embeddings"}}}}}]},
    "ActivationRequest": {"type": "object", "required": ["agent"], "properties": {"agent": {"type": "string"}}},
    "ActiveAgent": {"type": "object", "properties": {
        "project": {"type": "integer"}, "agent": {"oneOf": [ref("Agent"), {"type": "null"}]},
        "reason": {"type": ["string", "null"]}}},
    "Health": {"type": "object", "properties": {
        "status": {"enum": ["UP", "DOWN"]}, "model_class": {"type": "string"}, "version": {"type": "string"},
        "checks": {"type": "object", "additionalProperties": {"type": "object", "properties": {
            "ok": {"type": "boolean"}, "detail": {"type": "string"}}}},
        "reason": {"type": ["string", "null"], "description": "why no agent answers (no agent, none active)"},
        "project": {"type": "integer"}, "model_version": {"type": ["string", "null"]}}},
    "SetupRequest": {"type": "object", "required": ["project"], "properties": {
        "project": {"type": ["string", "integer"], "description": "\"<id>.<created timestamp>\" or an id"},
        "schema": {"type": "string", "description": "the project's labeling config"},
        "hostname": {"type": "string"}, "access_token": {"type": "string"},
        "extra_params": {"type": ["object", "string", "null"],
                         "description": "{\"agent\": \"<ref>\"} picks the agent"}}},
    "SetupResponse": {"type": "object", "properties": {
        "model_version": {"type": "string"}, "reason": {"type": "string"}}},
    "PredictRequest": {"type": "object", "required": ["tasks"], "properties": {
        "tasks": {"type": "array", "items": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "integer"}, "data": {"type": "object"}, "project": {"type": "integer"}}}},
        "project": {"type": ["string", "integer"]}, "label_config": {"type": "string"},
        "params": {"type": ["object", "null"]}}},
    "PredictResponse": {"type": "object", "properties": {
        "model_version": {"type": "string"},
        "results": {"type": "array", "description": "one entry per task, in order; no 'result' = skipped",
                    "items": {"type": "object", "properties": {
                        "result": {"type": "array", "items": {"type": "object"}},
                        "score": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                        "model_version": {"type": ["string", "null"]},
                        "error": {"type": "string", "description": "why a task has no result"}}}}}},
    "WebhookResponse": {"type": "object", "required": ["ok", "tasks", "queued", "ignored", "dropped"], "properties": {
        "ok": {"type": "boolean"},
        "tasks": {"type": "array", "items": {"type": "integer"}, "maxItems": 10,
                  "description": "the task ids read from the payload (at most 10)"},
        "queued": {"type": "integer", "description": "hints to follow: tasks a job of the project labelled"},
        "ignored": {"type": "integer", "description": "tasks the service never labelled there: nothing is read"},
        "dropped": {"type": "integer", "description": "hints not queued, the queue being full"}}},
}

PATHS: dict[str, Schema] = {
    "/health": {"get": operation(
        "Liveness and reachability of store, queue and LLM endpoint; says why no agent answers",
        (200, "service up", ref("Health")), errors=(400, 401, 503), open_route=True,
        params=(query_param("project", {"type": "integer"}, "report the active agent of this project"),))},
    "/setup": {"post": operation(
        "Label Studio connects a project: answers the active agent's model_version",
        (200, "model version", ref("SetupResponse")), errors=(400, 401, 404, 413, 422), body=ref("SetupRequest"))},
    "/predict": {"post": operation(
        "Label Studio asks for predictions: one entry per task, in order, within the time budget",
        (200, "predictions", ref("PredictResponse")), errors=(400, 401, 413), body=ref("PredictRequest"))},
    "/webhook": {"post": operation(
        "Label Studio's event hint, answered at once: for tasks the service labelled, their annotations "
        "are read from Label Studio in the background, paced; the payload is never trusted",
        (200, "hint received", ref("WebhookResponse")), errors=(400, 413), body={"type": "object"},
        open_route=True)},
    "/metrics": {"get": operation("Prometheus metrics", (200, "Prometheus text format", None), errors=(401,),
                                  content=text_content("text/plain"))},
    "/api/openapi.json": {"get": operation("This document", (200, "OpenAPI 3.1", {"type": "object"}), errors=(401,))},
    "/api/agents": {
        "post": operation("Register an agent (validated); the same agent twice is the same agent",
                          (201, "created", ref("Agent")), (200, "the same agent existed already", ref("Agent")),
                          errors=(400, 401, 404, 413, 422, 503), body=ref("AgentCreate")),
        "get": operation("List agents (404: a project Label Studio does not hold)", (200, "agents", ref("AgentList")),
                         errors=(400, 401, 404),
                         params=(query_param("project", {"type": "integer"}, "only this project's agents"),))},
    "/api/agents/{reference}": {"get": operation(
        "Show an agent", (200, "agent", ref("Agent")), errors=(400, 401, 404), params=(AGENT_REF,))},
    "/api/agents/{reference}/preview": {"post": operation(
        "The real prompts of an agent on some of its project's tasks, with token counts",
        (200, "previews", ref("Preview")), errors=(400, 401, 404, 413, 503),
        body=ref("PreviewRequest"), params=(AGENT_REF,))},
    "/api/agents/{reference}/derive": {"post": operation(
        "Register a new agent: this one plus K verified examples of its project, locked in its prompt",
        (201, "derived agent", ref("DerivedAgent")), errors=(400, 401, 404, 409, 413, 422, 503),
        body=ref("DeriveRequest"), params=(AGENT_REF,))},
    "/api/projects/{project}/agent": {
        "put": operation("Activate an agent on a project (refused if the labeling config differs)",
                         (200, "activated", ref("ActiveAgent")), errors=(400, 401, 404, 413, 422, 503),
                         body=ref("ActivationRequest"), params=(PROJECT,)),
        "get": operation("The project's active agent, or why there is none",
                         (200, "active agent", ref("ActiveAgent")), errors=(400, 401, 404), params=(PROJECT,))},
}

_ERROR_TEXT = {400: "bad request", 401: "authentication required", 404: "not found", 405: "method not allowed",
               409: "conflict: the job is in the wrong state for this", 413: "body too large",
               422: "validation failed", 500: "internal error", 503: "not configured or down"}


def document() -> Schema:
    """The whole document, assembled from this module's paths and those of jobs and reviews."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "lsagent", "version": __version__,
                 "description": "Label Studio ML backend protocol and the lsagent admin REST API. Errors are "
                                "JSON {error, message}; agent validation failures add 'check'."},
        "security": [{"basicAuth": []}],
        "paths": {**PATHS, **jobs.OPENAPI_PATHS, **reviews.OPENAPI_PATHS, **report.OPENAPI_PATHS},
        "components": {
            "schemas": {**SCHEMAS, **jobs.OPENAPI_SCHEMAS, **reviews.OPENAPI_SCHEMAS},
            "responses": {f"E{code}": {"description": text, **json_content(ref("Error"))}
                          for code, text in _ERROR_TEXT.items()},
            "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}},
        },
    }


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())

