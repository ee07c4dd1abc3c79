"""Provisional streets: a district without streets stands as one street until its boundaries come.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``street.provisional``."""
    op.add_column("street", sa.Column("provisional", sa.Boolean(), server_default="false", nullable=False))


def downgrade() -> None:
    """Drop ``street.provisional``."""
    op.drop_column("street", "provisional")
