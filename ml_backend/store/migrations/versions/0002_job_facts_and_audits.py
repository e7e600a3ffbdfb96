"""Job summaries become data: running facts as columns, audit samples as their own table.

Up to 7afc181 a job's ``summary`` JSON also held the running facts (``planned``,
``project_model_version_set``, ``final``) and the reviews' audit samples (``reviews.audits``),
changed by read-modify-write. This revision moves the facts to boolean columns and each audit
to a row of ``audits``; the summary keeps only the report of an ended job (NULL before).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
FACTS = ("planned", "project_model_version_set")
MOVED = (*FACTS, "final", "reviews")


def upgrade() -> None:
    for fact in FACTS:
        op.add_column("jobs", sa.Column(fact, sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("view_id", sa.BigInteger(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("task_ids", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "title"),
    )
    op.create_index(op.f("ix_audits_job_id"), "audits", ["job_id"], unique=False)
    _move_summaries()


def _move_summaries() -> None:
    jobs = sa.table("jobs", sa.column("id", sa.String()), sa.column("summary", JSON),
                    *(sa.column(fact, sa.Boolean()) for fact in FACTS))
    audits = sa.table("audits", *(sa.column(name) for name in (
        "job_id", "title", "view_id", "threshold", "seed", "size")), sa.column("task_ids", JSON),
        sa.column("created_at", TIMESTAMP))
    bind = op.get_bind()
    for job_id, summary in bind.execute(sa.select(jobs.c.id, jobs.c.summary).where(jobs.c.summary.is_not(None))):
        report = {key: value for key, value in summary.items() if key not in MOVED}
        values: dict[str, Any] = {fact: bool(summary.get(fact)) for fact in FACTS}
        values["summary"] = report if summary.get("final") else None
        bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(values))
        rows = [_audit_row(job_id, audit) for audit in (summary.get("reviews") or {}).get("audits") or []]
        if rows:
            bind.execute(sa.insert(audits), rows)


def _audit_row(job_id: str, audit: dict[str, Any]) -> dict[str, Any]:
    """An audit entry of the old summary as a row; its time stays what it was (naive TIMESTAMP on SQLite,
    as the store writes it there)."""
    created = datetime.fromisoformat(audit["created_at"]).astimezone(UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    keys = ("title", "view_id", "threshold", "seed", "size", "task_ids")
    return {"job_id": job_id, "created_at": created, **{key: audit[key] for key in keys}}
