"""A task's verdict from its verification rows: the latest annotation's, correct when every
control is confirmed (see ``ml_backend.review.verdicts``, which records the rows).

Apart from the recording so that what only reads verdicts (the combined confidence, the
calibration map) does not import the runtime the recording needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_backend.store import VerificationRecord


@dataclass(frozen=True)
class TaskVerdict:
    """The latest annotation's verdict on a task: per control, what the human chose (label values;
    ``human_values``: the whole answer of the controls verified element by element)."""

    task_id: int
    annotation_id: int
    correct: bool
    human_labels: dict[str, list[str]]
    annotator: str
    annotated_at: datetime | None
    human_values: dict[str, Any] = field(default_factory=dict)


def task_verdicts(rows: Iterable[VerificationRecord]) -> dict[int, TaskVerdict]:
    """{task id: verdict of its latest annotation}; rows from ``Store.verifications``."""
    by_annotation: dict[tuple[int, int], list[VerificationRecord]] = {}
    for row in rows:
        by_annotation.setdefault((row.task_id, row.annotation_id), []).append(row)
    verdicts: dict[int, TaskVerdict] = {}
    for (task_id, annotation_id), group in by_annotation.items():
        when = group[0].annotated_at
        current = verdicts.get(task_id)
        if current is not None and _key(current.annotated_at, current.annotation_id) > _key(when, annotation_id):
            continue
        verdicts[task_id] = TaskVerdict(
            task_id=task_id,
            annotation_id=annotation_id,
            correct=all(row.verdict == "confirmed" for row in group),
            human_labels={row.control: list(row.human_labels) for row in group},
            human_values={row.control: row.human_value for row in group if row.human_value is not None},
            annotator=group[0].annotator,
            annotated_at=when,
        )
    return verdicts


def _key(when: datetime | None, annotation_id: int) -> tuple[float, int]:
    return (when.timestamp() if when is not None else float("-inf"), annotation_id)
