"""Departments, summons (吹哨报到), urging (催办/督办), 随手办 and the new case roles (issue 18).

- ``department``: a 职能部门 (``functional``), 成员单位 (``member``) or 驻区单位 (``stationed``) of a
  district, optionally scoped to one street; ``department_category`` lists the case categories it
  handles (routing grid → community → street → department picks it by the case's category).
- ``app_user.department_id`` (a ``department_staff`` user's department) and
  ``app_user.community_code`` (a ``community_officer``'s community).
- ``incident.level`` (who holds the case: grid, community, street or department),
  ``incident.department_id`` (the department it is offered to or claimed by) and
  ``incident.quick_fix`` (随手办: fixed on the spot by the reporter, counted apart);
  ``incident_photo.kind`` (before/after of a 随手办).
- ``case_summons``: one row per department summoned on a case, with its report-in limit and when
  (and by whom) it reported in; ``incident_urging``: one row per 催办/督办, with the person and the
  grid it was aimed at, so both are counted per grid and per person.
- The roles ``supervisor``, ``department_staff``, ``street_officer``, ``community_officer``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Literals: a migration must not change when the application's tables do.
NEW_ROLES = [
    {"code": "supervisor", "name_zh": "监督员", "name_en": "Supervisor"},
    {"code": "department_staff", "name_zh": "部门人员", "name_en": "Department staff"},
    {"code": "street_officer", "name_zh": "街道工作人员", "name_en": "Street officer"},
    {"code": "community_officer", "name_zh": "社区工作人员", "name_en": "Community officer"},
]


def upgrade() -> None:
    """Add departments, summons, urging, case levels, 随手办 and the four roles."""
    role = sa.table("role", sa.column("code", sa.String), sa.column("name_zh", sa.String),
                    sa.column("name_en", sa.String))
    op.bulk_insert(role, NEW_ROLES)

    op.create_table(
        "department",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("street_code", sa.String(9), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('functional', 'member', 'stationed')", name=op.f("ck_department_kind")),
        sa.CheckConstraint("street_code IS NULL OR left(street_code, 6) = district_code",
                           name=op.f("ck_department_street_in_district")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("district_code", "name", name=op.f("uq_department_district_code_name")),
    )
    op.create_index(op.f("ix_department_district_code"), "department", ["district_code"], unique=False)
    op.create_table(
        "department_category",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("category_code", sa.String(20), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"],
                                name=op.f("fk_department_category_department_id_department"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("department_id", "category_code", name=op.f("pk_department_category")),
    )
    op.create_index(op.f("ix_department_category_district_code"), "department_category", ["district_code"],
                    unique=False)
    op.create_index(op.f("ix_department_category_category_code"), "department_category", ["category_code"],
                    unique=False)

    op.add_column("app_user", sa.Column("community_code", sa.String(12), nullable=True))
    op.add_column("app_user", sa.Column("department_id", sa.Integer(), nullable=True))
    op.create_foreign_key(op.f("fk_app_user_department_id_department"), "app_user", "department",
                          ["department_id"], ["id"])
    op.execute("ALTER TABLE app_user ADD CONSTRAINT ck_app_user_community_in_district CHECK (community_code IS NULL "
               "OR (community_code ~ '^[0-9]{12}$' AND district_code IS NOT NULL "
               "AND left(community_code, 6) = district_code))")

    op.add_column("incident", sa.Column("level", sa.String(12), server_default="grid", nullable=False))
    op.add_column("incident", sa.Column("department_id", sa.Integer(), nullable=True))
    op.add_column("incident", sa.Column("quick_fix", sa.Boolean(), server_default="false", nullable=False))
    op.create_check_constraint(op.f("ck_incident_level"), "incident",
                               "level IN ('grid', 'community', 'street', 'department')")
    op.create_foreign_key(op.f("fk_incident_department_id_department"), "incident", "department",
                          ["department_id"], ["id"])
    op.create_index(op.f("ix_incident_department_id"), "incident", ["department_id"], unique=False)
    op.add_column("incident_photo", sa.Column("kind", sa.String(10), nullable=True))
    op.create_check_constraint(op.f("ck_incident_photo_kind"), "incident_photo",
                               "kind IS NULL OR kind IN ('before', 'after')")

    op.create_table(
        "case_summons",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("summoned_by", sa.Integer(), nullable=True),
        sa.Column("summoned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report_in_hours", sa.Float(), nullable=False),
        sa.Column("report_in_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reported_in_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"], name=op.f("fk_case_summons_incident_id_incident")),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"],
                                name=op.f("fk_case_summons_department_id_department")),
        sa.ForeignKeyConstraint(["summoned_by"], ["app_user.id"], name=op.f("fk_case_summons_summoned_by_app_user")),
        sa.ForeignKeyConstraint(["reported_in_by"], ["app_user.id"],
                                name=op.f("fk_case_summons_reported_in_by_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_summons")),
    )
    for column in ("district_code", "incident_id", "department_id"):
        op.create_index(op.f(f"ix_case_summons_{column}"), "case_summons", [column], unique=False)

    op.create_table(
        "incident_urging",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("grid_code", sa.String(15), nullable=True),
        sa.Column("level", sa.String(12), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(20), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('urge', 'supervise')", name=op.f("ck_incident_urging_kind")),
        sa.ForeignKeyConstraint(["incident_id"], ["incident.id"],
                                name=op.f("fk_incident_urging_incident_id_incident")),
        sa.ForeignKeyConstraint(["actor_id"], ["app_user.id"], name=op.f("fk_incident_urging_actor_id_app_user")),
        sa.ForeignKeyConstraint(["department_id"], ["department.id"],
                                name=op.f("fk_incident_urging_department_id_department")),
        sa.ForeignKeyConstraint(["target_user_id"], ["app_user.id"],
                                name=op.f("fk_incident_urging_target_user_id_app_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_urging")),
    )
    for column in ("district_code", "incident_id"):
        op.create_index(op.f(f"ix_incident_urging_{column}"), "incident_urging", [column], unique=False)


def downgrade() -> None:
    """Drop them; users of the four roles become viewers, cases go back to their grids."""
    for column in ("incident_id", "district_code"):
        op.drop_index(op.f(f"ix_incident_urging_{column}"), table_name="incident_urging")
    op.drop_table("incident_urging")
    for column in ("department_id", "incident_id", "district_code"):
        op.drop_index(op.f(f"ix_case_summons_{column}"), table_name="case_summons")
    op.drop_table("case_summons")
    op.drop_constraint(op.f("ck_incident_photo_kind"), "incident_photo", type_="check")
    op.drop_column("incident_photo", "kind")
    op.drop_index(op.f("ix_incident_department_id"), table_name="incident")
    op.drop_constraint(op.f("fk_incident_department_id_department"), "incident", type_="foreignkey")
    op.drop_constraint(op.f("ck_incident_level"), "incident", type_="check")
    for column in ("quick_fix", "department_id", "level"):
        op.drop_column("incident", column)
    op.execute("ALTER TABLE app_user DROP CONSTRAINT ck_app_user_community_in_district")
    op.drop_constraint(op.f("fk_app_user_department_id_department"), "app_user", type_="foreignkey")
    op.drop_column("app_user", "department_id")
    op.drop_column("app_user", "community_code")
    op.drop_index(op.f("ix_department_category_category_code"), table_name="department_category")
    op.drop_index(op.f("ix_department_category_district_code"), table_name="department_category")
    op.drop_table("department_category")
    op.drop_index(op.f("ix_department_district_code"), table_name="department")
    op.drop_table("department")
    codes = ", ".join(f"'{r['code']}'" for r in NEW_ROLES)
    op.execute(f"UPDATE app_user SET role_code = 'viewer' WHERE role_code IN ({codes})")
    op.execute(f"DELETE FROM role WHERE code IN ({codes})")
