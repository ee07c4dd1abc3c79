"""Coverage runs and per-building coverage (life-circle walking coverage, issue 5).

Reviewed by hand after autogeneration. ``district.network_version`` (schema v1) is what a
run records and what cached routing graphs are keyed by; this revision adds no column to it.
Building and facility ids in ``building_coverage`` are deliberately not foreign keys: a run is
a snapshot of one network version, and re-importing a district must not cascade into old runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coverage_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("mode", sa.String(length=20), server_default="network", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="done", nullable=False),
        sa.Column("network_version", sa.Integer(), nullable=False),
        sa.Column("type_codes", postgresql.ARRAY(sa.String(length=40)), server_default="{}", nullable=False),
        sa.Column("parameters", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("mode IN ('network', 'straight_line')", name=op.f("ck_coverage_run_mode")),
        sa.CheckConstraint("status IN ('running', 'done', 'failed')", name=op.f("ck_coverage_run_status")),
        sa.ForeignKeyConstraint(["created_by"], ["app_user.id"], name=op.f("fk_coverage_run_created_by_app_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_run")),
    )
    op.create_index(op.f("ix_coverage_run_district_code"), "coverage_run", ["district_code"], unique=False)
    op.create_table(
        "building_coverage",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=40), nullable=False),
        sa.Column("building_id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column("distance_m", sa.Float(), nullable=True),
        sa.Column("within_standard", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("households", sa.Integer(), server_default="0", nullable=False),
        sa.Column("target_population", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["coverage_run.id"], name=op.f("fk_building_coverage_run_id_coverage_run"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "type_code", "building_id", name=op.f("pk_building_coverage")),
    )
    op.create_index(op.f("ix_building_coverage_district_code"), "building_coverage", ["district_code"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_building_coverage_district_code"), table_name="building_coverage")
    op.drop_table("building_coverage")
    op.drop_index(op.f("ix_coverage_run_district_code"), table_name="coverage_run")
    op.drop_table("coverage_run")
