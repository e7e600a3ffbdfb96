"""The export of a job's final labels: each row's source (human, llm, none), in JSON lines and CSV,
streamed by the service, with the human's latest word winning over the agent."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from ml_backend.client import ServiceError
from tests.review_support import Job, annotate, new_project, run_job, task_text


@pytest.fixture
def service(make_service: Any, sim: Any, label_studio: Any) -> Any:
    return make_service(simulator=sim, label_studio=label_studio)


@pytest.fixture
def job(service: Any, label_studio: Any) -> Job:
    """Six tasks: 0 confirmed by a human, 1 corrected, 2 confident, 3 unsure, 4 failed, 5 failed
    then labelled by a human."""
    texts = [task_text("kept", "Positive", 0.95), task_text("fixed", "Negative", 0.9),
             task_text("confident", "Neutral", 0.8), task_text("unsure", "Positive", 0.4),
             task_text("garbled", fault="malformed"), task_text("rescued", fault="offlabel")]
    project, tasks = new_project(label_studio, texts)
    job = run_job(service, project, tasks)
    annotate(label_studio, job, tasks[0], "Positive")
    annotate(label_studio, job, tasks[1], "Neutral")
    annotate(label_studio, job, tasks[5], "Negative", from_prediction=False)
    service.client().sync_verification(job.id)
    return job


def expected_rows(job: Job, service: Any, threshold: float | None) -> list[dict[str, Any]]:
    t, items = job.tasks, job.items(service)
    confident = "llm" if threshold is None or threshold <= 0.8 else "none"
    unsure = "llm" if threshold is None or threshold <= items[t[3]].score else "none"
    rows = [
        (t[0], {"sentiment": ["Positive"]}, "human", "confirmed"),
        (t[1], {"sentiment": ["Neutral"]}, "human", "corrected"),
        (t[2], {"sentiment": ["Neutral"]} if confident == "llm" else {}, confident, None),
        (t[3], {"sentiment": ["Positive"]} if unsure == "llm" else {}, unsure, None),
        (t[4], {}, "none", None),
        (t[5], {"sentiment": ["Negative"]}, "human", "corrected"),
    ]
    return [{"task_id": task_id, "labels": labels, "source": source, "confidence": items[task_id].score,
             "agent_id": job.agent_id, "model_version": job.model_version, "verdict": verdict}
            for task_id, labels, source, verdict in rows]


def test_jsonl_rows_with_and_without_a_threshold(service: Any, job: Job) -> None:
    client = service.client()
    with_threshold = [json.loads(line) for line in client.export(job.id, "jsonl", threshold=0.7).splitlines()]
    assert with_threshold == expected_rows(job, service, 0.7)
    strict = [json.loads(line) for line in client.export(job.id, "jsonl", threshold=0.85).splitlines()]
    assert [row["source"] for row in strict] == ["human", "human", "none", "none", "none", "human"]
    assert [json.loads(line) for line in client.export(job.id).splitlines()] == expected_rows(job, service, None)


def test_csv_has_a_column_per_control(service: Any, job: Job) -> None:
    body = service.client().export(job.id, "csv", threshold=0.7)
    table = list(csv.reader(io.StringIO(body)))
    assert table[0] == ["task_id", "sentiment", "source", "confidence", "agent_id", "model_version", "verdict"]
    expected = expected_rows(job, service, 0.7)
    assert [row[:3] + row[6:] for row in table[1:]] == [
        [str(row["task_id"]), "|".join(row["labels"].get("sentiment", [])), row["source"],
         row["verdict"] or ""] for row in expected]
    assert [row[3] for row in table[1:]] == ["" if r["confidence"] is None else str(r["confidence"]) for r in expected]
    assert {row[4] for row in table[1:]} == {job.agent_id} and {row[5] for row in table[1:]} == {job.model_version}


def test_export_is_streamed_as_a_download(service: Any, job: Job) -> None:
    response = requests.get(f"{service.url}/api/jobs/{job.id}/export", params={"format": "csv"}, stream=True,
                            timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "Content-Length" not in response.headers  # written row by row, never sized up front
    assert response.headers["Content-Disposition"] == f'attachment; filename="lsagent-{job.id[:8]}.csv"'
    assert len(response.text.splitlines()) == 1 + len(job.tasks)


def test_bad_export_requests(service: Any, job: Job) -> None:
    client = service.client()
    with pytest.raises(ServiceError, match="unknown export format 'xml'") as bad_format:
        client.export(job.id, "xml")
    assert bad_format.value.status == 400
    with pytest.raises(ServiceError, match="'threshold' must be between 0 and 1"):
        client.export(job.id, "csv", threshold=2)
    with pytest.raises(ServiceError, match="no job 'gone'") as missing:
        client.export("gone")
    assert missing.value.status == 404


FORMULA_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="=HYPERLINK(&quot;http://x&quot;)"/><Choice value="+1+2"/><Choice value="-3"/>
    <Choice value="@SUM(A1)"/>
  </Choices>
</View>"""


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_neutralised(service: Any, label_studio: Any) -> None:
    project = label_studio.new_project(FORMULA_CONFIG, [{"text": f"review {i}"} for i in range(4)])
    job = run_job(service, project, label_studio.task_ids(project), name="formulas")
    client = service.client()
    raw = [json.loads(line)["labels"]["sentiment"] for line in client.export(job.id).splitlines()]
    assert all(labels and labels[0][0] in "=+-@" for labels in raw), raw  # JSON lines keep the labels
    table = list(csv.reader(io.StringIO(client.export(job.id, "csv"))))
    cells = [row[1] for row in table[1:]]
    assert [cell[1:] for cell in cells] == [labels[0] for labels in raw]
    assert all(cell.startswith("'") for cell in cells), cells


def test_export_into_a_closed_pipe_ends_quietly(service: Any, job: Job) -> None:
    """``lsagent export ... | head -1``: the reader is gone before the rows come; no traceback.
    The read end is closed before the command starts, so every write meets a broken pipe."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([str(Path(sys.executable).with_name("lsagent")), "export", "--job", job.id],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "LSAGENT_URL": service.url})
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 1  # click's answer to a broken pipe; a shell pipeline reports head's status
