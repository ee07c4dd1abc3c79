"""Approvals (issue 19): the chain a plan goes through, street scope of users, provisional community codes.

A plan moves draft → proposed (by a street) → reviewed (by the district) → approved (with the
document number, 批复文号) → adopted; every step is a row of ``plan_approval``. A user may be
scoped to one street (``app_user.street_code``), the scope that proposes. A community code given
out by a plan is provisional until the statistics bureau confirms it (``community_code``); codes
imported with their boundaries have no row there and count as confirmed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('draft', 'adopted', 'archived')"
NEW_STATUSES = "status IN ('draft', 'proposed', 'reviewed', 'approved', 'adopted', 'archived')"


def upgrade() -> None:
    """Add the approval chain, street-scoped users and community code status."""
    # Plain SQL: the names are final, and alembic would run them through the naming convention again.
    op.execute(f"ALTER TABLE plan DROP CONSTRAINT ck_plan_status, "
               f"ADD CONSTRAINT ck_plan_status CHECK ({NEW_STATUSES})")
    op.add_column("plan", sa.Column("document_no", sa.String(100), nullable=True))

    op.create_table(
        "plan_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("step", sa.String(10), nullable=False),
        sa.Column("from_status", sa.String(10), nullable=False),
        sa.Column("to_status", sa.String(10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("document_no", sa.String(100), nullable=True),
        sa.CheckConstraint("step IN ('propose', 'review', 'approve', 'return', 'adopt')",
                           name=op.f("ck_plan_approval_step")),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"], name=op.f("fk_plan_approval_plan_id_plan"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"], name=op.f("fk_plan_approval_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_approval")),
    )
    op.create_index(op.f("ix_plan_approval_plan_id"), "plan_approval", ["plan_id"], unique=False)
    op.create_index(op.f("ix_plan_approval_district_code"), "plan_approval", ["district_code"], unique=False)

    op.add_column("app_user", sa.Column("street_code", sa.String(9), nullable=True))
    op.execute("ALTER TABLE app_user ADD CONSTRAINT ck_app_user_street_in_district CHECK (street_code IS NULL OR "
               "(street_code ~ '^[0-9]{9}$' AND district_code IS NOT NULL AND left(street_code, 6) = district_code))")

    op.create_table(
        "community_code",
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("status", sa.String(12), server_default="provisional", nullable=False),
        sa.Column("committee", sa.String(15), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('provisional', 'confirmed')", name=op.f("ck_community_code_status")),
        sa.CheckConstraint("committee IN ('neighbourhood', 'village')", name=op.f("ck_community_code_committee")),
        sa.ForeignKeyConstraint(["plan_id"], ["plan.id"], name=op.f("fk_community_code_plan_id_plan")),
        sa.ForeignKeyConstraint(["confirmed_by"], ["app_user.id"],
                                name=op.f("fk_community_code_confirmed_by_app_user")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_community_code")),
    )
    op.create_index(op.f("ix_community_code_district_code"), "community_code", ["district_code"], unique=False)


def downgrade() -> None:
    """Drop them; plans inside the chain go back to draft."""
    op.drop_index(op.f("ix_community_code_district_code"), table_name="community_code")
    op.drop_table("community_code")
    op.execute("ALTER TABLE app_user DROP CONSTRAINT ck_app_user_street_in_district")
    op.drop_column("app_user", "street_code")
    op.drop_index(op.f("ix_plan_approval_district_code"), table_name="plan_approval")
    op.drop_index(op.f("ix_plan_approval_plan_id"), table_name="plan_approval")
    op.drop_table("plan_approval")
    op.drop_column("plan", "document_no")
    op.execute("UPDATE plan SET status = 'draft' WHERE status IN ('proposed', 'reviewed', 'approved')")
    op.execute(f"ALTER TABLE plan DROP CONSTRAINT ck_plan_status, "
               f"ADD CONSTRAINT ck_plan_status CHECK ({OLD_STATUSES})")
