"""The app's input bounds, on the real served service and under gunicorn (``lsagent serve``):
a chunked body over the size limit is refused whole (issue 10 item 12), and an integer beyond 64
bits is a 400 on every route, never a database error (item 11)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from ml_backend.service import app as app_module
from sync.server import free_port

WEBHOOK_LIMIT = 4096
HUGE = 2**64 + 5
INT_FIELDS = ("project", "limit", "lowest", "audit", "seed", "threshold", "target")


def chunked(body: bytes, size: int = 1000) -> Iterator[bytes]:
    """A generator body: requests sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start:start + size]


def refused_whole(url: str, path: str, limit: int) -> None:
    """A body whose first ``limit`` bytes are valid JSON: cut at the limit it would be processed."""
    head = b'{"project": 1, "task": 2, "name": "x", "model": "m"}'
    too_long = requests.post(url + path, data=chunked(head + b" " * limit), timeout=30,
                             headers={"Content-Type": "application/json"})
    assert too_long.status_code == 413, (path, too_long.status_code, too_long.text[:200])
    assert too_long.json()["error"] == "request_entity_too_large"
    fits = requests.post(url + path, data=chunked(head + b" " * (limit - len(head) - 1)), timeout=30,
                         headers={"Content-Type": "application/json"})
    assert fits.status_code != 413, (path, fits.text[:200])


def test_chunked_bodies_over_the_limit_are_refused_whole(make_service: Any) -> None:
    service = make_service(webhook_max_bytes=WEBHOOK_LIMIT)
    refused_whole(service.url, "/webhook", WEBHOOK_LIMIT)
    refused_whole(service.url, "/api/agents", app_module.API_MAX_BYTES)


def test_chunked_bodies_over_the_limit_are_refused_under_gunicorn(
        tmp_path: Path, lsagent_serve: Callable[[dict[str, str]], Any]) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "LSAGENT_DATA_DIR": str(tmp_path),
           "LSAGENT_WEBHOOK_MAX_BYTES": str(WEBHOOK_LIMIT)}
    for name in ("DATABASE_URL", "BASIC_AUTH_USER", "BASIC_AUTH_PASS", "REDIS_URL"):
        env.pop(name, None)
    lsagent_serve(env)
    url = f"http://127.0.0.1:{port}"
    refused_whole(url, "/webhook", WEBHOOK_LIMIT)
    refused_whole(url, "/api/agents", app_module.API_MAX_BYTES)


def test_integers_beyond_64_bits_are_400_on_every_route(make_service: Any, database_url: str) -> None:
    """Every route of the URL map, with each integer path parameter, query parameter and body
    field beyond 64 bits: a JSON 4xx, never a 5xx (six routes answered 500, /health included)."""
    service = make_service(database_url=database_url)
    app = service.app
    checked = 0
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<int:\w+>", str(HUGE), rule.rule)
        path = re.sub(r"<(?:\w+:)?\w+>", "no-such-id", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            body = {name: HUGE for name in INT_FIELDS} | {"tasks": [{"id": HUGE, "data": {}}], "task_ids": [HUGE],
                                                          "task": HUGE}
            answer = requests.request(method, f"{service.url}{path}", params={"project": str(HUGE)},
                                      json=body if method != "GET" else None, timeout=30)
            assert answer.status_code < 500, (method, path, answer.status_code, answer.text[:200])
            checked += 1
    assert checked >= 20
    for path in ("/health", "/api/agents", "/api/jobs"):
        answer = requests.get(f"{service.url}{path}", params={"project": str(HUGE)}, timeout=10)
        assert answer.status_code == 400 and "64-bit" in answer.json()["message"], answer.text
    answer = requests.get(f"{service.url}/api/projects/{HUGE}/agent", timeout=10)
    assert answer.status_code == 400 and "2**63" in answer.json()["message"]
    for body in ({"project": f"{HUGE}.17"}, {"project": HUGE, "tasks": []}, {"tasks": [{"id": HUGE, "project": 1}]}):
        path = "/setup" if "tasks" not in body else "/predict"
        answer = requests.post(f"{service.url}{path}", json=body, timeout=10)
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request", (path, answer.text)
    largest = requests.get(f"{service.url}/health", params={"project": str(2**63 - 1)}, timeout=10)
    assert largest.status_code == 200 and largest.json()["project"] == 2**63 - 1
