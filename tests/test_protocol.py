"""The Label Studio ML backend protocol, end to end against a real Label Studio 1.23.2.

Label Studio itself calls the served app: `ml.create` makes it call /health and /setup, the Data
Manager action `retrieve_tasks_predictions` makes it call /predict, and what it saved is read back
from Label Studio. The LLM behind the agent is the simulator, over HTTP.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from sync import projects
from sync.annotations import create_annotation
from sync.client import LabelStudioError
from sync.tasks import iter_task_pages
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment

LABELS = {"Positive", "Negative", "Neutral"}
TEXTS = ["I love this phone, best purchase ever.", "Terrible service, I want my money back.",
         "The package arrived on Tuesday.", "Absolutely wonderful staff and a great view!",
         "The screen cracked after one day, awful.", "It is a phone with a screen and a battery."]
AUTH = ("ls-backend", "backend-pass-123")


def new_project(label_studio: Any, texts: list[str] = TEXTS) -> tuple[int, list[int]]:
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": text} for text in texts])
    return project, label_studio.task_ids(project)


def predictions_of(label_studio: Any, project: int, task_id: int) -> list[dict[str, Any]]:
    """Read through the task list: ``GET /api/tasks/<id>`` of a task without predictions would make
    Label Studio call /predict for it (show_collab_predictions), and so change what is measured."""
    pages = iter_task_pages(label_studio.client, project, ids=[task_id], fields=("id", "predictions"))
    [task] = [task for page in pages for task in page]
    return task.get("predictions") or []


def assert_valid_prediction(prediction: dict[str, Any], model_version: str) -> None:
    assert prediction["model_version"] == model_version
    assert 0.0 <= prediction["score"] <= 1.0
    [item] = prediction["result"]
    assert item["from_name"] == "sentiment" and item["to_name"] == "text" and item["type"] == "choices"
    [choice] = item["value"]["choices"]
    assert choice in LABELS
    assert 0.0 <= item["score"] <= 1.0


def register(service: Any, project: int, **options: Any) -> dict[str, Any]:
    options.setdefault("activate", True)
    return service.client().create_agent(project, "sentiment", "sim-small", **options)


def test_retrieve_predictions_through_label_studio(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio)
    texts = TEXTS + ["This one breaks the model [[sim:500]]"]
    project, task_ids = new_project(label_studio, texts)
    agent = register(service, project)
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent")
    [backend] = projects.ml_backends(label_studio.client, project)
    assert backend["model_version"] == agent["model_version"]

    processed = projects.retrieve_predictions(label_studio.client, project, task_ids)

    assert processed == len(task_ids)
    failing = task_ids[-1]
    for task_id in task_ids:
        predictions = predictions_of(label_studio, project, task_id)
        if task_id == failing:
            assert predictions == []
            continue
        assert len(predictions) == 1, task_id
        assert_valid_prediction(predictions[0], agent["model_version"])
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert 'lsagent_task_errors_total{error_class="api_error"} 1.0' in metrics
    assert f'lsagent_llm_calls_total{{model_version="{agent["model_version"]}"}}' in metrics


def test_label_studio_calls_a_backend_with_basic_auth(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, auth=AUTH)
    project, task_ids = new_project(label_studio, TEXTS[:2])
    agent = register(service, project)
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent", *AUTH)
    projects.retrieve_predictions(label_studio.client, project, task_ids)
    for task_id in task_ids:
        [prediction] = predictions_of(label_studio, project, task_id)
        assert_valid_prediction(prediction, agent["model_version"])


def test_wrong_credentials_get_401(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, auth=AUTH)
    project, _ = new_project(label_studio, TEXTS[:1])
    with pytest.raises(LabelStudioError) as refused:
        projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent", AUTH[0], "wrong")
    assert "authentication" in str(refused.value).lower()
    wrong = requests.post(f"{service.url}/predict", json={"tasks": []}, auth=(AUTH[0], "wrong"), timeout=5)
    assert wrong.status_code == 401
    assert requests.post(f"{service.url}/setup", json={"project": project}, timeout=5).status_code == 401
    metrics = requests.get(f"{service.url}/metrics", auth=AUTH, timeout=5).text
    assert 'endpoint="/health",method="GET",status="401"' in metrics


def test_no_active_agent(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio)
    project, task_ids = new_project(label_studio, TEXTS[:3])
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent")

    processed = projects.retrieve_predictions(label_studio.client, project, task_ids)

    assert processed == len(task_ids)
    assert all(predictions_of(label_studio, project, task_id) == [] for task_id in task_ids)
    tasks = [{"id": task_id, "data": {"text": "x"}, "project": project} for task_id in task_ids]
    answer = requests.post(f"{service.url}/predict", json={"tasks": tasks, "project": f"{project}.1700000000"},
                           timeout=5).json()
    assert answer["results"] == [{"error": "no_active_agent"}] * len(task_ids)
    health = requests.get(f"{service.url}/health", params={"project": project}, timeout=5).json()
    assert health["status"] == "UP" and health["model_version"] is None
    assert f"no agent is active on project {project}" in health["reason"]
    assert sim.stats()["requests"] == 0


def test_setup_answers_the_active_agent_and_extra_params_can_name_one(label_studio: Any, sim: Any,
                                                                      make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio)
    project, _ = new_project(label_studio, TEXTS[:2])
    agent = register(service, project, activate=False)
    body = {"project": f"{project}.1700000000", "schema": SENTIMENT_CONFIG}
    unset = requests.post(f"{service.url}/setup", json=body, timeout=5).json()
    assert unset["model_version"] == "lsagent-no-active-agent" and str(project) in unset["reason"]
    named = requests.post(f"{service.url}/setup", json={**body, "extra_params": {"agent": agent["id"][:10]}}, timeout=5)
    assert named.json() == {"model_version": agent["model_version"]}
    assert service.client().active_agent(project)["agent"]["id"] == agent["id"]
    other = SENTIMENT_CONFIG.replace('<Choice value="Neutral"/>', "")
    mismatch = requests.post(f"{service.url}/setup", json={**body, "schema": other}, timeout=5)
    assert mismatch.status_code == 422 and mismatch.json()["check"] == "label_config"


def test_a_labelled_task_is_answered_from_the_cache(label_studio: Any, sim: Any, make_service: Any) -> None:
    """A second project with the same texts: the agent already paid for them, so no LLM call."""
    service = make_service(simulator=sim, label_studio=label_studio)
    first, first_ids = new_project(label_studio, TEXTS[:3])
    agent = register(service, first)
    registration = sim.stats()["requests"]
    projects.connect_ml_backend(label_studio.client, first, service.url, "lsagent")
    projects.retrieve_predictions(label_studio.client, first, first_ids)
    calls = sim.stats()["requests"]
    assert calls == registration + 3

    second, second_ids = new_project(label_studio, TEXTS[:3])
    service.client().activate(second, agent["id"])
    projects.connect_ml_backend(label_studio.client, second, service.url, "lsagent")
    projects.retrieve_predictions(label_studio.client, second, second_ids)

    assert sim.stats()["requests"] == calls
    for task_id in second_ids:
        [prediction] = predictions_of(label_studio, second, task_id)
        assert_valid_prediction(prediction, agent["model_version"])
    metrics = requests.get(f"{service.url}/metrics", timeout=5).text
    assert f'lsagent_cache_hits_total{{model_version="{agent["model_version"]}"}} 3.0' in metrics


def test_late_tasks_come_back_without_result_and_land_in_the_cache(label_studio: Any, sim: Any,
                                                                     make_service: Any) -> None:
    """Budget 3 s, 2 calls at a time of 2 s each: two of four tasks are late (done at 4 s), then
    cached. A second either side of the budget, so a busy machine's overhead cannot flip them."""
    service = make_service(simulator=sim, label_studio=label_studio, predict_budget_s=3.0)
    project, task_ids = new_project(label_studio, TEXTS[:4])
    agent = register(service, project, max_concurrency=2)
    sim.configure(latency_ms=2000)
    sim.reset()
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent")

    started = time.monotonic()
    projects.retrieve_predictions(label_studio.client, project, task_ids)
    took = time.monotonic() - started

    assert took < 6
    answered = [task_id for task_id in task_ids if predictions_of(label_studio, project, task_id)]
    assert len(answered) == 2
    _wait_for(lambda: sim.stats()["completions"] == 4, timeout=10)
    requests_before = sim.stats()["requests"]
    projects.retrieve_predictions(label_studio.client, project, task_ids)
    assert sim.stats()["requests"] == requests_before
    for task_id in task_ids:
        [prediction] = predictions_of(label_studio, project, task_id)
        assert_valid_prediction(prediction, agent["model_version"])


def test_a_repeated_request_waits_for_the_call_in_flight(sim: Any, make_service: Any,
                                                         label_studio: Any) -> None:
    """Label Studio retried while the first call still runs: one LLM call, not two."""
    service = make_service(simulator=sim, label_studio=label_studio, predict_budget_s=0.3)
    project, task_ids = new_project(label_studio, TEXTS[:1])
    register(service, project)
    sim.configure(latency_ms=1200)
    sim.reset()
    [[task]] = iter_task_pages(label_studio.client, project, fields=("id", "data", "project"))
    body = {"tasks": [task], "project": str(project)}
    first = requests.post(f"{service.url}/predict", json=body, timeout=5).json()
    assert first["results"][0]["error"] == "over_budget"
    service.app.extensions["lsagent"].predictor.budget_s = 5.0
    second = requests.post(f"{service.url}/predict", json=body, timeout=10).json()
    assert second["results"][0]["result"]
    assert sim.stats()["requests"] == 1


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


# --- /webhook: a hint, re-read from Label Studio ---------------------------------------------

def test_label_studio_webhooks_are_followed(label_studio: Any, sim: Any, make_service: Any) -> None:
    """Label Studio created the webhook when the backend was added, and posts it without auth."""
    service = make_service(simulator=sim, label_studio=label_studio, auth=AUTH)
    project, task_ids = new_project(label_studio, TEXTS[:2])
    register(service, project)
    projects.connect_ml_backend(label_studio.client, project, service.url, "lsagent", *AUTH)
    projects.retrieve_predictions(label_studio.client, project, task_ids)
    [prediction] = predictions_of(label_studio, project, task_ids[0])

    create_annotation(label_studio.client, task_ids[0], sentiment("Negative"), parent_prediction=prediction["id"])

    _wait_for(lambda: 'endpoint="/webhook",method="POST",status="200"' in
              requests.get(f"{service.url}/metrics", auth=AUTH, timeout=5).text, timeout=10)


def test_a_task_with_a_lone_surrogate_fails_alone(label_studio: Any, sim: Any, make_service: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio)
    project, task_ids = new_project(label_studio, TEXTS[:3])
    agent = register(service, project)
    tasks = [{"id": task_id, "data": {"text": text}} for task_id, text in zip(task_ids, TEXTS, strict=False)]
    tasks[1]["data"]["text"] = "Broken \ud800 text"  # json.dumps writes it as the escape "\ud800"
    response = requests.post(f"{service.url}/predict", json={"tasks": tasks, "project": str(project)}, timeout=30)
    assert response.status_code == 200, response.text
    first, broken, third = response.json()["results"]
    assert first["model_version"] == third["model_version"] == broken["model_version"] == agent["model_version"]
    assert first["result"] and third["result"] and "result" not in broken
    assert broken["error"] == "empty_input"


def test_the_budget_covers_a_batch_of_200000_cached_tasks(label_studio: Any, sim: Any, make_service: Any) -> None:
    """One text, so one paid answer serves every task; the answer must still start within the
    budget (Label Studio's timeout is a read timeout: it waits for the first byte)."""
    budget = 10.0
    service = make_service(simulator=sim, label_studio=label_studio, predict_budget_s=budget)
    project, [task_id] = new_project(label_studio, TEXTS[:1])
    register(service, project)
    task = {"id": task_id, "data": {"text": TEXTS[0]}}
    warm = requests.post(f"{service.url}/predict", json={"tasks": [task], "project": str(project)}, timeout=30)
    assert warm.json()["results"][0]["result"]
    tasks = [{"id": task_id + i, "data": task["data"]} for i in range(200_000)]
    body = json.dumps({"tasks": tasks, "project": str(project)}).encode()
    started = time.monotonic()
    response = requests.post(f"{service.url}/predict", data=body, headers={"Content-Type": "application/json"},
                             timeout=120, stream=True)
    took = time.monotonic() - started
    results = response.json()["results"]
    assert len(results) == len(tasks)
    assert all("result" in entry or entry["error"] == "over_budget" for entry in results)
    assert results[0]["result"] and results[0]["score"] is not None
    assert took < budget + 1.5, f"{took:.1f} s for a budget of {budget} s"
