"""An OpenAI-compatible LLM simulator (not a real model) on a real loopback HTTP server.

Tests talk to it through the real ``openai`` client, benchmarks load it, and the demo uses it when
no LLM endpoint is configured. It answers label questions plausibly and deterministically per
(seed, task text, model), returns realistic logprobs (see ``logprobs``), and fails on purpose:
random faults by rate, ``[[sim:...]]`` directives in a task's text (see ``prompt``), and an rpm
limit. ``serve()`` runs one in-process; ``main()`` is the command line.

The server is imported on first use of its names, so the ``lsagent`` command can show the
simulator's options without loading it (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ml_backend.simulator.cli import main
from ml_backend.simulator.options import OptionsError, SimulatorOptions

if TYPE_CHECKING:
    from ml_backend.simulator.server import SimulatorServer, make_server, serve

_FROM_SERVER = ("SimulatorServer", "make_server", "serve")


def __getattr__(name: str) -> Any:
    if name in _FROM_SERVER:
        return getattr(importlib.import_module("ml_backend.simulator.server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OptionsError", "SimulatorOptions", "SimulatorServer", "main", "make_server", "serve"]
