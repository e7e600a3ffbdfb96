"""Commands that run here and need no service: the post-processing debugger and the simulator.
The engine is imported when ``parse`` runs, so that ``lsagent --help`` stays fast."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

import click

from ml_backend.simulator.cli import simulator_command


@click.command("parse")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The Label Studio labeling config (XML).")
@click.option("--input", "input_file", type=click.File("r"), default="-",
              help="JSON lines: {content, logprobs?, data?} or whole chat-completion responses (with data? beside "
                   "them); standard input by default.")
def parse_command(config_path: str, input_file: IO[str]) -> None:
    """Post-process model answers offline: one JSON line of labels, confidence and error per input.

    Spans (Labels controls) are placed in the task's text, given as "data" (as Label Studio holds
    it, keyed by the config's value variables)."""
    from ml_backend.engine.answers import score_answer
    from ml_backend.engine.labeling import EmptyInputError, LabelConfigError, parse_label_config

    try:
        with open(config_path, encoding="utf-8") as handle:
            spec = parse_label_config(handle.read())
    except LabelConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for number, line in enumerate(input_file, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            content, logprobs = read_answer(record)
            data = read_data(record)
        except ValueError as exc:
            click.echo(f"line {number}: {exc}", err=True)
            sys.exit(2)
        try:
            inputs = None if data is None else spec.read_inputs(data)
        except EmptyInputError as exc:
            click.echo(json.dumps({"labels": {}, "confidence": {}, "error": "empty_input", "detail": str(exc)}))
            continue
        answer = score_answer(spec, content, logprobs, inputs=inputs)
        click.echo(json.dumps(answer.to_parse_line(spec), ensure_ascii=False))


def read_data(record: Any) -> dict[str, Any] | None:
    """The task data of an input line, if it carries one (needed to place spans)."""
    data = record.get("data") if isinstance(record, dict) else None
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"'data' must be an object keyed by the config's value variables, got {type(data).__name__}")
    return data


def read_answer(record: Any) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(content, logprobs tokens) of one input line, in any of the shapes people paste: an object
    with ``content`` and ``logprobs`` (the ``content`` token list, or the whole ``logprobs``
    object with its ``content``), or a whole chat-completion response (its first choice)."""
    if isinstance(record, dict) and "choices" in record and "content" not in record:
        choices = record["choices"]
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ValueError("a chat completion with no choices")
        choice = choices[0]
        message = choice.get("message")
        if not isinstance(message, dict):
            message = {}
        if "content" not in message:
            raise ValueError("a chat completion whose first choice has no message content")
        record = {"content": message["content"], "logprobs": choice.get("logprobs")}
    if not isinstance(record, dict) or "content" not in record:
        raise ValueError("no 'content': expected {\"content\": ..., \"logprobs\": ...} or a chat completion")
    if not isinstance(record["content"], (str, type(None))):
        raise ValueError(f"'content' must be a string or null, got {type(record['content']).__name__}")
    return record["content"], _tokens(record.get("logprobs"))


def _tokens(logprobs: Any) -> list[dict[str, Any]] | None:
    """The token list of ``logprobs`` given as the list itself or as the object holding it."""
    if isinstance(logprobs, dict):
        logprobs = logprobs.get("content")
    if logprobs is None:
        return None
    if not isinstance(logprobs, list) or not all(
            isinstance(entry, dict) and isinstance(entry.get("token"), str)
            and isinstance(entry.get("logprob"), (int, float)) for entry in logprobs):
        raise ValueError("'logprobs' must be a list of {token, logprob, top_logprobs?} "
                         "or an object whose 'content' is such a list")
    return logprobs


COMMANDS = [parse_command, simulator_command]
