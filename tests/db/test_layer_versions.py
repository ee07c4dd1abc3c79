"""Tile layer versions: incident writes bump at commit and never queue behind each other."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

INSERT = """INSERT INTO incident (district_code, category_class, category, source, geom)
            VALUES ('999001', 'event', '市容环境', 'patrol', ST_GeomFromText('POINT(118.78 32.04)', 4490))"""


def _version(conn) -> int:  # type: ignore[no-untyped-def]
    return conn.execute(text("SELECT COALESCE(max(version), 0) FROM layer_version "
                             "WHERE source = 'incident' AND district_code = '999001'")).scalar_one()


def test_two_open_incident_reports_do_not_wait_for_each_other(engine: Engine) -> None:
    with engine.connect() as first, engine.connect() as second:
        first.execute(text(INSERT))
        second.execute(text("SET LOCAL lock_timeout = '2s'"))
        second.execute(text(INSERT))  # with a lock held until commit this would time out
        before = _version(first)
        # Deferred: the bump happens when the constraint fires (at commit, or when made immediate).
        first.execute(text("SET CONSTRAINTS incident_layer_version IMMEDIATE"))
        assert _version(first) == before + 1
        first.rollback()
        second.rollback()
