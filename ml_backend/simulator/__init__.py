"""An OpenAI-compatible LLM simulator (not a real model) on a real loopback HTTP server.

Tests talk to it through the real ``openai`` client, benchmarks load it, and the demo uses it when
no LLM endpoint is configured. It answers label questions plausibly and deterministically per
(seed, task text, model), returns realistic logprobs (see ``logprobs``), and fails on purpose:
random faults by rate, ``[[sim:...]]`` directives in a task's text (see ``prompt``), and an rpm
limit. ``serve()`` runs one in-process; ``main()`` is the command line.
"""

from ml_backend.simulator.cli import main
from ml_backend.simulator.options import OptionsError, SimulatorOptions
from ml_backend.simulator.server import SimulatorServer, make_server, serve

__all__ = ["OptionsError", "SimulatorOptions", "SimulatorServer", "main", "make_server", "serve"]
