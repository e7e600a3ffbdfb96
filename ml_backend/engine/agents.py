"""Agents: a model config plus a prompt template, validated once and then immutable.

An agent's id is a hash of its normalised model config and its template, so registering the
same thing twice gives the same agent, and an edit makes a new one. Its ``model_version`` is
what Label Studio shows next to each prediction, so every label can be traced to the exact
prompt and parameters that produced it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

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


@dataclass(frozen=True)
class AgentDraft:
    """Everything an agent is made of, before it is stored."""

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


def agent_id(config: ModelConfig, template: prompts.PromptTemplate) -> str:
    identity = {"config": config.identity(), "template": template.source, "instructions": template.instructions}
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
) -> AgentDraft:
    """Build an agent from its parts, refusing a bad config or template before any LLM call."""
    if not name.strip() or "@" in name:
        raise AgentValidationError("name", "agent name must be non-empty and must not contain '@'")
    try:
        spec = parse_label_config(label_config)
    except LabelConfigError as exc:
        raise AgentValidationError("label_config", str(exc)) from None
    try:
        template = prompts.build_template(spec, instructions=instructions, source=template_source)
    except prompts.PromptTemplateError as exc:
        raise AgentValidationError("template", str(exc)) from None
    return AgentDraft(
        id=agent_id(config, template),
        name=name.strip(),
        project=project,
        spec=spec,
        label_config=label_config,
        config=config,
        template=template,
    )


def validate(agent: AgentDraft, sample_tasks: Sequence[dict[str, Any]], llm_factory: LLMFactory) -> Capabilities:
    """The checks of registration, each failing with the name of the check; returns what the
    endpoint accepts, to be stored with the agent (``ModelConfig.capabilities``).

    Order matters: the cheap offline checks (context window) run before the live ones, and the
    live ones cost one model listing and a few short completions (``engine.capabilities``).
    """
    rendered = _rendered_samples(agent, sample_tasks)
    _check_context(agent, rendered)
    try:
        client = llm_factory(agent.config)
    except (KeyError, ValueError) as exc:
        raise AgentValidationError("api_key", str(exc)) from None
    try:
        _check_model(agent, client)
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


def _rendered_samples(agent: AgentDraft, sample_tasks: Sequence[dict[str, Any]]) -> list[list[dict]]:
    rendered = []
    for task in sample_tasks:
        try:
            rendered.append(prompts.render_messages(agent.template, agent.spec, task.get("data", task)))
        except EmptyInputError:
            continue
    if not rendered:
        raise AgentValidationError(
            "samples", "no sample task with input text to render the prompt on; import tasks first"
        )
    return rendered


def _check_context(agent: AgentDraft, rendered: list[list[dict]]) -> None:
    try:
        window = tokens.context_window(agent.config.model, agent.config.context_window)
    except tokens.UnknownModelError as exc:
        raise AgentValidationError("context_window", str(exc)) from None
    longest = max(tokens.count_messages(messages, agent.config.model) for messages in rendered)
    if longest + agent.config.max_tokens > window:
        raise AgentValidationError(
            "context_window",
            f"the longest sample prompt has {longest} tokens; with max_tokens={agent.config.max_tokens} "
            f"it exceeds the {window}-token context window of {agent.config.model}",
        )


def _check_model(agent: AgentDraft, client: LLMClient) -> None:
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


def _negotiate(agent: AgentDraft, client: LLMClient, messages: list[dict]) -> Capabilities:
    try:
        return capabilities.negotiate(client, messages, postprocess.response_format(agent.spec))
    except capabilities.NegotiationError as exc:
        check = "api_key" if exc.status in (401, 403) else "parameters"
        raise AgentValidationError(check, f"a test call with the agent's parameters failed: {exc.detail}") from None
