"""Plans against the real database: store, list, show, diff, adopt (codes, bounds, staleness), history, revert.

The fixture is one street of two square communities near Xinjiekou. Community 汉中社区 has two current
grids (west 001, east 002, 400 households each) and a retired grid 003; its four buildings sit one per
quadrant with 250/150 households on the west and 150/250 on the east, so that a north/south split moves
exactly two buildings. The east community holds one building of 500 households.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from helpers import count_rows
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, CRSMismatch, InvalidGeometry, InvalidInput, NotFound
from gis.services import plans
from gis.settings import Settings

DISTRICT, STREET, C1, C2 = "320102", "320102001", "320102001001", "320102001002"
G1, G2, G3, G4 = (f"{C1}00{i}" for i in range(1, 5))
X0, XM, X1, X2 = 118.780, 118.785, 118.790, 118.800
Y0, YM, Y1 = 32.040, 32.0445, 32.049
C1_BOX = box(X0, Y0, X1, Y1)
WEST, EAST = box(X0, Y0, XM, Y1), box(XM, Y0, X1, Y1)
NORTH, SOUTH = box(X0, YM, X1, Y1), box(X0, Y0, X1, YM)
# building id: (centre, households, name)
BUILDINGS = {
    101: ((118.7815, 32.0465), 250, "1号楼"),
    102: ((118.7815, 32.0425), 150, "2号楼"),
    103: ((118.7885, 32.0465), 150, "3号楼"),
    104: ((118.7885, 32.0425), 250, "4号楼"),
    105: ((118.7950, 32.0450), 500, "5号楼"),
}
SETTINGS = Settings(grid_min_households=300, grid_max_households=500,
                    community_min_households=300, community_max_households=1500)


def ewkt(geom: shapely.Geometry) -> str:
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return f"SRID=4490;{geom.wkt}"


@pytest.fixture
def area(db: Session) -> None:
    db.execute(text("INSERT INTO district (code, name) VALUES (:d, '玄武区')"), {"d": DISTRICT})
    db.execute(text("INSERT INTO street (code, name, district_code, geom) VALUES (:c, '新街口街道', :d, "
                    "ST_GeomFromEWKT(:g))"), {"c": STREET, "d": DISTRICT, "g": ewkt(box(X0, Y0, X2, Y1))})
    for code, name, geom in ((C1, "汉中社区", C1_BOX), (C2, "华侨路社区", box(X1, Y0, X2, Y1))):
        db.execute(text("INSERT INTO community (code, name, district_code, street_code, geom) VALUES "
                        "(:c, :n, :d, :s, ST_GeomFromEWKT(:g))"),
                   {"c": code, "n": name, "d": DISTRICT, "s": STREET, "g": ewkt(geom)})
    for code, name, geom in ((G1, "汉中社区第1网格", WEST), (G2, "汉中社区第2网格", EAST)):
        db.execute(text("INSERT INTO grid (code, name, district_code, community_code, geom) VALUES "
                        "(:c, :n, :d, :cc, ST_GeomFromEWKT(:g))"),
                   {"c": code, "n": name, "d": DISTRICT, "cc": C1, "g": ewkt(geom)})
    db.execute(text("INSERT INTO grid (code, name, district_code, community_code, geom, valid_from, valid_to) "
                    "VALUES (:c, '旧网格', :d, :cc, ST_GeomFromEWKT(:g), '2020-01-01', '2021-01-01')"),
               {"c": G3, "d": DISTRICT, "cc": C1, "g": ewkt(C1_BOX)})
    for bid, ((x, y), hh, name) in BUILDINGS.items():
        db.execute(text("INSERT INTO building (id, district_code, name, address, households, geom) VALUES "
                        "(:id, :d, :n, :a, :h, ST_GeomFromEWKT(:g))"),
                   {"id": bid, "d": DISTRICT, "n": name, "a": f"汉中路{bid}号", "h": hh,
                    "g": ewkt(box(x - 0.0001, y - 0.0001, x + 0.0001, y + 0.0001))})
    db.flush()


def make_plan(db: Session, units: list[tuple], *, kind: str = "grid_split", scope: str = C1,
              metrics: dict | None = None) -> int:
    """Store a plan from (label, polygon[, kind, code, parent]) tuples; buildings assigned by their centres."""
    rows, assignment = [], []
    for spec in units:
        label, geom = spec[0], spec[1]
        unit_kind = spec[2] if len(spec) > 2 else "general"
        code = spec[3] if len(spec) > 3 else None
        parent = spec[4] if len(spec) > 4 else scope
        inside = [bid for bid, ((x, y), _, _) in BUILDINGS.items() if geom.contains(shapely.Point(x, y))]
        assignment += [{"building_id": bid, "label": label} for bid in inside]
        rows.append({"label": label, "kind": unit_kind, "locked": unit_kind == "dedicated",
                     "households": sum(BUILDINGS[b][1] for b in inside), "parent_code": parent, "code": code,
                     "geometry": geom})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490")
    return plans.store_plan(db, kind=kind, scope_code=scope, district_code=DISTRICT, units=frame,
                            assignment=pd.DataFrame(assignment), parameters={"min": 300, "max": 500},
                            metrics=metrics or {"in_range_share": 1.0})


def current_grids(db: Session, community: str = C1) -> dict[str, tuple[int, shapely.Geometry]]:
    rows = db.execute(text("SELECT code, version, ST_AsText(geom) FROM grid WHERE valid_to IS NULL "
                           "AND community_code = :c"), {"c": community}).all()
    return {c: (v, shapely.from_wkt(g)) for c, v, g in rows}


def grid_rows(db: Session) -> list[tuple]:
    return db.execute(text("SELECT id, code, version, valid_to FROM grid ORDER BY id")).all()


def same_area(a: shapely.Geometry, b: shapely.Geometry) -> bool:
    return shapely.symmetric_difference(a, b).area < 1e-12


PARK = box(118.784, Y0, 118.786, Y1)
PARK_PLAN = [("西", box(X0, Y0, 118.784, Y1)), ("公园", PARK, "dedicated"), ("东", box(118.786, Y0, X1, Y1))]


# --- storing and reading ------------------------------------------------------------------


def test_store_plan_writes_units_assignment_and_the_base(db: Session, area: None) -> None:
    pid = make_plan(db, [("A", WEST), ("B", EAST)])
    plan = db.execute(text("SELECT status, kind, scope_code, parameters FROM plan WHERE id = :p"), {"p": pid}).one()
    assert (plan.status, plan.kind, plan.scope_code) == ("draft", "grid_split", C1)
    assert plan.parameters["base_versions"] == {G1: 1, G2: 1}
    assert plan.parameters["scope_version"] == 1 and plan.parameters["min"] == 300
    units = db.execute(text("SELECT label, households, ST_GeometryType(geom) FROM plan_unit WHERE plan_id = :p "
                            "ORDER BY label"), {"p": pid}).all()
    assert [tuple(u) for u in units] == [("A", 400, "ST_MultiPolygon"), ("B", 400, "ST_MultiPolygon")]
    assigned = db.execute(text("SELECT a.building_id, u.label FROM plan_assignment a JOIN plan_unit u "
                               "ON u.id = a.plan_unit_id WHERE a.plan_id = :p ORDER BY 1"), {"p": pid}).all()
    assert [tuple(r) for r in assigned] == [(101, "A"), (102, "A"), (103, "B"), (104, "B")]


@pytest.mark.parametrize("change, error, words", [
    (lambda u, a: (u, a.assign(label=["A", "A", "B", "Z"])), InvalidInput, "Z"),
    (lambda u, a: (u, pd.concat([a, a.iloc[:1]])), InvalidInput, "101"),
    (lambda u, a: (u, a.assign(building_id=[101, 102, 103, 999])), NotFound, "999"),
    (lambda u, a: (u.set_crs("EPSG:3857", allow_override=True), a), CRSMismatch, "EPSG:3857"),
    (lambda u, a: (u.assign(parent_code=[C2, C1]), a), InvalidInput, "unit A"),
    (lambda u, a: (u.assign(label=["A", "A"]), a), InvalidInput, "repeated"),
    (lambda u, a: (u.assign(code=["32010200100", None]), a), InvalidInput, "unit A: code"),
    (lambda u, a: (u.assign(kind=["school", "general"]), a), InvalidInput, "unit A: kind"),
])
def test_store_plan_refuses_bad_input_and_writes_nothing(db: Session, area: None, change, error, words) -> None:
    units = gpd.GeoDataFrame({"label": ["A", "B"], "kind": ["general"] * 2, "locked": [False] * 2,
                              "households": [400, 400], "parent_code": [C1, C1], "code": [None, None]},
                             geometry=[WEST, EAST], crs="EPSG:4490")
    assignment = pd.DataFrame({"building_id": [101, 102, 103, 104], "label": ["A", "A", "B", "B"]})
    units, assignment = change(units, assignment)
    before = (count_rows(db, "plan"), count_rows(db, "plan_unit"), count_rows(db, "plan_assignment"))
    with pytest.raises(error, match=words) as caught:
        plans.store_plan(db, kind="grid_split", scope_code=C1, district_code=DISTRICT, units=units,
                         assignment=assignment, parameters={}, metrics={})
    assert (count_rows(db, "plan"), count_rows(db, "plan_unit"), count_rows(db, "plan_assignment")) == before
    assert caught.value.details["field"] in ("units", "assignment")


def test_store_plan_needs_a_current_scope(db: Session, area: None) -> None:
    with pytest.raises(NotFound, match="community 320102001009"):
        make_plan(db, [("A", C1_BOX)], scope="320102001009")
    with pytest.raises(InvalidInput, match="grid_split"):
        make_plan(db, [("A", C1_BOX)], scope=STREET)


def test_list_and_show_plans(db: Session, area: None) -> None:
    first = make_plan(db, [("A", WEST), ("B", EAST)])
    second = make_plan(db, PARK_PLAN)
    listed = plans.list_plans(db, scope_code=C1)
    assert [p["id"] for p in listed] == [second, first]
    assert listed[0]["units"] == 3 and listed[0]["households"] == 800 and listed[0]["status"] == "draft"
    assert plans.list_plans(db, status="adopted") == []
    assert plans.list_plans(db, scope_code=C2) == []
    with pytest.raises(InvalidInput, match="status"):
        plans.list_plans(db, status="rejected")

    shown = plans.show_plan(db, second, settings=SETTINGS)
    assert shown["status"] == "draft" and shown["level"] == "grid" and shown["metrics"] == {"in_range_share": 1.0}
    by_label = {u["label"]: u for u in shown["units"]}
    assert by_label["西"]["households"] == 400 and by_label["西"]["in_range"] is True
    assert by_label["公园"]["in_range"] is None and by_label["公园"]["locked"] is True
    assert shown["summary"] == {"units": 3, "households": 800, "buildings": 4, "in_range": 2, "out_of_range": 0,
                                "dedicated": 1}
    with pytest.raises(NotFound, match="plan 999999"):
        plans.show_plan(db, 999999)


def test_plan_geojson_is_lonlat_features(db: Session, area: None) -> None:
    pid = make_plan(db, PARK_PLAN)
    collection = plans.plan_geojson(db, pid)
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3
    park = next(f for f in collection["features"] if f["properties"]["label"] == "公园")
    assert park["properties"]["kind"] == "dedicated"
    assert same_area(shapely.geometry.shape(park["geometry"]), PARK)


# --- diffs --------------------------------------------------------------------------------


def test_relabelled_identical_units_move_nothing(db: Session, area: None) -> None:
    pid = make_plan(db, [("东边", EAST), ("西边", WEST)])
    diff = plans.diff_plans(db, pid, "current")
    assert (diff["buildings_moved"], diff["households_moved"], diff["moves"]) == (0, 0, [])
    pairs = {(m["a"]["label"], m["b"]["code"]) for m in diff["matches"]}
    assert pairs == {("东边", G2), ("西边", G1)}


def test_diff_names_every_building_that_moves(db: Session, area: None) -> None:
    pid = make_plan(db, [("北", NORTH), ("南", SOUTH)])
    diff = plans.diff_plans(db, "current", pid)
    assert (diff["buildings_moved"], diff["households_moved"], diff["buildings_compared"]) == (2, 300, 4)
    moves = {m["building_id"]: m for m in diff["moves"]}
    assert sorted(moves) == [102, 103]
    assert moves[102]["from"]["code"] == G1 and moves[102]["to"]["label"] == "南"
    assert moves[103]["from"]["code"] == G2 and moves[103]["to"]["label"] == "北"
    assert (moves[102]["name"], moves[102]["address"], moves[102]["households"]) == ("2号楼", "汉中路102号", 150)
    assert diff["a"]["name"] == "current" and diff["b"]["plan_id"] == pid

    other = make_plan(db, [("A", WEST), ("B", EAST)])
    between = plans.diff_plans(db, str(other), pid)
    assert (between["buildings_moved"], between["households_moved"]) == (2, 300)
    with pytest.raises(InvalidInput, match="both sides") as caught:
        plans.diff_plans(db, "current", "current")
    assert caught.value.details["field"] == "other_id"  # the API's path parameter for the second side


def test_count_moves_matches_units_before_counting() -> None:
    before = pd.DataFrame({"building_id": [1, 2, 3, 4], "unit": ["x", "x", "y", "y"],
                           "households": [100, 10, 10, 100]})
    relabelled = before.assign(unit=["p", "p", "q", "q"])
    assert plans.count_moves(before, relabelled)["households_moved"] == 0
    swapped = before.assign(unit=["p", "q", "p", "q"])
    result = plans.count_moves(before, swapped)
    assert (result["buildings_moved"], result["households_moved"], result["moved"]) == (2, 20, [2, 3])


def test_moves_against_current_for_the_engine(db: Session, area: None) -> None:
    assignment = pd.DataFrame({"building_id": [101, 102, 103, 104], "label": ["n", "s", "n", "s"]})
    moved = plans.moves_against_current(db, scope_code=C1, assignment=assignment)
    assert (moved["buildings_moved"], moved["households_moved"], moved["current_units"]) == (2, 300, 2)


# --- adoption -----------------------------------------------------------------------------


def test_adopt_keeps_matching_codes_and_never_reuses_a_retired_one(db: Session, area: None) -> None:
    pid = make_plan(db, PARK_PLAN)
    db.execute(text("INSERT INTO app_user (username, display_name, password_hash, role_code) VALUES "
                    "('wang', '王规划', 'x', 'district_planner')"))
    user = plans.find_user_id(db, "wang")
    result = plans.adopt_plan(db, pid, reason="2026 grid review", settings=SETTINGS, user_id=user)

    codes = {u["label"]: (u["code"], u["origin"], u["version"]) for u in result["units"]}
    assert codes == {"西": (G1, "matched", 2), "东": (G2, "matched", 2), "公园": (G4, "new", 1)}
    grids = current_grids(db)
    assert sorted(grids) == [G1, G2, G4]
    assert same_area(grids[G4][1], PARK) and same_area(grids[G1][1], box(X0, Y0, 118.784, Y1))
    # The old versions are retired, not overwritten; the retired code 003 stays retired.
    old = db.execute(text("SELECT code, version FROM grid WHERE valid_to IS NOT NULL ORDER BY code, version")).all()
    assert [tuple(r) for r in old] == [(G1, 1), (G2, 1), (G3, 1)]
    rows = db.execute(text("SELECT code, kind, plan_id, approved_by, reason, four_limits->>'text' FROM grid "
                           "WHERE valid_to IS NULL ORDER BY code")).all()
    assert all(r.plan_id == pid and r.approved_by == user and r.reason == "2026 grid review" for r in rows)
    assert [r.kind for r in rows] == ["general", "general", "dedicated"]
    assert all(r[5].startswith("东至") for r in rows)
    assert result["four_limits"].keys() == {G1, G2, G4}
    assert db.execute(text("SELECT name FROM grid WHERE code = :c"), {"c": G4}).scalar_one() == "汉中社区第4网格"

    plan = db.execute(text("SELECT status, adopted_by, adopted_at, reason, version FROM plan WHERE id = :p"),
                      {"p": pid}).one()
    assert (plan.status, plan.adopted_by, plan.reason, plan.version) == ("adopted", user, "2026 grid review", 2)
    assert plan.adopted_at is not None
    unit_codes = db.execute(text("SELECT label, code FROM plan_unit WHERE plan_id = :p"), {"p": pid}).all()
    assert dict(unit_codes) == {"西": G1, "东": G2, "公园": G4}


def test_adopting_a_plan_archives_the_one_it_replaces(db: Session, area: None) -> None:
    first = make_plan(db, [("北", NORTH), ("南", SOUTH)])
    plans.adopt_plan(db, first, reason="first", settings=SETTINGS)
    # North shares 250 of 400 households with the west grid, south 250 with the east one: both keep codes.
    grids = current_grids(db)
    assert same_area(grids[G1][1], NORTH) and same_area(grids[G2][1], SOUTH) and grids[G1][0] == 2
    second = make_plan(db, [("A", WEST), ("B", EAST)])
    result = plans.adopt_plan(db, second, reason="second", settings=SETTINGS)
    assert result["archived_plans"] == [first]
    statuses = dict(db.execute(text("SELECT id, status FROM plan WHERE id IN (:a, :b)"),
                               {"a": first, "b": second}).all())
    assert statuses == {first: "archived", second: "adopted"}
    assert {c: v for c, (v, _) in current_grids(db).items()} == {G1: 3, G2: 3}

    # Undo twice: the second revert brings back the first plan, the first the original grids.
    assert plans.revert_plan(db, second, reason="undo", settings=SETTINGS)["reinstated_plans"] == [first]
    assert same_area(current_grids(db)[G1][1], NORTH)
    assert plans.revert_plan(db, first, reason="undo", settings=SETTINGS)["restored"] == [
        {"code": G1, "version": 5}, {"code": G2, "version": 5}]
    assert same_area(current_grids(db)[G1][1], WEST)


def test_a_stale_plan_is_refused_and_changes_nothing(db: Session, area: None) -> None:
    stale = make_plan(db, [("A", WEST), ("B", EAST)])
    fresh = make_plan(db, [("北", NORTH), ("南", SOUTH)])
    plans.adopt_plan(db, fresh, reason="adopted first", settings=SETTINGS)
    before = grid_rows(db)
    with pytest.raises(Conflict, match=rf"plan {stale} is stale: .*grid {G1} is at version 2"):
        plans.adopt_plan(db, stale, reason="too late", settings=SETTINGS)
    assert grid_rows(db) == before
    assert db.execute(text("SELECT status FROM plan WHERE id = :p"), {"p": stale}).scalar_one() == "draft"


def test_adoption_checks_plan_status_and_version(db: Session, area: None) -> None:
    pid = make_plan(db, [("A", WEST), ("B", EAST)])
    with pytest.raises(Conflict, match="version 1, not 7"):
        plans.adopt_plan(db, pid, reason="r", settings=SETTINGS, expected_version=7)
    plans.adopt_plan(db, pid, reason="r", settings=SETTINGS, expected_version=1)
    with pytest.raises(Conflict, match="is adopted, not a draft"):
        plans.adopt_plan(db, pid, reason="again", settings=SETTINGS)
    with pytest.raises(InvalidInput, match="needs a reason"):
        plans.adopt_plan(db, make_plan(db, [("A", WEST), ("B", EAST)]), reason=" ", settings=SETTINGS)


def test_out_of_range_units_refuse_adoption_unless_allowed(db: Session, area: None) -> None:
    corner = box(X0, YM, XM, Y1)  # holds building 101 only: 250 households
    rest = shapely.difference(C1_BOX, corner)  # 550 households
    pid = make_plan(db, [("小", corner), ("大", rest)])
    before = grid_rows(db)
    with pytest.raises(InvalidInput) as raised:
        plans.adopt_plan(db, pid, reason="r", settings=SETTINGS)
    message = str(raised.value)
    assert "grid 小 has 250 households, below the minimum of 300" in message
    assert "grid 大 has 550 households, above the maximum of 500" in message
    assert grid_rows(db) == before

    result = plans.adopt_plan(db, pid, reason="school catchment", settings=SETTINGS, allow_out_of_range=True)
    assert result["reason"] == "school catchment (adopted with 2 grids out of range: 大 550, 小 250)"
    assert {o["label"] for o in result["out_of_range"]} == {"小", "大"}
    stored = db.execute(text("SELECT metrics->'adoption'->'out_of_range' FROM plan WHERE id = :p"),
                        {"p": pid}).scalar_one()
    assert len(stored) == 2
    # 大 keeps the east code (550 shares 400 with it), 小 shares 250 of 400 with the west grid: keeps its code.
    assert {u["label"]: u["code"] for u in result["units"]} == {"小": G1, "大": G2}


def test_units_that_do_not_tile_the_community_are_refused(db: Session, area: None) -> None:
    pid = make_plan(db, [("A", box(X0, Y0, 118.784, Y1)), ("B", EAST)])  # a strip 118.784-118.785 is left out
    before = grid_rows(db)
    gap = rf"fail the boundary check against community {C1}: gap of .* m² .*next to A, B"
    with pytest.raises(InvalidGeometry, match=gap):
        plans.adopt_plan(db, pid, reason="r", settings=SETTINGS)
    assert grid_rows(db) == before


def test_a_carried_code_is_kept_but_a_retired_one_is_refused(db: Session, area: None) -> None:
    pid = make_plan(db, [("N", NORTH, "general", G2), ("S", SOUTH)])
    result = plans.adopt_plan(db, pid, reason="r", settings=SETTINGS)
    assert {u["label"]: (u["code"], u["origin"]) for u in result["units"]} == {"N": (G2, "carried"),
                                                                              "S": (G4, "new")}
    assert result["retired"] == [G1]
    retired = make_plan(db, [("A", WEST, "general", G3), ("B", EAST)])
    with pytest.raises(InvalidInput, match=f"carries code {G3}, which is retired"):
        plans.adopt_plan(db, retired, reason="r", settings=SETTINGS)


# --- history and revert -------------------------------------------------------------------


def test_revert_restores_the_previous_boundaries_as_new_versions(db: Session, area: None) -> None:
    first = make_plan(db, PARK_PLAN)
    plans.adopt_plan(db, first, reason="park", settings=SETTINGS)
    result = plans.revert_plan(db, first, reason="park plan withdrawn", settings=SETTINGS)
    assert result["restored"] == [{"code": G1, "version": 3}, {"code": G2, "version": 3}]
    assert result["retired"] == [G4]
    grids = current_grids(db)
    assert sorted(grids) == [G1, G2]
    assert same_area(grids[G1][1], WEST) and same_area(grids[G2][1], EAST)
    assert db.execute(text("SELECT status FROM plan WHERE id = :p"), {"p": first}).scalar_one() == "archived"

    history = plans.boundary_history(db, C1)
    grid_versions = [(v["code"], v["version"], v["current"]) for v in history["versions"] if v["level"] == "grid"]
    assert grid_versions == [(G1, 1, False), (G1, 2, False), (G1, 3, True), (G2, 1, False), (G2, 2, False),
                             (G2, 3, True), (G3, 1, False), (G4, 1, False)]
    restored = next(v for v in history["versions"] if v["code"] == G1 and v["version"] == 3)
    assert restored["reason"] == f"revert of plan {first}: park plan withdrawn"
    assert history["versions"][0] == {**history["versions"][0], "level": "community", "code": C1, "version": 1}
    # A retired code stays retired: a new plan's extra grid gets 005.
    later = make_plan(db, PARK_PLAN)
    assert {u["label"]: u["code"] for u in plans.adopt_plan(db, later, reason="r", settings=SETTINGS)["units"]}[
        "公园"] == f"{C1}005"
    with pytest.raises(Conflict, match="archived, not adopted"):
        plans.revert_plan(db, first, reason="again", settings=SETTINGS)


def test_revert_is_refused_when_the_scope_changed_again(db: Session, area: None) -> None:
    first = make_plan(db, PARK_PLAN)
    plans.adopt_plan(db, first, reason="park", settings=SETTINGS)
    # Someone edits a grid outside the plan workflow (e.g. a boundary import).
    db.execute(text("UPDATE grid SET valid_to = clock_timestamp() WHERE code = :c AND valid_to IS NULL"), {"c": G4})
    db.execute(text("INSERT INTO grid (code, name, district_code, community_code, kind, geom, version, valid_from) "
                    "VALUES (:c, 'park', :d, :cc, 'dedicated', ST_GeomFromEWKT(:g), 2, clock_timestamp())"),
               {"c": G4, "d": DISTRICT, "cc": C1, "g": ewkt(PARK)})
    before = grid_rows(db)
    with pytest.raises(Conflict, match=f"cannot be reverted: .*grid {G4} version 2 came later"):
        plans.revert_plan(db, first, reason="undo", settings=SETTINGS)
    assert grid_rows(db) == before
    with pytest.raises(Conflict, match="is draft, not adopted"):
        plans.revert_plan(db, make_plan(db, [("A", WEST), ("B", EAST)]), reason="undo", settings=SETTINGS)


def test_boundary_history_of_a_grid_and_unknown_codes(db: Session, area: None) -> None:
    history = plans.boundary_history(db, G3)
    assert history["level"] == "grid"
    assert [(v["code"], v["valid_to"][:10]) for v in history["versions"]] == [(G3, "2021-01-01")]
    with pytest.raises(NotFound, match="grid 320102001001099"):
        plans.boundary_history(db, f"{C1}099")
    with pytest.raises(InvalidInput, match="code must be"):
        plans.boundary_history(db, "abc")


# --- community redraws --------------------------------------------------------------------


def test_community_redraw_retires_the_grids_of_communities_that_changed(db: Session, area: None) -> None:
    grid_plan = make_plan(db, [("A", WEST), ("B", EAST)])
    plans.adopt_plan(db, grid_plan, reason="grids", settings=SETTINGS)
    shift = 118.787  # buildings 103 and 104 move to the east community
    redraw = make_plan(db, [("W", box(X0, Y0, shift, Y1)), ("E", box(shift, Y0, X2, Y1))],
                       kind="community_redraw", scope=STREET)
    diff = plans.diff_plans(db, "current", redraw)
    assert (sorted(m["building_id"] for m in diff["moves"]), diff["households_moved"]) == ([103, 104], 400)

    result = plans.adopt_plan(db, redraw, reason="compound moved", settings=SETTINGS)
    assert {u["label"]: (u["code"], u["version"]) for u in result["units"]} == {"W": (C1, 2), "E": (C2, 2)}
    assert result["retired_grids"] == [{"community_code": C1, "grids": [G1, G2]}]
    assert {n["code"]: n["retired_grids"] for n in result["needs_grid_split"]} == {C1: [G1, G2], C2: []}
    assert result["archived_plans"] == [grid_plan]
    assert current_grids(db) == {}
    communities = dict(db.execute(text("SELECT code, street_code FROM community WHERE valid_to IS NULL")).all())
    assert communities == {C1: STREET, C2: STREET}

    reverted = plans.revert_plan(db, redraw, reason="undo redraw", settings=SETTINGS)
    assert reverted["restored"] == [{"code": C1, "version": 3}, {"code": C2, "version": 3}]
    assert reverted["restored_grids"] == [{"code": G1, "version": 3}, {"code": G2, "version": 3}]
    assert reverted["reinstated_plans"] == [grid_plan]
    grids = current_grids(db)
    assert same_area(grids[G1][1], WEST) and same_area(grids[G2][1], EAST)
    # The grid plan is the adopted one again, and can itself be reverted.
    undone = plans.revert_plan(db, grid_plan, reason="undo grids", settings=SETTINGS)
    assert undone["restored"] == [{"code": G1, "version": 4}, {"code": G2, "version": 4}]


def test_community_merge_keeps_the_larger_partner_code(db: Session, area: None) -> None:
    merged = make_plan(db, [("合并", box(X0, Y0, X2, Y1))], kind="community_redraw", scope=STREET)
    result = plans.adopt_plan(db, merged, reason="merge", settings=SETTINGS)
    assert [(u["code"], u["households"]) for u in result["units"]] == [(C1, 1300)]
    assert result["retired"] == [C2]
    assert {n["code"] for n in result["needs_grid_split"]} == {C1}


def test_community_redraw_bounds_use_the_community_settings(db: Session, area: None) -> None:
    pid = make_plan(db, [("W", C1_BOX), ("E", box(X1, Y0, X2, Y1))], kind="community_redraw", scope=STREET)
    with pytest.raises(InvalidInput, match="community W .*800 households, below the minimum of 1000"):
        plans.adopt_plan(db, pid, reason="r", settings=Settings(community_min_households=1000))


def test_adoption_time_is_after_every_retired_version(db: Session, area: None) -> None:
    # Rows written by another clock slightly ahead must still get valid_to > valid_from.
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    db.execute(text("UPDATE grid SET valid_from = :t WHERE valid_to IS NULL"), {"t": ahead})
    pid = make_plan(db, [("A", WEST), ("B", EAST)])
    result = plans.adopt_plan(db, pid, reason="r", settings=SETTINGS)
    assert dt.datetime.fromisoformat(result["adopted_at"]) > ahead
