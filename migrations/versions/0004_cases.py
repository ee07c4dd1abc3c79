"""The case loop (issue 7): what the workflow needs on incidents, events and photos.

- ``incident.category_code``: the catalogue code (``E0101``; Open311 ``service_code``), null for
  cases filed by category name only; ``incident.area`` picks the verification limit (urban 1 h,
  rural 2 h); ``incident.handler_id`` is who holds the case now (the log says who held it before).
- ``incident_event``: the actor's role (``system`` and ``citizen`` act without a user id), the
  handler an action assigned, the satisfaction score of an evaluation, and a ``detail`` document
  (the verifier's distance from the case, duplicate candidates at report). The log stays
  append-only (the trigger of 0001 covers the new columns too).
- ``incident_photo.uploaded_by``: who attached a photo.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("category_code", sa.String(length=20), nullable=True))
    op.add_column("incident", sa.Column("area", sa.String(length=10), server_default="urban", nullable=False))
    op.add_column("incident", sa.Column("handler_id", sa.Integer(), nullable=True))
    op.create_check_constraint(op.f("ck_incident_area"), "incident", "area IN ('urban', 'rural')")
    op.create_foreign_key(op.f("fk_incident_handler_id_app_user"), "incident", "app_user", ["handler_id"], ["id"])
    op.add_column("incident_event", sa.Column("actor_role", sa.String(length=20), nullable=True))
    op.add_column("incident_event", sa.Column("handler_id", sa.Integer(), nullable=True))
    op.add_column("incident_event", sa.Column("satisfaction", sa.SmallInteger(), nullable=True))
    op.add_column("incident_event", sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_foreign_key(op.f("fk_incident_event_handler_id_app_user"), "incident_event", "app_user",
                          ["handler_id"], ["id"])
    op.add_column("incident_photo", sa.Column("uploaded_by", sa.Integer(), nullable=True))
    op.create_foreign_key(op.f("fk_incident_photo_uploaded_by_app_user"), "incident_photo", "app_user",
                          ["uploaded_by"], ["id"])


def downgrade() -> None:
    op.drop_constraint(op.f("fk_incident_photo_uploaded_by_app_user"), "incident_photo", type_="foreignkey")
    op.drop_column("incident_photo", "uploaded_by")
    op.drop_constraint(op.f("fk_incident_event_handler_id_app_user"), "incident_event", type_="foreignkey")
    for column in ("detail", "satisfaction", "handler_id", "actor_role"):
        op.drop_column("incident_event", column)
    op.drop_constraint(op.f("fk_incident_handler_id_app_user"), "incident", type_="foreignkey")
    op.drop_constraint(op.f("ck_incident_area"), "incident", type_="check")
    for column in ("handler_id", "area", "category_code"):
        op.drop_column("incident", column)
