"""The ``lsagent`` command: a client of the service's REST API, plus the local tools
(``serve``, ``worker``, ``simulator``, ``parse``, ``demo``) that need no running service."""

from __future__ import annotations

import json
from typing import Any

import click

from ml_backend import __version__
from ml_backend.cli import agents, jobs, local, review, service
from ml_backend.cli.demo import command as demo
from ml_backend.cli.output import JSON_MODE, console
from ml_backend.client import ServiceError


class _Main(click.Group):
    """Turns a service error into one clear line (or one JSON document) and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ServiceError as exc:
            if ctx.meta.get(JSON_MODE):
                click.echo(json.dumps({"error": exc.payload.get("error", "error"), "message": str(exc)}))
            else:
                console.print(f"[red]error:[/red] {exc}", highlight=False)
            ctx.exit(1)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lsagent")
def main() -> None:
    """LLM agents that pre-annotate Label Studio projects, with humans verifying what needs it."""


for module in (agents, jobs, review, local, service, demo):
    for command in module.COMMANDS:
        main.add_command(command)
