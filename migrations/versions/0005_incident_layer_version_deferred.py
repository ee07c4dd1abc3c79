"""Incident layer versions bumped at commit: a deferred row trigger instead of statement triggers.

The statement triggers of 0003 update one ``layer_version`` row per (table, district) inside
the writing transaction and hold its lock until commit: every incident report and every case
step in a district then waited on that one row for the whole request (measured with
bench/load.py: at 50 clients the pool filled with inserts queued on the lock). Incidents are
the one tile source written many times a minute, in small transactions, so their bump moves to
a deferred constraint trigger: it runs at commit, and the lock lives for microseconds. Bulk
sources (buildings, walk network) keep their one-upsert-per-statement triggers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP_ROW = """
CREATE FUNCTION wangge_bump_layer_version_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layer_version AS lv (source, district_code, version)
    SELECT TG_TABLE_NAME, d, 1 FROM (
        SELECT CASE WHEN TG_OP = 'DELETE' THEN OLD.district_code ELSE NEW.district_code END AS d
        UNION SELECT OLD.district_code WHERE TG_OP = 'UPDATE') s
    WHERE d IS NOT NULL
    ON CONFLICT (source, district_code) DO UPDATE SET version = lv.version + 1, changed_at = now();
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    for suffix in ("ins", "upd", "del"):
        op.execute(f"DROP TRIGGER IF EXISTS incident_layer_version_{suffix} ON incident")
    op.execute(BUMP_ROW)
    op.execute("CREATE CONSTRAINT TRIGGER incident_layer_version AFTER INSERT OR UPDATE OR DELETE ON incident "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wangge_bump_layer_version_row()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS incident_layer_version ON incident")
    op.execute("DROP FUNCTION IF EXISTS wangge_bump_layer_version_row()")
    op.execute("CREATE TRIGGER incident_layer_version_ins AFTER INSERT ON incident REFERENCING NEW TABLE AS "
               "new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
    op.execute("CREATE TRIGGER incident_layer_version_upd AFTER UPDATE ON incident REFERENCING OLD TABLE AS "
               "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
    op.execute("CREATE TRIGGER incident_layer_version_del AFTER DELETE ON incident REFERENCING OLD TABLE AS "
               "old_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
