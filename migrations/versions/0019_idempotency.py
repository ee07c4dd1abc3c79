"""Idempotency keys for offline field-app writes (issue 17).

A POST, PUT or PATCH sent with an ``Idempotency-Key`` header is kept per (user, key) with a digest
of the request and, once answered, the response; a retry gets the stored response instead of
writing again (api/idempotency.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the idempotency_key table."""
    op.create_table(
        "idempotency_key",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=True),
        sa.Column("method", sa.String(6), nullable=False),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("method IN ('POST', 'PUT', 'PATCH')", name=op.f("ck_idempotency_key_method")),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_idempotency_key_user_id_app_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_index(op.f("ix_idempotency_key_created_at"), "idempotency_key", ["created_at"], unique=False)


def downgrade() -> None:
    """Drop it: retries after the downgrade are new requests."""
    op.drop_index(op.f("ix_idempotency_key_created_at"), table_name="idempotency_key")
    op.drop_table("idempotency_key")
