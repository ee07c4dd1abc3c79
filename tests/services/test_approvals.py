"""The approval chain against the real database: propose (street) → review → approve (批复文号) → adopt
(district), refusals that change nothing, the setting that makes the chain mandatory, and community
codes: provisional until confirmed, new ones inside their committee's range (居委会 001–199, 村委会 200–399).

The fixture is one street (新街口街道) of district 320102 with two neighbourhood communities side by side
(汉中 001 west, 华侨路 002 east) and a village (红山村 201) further east, one building in each quarter, and a
second street of the same district for a planner who works elsewhere.
"""

from __future__ import annotations

import datetime as dt

import api_world
import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, Infeasible, InvalidInput, NotFound, PermissionDenied
from gis.services import approvals, plans, users
from gis.settings import Settings

DISTRICT, STREET, STREET2, OTHER_DISTRICT = "320102", "320102001", "320102002", "320105"
C1, C2, V1 = f"{STREET}001", f"{STREET}002", f"{STREET}201"
XA, XB, XC, XD = 118.780, 118.790, 118.800, 118.810
Y0, YM, Y1 = 32.040, 32.0445, 32.049
COMMUNITIES = {C1: ("汉中社区", box(XA, Y0, XB, Y1)), C2: ("华侨路社区", box(XB, Y0, XC, Y1)),
               V1: ("红山村", box(XC, Y0, XD, Y1))}
SETTINGS = Settings(community_min_households=1, community_max_households=5000, grid_min_households=1,
                    grid_max_households=5000)


def ewkt(geom: shapely.Geometry) -> str:
    return f"SRID=4490;{shapely.MultiPolygon([geom]).wkt}"


@pytest.fixture
def area(db: Session) -> dict[str, int]:
    db.execute(text("INSERT INTO district (code, name) VALUES (:d, '鼓楼区'), (:o, '栖霞区')"),
               {"d": DISTRICT, "o": OTHER_DISTRICT})
    db.execute(text("INSERT INTO street (code, name, district_code, geom) VALUES (:c, '新街口街道', :d, "
                    "ST_GeomFromEWKT(:g))"), {"c": STREET, "d": DISTRICT, "g": ewkt(box(XA, Y0, XD, Y1))})
    for code, (name, geom) in COMMUNITIES.items():
        db.execute(text("INSERT INTO community (code, name, district_code, street_code, geom) VALUES "
                        "(:c, :n, :d, :s, ST_GeomFromEWKT(:g))"),
                   {"c": code, "n": name, "d": DISTRICT, "s": STREET, "g": ewkt(geom)})
    bid = 200
    for x0, x1 in ((XA, XB), (XB, XC), (XC, XD)):
        for y in (Y0 + 0.002, Y1 - 0.002):
            for x in (x0 + 0.002, x1 - 0.002):
                bid += 1
                db.execute(text("INSERT INTO building (id, district_code, households, geom) VALUES "
                                "(:id, :d, 100, ST_GeomFromEWKT(:g))"),
                           {"id": bid, "d": DISTRICT, "g": ewkt(box(x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4))})
    made = {}
    with api_world.password_hashed_once():  # argon2 by design takes long: one hash serves the seven users
        for name, role, district, street in (
                ("street_planner", "district_planner", DISTRICT, STREET),
                ("street2_planner", "district_planner", DISTRICT, STREET2),
                ("district_planner", "district_planner", DISTRICT, None),
                ("district_admin", "admin", DISTRICT, None),
                ("other_district", "district_planner", OTHER_DISTRICT, None),
                ("worker", "grid_worker", DISTRICT, None),
                ("city_admin", "admin", None, None)):
            made[name] = users.create_user(db, username=name, password="password-1", role=role,
                                           district_code=district, street_code=street).id
    db.flush()
    return made


def community_plan(db: Session, units: dict[str, shapely.Geometry]) -> int:
    """A community redraw of the street from label → polygon; buildings assigned by their points."""
    points = db.execute(text("SELECT id, ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM building")).all()
    rows, assignment = [], []
    for label, geom in units.items():
        inside = [b for b, x, y in points if geom.contains(shapely.Point(x, y))]
        assignment += [{"building_id": b, "label": label} for b in inside]
        rows.append({"label": label, "kind": "general", "households": 100 * len(inside), "parent_code": STREET,
                     "code": None, "geometry": geom})
    return plans.store_plan(db, kind="community_redraw", scope_code=STREET, district_code=DISTRICT,
                            units=gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490"),
                            assignment=pd.DataFrame(assignment), parameters={}, metrics={})


def redraw(db: Session) -> int:
    """汉中 and 华侨路 as they are, 红山村 split in a north and a south part (one new village)."""
    return community_plan(db, {"汉中": COMMUNITIES[C1][1], "华侨路": COMMUNITIES[C2][1],
                               "红山北": box(XC, YM, XD, Y1), "红山南": box(XC, Y0, XD, YM)})


def state(db: Session, pid: int) -> tuple:
    row = db.execute(text("SELECT status, version, document_no FROM plan WHERE id = :p"), {"p": pid}).one()
    steps = db.execute(text("SELECT count(*) FROM plan_approval WHERE plan_id = :p"), {"p": pid}).scalar_one()
    return (*row, steps)


def bilingual(message: str) -> bool:
    chinese, _, english = message.partition(" · ")
    return any("\u4e00" <= ch <= "\u9fff" for ch in chinese) and english.isascii() and bool(english)


def test_a_plan_goes_through_the_chain_and_every_step_is_recorded(db: Session, area: dict[str, int]) -> None:
    pid = redraw(db)
    done = approvals.take_step(db, pid, "propose", user_id=area["street_planner"], note="新街口街道报送")
    assert done["status"] == "proposed" and done["step"]["by"] == "street_planner"
    approvals.take_step(db, pid, "review", user_id=area["district_planner"], note="区规划科审核通过")
    approved = approvals.take_step(db, pid, "approve", user_id=area["district_admin"],
                                   document_no="  鼓政复[2026]12号 ")
    assert approved["status"] == "approved" and approved["document_no"] == "鼓政复[2026]12号"

    adopted = plans.adopt_plan(db, pid, reason="批复后实施", settings=SETTINGS, user_id=area["district_planner"])
    assert adopted["status"] == "adopted"

    shown = plans.show_plan(db, pid, settings=SETTINGS)
    assert shown["document_no"] == "鼓政复[2026]12号"
    steps = shown["approvals"]
    assert [(s["step"], s["from_status"], s["to_status"], s["by"]) for s in steps] == [
        ("propose", "draft", "proposed", "street_planner"),
        ("review", "proposed", "reviewed", "district_planner"),
        ("approve", "reviewed", "approved", "district_admin"),
        ("adopt", "approved", "adopted", "district_planner")]
    assert steps[0]["note"] == "新街口街道报送" and steps[2]["document_no"] == "鼓政复[2026]12号"
    assert steps[3]["note"] == "批复后实施" and steps[3]["document_no"] == "鼓政复[2026]12号"
    # Shown on the planners' clock: Asia/Shanghai is UTC+8 all year.
    for s in steps:
        utc = dt.datetime.fromisoformat(s["at"]).astimezone(dt.UTC)
        assert s["at_local"] == (utc + dt.timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    approved_by = db.execute(text("SELECT DISTINCT approved_by FROM community WHERE plan_id = :p"),
                             {"p": pid}).scalars().all()
    assert approved_by == [area["district_planner"]]


@pytest.mark.parametrize(("steps", "refused", "words"), [
    ([], "review", "不能区级审核.* · plan .* is draft: review is allowed only from proposed"),
    ([], "approve", "is draft: approve is allowed only from reviewed"),
    (["propose"], "approve", "is proposed: approve is allowed only from reviewed"),
    (["propose"], "propose", "is proposed: propose is allowed only from draft"),
    (["propose", "review"], "review", "is reviewed: review is allowed only from proposed"),
])
def test_a_step_out_of_order_is_refused_and_changes_nothing(db: Session, area: dict[str, int], steps: list[str],
                                                             refused: str, words: str) -> None:
    pid = redraw(db)
    who = {"propose": "street_planner", "review": "district_planner", "approve": "district_planner"}
    for step in steps:
        approvals.take_step(db, pid, step, user_id=area[who[step]])
    before = state(db, pid)
    with pytest.raises(Conflict, match=words) as refused_error:
        approvals.take_step(db, pid, refused, user_id=area[who[refused]], document_no="鼓政复[2026]1号"
                            if refused == "approve" else None)
    assert bilingual(refused_error.value.message)
    assert state(db, pid) == before


@pytest.mark.parametrize(("step", "user", "words"), [
    ("propose", "worker", "grid_worker and may not propose a plan"),
    ("propose", "district_planner", "propose is taken by a street-scoped user of district 320102; district_planner "
                                    "is scoped to district 320102"),
    ("propose", "street2_planner", "plan .* is in street 320102001; street2_planner proposes plans of street "
                                   "320102002 only"),
    ("propose", "city_admin", "city_admin is scoped to no district"),
    ("review", "street_planner", "review is taken by a district-scoped user of district 320102; street_planner is "
                                 "scoped to street 320102001"),
    ("review", "other_district", "district-scoped user of district 320102; other_district is scoped to district "
                                 "320105"),
    ("review", "worker", "grid_worker and may not review"),
])
def test_a_step_by_the_wrong_role_or_scope_is_refused_and_changes_nothing(db: Session, area: dict[str, int],
                                                                           step: str, user: str, words: str) -> None:
    pid = redraw(db)
    if step == "review":
        approvals.take_step(db, pid, "propose", user_id=area["street_planner"])
    before = state(db, pid)
    with pytest.raises(PermissionDenied, match=words) as refused:
        approvals.take_step(db, pid, step, user_id=area[user])
    assert bilingual(refused.value.message)
    assert state(db, pid) == before


def test_approval_needs_a_document_number_and_adoption_the_approval(db: Session, area: dict[str, int]) -> None:
    pid = redraw(db)
    approvals.take_step(db, pid, "propose", user_id=area["street_planner"])
    with pytest.raises(Conflict, match="is proposed: it is adopted once approved") as early:
        plans.adopt_plan(db, pid, reason="too early", settings=SETTINGS, user_id=area["district_planner"])
    assert bilingual(early.value.message)
    approvals.take_step(db, pid, "review", user_id=area["district_planner"])
    before = state(db, pid)
    for blank in (None, "", "   "):
        with pytest.raises(InvalidInput, match="批复文号.* · approving needs the document number"):
            approvals.take_step(db, pid, "approve", user_id=area["district_planner"], document_no=blank)
    assert state(db, pid) == before
    with pytest.raises(InvalidInput, match="document_no belongs to the approve step"):
        approvals.take_step(db, pid, "return", user_id=area["district_planner"], note="x", document_no="鼓政复1号")
    approvals.take_step(db, pid, "approve", user_id=area["district_planner"], document_no="鼓政复[2026]3号")
    # An approved plan is adopted by a district-scoped user, named.
    for user, error in ((None, InvalidInput), (area["street_planner"], PermissionDenied)):
        with pytest.raises(error):
            plans.adopt_plan(db, pid, reason="r", settings=SETTINGS, user_id=user)
    assert state(db, pid)[0] == "approved"
    assert plans.adopt_plan(db, pid, reason="r", settings=SETTINGS, user_id=area["district_admin"])["status"] == \
        "adopted"
    with pytest.raises(Conflict, match="is adopted: propose is allowed only from draft"):
        approvals.take_step(db, pid, "propose", user_id=area["street_planner"])


def test_a_returned_plan_goes_back_to_draft_with_the_reason_and_starts_again(db: Session,
                                                                              area: dict[str, int]) -> None:
    pid = redraw(db)
    approvals.take_step(db, pid, "propose", user_id=area["street_planner"])
    approvals.take_step(db, pid, "review", user_id=area["district_planner"])
    with pytest.raises(InvalidInput, match="退回须说明理由 · return needs a note"):
        approvals.take_step(db, pid, "return", user_id=area["district_planner"], note=" ")
    with pytest.raises(PermissionDenied):
        approvals.take_step(db, pid, "return", user_id=area["street_planner"], note="撤回")
    back = approvals.take_step(db, pid, "return", user_id=area["district_planner"], note="四至描述不清")
    assert back["status"] == "draft" and back["approvals"][-1]["note"] == "四至描述不清"
    assert approvals.take_step(db, pid, "propose", user_id=area["street_planner"])["status"] == "proposed"
    with pytest.raises(Conflict, match="changed since you read it"):
        approvals.take_step(db, pid, "review", user_id=area["district_planner"], expected_version=1)


def test_the_setting_makes_the_chain_mandatory_for_community_plans_only(db: Session, area: dict[str, int]) -> None:
    strict = SETTINGS.model_copy(update={"plan_approval": "community"})
    pid = redraw(db)
    with pytest.raises(Conflict, match="adopted only after the chain") as refused:
        plans.adopt_plan(db, pid, reason="direct", settings=strict)
    assert bilingual(refused.value.message) and state(db, pid)[0] == "draft"

    # Grid plans stay one step under "community"; by default any draft is adopted directly, and recorded.
    direct = plans.adopt_plan(db, pid, reason="direct", settings=SETTINGS)
    assert direct["status"] == "adopted"
    assert [(s["step"], s["from_status"], s["by"]) for s in plans.show_plan(db, pid)["approvals"]] == [
        ("adopt", "draft", None)]
    rows, assignment = [], []
    for label, geom in (("北", box(XA, YM, XB, Y1)), ("南", box(XA, Y0, XB, YM))):
        rows.append({"label": label, "kind": "general", "households": 200, "parent_code": C1, "code": None,
                     "geometry": geom})
    grid_plan = plans.store_plan(db, kind="grid_split", scope_code=C1, district_code=DISTRICT,
                                 units=gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490"),
                                 assignment=pd.DataFrame(assignment, columns=["building_id", "label"]),
                                 parameters={}, metrics={})
    assert plans.adopt_plan(db, grid_plan, reason="grids", settings=strict)["status"] == "adopted"
    with pytest.raises(Conflict, match="a draft of communities, which are adopted only after the chain"):
        plans.adopt_plan(db, community_plan(db, {"all": box(XA, Y0, XD, Y1)}), reason="r",
                         settings=SETTINGS.model_copy(update={"plan_approval": "all"}))


def test_new_community_codes_are_provisional_in_their_range_until_confirmed(db: Session,
                                                                           area: dict[str, int]) -> None:
    # A neighbourhood committee split too: 汉中 in a north and a south part.
    pid = community_plan(db, {"汉中北": box(XA, YM, XB, Y1), "汉中南": box(XA, Y0, XB, YM),
                              "华侨路": COMMUNITIES[C2][1], "红山北": box(XC, YM, XD, Y1),
                              "红山南": box(XC, Y0, XD, YM)})
    adopted = plans.adopt_plan(db, pid, reason="split", settings=SETTINGS)
    codes = {u["label"]: (u["code"], u["origin"]) for u in adopted["units"]}
    new = {label: code for label, (code, origin) in codes.items() if origin == "new"}
    # The new neighbourhood community follows 002 (never 202); the new village follows 201.
    assert sorted(new.values()) == [f"{STREET}003", f"{STREET}202"]
    assert {new.get("汉中北", new.get("汉中南")), new.get("红山北", new.get("红山南"))} == {f"{STREET}003",
                                                                                       f"{STREET}202"}
    assert new.get("汉中北", new.get("汉中南")) == f"{STREET}003"
    shown = {u["code"]: u["code_status"] for u in plans.show_plan(db, pid, settings=SETTINGS)["units"]}
    assert shown == {C1: "confirmed", C2: "confirmed", V1: "confirmed", f"{STREET}003": "provisional",
                     f"{STREET}202": "provisional"}
    status = approvals.code_statuses(db, [f"{STREET}202"])[f"{STREET}202"]
    assert (status["status"], status["committee"], status["plan_id"]) == ("provisional", "village", pid)

    with pytest.raises(PermissionDenied, match="confirmed by a district-scoped district_planner or admin") as denied:
        approvals.confirm_code(db, f"{STREET}003", user_id=area["street_planner"])
    assert bilingual(denied.value.message)
    done = approvals.confirm_code(db, f"{STREET}003", user_id=area["district_planner"], note="统计局 2026 年区划代码")
    assert (done["status"], done["confirmed_by"], done["committee"]) == ("confirmed", "district_planner",
                                                                         "neighbourhood")
    with pytest.raises(Conflict, match="already confirmed"):
        approvals.confirm_code(db, f"{STREET}003", user_id=area["district_planner"])
    with pytest.raises(NotFound, match="imported codes count as confirmed"):
        approvals.confirm_code(db, C1, user_id=area["district_planner"])


def test_a_neighbourhood_community_never_gets_a_village_code(db: Session, area: dict[str, int]) -> None:
    # Every neighbourhood number up to 199 was used once (retired): a new 居委会 has no code left.
    db.execute(text("INSERT INTO community (code, name, district_code, street_code, geom, valid_from, valid_to) "
                    "VALUES (:c, '旧社区', :d, :s, ST_GeomFromEWKT(:g), '2001-01-01', '2002-01-01')"),
               {"c": f"{STREET}199", "d": DISTRICT, "s": STREET, "g": ewkt(box(XA, Y0, XB, Y1))})
    pid = community_plan(db, {"汉中北": box(XA, YM, XB, Y1), "汉中南": box(XA, Y0, XB, YM),
                              "华侨路": COMMUNITIES[C2][1], "红山村": COMMUNITIES[V1][1]})
    with pytest.raises(Infeasible,
                       match="no neighbourhood committee codes left in 001-199 for 1 new community") as refused:
        plans.adopt_plan(db, pid, reason="split", settings=SETTINGS)
    assert bilingual(refused.value.message)
    assert db.execute(text("SELECT count(*) FROM community WHERE code > :c"), {"c": f"{STREET}199"}).scalar_one() \
        == 1  # only 红山村 201


def test_street_scope_lies_in_the_users_district(db: Session, area: dict[str, int]) -> None:
    with pytest.raises(InvalidInput, match="must lie in the user's district"):
        users.create_user(db, username="x", password="password-1", role="district_planner",
                          district_code=OTHER_DISTRICT, street_code=STREET)
    with pytest.raises(InvalidInput, match="9-digit street code"):
        users.create_user(db, username="y", password="password-1", role="district_planner",
                          district_code=DISTRICT, street_code="3201")


def test_level_2_grid_plans_stay_out_of_the_chain(db: Session, area: dict[str, int]) -> None:
    pid = db.execute(text("INSERT INTO plan (district_code, kind, scope_code) VALUES (:d, 'micro_split', :g) "
                          "RETURNING id"), {"d": DISTRICT, "g": f"{C1}001"}).scalar_one()
    with pytest.raises(InvalidInput, match="adopted directly .*not through the approval chain"):
        approvals.take_step(db, pid, "propose", user_id=area["street_planner"])
    assert state(db, pid) == ("draft", 1, None, 0)
