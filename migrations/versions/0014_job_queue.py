"""Durable job queue (issue 20): background jobs as rows that every server process can run and read.

Jobs used to live in one process's memory and died with it. Each is now a row of ``job``: queued
by any process, claimed by any worker with ``FOR UPDATE SKIP LOCKED``, its progress, result or
error readable from every process, and taken back when its worker's heartbeat stops
(gis/services/jobs.py). The sign-in limiter moves to the database too, into the existing
``rate_limit`` table (gis/services/ratelimits.py), so it needs nothing here.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the job table."""
    op.create_table(
        "job",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(60), nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("district_code", sa.String(6), nullable=True),
        sa.Column("status", sa.String(10), server_default="queued", nullable=False),
        sa.Column("stage", sa.Text(), server_default="queued", nullable=False),
        sa.Column("fraction", sa.Float(), server_default="0", nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("links", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                  nullable=False),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_job_status")),
        sa.CheckConstraint("fraction >= 0 AND fraction <= 1", name=op.f("ck_job_fraction")),
        sa.ForeignKeyConstraint(["owner_id"], ["app_user.id"], name=op.f("fk_job_owner_id_app_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_index("ix_job_queued", "job", ["created_at"], unique=False,
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index("ix_job_running", "job", ["heartbeat_at"], unique=False,
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("ix_job_owner_id_created_at", "job", ["owner_id", "created_at"], unique=False)


def downgrade() -> None:
    """Drop it: queued and finished jobs are forgotten (their plans and coverage runs stay)."""
    op.drop_index("ix_job_owner_id_created_at", table_name="job")
    op.drop_index("ix_job_running", table_name="job")
    op.drop_index("ix_job_queued", table_name="job")
    op.drop_table("job")
