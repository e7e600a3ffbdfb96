"""What /health reports: whether the store, the queue and the LLM endpoint answer.

Label Studio gives /health one second (ML_TIMEOUT_HEALTH), so every probe has a short timeout and
the LLM endpoint's answer is remembered for a while instead of being asked on every call. The
LLM probe sends no API key: any HTTP answer, even a 401, proves the endpoint is reachable.
"""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from ml_backend.runtime import Runtime
from ml_backend.store import AgentRecord

PROBE_TIMEOUT_S = 0.4
PROBE_TTL_S = 15.0
DEFAULT_OPENAI_URL = "https://api.openai.com/v1"

Check = dict[str, Any]


class EndpointProbe:
    """Remembers for ``PROBE_TTL_S`` whether each LLM base URL answered.

    A probe runs in its own thread and /health waits for it at most ``PROBE_TIMEOUT_S``: a slow
    DNS lookup (which no socket timeout bounds) then shows as "still probing", never as a
    /health slower than Label Studio's one second.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, Check]] = {}
        self._running: dict[str, threading.Event] = {}

    def check(self, base_url: str) -> Check:
        with self._lock:
            known = self._seen.get(base_url)
            if known is not None and time.monotonic() - known[0] < PROBE_TTL_S:
                return known[1]
            done = self._running.get(base_url)
            if done is None:
                done = self._running[base_url] = threading.Event()
                threading.Thread(target=self._probe, args=(base_url, done), daemon=True).start()
        if done.wait(PROBE_TIMEOUT_S + 0.1):
            with self._lock:
                return self._seen[base_url][1]
        return {"ok": False, "detail": f"{_origin(base_url)} has not answered yet (still probing)"}

    def _probe(self, base_url: str, done: threading.Event) -> None:
        result = _probe(base_url)
        with self._lock:
            self._seen[base_url] = (time.monotonic(), result)
            self._running.pop(base_url, None)
        done.set()


def store_check(runtime: Runtime) -> Check:
    try:
        runtime.store.list_agents(project=0)
    except Exception as exc:  # any driver error means the same thing here: the store is down
        return {"ok": False, "detail": f"store unreachable ({type(exc).__name__})"}
    return {"ok": True, "detail": runtime.store.dialect}


def queue_check(redis_url: str | None) -> Check:
    """Ping Redis on a connection of its own with short timeouts, so a dead Redis answers fast."""
    if not redis_url:
        return {"ok": True, "detail": "in-process job runner (REDIS_URL not set)"}
    import redis

    connection = redis.Redis.from_url(redis_url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S)
    try:
        connection.ping()
    except redis.RedisError as exc:
        return {"ok": False, "detail": f"Redis unreachable ({type(exc).__name__})"}
    finally:
        connection.close()
    return {"ok": True, "detail": "redis"}


def llm_base_url(runtime: Runtime, agent: AgentRecord | None) -> str:
    """The endpoint an agent calls: its own base_url, else OPENAI_BASE_URL, else OpenAI's."""
    configured = agent.config.get("base_url") if agent is not None else None
    return configured or runtime.settings.openai_base_url or DEFAULT_OPENAI_URL


def _probe(base_url: str) -> Check:
    """Reachability only; /health is unauthenticated, so it names the endpoint's origin, no path."""
    origin = _origin(base_url)
    try:
        response = requests.get(f"{base_url.rstrip('/')}/models", timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as exc:
        return {"ok": False, "detail": f"{origin} unreachable ({type(exc).__name__})"}
    return {"ok": True, "detail": f"{origin} answered HTTP {response.status_code}"}


def _origin(url: str) -> str:
    """Scheme, host and port only: never the userinfo an OPENAI_BASE_URL may carry, nor its path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
