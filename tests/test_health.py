"""/health's LLM check: an endpoint is ok only when it takes the agent's key. It is probed with
the key a call would use, so a wrong or missing key shows as not ok, naming the variable, never
the key (the LLM is the real simulator over HTTP)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ml_backend.service.app import create_app
from tests.fixtures.service import service_settings


def llm_check(tmp_path: Path, sim: Any) -> dict[str, Any]:
    """The LLM check once the probe answered (/health waits 0.5 s for it, a loaded machine may
    need more; the answer is then remembered)."""
    client = create_app(service_settings(tmp_path, openai_base_url=sim.base_url)).test_client()
    deadline = time.monotonic() + 10
    while True:
        response = client.get("/health")
        assert response.status_code == 200  # the service is up; only its LLM check says what is wrong
        check: dict[str, Any] = response.get_json()["checks"]["llm"]
        if "still probing" not in check["detail"] or time.monotonic() > deadline:
            return check
        time.sleep(0.2)


def test_the_right_key_is_ok(tmp_path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", sim.api_key)
    check = llm_check(tmp_path, sim)
    assert check["ok"] is True and "HTTP 200" in check["detail"]


def test_a_refused_key_is_not_ok_and_is_not_shown(tmp_path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-1234")
    check = llm_check(tmp_path, sim)
    assert check == {"ok": False, "detail": f"{sim.base_url.removesuffix('/v1')} refused the key in "
                                            "OPENAI_API_KEY (HTTP 401)"}


def test_a_missing_key_is_not_ok(tmp_path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    check = llm_check(tmp_path, sim)
    assert check["ok"] is False and "wants a key and OPENAI_API_KEY is not set (HTTP 401)" in check["detail"]
