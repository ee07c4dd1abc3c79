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


def test_a_building_over_the_maximum_is_divided_by_its_registered_entrances(db: Session, demo: None) -> None:
    big = db.execute(text("""
        SELECT b.id, b.households, c.code FROM building b
        JOIN community c ON c.valid_to IS NULL AND ST_Contains(c.geom, ST_PointOnSurface(b.geom))
        WHERE b.households > 500 ORDER BY b.households DESC, b.id LIMIT 1""")).one()
    # The address register names four entrances; two have households recorded, two only dwellings.
    sizes = {"1单元": 120, "2单元": 260, "3单元": 230, "10单元": 190}
    for unit, n in sizes.items():
        db.execute(text("""INSERT INTO dwelling (district_code, building_id, unit, room)
                           SELECT '320102', :b, :u, g::text FROM generate_series(1, :n) g"""),
                   {"b": big.id, "u": unit, "n": n})
    db.execute(text("""INSERT INTO household (district_code, building_id, dwelling_id, size)
                       SELECT '320102', :b, d.id, 2 FROM dwelling d
                       WHERE d.building_id = :b AND d.unit IN ('1单元', '2单元')"""), {"b": big.id})
    result = partition_service.suggest_grids(db, SETTINGS, community_code=big.code)
    (item,) = [i for i in result["metrics"]["infeasible"] if i["reason"] == "building_too_large"
               and i["households"] == big.households]
    # Entrances in their numbered order (10单元 last); 1+2 = 380 and 3+10 = 420 is the grouping nearest 400.
    assert item["entrances"]["parts"] == [
        {"units": ["1单元", "2单元"], "label": "1单元–2单元", "households": 380},
        {"units": ["3单元", "10单元"], "label": "3单元–10单元", "households": 420},
    ]
    assert item["options"][0].startswith("divide the building by 单元 into 2 grids")
    stored = db.execute(text("SELECT metrics FROM plan WHERE id = :id"), {"id": result["plan_id"]}).scalar_one()
    assert any(i.get("entrances", {}).get("divisible") for i in stored["infeasible"])


def test_entrances_are_grouped_in_order_within_bounds_or_not_at_all() -> None:
    from gis.partition.entrances import divide_by_entrances

    parts = divide_by_entrances([("3单元", 300), ("1单元", 150), ("2单元", 200)], 300, 500)
    assert [(p.units, p.households) for p in parts] == [(("1单元", "2单元"), 350), (("3单元",), 300)]
    assert divide_by_entrances([("1单元", 600), ("2单元", 400)], 300, 500) is None  # one entrance over the maximum
    assert divide_by_entrances([("1单元", 700)], 300, 500) is None
