"""``lsagent jobs ...`` through click's CliRunner against the served app (real Label Studio,
simulator): with ``--json`` every command prints exactly one JSON document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from ml_backend.cli import main
from tests.jobs_support import new_project, register, texts


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("LSAGENT_POLL_S", "0.2")
    monkeypatch.setenv("LSAGENT_PUSH_INTERVAL_S", "0.2")
    handle = make_service(simulator=sim, label_studio=label_studio, chunk_size=10)
    monkeypatch.setenv("LSAGENT_URL", handle.url)
    yield handle
    manager = handle.app.extensions.get("lsagent.jobs")
    if manager is not None:
        manager.close()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def text(result: Result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def one_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # the whole standard output is one document


def test_jobs_commands_print_one_json_document(service: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(24, seed=13))
    agent = register(service, project, max_concurrency=4)

    guess = one_json(run("jobs", "estimate", "--agent", agent["id"], "--subset", f"ids:{task_ids[0]},{task_ids[1]}",
                         "--json"))
    assert guess["estimate"] is True and guess["tasks"] == 2 and guess["prompt_tokens"] > 0

    job = one_json(run("jobs", "run", "--agent", agent["model_version"], "--wait", "--json"))
    assert job["status"] == "done" and job["counts"]["done"] == 24
    assert job["project_model_version_set"] is True and job["summary"]["counts"] == job["counts"]

    shown = one_json(run("jobs", "show", job["id"], "--json"))
    assert shown["id"] == job["id"] and shown["summary"] == job["summary"]
    listed = one_json(run("jobs", "list", "--project", str(project), "--json"))
    assert [entry["id"] for entry in listed["jobs"]] == [job["id"]]

    started = one_json(run("jobs", "run", "--agent", agent["id"], "--subset", "unlabeled", "--json"))
    assert started["status"] in ("queued", "running", "done") and started["subset"] == "unlabeled"


def test_run_prints_the_id_and_wait_shows_progress_then_summary(service: Any, label_studio: Any) -> None:
    project, _ = new_project(label_studio, texts(12, seed=17))
    agent = register(service, project, max_concurrency=4)
    started = run("jobs", "run", "--agent", agent["id"])
    assert started.exit_code == 0
    job_id = started.stdout.strip()
    assert len(job_id) == 32 and job_id in service.client().job(job_id)["id"]

    followed = run("jobs", "run", "--agent", agent["id"], "--wait")
    assert followed.exit_code == 0, followed.output
    shown = text(followed)
    assert f"model_version set to {agent['model_version']}" in shown
    assert "outcomes: done 12" in shown and "labels (sentiment):" in shown and "12/12" in shown
    # not a terminal: whole progress lines, no bar redrawn with control characters or cut to 80 columns
    lines = [line for line in followed.output.splitlines() if line.startswith("job ") and " done · " in line]
    assert lines and "12/12 done · done · errors 0 · tokens" in lines[-1] and lines[-1].endswith("$0.0000")
    assert "\x1b" not in followed.output and "━" not in followed.output
    whole = re.compile(r"job [0-9a-f]{8}: \d+/(\d+|\?) done · \w+ · errors \d+ · tokens [\d,]+/[\d,]+ · \$\d+\.\d{4}")
    assert all(whole.fullmatch(line) for line in lines), lines  # none cut to the width of a bar


def test_errors_exit_non_zero_with_the_reason(service: Any, label_studio: Any) -> None:
    project, _ = new_project(label_studio, texts(3, seed=19))
    agent = register(service, project)
    bad_subset = run("jobs", "run", "--agent", agent["id"], "--subset", "bogus")
    assert bad_subset.exit_code == 1 and "unknown subset 'bogus'" in text(bad_subset)
    job = one_json(run("jobs", "run", "--agent", agent["id"], "--wait", "--json"))
    cancel = run("jobs", "cancel", job["id"])
    assert cancel.exit_code == 1 and "only a queued or running job can be cancelled" in text(cancel)
    missing = run("jobs", "show", "nope")
    assert missing.exit_code == 1 and "no job 'nope'" in text(missing)


def log_tracebacks(label_studio: Any) -> int:
    return label_studio.log_path.read_text(errors="replace").count("Traceback")


def test_listing_the_jobs_of_a_project_that_does_not_exist_says_so(service: Any, label_studio: Any) -> None:
    before = log_tracebacks(label_studio)
    result = run("jobs", "list", "--project", "999999")
    assert result.exit_code == 1
    assert "project 999999 does not exist in Label Studio" in text(result)
    project, _ = new_project(label_studio, texts(1))
    assert one_json(run("jobs", "list", "--project", str(project), "--json")) == {"jobs": []}  # exists, no jobs
    assert log_tracebacks(label_studio) == before  # asked without a 404 in Label Studio's log


def test_a_subset_naming_tasks_the_project_lacks_is_refused_naming_them(service: Any, label_studio: Any) -> None:
    project, task_ids = new_project(label_studio, texts(2))
    agent = register(service, project)
    result = run("jobs", "run", "--agent", agent["id"], "--subset", f"ids:{task_ids[0]},99999998,99999999")
    assert result.exit_code == 1
    assert f"project {project} has no tasks 99999998, 99999999" in text(result)
    assert service.runtime.store.list_jobs(project) == []  # nothing was started
