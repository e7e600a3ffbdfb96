"""Jobs count the items whose every listed span was dropped: the ``span_not_found`` counter.

A new error class names the job counter it adds to (``schema.COUNTERS``); jobs recorded before
it had none, so they start at 0.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("span_not_found", sa.Integer(), server_default="0", nullable=False))
