"""Household visits (入户走访, 民情日志) and the visit cadence per resident group (issue 18).

A ``visit`` is one call of a grid worker at a household: when it happened (``visited_at``, the
time of the visit, not of its upload from an offline phone), why (``purpose``), what was found
(``findings``, sealed like ID numbers: the text names people and their circumstances) and the
case it gave rise to. ``grid_code`` is the household's grid at the time of the visit, copied so
that grid-scoped lists and monthly coverage need no spatial join.

``visit_cadence`` says how often a household with a member of a group must be visited, per
district; the row ``other`` is every household without such a member. Seeded here for the
districts that exist; a district added later gets the shipped defaults on first use
(gis.visits.DEFAULT_CADENCE, the same numbers).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PURPOSES = "purpose IN ('routine', 'care', 'info_check', 'case_follow_up', 'other')"
# Kept here as literals: a migration must not change when the application's defaults do.
SEED = (("elderly_alone", 7), ("key_person", 30), ("community_correction", 30), ("mental_disorder", 30),
        ("drug_user", 30), ("low_income", 30), ("disabled", 30), ("left_behind_child", 30),
        ("special_support", 90), ("veteran", 90), ("other", 90))


def upgrade() -> None:
    """Create visit and visit_cadence; seed the cadence of every existing district."""
    op.create_table(
        "visit",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.String(20), nullable=False),
        sa.Column("findings", sa.Text(), nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(PURPOSES, name=op.f("ck_visit_purpose")),
        sa.ForeignKeyConstraint(["household_id"], ["household.id"], name=op.f("fk_visit_household_id_household"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["worker_id"], ["app_user.id"], name=op.f("fk_visit_worker_id_app_user")),
        sa.ForeignKeyConstraint(["case_id"], ["incident.id"], name=op.f("fk_visit_case_id_incident"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit")),
    )
    op.create_index(op.f("ix_visit_district_code"), "visit", ["district_code"], unique=False)
    op.create_index(op.f("ix_visit_grid_code_visited_at"), "visit", ["grid_code", "visited_at"], unique=False)
    op.create_index(op.f("ix_visit_household_id_visited_at"), "visit", ["household_id", "visited_at"],
                    unique=False)
    op.create_index(op.f("ix_visit_worker_id"), "visit", ["worker_id"], unique=False)

    op.create_table(
        "visit_cadence",
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("tag", sa.String(40), nullable=False),
        sa.Column("days", sa.SmallInteger(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("days BETWEEN 1 AND 366", name=op.f("ck_visit_cadence_days")),
        sa.ForeignKeyConstraint(["updated_by"], ["app_user.id"], name=op.f("fk_visit_cadence_updated_by_app_user"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("district_code", "tag", name=op.f("pk_visit_cadence")),
    )
    values = ", ".join(f"('{tag}', {days})" for tag, days in SEED)
    op.execute(f"INSERT INTO visit_cadence (district_code, tag, days) "
               f"SELECT d.code, s.tag, s.days FROM district d CROSS JOIN (VALUES {values}) AS s(tag, days)")


def downgrade() -> None:
    """Drop both tables (visits recorded are lost with them)."""
    op.drop_table("visit_cadence")
    op.drop_index(op.f("ix_visit_worker_id"), table_name="visit")
    op.drop_index(op.f("ix_visit_household_id_visited_at"), table_name="visit")
    op.drop_index(op.f("ix_visit_grid_code_visited_at"), table_name="visit")
    op.drop_index(op.f("ix_visit_district_code"), table_name="visit")
    op.drop_table("visit")
