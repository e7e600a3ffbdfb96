"""Malformed requests to every route of the app: always a 4xx JSON error with a message, never a
5xx and never a traceback. Routes are read from the app's URL map, so a route added later is
covered without editing this file.

The service runs without Label Studio here: a body that passed validation would reach Label
Studio and get 503, so a 4xx proves the bad input was refused before any outside call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed

from ml_backend.service import app as app_module
from ml_backend.service.app import create_app
from tests.fixtures.service import service_settings

WEBHOOK_LIMIT = 4096
NOT_JSON = [
    ("garbage", b"{not json", "application/json"),
    ("text", b"hello", "text/plain"),
    ("bad utf-8", b'{"project": "\xff\xfe"}', "application/json"),
    ("array", b"[]", "application/json"),
    ("string", b'"project"', "application/json"),
    ("number", b"5", "application/json"),
    ("null", b"null", "application/json"),
    ("nesting bomb", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("form", b"project=1&name=x", "application/x-www-form-urlencoded"),
]
WRONG_TYPES = {
    "project": "abc", "name": 5, "model": [], "instructions": 7, "template": False, "activate": "yes",
    "temperature": "hot", "max_tokens": 1.5, "tasks": "all of them", "agent": 42, "schema": 3,
    "extra_params": 5, "limit": "three", "task_ids": "1,2", "job": 5, "kind": 9, "subset": 3,
    "threshold": "high", "label_config": [],
}
# Bodies that are JSON objects but wrong for one route, with the word the message must contain.
SPECIFIC = [
    ("/api/agents", "post", {"project": 0, "name": "a", "model": "m"}, "project"),
    ("/api/agents", "post", {"project": True, "name": "a", "model": "m"}, "project"),
    ("/api/agents", "post", {"project": 1, "name": " ", "model": "m"}, "name"),
    ("/api/agents", "post", {"project": 1, "name": "a"}, "model"),
    ("/api/agents", "post", {"project": 1, "name": "a", "model": "m", "temperature": float("nan")}, "temperature"),
    ("/api/agents", "post", {"project": 1, "name": "a", "model": "m", "top_logprobs": 50}, "top_logprobs"),
    ("/api/agents", "post", {"project": 1, "name": "a", "model": "m", "api_key_env": "A KEY"}, "api_key_env"),
    ("/api/agents", "post", {"project": 1, "name": "a", "model": "m", "color": "red"}, "color"),
    ("/api/agents/{agent}/preview", "post", {"limit": 0}, "limit"),
    ("/api/agents/{agent}/preview", "post", {"limit": 1000}, "at most"),
    ("/api/agents/{agent}/preview", "post", {"task_ids": [1, "2"]}, "task_ids"),
    ("/api/projects/1/agent", "put", {}, "agent"),
    ("/api/projects/1/agent", "put", {"agent": "nobody"}, "no agent"),
    ("/api/projects/0/agent", "put", {"agent": "x"}, "project"),
    ("/setup", "post", {}, "project"),
    ("/setup", "post", {"project": "abc.123"}, "project"),
    ("/setup", "post", {"project": "0.1"}, "project"),
    ("/setup", "post", {"project": "1.1", "extra_params": [1]}, "extra_params"),
    ("/setup", "post", {"project": "1.1", "extra_params": "{oops"}, "extra_params"),
    ("/setup", "post", {"project": "1.1", "extra_params": {"agent": 5}}, "extra_params"),
    ("/setup", "post", {"project": "1.1", "extra_params": {"agent": "nobody"}}, "nobody"),
    ("/predict", "post", {}, "tasks"),
    ("/predict", "post", {"tasks": [5]}, "tasks[0]"),
    ("/predict", "post", {"tasks": [{"id": "1"}]}, "tasks[0]"),
    ("/predict", "post", {"tasks": [{"id": 1, "data": "text"}]}, "tasks[0].data"),
    ("/predict", "post", {"tasks": [{"id": 1}], "project": {"id": 1}}, "project"),
]


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return create_app(service_settings(tmp_path, webhook_max_bytes=WEBHOOK_LIMIT))


@pytest.fixture
def agent_id(app: Flask) -> str:
    """An agent saved straight into the store, so routes naming one get past the lookup."""
    from ml_backend.engine.agents import draft
    from ml_backend.engine.modelconfig import ModelConfig
    from tests.fixtures.label_studio import SENTIMENT_CONFIG

    made = draft(name="stored", project=1, label_config=SENTIMENT_CONFIG, config=ModelConfig(model="sim-small"))
    store = app.extensions["lsagent"].runtime.store
    store.save_agent(**made.columns())
    return made.id


def concrete(rule: str, agent_id: str) -> str:
    """A real path for a rule: the stored agent for <reference>, 1 for ints, a made-up id otherwise."""
    path = rule.replace("<reference>", agent_id)
    path = re.sub(r"<int:\w+>", "1", path)
    return re.sub(r"<(?:\w+:)?\w+>", "no-such-id", path)


def routes(app: Flask, agent_id: str) -> Iterator[tuple[str, str, set[str]]]:
    """(rule, concrete path, methods) per path: one path may have a rule per method."""
    allowed: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        allowed.setdefault(rule.rule, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    for rule, methods in allowed.items():
        yield rule, concrete(rule, agent_id), methods


def body_routes(app: Flask, agent_id: str) -> list[tuple[str, str, str]]:
    return [(rule, path, method) for rule, path, allowed in routes(app, agent_id)
            for method in sorted(allowed & {"POST", "PUT", "PATCH"})]


def assert_json_error(response: Any, *statuses: int) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    if statuses:
        assert response.status_code in statuses, response.status_code
    body = response.get_json()
    assert isinstance(body, dict) and body["error"] and body["message"], response.get_data(as_text=True)[:300]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_every_route_refuses_bodies_that_are_not_json_objects(app: Flask, agent_id: str) -> None:
    client = app.test_client()
    checked = 0
    for _rule, path, method in body_routes(app, agent_id):
        for _name, raw, content_type in NOT_JSON:
            response = client.open(path, method=method, data=raw, content_type=content_type)
            body = assert_json_error(response)
            if response.status_code == 400 and body["error"] == "bad_json":
                checked += 1
    assert checked >= len(NOT_JSON) * 4


def test_every_route_refuses_wrong_types(app: Flask, agent_id: str) -> None:
    client = app.test_client()
    for rule, path, method in body_routes(app, agent_id):
        response = client.open(path, method=method, json=WRONG_TYPES)
        if rule == "/webhook":
            assert response.status_code == 200 and response.get_json()["tasks"] == []
            continue
        assert_json_error(response)


def test_every_route_refuses_huge_bodies(app: Flask, agent_id: str) -> None:
    client = app.test_client()
    limits = {"/predict": app_module.PREDICT_MAX_BYTES, "/webhook": WEBHOOK_LIMIT}
    for rule, path, method in body_routes(app, agent_id):
        size = limits.get(rule, app_module.API_MAX_BYTES) + 1
        payload = b'{"x": "' + b"a" * (size - 9) + b'"}'
        response = client.open(path, method=method, data=payload, content_type="application/json")
        body = assert_json_error(response, 413)
        assert body["error"] == "request_entity_too_large"


def test_every_route_refuses_wrong_methods(app: Flask, agent_id: str) -> None:
    client = app.test_client()
    adapter = app.url_map.bind("localhost")
    for _rule, path, allowed in routes(app, agent_id):
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
            if _served_by_another_rule(adapter, path, method):
                continue  # e.g. GET /api/jobs/estimate is "show job 'estimate'"
            response = client.open(path, method=method, json={})
            body = assert_json_error(response, 405)
            assert method in body["message"]


def _served_by_another_rule(adapter: Any, path: str, method: str) -> bool:
    try:
        adapter.match(path, method=method)
    except MethodNotAllowed:
        return False
    return True


def test_query_parameters_of_the_wrong_type(app: Flask, agent_id: str) -> None:
    client = app.test_client()
    for rule, path, allowed in routes(app, agent_id):
        if "GET" not in allowed:
            continue
        response = client.get(path, query_string={"project": "abc", "target": "x", "threshold": "y", "format": 5})
        assert response.status_code < 500, (rule, response.status_code, response.get_data(as_text=True)[:200])
    for path in ("/api/agents", "/health"):
        assert "project" in assert_json_error(client.get(f"{path}?project=abc"), 400)["message"]


@pytest.mark.parametrize("path,method,body,word", SPECIFIC)
def test_route_specific_mistakes(app: Flask, agent_id: str, path: str, method: str, body: dict[str, Any],
                                 word: str) -> None:
    raw = json.dumps(body)  # NaN stays NaN, as a client might send it
    response = app.test_client().open(path.format(agent=agent_id), method=method.upper(), data=raw,
                                      content_type="application/json")
    assert word in assert_json_error(response)["message"]


def test_the_webhook_takes_any_object_as_a_hint(app: Flask) -> None:
    client = app.test_client()
    for payload in ({}, {"action": 5}, {"task": "x", "annotations": 5, "tasks": [1, None, {"id": -3}]},
                    {"project": {"id": "1"}, "annotation": {"task": {"id": 2}}}):
        response = client.post("/webhook", json=payload)
        assert response.status_code == 200 and response.get_json()["ok"] is True


def test_unknown_routes(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/api", "/api/agents/x/y/z", "/predict/1", "/static/app.js"):
        assert_json_error(client.get(path), 404)
