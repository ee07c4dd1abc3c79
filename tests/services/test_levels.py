"""Level-2 grids (微网格) on the demo district: suggested inside a grid, adopted, checked against their parent only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput
from gis.services import boundaries as boundary_service
from gis.services import districts as district_service
from gis.services import levels as level_service
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.services.users import SYSTEM
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
DEMO = REPO / "data" / "boundaries"
SETTINGS = Settings()
COMMUNITY = "320102001005"  # 明瓦廊社区


@pytest.fixture
def grid(db: Session) -> str:
    """The demo's 明瓦廊 community with its suggested grids adopted; returns the grid with the most buildings."""
    district_service.import_osm(db, NANJING, district_code="320102", name="玄武区", settings=SETTINGS)
    boundary_service.import_boundaries(db, DEMO / "xinjiekou_streets.geojson", level="street")
    boundary_service.import_boundaries(db, DEMO / "xinjiekou_communities.geojson", level="community")
    suggestion = partition_service.suggest_grids(db, SETTINGS, community_code=COMMUNITY)
    plan_service.adopt_plan(db, suggestion["plan_id"], reason="test grids", settings=SETTINGS,
                            allow_out_of_range=True)
    return db.execute(text("""
        SELECT g.code FROM grid g JOIN building b ON ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.valid_to IS NULL AND g.community_code = :c AND b.households > 0
        GROUP BY g.code ORDER BY count(*) DESC, g.code LIMIT 1"""), {"c": COMMUNITY}).scalar_one()


def _findings(db: Session) -> list[str]:
    return boundary_service.check_boundaries(db, SETTINGS)["findings"]


def test_a_level_2_split_tiles_its_parent_and_adds_no_overlap(db: Session, grid: str) -> None:
    before = _findings(db)
    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid, hi=100)
    units = result["units"]
    assert len(units) >= 2
    flagged = {f["label"] for f in result["metrics"]["flagged"]}
    for unit in units:
        assert unit["households"] <= 100 or (unit["label"] in flagged and unit["buildings"] == 1), unit
    # The checker on the suggestion against its parent grid: nothing but the flagged large buildings.
    check = result["metrics"]["check"]
    assert {k: n for k, n in check.items() if n and k != "households_above"} == {}
    assert check["households_above"] == len(flagged)

    adopted = plan_service.adopt_plan(db, result["plan_id"], reason="微网格划分 test", settings=SETTINGS)
    assert adopted["status"] == "adopted" and len(adopted["grids"]) == len(units)
    rows = db.execute(text("""
        SELECT count(*), bool_and(level = 2 AND parent_grid_code = :p AND community_code = :c),
               ST_Area(ST_SymDifference(ST_Union(geom), (SELECT geom FROM grid WHERE code = :p AND valid_to IS NULL))
                       ::geography)
        FROM grid WHERE parent_grid_code = :p AND valid_to IS NULL"""), {"p": grid, "c": COMMUNITY}).one()
    assert rows[0] == len(units) and rows[1]
    assert rows[2] < 1.0  # m²: the level-2 grids tile their parent exactly
    # New codes in the community, after every code ever used there.
    level1 = set(db.scalars(text("SELECT code FROM grid WHERE community_code = :c AND level = 1 AND valid_to IS NULL"),
                            {"c": COMMUNITY}))
    assert all(g["code"][:12] == COMMUNITY and g["code"] > max(level1) for g in adopted["grids"])

    report = boundary_service.check_boundaries(db, SETTINGS)
    assert report["level_2_grids"] == len(units)
    after = report["findings"]
    assert not any("overlap" in f for f in after), after
    new = [f for f in after if f not in before]
    # Only the flagged buildings over the maximum, reported against the level-2 bound.
    assert len(new) == len(flagged) and all("above" in f or "more than" in f or "maximum" in f for f in new), new


def test_a_second_split_replaces_the_first_and_a_stale_plan_is_refused(db: Session, grid: str) -> None:
    first = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid, hi=100)
    second = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid, hi=60)
    plan_service.adopt_plan(db, first["plan_id"], reason="first", settings=SETTINGS)
    with pytest.raises(Conflict, match="stale"):
        plan_service.adopt_plan(db, second["plan_id"], reason="second", settings=SETTINGS)
    third = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid, hi=60)
    out = plan_service.adopt_plan(db, third["plan_id"], reason="third", settings=SETTINGS)
    assert sorted(out["retired"]) == sorted(g["code"] for g in db.execute(text(
        "SELECT code FROM plan_unit WHERE plan_id = :p"), {"p": first["plan_id"]}).mappings())
    current = db.scalar(text("SELECT count(*) FROM grid WHERE parent_grid_code = :p AND valid_to IS NULL"), {"p": grid})
    assert current == len(third["units"])
    assert not any("overlap" in f for f in _findings(db))
    # A level-2 grid has no level-2 grids of its own.
    with pytest.raises(InvalidInput, match="level-2"):
        level_service.suggest_micro_grids(db, SETTINGS, grid_code=out["grids"][0]["code"])


def test_building_heads_on_level_2_grids_with_masked_phones(db: Session, grid: str) -> None:
    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid)
    micro = plan_service.adopt_plan(db, result["plan_id"], reason="heads", settings=SETTINGS)["grids"][0]["code"]
    head = level_service.add_contact(db, SYSTEM, grid_code=micro, role="building_head", name="王芳",
                                     phone="138-1234-5678")
    assert head["phone_masked"] == "138****5678" and head["role_zh"] == "楼栋长"
    with pytest.raises(InvalidInput, match="level-1"):
        level_service.add_contact(db, SYSTEM, grid_code=grid, role="building_head", name="李四")
    listed = level_service.list_contacts(db, SYSTEM, grid_code=grid, reason="test")
    assert [(c["grid_code"], c["name"], c["phone_masked"]) for c in listed] == [(micro, "王芳", "138****5678")]
    assert "13812345678" not in str(listed)
    read = db.execute(text("SELECT detail FROM audit_log WHERE entity = 'grid_contact' AND action = 'read' "
                           "ORDER BY id DESC LIMIT 1")).scalar_one()
    assert read["ids"] == [str(head["id"])]


def test_a_building_over_the_maximum_is_a_flagged_micro_grid_of_its_own(db: Session, grid: str) -> None:
    big = db.execute(text("""
        SELECT b.id FROM building b JOIN grid g ON g.code = :g AND g.valid_to IS NULL
          AND ST_Contains(g.geom, ST_PointOnSurface(b.geom)) WHERE b.households > 0
        ORDER BY b.households DESC, b.id LIMIT 1"""), {"g": grid}).scalar_one()
    db.execute(text("UPDATE building SET households = 150, households_source = 'recorded' WHERE id = :b"), {"b": big})
    before = _findings(db)
    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid, hi=100)
    flagged = result["metrics"]["flagged"]
    assert [(f["households"], f["reason"]) for f in flagged] == [(150, "building_too_large")]
    assert "超过上限 100 户" in flagged[0]["reason_text_zh"]
    alone = [u for u in result["units"] if u["flagged"]]
    assert [(u["households"], u["buildings"]) for u in alone] == [(150, 1)]
    plan_service.adopt_plan(db, result["plan_id"], reason="flagged", settings=SETTINGS)
    new = [f for f in _findings(db) if f not in before]
    assert len(new) == 1 and "150 households, above the maximum of 100" in new[0], new


def test_cases_and_residents_stay_with_the_level_1_grid(db: Session, grid: str) -> None:
    from gis.services import cases as case_service
    from gis.services import privacy

    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid)
    micro = plan_service.adopt_plan(db, result["plan_id"], reason="routing", settings=SETTINGS)["grids"][0]["code"]
    lon, lat, building = db.execute(text("""
        SELECT ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)), b.id FROM building b
        JOIN grid g ON g.code = :m AND g.valid_to IS NULL AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        ORDER BY b.id LIMIT 1"""), {"m": micro}).one()
    where = case_service.locate_point(db, lon=lon, lat=lat)
    assert (where["grid_code"], where["rule"]) == (grid, "inside")
    assert privacy.grid_of_buildings(db, [building]) == {building: grid}


def test_a_level_2_plan_is_listed_and_shown_like_a_grid_plan(db: Session, grid: str) -> None:
    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid)
    shown = plan_service.show_plan(db, result["plan_id"], settings=SETTINGS)
    assert (shown["kind"], shown["status"], shown["scope_code"]) == ("micro_split", "draft", grid)
    assert shown["bounds"] == {"min": 1, "max": 100}
    assert [u["label"] for u in shown["units"]] == [u["label"] for u in result["units"]]
    assert shown["summary"]["households"] == result["metrics"]["households"]
    listed = plan_service.list_plans(db, scope_code=grid)
    assert [(p["id"], p["units"]) for p in listed] == [(result["plan_id"], len(result["units"]))]


def test_a_new_level_1_split_keeps_the_level_2_grids_of_unchanged_parents_only(db: Session, grid: str) -> None:
    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid)
    micro = {g["code"] for g in plan_service.adopt_plan(db, result["plan_id"], reason="micro",
                                                         settings=SETTINGS)["grids"]}
    # Level-2 grids are not current level-1 units: starting from today's grids moves nobody.
    again = partition_service.suggest_grids(db, SETTINGS, community_code=COMMUNITY, keep_current=True)
    assert again["metrics"]["households_moved"] == 0
    kept = plan_service.adopt_plan(db, again["plan_id"], reason="same grids", settings=SETTINGS,
                                   allow_out_of_range=True)
    still = set(db.scalars(text("SELECT code FROM grid WHERE level = 2 AND valid_to IS NULL")))
    assert still == micro and kept["retired_level_2_grids"] == []
    assert not [f for f in _findings(db) if any(c in f for c in micro)]
    # Grids of another size: the parent changes, its level-2 grids are retired with it.
    other = partition_service.suggest_grids(db, SETTINGS, community_code=COMMUNITY, lo=150, hi=250)
    changed = plan_service.adopt_plan(db, other["plan_id"], reason="smaller grids", settings=SETTINGS,
                                      allow_out_of_range=True)
    assert changed["retired_level_2_grids"] == sorted(still)
    assert db.scalar(text("SELECT count(*) FROM grid WHERE level = 2 AND valid_to IS NULL")) == 0
    assert not [f for f in _findings(db) if any(c in f for c in micro)]


def test_redrawing_a_parent_by_hand_retires_its_level_2_grids(db: Session, grid: str) -> None:
    from shapely import wkt as shapely_wkt

    from gis.services import edits

    result = level_service.suggest_micro_grids(db, SETTINGS, grid_code=grid)
    micro = sorted(g["code"] for g in plan_service.adopt_plan(db, result["plan_id"], reason="micro",
                                                              settings=SETTINGS)["grids"])
    shape, version = db.execute(text("SELECT ST_AsText(geom), version FROM grid WHERE code = :g AND valid_to IS NULL"),
                                {"g": grid}).one()
    smaller = shapely_wkt.loads(shape).buffer(-0.00005)
    out = edits.update_boundary(db, level="grid", code=grid, geometry=smaller.__geo_interface__,
                                reason="收缩边界 test", expected_version=version)
    assert out["retired_level_2_grids"] == micro
    assert db.scalar(text("SELECT count(*) FROM grid WHERE level = 2 AND valid_to IS NULL")) == 0
