"""``python -m ml_backend.simulator`` / ``lsagent simulator``: run the simulator in the foreground.

One click command for both, in the style of the other ``lsagent`` commands (defaults shown). It
imports the server only when it runs, so that ``lsagent --help`` does not load the simulator.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

from ml_backend.simulator.options import API_KEY_ENV, REJECTABLE, OptionsError, SimulatorOptions

BANNER = "LLM SIMULATOR (not a real model) listening on {url}"
FAULTS = (("429", "a 429 rate limit"), ("500", "a 500 server error"),
          ("timeout", "sleeping --timeout-sleep-s before answering"), ("drop", "a closed connection"),
          ("malformed", "an answer that does not parse"), ("offlabel", "an answer naming a label not offered"))


def _fault_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, what in reversed(FAULTS):
        command = click.option(f"--fault-{flag}", type=click.FloatRange(0, 1), default=0.0,
                               help=f"Probability of {what}.")(command)
    return command


@click.command("simulator", context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--host", default="127.0.0.1", help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8089, help="Port; 0 picks a free one.")
@click.option("--seed", type=int, default=0, help="Seed of the answers and the faults.")
@click.option("--latency-ms", type=click.FloatRange(0), default=200.0, help="Simulated latency of an answer.")
@click.option("--jitter-ms", type=click.FloatRange(0), default=0.0, help="The latency varies uniformly by +- this.")
@click.option("--rpm", type=click.IntRange(0), default=0, help="Requests per minute before a 429 (0: unlimited).")
@click.option("--rpm-window-s", type=click.FloatRange(0, 60, min_open=True), default=60.0,
              help="The rpm limit holds pro rata in every sliding window of this many seconds.")
@click.option("--api-key", envvar=API_KEY_ENV, show_envvar=True, show_default=False,
              help="The bearer key clients must send; unset: any non-empty key.")
@_fault_options
@click.option("--timeout-sleep-s", type=click.FloatRange(0), default=30.0, help="How long a timeout fault sleeps.")
@click.option("--logprobs/--no-logprobs", default=True, help="Return token log-probabilities when asked.")
@click.option("--reject", default="", help="Refuse these request parameters (comma-separated: "
              f"{', '.join(REJECTABLE)}), like servers that do not support them; embeddings: no /v1/embeddings.")
@click.option("--reject-status", type=click.IntRange(400, 599), default=400, help="HTTP status of such a refusal.")
def simulator_command(host: str, port: int, **values: Any) -> None:
    """Run the OpenAI-compatible LLM simulator (not a real model) for tests, benchmarks and demos."""
    try:
        options = options_from_values(values)
    except OptionsError as exc:
        raise click.UsageError(str(exc)) from None
    sys.exit(run(host, port, options))


def options_from_values(values: dict[str, Any]) -> SimulatorOptions:
    """Options from the command's values (``fault_429``...); raises OptionsError on a bad one."""
    return SimulatorOptions(**{**values, "api_key": values.get("api_key") or None})


def run(host: str, port: int, options: SimulatorOptions) -> int:
    """Listen, print the banner (the readiness signal), serve until stopped."""
    from ml_backend.simulator.server import make_server

    try:
        server = make_server(host, port, options)
    except OSError as exc:
        print(f"simulator: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(BANNER.format(url=server.url), flush=True)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """``python -m ml_backend.simulator``: the command, exiting with its status."""
    simulator_command.main(args=argv, prog_name=prog)
    return 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends ``serve_forever`` like Ctrl-C, so the socket is closed cleanly."""
    raise SystemExit(0)
