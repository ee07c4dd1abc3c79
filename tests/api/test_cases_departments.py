"""The case loop beyond the grid over HTTP (issue 18), each stored outcome checked with its own query:

- a case routed grid → community → street → department by its category, claimed, handled and closed by that
  department, each hand-over an event with its own deadline; the department's response and closure counted;
- a summons (吹哨) of two departments where one reports in (报到) and one misses, both listed and counted, the
  case's clock untouched;
- an urged (催办) and supervised (督办) case keeping its deadline and staying on the overdue list, counted per
  grid and per person;
- 随手办: closed by the automatic check, or sampled and verified by a supervisor; counted apart;
- a verification refused to the handler, with a code the pages word.

Users of the new roles are created in each test's rolled-back transaction and sign in through /auth/token.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from zoneinfo import ZoneInfo

import api_world
import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import cases as case_service
from gis.services import users as user_service
from gis.services.residents import Reader
from gis.services.users import Principal

SH = ZoneInfo("Asia/Shanghai")


def lonlat(x: float, y: float) -> list[float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return [pt.x, pt.y]


def this_month() -> str:
    return dt.datetime.now(SH).strftime("%Y-%m")


@pytest.fixture
def people(client: TestClient, api_session: Session, world: dict, tokens: dict[str, str]) -> dict:
    """Users of the roles beyond the grid, signed in: headers per name and their ids."""
    made = {}
    with api_world.password_hashed_once():  # argon2 by design takes long: one hash serves every new user
        for name, role, extra in [("comm_north", "community_officer", {}), ("street_1", "street_officer",
                                                                            {"street_code": town.STREET}),
                                  ("dept_cg", "department_staff", {}), ("dept_hw", "department_staff", {}),
                                  ("dept_sw", "department_staff", {}), ("supervisor_1", "supervisor", {})]:
            user = user_service.create_user(api_session, username=name, password=api_world.PASSWORD, role=role,
                                            district_code=town.DISTRICT, **extra)
            made[name] = user.id
    api_session.execute(text("UPDATE app_user SET community_code = :c WHERE id = :u"),
                        {"c": town.NORTH, "u": made["comm_north"]})
    headers = {}
    for name in made:
        token = client.post("/auth/token", data={"username": name, "password": api_world.PASSWORD})
        assert token.status_code == 200, token.text
        headers[name] = {"Authorization": f"Bearer {token.json()['access_token']}"}
    # The world's users signed in once per session (tests/support/api_fixtures.py).
    headers.update({name: {"Authorization": f"Bearer {tokens[name]}"}
                    for name in ["admin", "leader_a", "worker_a", "worker_b"]})
    return {"ids": {**made, **world["users"]}, "h": headers}


def department(client: TestClient, people: dict, name: str, kind: str, staff: str, **body) -> dict:
    response = client.post("/departments", json={"name": name, "kind": kind, "staff": [people["ids"][staff]],
                                                 **body}, headers=people["h"]["admin"])
    assert response.status_code == 201, response.text
    return response.json()


def report(client: TestClient, headers: dict, *, status: int = 201, xy=(300, 60), **body) -> dict:
    response = client.post("/incidents", json={"point": lonlat(*xy), "category_code": "E0201", **body},
                           headers=headers)
    assert response.status_code == status, response.text[:500]
    return response.json()


def act(client: TestClient, headers: dict, case: dict, action: str, *, status: int = 200, **body) -> dict:
    response = client.post(f"/incidents/{case['id']}/actions", json={"action": action, **body},
                           headers={**headers, "If-Match": f'"{case["version"]}"'})
    assert response.status_code == status, f"{action}: {response.text[:500]}"
    answer = response.json()
    if status == 200:
        case["version"] = answer["incident"]["version"]
    return answer


def detail(client: TestClient, headers: dict, case_id: int, status: int = 200) -> dict:
    response = client.get(f"/incidents/{case_id}", headers=headers)
    assert response.status_code == status, response.text[:300]
    return response.json()


def stored(session: Session, case_id: int):
    return session.execute(text("SELECT status, level, department_id, handler_id, due_at, version, closed_at "
                                "FROM incident WHERE id = :i"), {"i": case_id}).one()


def photo(colour: str) -> str:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


# --- routing to a department, claim, handling, closing -------------------------------------------------


def test_a_case_goes_up_to_the_department_its_category_names_which_claims_handles_and_closes_it(
        client: TestClient, api_session: Session, people: dict) -> None:
    h, ids = people["h"], people["ids"]
    enforcement = department(client, people, "城管执法中队", "functional", "dept_cg")
    sanitation = department(client, people, "环卫所", "functional", "dept_hw")
    # The category table gives 城管执法中队 the advertising categories (E0201 非法小广告 among them).
    assert "E0201" in enforcement["categories"] and "E0201" not in sanitation["categories"]
    listed = client.get("/departments", params={"category_code": "E0201"}, headers=h["worker_a"]).json()
    assert [d["name"] for d in listed] == ["城管执法中队"] and listed[0]["staff"] is None  # names for admins

    case = report(client, h["worker_a"])["incident"]
    act(client, h["leader_a"], case, "register")
    steps = [("leader_a", "community"), ("comm_north", "street"), ("street_1", "department")]
    for who, level in steps:
        # Whoever holds the level sees it may hand the case over.
        assert "hand_over" in detail(client, h[who], case["id"])["allowed_actions"]
        answer = act(client, h[who], case, "hand_over", note=f"移交{level}")
        assert (answer["incident"]["status"], answer["incident"]["level"]) == ("referred", level)
        # Each hand-over starts its own dispatch clock, stored as the case's due time.
        assert answer["sla"]["stage"] == "dispatch"
        assert dt.datetime.fromisoformat(answer["sla"]["started_at"]) == \
            dt.datetime.fromisoformat(answer["event"]["at"])
        assert stored(api_session, case["id"]).due_at == dt.datetime.fromisoformat(answer["sla"]["due_at"])
    row = stored(api_session, case["id"])
    assert (row.status, row.level, row.department_id) == ("referred", "department", enforcement["id"])
    # Offered to 城管执法中队: its staff may claim it; 环卫所's staff do not even see it.
    assert {"claim", "return"} <= set(detail(client, h["dept_cg"], case["id"])["allowed_actions"])
    assert detail(client, h["dept_hw"], case["id"], status=404)["message"].endswith("within your scope")
    refused = act(client, h["comm_north"], case, "claim", status=403)
    assert refused["details"]["reason"] == "not_offered"

    act(client, h["dept_cg"], case, "claim", note="中队认领")
    act(client, h["dept_cg"], case, "feedback", note="已清除小广告")
    # The department handled it: its staff may not verify (not a verifying role either); the supervisor does.
    assert "verify" not in detail(client, h["dept_cg"], case["id"])["allowed_actions"]
    assert "verify" in detail(client, h["supervisor_1"], case["id"])["allowed_actions"]
    act(client, h["supervisor_1"], case, "verify")
    act(client, h["supervisor_1"], case, "close")

    row = stored(api_session, case["id"])
    assert (row.status, row.level, row.department_id, row.handler_id) == \
        ("closed", "department", enforcement["id"], ids["dept_cg"])
    log = api_session.execute(text("SELECT action, actor_id, detail FROM incident_event WHERE incident_id = :i "
                                   "ORDER BY id"), {"i": case["id"]}).all()
    assert [e.action for e in log] == ["report", "register", "hand_over", "hand_over", "hand_over", "claim",
                                       "feedback", "verify", "close"]
    assert [e.detail["to_level"] for e in log if e.action == "hand_over"] == ["community", "street", "department"]
    assert log[4].detail["department_id"] == enforcement["id"]
    assert {e.actor_id for e in log if e.action in {"claim", "feedback"}} == {ids["dept_cg"]}
    # The department's list holds it; filters by level and department narrow any list.
    mine = client.get("/incidents", params={"level": "department", "department_id": enforcement["id"]},
                      headers=h["dept_cg"]).json()
    assert [c["id"] for c in mine["items"]] == [case["id"]] and mine["items"][0]["status"] == "closed"
    assert client.get("/incidents", params={"level": "grid"}, headers=h["dept_cg"]).json()["total"] == 0
    assert client.get("/incidents", params={"level": "moon"}, headers=h["admin"]).status_code == 422

    figures = client.get("/stats/cases", params={"period": this_month()}, headers=h["admin"]).json()
    (mine,) = [d for d in figures["by_department"] if d["department_id"] == enforcement["id"]]
    assert (mine["department"], mine["kind"], mine["offered"], mine["claimed"], mine["closed"]) == \
        ("城管执法中队", "functional", 1, 1, 1)
    assert mine["mean_response_hours"] is not None and mine["mean_closure_hours"] >= mine["mean_response_hours"]
    assert any(g["grid_code"] == api_world.GRID_A and g["reports"] >= 1 for g in figures["by_grid"])


def test_hand_over_without_a_department_for_the_category_is_refused_and_changes_nothing(
        client: TestClient, api_session: Session, people: dict) -> None:
    h = people["h"]
    case = report(client, h["worker_a"], category_code="E0601")["incident"]  # 其他事件: no department named
    act(client, h["leader_a"], case, "register")
    act(client, h["leader_a"], case, "hand_over")
    act(client, h["comm_north"], case, "hand_over")
    before = stored(api_session, case["id"])
    refused = act(client, h["street_1"], case, "hand_over", status=422)
    assert refused["details"]["reason"] == "no_department" and "E0601" in refused["message"]
    assert stored(api_session, case["id"]) == before
    # Naming one works; a grid worker may not hand over at all.
    named = department(client, people, "综合执法队", "member", "dept_sw")
    act(client, h["worker_a"], case, "hand_over", status=403)
    assert act(client, h["street_1"], case, "hand_over", department_id=named["id"])["incident"]["department_id"] \
        == named["id"]


# --- summons and report-in ---------------------------------------------------------------------------


def test_a_summons_of_two_departments_one_reports_in_one_misses_both_counted(
        client: TestClient, api_session: Session, people: dict) -> None:
    h, ids = people["h"], people["ids"]
    enforcement = department(client, people, "城管执法中队", "functional", "dept_cg")
    water = department(client, people, "水务所", "functional", "dept_sw")
    now = dt.datetime.now(dt.UTC)
    worker = Principal(user_id=ids["worker_a"], username="worker_a", role="grid_worker",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    street = Principal(user_id=ids["street_1"], username="street_1", role="street_officer",
                       district_code=town.DISTRICT)
    dept = Principal(user_id=ids["dept_cg"], username="dept_cg", role="department_staff",
                     district_code=town.DISTRICT)
    settings = client.app.state.settings
    # An urgent case (wall-clock limits) reported three hours ago; summoned two hours ago with one hour to report in.
    case = case_service.report_incident(api_session, worker, settings=settings, point=tuple(lonlat(300, 60)),
                                        category_code="E0402", urgency="urgent", at=now - dt.timedelta(hours=3)
                                        )["incident"]
    due_before = stored(api_session, case["id"]).due_at
    summoned = case_service.act_on_incident(
        api_session, Reader(street), case["id"], action="summon", expected_version=case["version"], settings=settings,
        departments=[enforcement["id"], water["id"]], report_in_hours=1, at=now - dt.timedelta(hours=2))
    assert summoned["incident"]["status"] == "reported" and summoned["event"]["to_status"] == "reported"
    case_service.act_on_incident(api_session, Reader(dept), case["id"], action="report_in",
                                 expected_version=summoned["incident"]["version"], settings=settings,
                                 at=now - dt.timedelta(hours=1, minutes=30))
    # The clock of the case never stopped: same status, same due time.
    row = stored(api_session, case["id"])
    assert (row.status, row.due_at) == ("reported", due_before)
    rows = api_session.execute(text("SELECT department_id, reported_in_by, reported_in_at IS NOT NULL AS reported "
                                    "FROM case_summons WHERE incident_id = :i ORDER BY department_id"),
                               {"i": case["id"]}).all()
    assert [tuple(r) for r in rows] == [(enforcement["id"], ids["dept_cg"], True), (water["id"], None, False)]

    missed = client.get("/incidents/summons", params={"missed": "true"}, headers=h["street_1"]).json()
    assert [(s["incident_id"], s["department_id"], s["status"]) for s in missed["items"]] == \
        [(case["id"], water["id"], "missed")]
    assert missed["missed"] == 1
    counts = {c["department_id"]: c for c in missed["by_department"]}
    assert (counts[enforcement["id"]]["reported_in_on_time"], counts[enforcement["id"]]["missed"]) == (1, 0)
    assert (counts[water["id"]]["reported_in"], counts[water["id"]]["missed"]) == (0, 1)
    # A department sees its own summons only.
    own = client.get("/incidents/summons", headers=h["dept_cg"]).json()
    assert [s["department_id"] for s in own["items"]] == [enforcement["id"]] and own["missed"] == 0
    # The case page lists both summons.
    assert [s["status"] for s in detail(client, h["street_1"], case["id"])["summons"]] == ["reported_in", "missed"]

    period = (now - dt.timedelta(hours=2)).astimezone(SH).strftime("%Y-%m")
    figures = client.get("/stats/cases", params={"period": period}, headers=h["admin"]).json()
    by_department = {d["department_id"]: d for d in figures["by_department"]}
    assert (by_department[enforcement["id"]]["summoned"], by_department[enforcement["id"]]["reported_in_on_time"],
            by_department[enforcement["id"]]["missed"]) == (1, 1, 0)
    assert (by_department[water["id"]]["summoned"], by_department[water["id"]]["missed"]) == (1, 1)


def test_summons_are_for_the_street_or_community_and_report_in_for_the_summoned(
        client: TestClient, api_session: Session, people: dict) -> None:
    h = people["h"]
    enforcement = department(client, people, "城管执法中队", "functional", "dept_cg")
    sanitation = department(client, people, "环卫所", "functional", "dept_hw")
    case = report(client, h["worker_a"])["incident"]
    refused = act(client, h["worker_a"], case, "summon", departments=[enforcement["id"]], report_in_hours=2,
                  status=403)
    assert refused["error"] == "permission_denied"
    assert "report_in_hours" in act(client, h["comm_north"], case, "summon", departments=[enforcement["id"]],
                                    status=422)["message"]
    answer = act(client, h["comm_north"], case, "summon", departments=[enforcement["id"]], report_in_hours=2)
    assert answer["event"]["detail"]["departments"] == [enforcement["id"]]
    assert act(client, h["comm_north"], case, "summon", departments=[enforcement["id"]], report_in_hours=2,
               status=409)["details"]["department_id"] == enforcement["id"]
    # 环卫所 was not summoned: it does not see the case; 城管执法中队 does and reports in.
    detail(client, h["dept_hw"], case["id"], status=404)
    assert "report_in" in detail(client, h["dept_cg"], case["id"])["allowed_actions"]
    act(client, h["dept_cg"], case, "report_in", note="已到场")
    assert api_session.execute(text("SELECT count(*) FROM case_summons WHERE incident_id = :i AND reported_in_at "
                                    "IS NOT NULL"), {"i": case["id"]}).scalar_one() == 1
    assert sanitation["id"] not in {s["department_id"] for s in detail(client, h["admin"], case["id"])["summons"]}


# --- urging and supervision ----------------------------------------------------------------------------


def test_an_urged_case_keeps_its_deadline_and_stays_on_the_overdue_list(
        client: TestClient, api_session: Session, people: dict) -> None:
    h, ids = people["h"], people["ids"]
    settings = client.app.state.settings
    worker = Principal(user_id=ids["worker_a"], username="worker_a", role="grid_worker",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    leader = Principal(user_id=ids["leader_a"], username="leader_a", role="grid_leader",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    case = case_service.report_incident(api_session, worker, settings=settings, point=tuple(lonlat(300, 60)),
                                        category_code="C0106", at=past)["incident"]
    version = case["version"]
    for action, kw in [("register", {}), ("dispatch", {"handler_id": ids["worker_a"]})]:
        version = case_service.act_on_incident(api_session, Reader(leader), case["id"], action=action,
                                               expected_version=version, settings=settings,
                                               at=past + dt.timedelta(minutes=5), **kw)["incident"]["version"]
    case["version"] = version
    before = stored(api_session, case["id"])
    assert detail(client, h["leader_a"], case["id"])["overdue"] is True

    act(client, h["worker_a"], case, "urge", status=403)  # a worker does not urge
    urged = act(client, h["leader_a"], case, "urge", note="请今天处理完")
    assert urged["incident"]["status"] == "dispatched" and urged["incident"]["overdue"] is True
    supervised = act(client, h["street_1"], case, "supervise", note="街道督办")
    assert supervised["event"]["detail"]["overdue"] is True
    after = stored(api_session, case["id"])
    assert (after.status, after.due_at, after.handler_id) == (before.status, before.due_at, before.handler_id)

    overdue = client.get("/incidents/overdue", headers=h["leader_a"]).json()["overdue"]
    (listed,) = [c for c in overdue if c["id"] == case["id"]]
    assert (listed["urged"], listed["supervised"], listed["overdue"]) == (1, 1, True)
    rows = api_session.execute(text("SELECT kind, actor_id, target_user_id, grid_code, stage, overdue FROM "
                                    "incident_urging WHERE incident_id = :i ORDER BY id"), {"i": case["id"]}).all()
    assert [tuple(r) for r in rows] == [
        ("urge", ids["leader_a"], ids["worker_a"], api_world.GRID_A, "handling", True),
        ("supervise", ids["street_1"], ids["worker_a"], api_world.GRID_A, "handling", True)]

    figures = client.get("/stats/cases", params={"period": this_month()}, headers=h["admin"]).json()
    (grid,) = [g for g in figures["by_grid"] if g["grid_code"] == api_world.GRID_A]
    assert (grid["urged"], grid["supervised"]) == (1, 1) and grid["late_now"] >= 1
    (person,) = [p for p in figures["by_person"] if p["user_id"] == ids["worker_a"]]
    assert (person["username"], person["urged"], person["supervised"]) == ("worker_a", 1, 1)

    # A case still on time is not urged.
    fresh = report(client, h["worker_a"], xy=(200, 60), category_code="C0501")["incident"]
    assert act(client, h["leader_a"], fresh, "urge", status=409)["details"]["reason"] == "not_late"


# --- 随手办 and verification ---------------------------------------------------------------------------


def test_a_quick_fix_is_closed_by_the_automatic_check_and_counted_apart(
        client: TestClient, api_session: Session, people: dict, monkeypatch) -> None:
    h = people["h"]
    monkeypatch.setattr(client.app.state.settings, "case_quick_fix_sample_share", 0.0)
    photos = [{"kind": "before", "content_base64": photo("red")}, {"kind": "after", "content_base64": photo("green")}]
    count = api_session.execute(text("SELECT count(*) FROM incident")).scalar_one()
    # Not a minor category, or a photo missing: refused, nothing written.
    not_minor = report(client, h["worker_a"], status=422, category_code="C0501", quick_fix=True, photos=photos)
    assert not_minor["details"]["reason"] == "quick_fix_not_allowed" and "C0501" in not_minor["message"]
    no_after = report(client, h["worker_a"], status=422, category_code="E0101", quick_fix=True, photos=photos[:1])
    assert no_after["details"]["missing"] == ["after"]
    assert api_session.execute(text("SELECT count(*) FROM incident")).scalar_one() == count

    body = report(client, h["worker_a"], category_code="E0101", quick_fix=True, photos=photos,
                  description="路边垃圾已清理")
    case = body["incident"]
    assert body["quick_fix_check"] == {"check": "automatic", "status": "closed"}
    row = api_session.execute(text("SELECT status, quick_fix, closed_at IS NOT NULL AS closed FROM incident "
                                   "WHERE id = :i"), {"i": case["id"]}).one()
    assert tuple(row) == ("closed", True, True)
    assert sorted(api_session.execute(text("SELECT kind FROM incident_photo WHERE incident_id = :i"),
                                      {"i": case["id"]}).scalars()) == ["after", "before"]
    log = api_session.execute(text("SELECT action, actor_role FROM incident_event WHERE incident_id = :i ORDER BY id"),
                              {"i": case["id"]}).all()
    assert [tuple(e) for e in log] == [("quick_fix", "grid_worker"), ("close", "system")]

    figures = client.get("/stats/cases", params={"period": this_month()}, headers=h["admin"]).json()
    assert figures["quick_fix"]["reported"] == 1 and figures["quick_fix"]["closed_automatically"] == 1
    (grid,) = [g for g in figures["by_grid"] if g["grid_code"] == api_world.GRID_A]
    assert (grid["quick_fix"], grid["quick_fix_closed_automatically"], grid["reports"]) == (1, 1, 0)


def test_a_sampled_quick_fix_waits_for_a_verifier_who_is_never_its_handler(
        client: TestClient, api_session: Session, people: dict, monkeypatch) -> None:
    h = people["h"]
    monkeypatch.setattr(client.app.state.settings, "case_quick_fix_sample_share", 1.0)
    photos = [{"kind": "before", "content_base64": photo("blue")}, {"kind": "after", "content_base64": photo("white")}]
    body = report(client, h["leader_a"], category_code="S0301", quick_fix=True, photos=photos)  # 楼道堆物
    case = body["incident"]
    assert body["quick_fix_check"]["check"] == "sampled" and case["status"] == "quick_fixed"
    # The leader fixed it: a verifying role, but the handler; refused with a code and a reason in words.
    assert "verify" not in detail(client, h["leader_a"], case["id"])["allowed_actions"]
    refused = act(client, h["leader_a"], case, "verify", status=403)
    assert refused["details"]["reason"] == "verifier_is_handler"
    assert "different person than the handler" in refused["message"]
    assert stored(api_session, case["id"]).status == "quick_fixed"
    act(client, h["supervisor_1"], case, "verify", note="抽查属实")
    act(client, h["supervisor_1"], case, "close")
    assert stored(api_session, case["id"]).status == "closed"
    figures = client.get("/stats/cases", params={"period": this_month()}, headers=h["admin"]).json()
    assert (figures["quick_fix"]["sampled"], figures["quick_fix"]["verified"]) == (1, 1)


def test_the_verifying_roles_are_a_setting(client: TestClient, api_session: Session, people: dict,
                                           monkeypatch) -> None:
    h, ids = people["h"], people["ids"]
    monkeypatch.setattr(client.app.state.settings, "case_verifier_roles", ["supervisor"])
    case = report(client, h["worker_a"], category_code="C0106")["incident"]
    act(client, h["leader_a"], case, "register")
    act(client, h["leader_a"], case, "dispatch", handler_id=ids["worker_a"])
    act(client, h["worker_a"], case, "accept")
    act(client, h["worker_a"], case, "feedback")
    assert act(client, h["leader_a"], case, "verify", status=403)["details"]["allowed_roles"] == ["supervisor"]
    assert act(client, h["supervisor_1"], case, "verify")["incident"]["status"] == "verification"


# --- Open311 over the same cases ------------------------------------------------------------------------


def test_open311_files_a_social_governance_case_and_follows_it_to_a_department(
        client: TestClient, api_session: Session, people: dict) -> None:
    h = people["h"]
    heating = department(client, people, "供热公司", "stationed", "dept_sw")
    assert "S0401" in {s["service_code"] for s in client.get("/open311/v2/services.json").json()}
    where = lonlat(300, 60)
    filed = client.post("/open311/v2/requests.json", data={"service_code": "S0401", "lat": str(where[1]),
                                                            "long": str(where[0]), "description": "暖气不热"})
    assert filed.status_code == 201, filed.text
    case_id = int(filed.json()[0]["service_request_id"])
    case = {"id": case_id, "version": detail(client, h["leader_a"], case_id)["version"]}
    act(client, h["leader_a"], case, "register")
    for who in ("leader_a", "comm_north", "street_1"):
        act(client, h[who], case, "hand_over")
    assert stored(api_session, case_id).department_id == heating["id"]
    (public,) = client.get(f"/open311/v2/requests/{case_id}.json").json()
    assert (public["status"], public["status_notes"], public["service_name"], public["agency_responsible"]) == \
        ("open", "referred (已移交待认领)", "暖气不热", "供热公司")
    # Errors stay in GeoReport's own format, whatever went wrong.
    bad = client.post("/open311/v2/requests.json", data={"service_code": "S0401", "lat": "north", "long": "1"})
    assert bad.status_code == 422 and isinstance(bad.json(), list) and set(bad.json()[0]) == {"code", "description"}
    missing = client.get("/open311/v2/requests/999999.json")
    assert missing.status_code == 404 and missing.json() == [{"code": 404,
                                                              "description": "service request 999999 does not exist"}]
