"""The operator's rule on key variables and endpoints, against the real service, Label Studio and
simulator: an API user who names the service's own settings as a key and a listener of theirs as
the endpoint gets a refusal naming the rule, and the listener hears nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from ml_backend.engine.endpoints import EndpointPolicy, EndpointPolicyError, allowed_base_urls, key_patterns
from tests.fixtures.label_studio import SENTIMENT_CONFIG

AUTH = ("lsagent-admin", "basic-auth-secret-4711")
DATABASE_SECRET = "postgresql://lsagent:db-secret-0815@db.internal/lsagent"


class Listener:
    """An HTTP server on loopback that records every request it gets (and answers 404)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        heard = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                heard.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()  # quick shutdown()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    instance = Listener()
    yield instance
    instance.close()


@pytest.fixture
def project(label_studio: Any) -> int:
    return label_studio.new_project(SENTIMENT_CONFIG, [{"text": "Great value."}, {"text": "Broken."}])


def register(service: Any, project: int, **config: Any) -> requests.Response:
    body = {"project": project, "name": "probe", "model": "sim-small", **config}
    return requests.post(f"{service.url}/api/agents", json=body, auth=service.auth, timeout=60)


def assert_refused(response: requests.Response, check: str, *words: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed" and body["check"] == check, body
    for word in words:
        assert word in body["message"], body["message"]


def test_the_service_settings_never_reach_a_listener(make_service: Any, sim: Any, label_studio: Any,
                                                     project: int, listener: Listener,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe of issue 10: each of these used to be sent as a bearer token to the listener."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.api_key)
    monkeypatch.setenv("BASIC_AUTH_USER", AUTH[0])
    monkeypatch.setenv("BASIC_AUTH_PASS", AUTH[1])
    monkeypatch.setenv("DATABASE_URL", DATABASE_SECRET)
    service = make_service(simulator=sim, label_studio=label_studio, auth=AUTH)
    for name in ("LABEL_STUDIO_API_KEY", "BASIC_AUTH_PASS", "DATABASE_URL"):
        assert_refused(register(service, project, api_key_env=name, base_url=listener.url),
                       "api_key_env", name, "the service's own settings")
    assert_refused(register(service, project, api_key_env="PATH", base_url=listener.url),
                   "api_key_env", "PATH", "*_API_KEY", "LSAGENT_API_KEY_VARS")
    assert listener.requests == []
    assert service.runtime.store.list_agents() == []


def test_the_operator_chooses_the_key_variables(make_service: Any, sim: Any, label_studio: Any, project: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TOKEN", sim.api_key)
    service = make_service(simulator=sim, label_studio=label_studio, api_key_vars=("ACME_TOKEN", "TEAM_*_KEY"))
    assert register(service, project, api_key_env="ACME_TOKEN").status_code == 201
    assert_refused(register(service, project, api_key_env="OPENAI_API_KEY", temperature=0.5),
                   "api_key_env", "ACME_TOKEN, TEAM_*_KEY", "LSAGENT_API_KEY_VARS")


def test_the_operator_chooses_the_endpoints(make_service: Any, sim: Any, label_studio: Any, project: int,
                                            listener: Listener) -> None:
    simulator_origin = sim.base_url.removesuffix("/v1")
    service = make_service(simulator=sim, label_studio=label_studio, allowed_base_urls=(simulator_origin,),
                           openai_base_url=None)
    assert_refused(register(service, project, base_url=listener.url), "base_url", listener.url,
                   "LSAGENT_ALLOWED_BASE_URLS")
    assert listener.requests == []
    assert register(service, project, base_url=sim.base_url).status_code == 201


def test_an_agent_stored_before_a_stricter_rule_cannot_run(make_service: Any, sim: Any, label_studio: Any,
                                                           project: int, database_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_API_KEY", sim.api_key)
    lenient = make_service(simulator=sim, label_studio=label_studio, database_url=database_url)
    agent = register(lenient, project, api_key_env="TEAM_API_KEY").json()
    calls = sim.stats()["requests"]
    strict = make_service(simulator=sim, label_studio=label_studio, database_url=database_url,
                          api_key_vars=("OPENAI_API_KEY",))
    job = requests.post(f"{strict.url}/api/jobs", json={"agent": agent["id"]}, timeout=30)
    assert_refused(job, "api_key_env", "TEAM_API_KEY")
    requests.put(f"{strict.url}/api/projects/{project}/agent", json={"agent": agent["id"]}, timeout=30)
    predict = requests.post(f"{strict.url}/predict", timeout=30, json={
        "project": project, "tasks": [{"id": 1, "data": {"text": "x"}}]})
    assert predict.json()["results"] == [{"model_version": agent["model_version"], "error": "endpoint_not_allowed"}]
    assert sim.stats()["requests"] == calls


def test_the_rule_on_names_and_urls() -> None:
    policy = EndpointPolicy(key_patterns("OPENAI_API_KEY, TEAM_*"), allowed_base_urls("https://llm.example/v1/"))
    policy.check("TEAM_KEY", "https://llm.example/v1")
    policy.check("OPENAI_API_KEY", "https://llm.example/v1/deployments/a")
    policy.check("OPENAI_API_KEY", "http://10.0.0.2:8000/v1", service_base_url="http://10.0.0.2:8000/v1/")
    policy.check("OPENAI_API_KEY", None)
    refusals = [("LSAGENT_SIM_API_KEY", None, "api_key_env"), ("REDIS_URL", None, "api_key_env"),
                ("OPENAI_KEY", None, "api_key_env"), ("TEAM_KEY", "https://llm.example/v10", "base_url"),
                ("TEAM_KEY", "https://llm.example:8443/v1", "base_url"),
                ("TEAM_KEY", "http://llm.example/v1", "base_url"),
                ("TEAM_KEY", "https://llm.example.evil/v1", "base_url")]
    for name, url, check in refusals:
        with pytest.raises(EndpointPolicyError) as refused:
            policy.check(name, url)
        assert refused.value.check == check, (name, url)
    assert key_patterns("") == ("*_API_KEY",) and allowed_base_urls(None) == ()
    for bad in ("OPENAI_API_KEY;rm", "A KEY"):
        with pytest.raises(ValueError, match="LSAGENT_API_KEY_VARS"):
            key_patterns(bad)
    for bad in ("ftp://x", "https://user:pw@llm.example/v1"):
        with pytest.raises(ValueError, match="LSAGENT_ALLOWED_BASE_URLS") as refused:
            allowed_base_urls(bad)
        assert "pw" not in str(refused.value)
