"""Agents: a model config plus a prompt template for one label set, validated once and then
immutable; and their registration.

An agent's id is a hash of its normalised model config, its template, its instruction and the
label set it answers (controls and labels of the labeling config), so registering the same thing
twice gives the same agent, an edit makes a new one, and a project with other labels never gets
another project's agent. Its ``model_version`` is what Label Studio shows next to each
prediction, so every label can be traced to the exact prompt and parameters that produced it.

One type, two states: ``Agent`` is what the engine works with, made from its parts by ``draft``
before registration or from what the store keeps by ``Agent.from_record``; the store keeps and
hands out plain records (``StoredAgent``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from ml_backend.engine import capabilities, postprocess, prompts, tokens
from ml_backend.engine.labeling import EmptyInputError, LabelConfigError, LabelSpec, parse_label_config
from ml_backend.engine.llm import LLMCallError, LLMClient
from ml_backend.engine.modelconfig import Capabilities, ModelConfig

LLMFactory = Callable[[ModelConfig], LLMClient]


class AgentValidationError(ValueError):
    """Registration refused; ``check`` names the check that failed."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"{check}: {message}")
        self.check = check
        self.message = message


class StoredAgent(Protocol):
    """An agent as the store keeps it (``ml_backend.store.AgentRecord``): plain columns."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def project(self) -> int: ...
    @property
    def label_signature(self) -> str: ...
    @property
    def label_config(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def template_source(self) -> str: ...
    @property
    def instructions(self) -> str: ...
    @property
    def model_version(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


R = TypeVar("R", bound=StoredAgent, covariant=True)


class AgentStore(Protocol[R]):
    """What registration needs of the store (``ml_backend.store.Store``)."""

    def get_agent(self, ref: str) -> R | None: ...

    def save_agent(self, *, id: str, name: str, project: int, label_signature: str, label_config: str,
                   config: dict[str, Any], template_source: str, instructions: str,
                   model_version: str | None = None) -> R: ...


@dataclass(frozen=True)
class Agent:
    """Everything an agent is made of, parsed: what prompts, calls and answers are built from."""

    id: str
    name: str
    project: int
    spec: LabelSpec
    label_config: str
    config: ModelConfig
    template: prompts.PromptTemplate

    @property
    def model_version(self) -> str:
        return model_version(self.name, self.id)

    @property
    def label_signature(self) -> str:
        return self.spec.signature()

    @classmethod
    def from_record(cls, record: StoredAgent) -> Agent:
        """The agent a stored record describes (the record was validated when it was saved)."""
        return cls(
            id=record.id,
            name=record.name,
            project=record.project,
            spec=parse_label_config(record.label_config),
            label_config=record.label_config,
            config=ModelConfig(**record.config),
            template=prompts.PromptTemplate(source=record.template_source, instructions=record.instructions),
        )

    def columns(self) -> dict[str, Any]:
        """What the store keeps of the agent: ``AgentStore.save_agent``'s arguments."""
        return {
            "id": self.id,
            "name": self.name,
            "project": self.project,
            "label_signature": self.label_signature,
            "label_config": self.label_config,
            "config": self.config.normalised(),
            "template_source": self.template.source,
            "instructions": self.template.instructions,
            "model_version": self.model_version,
        }


def agent_id(config: ModelConfig, template: prompts.PromptTemplate, spec: LabelSpec) -> str:
    """The hash of what changes the agent's answers and what they mean."""
    identity = {
        "config": config.identity(),
        "template": template.source,
        "instructions": template.instructions,
        "labels": spec.signature(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def model_version(name: str, identifier: str) -> str:
    return f"{name}@{identifier[:8]}"


def draft(
    *,
    name: str,
    project: int,
    label_config: str,
    config: ModelConfig,
    instructions: str | None = None,
    template_source: str | None = None,
) -> Agent:
    """Build an agent from its parts, refusing a bad config or template before any LLM call."""
    if not name.strip() or "@" in name:
        raise AgentValidationError("name", "agent name must be non-empty and must not contain '@'")
    try:
        spec = parse_label_config(label_config)
    except LabelConfigError as exc:
        raise AgentValidationError("label_config", str(exc)) from None
    if config.confidence != "label" and any(control.kind != "choices" for control in spec.controls):
        others = ", ".join(sorted({control.kind for control in spec.controls if control.kind != "choices"}))
        raise AgentValidationError(
            "confidence", f"confidence {config.confidence!r} compares label choices and needs a config of Choices "
            f"controls only; this one also has {others}: use confidence 'label' (each element's own probability)")
    try:
        template = prompts.build_template(spec, instructions=instructions, source=template_source)
    except prompts.PromptTemplateError as exc:
        raise AgentValidationError("template", str(exc)) from None
    return Agent(
        id=agent_id(config, template, spec),
        name=name.strip(),
        project=project,
        spec=spec,
        label_config=label_config,
        config=config,
        template=template,
    )


def register(
    store: AgentStore[R],
    llm_factory: LLMFactory,
    *,
    project: int,
    name: str,
    config: ModelConfig,
    label_config: str,
    sample_tasks: Sequence[dict[str, Any]],
    instructions: str | None = None,
    template_source: str | None = None,
) -> tuple[R, bool]:
    """Validate and store an agent; returns (stored agent, created). The same agent twice is one
    (whatever name the second registration asked for); the label set is part of the identity,
    so what comes back always answers this project's labels."""
    agent = draft(name=name, project=project, label_config=label_config, config=config,
                  instructions=instructions, template_source=template_source)
    existing = store.get_agent(agent.id)
    if existing is not None:
        return existing, False
    negotiated = validate(agent, sample_tasks, llm_factory)
    columns = agent.columns()
    columns["config"] = agent.config.model_copy(update={"capabilities": negotiated}).normalised()
    return store.save_agent(**columns), True


def validate(agent: Agent, sample_tasks: Sequence[dict[str, Any]], llm_factory: LLMFactory) -> Capabilities:
    """The checks of registration, each failing with the name of the check; returns what the
    endpoint accepts, to be stored with the agent (``ModelConfig.capabilities``).

    Order matters: the cheap offline checks (context window) run before the live ones, and the
    live ones cost one model listing and a few short completions (``engine.capabilities``). A model
    whose context window is not known is first looked up at the endpoint: a mistyped name is
    reported as a model that does not exist, not as a question about its context window.
    """
    rendered = _rendered_samples(agent, sample_tasks)
    known = _window_known(agent)
    if known:
        _check_context(agent, rendered)
    try:
        client = llm_factory(agent.config)
    except (KeyError, ValueError) as exc:
        raise AgentValidationError("api_key", str(exc)) from None
    try:
        _check_model(agent, client)
        if not known:
            _check_context(agent, rendered)
        return _negotiate(agent, client, rendered[0])
    finally:
        client.close()


def ensure_compatible(label_config: str, agent_signature: str, agent_name: str) -> LabelSpec:
    """Refuse to reuse an agent on a project whose controls or labels differ."""
    try:
        spec = parse_label_config(label_config)
    except LabelConfigError as exc:
        raise AgentValidationError("label_config", str(exc)) from None
    if spec.signature() != agent_signature:
        raise AgentValidationError(
            "label_config",
            f"agent {agent_name!r} was made for other controls or labels than this project's "
            "labeling config; register a new agent for this project",
        )
    return spec


def _rendered_samples(agent: Agent, sample_tasks: Sequence[dict[str, Any]]) -> list[list[dict]]:
    rendered = []
    for task in sample_tasks:
        try:
            rendered.append(prompts.render_messages(agent.template, agent.spec, task.get("data", task),
                                                   agent.config.few_shot))
        except EmptyInputError:
            continue
    if not rendered:
        raise AgentValidationError(
            "samples", "no sample task with input text to render the prompt on; import tasks first"
        )
    return rendered


def _window_known(agent: Agent) -> bool:
    try:
        tokens.context_window(agent.config.model, agent.config.context_window)
    except tokens.UnknownModelError:
        return False
    return True


def _check_context(agent: Agent, rendered: list[list[dict]]) -> None:
    try:
        window = tokens.context_window(agent.config.model, agent.config.context_window)
    except tokens.UnknownModelError as exc:
        raise AgentValidationError("context_window", f"{exc} (lsagent agents create --context-window N)") from None
    longest = max(tokens.count_messages(messages, agent.config.model) for messages in rendered)
    if longest + agent.config.max_tokens > window:
        raise AgentValidationError(
            "context_window",
            f"the longest sample prompt has {longest} tokens; with max_tokens={agent.config.max_tokens} "
            f"it exceeds the {window}-token context window of {agent.config.model}",
        )


def _check_model(agent: Agent, client: LLMClient) -> None:
    try:
        available = client.list_models()
    except LLMCallError as exc:
        check = "api_key" if exc.status in (401, 403) else "endpoint"
        raise AgentValidationError(check, f"listing models failed: {exc.detail}") from None
    if agent.config.model not in available:
        shown = ", ".join(sorted(available)[:10]) or "none"
        raise AgentValidationError(
            "model", f"model {agent.config.model!r} does not exist at this endpoint (available: {shown})"
        )


def _negotiate(agent: Agent, client: LLMClient, messages: list[dict]) -> Capabilities:
    try:
        return capabilities.negotiate(client, messages, postprocess.response_format(agent.spec))
    except capabilities.NegotiationError as exc:
        check = "api_key" if exc.status in (401, 403) else "parameters"
        raise AgentValidationError(check, f"a test call with the agent's parameters failed: {exc.detail}") from None
