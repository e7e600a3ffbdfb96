"""Baseline: the schema of release 7afc181, the last one without migrations.

A store that release created has exactly these tables; it is stamped with this revision when
first opened by a newer release (``ml_backend.store.migrate``), then upgraded from here. The
column types are spelled out here, not imported, so later changes to ``schema.py`` cannot
change what this revision builds.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: JSON on SQLite, JSONB on PostgreSQL; Python None is SQL NULL.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
#: Timestamps with a zone (SQLite keeps none; the store writes naive UTC there).
UTC = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("agents",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("project", sa.BigInteger(), nullable=False),
        sa.Column("label_signature", sa.String(length=200), nullable=False),
        sa.Column("label_config", sa.Text(), nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("template_source", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(length=220), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_version")
    )
    op.create_index(op.f("ix_agents_project"), "agents", ["project"], unique=False)
    op.create_table("cache",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("key")
    )
    op.create_table("activations",
        sa.Column("project", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("activated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ),
        sa.PrimaryKeyConstraint("project")
    )
    op.create_table("jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("project", sa.BigInteger(), nullable=False),
        sa.Column("subset", sa.String(length=2000), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("labeled", sa.Integer(), nullable=False),
        sa.Column("format_error", sa.Integer(), nullable=False),
        sa.Column("invalid_label", sa.Integer(), nullable=False),
        sa.Column("api_error", sa.Integer(), nullable=False),
        sa.Column("context_overflow", sa.Integer(), nullable=False),
        sa.Column("empty_input", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("tokens_in", sa.BigInteger(), nullable=False),
        sa.Column("tokens_out", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", JSON, nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ),
        sa.PrimaryKeyConstraint("id")
    )
    op.create_index(op.f("ix_jobs_agent_id"), "jobs", ["agent_id"], unique=False)
    op.create_index(op.f("ix_jobs_project"), "jobs", ["project"], unique=False)
    op.create_table("chunks",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("task_ids", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_at", UTC, nullable=True),
        sa.Column("finished_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ),
        sa.PrimaryKeyConstraint("job_id", "index")
    )
    op.create_table("items",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("confidence", JSON, nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=False),
        sa.Column("invalid_label", sa.String(length=500), nullable=True),
        sa.Column("api_error_kind", sa.String(length=200), nullable=True),
        sa.Column("raw_response", sa.Text(), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("prediction_id", sa.BigInteger(), nullable=True),
        sa.Column("pushed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ),
        sa.PrimaryKeyConstraint("job_id", "task_id")
    )
    op.create_table("verifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("annotation_id", sa.BigInteger(), nullable=False),
        sa.Column("control", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("human_labels", JSON, nullable=False),
        sa.Column("agent_labels", JSON, nullable=False),
        sa.Column("annotator", sa.String(length=320), nullable=False),
        sa.Column("annotated_at", UTC, nullable=True),
        sa.Column("recorded_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "task_id", "annotation_id", "control")
    )
    op.create_index(op.f("ix_verifications_job_id"), "verifications", ["job_id"], unique=False)
