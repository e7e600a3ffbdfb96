"""Plain frozen values the store hands out, so callers never hold an ORM object or a session."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")


def to_record(cls: type[R], row: Any) -> R:
    """Copy the fields `cls` declares from an ORM row (or a Row of columns) into a record."""
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class AgentRecord:
    id: str
    name: str
    project: int
    label_signature: str
    label_config: str
    config: dict[str, Any]
    template_source: str
    instructions: str
    model_version: str
    created_at: datetime


@dataclass(frozen=True)
class JobRecord:
    id: str
    agent_id: str
    project: int
    subset: str
    status: str
    total: int
    done: int
    labeled: int
    format_error: int
    invalid_label: int
    api_error: int
    context_overflow: int
    empty_input: int
    span_not_found: int
    skipped: int
    tokens_in: int
    tokens_out: int
    cost: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    planned: bool
    project_model_version_set: bool
    summary: dict[str, Any] | None
    calibration: dict[str, Any] | None


@dataclass(frozen=True)
class AuditRecord:
    """A review's audit sample, kept so the verification figures find the audited tasks again."""

    job_id: str
    title: str
    view_id: int
    threshold: float
    seed: int
    size: int
    task_ids: list[int]
    created_at: datetime
    scale: dict[str, Any] | None


@dataclass(frozen=True)
class ItemRecord:
    job_id: str
    task_id: int
    labels: dict[str, list[str]]
    confidence: dict[str, float | None]
    score: float | None
    error_class: str | None
    error_detail: str
    invalid_label: str | None
    api_error_kind: str | None
    raw_response: str | None
    meta: dict[str, Any]
    tokens_in: int
    tokens_out: int
    cost: float
    latency_s: float | None
    attempts: int
    prediction_id: int | None
    pushed: bool
    created_at: datetime


@dataclass(frozen=True)
class ChunkRecord:
    job_id: str
    index: int
    task_ids: list[int]
    status: str
    attempts: int
    claimed_by: str | None
    claimed_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class VerificationRecord:
    id: int
    job_id: str
    task_id: int
    annotation_id: int
    control: str
    verdict: str
    human_labels: list[str]
    agent_labels: list[str]
    annotator: str
    annotated_at: datetime | None
    recorded_at: datetime
    human_value: Any = None


@dataclass(frozen=True)
class JobStats:
    """Aggregates over a job's items. `outcomes` has "labeled" and every error class (zeros
    included); `score_histogram[i]` counts scores in [i/10, (i+1)/10), the last bin holding 1.0."""

    job_id: str
    items: int
    outcomes: dict[str, int]
    labels: dict[str, dict[str, int]]
    score_histogram: tuple[int, ...]
    scored: int
    mean_score: float | None
    top_invalid_labels: list[tuple[str, int]]
    api_errors: dict[str, int]
    tokens_in: int
    tokens_out: int
    cost: float
    mean_latency_s: float | None
    pushed: int
    mean_queue_s: float | None = None
