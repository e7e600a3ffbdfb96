"""The CLI starts fast: ``lsagent --help`` and the client commands import no Flask, SQLAlchemy,
gunicorn, openai, Label Studio SDK or engine; only the commands that need them do (``serve``,
``parse``, ``worker``, ``demo``). Checked on the import graph of a fresh interpreter, not on
timing (benchmarks/bench_cli.py gives the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("flask", "sqlalchemy", "gunicorn", "openai", "label_studio_sdk", "tiktoken", "rq", "redis", "jinja2",
         "ml_backend.engine", "ml_backend.service", "ml_backend.store", "ml_backend.jobs", "ml_backend.runtime",
         "ml_backend.simulator.server", "sync")

SCRIPT = """
import json, sys
from ml_backend.cli import main
try:
    main(sys.argv[1:], prog_name="lsagent")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


COMMANDS: list[tuple[str, ...]] = [
    ("--help",), ("--version",), ("agents", "--help"), ("jobs", "run", "--help"), ("review", "--help"),
    ("simulator", "--help"), ("demo", "--help"),
    ("agents", "list", "--project", "1"),  # a client command, here against a closed port
    ("parse", "--config", "/nonexistent.xml"),  # refused by click before the command runs
    ("parse", "--config", "/dev/null"),  # runs: needs the engine
]


def start(arguments: tuple[str, ...]) -> subprocess.Popen[str]:
    """``lsagent <arguments>`` in a fresh interpreter that prints the modules it holds at the end."""
    return subprocess.Popen([sys.executable, "-c", SCRIPT, *arguments], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True,
                            env={"LSAGENT_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def loaded() -> dict[tuple[str, ...], set[str]]:
    """The modules each command leaves loaded; the interpreters run side by side, each on its own."""
    running = {arguments: start(arguments) for arguments in COMMANDS}
    found = {}
    for arguments, process in running.items():
        _, stderr = process.communicate(timeout=60)
        found[arguments] = set(json.loads(stderr.strip().splitlines()[-1]))
    return found


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(name for name in HEAVY if name in modules)


@pytest.mark.parametrize("arguments", COMMANDS[:8], ids=" ".join)
def test_the_cli_imports_nothing_heavy_to_start(arguments: tuple[str, ...],
                                                loaded: dict[tuple[str, ...], set[str]]) -> None:
    assert heavy_in(loaded[arguments]) == []


def test_the_check_sees_a_command_that_loads_the_engine(loaded: dict[tuple[str, ...], set[str]]) -> None:
    """``parse`` needs the engine: the same check finds it there once the command runs, so an
    empty list above means something."""
    assert heavy_in(loaded[("parse", "--config", "/nonexistent.xml")]) == []  # refused by click first
    assert "ml_backend.engine" in loaded[("parse", "--config", "/dev/null")]
