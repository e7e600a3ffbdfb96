"""A rescored job keeps the calibration it wrote to Label Studio, and an audit the scale of its threshold.

``jobs.calibration`` holds the map ``lsagent jobs rescore`` last applied to the job's prediction
scores (NULL: Label Studio shows the raw confidence); ``audits.scale`` the scale the audit's
threshold was drawn on (NULL: raw, as every audit before this revision).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.add_column("jobs", sa.Column("calibration", JSON, nullable=True))
    op.add_column("audits", sa.Column("scale", JSON, nullable=True))
