"""The export and the HTML report of a job whose agent answered spans, free text, a rating, a
number and a taxonomy: JSON lines carry every answer (the annotator's where verified), CSV gives
one row per span, and the report (rendered by Chromium) counts spans per label with their
precision and recall once verified."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ml_backend.cli.report import report_command
from tests.element_support import AGENT, HUMAN, A, B, ElementJob, verified_job
from tests.test_report import rendered


@pytest.fixture
def service(make_service: Any, label_studio: Any) -> Any:
    return make_service(label_studio=label_studio)


@pytest.fixture
def verified(service: Any, label_studio: Any) -> ElementJob:
    job = verified_job(service, label_studio)
    service.client().sync_verification(job.id)
    return job


def test_jsonl_carries_spans_texts_numbers_and_paths(service: Any, verified: ElementJob) -> None:
    rows = [json.loads(line) for line in service.client().export(verified.id).splitlines()]
    assert [row["source"] for row in rows] == ["human"] * 4 + ["llm"]
    first, corrected, agents = rows[0], rows[1], rows[4]
    assert first["labels"] == {"ner": ["ORG", "PER"], "summary": [], "quality": ["4"], "count": ["1"],
                               "topic": ["Business", "Hiring"], "sentiment": ["Positive"]}
    # B, as the annotator left it: Lisbon is a LOC now; a human span has no confidence
    assert corrected["spans"] == {"ner": [
        {"start": 0, "end": 11, "text": "Priya Raman", "label": "PER", "confidence": None},
        {"start": 22, "end": 28, "text": "Lisbon", "label": "LOC", "confidence": None},
        {"start": 32, "end": 37, "text": "Osaka", "label": "LOC", "confidence": None}]}
    assert B[22:28] == "Lisbon" and corrected["verdict"] == "corrected"
    assert corrected["numbers"] == {"quality": HUMAN[1].quality, "count": HUMAN[1].count}
    assert (corrected["texts"], corrected["paths"]) == ({"summary": HUMAN[1].summary}, {"topic": HUMAN[1].topic})
    # E was not verified: the agent's own answer, with each span's confidence
    assert agents["spans"] == {"ner": AGENT[4].spans} and agents["numbers"] == {"quality": 5, "count": 2}
    assert agents["labels"]["ner"] == ["PER"] and agents["confidence"] == 0.85
    strict = [json.loads(line) for line in service.client().export(verified.id, threshold=0.9).splitlines()]
    assert strict[4] == {**agents, "labels": {}, "spans": {}, "texts": {}, "numbers": {}, "paths": {},
                         "source": "none"}


def test_csv_has_one_row_per_span(service: Any, verified: ElementJob) -> None:
    table = list(csv.reader(io.StringIO(service.client().export(verified.id, "csv"))))
    assert table[0] == ["task_id", "summary", "quality", "count", "topic", "sentiment", "span_control", "span_start",
                        "span_end", "span_text", "span_label", "span_confidence", "source", "confidence", "agent_id",
                        "model_version", "verdict"]
    body = table[1:]
    t = verified.tasks
    # spans: A 2, B 3, C 2, D 2 (the annotators'), E 2 (the agent's)
    assert [int(row[0]) for row in body] == [t[0]] * 2 + [t[1]] * 3 + [t[2]] * 2 + [t[3]] * 2 + [t[4]] * 2
    assert body[0][:12] == [str(t[0]), "Maria joined Northwind.", "4", "1", "Business > Hiring", "Positive", "ner",
                            "0", "12", "Maria Okafor", "PER", ""]
    assert A[0:12] == "Maria Okafor"
    assert [row[9:11] for row in body[5:7]] == [["Vantor Robotics", "ORG"], ["Omar Haddad", "PER"]]
    assert body[7][1] == "Grace expects an end by June." and body[7][4] == "Business > Planning"
    assert [row[9:12] for row in body[9:]] == [["Jonas Lindqvist", "PER", "0.9"], ["Aiko Tanaka", "PER", "0.85"]]
    assert {row[12] for row in body} == {"human", "llm"}
    strict = list(csv.reader(io.StringIO(service.client().export(verified.id, "csv", threshold=0.9))))
    assert strict[-1][:12] == [str(t[4]), "", "", "", "", "", "", "", "", "", "", ""]  # kept, its cells empty
    assert strict[-1][12] == "none" and len(strict) == 1 + 9 + 1


def test_report_counts_spans_per_label_with_precision_and_recall(service: Any, verified: ElementJob,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LSAGENT_URL", service.url)
    page = tmp_path / "report.html"
    result = CliRunner().invoke(report_command, [verified.id, "-o", str(page)])
    assert result.exit_code == 0, result.output
    text = f"| {' | '.join(rendered(page, tmp_path).text)} |"
    assert "| Spans: ner |" in text
    # label | spans in the job | agent's verified | annotators' | precision | recall | F1
    assert "| LOC | 2 | 2 | 3 | 50.0% (" in text and "| ORG | 3 | 3 | 2 | 33.3% (" in text
    assert "| PER | 6 | 4 | 4 | 100.0% (" in text
    loc = text[text.index("| LOC |"):text.index("| ORG |")]
    assert "| 33.3% (" in loc and loc.rstrip(" |").endswith("40.0%")
    assert "6 spans confirmed, 2 corrected (other label or boundaries), 1 rejected, 1 missed" in text
