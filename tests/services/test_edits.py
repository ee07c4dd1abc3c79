"""Boundary edits against the real database: new versions, findings, moves, splits, merges, refusals.

The world is the API world (tests/support/api_world.py): community north 320199001001 holds grid A
(x -100..400 m, building N) and grid B (x 400..700 m, building Q), community south holds grid C;
each test builds it inside its own rolled-back transaction. Geometries are drawn in the town's metric
frame (EPSG:4549) and sent as lon/lat GeoJSON, as a map client would.
"""

from __future__ import annotations

from typing import Any

import api_world
import coverage_town as town
import geopandas as gpd
import pytest
import shapely
from argon2 import PasswordHasher
from helpers import count_rows
from shapely.geometry import LineString, box, mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, CRSMismatch, InvalidGeometry, InvalidInput, NotFound, PermissionDenied
from gis.services import edits, plans
from gis.services import users as user_service
from gis.services.boundaries import current_units
from gis.services.privacy import grid_of_buildings
from gis.services.users import Principal
from gis.settings import Settings
from gis.topology import check_tiling

A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C
NORTH, SOUTH = town.NORTH, town.SOUTH
X0, Y0 = town.X0, town.Y0
METRIC = town.CRS
TABLES = ("grid", "community", "plan", "plan_unit", "plan_assignment", "audit_log")


def m_box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box in the town's metric frame (metres from its origin)."""
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    return town._lonlat([geom])[0]


def geojson(geom: shapely.Geometry) -> dict[str, Any]:
    return mapping(lonlat(geom))


def metric_area(geom: shapely.Geometry) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4490").to_crs(METRIC).area.iloc[0])


@pytest.fixture
def world(db: Session, monkeypatch: pytest.MonkeyPatch) -> dict:
    # The world's seven users need no strong hashes here: a cheap argon2 keeps each test's setup short.
    monkeypatch.setattr(user_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    return api_world.build_world(db)


@pytest.fixture
def planner(db: Session, world: dict) -> Principal:
    return Principal(user_id=world["users"]["planner"], username="planner", role="district_planner",
                     district_code=town.DISTRICT)


def current(db: Session, code: str) -> dict:
    row = db.execute(text("SELECT id, version, name, plan_id, reason, approved_by, four_limits, "
                          "ST_AsText(geom) AS wkt FROM grid WHERE code = :c AND valid_to IS NULL UNION ALL "
                          "SELECT id, version, name, plan_id, reason, approved_by, four_limits, ST_AsText(geom) "
                          "FROM community WHERE code = :c AND valid_to IS NULL"), {"c": code}).mappings().all()
    assert len(row) <= 1
    return dict(row[0]) if row else {}


def counts(db: Session) -> dict[str, int]:
    return {t: count_rows(db, t) for t in TABLES}


def add_building(db: Session, name: str, x: float, y: float, households: int) -> int:
    return db.execute(text("INSERT INTO building (district_code, name, households, households_source, geom) "
                           "VALUES (:d, :n, :h, 'recorded', ST_GeomFromEWKT(:g)) RETURNING id"),
                      {"d": town.DISTRICT, "n": name, "h": households,
                       "g": town._ewkt(lonlat(town.diamond(x, y, 3)), True)}).scalar_one()


def north_tiling(db: Session) -> list[str]:
    """Overlaps, gaps and multi-part grids in the north community (the world's own grids stick out of it by
    about a square metre where straight lon/lat edges meet projected corners: not counted)."""
    grids = current_units(db, "grid")
    communities = current_units(db, "community")
    found = check_tiling(grids[grids["parent_code"] == NORTH], communities[communities["code"] == NORTH],
                         child_level="grid")
    return [f.message for f in found if f.kind != "outside_parent" or f.area_m2 > 5]


# --- redrawing a grid ---------------------------------------------------------------------


def test_redrawing_a_grid_writes_a_new_version_and_reports_the_overlap_it_creates(db: Session, planner: Principal
                                                                                  ) -> None:
    old = current(db, A)
    result = edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 450, 300)),
                                   reason="take in the school yard", expected_version=1, principal=planner,
                                   request_id="req-1", settings=Settings())
    assert result["version"] == 2 and result["code"] == A
    new = current(db, A)
    assert new["version"] == 2 and new["id"] != old["id"]
    assert db.execute(text("SELECT valid_to IS NOT NULL FROM grid WHERE id = :i"), {"i": old["id"]}).scalar_one()
    assert db.execute(text("SELECT count(*) FROM grid WHERE code = :c"), {"c": A}).scalar_one() == 2
    assert new["reason"] == "take in the school yard" and new["approved_by"] == planner.user_id
    assert new["four_limits"] and result["written"][0]["four_limits"] == new["four_limits"]["text"]

    created = result["findings"]["created"]
    assert [(f["kind"], f["units"]) for f in created] == [("overlap", [A, B])]
    assert created[0]["area_m2"] == pytest.approx(50 * 400, rel=0.01)
    assert "overlap by 20,0" in created[0]["message"]

    units = {u["code"]: u for u in result["units"]}
    assert set(units) == {A, B}
    assert units[A]["households"] == 120 and units[A]["households_before"] == 120 and units[A]["changed"]
    assert units[B]["households"] == 60 and not units[B]["changed"] and units[B]["in_range"] is False

    plan = db.get(plans.Plan, result["plan_id"])
    assert (plan.kind, plan.status, plan.scope_code, plan.reason) == ("manual_edit", "adopted", NORTH,
                                                                      "take in the school yard")
    assert plan.created_by == plan.adopted_by == planner.user_id and new["plan_id"] == plan.id
    assert plan.parameters["base_versions"] == {A: 1}
    assert plans.show_plan(db, plan.id)["units"][0]["code"] == A
    history = [v for v in plans.boundary_history(db, A)["versions"] if v["code"] == A]
    assert [(v["version"], v["current"]) for v in history] == [(1, False), (2, True)]
    assert history[1]["reason"] == "take in the school yard" and history[1]["approved_by"] == "planner"
    audit = db.execute(text("SELECT username, action, entity, entity_id, reason, request_id FROM audit_log "
                            "ORDER BY id DESC LIMIT 1")).one()
    assert tuple(audit) == ("planner", "update", "grid", A, "take in the school yard", "req-1")


def test_a_later_edit_reports_what_it_resolves_and_creates_only_new_area(db: Session, planner: Principal) -> None:
    first = edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 350, 300)),
                                  reason="shrink", expected_version=1, principal=planner)
    assert [(f["kind"], round(f["area_m2"], -2)) for f in first["findings"]["created"]] == [("gap", 20_000)]
    # Growing back only part of the way: the remaining gap existed before, so nothing is created.
    second = edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 380, 300)),
                                   reason="grow back", expected_version=2, principal=planner)
    assert second["findings"]["created"] == []
    assert [(f["kind"], round(f["area_m2"], -2)) for f in second["findings"]["resolved"]] == [("gap", 12_000)]
    third = edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 400, 300)),
                                  reason="close the gap", expected_version=3, principal=planner)
    assert third["findings"]["created"] == [] and third["version"] == 4
    assert north_tiling(db) == []


def test_a_stale_version_is_a_conflict_and_writes_nothing(db: Session, planner: Principal) -> None:
    edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 390, 300)),
                          reason="first", expected_version=1, principal=planner)
    before = counts(db)
    with pytest.raises(Conflict) as caught:
        edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 410, 300)),
                              reason="second, from the old version", expected_version=1, principal=planner)
    assert caught.value.details["current_version"] == 2
    assert "is at version 2, not 1" in caught.value.message
    assert counts(db) == before
    with pytest.raises(InvalidInput, match="send the version you read"):
        edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 410, 300)),
                              reason="no version", expected_version=None, principal=planner)


@pytest.mark.parametrize(("geometry", "error", "words"), [
    ({"type": "Polygon", "coordinates": [[[118.0, 32.0], [118.01, 32.01], [118.01, 32.0], [118.0, 32.01],
                                          [118.0, 32.0]]]}, InvalidGeometry, "Self-intersection near 118.00"),
    ({"type": "LineString", "coordinates": [[118.0, 32.0], [118.01, 32.01]]}, InvalidGeometry,
     "expected a GeoJSON Polygon or MultiPolygon; received LineString"),
    ({"type": "Polygon", "coordinates": [[[118.0, 32.0], [118.01, 32.01]]]}, InvalidGeometry, "cannot be read"),
    ({"type": "Polygon", "coordinates": [[[32.0, 118.0], [32.01, 118.0], [32.01, 118.01], [32.0, 118.0]]]},
     CRSMismatch, "latitude, longitude swapped"),
    ({"type": "Polygon", "coordinates": [[[390000, 3545000], [390100, 3545000], [390100, 3545100],
                                          [390000, 3545000]]]}, CRSMismatch, "look like projected metres"),
    ({"type": "Polygon", "coordinates": [[[2.0, 48.0], [2.1, 48.0], [2.1, 48.1], [2.0, 48.0]]]}, CRSMismatch,
     "outside China"),
], ids=["bowtie", "line", "short-ring", "swapped", "metres", "paris"])
def test_bad_geometry_is_refused_with_what_and_where(db: Session, planner: Principal, geometry: dict,
                                                     error: type, words: str) -> None:
    before = counts(db)
    with pytest.raises(error, match=words) as caught:
        edits.update_boundary(db, level="grid", code=A, geometry=geometry, reason="bad", expected_version=1,
                              principal=planner)
    assert counts(db) == before
    # The error names the body key the geometry came in, as the API spells it.
    assert caught.value.details["field"] == "geometry" and caught.value.message.startswith("geometry")


def test_a_grid_must_lie_inside_its_community_within_half_a_metre(db: Session, planner: Principal) -> None:
    with pytest.raises(InvalidGeometry, match=r"grid 320199001001001 must lie inside community 320199001001: "
                                              r"25,000 m² of it lies outside, up to 50\.0 m beyond") as caught:
        edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 400, 350)),
                              reason="too far north", expected_version=1, principal=planner)
    assert caught.value.details["outside_m2"] == pytest.approx(25_000, rel=0.01)
    # 0.3 m beyond the community is digitising noise: accepted and clipped to the community.
    result = edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100.3, -100, 400, 300)),
                                   reason="traced a little wide", expected_version=1, principal=planner)
    assert result["clipped_to_parent_m2"] == pytest.approx(0.3 * 400, rel=0.05)
    assert result["findings"]["created"] == []
    inside = db.execute(text("SELECT ST_Area(ST_Difference(g.geom, c.geom)::geography) FROM grid g, community c "
                             "WHERE g.code = :g AND g.valid_to IS NULL AND c.code = :c AND c.valid_to IS NULL"),
                        {"g": A, "c": NORTH}).scalar_one()
    assert inside < 0.01


def test_unknown_units_and_missing_reasons_are_refused(db: Session, planner: Principal) -> None:
    with pytest.raises(NotFound, match="grid 320199001001009 has no current boundary"):
        edits.update_boundary(db, level="grid", code="320199001001009", geometry=geojson(m_box(0, 0, 10, 10)),
                              reason="x", expected_version=1, principal=planner)
    with pytest.raises(InvalidInput, match="needs a reason") as caught:
        edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(0, 0, 10, 10)), reason="  ",
                              expected_version=1, principal=planner)
    assert caught.value.details["field"] == "reason"
    with pytest.raises(InvalidInput, match="15 digits") as caught:
        edits.update_boundary(db, level="grid", code="32019900100100", geometry=geojson(m_box(0, 0, 10, 10)),
                              reason="x", expected_version=1, principal=planner)
    assert caught.value.details["field"] == "code"


def test_a_planner_edits_only_their_own_district(db: Session, world: dict) -> None:
    elsewhere = Principal(user_id=world["users"]["planner"], username="planner", role="district_planner",
                          district_code="320102")
    with pytest.raises(PermissionDenied, match="works in district 320102 and may not edit grid 320199001001001"):
        edits.update_boundary(db, level="grid", code=A, geometry=geojson(m_box(-100, -100, 390, 300)), reason="r",
                              expected_version=1, principal=elsewhere)


def test_redrawing_a_community_reports_street_gaps_and_grids_left_outside(db: Session, planner: Principal) -> None:
    result = edits.update_boundary(db, level="community", code=NORTH, geometry=geojson(m_box(-100, -100, 700, 250)),
                                   reason="the canal is the new northern limit", expected_version=1,
                                   principal=planner, name="北社区（新）")
    assert (result["version"], result["name"], result["parent_code"]) == (2, "北社区（新）", town.STREET)
    assert current(db, NORTH)["name"] == "北社区（新）"
    assert [(f["kind"], round(f["area_m2"], -2)) for f in result["findings"]["created"]] == [("gap", 40_000)]
    outside = sorted((f["units"][0], round(f["area_m2"], -2)) for f in result["grid_findings"]["created"])
    assert outside == [(A, 25_000), (B, 15_000)]
    assert {u["code"]: u["households"] for u in result["units"]} == {NORTH: 180, SOUTH: 40}


# --- moving buildings ---------------------------------------------------------------------


def test_moving_a_building_moves_its_cell_and_both_grids_still_tile_the_community(db: Session, world: dict,
                                                                                  planner: Principal) -> None:
    n2 = add_building(db, "N2", 350, 250, 30)
    result = edits.move_buildings(db, from_grid=A, building_ids=[n2], to_grid=B, reason="N2 is served from B",
                                  versions={A: 1, B: 1}, principal=planner)
    assert {w["code"]: w["version"] for w in result["written"]} == {A: 2, B: 2}
    assert result["retired"] == [] and result["findings"]["created"] == []
    assert grid_of_buildings(db, [n2, world["N"], world["Q"]]) == {n2: B, world["N"]: A, world["Q"]: B}
    units = {u["code"]: u for u in result["units"]}
    assert (units[A]["households_before"], units[A]["households"]) == (150, 120)
    assert (units[B]["households_before"], units[B]["households"]) == (60, 90)
    assert north_tiling(db) == []
    for code in (A, B):
        assert db.execute(text("SELECT ST_NumGeometries(geom) FROM grid WHERE code = :c AND valid_to IS NULL"),
                          {"c": code}).scalar_one() == 1
    plan = db.get(plans.Plan, result["plan_id"])
    assert plan.parameters["operation"] == "move_buildings" and plan.parameters["building_ids"] == [n2]


def test_a_move_that_would_break_a_grid_in_two_is_refused_naming_it(db: Session, planner: Principal) -> None:
    add_building(db, "N2", 350, 250, 30)
    far = add_building(db, "N4", -50, -50, 10)
    before = counts(db)
    with pytest.raises(InvalidGeometry, match=rf"would leave grid {B} in 2 separate parts"):
        edits.move_buildings(db, from_grid=A, building_ids=[far], to_grid=B, reason="r", versions={A: 1, B: 1},
                             principal=planner)
    assert counts(db) == before


def test_moves_name_what_is_wrong(db: Session, world: dict, planner: Principal) -> None:
    q = world["Q"]
    with pytest.raises(InvalidInput, match=rf"building\(s\) {q} \(in grid {B}\) are not in grid {A}"):
        edits.move_buildings(db, from_grid=A, building_ids=[q], to_grid=B, reason="r", versions={A: 1, B: 1},
                             principal=planner)
    with pytest.raises(InvalidInput, match="buildings move only between grids of one community") as caught:
        edits.move_buildings(db, from_grid=A, building_ids=[world["N"]], to_grid=C, reason="r",
                             versions={A: 1, C: 1}, principal=planner)
    assert caught.value.details["field"] == "to_grid"
    with pytest.raises(NotFound, match="building.* 999999 do not exist"):
        edits.move_buildings(db, from_grid=A, building_ids=[999999], to_grid=B, reason="r", versions={A: 1, B: 1},
                             principal=planner)
    with pytest.raises(Conflict) as caught:
        edits.move_buildings(db, from_grid=A, building_ids=[world["N"]], to_grid=B, reason="r",
                             versions={A: 1, B: 4}, principal=planner)
    assert caught.value.details["current_version"] == 1 and caught.value.details["code"] == B


# --- splitting and merging ----------------------------------------------------------------


def test_splitting_a_grid_retires_it_and_two_new_codes_tile_it(db: Session, planner: Principal) -> None:
    # Drawn exactly to the grid's edges: the ends are extended by the tolerance, so it still cuts.
    line = mapping(lonlat(LineString([(X0 + 150, Y0 - 100), (X0 + 150, Y0 + 300)])))
    result = edits.split_grid(db, code=A, line=line, reason="too many households", expected_version=1,
                              principal=planner, names=["北一西网格", "北一东网格"])
    west, east = "320199001001003", "320199001001004"
    assert result["new_codes"] == [west, east] and result["retired"] == [A]
    assert current(db, A) == {} and current(db, west)["name"] == "北一西网格"
    assert current(db, west)["version"] == current(db, east)["version"] == 1
    areas = {c: metric_area(shapely.from_wkt(current(db, c)["wkt"])) for c in (west, east)}
    assert areas == {west: pytest.approx(250 * 400, rel=0.001), east: pytest.approx(250 * 400, rel=0.001)}
    assert {u["code"]: u["households"] for u in result["units"]} == {west: 0, east: 120, B: 60}
    assert sorted(s["username"] for s in result["staff_to_reassign"]) == ["leader_a", "worker_a"]
    assert north_tiling(db) == []
    # A retired code is never given out again, and the next split numbers after every code used.
    again = edits.split_grid(db, code=west, line=mapping(lonlat(LineString([(X0 + 20, Y0 - 150),
                                                                            (X0 + 20, Y0 + 350)]))),
                             reason="again", expected_version=1, principal=planner)
    assert again["new_codes"] == ["320199001001005", "320199001001006"]


@pytest.mark.parametrize(("coords", "words"), [
    ([(150, -150), (150, 100)], "does not cut grid .* in two.*ends inside the grid"),
    ([(1000, -150), (1000, 350)], "does not cut grid .* in two.*does not cross it"),
    ([(100, -150), (100, 350), (200, 350), (200, -150)], "cuts grid .* into 3 pieces"),
])
def test_a_line_that_does_not_cut_the_grid_in_two_is_refused(db: Session, planner: Principal, coords: list,
                                                              words: str) -> None:
    before = counts(db)
    line = mapping(lonlat(LineString([(X0 + x, Y0 + y) for x, y in coords])))
    with pytest.raises(InvalidGeometry, match=words):
        edits.split_grid(db, code=A, line=line, reason="r", expected_version=1, principal=planner)
    assert counts(db) == before


def test_merging_grids_keeps_the_first_code_and_retires_the_others(db: Session, planner: Principal) -> None:
    result = edits.merge_grids(db, codes=[B, A], reason="one grid for the north", versions={A: 1, B: 1},
                               principal=planner, name="北网格")
    assert (result["code"], result["version"], result["retired"]) == (B, 2, [A])
    merged = current(db, B)
    assert merged["name"] == "北网格" and current(db, A) == {}
    community = current(db, NORTH)
    assert metric_area(shapely.from_wkt(merged["wkt"])) == pytest.approx(
        metric_area(shapely.from_wkt(community["wkt"])), rel=1e-6)
    assert db.execute(text("SELECT ST_NumGeometries(geom) FROM grid WHERE id = :i"), {"i": merged["id"]}).scalar_one() \
        == 1
    assert {u["code"]: u["households"] for u in result["units"]} == {B: 180}
    assert [s["username"] for s in result["staff_to_reassign"]] == ["leader_a", "worker_a"]


def test_merges_that_cannot_be_one_grid_are_refused(db: Session, planner: Principal) -> None:
    with pytest.raises(InvalidInput, match="only grids of one community merge"):
        edits.merge_grids(db, codes=[A, C], reason="r", versions={A: 1, C: 1}, principal=planner)
    split = edits.split_grid(db, code=A, line=mapping(lonlat(LineString([(X0 + 150, Y0 - 150),
                                                                         (X0 + 150, Y0 + 350)]))),
                             reason="split", expected_version=1, principal=planner)
    west = split["new_codes"][0]
    before = counts(db)
    with pytest.raises(InvalidGeometry, match=r"do not form one piece.*2 separate parts"):
        edits.merge_grids(db, codes=[west, B], reason="r", versions={west: 1, B: 1}, principal=planner)
    assert counts(db) == before


def test_a_second_current_row_for_a_code_is_a_conflict(db: Session, world: dict) -> None:
    """The partial unique index is the last line of defence; its violation reads as a conflict."""
    from gis.services.edits import units, writing  # noqa: PLC0415  (the private writer, tested directly)

    parent = units.lock_parent(db, "grid", A, edits.SYSTEM)
    unit = units.lock_unit(db, "grid", A)
    plan_id = db.execute(text("INSERT INTO plan (district_code, kind, scope_code) VALUES ('320199', 'manual_edit', "
                              ":s) RETURNING id"), {"s": NORTH}).scalar_one()
    with pytest.raises(Conflict, match="changed by another edit at the same time") as caught:
        writing._insert(db, "grid", parent.code, writing.NewVersion(code=A, name="x", geom=unit.geom, previous=unit),
                        now=db.execute(text("SELECT clock_timestamp()")).scalar_one(), reason="r", plan_id=plan_id,
                        user_id=None)
    assert caught.value.details["current_version"] == 1
