"""Commands that run here and need no service: the post-processing debugger and the simulator."""

from __future__ import annotations

import json
import sys
from typing import IO

import click

from ml_backend.engine.answers import score_answer
from ml_backend.engine.labeling import LabelConfigError, parse_label_config


@click.command("parse")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The Label Studio labeling config (XML).")
@click.option("--input", "input_file", type=click.File("r"), default="-",
              help="JSON lines {content, logprobs?}; standard input by default.")
def parse_command(config_path: str, input_file: IO[str]) -> None:
    """Post-process model answers offline: one JSON line of labels, confidence and error per input."""
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
            if not isinstance(record, dict) or not isinstance(record.get("content"), (str, type(None))):
                raise ValueError("expected an object with a string 'content'")
        except ValueError as exc:
            click.echo(f"line {number}: not a JSON object with 'content': {exc}", err=True)
            sys.exit(2)
        answer = score_answer(spec, record.get("content"), record.get("logprobs"))
        click.echo(json.dumps(answer.to_parse_line(), ensure_ascii=False))


@click.command(
    "simulator",
    add_help_option=False,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.pass_context
def simulator_command(ctx: click.Context) -> None:
    """Run the OpenAI-compatible LLM simulator (not a real model). Options: see --help of it."""
    from ml_backend.simulator import main as simulator_main

    simulator_main(ctx.args, prog="lsagent simulator")


COMMANDS = [parse_command, simulator_command]
