"""Household estimates that carry their reason; recorded counts with who and why.

Every building keeps the reason of its household count (``households_reason``, a stable code
of ``gis.households.REASONS``, and ``households_reason_detail``, its parameters), and a count
set by a person keeps who set it, when and why. Counts already stored are estimates of the
old rules and get no reason (NULL) until the district is imported again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Reason and recorded-by columns on building."""
    op.add_column("building", sa.Column("households_reason", sa.String(40), nullable=True))
    op.add_column("building", sa.Column("households_reason_detail", postgresql.JSONB(), nullable=True))
    op.add_column("building", sa.Column("households_recorded_by", sa.String(100), nullable=True))
    op.add_column("building", sa.Column("households_recorded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("building", sa.Column("households_recorded_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    for column in ("households_recorded_reason", "households_recorded_at", "households_recorded_by",
                   "households_reason_detail", "households_reason"):
        op.drop_column("building", column)
