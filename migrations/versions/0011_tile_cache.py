"""Tile cache (issue 20): rendered vector tiles shared by every server process, and change notices.

``tile_cache`` holds each rendered tile once per (layer version, tile, scope, statement): a
tile of a given layer version never changes, so any process may serve a row another drew.
Rows of older versions are deleted as new ones are drawn. The table is UNLOGGED: it is a
cache, so a crash that empties it costs re-rendering only, and its writes skip the WAL (a cold
tile's commit does not wait for a flush).

Each process also keeps tiles, layer versions and signed-in users in memory; it learns that
they changed by LISTEN: ``layer_version`` changes notify ``wangge_layer_version`` (payload: the
source table), user and grid-assignment changes notify ``wangge_principal`` (payload: the user
id). NOTIFY is delivered at commit, and identical notices of one transaction are sent once, so a
bulk import costs one notice per source.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFY_LAYER = """
CREATE FUNCTION wangge_notify_layer_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wangge_layer_version', CASE WHEN TG_OP = 'DELETE' THEN OLD.source ELSE NEW.source END);
    RETURN NULL;
END $$;
"""

NOTIFY_PRINCIPAL = """
CREATE FUNCTION wangge_notify_principal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'app_user' THEN
        PERFORM pg_notify('wangge_principal', OLD.id::text);
    ELSE
        PERFORM pg_notify('wangge_principal', CASE WHEN TG_OP = 'DELETE' THEN OLD.user_id ELSE NEW.user_id END::text);
        IF TG_OP = 'UPDATE' AND NEW.user_id <> OLD.user_id THEN
            PERFORM pg_notify('wangge_principal', OLD.user_id::text);
        END IF;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    """Add ``tile_cache`` and the triggers that notify listeners of layer and user changes."""
    op.create_table(
        "tile_cache",
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("layer", sa.String(length=40), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("z", sa.SmallInteger(), nullable=False),
        sa.Column("x", sa.Integer(), nullable=False),
        sa.Column("y", sa.Integer(), nullable=False),
        sa.Column("scope", sa.Text(), server_default="", nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_tile_cache")),
        prefixes=["UNLOGGED"],
    )
    op.create_index(op.f("ix_tile_cache_layer_version"), "tile_cache", ["layer", "version"], unique=False)
    op.execute(NOTIFY_LAYER)
    op.execute("CREATE TRIGGER layer_version_notify AFTER INSERT OR UPDATE OR DELETE ON layer_version "
               "FOR EACH ROW EXECUTE FUNCTION wangge_notify_layer_version()")
    op.execute(NOTIFY_PRINCIPAL)
    op.execute("CREATE TRIGGER app_user_notify AFTER UPDATE OR DELETE ON app_user "
               "FOR EACH ROW EXECUTE FUNCTION wangge_notify_principal()")
    op.execute("CREATE TRIGGER grid_assignment_notify AFTER INSERT OR UPDATE OR DELETE ON grid_assignment "
               "FOR EACH ROW EXECUTE FUNCTION wangge_notify_principal()")


def downgrade() -> None:
    """Drop them."""
    op.execute("DROP TRIGGER IF EXISTS grid_assignment_notify ON grid_assignment")
    op.execute("DROP TRIGGER IF EXISTS app_user_notify ON app_user")
    op.execute("DROP FUNCTION IF EXISTS wangge_notify_principal()")
    op.execute("DROP TRIGGER IF EXISTS layer_version_notify ON layer_version")
    op.execute("DROP FUNCTION IF EXISTS wangge_notify_layer_version()")
    op.drop_index(op.f("ix_tile_cache_layer_version"), table_name="tile_cache")
    op.drop_table("tile_cache")
