"""``lsagent agents ...``: register, list, show, preview and activate agents via the REST API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ml_backend.cli.output import client, console, emit, json_option, key_values


@click.group("agents")
def agents_group() -> None:
    """Agents: a model config plus a prompt template, registered once for a project."""


@agents_group.command("create")
@click.option("--project", type=int, required=True, help="Label Studio project id.")
@click.option("--name", required=True, help="Agent name (part of its model_version).")
@click.option("--model", required=True, help="Model name at the endpoint, e.g. gpt-4o-mini.")
@click.option("--instructions", help="Task instruction shown to the model (labels and format stay locked).")
@click.option("--template-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Advanced: a full Jinja prompt template.")
@click.option("--temperature", type=float)
@click.option("--top-p", type=float)
@click.option("--max-tokens", type=int)
@click.option("--seed", type=int)
@click.option("--top-logprobs", type=int, help="Alternatives per token read for the confidence (0-20).")
@click.option("--no-logprobs", is_flag=True, help="The endpoint gives no logprobs: use self-consistency.")
@click.option("--consistency-samples", type=int, help="Samples for self-consistency confidence.")
@click.option("--confidence", type=click.Choice(["label", "margin", "self_verify", "consistency", "combined"]),
              help="The signal pushed as the prediction score (default label; self_verify and combined cost "
                   "one more call per task, consistency with logprobs one sampling call).")
@click.option("--response-format", type=click.Choice(["auto", "json_schema", "json_object", "none"]),
              help="Structured output to ask for; auto (default) negotiates json_schema > json_object > none.")
@click.option("--base-url", help="OpenAI-compatible endpoint (default: OPENAI_BASE_URL or OpenAI).")
@click.option("--api-key-env", help="Name of the env var holding the key on the service (default OPENAI_API_KEY).")
@click.option("--timeout", type=float, help="Seconds per LLM call.")
@click.option("--max-concurrency", type=int, help="Concurrent LLM calls of this agent.")
@click.option("--rpm", type=int, help="Requests per minute allowed by the provider.")
@click.option("--tpm", type=int, help="Tokens per minute allowed by the provider.")
@click.option("--context-window", type=int, help="Context window in tokens, for models the service does not know.")
@click.option("--activate", is_flag=True, help="Also make it the project's active agent.")
@json_option
def create_command(project: int, name: str, model: str, template_file: Path | None, no_logprobs: bool,
                   rpm: int | None, tpm: int | None, as_json: bool, **options: Any) -> None:
    """Register an agent; the service validates key, model, parameters and context window."""
    if template_file is not None:
        options["template"] = template_file.read_text(encoding="utf-8")
    options.update(requests_per_minute=rpm, tokens_per_minute=tpm, logprobs=False if no_logprobs else None)
    agent = client().create_agent(project, name, model, activate=options.pop("activate") or None, **options)
    emit(agent, as_json, lambda data: key_values(_summary(data), title=f"agent {data['model_version']}"))


@agents_group.command("derive")
@click.argument("agent")
@click.option("--examples", "k", type=click.IntRange(1, 50), required=True,
              help="Verified tasks (confirmed or corrected, with the human's label) to show the model.")
@click.option("--select", type=click.Choice(["similar", "diverse"]), default="similar", show_default=True,
              help="similar: per task, the K verified tasks nearest to it (by the endpoint's embeddings, else "
                   "TF-IDF); diverse: one fixed representative set.")
@click.option("--name", help="Name of the new agent (default <agent>-<select><K>).")
@json_option
def derive_command(agent: str, k: int, select: str, name: str | None, as_json: bool) -> None:
    """Register a new agent: AGENT plus K verified examples of its project, locked in its prompt."""
    data = client().derive_agent(agent, k, select=select, name=name)
    emit(data, as_json, lambda shown: key_values(_summary(shown) | {"derived": shown["derived"]},
                                                 title=f"agent {shown['model_version']}"))


@agents_group.command("list")
@click.option("--project", type=int, help="Only this project's agents.")
@json_option
def list_command(project: int | None, as_json: bool) -> None:
    """List registered agents."""
    agents = client().agents(project)
    emit({"agents": agents}, as_json, lambda data: _table(data["agents"]))


@agents_group.command("show")
@click.argument("agent")
@json_option
def show_command(agent: str, as_json: bool) -> None:
    """Show an agent (id, id prefix, model_version or unique name)."""
    data = client().agent(agent)
    emit(data, as_json, lambda shown: key_values(_summary(shown, full=True), title=f"agent {shown['model_version']}"))


@agents_group.command("preview")
@click.argument("agent")
@click.option("--limit", type=click.IntRange(1, 50), default=3, show_default=True, help="Tasks to render.")
@click.option("--task", "task_ids", type=int, multiple=True, help="Render these task ids (repeatable).")
@json_option
def preview_command(agent: str, limit: int, task_ids: tuple[int, ...], as_json: bool) -> None:
    """Show the exact prompts the agent would send for some of its project's tasks."""
    data = client().preview(agent, limit=limit, task_ids=list(task_ids) or None)
    emit(data, as_json, _show_previews)


@agents_group.command("activate")
@click.argument("agent")
@click.option("--project", type=int, required=True, help="Label Studio project id.")
@json_option
def activate_command(agent: str, project: int, as_json: bool) -> None:
    """Make AGENT the one that answers Label Studio's /predict for the project."""
    data = client().activate(project, agent)
    emit(data, as_json, lambda shown: console.print(
        f"project {shown['project']}: active agent is [bold]{shown['agent']['model_version']}[/bold]"))


def _summary(agent: dict[str, Any], full: bool = False) -> dict[str, Any]:
    shown = {key: agent.get(key) for key in ("model_version", "id", "name", "project", "created_at")}
    shown["model"] = agent["config"].get("model")
    shown["endpoint"] = agent["config"].get("base_url") or "the service's OPENAI_BASE_URL"
    shown["config"] = {key: value for key, value in agent["config"].items() if key not in ("capabilities", "few_shot")}
    if shots := agent["config"].get("few_shot"):
        described = f"{shots['select']} {shots['k']} of {len(shots['examples'])} verified example(s)"
        if shots.get("representation"):  # agents derived before it was recorded do not say
            how = "nearest per task by" if shots["select"] == "similar" else "picked by"
            described += f", {how} {shots['representation']}"
            if shots.get("representation_note"):
                described += f" ({shots['representation_note']})"
        shown["few_shot"] = described
    shown["capabilities"] = agent["config"].get("capabilities") or "not negotiated (learned on first call)"
    if agent.get("ignored_controls"):
        shown["not answered"] = f"{', '.join(agent['ignored_controls'])} (left to annotators)"
    if full:
        shown["instructions"] = agent.get("instructions")
    return shown


def _table(agents: list[dict[str, Any]]) -> None:
    table = Table("model_version", "id", "project", "model", "created_at")
    for agent in agents:
        table.add_row(agent["model_version"], agent["id"][:12], str(agent["project"]),
                      agent["config"].get("model", ""), agent["created_at"])
    console.print(table if agents else "no agents")


def _show_previews(data: dict[str, Any]) -> None:
    for entry in data["previews"]:
        title = f"task {entry['task_id']}"
        if entry.get("error"):
            console.print(Panel(Text(entry["error"]), title=title, border_style="red"))
            continue
        body = Text("\n\n").join(Text.assemble((m["role"], "bold"), "\n", m["content"]) for m in entry["messages"])
        console.print(Panel(body, title=f"{title} · {entry['prompt_tokens']} prompt tokens"))


COMMANDS = [agents_group]
