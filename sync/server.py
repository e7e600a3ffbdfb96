"""Start a local Label Studio and wait until it answers: used by the test fixture and the demo.

Label Studio pins its own openai, redis and rq versions, so it lives in its own virtualenv and
is run as a subprocess from that venv's ``bin/label-studio``.

Measured with label-studio 1.23.2:
- A fresh data dir takes ~35 s to become healthy, almost all of it Django migrations on SQLite;
  a restart on an existing data dir takes ~4 s. ``seed_database`` copies a migrated, user-less
  database (made once per install with ``label-studio user``, which migrates and exits) into a
  new data dir: start-up then takes ~8 s. Users, the token and SECRET_KEY (``<data dir>/.env``)
  are still created by the server itself at start.
- ``label-studio start`` silently moves to the next free port when the requested one is busy,
  so a restart must wait for the old process to exit (``stop_label_studio`` does).
- Settings are read from ``LABEL_STUDIO_<NAME>`` and then from plain ``<NAME>``: an inherited
  ``USERNAME``, ``DEBUG`` or ``DJANGO_DB`` would leak in. The child gets a minimal environment.
- Since 1.23.1, ML backends and webhooks on loopback/private addresses are refused unless
  ``ML_BLOCK_LOCAL_IP=false`` and ``USE_DEFAULT_BANNED_SUBNETS=false``; set here so that a
  backend on localhost can be connected.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import requests

VERSION = "1.23.2"


def default_venv() -> Path:
    """Label Studio's own virtualenv: $LSAGENT_LS_VENV, else where scripts/setup.sh installs it."""
    if os.environ.get("LSAGENT_LS_VENV"):
        return Path(os.environ["LSAGENT_LS_VENV"])
    home = Path(os.environ.get("LSAGENT_HOME") or Path.home() / ".cache" / "lsagent")
    return home / f"ls-{VERSION}"

DATABASE = "label_studio.sqlite3"
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


class LabelStudioStartError(RuntimeError):
    """Label Studio did not become healthy; the message carries the tail of its log."""


def label_studio_env(data_dir: str | Path, username: str, password: str, token: str) -> dict[str, str]:
    """The child's environment: the accounts, no telemetry, local ML backends allowed."""
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=username,
        LABEL_STUDIO_PASSWORD=password,
        LABEL_STUDIO_USER_TOKEN=token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        ML_BLOCK_LOCAL_IP="false",
        USE_DEFAULT_BANNED_SUBNETS="false",
        COLLECT_ANALYTICS="false",
        LATEST_VERSION_CHECK="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def free_port() -> int:
    """A loopback port that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_label_studio(
    venv: str | Path,
    port: int,
    data_dir: str | Path,
    username: str,
    password: str,
    token: str,
    log_path: str | Path,
) -> subprocess.Popen:
    """Launch ``label-studio start`` on 127.0.0.1:port; output is appended to log_path."""
    executable = Path(venv) / "bin" / "label-studio"
    if not executable.is_file():
        raise LabelStudioStartError(f"no Label Studio at {executable}: install label-studio in that virtualenv")
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    command = [str(executable), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1"]
    command += ["--host", f"http://127.0.0.1:{port}", "--enable-legacy-api-token"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command,
            env=label_studio_env(data_dir, username, password, token),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_healthy(url: str, timeout: float = 180.0, process: subprocess.Popen | None = None) -> float:
    """Poll ``<url>/health`` until it answers 200; returns the seconds waited.

    Raises LabelStudioStartError on timeout, or as soon as ``process`` exits.
    """
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process is not None and process.poll() is not None:
            raise LabelStudioStartError(f"Label Studio exited with code {process.returncode} before answering {url}")
        try:
            if requests.get(f"{url.rstrip('/')}/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise LabelStudioStartError(f"Label Studio at {url} not healthy after {timeout:g} s")


def stop_label_studio(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Terminate the server (its whole process group) and wait until it has exited."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=timeout)


def log_tail(log_path: str | Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    path = Path(log_path)
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def migrated_template(venv: str | Path, cache_dir: str | Path) -> Path:
    """A migrated Label Studio SQLite database with no users, made once per install (~35 s)."""
    dist = sorted(Path(venv).glob("lib/python*/site-packages/label_studio-*.dist-info"))
    if not dist:
        raise LabelStudioStartError(f"label-studio is not installed in {venv}")
    key = hashlib.sha256(str(dist[0].resolve()).encode()).hexdigest()[:10]
    target = Path(cache_dir) / f"{dist[0].name.removesuffix('.dist-info')}-{key}.sqlite3"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        command = [str(Path(venv) / "bin" / "label-studio"), "user", "--username", "nobody@invalid"]
        env = label_studio_env(scratch, "", "", "")
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
        made = Path(scratch) / DATABASE
        if done.returncode != 0 or not made.exists():
            output = (done.stdout + done.stderr)[-3000:]
            raise LabelStudioStartError(f"migrating a Label Studio database failed:\n{output}")
        os.replace(made, target)
    return target


def seed_database(venv: str | Path, data_dir: str | Path, cache_dir: str | Path) -> bool:
    """Copy the migrated template into a data dir that has no database yet; False if it had one."""
    database = Path(data_dir) / DATABASE
    if database.exists():
        return False
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_template(venv, cache_dir), database)
    return True
