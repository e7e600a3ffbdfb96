"""What /health reports: whether the store, the queue and the LLM endpoint answer.

Label Studio gives /health one second (ML_TIMEOUT_HEALTH), so every probe has a short timeout and
the LLM endpoint's answer is remembered for a while instead of being asked on every call. The
LLM probe lists the endpoint's models with the key the agent would use (a listing costs no
tokens): an endpoint that refuses the key (401/403) or fails (5xx) is not ok, since every call
the agent makes would fail the same way. The key is never shown, only the variable's name.
"""

from __future__ import annotations

import os
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
DEFAULT_KEY_ENV = "OPENAI_API_KEY"

Check = dict[str, Any]


class EndpointProbe:
    """Remembers for ``PROBE_TTL_S`` whether each LLM base URL answered.

    A probe runs in its own thread and /health waits for it at most ``PROBE_TIMEOUT_S``: a slow
    DNS lookup (which no socket timeout bounds) then shows as "still probing", never as a
    /health slower than Label Studio's one second.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[float, Check]] = {}
        self._running: dict[tuple[str, str], threading.Event] = {}

    def check(self, base_url: str, key_env: str = DEFAULT_KEY_ENV) -> Check:
        """``base_url`` probed with the key in the environment variable ``key_env``."""
        endpoint = (base_url, key_env)
        with self._lock:
            known = self._seen.get(endpoint)
            if known is not None and time.monotonic() - known[0] < PROBE_TTL_S:
                return known[1]
            done = self._running.get(endpoint)
            if done is None:
                done = self._running[endpoint] = threading.Event()
                threading.Thread(target=self._probe, args=(endpoint, done), daemon=True).start()
        if done.wait(PROBE_TIMEOUT_S + 0.1):
            with self._lock:
                return self._seen[endpoint][1]
        return {"ok": False, "detail": f"{_origin(base_url)} has not answered yet (still probing)"}

    def _probe(self, endpoint: tuple[str, str], done: threading.Event) -> None:
        result = _probe(*endpoint)
        with self._lock:
            self._seen[endpoint] = (time.monotonic(), result)
            self._running.pop(endpoint, None)
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


def llm_key_env(agent: Any | None) -> str:
    """The variable holding the key an agent calls with (OPENAI_API_KEY without an agent)."""
    return (agent.config.get("api_key_env") if agent is not None else None) or DEFAULT_KEY_ENV


def _probe(base_url: str, key_env: str) -> Check:
    """/health is unauthenticated, so the detail names the endpoint's origin (no path) and the
    key's variable, never the key."""
    origin = _origin(base_url)
    key = os.environ.get(key_env, "").strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = requests.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=PROBE_TIMEOUT_S)
    except requests.RequestException as exc:
        return {"ok": False, "detail": f"{origin} unreachable ({type(exc).__name__})"}
    status = response.status_code
    if status in (401, 403):
        why = f"refused the key in {key_env}" if key else f"wants a key and {key_env} is not set"
        return {"ok": False, "detail": f"{origin} {why} (HTTP {status})"}
    if status >= 500:
        return {"ok": False, "detail": f"{origin} failed (HTTP {status})"}
    return {"ok": True, "detail": f"{origin} answered HTTP {status}"}


def _origin(url: str) -> str:
    """Scheme, host and port only: never the userinfo an OPENAI_BASE_URL may carry, nor its path."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
