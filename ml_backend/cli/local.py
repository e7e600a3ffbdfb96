"""Commands that run here and need no service: the post-processing debugger and the simulator.
The engine is imported when ``parse`` runs, so that ``lsagent --help`` stays fast."""

from __future__ import annotations

import json
import sys
from typing import IO

import click

from ml_backend.simulator.cli import simulator_command


@click.command("parse")
@click.option("--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The Label Studio labeling config (XML).")
@click.option("--input", "input_file", type=click.File("r"), default="-",
              help="JSON lines {content, logprobs?}; standard input by default.")
def parse_command(config_path: str, input_file: IO[str]) -> None:
    """Post-process model answers offline: one JSON line of labels, confidence and error per input."""
    from ml_backend.engine.answers import score_answer
    from ml_backend.engine.labeling import LabelConfigError, parse_label_config

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


COMMANDS = [parse_command, simulator_command]
