"""The OpenAPI document against the routes, for real: the places where they disagreed, and a
schema-driven fuzzer (schemathesis) run against the live service, bounded in examples and time,
that must find no server error and no answer outside the document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fixtures.label_studio import SENTIMENT_CONFIG

AUTH = ("fuzzer", "fuzzer-pass-123")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
FUZZ_TIMEOUT_S = 420


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio, auth=AUTH)


def test_get_on_the_estimate_route_is_405_not_a_job_lookup(service: Any) -> None:
    response = requests.get(f"{service.url}/api/jobs/estimate", auth=AUTH, timeout=10)
    assert response.status_code == 405, response.text
    assert requests.get(f"{service.url}/api/jobs/0123abcd", auth=AUTH, timeout=10).status_code == 404


def test_integer_valued_numbers_are_integers(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "Fine."}, {"text": "Bad."}])
    agent = requests.post(f"{service.url}/api/agents", auth=AUTH, timeout=60,
                          json={"project": float(project), "name": "floats", "model": "sim-small"})
    assert agent.status_code == 201, agent.text
    assert agent.json()["project"] == project
    preview = requests.post(f"{service.url}/api/agents/{agent.json()['id']}/preview", auth=AUTH, timeout=60,
                            json={"limit": 1.0})
    assert preview.status_code == 200 and len(preview.json()["previews"]) == 1, preview.text
    assert requests.post(f"{service.url}/api/agents", auth=AUTH, timeout=60, json={
        "project": project + 0.5, "name": "floats", "model": "sim-small"}).status_code == 400


def test_the_documented_report_target_range_is_the_accepted_one(service: Any) -> None:
    document = requests.get(f"{service.url}/api/openapi.json", auth=AUTH, timeout=10).json()
    [target] = [p for p in document["paths"]["/api/jobs/{job_id}/report"]["get"]["parameters"] if p["name"] == "target"]
    assert target["schema"]["exclusiveMinimum"] == 0 and target["schema"]["maximum"] == 1
    refused = requests.get(f"{service.url}/api/jobs/0123abcd/report", params={"target": 0}, auth=AUTH, timeout=10)
    assert refused.status_code == 400 and "(0, 1]" in refused.json()["message"]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(service: Any, label_studio: Any,
                                                                    tmp_path: Path) -> None:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": "Fine."}, {"text": "Bad."}])
    requests.post(f"{service.url}/api/agents", auth=AUTH, timeout=60,
                  json={"project": project, "name": "fuzzed", "model": "sim-small", "activate": True})
    report = tmp_path / "schemathesis.json"
    command = [str(Path(sys.executable).parent / "st"), "run", f"{service.url}/api/openapi.json",
               "--auth", ":".join(AUTH), "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
               "--max-examples", "30", "--seed", "1", "--workers", "1", "--request-timeout", "30",
               "--generation-database", "none", "--no-color", "--report", "json", "--report-json-path", str(report)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=FUZZ_TIMEOUT_S, check=False, cwd=tmp_path)
    summary = done.stdout[-4000:]
    print(summary)
    assert done.returncode == 0, summary
    counts = json.loads(report.read_text())
    print("schemathesis report:", json.dumps(counts)[:2000])
