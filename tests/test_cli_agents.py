"""`lsagent agents ...` through click's CliRunner, against the service served for real (with
Label Studio and the simulator behind it): the CLI is only a client of the REST API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml_backend.cli import main
from tests.fixtures.label_studio import SENTIMENT_CONFIG

AUTH = ("cli-user", "cli-pass-456")
TEXTS = ["Lovely little cafe.", "Cold food and rude staff.", "Open from nine to five."]


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio, auth=AUTH)


@pytest.fixture
def project(label_studio: Any) -> int:
    return label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in TEXTS])


@pytest.fixture
def run(service: Any) -> Any:
    env = {"LSAGENT_URL": service.url, "BASIC_AUTH_USER": AUTH[0], "BASIC_AUTH_PASS": AUTH[1]}

    def invoke(*args: Any, **extra_env: str) -> Result:
        return CliRunner().invoke(main, [str(arg) for arg in args], env={**env, **extra_env}, catch_exceptions=False)

    return invoke


def one_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # raises unless the output is exactly one JSON document


def test_create_show_list_activate_as_json(run: Any, project: int) -> None:
    agent = one_json(run("agents", "create", "--project", project, "--name", "cli", "--model", "sim-small",
                         "--temperature", "0.1", "--max-tokens", "40", "--top-p", "0.9", "--seed", "7",
                         "--max-concurrency", "4", "--rpm", "600", "--json"))
    assert agent["model_version"].startswith("cli@")
    config = agent["config"]
    assert (config["temperature"], config["max_tokens"], config["top_p"], config["seed"]) == (0.1, 40, 0.9, 7)
    assert (config["max_concurrency"], config["requests_per_minute"]) == (4, 600)
    assert one_json(run("agents", "show", agent["id"][:10], "--json"))["id"] == agent["id"]
    listed = one_json(run("agents", "list", "--project", project, "--json"))
    assert [a["id"] for a in listed["agents"]] == [agent["id"]]
    activated = one_json(run("agents", "activate", agent["model_version"], "--project", project, "--json"))
    assert activated == {"project": project, "agent": agent}


def test_show_names_the_endpoint_fixed_at_registration(run: Any, project: int, service: Any) -> None:
    """Registered without --base-url, the agent keeps the registering service's OPENAI_BASE_URL."""
    agent = one_json(run("agents", "create", "--project", project, "--name", "endpoint", "--model", "sim-small",
                         "--json"))
    assert agent["config"]["base_url"] == service.settings.openai_base_url
    shown = run("agents", "show", agent["id"])
    assert shown.exit_code == 0 and f"endpoint {service.settings.openai_base_url}" in " ".join(shown.output.split())


def test_controls_the_agent_does_not_answer_are_named(run: Any, label_studio: Any) -> None:
    config = SENTIMENT_CONFIG.replace("</View>", '<Image name="photo" value="$photo"/>'
                                      '<RectangleLabels name="box" toName="photo"><Label value="Face"/>'
                                      "</RectangleLabels></View>")
    project = label_studio.new_project(config, [{"text": TEXTS[0], "photo": "https://example.com/a.png"}])
    agent = one_json(run("agents", "create", "--project", project, "--name", "mixed", "--model", "sim-small",
                         "--json"))
    assert agent["ignored_controls"] == ['<RectangleLabels name="box">']
    shown = run("agents", "show", agent["id"])
    assert 'not answered <RectangleLabels name="box"> (left to annotators)' in " ".join(shown.output.split())
    plain = one_json(run("agents", "create", "--project", label_studio.new_project(SENTIMENT_CONFIG, [
        {"text": TEXTS[0]}]), "--name", "plain", "--model", "sim-small", "--temperature", "0.3", "--json"))
    assert plain["ignored_controls"] == []


def test_create_with_activate_and_instructions(run: Any, project: int, service: Any) -> None:
    agent = one_json(run("agents", "create", "--project", project, "--name", "cli2", "--model", "sim-small",
                         "--instructions", "Classify the mood of the cafe review.", "--activate", "--json"))
    assert agent["instructions"] == "Classify the mood of the cafe review."
    assert service.client().active_agent(project)["agent"]["id"] == agent["id"]


def test_readable_output(run: Any, project: int) -> None:
    created = run("agents", "create", "--project", project, "--name", "readable", "--model", "sim-small")
    assert created.exit_code == 0 and "readable@" in created.output and "sim-small" in created.output
    listed = run("agents", "list", "--project", project)
    assert listed.exit_code == 0 and "readable@" in listed.output
    preview = run("agents", "preview", "readable@" + created.output.split("readable@")[1][:8], "--limit", "2")
    assert preview.exit_code == 0, preview.output
    assert "prompt tokens" in preview.output and TEXTS[0] in preview.output and TEXTS[2] not in preview.output


def test_preview_as_json(run: Any, project: int, label_studio: Any) -> None:
    agent = one_json(run("agents", "create", "--project", project, "--name", "p", "--model", "sim-small", "--json"))
    ids = label_studio.task_ids(project)
    preview = one_json(run("agents", "preview", agent["id"], "--task", ids[1], "--json"))
    [entry] = preview["previews"]
    assert entry["task_id"] == ids[1] and entry["messages"][-1]["content"] == TEXTS[1]


def test_validation_errors_are_one_clear_line(run: Any, project: int) -> None:
    result = run("agents", "create", "--project", project, "--name", "x", "--model", "no-such-model",
                 "--context-window", "8000")
    assert result.exit_code == 1
    assert "422" in result.output and "'no-such-model' does not exist" in result.output
    assert "Traceback" not in result.output


def test_wrong_credentials_and_no_service(run: Any) -> None:
    refused = run("agents", "list", BASIC_AUTH_PASS="wrong")
    assert refused.exit_code == 1 and "401" in refused.output
    nowhere = run("agents", "list", LSAGENT_URL="http://127.0.0.1:9")
    assert nowhere.exit_code == 1 and "cannot reach the lsagent service" in nowhere.output


def test_unknown_agent(run: Any) -> None:
    result = run("agents", "show", "nobody@12345678")
    assert result.exit_code == 1 and "404" in result.output and "no agent" in result.output


def test_listing_the_agents_of_a_project_that_does_not_exist_says_so(run: Any, project: int) -> None:
    result = run("agents", "list", "--project", 999999)
    assert result.exit_code == 1 and "project 999999 does not exist in Label Studio" in " ".join(result.output.split())
    assert one_json(run("agents", "list", "--project", project, "--json")) == {"agents": []}  # exists, no agents yet


def test_an_unknown_model_is_reported_as_unknown_before_any_context_window_question(run: Any, project: int) -> None:
    typo = run("agents", "create", "--project", project, "--name", "typo", "--model", "sim-smal", "--json")
    assert typo.exit_code == 1 and "'sim-smal' does not exist at this endpoint" in typo.output
    assert "context window" not in typo.output
    listed_elsewhere = run("agents", "create", "--project", project, "--name", "mine", "--model", "my-own-model",
                           "--base-url", "http://127.0.0.1:9/v1", "--json")
    assert listed_elsewhere.exit_code == 1  # unreachable endpoint: reported as such, before any window question
    assert "context window" not in listed_elsewhere.output
