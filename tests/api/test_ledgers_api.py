"""The community ledgers end to end on the real database: a need found on a visit, met by a unit's canteen.

The town (tests/support/coverage_town.py) fixes the walking distances: building N (grid A) lies on
the north side of the main road 120 m from the point F2 (grid B) where the unit sits; building R
lies across the river in the south community, nearly a kilometre's walk from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import coverage_town as town
import pytest
from api_world import GRID_A, GRID_B, PASSWORD
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

UNIT_PHONE = "13900001111"


def _unit(session: Session) -> int:
    """A resident unit (实有单位) with a canteen at the town's point F2 (grid B, north side of the main road)."""
    f2 = town._lonlat([town.F2])[0]
    return session.execute(text("""
        INSERT INTO org_unit (district_code, unit_key, name, kind, geom)
        VALUES (:d, 'name:市供电公司@', '市供电公司', 'enterprise', ST_SetSRID(ST_MakePoint(:x, :y), 4490))
        RETURNING id"""), {"d": town.DISTRICT, "x": f2.x, "y": f2.y}).scalar_one()


def _unit_contact(client: TestClient, as_user, org_unit_id: int, username: str = "unit_power") -> dict[str, str]:
    """A unit_contact user created and linked by the admin; returns their sign-in headers."""
    created = client.post("/users", headers=as_user("admin"), json={
        "username": username, "password": PASSWORD, "role": "unit_contact", "district_code": town.DISTRICT})
    assert created.status_code == 201, created.text
    linked = client.post("/ledgers/unit-contacts", headers=as_user("admin"),
                         json={"user_id": created.json()["id"], "org_unit_id": org_unit_id})
    assert linked.status_code == 201, linked.text
    assert linked.json()["community_code"] == town.NORTH
    token = client.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _party_member(session: Session, building_id: int) -> int:
    rid = session.execute(text("SELECT id FROM resident WHERE building_id = :b ORDER BY id LIMIT 1"),
                          {"b": building_id}).scalar_one()
    session.execute(text("UPDATE resident SET party_member = true WHERE id = :r"), {"r": rid})
    return int(rid)


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


def test_a_need_found_on_a_visit_is_met_by_a_unit_and_volunteers(client: TestClient, as_user, world: dict,
                                                                  api_session: Session) -> None:
    unit_id = _unit(api_session)
    member = _party_member(api_session, world["N"])
    worker = as_user("worker_a")

    # A visit to a household of N (grid A) finds elderly people who need meals.
    visit = _ok(client.post("/visits", headers=worker, json={
        "household_id": world["households"]["N"], "visited_at": dt.datetime.now(dt.UTC).isoformat(),
        "purpose": "care"}), 201)
    need = _ok(client.post("/ledgers/needs", headers=worker, json={
        "kind_code": "elderly_meals", "visit_id": visit["id"], "affected_households": 2, "affected_people": 3,
        "description": "两户独居老人需要午餐"}), 201)
    assert (need["source"], need["grid_code"], need["community_code"], need["status"]) == (
        "visit", GRID_A, town.NORTH, "open")
    stored = api_session.execute(text("SELECT visit_id, household_id, kind_code, affected_people FROM need "
                                      "WHERE id = :i"), {"i": need["id"]}).one()
    assert tuple(stored) == (visit["id"], world["households"]["N"], "elderly_meals", 3)

    # A second need across the river (south community), which nothing within 500 m serves.
    south = _ok(client.post("/ledgers/needs", headers=as_user("admin"), json={
        "kind_code": "elderly_meals", "building_id": world["R"], "affected_people": 1}), 201)
    assert south["community_code"] == town.SOUTH

    # The unit reports in (双报到) and offers its canteen; its location comes from the units register.
    unit = _unit_contact(client, as_user, unit_id)
    canteen = _ok(client.post("/ledgers/resources", headers=unit, json={
        "provider_kind": "unit", "name": "供电公司职工食堂", "kind_codes": ["elderly_meals"],
        "available": "工作日 11:00–13:00", "capacity": 30, "contact_name": "王经理", "contact_phone": UNIT_PHONE}),
        201)
    assert (canteen["org_unit_id"], canteen["grid_code"], canteen["contact_phone"]) == (unit_id, GRID_B,
                                                                                        "139****1111")
    own = _ok(client.get("/ledgers/resources", headers=unit))["items"]
    assert [r["id"] for r in own] == [canteen["id"]]

    # Within walking distance of the need on N (same side of the main road), not of the one on R.
    reach = _ok(client.get("/ledgers/needs/reach", headers=as_user("admin"),
                           params={"district_code": town.DISTRICT, "radius_m": 500}))
    assert reach["mode"] == "network"
    by_need = {i["need_id"]: i for i in reach["items"]}
    found = by_need[need["id"]]["resources"]
    assert [r["resource_id"] for r in found] == [canteen["id"]]
    assert 150 <= found[0]["distance_m"] <= 175  # 30 m to the road, 120 m along it, 12 m to the unit
    assert by_need[south["id"]]["resources"] == []
    assert reach["unserved_need_ids"] == [south["id"]]
    assert by_need[south["id"]]["reason"] == "no_resource_within_radius"

    # A project meets the need with the canteen; posts for 双报到.
    project = _ok(client.post("/ledgers/projects", headers=worker, json={
        "need_id": need["id"], "title": "老年助餐：供电公司食堂送餐", "resource_ids": [canteen["id"]],
        "starts_on": "2026-12-07", "ends_on": "2027-03-31", "posts": ["配餐", "送餐"]}), 201)
    assert project["status"] == "planned"
    assert _ok(client.get(f"/ledgers/needs/{need['id']}", headers=worker))["status"] == "matched"

    # Claimed by the unit (its contact) and by a party member living in N (recorded by the grid worker).
    claim_unit = _ok(client.post(f"/ledgers/projects/{project['id']}/claims", headers=unit, json={"post": "配餐"}), 201)
    assert (claim_unit["claimant_kind"], claim_unit["org_unit_id"]) == ("unit", unit_id)
    branch = _ok(client.post("/party/orgs", headers=as_user("leader_a"), json={"kind": "grid_branch",
                                                                                "grid_code": GRID_A}), 201)
    claim_member = _ok(client.post(f"/ledgers/projects/{project['id']}/claims", headers=worker,
                                   json={"resident_id": member, "post": "送餐"}), 201)
    assert claim_member["claimant_kind"] == "party_member"
    claims = _ok(client.get(f"/ledgers/projects/{project['id']}", headers=worker))["claims"]
    assert [(c["claimant_kind"], c["party_branch"]) for c in claims] == [("unit", None),
                                                                        ("party_member", branch["name"])]
    assert claims[1]["member_name"] is not None
    planner_view = _ok(client.get(f"/ledgers/projects/{project['id']}", headers=as_user("planner")))["claims"]
    assert (planner_view[1]["member_name"], planner_view[1]["resident_id"]) == (None, None)
    assert client.post(f"/ledgers/projects/{project['id']}/claims", headers=unit, json={}).status_code == 409

    # Two volunteers sign up and serve; their hours are recorded.
    hours = {}
    for name, phone, served in (("张志愿", "13700000001", 2.5), ("李志愿", "13700000002", 3.0)):
        volunteer = _ok(client.post("/ledgers/volunteers", headers=worker, json={
            "community_code": town.NORTH, "name": name, "phone": phone}), 201)
        shift = _ok(client.post(f"/ledgers/projects/{project['id']}/signups", headers=worker,
                                json={"volunteer_id": volunteer["id"], "post": "送餐"}), 201)
        _ok(client.put(f"/ledgers/signups/{shift['id']}/hours", headers=worker,
                       json={"hours": served, "served_on": "2026-12-08"}))
        hours[volunteer["id"]] = served
    assert client.put(f"/ledgers/signups/{shift['id']}/hours", headers=worker, json={"hours": 30}).status_code == 422

    # Started, then finished with the need met: the need is closed.
    _ok(client.post(f"/ledgers/projects/{project['id']}/actions", headers=worker, json={"action": "start"}))
    assert _ok(client.get(f"/ledgers/needs/{need['id']}", headers=worker))["status"] == "in_progress"
    done = _ok(client.post(f"/ledgers/projects/{project['id']}/actions", headers=worker, json={
        "action": "finish", "outcome": "两户老人每个工作日午餐送到家", "need_outcome": "met"}))
    assert (done["status"], done["volunteer_hours"]) == ("done", 5.5)
    closed = _ok(client.get(f"/ledgers/needs/{need['id']}", headers=worker))
    assert (closed["status"], closed["outcome"]) == ("closed", "met")
    assert [e["action"] for e in closed["history"]] == ["record", "match", "start", "close"]

    # What the database holds, read apart from the API.
    row = api_session.execute(text("SELECT status, outcome, closed_at IS NOT NULL FROM need WHERE id = :i"),
                              {"i": need["id"]}).one()
    assert tuple(row) == ("closed", "met", True)
    claims = api_session.execute(text("SELECT claimant_kind, org_unit_id, resident_id FROM project_claim "
                                      "WHERE project_id = :p ORDER BY id"), {"p": project["id"]}).all()
    assert [tuple(c) for c in claims] == [("unit", unit_id, None), ("party_member", None, member)]
    total = api_session.execute(text("SELECT sum(hours), count(*) FROM volunteer_shift WHERE project_id = :p"),
                                {"p": project["id"]}).one()
    assert (float(total[0]), total[1]) == (5.5, 2)
    assert api_session.execute(text("SELECT count(*) FROM project_resource WHERE project_id = :p AND resource_id = :r"),
                               {"p": project["id"], "r": canteen["id"]}).scalar_one() == 1

    # The figures: needs met and volunteer hours per community; needs per grid by kind.
    stats = _ok(client.get("/stats/ledgers", headers=as_user("viewer")))
    north = next(c for c in stats["communities"] if c["community_code"] == town.NORTH)
    assert (north["needs"], north["needs_met"], north["volunteer_hours"], north["volunteers"]) == (1, 1, 5.5, 2)
    assert (north["unit_claims"], north["party_member_claims"], north["projects_by_status"]) == (1, 1, {"done": 1})
    assert north["needs_by_kind"] == {"elderly_meals": 1}
    south_row = next(c for c in stats["communities"] if c["community_code"] == town.SOUTH)
    assert (south_row["needs_open"], south_row["needs_met"]) == (1, 0)
    grid_a = next(g for g in stats["by_grid"] if g["grid_code"] == GRID_A)
    assert grid_a["by_kind"] == {"elderly_meals": 1}

    # The map layer: both needs as points, kind and status, nobody named.
    layer = client.get("/ledgers/needs/layer", headers=as_user("viewer"))
    assert layer.status_code == 200 and layer.headers["content-type"].startswith("application/geo+json")
    props = {f["properties"]["id"]: f["properties"] for f in layer.json()["features"]}
    assert props[need["id"]]["status"] == "closed" and props[south["id"]]["status"] == "open"
    assert "description" not in props[need["id"]] and "contact_phone" not in props[need["id"]]

    # The unit sees the project it claimed, and the need behind it without its description.
    assert [p["id"] for p in _ok(client.get("/ledgers/projects", headers=unit))["items"]] == [project["id"]]
    seen = _ok(client.get("/ledgers/needs", headers=unit))["items"]
    assert [(n["id"], n["description"]) for n in seen] == [(need["id"], None)]


def test_reads_of_personal_fields_are_scoped_masked_and_audited(client: TestClient, as_user, world: dict,
                                                                 api_session: Session) -> None:
    point = town._lonlat([town.p(300, 60)])[0]
    filed = client.post("/ledgers/public/needs", json={
        "kind_code": "accessibility", "lon": point.x, "lat": point.y, "description": "单元门口台阶，轮椅无法进出",
        "contact_phone": "13812345678", "affected_people": 1})
    assert filed.status_code == 201, filed.text
    assert set(filed.json()) == {"id", "kind_code", "status", "community_code"}
    need_id = filed.json()["id"]

    shown = _ok(client.get(f"/ledgers/needs/{need_id}", headers=as_user("leader_a")))
    assert (shown["contact_phone"], shown["description"]) == ("138****5678", "单元门口台阶，轮椅无法进出")
    audit = api_session.execute(text("SELECT reason, detail FROM audit_log WHERE entity = 'need' AND action = 'read' "
                                     "AND entity_id = :i"), {"i": str(need_id)}).all()
    assert len(audit) == 1 and audit[0].reason == "自动化测试 automated test"

    # A planner sees the need, not who filed it nor what they wrote; worker_b (grid B) does not see it at all.
    planner = _ok(client.get(f"/ledgers/needs/{need_id}", headers=as_user("planner")))
    assert (planner["contact_phone"], planner["description"], planner["status"]) == (None, None, "open")
    assert client.get(f"/ledgers/needs/{need_id}", headers=as_user("worker_b")).status_code == 404
    assert need_id not in [n["id"] for n in _ok(client.get("/ledgers/needs", headers=as_user("worker_b")))["items"]]
    # Without a reason, the roles that see personal fields are refused.
    client.headers.pop("X-Access-Reason")
    assert client.get("/ledgers/needs", headers=as_user("worker_a")).status_code == 428

    # worker_b may not record a need in grid A.
    refused = client.post("/ledgers/needs", headers=as_user("worker_b"),
                          json={"kind_code": "parking", "building_id": world["N"]})
    assert refused.status_code == 403


def test_volunteers_are_read_with_a_reason_and_audited(client: TestClient, as_user) -> None:
    worker = as_user("worker_a")
    _ok(client.post("/ledgers/volunteers", headers=worker, json={
        "community_code": town.NORTH, "name": "赵志愿", "phone": "13700009999"}), 201)
    items = _ok(client.get("/ledgers/volunteers", headers=worker))["items"]
    assert [(v["name"], v["phone"]) for v in items] == [("赵志愿", "137****9999")]
    # worker_b's grid B lies in the same community: they see the volunteer too; the viewer may not.
    assert len(_ok(client.get("/ledgers/volunteers", headers=as_user("worker_b")))["items"]) == 1
    assert client.get("/ledgers/volunteers", headers=as_user("viewer")).status_code == 403
    audit = _ok(client.get("/audit", headers=as_user("admin"), params={"entity": "volunteer"}))
    reads = [a for a in (audit["items"] if isinstance(audit, dict) else audit) if a["action"] == "read"]
    assert len(reads) == 2


def test_a_unit_keeps_its_own_resources_only(client: TestClient, as_user, api_session: Session) -> None:
    unit = _unit_contact(client, as_user, _unit(api_session))
    other_unit = api_session.execute(text(
        "INSERT INTO org_unit (district_code, unit_key, name) VALUES (:d, 'name:其他单位@', '其他单位') RETURNING id"),
        {"d": town.DISTRICT}).scalar_one()
    mine = _ok(client.post("/ledgers/resources", headers=unit, json={
        "provider_kind": "unit", "name": "停车场夜间开放", "kind_codes": ["parking"], "available": "19:00–7:00"}), 201)
    # Another unit's resource cannot be added, nor seen, nor changed.
    assert client.post("/ledgers/resources", headers=unit, json={
        "provider_kind": "unit", "org_unit_id": other_unit, "name": "x"}).status_code == 403
    point = town._lonlat([town.p(300, 60)])[0]
    theirs = _ok(client.post("/ledgers/resources", headers=as_user("admin"), json={
        "provider_kind": "other", "name": "社区图书室", "lon": point.x, "lat": point.y}), 201)
    assert [r["id"] for r in _ok(client.get("/ledgers/resources", headers=unit))["items"]] == [mine["id"]]
    assert client.patch(f"/ledgers/resources/{theirs['id']}", headers=unit,
                        json={"available": "周末"}).status_code == 404
    changed = _ok(client.patch(f"/ledgers/resources/{mine['id']}", headers={**unit, "If-Match": '"1"'},
                               json={"available": "18:00–8:00", "capacity": 40}))
    assert (changed["available"], changed["capacity"], changed["version"]) == ("18:00–8:00", 40, 2)
    stale = client.patch(f"/ledgers/resources/{mine['id']}", headers={**unit, "If-Match": '"1"'},
                         json={"capacity": 50})
    assert stale.status_code == 409
    assert api_session.execute(text("SELECT capacity FROM ledger_resource WHERE id = :i"),
                               {"i": mine["id"]}).scalar_one() == 40
    # A unit contact writes no needs and may not read volunteers.
    assert client.post("/ledgers/needs", headers=unit, json={"kind_code": "parking", "lon": point.x,
                                                             "lat": point.y}).status_code == 403


def test_a_community_adds_its_own_need_kind(client: TestClient, as_user, world: dict) -> None:
    leader = as_user("leader_a")
    _ok(client.post("/ledgers/kinds", headers=leader, json={
        "code": "lift_retrofit", "name_zh": "加装电梯", "name_en": "Lift retrofit", "community_code": town.NORTH}),
        201)
    assert "lift_retrofit" in [k["code"] for k in _ok(client.get("/ledgers/kinds", params={
        "community_code": town.NORTH}, headers=leader))["items"]]
    made = _ok(client.post("/ledgers/needs", headers=leader, json={"kind_code": "lift_retrofit",
                                                                   "building_id": world["N"]}), 201)
    assert made["kind_zh"] == "加装电梯"
    # The south community does not have it.
    refused = client.post("/ledgers/needs", headers=as_user("admin"), json={"kind_code": "lift_retrofit",
                                                                            "building_id": world["R"]})
    assert refused.status_code == 422 and refused.json()["details"]["field"] == "kind_code"


@pytest.mark.parametrize("action,body,status", [
    ("close", {}, 422),  # closing needs an outcome
    ("reject", {}, 422),  # rejecting needs a reason
    ("reopen", {}, 409),  # an open need cannot be reopened
])
def test_need_actions_are_checked(client: TestClient, as_user, world: dict, api_session: Session, action: str,
                                  body: dict, status: int) -> None:
    need = _ok(client.post("/ledgers/needs", headers=as_user("worker_a"),
                           json={"kind_code": "parking", "building_id": world["N"]}), 201)
    response = client.post(f"/ledgers/needs/{need['id']}/actions", headers=as_user("worker_a"),
                           json={"action": action, **body})
    assert response.status_code == status, response.text
    assert api_session.execute(text("SELECT status, version FROM need WHERE id = :i"),
                               {"i": need["id"]}).one() == ("open", 1)


def test_dates_out_of_order_are_refused_and_nothing_is_stored(client: TestClient, as_user, world: dict,
                                                              api_session: Session) -> None:
    need = _ok(client.post("/ledgers/needs", headers=as_user("worker_a"),
                           json={"kind_code": "parking", "building_id": world["N"]}), 201)
    response = client.post("/ledgers/projects", headers=as_user("worker_a"), json={
        "need_id": need["id"], "title": "夜间共享停车", "starts_on": str(dt.date(2027, 1, 2)),
        "ends_on": str(dt.date(2027, 1, 1))})
    assert response.status_code == 422 and response.json()["details"]["field"] == "ends_on"
    assert api_session.execute(text("SELECT count(*) FROM ledger_project WHERE need_id = :n"),
                               {"n": need["id"]}).scalar_one() == 0


def test_every_ledger_read_of_personal_fields_needs_a_reason_and_keeps_the_probe(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    need = _ok(client.post("/ledgers/needs", headers=as_user("worker_a"),
                           json={"kind_code": "parking", "building_id": world["N"], "description": "3栋门口"}), 201)
    client.headers.pop("X-Access-Reason")
    # Refusals are kept in their own transaction (committed): count those of this test only.
    started = api_session.execute(text("SELECT clock_timestamp()")).scalar_one()
    for url in ("/ledgers/needs", f"/ledgers/needs/{need['id']}", "/ledgers/resources", "/ledgers/volunteers",
                f"/ledgers/communities/{town.NORTH}/lists", f"/ledgers/communities/{town.NORTH}/export"):
        response = client.get(url, headers=as_user("worker_a"))
        assert response.status_code == 428, url
        assert response.json()["error"] == "access_reason_required" and "3栋门口" not in response.text
    probes = api_session.execute(text("SELECT count(*) FROM audit_log "
                                      "WHERE username = 'worker_a' AND action = 'refused' "
                                      "AND entity LIKE 'GET /ledgers/%' AND at >= :t"), {"t": started}).scalar_one()
    assert probes == 6
    # A planner reads the lists without a reason: nothing personal reaches them.
    lists = _ok(client.get(f"/ledgers/communities/{town.NORTH}/lists", headers=as_user("planner")))
    assert [(n["id"], n["description"]) for n in lists["needs"]] == [(need["id"], None)]


def test_a_community_officer_keeps_the_ledgers_of_their_community_only(client: TestClient, as_user, world: dict,
                                                                        api_session: Session) -> None:
    created = _ok(client.post("/users", headers=as_user("admin"), json={
        "username": "officer_south", "password": PASSWORD, "role": "community_officer",
        "district_code": town.DISTRICT}), 201)
    api_session.execute(text("UPDATE app_user SET community_code = :c WHERE id = :u"),
                        {"c": town.SOUTH, "u": created["id"]})
    token = client.post("/auth/token", data={"username": "officer_south", "password": PASSWORD}).json()
    officer = {"Authorization": f"Bearer {token['access_token']}"}
    north = _ok(client.post("/ledgers/needs", headers=as_user("admin"),
                            json={"kind_code": "parking", "building_id": world["N"]}), 201)
    south = _ok(client.post("/ledgers/needs", headers=officer,
                            json={"kind_code": "home_care", "building_id": world["R"]}), 201)
    assert south["community_code"] == town.SOUTH
    refused = client.post("/ledgers/needs", headers=officer, json={"kind_code": "parking", "building_id": world["N"]})
    assert refused.status_code == 403
    assert [n["id"] for n in _ok(client.get("/ledgers/needs", headers=officer))["items"]] == [south["id"]]
    assert client.get(f"/ledgers/needs/{north['id']}", headers=officer).status_code == 404
    assert client.post("/ledgers/volunteers", headers=officer, json={
        "community_code": town.NORTH, "name": "越界"}).status_code == 403
