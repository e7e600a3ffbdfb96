"""Admin routes for agents: register (with the engine's validation), list, show, preview, activate.

The service reads the project's labeling config and sample tasks from Label Studio itself, so a
client only names the project: what an agent is validated against is what Label Studio holds.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from ml_backend.engine import agents, prompts
from ml_backend.engine.labeling import EmptyInputError, parse_label_config
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.nearest import Choice
from ml_backend.review import derive
from ml_backend.service.api import Body, ensure_project_exists, json_body, path_project, query_int, state
from ml_backend.service.api.errors import ApiError
from ml_backend.store import AgentRecord

bp = Blueprint("agents", __name__)

SAMPLE_TASKS = 20
MAX_PREVIEW = 50
MAX_EXAMPLES = 50
TASK_FIELDS = ("id", "data")
CONFIG_FIELDS = tuple(name for name in ModelConfig.model_fields if name not in ("model", "capabilities", "few_shot"))
DERIVE_FIELDS = ("examples", "select", "name")
SELECTIONS = ("similar", "diverse")
AGENT_FIELDS = ("project", "name", "model", "instructions", "template", "activate")


@bp.post("/api/agents")
def create_agent() -> tuple[Response, int]:
    """Every field is checked before Label Studio or the model is asked anything."""
    body = json_body()
    _refuse_unknown_fields(body.data)
    project = body.integer("project", minimum=1)
    name, model = _non_empty(body, "name"), _non_empty(body, "model")
    instructions, template = body.text("instructions", None), body.text("template", None)
    activate = body.flag("activate", False)
    options = {field: body.data[field] for field in CONFIG_FIELDS if body.data.get(field) is not None}
    config = ModelConfig.model_validate({"model": model, **options}, strict=True)
    runtime = state().runtime
    config = runtime.fixed_endpoint(config)
    runtime.check_endpoint(config)  # before anything is read or called: a refused key is never sent
    label_config = _label_config(project)
    record, created = agents.register(
        runtime.store,
        runtime.checking_client,
        project=project,
        name=name,
        config=config,
        label_config=label_config,
        sample_tasks=_project_tasks(project, limit=SAMPLE_TASKS),
        instructions=instructions,
        template_source=template,
    )
    if activate:
        _activate(project, record, label_config)
    return jsonify(agent_json(record)), 201 if created else 200


@bp.post("/api/agents/<reference>/derive")
def derive_agent(reference: str) -> tuple[Response, int]:
    """A new agent: the base agent plus K verified examples of its project (``review.derive``)."""
    body = json_body()
    unknown = sorted(set(body.data) - set(DERIVE_FIELDS))
    if unknown:
        known = ", ".join(DERIVE_FIELDS)
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; known fields: {known}")
    k = body.integer("examples", minimum=1)
    if k > MAX_EXAMPLES:
        raise ApiError(400, "invalid_request", f"'examples' must be at most {MAX_EXAMPLES}")
    select = body.text("select", "similar")
    if select not in SELECTIONS:
        raise ApiError(400, "invalid_request", f"'select' must be one of {', '.join(SELECTIONS)}, got {select!r}")
    base = agent_or_404(reference)
    runtime = state().runtime
    try:
        shots, facts = derive.few_shot(runtime, base, k, select)
    except derive.DeriveError as exc:
        raise ApiError(409, "not_derivable", str(exc)) from None
    config = ModelConfig(**base.config).model_copy(update={"few_shot": shots, "capabilities": None})
    runtime.check_endpoint(config)
    record, created = agents.register(
        runtime.store, runtime.checking_client, project=base.project,
        name=body.text("name", None) or f"{base.name}-{select}{k}", config=config,
        label_config=base.label_config, sample_tasks=_project_tasks(base.project, limit=SAMPLE_TASKS),
        instructions=base.instructions, template_source=base.template_source,
    )
    answer = agent_json(record) | {"derived": {"from": base.id, "select": select, "examples": k, **facts}}
    return jsonify(answer), 201 if created else 200


@bp.get("/api/agents")
def list_agents() -> Response:
    project = query_int("project")
    records = state().runtime.store.list_agents(project)
    if project is not None and not records:
        ensure_project_exists(project)
    return jsonify({"agents": [agent_json(record) for record in records]})


@bp.get("/api/agents/<reference>")
def show_agent(reference: str) -> Response:
    return jsonify(agent_json(agent_or_404(reference)))


@bp.post("/api/agents/<reference>/preview")
def preview_agent(reference: str) -> Response:
    body = json_body(optional=True)
    limit = body.integer("limit", 3, minimum=1)
    task_ids = body.integers("task_ids", None)
    if limit > MAX_PREVIEW or (task_ids and len(task_ids) > MAX_PREVIEW):
        raise ApiError(400, "invalid_request", f"a preview shows at most {MAX_PREVIEW} tasks")
    record = agent_or_404(reference)
    tasks = _tasks_by_id(record.project, task_ids) if task_ids else _project_tasks(record.project, limit=limit)
    agent = agents.Agent.from_record(record)
    choices = _choices(record, agent, tasks)
    rendered = prompts.preview(agent.template, agent.spec, tasks, model=agent.config.model,
                               shots=agent.config.few_shot, chosen=[chosen for chosen, _ in choices])
    entries = [_preview_entry(entry) | ({"few_shot": meta} if meta else {})
               for entry, (_, meta) in zip(rendered, choices, strict=True)]
    return jsonify({"agent": record.id, "previews": entries})


def _choices(record: AgentRecord, agent: agents.Agent, tasks: list[dict[str, Any]]) -> list[Choice]:
    """Per task, the examples an agent matching by embeddings shows: its annotator's choice (one
    embeddings call per task not seen yet, within the agent's limits), so the preview is the
    prompt a job sends; (None, {}) for every other agent and for a task without text."""
    shots = agent.config.few_shot
    if shots is None or not shots.embedded:
        return [(None, {})] * len(tasks)
    annotator = state().runtime.annotator(record)
    choices: list[Choice] = []
    for task in tasks:
        try:
            choices.append(annotator.choose(task))
        except EmptyInputError:
            choices.append((None, {}))
    return choices


@bp.put("/api/projects/<int:project>/agent")
def activate_agent(project: int) -> Response:
    project = path_project(project)
    record = agent_or_404(json_body().text("agent"))
    _activate(project, record, _label_config(project))
    return jsonify({"project": project, "agent": agent_json(record)})


@bp.get("/api/projects/<int:project>/agent")
def active_agent(project: int) -> Response:
    project = path_project(project)
    record = state().runtime.store.active_agent(project)
    reason = None if record else f"no agent is active on project {project}"
    return jsonify({"project": project, "agent": agent_json(record) if record else None, "reason": reason})


def agent_json(record: AgentRecord) -> dict[str, Any]:
    """The agent as the REST contract shows it: its config names the key's variable, never a key."""
    return {
        "id": record.id,
        "name": record.name,
        "project": record.project,
        "model_version": record.model_version,
        "config": _shown_config(record.config),
        "instructions": record.instructions,
        "template": record.template_source,
        "label_signature": record.label_signature,
        "ignored_controls": ignored_controls(record.label_config),
        "created_at": record.created_at.isoformat(),
    }


def _shown_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with a few-shot pool's vectors as their shape: they are part of the agent's
    identity (its id covers them) but up to megabytes of numbers no reader of an agent needs."""
    vectors = (config.get("few_shot") or {}).get("vectors")
    if not vectors:
        return config
    shape = {"count": len(vectors), "dimensions": len(vectors[0])}
    return {**config, "few_shot": {**config["few_shot"], "vectors": shape}}


def ignored_controls(label_config: str) -> list[str]:
    """The config's control tags the agent does not answer (say, a Brush beside the Labels), so a
    user sees at registration what stays for annotators alone."""
    return list(parse_label_config(label_config).ignored)


def _activate(project: int, record: AgentRecord, label_config: str) -> None:
    """Refuse an agent made for other controls or labels, whichever project it was made on."""
    agents.ensure_compatible(label_config, record.label_signature, record.name)
    state().runtime.store.activate(project, record.id)


def ensure_agent_fits(project: int, record: AgentRecord) -> None:
    """Refuse to use an agent on a project whose labeling config has other controls or labels."""
    agents.ensure_compatible(_label_config(project), record.label_signature, record.name)


def agent_or_404(reference: str) -> AgentRecord:
    record = state().runtime.store.get_agent(reference)
    if record is None:
        raise ApiError(404, "not_found",
                       f"no agent {reference!r}: give its id, an id prefix, its model_version or its unique name")
    return record


def _non_empty(body: Body, name: str) -> str:
    value = body.text(name)
    if not value.strip():
        raise ApiError(400, "invalid_request", f"field '{name}' must not be empty")
    return value


def _refuse_unknown_fields(data: dict[str, Any]) -> None:
    if "api_key" in data:
        raise ApiError(400, "invalid_request", "API keys are never sent to the service: set api_key_env to the "
                       "name of the environment variable that holds the key on the service's machine")
    unknown = sorted(set(data) - set(AGENT_FIELDS) - set(CONFIG_FIELDS))
    if unknown:
        known = ", ".join(AGENT_FIELDS + CONFIG_FIELDS)
        raise ApiError(400, "invalid_request", f"unknown field {unknown[0]!r}; known fields: {known}")


def _label_config(project: int) -> str:
    from sync import projects

    return projects.label_config(state().runtime.label_studio(), project)


def _project_tasks(project: int, *, limit: int) -> list[dict[str, Any]]:
    from sync import tasks

    pages = tasks.iter_task_pages(state().runtime.label_studio(), project, page_size=limit, fields=TASK_FIELDS)
    return next(iter(pages), [])


def _tasks_by_id(project: int, task_ids: list[int]) -> list[dict[str, Any]]:
    """The tasks in the given order; an id that is not in the project is refused, not skipped."""
    from sync import tasks

    pages = tasks.iter_task_pages(state().runtime.label_studio(), project, ids=task_ids, fields=TASK_FIELDS)
    found = {task["id"]: task for page in pages for task in page}
    missing = [task_id for task_id in task_ids if task_id not in found]
    if missing:
        raise ApiError(404, "not_found", f"task {missing[0]} is not in project {project}")
    return [found[task_id] for task_id in task_ids]


def _preview_entry(entry: dict[str, Any]) -> dict[str, Any]:
    error = f"{entry['error']}: {entry.get('detail', '')}".rstrip(": ") if entry.get("error") else None
    return {"task_id": entry["id"], "messages": entry["messages"], "prompt_tokens": entry["tokens"], "error": error}
