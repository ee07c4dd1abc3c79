"""Grid and community suggestions on the demo district, stored as draft plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import boundaries as boundary_service
from gis.services import districts as district_service
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
DEMO = REPO / "data" / "boundaries"
SETTINGS = Settings()


@pytest.fixture
def demo(db: Session) -> None:
    district_service.import_osm(db, NANJING, district_code="320102", name="玄武区", settings=SETTINGS)
    boundary_service.import_boundaries(db, DEMO / "xinjiekou_streets.geojson", level="street")
    boundary_service.import_boundaries(db, DEMO / "xinjiekou_communities.geojson", level="community")


def test_every_demo_community_gets_a_suggestion_within_the_hard_constraints(db: Session, demo: None) -> None:
    results = partition_service.suggest_all_grids(db, SETTINGS, district_code="320102")
    assert len(results) == 24
    for result in results:
        m = result["metrics"]
        assert m["multipart_units"] == 0, result["scope_code"]
        # The checker's figure, from the suggested geometry and the stored barriers.
        assert m["main_road_crossings"] == m["check"]["across_barrier"] == 0, result["scope_code"]
        assert m["split_buildings"] == 0, result["scope_code"]
        assert m["gap_m2"] == 0 and m["overlap_m2"] == 0, result["scope_code"]
        flagged = {u for item in m["infeasible"] for u in item["units"]}
        for unit in result["units"]:
            in_range = 300 <= unit["households"] <= 500
            assert in_range or unit["label"] in flagged, (result["scope_code"], unit)
        for item in m["infeasible"]:
            assert item["reason"] in {"below_minimum", "between_bounds", "building_too_large", "no_contiguous_split"}
            assert item["message"] and item["options"]
    # Each run is a draft plan with its units, assignment and metrics.
    plan_ids = [r["plan_id"] for r in results]
    stored = db.execute(text("SELECT count(*) FROM plan WHERE id = ANY(:ids) AND status = 'draft' "
                             "AND kind = 'grid_split'"), {"ids": plan_ids}).scalar_one()
    assert stored == 24
    units = db.execute(text("SELECT count(*) FROM plan_unit WHERE plan_id = ANY(:ids)"), {"ids": plan_ids}).scalar()
    assert units == sum(len(r["units"]) for r in results)
    assigned = db.execute(text("SELECT count(*) FROM plan_assignment WHERE plan_id = ANY(:ids)"),
                          {"ids": plan_ids}).scalar()
    in_communities = db.execute(text("""
        SELECT count(*) FROM building b JOIN community c
          ON c.valid_to IS NULL AND ST_Intersects(c.geom, ST_PointOnSurface(b.geom))""")).scalar()
    assert assigned == in_communities
    metrics = db.execute(text("SELECT metrics FROM plan WHERE id = :id"), {"id": plan_ids[0]}).scalar_one()
    assert metrics["gap_m2"] == 0 and "polsby_popper_mean" in metrics


def test_adopt_then_keep_current_after_growth_moves_fewer_households(db: Session, demo: None) -> None:
    code = "320102003009"
    first = partition_service.suggest_grids(db, SETTINGS, community_code=code)
    plan_service.adopt_plan(db, first["plan_id"], reason="first grid plan", settings=SETTINGS)
    grids = boundary_service.current_units(db, "grid")
    assert len(grids[grids["parent_code"] == code]) == len(first["units"])

    # 40% more households in the north-west quarter of the community (new towers).
    db.execute(text("""
        WITH c AS (SELECT geom, ST_Centroid(geom) AS mid FROM community WHERE code = :c AND valid_to IS NULL)
        UPDATE building b SET households = round(b.households * 1.4)
        FROM c WHERE ST_Intersects(c.geom, ST_PointOnSurface(b.geom))
          AND ST_X(ST_Centroid(b.geom)) < ST_X(c.mid) AND ST_Y(ST_Centroid(b.geom)) > ST_Y(c.mid)"""), {"c": code})
    fresh = partition_service.suggest_grids(db, SETTINGS, community_code=code, seed=1)
    kept = partition_service.suggest_grids(db, SETTINGS, community_code=code, seed=1, keep_current=True)
    assert fresh["metrics"]["households_moved"] is not None
    assert kept["metrics"]["households_moved"] < fresh["metrics"]["households_moved"]
    assert kept["metrics"]["in_range_share_feasible_areas"] == 1.0


def test_locked_grid_is_kept_as_it_is(db: Session, demo: None) -> None:
    code = "320102003010"
    first = partition_service.suggest_grids(db, SETTINGS, community_code=code)
    plan_service.adopt_plan(db, first["plan_id"], reason="first grid plan", settings=SETTINGS)
    locked = db.execute(text("SELECT code, ST_AsText(geom) FROM grid WHERE community_code = :c AND valid_to IS NULL "
                             "ORDER BY code LIMIT 1"), {"c": code}).one()
    again = partition_service.suggest_grids(db, SETTINGS, community_code=code, locked=(locked[0],), seed=4)
    kept = [u for u in again["units"] if u["code"] == locked[0]]
    assert len(kept) == 1 and kept[0]["status"] == "fixed"
    same = db.execute(text("""
        SELECT ST_Equals(pu.geom, ST_GeomFromText(:g, 4490)) FROM plan_unit pu
        WHERE pu.plan_id = :p AND pu.code = :code"""), {"g": locked[1], "p": again["plan_id"], "code": locked[0]})
    assert same.scalar_one() is True
    with pytest.raises(NotFound, match="320102003010999"):
        partition_service.suggest_grids(db, SETTINGS, community_code=code, locked=("320102003010999",))


def test_community_redraw_inside_a_street(db: Session, demo: None) -> None:
    result = partition_service.suggest_communities(db, SETTINGS, street_code="320102002")
    m = result["metrics"]
    assert result["kind"] == "community_redraw"
    assert m["multipart_units"] == 0 and m["gap_m2"] == 0 and m["overlap_m2"] == 0
    assert m["main_road_crossings"] == 0
    assert m["households_moved"] is not None  # compared with the street's current communities
    flagged = {u for item in m["infeasible"] for u in item["units"]}
    for unit in result["units"]:
        assert 1000 <= unit["households"] <= 3000 or unit["label"] in flagged


def test_bad_requests_name_what_is_wrong(db: Session, demo: None) -> None:
    with pytest.raises(NotFound, match="320102009009"):
        partition_service.suggest_grids(db, SETTINGS, community_code="320102009009")
    with pytest.raises(InvalidInput, match="min"):
        partition_service.suggest_grids(db, SETTINGS, community_code="320102003010", lo=500, hi=300)
    with pytest.raises(InvalidInput, match="current"):
        partition_service.suggest_grids(db, SETTINGS, community_code="320102003010", keep_current=True)
    with pytest.raises(InvalidInput, match="exactly one"):
        partition_service.suggest_communities(db, SETTINGS)
