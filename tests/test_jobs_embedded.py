"""Annotation jobs in the embedded mode (chunks in the service process), end to end: a real
Label Studio, the simulator over HTTP through the openai client, a SQLite store."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from ml_backend.engine import prompts, tokens
from ml_backend.engine.agents import Agent
from ml_backend.jobs.estimate import expected_output_tokens
from sync import filters
from sync.predictions import predictions_by_version
from sync.projects import model_version
from sync.views import upsert_view
from tests.jobs_support import assert_exactly_once, new_project, register, texts, wait_for


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A service with small chunks and a short lease, its job manager closed afterwards."""
    monkeypatch.setenv("LSAGENT_LEASE_S", "3")
    monkeypatch.setenv("LSAGENT_POLL_S", "0.2")
    monkeypatch.setenv("LSAGENT_PUSH_INTERVAL_S", "0.2")
    handle = make_service(simulator=sim, label_studio=label_studio, chunk_size=25)
    yield handle
    manager = handle.app.extensions.get("lsagent.jobs")
    if manager is not None:
        manager.close()


def test_faulty_model_every_task_one_outcome_one_prediction(service: Any, sim: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(200))
    agent = register(service, project, max_concurrency=16, timeout=0.5)
    sim.configure(latency_ms=5, fault_429=0.20, fault_500=0.05, fault_timeout=0.02, fault_malformed=0.05,
                  timeout_sleep_s=1.0)
    job = service.client().run_job(agent["id"], "all")
    assert job["status"] in ("queued", "running")
    job = wait_for(job["id"], service.client(), timeout=90)
    items = assert_exactly_once(job, service.runtime.store, label_studio, task_ids)
    stats = sim.stats()["by_status"]
    assert stats.get("429", 0) > 20 and stats.get("500", 0) > 3 and stats.get("timeout", 0) >= 1
    malformed = job["counts"]["format_error"] + job["counts"]["invalid_label"]  # post-processing decides which
    assert malformed >= 3, job["counts"]
    assert job["project_model_version_set"] is True
    summary = job["summary"]
    assert summary["counts"] == job["counts"]
    assert summary["predictions_written"] == job["counts"]["labeled"]
    assert sum(summary["labels"]["sentiment"].values()) == job["counts"]["labeled"]
    assert sum(item.tokens_in for item in items.values()) == job["tokens_in"] == summary["tokens_in"]
    assert model_version(label_studio.client, project) == agent["model_version"]


def test_rerun_makes_no_llm_call_and_writes_no_duplicate(service: Any, sim: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(60, seed=3))
    agent = register(service, project, max_concurrency=8)
    client = service.client()
    first = wait_for(client.run_job(agent["id"])["id"], service.client())
    assert_exactly_once(first, service.runtime.store, label_studio, task_ids)
    assert first["tokens_in"] > 0
    sim.reset()
    second = wait_for(client.run_job(agent["id"])["id"], service.client())
    assert sim.stats()["requests"] == 0
    items = assert_exactly_once(second, service.runtime.store, label_studio, task_ids)
    assert second["tokens_in"] == second["tokens_out"] == 0 and second["cost"] == 0
    assert all(item.meta["cached"] for item in items.values())
    found = predictions_by_version(label_studio.client, project, agent["model_version"])
    assert {task_id: item.prediction_id for task_id, item in items.items()} == {
        task_id: predictions[0]["id"] for task_id, predictions in found.items()}
    assert second["summary"]["predictions_written"] == len(task_ids)


DIRECTED = (
    4 * ["[[sim:label=Positive]] [[sim:confidence=0.95]] great stuff"]
    + 3 * ["[[sim:label=Negative]] [[sim:confidence=0.65]] meh stuff"]
    + 2 * ["[[sim:label=Neutral]] [[sim:confidence=0.35]] some stuff"]
    + 2 * ["[[sim:label=Mixed]] odd stuff"]
    + [""]
)


def test_estimate_then_summary_figures_match_hand_counts(service: Any, sim: Any, label_studio: Any,
                                                       tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"sim-small": {"input": 1000.0, "output": 2000.0}}))
    monkeypatch.setenv("LSAGENT_PRICES", str(prices))
    items = [f"{text} #{number}" if text else "" for number, text in enumerate(DIRECTED)]
    project, task_ids = new_project(label_studio, items)
    agent = register(service, project, max_concurrency=4)
    client = service.client()
    record = service.runtime.store.get_agent(agent["id"])
    runtime_agent = Agent.from_record(record)
    prompt_tokens = sum(tokens.count_messages(prompts.render_messages(runtime_agent.template, runtime_agent.spec,
                                                                      {"text": text}), "sim-small")
                        for text in items if text)
    output = 11 * expected_output_tokens(runtime_agent)

    guess = client.estimate(agent["id"], "all")
    assert guess["estimate"] is True and guess["tasks"] == 12 and guess["empty_input_tasks"] == 1
    assert guess["cached_tasks"] == 0 and guess["billable_tasks"] == 11
    assert guess["prompt_tokens"] == prompt_tokens and guess["expected_output_tokens"] == output
    assert guess["cost"] == pytest.approx((prompt_tokens * 1000 + output * 2000) / 1e6)
    assert str(prices) in guess["price_source"] and guess["currency"] == "USD"
    assert client.estimate(agent["id"], f"ids:{task_ids[0]},{task_ids[1]}")["tasks"] == 2

    sim.reset()
    job = wait_for(client.run_job(agent["id"])["id"], service.client())
    assert_exactly_once(job, service.runtime.store, label_studio, task_ids)
    summary = job["summary"]
    assert job["counts"] == {"done": 12, "labeled": 9, "format_error": 0, "invalid_label": 2, "api_error": 0,
                             "context_overflow": 0, "empty_input": 1, "span_not_found": 0, "skipped": 0}
    assert summary["labels"] == {"sentiment": {"Positive": 4, "Negative": 3, "Neutral": 2}}
    assert [entry["count"] for entry in summary["confidence_histogram"]] == [0, 0, 0, 2, 0, 0, 3, 0, 0, 4]
    assert summary["invalid_labels"] == [{"label": "Mixed", "count": 2}]
    assert summary["api_errors"] == {}
    stats = sim.stats()
    assert summary["tokens_in"] == stats["prompt_tokens"] and summary["tokens_out"] == stats["completion_tokens"]
    assert summary["cost"] == pytest.approx((stats["prompt_tokens"] * 1000 + stats["completion_tokens"] * 2000) / 1e6)
    assert summary["throughput_per_s"] == pytest.approx(12 / summary["wall_time_s"], rel=0.01)
    assert summary["predictions_written"] == 9 and job["project_model_version_set"]

    again = client.estimate(agent["id"], "all")
    assert again["cached_tasks"] == 11 and again["billable_tasks"] == 0 and again["cost"] == 0


def test_cancel_stops_the_job_and_keeps_what_is_finished(service: Any, sim: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(120, seed=11))
    agent = register(service, project, max_concurrency=2)
    sim.configure(latency_ms=150)
    client = service.client()
    job = client.run_job(agent["id"])
    wait_for(job["id"], service.client(), until=lambda found: found["counts"]["done"] >= 6)
    cancelled = client.cancel(job["id"])
    assert cancelled["status"] == "cancelled" and cancelled["error"] == "cancelled by the user"
    assert manager_of(service).wait(job["id"], timeout=30)
    final = client.job(job["id"])
    counts = final["counts"]
    assert 6 <= counts["done"] < len(task_ids)
    assert counts["labeled"] + counts["invalid_label"] + counts["format_error"] == counts["done"]
    store = service.runtime.store
    labeled = {item.task_id for item in store.items(job["id"]) if item.error_class is None}
    assert all(item.pushed for item in store.items(job["id"]) if item.error_class is None), (
        [(item.task_id, item.created_at) for item in store.items(job["id"]) if not item.pushed],
        store.chunks(job["id"]), final)
    found = predictions_by_version(label_studio.client, project, agent["model_version"])
    assert set(found) == labeled and all(len(predictions) == 1 for predictions in found.values())
    assert final["summary"]["counts"] == counts
    assert client.cancel(job["id"])["status"] == "cancelled"  # idempotent


def test_label_studio_down_mid_job_predictions_wait_then_land_once(service: Any, sim: Any,
                                                                  label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(150, seed=5))
    agent = register(service, project, max_concurrency=4)
    sim.configure(latency_ms=40)
    job = service.client().run_job(agent["id"])
    try:
        wait_for(job["id"], service.client(), until=lambda found: found["counts"]["done"] >= 20)
        label_studio.stop()
        time.sleep(4)
        waiting = service.runtime.store.unpushed_items(job["id"])
        assert waiting, "finished predictions should wait while Label Studio is down"
        assert service.client().job(job["id"])["status"] == "running"
    finally:
        label_studio.start()
    final = wait_for(job["id"], service.client(), timeout=120)
    assert_exactly_once(final, service.runtime.store, label_studio, task_ids)


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"agent": "feedfacefeedface"}, 404, "no agent 'feedfacefeedface'"),
    ({"agent": "{agent}", "subset": "some"}, 400, "unknown subset 'some'"),
    ({"agent": "{agent}", "subset": "view:999999"}, 400, "has no Data Manager view 999999"),
    ({"agent": "{agent}", "priority": 1}, 400, "unknown field 'priority'"),
    ({}, 400, "field 'agent' is required"),
])
def test_bad_job_requests_are_refused_clearly(service: Any, label_studio: Any, body: dict[str, Any], status: int,
                                              message: str) -> None:
    project, _ = new_project(label_studio, texts(2))
    agent = register(service, project)
    body = {key: value.format(agent=agent["id"]) if isinstance(value, str) else value for key, value in body.items()}
    response = requests.post(f"{service.url}/api/jobs", json=body, timeout=30)
    assert response.status_code == status
    assert message in response.json()["message"] and set(response.json()) == {"error", "message"}


def test_unknown_job_is_a_json_404(service: Any) -> None:
    response = requests.get(f"{service.url}/api/jobs/nope", timeout=10)
    assert response.status_code == 404 and "no job 'nope'" in response.json()["message"]


def manager_of(service: Any) -> Any:
    return service.app.extensions["lsagent.jobs"]


def test_a_chunk_that_cannot_start_fails_the_job_with_the_reason(service: Any, make_service: Any, sim: Any,
                                                                 label_studio: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # job knobs are read with the settings, when a service starts: this one allows 3 attempts
    service = make_service(simulator=sim, label_studio=label_studio, chunk_size=25, max_chunk_attempts=3)
    monkeypatch.setenv("TEST_JOB_API_KEY", os.environ["OPENAI_API_KEY"])
    project, _ = new_project(label_studio, texts(5, seed=23))
    agent = register(service, project, api_key_env="TEST_JOB_API_KEY")
    monkeypatch.delenv("TEST_JOB_API_KEY")
    final = wait_for(service.client().run_job(agent["id"])["id"], service.client(), timeout=30)
    assert final["status"] == "failed" and final["counts"]["done"] == 0
    assert "could not start 3 times" in final["error"] and "TEST_JOB_API_KEY is not set" in final["error"]


def test_view_and_ids_subsets_label_only_their_tasks(service: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(30, seed=29))
    agent = register(service, project, max_concurrency=4)
    chosen = task_ids[3:9]
    view = upsert_view(label_studio.client, project, "six tasks", filters.ids_any(chosen),
                       ["tasks:id"])
    client = service.client()
    by_view = wait_for(client.run_job(agent["id"], f"view:{view}")["id"], client)
    assert by_view["subset"] == f"view:{view}" and by_view["total"] == 6
    assert sorted(item.task_id for item in service.runtime.store.items(by_view["id"])) == chosen
    picked = f"ids:{task_ids[20]}, {task_ids[0]}"
    by_ids = wait_for(client.run_job(agent["id"], picked)["id"], client)
    assert by_ids["subset"] == f"ids:{task_ids[0]},{task_ids[20]}" and by_ids["counts"]["done"] == 2
    found = predictions_by_version(label_studio.client, project, agent["model_version"])
    assert sorted(found) == sorted([*chosen, task_ids[0], task_ids[20]])
    assert all(len(predictions) == 1 for predictions in found.values())


def test_two_jobs_of_one_agent_at_once_write_one_prediction_per_task(service: Any, sim: Any,
                                                                     label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(80, seed=37))
    agent = register(service, project, max_concurrency=8)
    sim.configure(latency_ms=20)
    client = service.client()
    first, second = client.run_job(agent["id"]), client.run_job(agent["id"])
    jobs = [wait_for(job["id"], client) for job in (first, second)]
    for job in jobs:
        assert_exactly_once(job, service.runtime.store, label_studio, task_ids)
    written = sum(job["summary"]["predictions_written"] for job in jobs)
    assert written == 2 * len(task_ids)  # each job's items are marked written, but only once in Label Studio


def test_a_saved_agent_labels_another_project_with_the_same_labels_only(service: Any, label_studio: Any) -> None:
    home, _ = new_project(label_studio, texts(5, seed=11))
    agent = register(service, home)
    other, other_ids = new_project(label_studio, texts(12, seed=12))
    job = wait_for(service.client().run_job(agent["id"], "all", project=other)["id"], service.client())
    assert (job["project"], job["counts"]["labeled"]) == (other, 12)
    assert_exactly_once(job, service.runtime.store, label_studio, other_ids)
    assert predictions_by_version(label_studio.client, home, agent["model_version"]) == {}

    topics = label_studio.new_project(
        '<View><Text name="text" value="$text"/><Choices name="topic" toName="text">'
        '<Choice value="Sports"/><Choice value="Politics"/></Choices></View>',
        [{"text": "A match report."}],
    )
    response = requests.post(f"{service.url}/api/jobs", json={"agent": agent["id"], "project": topics},
                             auth=service.auth, timeout=30)
    assert response.status_code == 422
    assert "other controls or labels" in response.json()["message"]


def test_nul_characters_from_the_model_or_label_studio_are_stored_on_each_database(
        make_service: Any, sim: Any, label_studio: Any, database_url: str) -> None:
    """PostgreSQL refuses NUL in text and JSONB: once, that failed the cache write, then the chunk
    (five times, each paying again), then the job. Now the text is stored with U+FFFD instead."""
    service = make_service(simulator=sim, label_studio=label_studio, database_url=database_url)
    texts_ = ["Great kettle, boils fast.", "A NUL\u0000 inside the task text.", "Odd answer [[sim:nul]]",
              "Broke after a week."]
    project, task_ids = new_project(label_studio, texts_)
    agent = register(service, project)
    sim.reset()
    job = wait_for(service.client().run_job(agent["id"], "all")["id"], service.client(), timeout=60)
    assert job["status"] == "done", job
    items = assert_exactly_once(job, service.runtime.store, label_studio, task_ids)
    nul = items[task_ids[2]]
    assert nul.error_class == "format_error" and "\u0000" not in nul.raw_response and "\ufffd" in nul.raw_response
    assert all(items[task_id].error_class is None for task_id in (task_ids[0], task_ids[1], task_ids[3]))
    assert sim.stats()["requests"] == len(task_ids)  # no task was paid for twice
