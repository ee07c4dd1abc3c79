"""Layer versions for vector tiles: a counter per source table and district, bumped by triggers.

A tile's ETag is built from the versions of the tables its layer reads, so an edit (a new grid
version, a moved facility, a new coverage run or incident) is visible at once while unchanged
tiles stay cached. Statement-level triggers with transition tables bump one row per district a
statement touched: a bulk COPY of 100,000 buildings costs one upsert, not 100,000. PostgreSQL
allows transition tables on single-event triggers only, hence one trigger per event.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables tile layers are drawn from (gis/services/tiles.py names which layer reads which).
SOURCES = ("community", "grid", "building", "walk_edge", "facility", "incident", "coverage_run")

BUMP = """
CREATE FUNCTION wangge_bump_layer_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE layer_version SET version = version + 1, changed_at = now() WHERE source = TG_TABLE_NAME;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO layer_version AS lv (source, district_code, version)
        SELECT TG_TABLE_NAME, d, 1 FROM (SELECT DISTINCT district_code AS d FROM new_rows) s
        ON CONFLICT (source, district_code) DO UPDATE SET version = lv.version + 1, changed_at = now();
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO layer_version AS lv (source, district_code, version)
        SELECT TG_TABLE_NAME, d, 1 FROM (SELECT DISTINCT district_code AS d FROM old_rows) s
        ON CONFLICT (source, district_code) DO UPDATE SET version = lv.version + 1, changed_at = now();
    ELSE
        INSERT INTO layer_version AS lv (source, district_code, version)
        SELECT TG_TABLE_NAME, d, 1 FROM (SELECT district_code AS d FROM new_rows
                                         UNION SELECT district_code FROM old_rows) s
        ON CONFLICT (source, district_code) DO UPDATE SET version = lv.version + 1, changed_at = now();
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.create_table(
        "layer_version",
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("source", "district_code", name=op.f("pk_layer_version")),
    )
    op.execute(BUMP)
    for table in SOURCES:
        op.execute(f"CREATE TRIGGER {table}_layer_version_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS "
                   "new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        op.execute(f"CREATE TRIGGER {table}_layer_version_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS "
                   "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        op.execute(f"CREATE TRIGGER {table}_layer_version_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS "
                   "old_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        op.execute(f"CREATE TRIGGER {table}_layer_version_trunc AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")


def downgrade() -> None:
    for table in SOURCES:
        for suffix in ("ins", "upd", "del", "trunc"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_version_{suffix} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS wangge_bump_layer_version()")
    op.drop_table("layer_version")
