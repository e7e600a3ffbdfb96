"""The production server (``lsagent serve`` under gunicorn) against hostile clients, for real:
slow clients that drip their request head, and the control socket gunicorn would share."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from sync.server import free_port

SLOW_CLIENTS = 50


@pytest.fixture
def served(tmp_path: Path, lsagent_serve: Callable[[dict[str, str]], Any]) -> tuple[str, Path]:
    """``lsagent serve`` with 1 worker x 4 threads and its own HOME; its URL and that HOME."""
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PORT": str(port), "LSAGENT_DATA_DIR": str(tmp_path / "data"), "THREADS": "4",
           "HOME": str(home)}
    for name in ("DATABASE_URL", "XDG_RUNTIME_DIR", "REDIS_URL"):
        env.pop(name, None)
    lsagent_serve(env)
    return f"http://127.0.0.1:{port}", home


def _slow_client(port: int, kept_alive: bool) -> socket.socket:
    """A connection that starts a request head and stops; ``kept_alive``: after one whole request."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if kept_alive:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, body = answer.split(b"\r\n\r\n", 1)
        [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")]
        while len(body) < length:
            body += sock.recv(65536)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    return sock


def test_health_answers_while_50_slow_clients_drip_their_headers(served: tuple[str, Path]) -> None:
    url, _ = served
    port = int(url.rsplit(":", 1)[1])
    slow = [_slow_client(port, kept_alive=index % 2 == 1) for index in range(SLOW_CLIENTS)]
    try:
        latencies = []
        for round_ in range(4):  # 4 rounds x 3 s: each slow client sends a header line every 3 s
            for sock in slow:
                sock.sendall(f"X-Slow-{round_}: 1\r\n".encode())
            started = time.monotonic()
            assert requests.get(f"{url}/health", timeout=5).json()["status"] == "UP"
            latencies.append(time.monotonic() - started)
            time.sleep(3)
        assert max(latencies) < 2, latencies
        # A head that never completes is closed by the server (HEAD_TIMEOUT_S = 10 s after it opened).
        slow[0].settimeout(5)
        assert slow[0].recv(1024) == b""
    finally:
        for sock in slow:
            sock.close()


def test_each_instance_has_no_shared_control_socket(served: tuple[str, Path]) -> None:
    url, home = served
    assert requests.get(f"{url}/health", timeout=5).status_code == 200
    assert not (home / ".gunicorn").exists(), "gunicorn opened its default control socket under HOME"
    assert list(home.rglob("*.ctl")) == []
