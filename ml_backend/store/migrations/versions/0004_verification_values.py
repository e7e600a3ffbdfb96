"""Verdicts keep the annotator's whole answer per control, not only its label values.

Spans, free text, ratings, numbers and taxonomy paths are verified element by element (a span's
offsets, a text's edits), so a verdict row now also holds ``human_value``: the annotator's
answer in the shape of ``ml_backend.review.regions`` (NULL for Choices and for older rows).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("verifications", sa.Column("human_value", JSON, nullable=True))
