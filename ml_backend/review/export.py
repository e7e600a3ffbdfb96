"""The final labels of a job, one row per task, with where each label comes from.

``source`` is ``human`` when an annotator verified the task (their latest annotation wins, even
over a confident agent), ``llm`` when the agent's label is kept (its confidence is at or above
the threshold, or no threshold was given), and ``none`` when the task still needs a human (below
the threshold, no confidence, or the agent failed). Rows are produced while the job's items are
read page by page, so a large job is never held in memory; only the verdicts are, and there are
as many of those as humans have had time to make. ``confidence`` and the threshold are on the
scale Label Studio shows for the job (calibrated once it was rescored; ``ml_backend.review.scale``),
the one ``verification show`` recommends its threshold on by default.

Controls other than Choices carry their whole answer too, under the keys ``lsagent parse`` uses:
``spans`` (regions ``{start, end, text, label, confidence}``, the confidence None for a human's),
``texts``, ``numbers`` and ``paths``, from the same source as the row's labels. In CSV a config
with span controls gives one row per span (its control, offsets, text, label and confidence
beside the task's other columns; a task without spans keeps one row with those cells empty);
free text is joined by newlines, taxonomy paths as ``a > b`` joined by "|".
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from ml_backend.review.lookup import job_and_agent
from ml_backend.review.regions import META_KEYS, agent_value, empty
from ml_backend.review.rescore import job_scale
from ml_backend.review.task_verdicts import TaskVerdict, task_verdicts
from ml_backend.review.verdicts import control_kinds
from ml_backend.runtime import Runtime
from ml_backend.store import ItemRecord

FORMATS = ("jsonl", "csv")
FIXED = ("task_id", "source", "confidence", "agent_id", "model_version", "verdict")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
MULTI_SEPARATOR = "|"
PATH_SEPARATOR = " > "
SPAN_COLUMNS = ("span_control", "span_start", "span_end", "span_text", "span_label", "span_confidence")
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
    kinds = control_kinds(agent)
    verdicts = task_verdicts(runtime.store.verifications(job.id))
    scale = job_scale(runtime, job, agent)
    for item in runtime.store.items(job.id):
        verdict = verdicts.get(item.task_id)
        score = scale.score(item.score)
        source, labels = _final(item.labels, item.error_class, score, verdict, threshold)
        yield {
            "task_id": item.task_id,
            "labels": {control: labels.get(control, []) for control in kinds} if source != "none" else {},
            **_values(kinds, item, verdict, source),
            "source": source,
            "confidence": score,
            "agent_id": agent.id,
            "model_version": agent.model_version,
            "verdict": None if verdict is None else ("confirmed" if verdict.correct else "corrected"),
        }


def _values(kinds: dict[str, str], item: ItemRecord, verdict: TaskVerdict | None, source: str) -> dict[str, Any]:
    """The whole answers of the controls other than Choices, by ``lsagent parse``'s keys (none
    when the config has only Choices, so such an export keeps its shape)."""
    values: dict[str, dict[str, Any]] = {META_KEYS[kind]: {} for kind in kinds.values() if kind in META_KEYS}
    if source == "none":
        return values
    for control, kind in kinds.items():
        if kind not in META_KEYS:
            continue
        if source == "llm":
            value = agent_value(item, control, kind)
        else:
            value = (verdict.human_values if verdict else {}).get(control, empty(kind))
            if kind == "labels":
                value = [{**span, "confidence": None} for span in value]
        values[META_KEYS[kind]][control] = value
    return values


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
    return _csv_lines(rows(runtime, job.id, threshold), control_kinds(agent))


def _csv_lines(source: Iterator[dict[str, Any]], kinds: dict[str, str]) -> Iterator[str]:
    """A column per control (several labels joined by "|"), named ``label_<control>`` when the
    control's name is taken by a fixed column; span controls as one row per span instead."""
    controls = [name for name, kind in kinds.items() if kind != "labels"]
    spans = [name for name, kind in kinds.items() if kind == "labels"]
    columns = [f"label_{name}" if name in FIXED or name in SPAN_COLUMNS else name for name in controls]
    yield _csv_line(["task_id", *columns, *(SPAN_COLUMNS if spans else ()), *FIXED[1:]])
    for row in source:
        cells = [_cell(row, name, kinds[name]) for name in controls]
        rest = ["" if row[key] is None else row[key] for key in FIXED[1:]]
        if not spans:
            yield _csv_line([row["task_id"], *cells, *rest])
            continue
        regions = [(name, span) for name in spans for span in (row.get("spans") or {}).get(name) or []]
        for name, span in regions or [("", {})]:
            span_cells = [name, *("" if span.get(key) is None else span[key]
                                  for key in ("start", "end", "text", "label", "confidence"))]
            yield _csv_line([row["task_id"], *cells, *span_cells, *rest])


def _cell(row: dict[str, Any], name: str, kind: str) -> Any:
    """One control's answer as a CSV cell."""
    if kind == "textarea":
        return "\n".join((row.get("texts") or {}).get(name) or [])
    if kind in ("rating", "number"):
        value = (row.get("numbers") or {}).get(name)
        return "" if value is None else value
    if kind == "taxonomy":
        paths = (row.get("paths") or {}).get(name) or []
        return MULTI_SEPARATOR.join(PATH_SEPARATOR.join(path) for path in paths)
    return MULTI_SEPARATOR.join(row["labels"].get(name, []))


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
