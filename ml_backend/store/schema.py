"""Tables of the store. Every cross-process invariant lives here as a key or unique constraint,
because workers on other machines share nothing but the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with every NUL and lone UTF-16 surrogate replaced by U+FFFD, inside containers too.

    Text reaches the store from the LLM and from Label Studio. PostgreSQL refuses NUL in text and
    ``\\u0000`` in JSONB, and no UTF-8 codec takes a lone surrogate, so one such character failed
    a whole write (and so a whole chunk). The same replacement on SQLite keeps both stores alike.
    """
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    return value


class SafeString(TypeDecorator[str]):
    """A string column that stores ``storable(value)``."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return storable(value)


class SafeText(SafeString):
    impl = Text
    cache_ok = True


class SafeJSON(TypeDecorator[Any]):
    """JSON everywhere, JSONB on PostgreSQL, storing ``storable(value)``. Python None is SQL NULL,
    never the JSON literal null."""

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return storable(value)


JSONType = SafeJSON()

#: Job counters that only ever grow, in the order reports show them. The error ones are exactly
#: the `ErrorClass` values, so an item's error class names the counter it adds to.
COUNTERS = (
    "done",
    "labeled",
    "format_error",
    "invalid_label",
    "api_error",
    "context_overflow",
    "empty_input",
    "span_not_found",
    "skipped",
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on every dialect. SQLite keeps no zone, so values are stored
    as naive UTC there; comparing them as text then still orders them in time."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime()}


class Agent(Base):
    """Immutable: the id is the caller's hash of config, template, instruction and label set, so
    equal agents share a row."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(200))
    project: Mapped[int] = mapped_column(BigInteger, index=True)
    label_signature: Mapped[str] = mapped_column(SafeString(200))
    label_config: Mapped[str] = mapped_column(SafeText)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    template_source: Mapped[str] = mapped_column(SafeText)
    instructions: Mapped[str] = mapped_column(SafeText)
    model_version: Mapped[str] = mapped_column(SafeString(220), unique=True)
    created_at: Mapped[datetime]


class Activation(Base):
    """At most one active agent per project: the project is the key."""

    __tablename__ = "activations"

    project: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"))
    activated_at: Mapped[datetime]


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(SafeString(32), primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id"), index=True)
    project: Mapped[int] = mapped_column(BigInteger, index=True)
    subset: Mapped[str] = mapped_column(SafeString(2000))
    status: Mapped[str] = mapped_column(SafeString(16))
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    labeled: Mapped[int] = mapped_column(Integer, default=0)
    format_error: Mapped[int] = mapped_column(Integer, default=0)
    invalid_label: Mapped[int] = mapped_column(Integer, default=0)
    api_error: Mapped[int] = mapped_column(Integer, default=0)
    context_overflow: Mapped[int] = mapped_column(Integer, default=0)
    empty_input: Mapped[int] = mapped_column(Integer, default=0)
    span_not_found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    tokens_in: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_out: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(SafeText)
    #: Running facts, each set by one UPDATE: the subset is fully planned; the project's
    #: model_version is the agent's.
    planned: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    project_model_version_set: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The report, written once when the job ends (NULL before).
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    #: The calibration ``lsagent jobs rescore`` last wrote to Label Studio's prediction scores
    #: (method, map, items fitted on); NULL while Label Studio shows the raw confidence.
    calibration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Audit(Base):
    """A seeded uniform sample a review drew from a job: one per (job, title), a new draw under
    the same title replaces the old one in a single upsert."""

    __tablename__ = "audits"
    __table_args__ = (UniqueConstraint("job_id", "title"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    title: Mapped[str] = mapped_column(SafeString(500))
    view_id: Mapped[int] = mapped_column(BigInteger)
    threshold: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    task_ids: Mapped[list[int]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    #: The confidence scale the threshold is on: the job's calibration at the draw, NULL for raw.
    scale: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Item(Base):
    """One per (job, task): the key is what makes recording exactly-once across workers."""

    __tablename__ = "items"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    labels: Mapped[dict[str, list[str]]] = mapped_column(JSONType)
    confidence: Mapped[dict[str, float | None]] = mapped_column(JSONType)
    score: Mapped[float | None] = mapped_column(Float)
    error_class: Mapped[str | None] = mapped_column(SafeString(32))
    error_detail: Mapped[str] = mapped_column(SafeText, default="")
    invalid_label: Mapped[str | None] = mapped_column(SafeString(500))
    api_error_kind: Mapped[str | None] = mapped_column(SafeString(200))
    raw_response: Mapped[str | None] = mapped_column(SafeText)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONType)
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    latency_s: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer)
    prediction_id: Mapped[int | None] = mapped_column(BigInteger)
    pushed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Chunk(Base):
    __tablename__ = "chunks"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    task_ids: Mapped[list[int]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(SafeString(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(SafeString(200))
    claimed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class CacheEntry(Base):
    __tablename__ = "cache"

    key: Mapped[str] = mapped_column(SafeString(64), primary_key=True)
    response: Mapped[Any] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime]


class Verification(Base):
    __tablename__ = "verifications"
    __table_args__ = (UniqueConstraint("job_id", "task_id", "annotation_id", "control"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    task_id: Mapped[int] = mapped_column(BigInteger)
    annotation_id: Mapped[int] = mapped_column(BigInteger)
    control: Mapped[str] = mapped_column(SafeString(200))
    verdict: Mapped[str] = mapped_column(SafeString(16))
    human_labels: Mapped[list[str]] = mapped_column(JSONType)
    agent_labels: Mapped[list[str]] = mapped_column(JSONType)
    annotator: Mapped[str] = mapped_column(SafeString(320))
    annotated_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime]
    #: The annotator's whole answer for spans, text, numbers and taxonomies (ml_backend.review.regions).
    human_value: Mapped[Any] = mapped_column(JSONType, nullable=True)
