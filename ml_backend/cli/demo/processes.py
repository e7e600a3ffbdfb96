"""What the demo runs besides itself: Label Studio, the lsagent service, the LLM simulator.

Each child is registered the moment it exists, and ``Children.stop`` ends them in reverse order
(service before Label Studio), so whatever step fails or whenever Ctrl-C comes, nothing is left
running. Label Studio and the service run in their own sessions: a Ctrl-C in the terminal reaches
the demo only, which then stops them in order instead of all of them dying at once. Their logs
go to ``<data dir>/logs``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

from sync import server

LS_VERSION = server.VERSION
SERVICE_TIMEOUT_S = 60.0
LABEL_STUDIO_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 15.0
# Settings of the user's shell that would move the demo off its embedded defaults (its own
# SQLite file, jobs in the service process) or onto someone else's Label Studio.
NOT_INHERITED = ("DATABASE_URL", "REDIS_URL", "LSAGENT_DATA_DIR", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY", "PORT")


class DemoError(RuntimeError):
    """A step of the demo cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Account:
    """The Label Studio login the demo creates (a local, loopback-only instance)."""

    username: str
    password: str
    token: str


def label_studio_venv() -> Path:
    """The Label Studio virtualenv, refused with the way to install it when it is missing."""
    venv = server.default_venv()
    if not (venv / "bin" / "label-studio").is_file():
        raise DemoError(f"Label Studio {LS_VERSION} is not installed in {venv}. Run `make setup` (it installs "
                        f"it in its own virtualenv), or set LSAGENT_LS_VENV to a virtualenv with "
                        f"label-studio=={LS_VERSION}.")
    return venv


def ensure_free(port: int, what: str, option: str) -> None:
    """Fail with a clear message when ``port`` is taken (Label Studio would silently move)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise DemoError(f"port {port} is already in use, so {what} cannot start there. Stop what uses it "
                            f"(`ss -ltnp 'sport = :{port}'` shows it) or pick another port with {option} PORT."
                            ) from None


class Children:
    """The demo's children, stopped in reverse order of start by ``stop``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self._running: list[tuple[str, Callable[[], None], Callable[[], bool]]] = []

    def label_studio(self, venv: Path, port: int, data_dir: Path, account: Account) -> str:
        """Start Label Studio on SQLite in ``data_dir``; returns its URL once healthy."""
        log = self.logs / "label-studio.log"
        templates = Path(os.environ.get("LSAGENT_LS_CACHE") or venv.parent / "ls-db-templates")
        try:
            server.seed_database(venv, data_dir, templates)
        except (OSError, server.LabelStudioStartError):
            pass  # no template database: Label Studio migrates its own, it only takes longer
        process = server.start_label_studio(venv, port, data_dir, account.username, account.password,
                                            account.token, log)
        self._add("Label Studio", lambda: server.stop_label_studio(process), lambda: process.poll() is None)
        url = f"http://127.0.0.1:{port}"
        try:
            server.wait_healthy(url, LABEL_STUDIO_TIMEOUT_S, process)
        except server.LabelStudioStartError as exc:
            raise DemoError(f"{exc}\n--- last lines of {log} ---\n{server.log_tail(log)}") from None
        return url

    def service(self, port: int, environment: Mapping[str, str]) -> str:
        """Start ``lsagent serve`` with these settings on top of the user's environment."""
        log = self.logs / "service.log"
        env = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
        env.update(environment)
        with open(log, "ab") as output:
            process = subprocess.Popen([*_lsagent(), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                       stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self._add("the lsagent service", lambda: _stop_group(process), lambda: process.poll() is None)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DemoError(f"the lsagent service exited with code {process.returncode}\n--- last lines of "
                                f"{log} ---\n{server.log_tail(log)}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    return url
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise DemoError(f"the lsagent service did not answer {url}/health within {SERVICE_TIMEOUT_S:.0f} s; "
                        f"see {log}")

    def simulator(self, latency_ms: float, api_key: str, port: int = 0) -> str:
        """The LLM simulator, in this process, on ``port`` if it is free (else any); returns its
        OpenAI base URL."""
        from ml_backend.simulator import SimulatorOptions, serve

        options = SimulatorOptions(seed=0, latency_ms=latency_ms, jitter_ms=latency_ms / 3, api_key=api_key)
        try:
            simulator = serve("127.0.0.1", port, options)
        except OSError:
            simulator = serve("127.0.0.1", 0, options)
        self._add("the LLM simulator", simulator.stop, lambda: True)
        return simulator.url

    def dead(self) -> str | None:
        """The name of a child that has exited on its own, if any."""
        return next((name for name, _, alive in self._running if not alive()), None)

    def stop(self, report: Callable[[str], None] = lambda _: None) -> None:
        """Stop every child, newest first; one that fails to stop does not keep the others up."""
        while self._running:
            name, stop, _ = self._running.pop()
            report(f"stopping {name}")
            try:
                stop()
            except (OSError, subprocess.SubprocessError) as exc:
                report(f"could not stop {name} cleanly: {exc}")

    def _add(self, name: str, stop: Callable[[], None], alive: Callable[[], bool]) -> None:
        self._running.append((name, stop, alive))


def _lsagent() -> list[str]:
    """This installation's ``lsagent`` command (the script next to the interpreter, if any)."""
    script = Path(sys.executable).with_name("lsagent")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from ml_backend.cli import main; main()"]


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the child's process group (gunicorn and its workers), SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
    except ProcessLookupError:
        process.wait(timeout=STOP_TIMEOUT_S)
