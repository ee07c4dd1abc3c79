"""Grid levels and party structure (issue 19).

- ``plan.kind`` admits ``micro_split``: level-2 grids (微网格) suggested inside one level-1 grid,
  adopted like grid plans (``gis.services.levels``).
- ``grid_contact``: building and unit heads (楼栋长/单元长) of level-2 grids; the phone is stored as
  given and only ever shown masked (``gis.services.privacy.mask_phone``).
- ``resident.party_probationary``: 预备党员; the seed rule "a branch needs at least 3 full members"
  counts only members who are not probationary.
- At most one current party branch (网格党支部) per grid.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 19:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = "kind IN ('grid_split', 'community_redraw', 'manual_edit', 'import')"
_KINDS_AFTER = "kind IN ('grid_split', 'community_redraw', 'manual_edit', 'import', 'micro_split')"


def upgrade() -> None:
    """Add micro_split plans, grid contacts, probationary members and one branch per grid."""
    op.drop_constraint(op.f("ck_plan_kind"), "plan", type_="check")
    op.create_check_constraint(op.f("ck_plan_kind"), "plan", _KINDS_AFTER)
    op.add_column("resident", sa.Column("party_probationary", sa.Boolean(), server_default="false", nullable=False))
    op.create_index("uq_party_org_grid_branch", "party_org", ["grid_code"], unique=True,
                    postgresql_where=sa.text("kind = 'grid_branch'"))
    op.create_table(
        "grid_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("building_id", sa.BigInteger(), nullable=True),
        sa.Column("unit", sa.String(length=20), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('building_head', 'unit_head')", name=op.f("ck_grid_contact_role")),
        sa.ForeignKeyConstraint(["building_id"], ["building.id"], name=op.f("fk_grid_contact_building_id_building"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_contact")),
    )
    op.create_index(op.f("ix_grid_contact_district_code"), "grid_contact", ["district_code"], unique=False)
    op.create_index(op.f("ix_grid_contact_grid_code"), "grid_contact", ["grid_code"], unique=False)


def downgrade() -> None:
    """Drop what ``upgrade`` added; micro_split plans are deleted first (the old check refuses them)."""
    op.drop_index(op.f("ix_grid_contact_grid_code"), table_name="grid_contact")
    op.drop_index(op.f("ix_grid_contact_district_code"), table_name="grid_contact")
    op.drop_table("grid_contact")
    op.drop_index("uq_party_org_grid_branch", table_name="party_org")
    op.drop_column("resident", "party_probationary")
    op.execute("DELETE FROM plan WHERE kind = 'micro_split'")
    op.drop_constraint(op.f("ck_plan_kind"), "plan", type_="check")
    op.create_check_constraint(op.f("ck_plan_kind"), "plan", _KINDS_BEFORE)
