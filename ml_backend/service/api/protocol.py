"""The Label Studio ML backend protocol: /health, /setup, /predict, /webhook.

Label Studio drives these routes with fixed timeouts (1 s health, 3 s setup, 100 s predict) and
keeps nothing of a /predict answer unless it has exactly one entry per task, in order; each route
is written around those facts (see DESIGN.md, "Label Studio facts").
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, jsonify

from ml_backend import __version__
from ml_backend.engine import agents
from ml_backend.engine.endpoints import EndpointPolicyError
from ml_backend.engine.llm import MissingAPIKeyError
from ml_backend.review.webhook import read_hints
from ml_backend.service import health
from ml_backend.service.api import INT_MAX, INT_MIN, ServiceState, is_integral, json_body, query_int, state
from ml_backend.service.api.agents import ensure_agent_fits
from ml_backend.service.api.errors import ApiError
from ml_backend.service.predict import unanswered
from ml_backend.store import AgentRecord

log = logging.getLogger(__name__)
bp = Blueprint("protocol", __name__)

NO_AGENT_VERSION = "lsagent-no-active-agent"
EXTRA_PARAMS_SHAPE = "extra_params must be a JSON object like {\"agent\": \"<id>\"}"


@bp.get("/health", endpoint="health")
def health_route() -> tuple[Response, int]:
    current = state()
    checks = {"store": health.store_check(current.runtime), "queue": health.queue_check(current.settings.redis_url)}
    project = query_int("project")
    agent, reason = (None, None) if not checks["store"]["ok"] else _agent_status(current, project)
    checks["llm"] = current.probe.check(health.llm_base_url(current.runtime, agent), health.llm_key_env(agent))
    up = checks["store"]["ok"]
    body: dict[str, Any] = {"status": "UP" if up else "DOWN", "model_class": "lsagent", "version": __version__,
            "checks": checks, "reason": reason}
    if project is not None:
        body.update(project=project, model_version=agent.model_version if agent else None)
    return jsonify(body), 200 if up else 503


@bp.post("/setup")
def setup() -> Response:
    """Answer the model_version Label Studio stamps on predictions; extra_params may pick the agent."""
    body = json_body()
    project = _project_id(body.data.get("project"), "project")
    schema = body.text("schema", None)
    store = state().runtime.store
    reference = _named_agent(body.data.get("extra_params"))
    record = _resolve(reference) if reference else store.active_agent(project)
    if record is None:
        return jsonify({"model_version": NO_AGENT_VERSION, "reason": _no_agent_reason(project)})
    if schema is not None:
        agents.ensure_compatible(schema, record.label_signature, record.name)
    elif reference:  # activating without a schema: check against what Label Studio holds
        ensure_agent_fits(project, record)
    if reference:
        store.activate(project, record.id)
    return jsonify({"model_version": record.model_version})


@bp.post("/predict")
def predict() -> Response:
    started = time.monotonic()  # the budget covers reading the batch too
    body = json_body()
    tasks = _tasks(body.data.get("tasks"))
    project = _predict_project(body.data.get("project"), tasks)
    current = state()
    record = current.runtime.store.active_agent(project) if project is not None else None
    if record is None:
        log.warning("predict for project %s: no active agent; answering %d tasks without result", project, len(tasks))
        return jsonify({"results": [unanswered(None, "no_active_agent") for _ in tasks]})
    refusal = _refusal(current, record, body.text("label_config", None))
    if refusal:
        return jsonify({"results": [unanswered(record.model_version, refusal) for _ in tasks]})
    annotator = current.runtime.annotator(record)
    results = current.predictor.predict(annotator, tasks, started)
    return jsonify({"results": results, "model_version": record.model_version})


@bp.post("/webhook")
def webhook() -> Response:
    """Always 200 for a well-formed hint, answered at once: the hints are followed in the
    background (``review.webhook``), so a post never waits on Label Studio."""
    payload = json_body().data
    project, task_ids = read_hints(payload)
    counts = state().hints.offer(project, task_ids)
    return jsonify({"ok": True, "tasks": task_ids, **counts})


def _agent_status(current: ServiceState, project: int | None) -> tuple[AgentRecord | None, str | None]:
    store = current.runtime.store
    if project is not None:
        agent = store.active_agent(project)
        return agent, None if agent else _no_agent_reason(project)
    if not store.list_agents():
        return None, "no agent is registered yet: create one with `lsagent agents create`"
    return None, None


def _no_agent_reason(project: int) -> str:
    return (f"no agent is active on project {project}: activate one with "
            f"`lsagent agents activate <agent> --project {project}`")


def _refusal(current: ServiceState, record: AgentRecord, label_config: str | None) -> str | None:
    """Why the agent cannot answer this batch at all, or None; logged once, sent as a short code."""
    try:
        if label_config is not None:
            agents.ensure_compatible(label_config, record.label_signature, record.name)
        current.runtime.annotator(record)
    except agents.AgentValidationError as exc:
        log.warning("predict refused for %s: %s", record.model_version, exc.message)
        return "label_config_mismatch"
    except MissingAPIKeyError as exc:
        log.warning("predict refused for %s: %s", record.model_version, exc)
        return "api_key_missing"
    except EndpointPolicyError as exc:
        log.warning("predict refused for %s: %s", record.model_version, exc)
        return "endpoint_not_allowed"
    return None


def _resolve(reference: str) -> AgentRecord:
    record = state().runtime.store.get_agent(reference)
    if record is None:
        raise ApiError(404, "not_found", f"extra_params names agent {reference!r}, which does not exist")
    return record


def _named_agent(extra: Any) -> str | None:
    """Label Studio passes the backend's "extra params" JSON as is: {"agent": "<id|model_version>"}."""
    if isinstance(extra, str) and extra.strip():
        try:
            extra = json.loads(extra)
        except ValueError:
            raise ApiError(400, "invalid_request", EXTRA_PARAMS_SHAPE) from None
    if extra is None or extra == "" or extra == {}:
        return None
    if not isinstance(extra, dict):
        raise ApiError(400, "invalid_request", EXTRA_PARAMS_SHAPE)
    agent = extra.get("agent")
    if agent is not None and (not isinstance(agent, str) or not agent.strip()):
        raise ApiError(400, "invalid_request", "extra_params.agent must be an agent id, id prefix or model_version")
    return agent


def _project_id(value: Any, field: str) -> int:
    """Label Studio sends "<id>.<created timestamp>"; a plain id is accepted too."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    head = text.split(".", 1)[0]
    if not head.isdigit() or not 1 <= int(head) <= INT_MAX:
        raise ApiError(400, "invalid_request", f"field '{field}' must be a project id like \"3\" or \"3.1700000000\"")
    return int(head)


def _tasks(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ApiError(400, "invalid_request", "field 'tasks' must be a list of task objects")
    for index, task in enumerate(value):
        if not isinstance(task, dict) or not is_integral(task.get("id")) or not _is_id(int(task["id"])):
            raise ApiError(400, "invalid_request", f"tasks[{index}] must be an object with a 64-bit integer 'id'")
        task["id"] = int(task["id"])
        if not isinstance(task.get("data", {}), dict):
            raise ApiError(400, "invalid_request", f"tasks[{index}].data must be an object")
    return value


def _predict_project(value: Any, tasks: list[dict[str, Any]]) -> int | None:
    if value is not None:
        return _project_id(value, "project")
    owner = tasks[0].get("project") if tasks else None
    return owner if _is_id(owner) else None


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and INT_MIN <= value <= INT_MAX
