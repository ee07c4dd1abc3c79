"""Coverage network versions (issue 20): layer_version triggers for every table the walk network reads,
and a shared table of prepared networks.

The coverage service keeps a district's prepared walk network (graph, attached buildings) keyed by
the ``layer_version`` rows of the tables it is built from. ``building`` and ``walk_edge`` have had
their triggers since 0003; the nodes, barriers and compound gates get the same statement-level
triggers here. Residents decide which buildings are residential (a building with no recorded
households but registered residents counts), so ``resident`` bumps its row on INSERT, DELETE and
TRUNCATE, and on an UPDATE only when a row's building or district changes: editing a phone number
does not throw away a prepared network.

``coverage_network_cache`` holds one prepared network per (district, key) as a numpy archive, so
a network is prepared once per version for every server process, not once per process. It is a
cache: any row may be deleted at any time.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables the prepared network reads that 0003 left without triggers (0003's function serves them).
SOURCES = ("walk_node", "barrier", "compound_gate")

# Only a change of a resident's building or district can change which buildings are residential.
RESIDENT_MOVED = """
CREATE FUNCTION wangge_bump_resident_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layer_version AS lv (source, district_code, version)
    SELECT TG_TABLE_NAME, d, 1 FROM (
        SELECT n.district_code AS d FROM new_rows n JOIN old_rows o USING (id)
        WHERE n.building_id IS DISTINCT FROM o.building_id OR n.district_code IS DISTINCT FROM o.district_code
        UNION
        SELECT o.district_code FROM new_rows n JOIN old_rows o USING (id)
        WHERE n.building_id IS DISTINCT FROM o.building_id OR n.district_code IS DISTINCT FROM o.district_code) s
    ON CONFLICT (source, district_code) DO UPDATE SET version = lv.version + 1, changed_at = now();
    RETURN NULL;
END $$;
"""


def _statement_triggers(table: str, events: Sequence[str]) -> None:
    for event in events:
        if event == "ins":
            op.execute(f"CREATE TRIGGER {table}_layer_version_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS "
                       "new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        elif event == "upd":
            op.execute(f"CREATE TRIGGER {table}_layer_version_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS "
                       "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        elif event == "del":
            op.execute(f"CREATE TRIGGER {table}_layer_version_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS "
                       "old_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")
        else:
            op.execute(f"CREATE TRIGGER {table}_layer_version_trunc AFTER TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_layer_version()")


def upgrade() -> None:
    """Add the missing layer_version triggers and the prepared-network cache table."""
    for table in SOURCES:
        _statement_triggers(table, ("ins", "upd", "del", "trunc"))
    _statement_triggers("resident", ("ins", "del", "trunc"))
    op.execute(RESIDENT_MOVED)
    op.execute("CREATE TRIGGER resident_layer_version_upd AFTER UPDATE ON resident REFERENCING OLD TABLE AS "
               "old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION wangge_bump_resident_moved()")

    op.create_table(
        "coverage_network_cache",
        sa.Column("district_code", sa.String(length=6), nullable=False),
        sa.Column("network_key", sa.String(length=400), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("prepare_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("district_code", "network_key", name=op.f("pk_coverage_network_cache")),
    )
    # The archive is already dense binary: compressing it costs every cold read time and saves little.
    op.execute("ALTER TABLE coverage_network_cache ALTER COLUMN payload SET STORAGE EXTERNAL")


def downgrade() -> None:
    """Drop the cache table and the triggers (0003's function stays: its own tables still use it)."""
    op.drop_table("coverage_network_cache")
    op.execute("DROP TRIGGER IF EXISTS resident_layer_version_upd ON resident")
    op.execute("DROP FUNCTION IF EXISTS wangge_bump_resident_moved()")
    for table in (*SOURCES, "resident"):
        for suffix in ("ins", "upd", "del", "trunc"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_version_{suffix} ON {table}")
    op.execute("DELETE FROM layer_version WHERE source IN ('walk_node', 'barrier', 'compound_gate', 'resident')")
