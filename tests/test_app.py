"""The app itself: routes, basic auth, JSON errors, /health, /metrics, the OpenAPI document, and
the production server (`lsagent serve` under gunicorn)."""

from __future__ import annotations

import base64
import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import psycopg
import pytest
import requests
from flask import Flask
from psycopg import sql

from ml_backend import __version__
from ml_backend.engine.annotate import Outcome
from ml_backend.service.api.openapi import document
from ml_backend.service.app import create_app
from ml_backend.service.server import GRACEFUL_TIMEOUT_S, gunicorn_options
from ml_backend.settings import Settings
from sync.server import free_port
from tests.fixtures.service import service_settings

AUTH = ("admin", "s3cret-pass")
REPO = Path(__file__).resolve().parents[1]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(service_settings(tmp_path, basic_auth_user=AUTH[0], basic_auth_pass=AUTH[1]))


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


def test_health_is_open_and_reports_parts(client: Any) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "UP" and body["version"] == __version__
    assert body["checks"]["store"]["ok"] is True
    assert body["checks"]["queue"] == {"ok": True, "detail": "in-process job runner (REDIS_URL not set)"}
    assert set(body["checks"]["llm"]) == {"ok", "detail"}
    assert "no agent is registered" in body["reason"]


def test_health_for_a_project_says_why_no_agent_answers(client: Any) -> None:
    body = client.get("/health?project=7").get_json()
    assert body["project"] == 7 and body["model_version"] is None
    assert "no agent is active on project 7" in body["reason"]


def test_health_reports_a_dead_redis(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path, redis_url="redis://127.0.0.1:1/0"))
    body = app.test_client().get("/health").get_json()
    assert body["status"] == "UP"
    assert body["checks"]["queue"]["ok"] is False and "Redis unreachable" in body["checks"]["queue"]["detail"]


def test_health_with_a_live_redis(tmp_path: Path, redis_url: str) -> None:
    app = create_app(service_settings(tmp_path, redis_url=redis_url))
    assert app.test_client().get("/health").get_json()["checks"]["queue"] == {"ok": True, "detail": "redis"}


def test_on_postgresql_and_when_the_database_goes_away(tmp_path: Path, fresh_postgres_url: str,
                                                        postgres_admin_dsn: str) -> None:
    app = create_app(service_settings(tmp_path, database_url=fresh_postgres_url))
    client = app.test_client()
    assert client.get("/health").get_json()["checks"]["store"] == {"ok": True, "detail": "postgresql"}
    database = fresh_postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
    down = client.get("/health")
    assert down.status_code == 503 and down.get_json()["status"] == "DOWN"
    assert "store unreachable" in down.get_json()["checks"]["store"]["detail"]
    refused = client.get("/api/agents")
    assert refused.status_code == 503 and refused.get_json()["error"] == "store_unavailable"
    app.extensions["lsagent"].runtime.store.dispose()


@pytest.mark.parametrize("method,path", [("GET", "/api/agents"), ("GET", "/metrics"), ("POST", "/setup"),
                                         ("POST", "/predict"), ("GET", "/api/openapi.json"), ("GET", "/nowhere")])
def test_routes_need_basic_auth(client: Any, method: str, path: str) -> None:
    for headers in ({}, basic(AUTH[0], "wrong"), basic("wrong", AUTH[1]), {"Authorization": "Bearer x"}):
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, (path, headers)
        assert response.headers["WWW-Authenticate"].startswith("Basic realm=")
        assert response.get_json()["error"] == "unauthorized"


def test_right_credentials_pass(client: Any) -> None:
    assert client.get("/api/agents", headers=basic(*AUTH)).get_json() == {"agents": []}


def test_open_routes_still_refuse_wrong_credentials(client: Any) -> None:
    """Label Studio then reports "authentication parameters are incorrect" when adding the backend."""
    assert client.get("/health", headers=basic(AUTH[0], "wrong")).status_code == 401
    assert client.get("/health", headers=basic(*AUTH)).status_code == 200
    assert client.post("/webhook", json={"action": "PROJECT_UPDATED"}).status_code == 200


def test_no_auth_configured_means_open(tmp_path: Path) -> None:
    app = create_app(service_settings(tmp_path))
    assert app.test_client().get("/api/agents").status_code == 200


def test_unknown_route_and_wrong_method_are_json(client: Any) -> None:
    missing = client.get("/api/nothing", headers=basic(*AUTH))
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = client.delete("/api/agents", headers=basic(*AUTH))
    assert wrong.status_code == 405
    assert wrong.get_json() == {"error": "method_not_allowed", "message": "method DELETE is not allowed on /api/agents"}
    assert set(wrong.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_an_unexpected_error_is_logged_not_sent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(service_settings(tmp_path))

    def boom() -> None:
        raise RuntimeError("secret detail sk-proj-abcdefghijklmnopqrstuv")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal_error",
                                    "message": "the service failed on its side; the details are in its log"}
    assert "secret detail" in caplog.text


def test_settings_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BASIC_AUTH_USER", "env-user")
    monkeypatch.setenv("BASIC_AUTH_PASS", "env-pass")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = create_app()
    client = app.test_client()
    assert client.get("/api/agents").status_code == 401
    assert client.get("/api/agents", headers=basic("env-user", "env-pass")).status_code == 200
    assert (tmp_path / "lsagent.sqlite3").exists()
    import logging

    assert logging.getLogger("ml_backend").level == logging.DEBUG


def test_wsgi_module_builds_the_app_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    import ml_backend.service.wsgi as wsgi

    module = importlib.reload(wsgi)
    assert isinstance(module.app, Flask)
    assert module.app.test_client().get("/health").status_code == 200


def test_metrics_count_requests_by_route_pattern(client: Any) -> None:
    client.get("/health")
    client.get("/api/agents/abcdef12", headers=basic(*AUTH))
    client.get("/api/agents", headers={})
    text = client.get("/metrics", headers=basic(*AUTH)).get_data(as_text=True)
    assert 'lsagent_http_requests_total{endpoint="/health",method="GET",status="200"} 1.0' in text
    assert 'lsagent_http_requests_total{endpoint="/api/agents/<reference>",method="GET",status="404"} 1.0' in text
    assert 'lsagent_http_requests_total{endpoint="/api/agents",method="GET",status="401"} 1.0' in text
    assert 'lsagent_http_request_duration_seconds_count{endpoint="/health"} 1.0' in text


def test_metrics_of_outcomes(app: Flask, client: Any) -> None:
    metrics = app.extensions["lsagent"].metrics
    metrics.observe_outcome("a@1", Outcome(1, tokens_in=100, tokens_out=7, attempts=2))
    metrics.observe_outcome("a@1", Outcome(2, cached=True))
    metrics.observe_outcome("a@1", Outcome(3, error_class="api_error", attempts=3))
    text = client.get("/metrics", headers=basic(*AUTH)).get_data(as_text=True)
    assert 'lsagent_llm_calls_total{model_version="a@1"} 5.0' in text
    assert 'lsagent_llm_tokens_total{direction="prompt",model_version="a@1"} 100.0' in text
    assert 'lsagent_llm_tokens_total{direction="completion",model_version="a@1"} 7.0' in text
    assert 'lsagent_cache_hits_total{model_version="a@1"} 1.0' in text
    assert 'lsagent_task_errors_total{error_class="api_error"} 1.0' in text


def test_each_app_has_its_own_metrics(tmp_path: Path) -> None:
    first = create_app(service_settings(tmp_path / "a")).test_client()
    second = create_app(service_settings(tmp_path / "b")).test_client()
    first.get("/health")
    assert "/health" not in second.get("/metrics").get_data(as_text=True)


# --- OpenAPI -------------------------------------------------------------------------------

def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _operations(app: Flask) -> set[tuple[str, str]]:
    return {(_openapi_path(rule.rule), method.lower())
            for rule in app.url_map.iter_rules()
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_openapi_documents_every_route_and_nothing_else(app: Flask, client: Any) -> None:
    served = client.get("/api/openapi.json", headers=basic(*AUTH)).get_json()
    documented = {(path, method) for path, item in served["paths"].items() for method in item}
    assert documented == _operations(app)
    assert served["openapi"] == "3.1.0"


def test_openapi_path_parameters_match_the_routes() -> None:
    for path, item in document()["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)
            assert operation["responses"], (path, method)


def test_openapi_schemas_are_valid_and_references_resolve() -> None:
    doc = document()
    for _name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', _dump(doc)))
    assert refs
    for section, name in refs:
        assert name in doc["components"][section], (section, name)


def test_openapi_agent_schema_matches_an_agent_answer() -> None:
    doc = document()
    agent = {"id": "a" * 64, "name": "n", "project": 1, "model_version": "n@aaaaaaaa",
             "config": {"model": "m", "temperature": 0.0, "top_p": None}, "instructions": "", "template": "t",
             "label_signature": "s", "created_at": "2026-01-01T00:00:00+00:00"}
    schema = {**doc["components"]["schemas"]["Agent"], "$defs": {}}
    resolver_doc = {"components": doc["components"], **schema}
    jsonschema.validate(agent, _inline(resolver_doc, doc))


def _inline(schema: Any, doc: dict[str, Any]) -> Any:
    """Replace local ``#/components/schemas/X`` references by their schemas (the document has no cycles)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], doc)
        return {key: _inline(value, doc) for key, value in schema.items() if key != "components"}
    if isinstance(schema, list):
        return [_inline(item, doc) for item in schema]
    return schema


def _dump(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc)


# --- the production server -------------------------------------------------------------------

def test_gunicorn_timeout_exceeds_the_predict_budget(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite:///x", workers=3, threads=5, predict_budget_s=80)
    options = gunicorn_options(settings, "0.0.0.0", 9999)
    assert options["bind"] == "0.0.0.0:9999" and options["workers"] == 3 and options["threads"] == 5
    assert options["timeout"] > settings.predict_budget_s
    assert options["worker_class"] == "ml_backend.service.headworker.WholeHeadWorker"
    assert options["graceful_timeout"] == GRACEFUL_TIMEOUT_S  # what the tests' _stop waits beyond


def _stop(server: subprocess.Popen[bytes]) -> str:
    """SIGTERM gunicorn and wait for it: longer than its graceful timeout, after which it kills
    its workers itself (waiting exactly as long raced it); its output."""
    server.terminate()
    try:
        return server.communicate(timeout=GRACEFUL_TIMEOUT_S + 15)[0].decode()
    except subprocess.TimeoutExpired:
        server.kill()
        output = server.communicate()[0].decode()
        raise AssertionError(f"gunicorn outlived its graceful timeout:\n{output}") from None


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_lsagent_serve_runs_gunicorn_with_several_workers(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LSAGENT_DATA_DIR": str(tmp_path), "WORKERS": "2", "THREADS": "2",
           "BASIC_AUTH_USER": AUTH[0], "BASIC_AUTH_PASS": AUTH[1], "PYTHONPATH": str(REPO)}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-c", "from ml_backend.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        assert requests.get(f"{url}/health", timeout=2).json()["status"] == "UP"
        assert requests.get(f"{url}/api/agents", timeout=2).status_code == 401
        assert requests.get(f"{url}/api/agents", auth=AUTH, timeout=2).json() == {"agents": []}
    finally:
        output = _stop(process)
    assert ("Using worker: ml_backend.service.headworker.WholeHeadWorker" in output
            and output.count("Booting worker") >= 2)
    assert "Worker failed to boot" not in output


def _dockerfile_commands() -> tuple[list[str], str]:
    """The image's CMD (exec form) and HEALTHCHECK command, read from the Dockerfile itself."""
    import json
    import re

    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    health = re.search(r"^HEALTHCHECK .*? CMD (.*)$", text, re.M).group(1)
    return command, health


@pytest.mark.integration  # starts servers or several processes: too slow for the fast tier
def test_the_docker_image_command_and_healthcheck_work_as_written(tmp_path: Path) -> None:
    # No Docker engine here: run exactly what the image runs, from the virtualenv's bin directory.
    command, health = _dockerfile_commands()
    assert command[0] == "gunicorn"
    bin_dir = Path(sys.executable).parent
    port = free_port()
    env = {**os.environ, "LSAGENT_DATA_DIR": str(tmp_path), "PORT": str(port), "WORKERS": "2", "THREADS": "2",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            checked = subprocess.run(["sh", "-c", health], env=env, capture_output=True)
            if checked.returncode == 0:
                break
            time.sleep(0.3)
        assert checked.returncode == 0, checked.stderr.decode()
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=2).json()["status"] == "UP"
    finally:
        output = _stop(process)
    assert f"Listening at: http://0.0.0.0:{port}" in output and output.count("Booting worker") >= 2
