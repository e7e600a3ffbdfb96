"""``lsagent review|verification|export`` against the real service, Label Studio and simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml_backend.cli import main
from sync.views import view_task_ids
from tests.review_support import Job, annotate, new_project, run_job, task_text


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def job(service: Any, label_studio: Any) -> Job:
    texts = [task_text("fine", "Positive", 0.9), task_text("poor", "Negative", 0.3),
             task_text("odd", "Neutral", 0.5), task_text("garbled", fault="malformed")]
    project, tasks = new_project(label_studio, texts)
    return run_job(service, project, tasks)


def lsagent(service: Any, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"LSAGENT_URL": service.url}, catch_exceptions=False)


def test_review_create_prints_the_view_and_its_url(service: Any, label_studio: Any, job: Job) -> None:
    t = job.tasks
    shown = lsagent(service, "review", "create", "--job", job.id, "--threshold", "0.6")
    assert shown.exit_code == 0, shown.output
    data = json.loads(lsagent(service, "review", "create", "--job", job.id, "--threshold", "0.6", "--json").output)
    url = f"{label_studio.url}/projects/{job.project}/data?tab={data['view_id']}"
    assert data["url"] == url and data["created"] is False
    assert f"view {data['view_id']} created" in shown.output and url in shown.output
    assert "2 task(s) to review, ordered by ascending confidence" in shown.output
    assert view_task_ids(label_studio.client, job.project, data["view_id"]) == [t[1], t[2]]

    errors = json.loads(lsagent(service, "review", "create", "--job", job.id, "--errors", "--json").output)
    assert errors["task_ids"] == [t[3]] and errors["ordering"] == "id"
    audit = lsagent(service, "review", "create", "--job", job.id, "--audit", "1", "--threshold", "0.4",
                    "--seed", "5")
    assert audit.exit_code == 0, audit.output
    assert "audit sample of 1 among 2 task(s) accepted at >= 0.4 (seed 5)" in audit.output


@pytest.mark.parametrize("args, message", [
    ((), "choose a review"),
    (("--lowest", "2", "--errors"), "not --lowest and --errors"),
    (("--label", "Positive", "--threshold", "0.5"), "--threshold goes alone, or with --audit"),
    (("--errors", "--seed", "3"), "--seed only goes with --audit"),
    (("--threshold", "1.5"), "1.5 is not in the range"),
])
def test_review_create_usage_errors(service: Any, args: tuple[str, ...], message: str) -> None:
    result = lsagent(service, "review", "create", "--job", "j", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_service_refusals_are_one_line(service: Any, job: Job) -> None:
    result = lsagent(service, "review", "create", "--job", job.id, "--label", "Happy")
    assert result.exit_code == 1
    assert "error: 400: the agent has no label 'Happy'" in result.output
    missing = lsagent(service, "verification", "show", "--job", "nope")
    assert missing.exit_code == 1
    assert "error: 404: no job 'nope'" in missing.output


def test_verification_sync_and_show(service: Any, label_studio: Any, job: Job) -> None:
    t = job.tasks
    annotate(label_studio, job, t[0], "Positive")
    annotate(label_studio, job, t[1], "Positive")
    annotate(label_studio, job, t[3], "Neutral", from_prediction=False)
    synced = lsagent(service, "verification", "sync", "--job", job.id)
    assert synced.exit_code == 0, synced.output
    assert "3 verified task(s): 1 confirmed, 1 corrected, 1 the agent had failed on" in synced.output

    shown = lsagent(service, "verification", "show", "--job", job.id, "--target", "0.9")
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    for expected in ("verified tasks 2", "confirmed 1", "corrected 1", "accuracy (95% interval) 0.5000",
                     "AUROC 1.0000", "annotated tasks the agent failed on 1", "accuracy by confidence band",
                     "threshold for a target accuracy of 0.9", "a threshold needs at least 30",
                     "final dataset accuracy (audit): not available: no acceptance threshold is set"):
        assert expected in text, (expected, shown.output)
    data = json.loads(lsagent(service, "verification", "show", "--job", job.id, "--json").output)
    assert (data["verified"], data["confirmed"], data["corrected"], data["target"]) == (2, 1, 1, 0.95)


def test_export_to_a_file_and_to_stdout(service: Any, label_studio: Any, job: Job, tmp_path: Path) -> None:
    annotate(label_studio, job, job.tasks[1], "Positive")
    lsagent(service, "verification", "sync", "--job", job.id)
    target = tmp_path / "labels.csv"
    written = lsagent(service, "export", "--job", job.id, "--format", "csv", "--threshold", "0.45", "-o", str(target))
    assert written.exit_code == 0, written.output
    lines = target.read_text().splitlines()
    assert lines[0] == "task_id,sentiment,source,confidence,agent_id,model_version,verdict"
    assert [line.split(",")[2] for line in lines[1:]] == ["llm", "human", "llm", "none"]
    printed = lsagent(service, "export", "--job", job.id)
    rows = [json.loads(line) for line in printed.output.splitlines()]
    assert [(row["task_id"], row["source"], row["labels"]) for row in rows] == [
        (job.tasks[0], "llm", {"sentiment": ["Positive"]}), (job.tasks[1], "human", {"sentiment": ["Positive"]}),
        (job.tasks[2], "llm", {"sentiment": ["Neutral"]}), (job.tasks[3], "none", {})]


def test_export_of_an_unknown_job_is_one_clear_error_and_writes_no_file(service: Any, tmp_path: Path) -> None:
    target = tmp_path / "labels.jsonl"
    failed = lsagent(service, "export", "--job", "no-such-job", "-o", str(target))
    assert failed.exit_code == 1 and "404" in failed.output and "Traceback" not in failed.output
    assert not target.exists()
    shown = lsagent(service, "verification", "show", "--job", "no-such-job", "--json")
    assert shown.exit_code == 1
    error = json.loads(shown.output)  # --json errors are one JSON document too (read from click's context)
    assert set(error) == {"error", "message"} and error["error"] == "not_found" and error["message"].startswith("404")


def test_export_with_json_prints_one_document(service: Any, job: Job, tmp_path: Path) -> None:
    rows = json.loads(lsagent(service, "export", "--job", job.id, "--json").output)
    assert [row["task_id"] for row in rows] == job.tasks
    target = tmp_path / "labels.csv"
    written = json.loads(
        lsagent(service, "export", "--job", job.id, "--format", "csv", "-o", str(target), "--json").output)
    assert written == {"job": job.id, "format": "csv", "output": str(target), "rows": len(job.tasks)}
    assert len(target.read_text().splitlines()) == len(job.tasks) + 1
