"""Communities split and merged by hand (gis.services.edits) against the real database: the part with more
households keeps the code, the new part gets a provisional code inside its committee's range, grids drawn for
the old boundary retire (remembered by the edit's plan), a merge of communities that do not border is refused.

One street of district 320102 holds 汉中 (001, two grids), 华侨路 (002) and the village 红山村 (201), side by
side west to east, with buildings of 100 households in each quarter and one of 300 in 汉中's north-west.
"""

from __future__ import annotations

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidGeometry, InvalidInput
from gis.services import approvals, edits
from gis.settings import Settings

DISTRICT, STREET = "320102", "320102001"
C1, C2, V1 = f"{STREET}001", f"{STREET}002", f"{STREET}201"
XA, XB, XC, XD = 118.780, 118.790, 118.800, 118.810
Y0, YM, Y1 = 32.040, 32.0445, 32.049
XAM = (XA + XB) / 2
SETTINGS = Settings(community_min_households=1, community_max_households=5000)


def ewkt(geom: shapely.Geometry) -> str:
    return f"SRID=4490;{shapely.MultiPolygon([geom]).wkt}"


@pytest.fixture
def area(db: Session) -> None:
    db.execute(text("INSERT INTO district (code, name) VALUES (:d, '鼓楼区')"), {"d": DISTRICT})
    db.execute(text("INSERT INTO street (code, name, district_code, geom) VALUES (:c, '新街口街道', :d, "
                    "ST_GeomFromEWKT(:g))"), {"c": STREET, "d": DISTRICT, "g": ewkt(box(XA, Y0, XD, Y1))})
    for code, name, geom in ((C1, "汉中社区", box(XA, Y0, XB, Y1)), (C2, "华侨路社区", box(XB, Y0, XC, Y1)),
                             (V1, "红山村", box(XC, Y0, XD, Y1))):
        db.execute(text("INSERT INTO community (code, name, district_code, street_code, geom) VALUES "
                        "(:c, :n, :d, :s, ST_GeomFromEWKT(:g))"),
                   {"c": code, "n": name, "d": DISTRICT, "s": STREET, "g": ewkt(geom)})
    for code, geom in ((f"{C1}001", box(XA, Y0, XAM, Y1)), (f"{C1}002", box(XAM, Y0, XB, Y1))):
        db.execute(text("INSERT INTO grid (code, name, district_code, community_code, geom) VALUES "
                        "(:c, :c, :d, :cc, ST_GeomFromEWKT(:g))"), {"c": code, "d": DISTRICT, "cc": C1,
                                                                      "g": ewkt(geom)})
    bid = 300
    for x0, x1 in ((XA, XB), (XB, XC), (XC, XD)):
        for y in (Y0 + 0.002, Y1 - 0.002):
            for x in (x0 + 0.002, x1 - 0.002):
                bid += 1
                hh = 300 if (x, y) == (XA + 0.002, Y1 - 0.002) else 100
                db.execute(text("INSERT INTO building (id, district_code, households, geom) VALUES "
                                "(:id, :d, :h, ST_GeomFromEWKT(:g))"),
                           {"id": bid, "d": DISTRICT, "h": hh, "g": ewkt(box(x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4))})
    db.flush()


def current(db: Session, table: str) -> dict[str, int]:
    return dict(db.execute(text(f"SELECT code, version FROM {table} WHERE valid_to IS NULL ORDER BY code")).all())


def across(y: float, x0: float, x1: float) -> dict:
    return mapping(shapely.LineString([(x0, y), (x1, y)]))


def test_a_split_keeps_the_code_on_the_larger_part_and_gives_a_provisional_code(db: Session, area: None) -> None:
    result = edits.split_community(db, code=C1, line=across(YM, XA, XB), reason="新建小区，社区拆分",
                                   expected_version=1, name="汉中南社区", settings=SETTINGS)
    new = f"{STREET}003"  # the next neighbourhood code, never one of the village range
    assert result["new_codes"] == [new] and result["needs_grid_split"] == [C1, new]
    written = {w["code"]: w["households"] for w in result["written"]}
    assert written == {C1: 400, new: 200}  # the north part holds the 300-household building
    assert current(db, "community") == {C1: 2, C2: 1, new: 1, V1: 1}
    assert result["retired_grids"] == [{"community_code": C1, "grids": [f"{C1}001", f"{C1}002"]}]
    assert current(db, "grid") == {}
    assert approvals.code_statuses(db, [new])[new]["status"] == "provisional"
    name = db.execute(text("SELECT name FROM community WHERE code = :c"), {"c": new}).scalar_one()
    assert name == "汉中南社区"

    # A village split gets the next village code.
    village = edits.split_community(db, code=V1, line=across(YM, XC, XD), reason="村拆分", expected_version=1)
    assert village["new_codes"] == [f"{STREET}202"]
    assert approvals.code_statuses(db, [f"{STREET}202"])[f"{STREET}202"]["committee"] == "village"

    # The edit is a manual_edit plan that remembers the retired grids (what a revert would restore).
    adoption = db.execute(text("SELECT metrics -> 'adoption' FROM plan WHERE id = :p"),
                          {"p": result["plan_id"]}).scalar_one()
    retired = db.execute(text("SELECT code FROM grid WHERE id = ANY(:i) ORDER BY code"),
                         {"i": adoption["retired_grid_ids"]}).scalars().all()
    assert retired == [f"{C1}001", f"{C1}002"]


def test_a_split_that_does_not_cut_in_two_is_refused(db: Session, area: None) -> None:
    with pytest.raises(InvalidGeometry, match="cuts community .* into 1 piece"):
        edits.split_community(db, code=C1, line=across(YM, XA + 0.001, XA + 0.002), reason="r", expected_version=1)
    with pytest.raises(Conflict):
        edits.split_community(db, code=C1, line=across(YM, XA, XB), reason="r", expected_version=4)
    assert current(db, "community") == {C1: 1, C2: 1, V1: 1} and len(current(db, "grid")) == 2


def test_a_merge_continues_the_first_code_and_retires_the_others_with_their_grids(db: Session, area: None) -> None:
    with pytest.raises(InvalidGeometry, match="do not form one piece"):
        edits.merge_communities(db, codes=[C1, V1], reason="撤并", versions={C1: 1, V1: 1})
    with pytest.raises(InvalidInput, match="only communities of one street merge"):
        edits.merge_communities(db, codes=[C1, "320102002001"], reason="撤并", versions={})
    result = edits.merge_communities(db, codes=[C2, C1], reason="撤并", versions={C1: 1, C2: 1}, name="汉中华侨路社区",
                                     settings=SETTINGS)
    assert result["code"] == C2 and result["retired"] == [C1] and result["needs_grid_split"] == [C2]
    assert current(db, "community") == {C2: 2, V1: 1} and current(db, "grid") == {}
    assert {w["code"]: w["households"] for w in result["written"]} == {C2: 1000}
    assert result["retired_grids"] == [{"community_code": C1, "grids": [f"{C1}001", f"{C1}002"]}]
