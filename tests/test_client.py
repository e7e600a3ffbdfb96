"""The Python client against the real service, Label Studio and the LLM simulator.

Every method makes its real HTTP call; results are checked against what Label Studio and the
service's store hold, and the Jupyter faces (``_repr_html_``) against the numbers they show.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from ml_backend.client import Client, ServiceError
from ml_backend.report.display import Job, JobSummary, Records, VerificationFigures
from sync.annotations import create_annotation
from sync.predictions import predictions_by_version
from tests.fixtures.label_studio import SENTIMENT_CONFIG, sentiment

# (text, label the simulated model gives, its confidence): directives fix the model's answer.
TASKS = [
    ("The blender is great, crushes ice in seconds.", "Positive", 0.97),
    ("Arrived broken and support never answered.", "Negative", 0.93),
    ("The box contains a cable and a manual.", "Neutral", 0.88),
    ("Best purchase of the year.", "Positive", 0.91),
    ("Oh great, another update that deletes my notes.", "Positive", 0.58),
    ("Food was fine, service was slow.", "Negative", 0.62),
]


def task_text(text: str, label: str, confidence: float) -> str:
    return f"{text} [[sim:label={label}]] [[sim:confidence={confidence}]]"


@pytest.fixture
def setup(make_service: Any, sim: Any, label_studio: Any) -> dict[str, Any]:
    """A project of TASKS in Label Studio and a service that reaches it and the simulator."""
    project = label_studio.new_project(SENTIMENT_CONFIG, [{"text": task_text(*task)} for task in TASKS])
    service = make_service(simulator=sim, label_studio=label_studio)
    return {"project": project, "tasks": label_studio.task_ids(project), "service": service,
            "client": service.client()}


def test_agents_register_list_show_preview_activate(setup: dict[str, Any]) -> None:
    client, project = setup["client"], setup["project"]
    agent = client.create_agent(project, "notebook", "sim-small", instructions="Sentiment of the review.")
    again = client.create_agent(project, "notebook", "sim-small", instructions="Sentiment of the review.")
    assert again["id"] == agent["id"] and agent["model_version"] == f"notebook@{agent['id'][:8]}"

    listed = client.agents(project)
    assert isinstance(listed, Records) and [a["id"] for a in listed] == [agent["id"]]
    assert "<table" in listed._repr_html_() and agent["model_version"] in listed._repr_html_()
    assert client.agent(agent["model_version"])["id"] == agent["id"]

    preview = client.preview(agent["id"], limit=2)
    assert [entry["task_id"] for entry in preview["previews"]] == setup["tasks"][:2]
    assert preview["previews"][0]["messages"][-1]["content"].startswith(TASKS[0][0])
    assert preview["previews"][0]["prompt_tokens"] > 0

    assert client.active_agent(project)["agent"] is None
    client.activate(project, agent["id"])
    assert client.active_agent(project)["agent"]["id"] == agent["id"]
    # the endpoint is fixed at registration: the registering service's OPENAI_BASE_URL
    assert agent["config"]["base_url"] == setup["service"].settings.openai_base_url


def test_job_runs_and_its_summary_renders_as_tables(setup: dict[str, Any], label_studio: Any) -> None:
    client, project = setup["client"], setup["project"]
    agent = client.create_agent(project, "notebook", "sim-small")
    estimate = client.estimate(agent["id"])
    assert estimate["estimate"] is True and estimate["tasks"] == len(TASKS) and estimate["prompt_tokens"] > 0

    seen: list[str] = []
    job = client.run_job(agent["id"], wait=True, timeout=90, on_progress=lambda j: seen.append(j["status"]))
    assert isinstance(job, Job) and job["status"] == "done" and seen[-1] == "done"
    assert job["counts"]["done"] == job["counts"]["labeled"] == len(TASKS)

    summary = job.summary
    assert isinstance(summary, JobSummary)
    expected = {"Positive": 3, "Negative": 2, "Neutral": 1}
    assert summary["labels"] == {"sentiment": expected}
    assert sum(entry["count"] for entry in summary["confidence_histogram"]) == len(TASKS)
    held = predictions_by_version(label_studio.client, project, agent["model_version"])
    assert sorted(held) == setup["tasks"] and all(len(found) == 1 for found in held.values())

    page = job._repr_html_()
    assert "<table" in page and "<svg" in page and job["id"] in page
    assert ">Positive</th>" in page and ">3 (50.0%)</td>" in page
    assert [j["id"] for j in client.jobs(project)] == [job["id"]]
    assert client.summary(job["id"]) == summary
    with pytest.raises(ServiceError) as refused:
        client.cancel(job["id"])
    assert refused.value.status == 409


def test_verification_and_export_after_humans_review(setup: dict[str, Any], label_studio: Any) -> None:
    client, project, tasks = setup["client"], setup["project"], setup["tasks"]
    agent = client.create_agent(project, "notebook", "sim-small")
    job = client.run_job(agent["id"], wait=True, timeout=90)
    view = client.create_review(job["id"], "threshold", threshold=0.7, title="check these")
    assert view["task_ids"] == [tasks[4], tasks[5]] and view["url"].endswith(f"tab={view['view_id']}")

    held = predictions_by_version(label_studio.client, project, agent["model_version"])
    human = {tasks[0]: "Positive", tasks[1]: "Negative", tasks[4]: "Negative", tasks[5]: "Neutral"}
    for task_id, label in human.items():
        create_annotation(label_studio.client, task_id, sentiment(label), parent_prediction=held[task_id][0]["id"])

    synced = client.sync_verification(job["id"])
    assert (synced["synced"], synced["confirmed"], synced["corrected"]) == (4, 2, 2)
    figures = client.verification(job["id"])
    assert isinstance(figures, VerificationFigures)
    assert (figures["verified"], figures["confirmed"], figures["corrected"]) == (4, 2, 2)
    assert figures["accuracy"]["accuracy"] == pytest.approx(0.5)
    page = figures._repr_html_()
    assert "50.0%" in page and "<svg" in page and "Accuracy by confidence" in page

    rows = {row["task_id"]: row for row in client.export_rows(job["id"], threshold=0.7)}
    assert sorted(rows) == tasks
    assert {task_id: rows[task_id]["source"] for task_id in tasks} == {
        tasks[0]: "human", tasks[1]: "human", tasks[2]: "llm", tasks[3]: "llm", tasks[4]: "human", tasks[5]: "human"}
    assert rows[tasks[5]]["labels"] == {"sentiment": ["Neutral"]} and rows[tasks[5]]["verdict"] == "corrected"
    csv_text = client.export(job["id"], "csv")
    assert csv_text.splitlines()[0].startswith("task_id,sentiment,") and len(csv_text.splitlines()) == len(TASKS) + 1


def test_report_is_the_job_page(setup: dict[str, Any], tmp_path: Any) -> None:
    client = setup["client"]
    agent = client.create_agent(setup["project"], "notebook", "sim-small")
    job = client.run_job(agent["id"], wait=True, timeout=90)
    path = client.save_report(job["id"], tmp_path / "job.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and job["id"] in page and "class='chart histogram'" in page


def test_errors_are_service_errors_with_the_service_message(setup: dict[str, Any]) -> None:
    client = setup["client"]
    with pytest.raises(ServiceError) as missing:
        client.job("no-such-job")
    assert missing.value.status == 404 and missing.value.payload["error"] == "not_found"
    assert "no-such-job" in str(missing.value)
    with pytest.raises(ServiceError) as invalid:
        client.create_agent(setup["project"], "bad", "sim-small", temperature=7.0)
    assert invalid.value.status == 422 and invalid.value.payload["check"] == "config"
    with pytest.raises(ServiceError) as unknown:
        client.run_job("0" * 12)
    assert unknown.value.status == 404


def test_unreachable_service_and_wrong_credentials(make_service: Any, sim: Any, label_studio: Any) -> None:
    service = make_service(simulator=sim, label_studio=label_studio, auth=("admin", "secret-pass"))
    assert service.client().health()["status"] == "UP"
    with pytest.raises(ServiceError) as refused:
        Client(service.url, auth=("admin", "wrong")).agents()
    assert refused.value.status == 401
    with pytest.raises(ServiceError) as down:
        Client("http://127.0.0.1:9", timeout=2).agents()
    assert down.value.status is None and "cannot reach the lsagent service at http://127.0.0.1:9" in str(down.value)


def test_waiting_for_an_unreachable_service_is_bounded_and_said() -> None:
    """``wait`` rides out a service that does not answer, saying so, but only for a bounded time
    (its recovery is shown by tests/test_jobs_resume.py, where the service really restarts)."""
    told: list[str] = []
    started = time.monotonic()
    with pytest.raises(ServiceError, match="gave up waiting for the lsagent service after 0.3 s") as down:
        Client("http://127.0.0.1:9", timeout=2).wait("some-job", reconnect_s=0.3, on_waiting=told.append)
    assert 0.3 <= time.monotonic() - started < 2.8
    assert down.value.status is None
    assert len(told) == 1 and "Waiting for the service, up to 0.3 s" in told[0]


def test_client_reads_url_and_credentials_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSAGENT_URL", "http://example.invalid:1234/")
    monkeypatch.setenv("BASIC_AUTH_USER", "u")
    monkeypatch.setenv("BASIC_AUTH_PASS", "p")
    client = Client()
    assert client.url == "http://example.invalid:1234" and client._session.auth == ("u", "p")
    assert json.loads(json.dumps(Records([{"a": 1}]))) == [{"a": 1}]
