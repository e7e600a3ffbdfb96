"""The processes and measurements the job benchmark needs: Label Studio, the simulator, a
PostgreSQL database or Redis keys per run, process groups, CPU time and peak memory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sync import server  # noqa: E402

BIN = ROOT / ".venv" / "bin"
REDIS_URL = os.environ.get("LSAGENT_BENCH_REDIS", "redis://127.0.0.1:6379/0")
POSTGRES = os.environ.get("LSAGENT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
LS_TOKEN = "lsagent-bench-token-0123456789abcdef"
SIM_KEY = "sim-bench-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@contextmanager
def label_studio(root: Path) -> Iterator[str]:
    venv = server.default_venv()
    data = root / "label-studio"
    server.seed_database(venv, data, Path(os.environ.get("LSAGENT_LS_CACHE") or venv.parent / "ls-db-templates"))
    port = server.free_port()
    process = server.start_label_studio(venv, port, data, "bench@example.com", "bench-password-123", LS_TOKEN,
                                        root / "label-studio.log")
    try:
        server.wait_healthy(f"http://127.0.0.1:{port}", 180, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop_label_studio(process)


@contextmanager
def simulator(latency_ms: float, rpm: int) -> Iterator[str]:
    command = [str(BIN / "python"), "-m", "ml_backend.simulator", "--port", "0", "--seed", "1",
               "--latency-ms", str(latency_ms), "--rpm", str(rpm)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "LSAGENT_SIM_API_KEY": SIM_KEY},
                               stdout=subprocess.PIPE, text=True)
    try:
        banner = process.stdout.readline() if process.stdout else ""
        found = re.search(r"listening on (http://\S+/v1)", banner)
        if not found:
            raise RuntimeError(f"the simulator did not start: {banner!r}")
        yield found.group(1)
    finally:
        stop(process)


def sim_call(sim_url: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A test control of the simulator (``/_sim/stats``, ``/_sim/reset``, ``/_sim/config``)."""
    response = requests.request(method, sim_url.removesuffix("/v1") + path, json=body, timeout=10,
                                headers={"Authorization": f"Bearer {SIM_KEY}"})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


@contextmanager
def postgres(name: str) -> Iterator[str]:
    database = name.replace("-", "_")
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + database
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


@contextmanager
def process_group(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/health", timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the service at {url} did not come up")


def clean_redis(tag: str) -> None:
    connection = redis.Redis.from_url(REDIS_URL)
    for pattern in (f"{tag}:*", f"rq:*{tag}*"):
        keys = list(connection.scan_iter(match=pattern, count=1000))
        if keys:
            connection.delete(*keys)
    connection.close()


def family(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's master and its worker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *map(int, children)]


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the peak resident set size of a live process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def load_average() -> float:
    return os.getloadavg()[0]
