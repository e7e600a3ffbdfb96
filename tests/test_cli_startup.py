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


def modules_loaded_by(*arguments: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``lsagent <arguments>``."""
    done = subprocess.run([sys.executable, "-c", SCRIPT, *arguments], capture_output=True, text=True, timeout=60,
                          env={"LSAGENT_URL": "http://127.0.0.1:9", "PATH": "/usr/bin:/bin"})
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(name for name in HEAVY if name in modules)


@pytest.mark.parametrize("arguments", [
    ["--help"], ["--version"], ["agents", "--help"], ["jobs", "run", "--help"], ["review", "--help"],
    ["simulator", "--help"], ["demo", "--help"],
    ["agents", "list", "--project", "1"],  # a client command, here against a closed port
])
def test_the_cli_imports_nothing_heavy_to_start(arguments: list[str]) -> None:
    assert heavy_in(modules_loaded_by(*arguments)) == []


def test_the_check_sees_a_command_that_loads_the_engine() -> None:
    """``parse`` needs the engine: the same check finds it there once the command runs, so an
    empty list above means something."""
    assert heavy_in(modules_loaded_by("parse", "--config", "/nonexistent.xml")) == []  # refused by click first
    assert "ml_backend.engine" in modules_loaded_by("parse", "--config", "/dev/null")
