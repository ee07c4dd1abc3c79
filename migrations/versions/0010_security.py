"""Security (issue 23): rate-limit counters shared by every server process; the client's request id in audit rows.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 16:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``rate_limit`` and ``audit_log.client_request_id``."""
    op.create_table(
        "rate_limit",
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit")),
    )
    op.add_column("audit_log", sa.Column("client_request_id", sa.String(64), nullable=True))


def downgrade() -> None:
    """Drop them."""
    op.drop_column("audit_log", "client_request_id")
    op.drop_table("rate_limit")
