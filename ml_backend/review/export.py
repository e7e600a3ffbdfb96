"""The final labels of a job, one row per task, with where each label comes from.

``source`` is ``human`` when an annotator verified the task (their latest annotation wins, even
over a confident agent), ``llm`` when the agent's label is kept (its confidence is at or above
the threshold, or no threshold was given), and ``none`` when the task still needs a human (below
the threshold, no confidence, or the agent failed). Rows are produced while the job's items are
read page by page, so a large job is never held in memory; only the verdicts are, and there are
as many of those as humans have had time to make.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ml_backend.review.lookup import job_and_agent
from ml_backend.review.task_verdicts import TaskVerdict, task_verdicts
from ml_backend.review.verdicts import controls_of
from ml_backend.runtime import Runtime

FORMATS = ("jsonl", "csv")
FIXED = ("task_id", "source", "confidence", "agent_id", "model_version", "verdict")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
MULTI_SEPARATOR = "|"
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): labels
# come from the labeling config and the annotators, names from API users, so none is trusted.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ExportError(ValueError):
    """The export cannot be made as asked."""


def check(fmt: str, threshold: float | None) -> None:
    """Refuse an unknown format or a threshold that is not a probability."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if threshold is not None and (isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0):
        raise ExportError(f"threshold must be between 0 and 1, got {threshold!r}")


def rows(runtime: Runtime, job_id: str, threshold: float | None = None) -> Iterator[dict[str, Any]]:
    """One dict per task of the job, by task id."""
    job, agent = job_and_agent(runtime, job_id)
    controls = controls_of(agent)
    verdicts = task_verdicts(runtime.store.verifications(job.id))
    for item in runtime.store.items(job.id):
        verdict = verdicts.get(item.task_id)
        source, labels = _final(item.labels, item.error_class, item.score, verdict, threshold)
        yield {
            "task_id": item.task_id,
            "labels": {control: labels.get(control, []) for control in controls} if source != "none" else {},
            "source": source,
            "confidence": item.score,
            "agent_id": agent.id,
            "model_version": agent.model_version,
            "verdict": None if verdict is None else ("confirmed" if verdict.correct else "corrected"),
        }


def _final(labels: dict[str, list[str]], error: str | None, score: float | None, verdict: TaskVerdict | None,
           threshold: float | None) -> tuple[str, dict[str, list[str]]]:
    if verdict is not None:
        return "human", verdict.human_labels
    if error is None and (threshold is None or (score is not None and score >= threshold)):
        return "llm", labels
    return "none", {}


def lines(runtime: Runtime, job_id: str, fmt: str, threshold: float | None = None) -> Iterator[str]:
    """The export as text lines (each ending in a newline), a CSV header first."""
    check(fmt, threshold)
    job, agent = job_and_agent(runtime, job_id)
    if fmt == "jsonl":
        return (json.dumps(row, ensure_ascii=False) + "\n" for row in rows(runtime, job.id, threshold))
    return _csv_lines(rows(runtime, job.id, threshold), controls_of(agent))


def _csv_lines(source: Iterator[dict[str, Any]], controls: list[str]) -> Iterator[str]:
    """A column per control (several labels joined by "|"), named ``label_<control>`` when the
    control's name is taken by a fixed column."""
    columns = [f"label_{name}" if name in FIXED else name for name in controls]
    yield _csv_line(["task_id", *columns, *FIXED[1:]])
    for row in source:
        labels = [MULTI_SEPARATOR.join(row["labels"].get(name, [])) for name in controls]
        rest = ["" if row[key] is None else row[key] for key in FIXED[1:]]
        yield _csv_line([row["task_id"], *labels, *rest])


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_inert(value) for value in values])
    return buffer.getvalue()


def _inert(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe, which makes
    it text (the OWASP advice); numbers stay numbers. JSON lines keep the values as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
