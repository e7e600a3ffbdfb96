"""How every command prints: one JSON document with ``--json``, a readable rich view otherwise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ml_backend.client import Client

console = Console()
JSON_MODE = "lsagent.json"


def _remember_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """Kept in the shared ``ctx.meta`` so that errors, caught in the group, print as JSON too."""
    ctx.meta[JSON_MODE] = value
    return value


json_option = click.option("--json", "as_json", is_flag=True, callback=_remember_json, help="Print one JSON document.")


def emit(data: Any, as_json: bool, render: Callable[[Any], None] | None = None) -> None:
    if as_json or render is None:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render(data)


def key_values(data: dict[str, Any], title: str | None = None) -> None:
    table = Table(title=title, show_header=False, box=None)
    for key, value in data.items():
        table.add_row(f"[bold]{key}[/bold]", _short(value))
    console.print(table)


def _short(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return "" if value is None else str(value)


def client() -> Client:
    return Client()
