"""The new-district flow on every real OpenStreetMap extract we hold, from the OSM file alone.

import → communities suggested for the district → adopted → grids suggested for every
community → adopted; then the stored result is judged twice: by the checker
(``gis.checker``, what adoption and ``wangge check boundaries`` use) and by plain PostGIS
queries that share nothing with the engine or the checker (the reference checks of
``../shared/tools/realdata_flow.py``). OSM data © OpenStreetMap contributors (ODbL).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import rolled_back_session
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.checker import BLOCKING
from gis.services import boundaries as boundary_service
from gis.services import districts as district_service
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.services.checks import check_stored
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
OSM = REPO / "data" / "osm"  # every real extract we hold, with its SOURCES.md (ODbL)
EXTRACTS = [
    (OSM / "cn_nanjing_xinjiekou_2021.osm", "320102"),
    (OSM / "cn_shanghai_wujiaochang_2023.osm", "310110"),
    (OSM / "cn_guangzhou_donghu_2026.osm", "440104"),
    (OSM / "cn_xiamen_gulangyu_2023.osm", "350203"),
    (OSM / "fi_helsinki_centre_2019.osm.pbf", "990901"),
]


def _scalar(session, sql: str, **params) -> int:
    return int(session.execute(text(sql), params).scalar() or 0)


@pytest.mark.slow
@pytest.mark.parametrize(("path", "code"), EXTRACTS, ids=[p.name for p, _ in EXTRACTS])
def test_the_new_district_flow_holds_on_a_real_extract(engine: Engine, path: Path, code: str) -> None:
    assert path.exists(), f"{path} is missing: the real extracts live in data/osm (see its SOURCES.md)"
    settings = Settings()
    with rolled_back_session(engine) as session:
        district_service.import_osm(session, path, district_code=code, name=f"district {code}", settings=settings)
        communities = partition_service.suggest_communities(session, settings, district_code=code)
        adopted = plan_service.adopt_plan(session, communities["plan_id"], reason="real-data flow",
                                          settings=settings, allow_out_of_range=True)
        # A district without streets gets one provisional street, so its communities get codes.
        assert adopted["provisional_street"] == f"{code}001"
        grid_plans = partition_service.suggest_all_grids(session, settings, district_code=code)
        assert len(grid_plans) == len(adopted["units"])
        for plan in grid_plans:
            plan_service.adopt_plan(session, plan["plan_id"], reason="real-data flow", settings=settings,
                                    allow_out_of_range=True)
            assert plan["metrics"]["multipart_units"] == 0, plan["scope_code"]

        # The checker on what is stored: no fault at all, no grid across a barrier.
        grids = boundary_service.current_units(session, "grid", district_code=code)
        parents = boundary_service.current_units(session, "community", district_code=code)
        findings = check_stored(session, settings, grids, parents, child_level="grid")
        kinds = {f.kind for f in findings}
        assert not kinds & (BLOCKING | {"empty_parent", "across_barrier"}), [f.message for f in findings][:5]

        # The same promises in plain PostGIS, sharing nothing with the engine or the checker.
        assert _scalar(session, """
            SELECT count(*) FROM community c WHERE c.district_code = :d AND c.valid_to IS NULL AND NOT EXISTS
            (SELECT 1 FROM grid g WHERE g.valid_to IS NULL AND g.community_code = c.code)""", d=code) == 0
        assert _scalar(session, """
            SELECT count(*) FROM grid WHERE district_code = :d AND valid_to IS NULL
            AND (NOT ST_IsValid(geom) OR ST_NumGeometries(geom) > 1)""", d=code) == 0
        assert _scalar(session, """
            SELECT count(*) FROM (SELECT b.id, max(ST_Area(ST_Intersection(b.geom, g.geom)::geography))
                / nullif(ST_Area(b.geom::geography), 0) AS share
              FROM building b JOIN grid g ON g.district_code = b.district_code AND g.valid_to IS NULL
               AND ST_Intersects(b.geom, g.geom)
              WHERE b.district_code = :d AND b.households > 0 GROUP BY b.id) x WHERE share < 0.95""", d=code) == 0
        # Grids tile their community: the union of a community's grids differs from it by under 1 m².
        assert _scalar(session, """
            SELECT count(*) FROM community c JOIN LATERAL (SELECT ST_Union(g.geom) AS u FROM grid g
              WHERE g.community_code = c.code AND g.valid_to IS NULL) x ON true
            WHERE c.district_code = :d AND c.valid_to IS NULL
              AND ST_Area(ST_SymDifference(c.geom, x.u)::geography) > 1.0""", d=code) == 0
        # Every home is in exactly one grid.
        assert _scalar(session, """
            SELECT count(*) FROM building b WHERE b.district_code = :d AND b.households > 0
              AND (SELECT count(*) FROM grid g WHERE g.valid_to IS NULL AND g.district_code = :d
                   AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))) <> 1""", d=code) == 0
