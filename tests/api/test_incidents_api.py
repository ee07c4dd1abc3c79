"""The incident case loop over HTTP: report and routing, every state by the roles allowed, refusals, photos,
deadlines and figures.

Reports go through POST /incidents in each test's rolled-back transaction. Town metres (x, y) are
turned into lon/lat with coverage_town; grid A is x < 400, grid B x >= 400 (both y > -100), grid C
y < -100. leader_a and worker_a hold grid A, worker_b grid B.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import uuid
import zlib

import api_world
import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import cases as case_service
from gis.services.users import Principal


def lonlat(x: float, y: float) -> list[float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return [pt.x, pt.y]


def same_time(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and dt.datetime.fromisoformat(a) == dt.datetime.fromisoformat(b)


def report(client: TestClient, headers: dict, *, xy: tuple[float, float] = (300, 60), status: int = 201, **body):
    body = {"point": lonlat(*xy), "category_code": "E0101", "description": "路边垃圾", "source": "patrol", **body}
    response = client.post("/incidents", json=body, headers=headers)
    assert response.status_code == status, response.text[:400]
    return response.json()


def act(client: TestClient, headers: dict, case: dict, action: str, *, status: int = 200, **body) -> dict:
    """Take ``action`` on ``case`` at its current version; keeps ``case["version"]`` up to date."""
    response = client.post(f"/incidents/{case['id']}/actions", json={"action": action, **body},
                           headers={**headers, "If-Match": f'"{case["version"]}"'})
    assert response.status_code == status, f"{action}: {response.text[:400]}"
    answer = response.json()
    if status == 200:
        case["version"] = answer["incident"]["version"]
        assert response.headers["ETag"] == f'"{case["version"]}"'
    return answer


# --- report and routing ---------------------------------------------------------------------------


def test_a_point_in_grid_a_is_routed_to_grid_a_staff(client: TestClient, as_user, world: dict) -> None:
    body = report(client, as_user("worker_a"), reporter_contact="13812345678")
    case = body["incident"]
    assert (case["grid_code"], case["community_code"], case["street_code"], case["district_code"]) == \
        (api_world.GRID_A, town.NORTH, town.STREET, town.DISTRICT)
    assert (case["category_class"], case["category"], case["subcategory"], case["category_code"]) == \
        ("event", "市容环境", "暴露垃圾", "E0101")
    assert case["status"] == "reported" and case["reporter_contact"] == "138****5678"
    assert body["routing"]["rule"] == "inside" and body["routing"]["candidates"] == [api_world.GRID_A]
    assert {(s["username"], s["duty"]) for s in body["staff"]} == {("leader_a", "leader"), ("worker_a", "worker")}
    assert body["sla"]["stage"] == "dispatch" and same_time(body["sla"]["due_at"], case["due_at"])


def test_a_point_on_the_shared_a_b_edge_goes_to_the_lowest_code(client: TestClient, as_user) -> None:
    body = report(client, as_user("admin"), xy=(400, 100))
    assert body["routing"]["candidates"] == [api_world.GRID_A, api_world.GRID_B]
    assert body["routing"]["rule"] == "shared_boundary_lowest_code"
    assert body["incident"]["grid_code"] == api_world.GRID_A
    assert {s["username"] for s in body["staff"]} == {"leader_a", "worker_a"}
    # A metre inside B it is B's, and worker_b's.
    inside_b = report(client, as_user("admin"), xy=(401, 100))
    assert inside_b["incident"]["grid_code"] == api_world.GRID_B
    assert [s["username"] for s in inside_b["staff"]] == ["worker_b"]


def test_a_point_outside_every_grid_is_refused_naming_the_nearest_community(client: TestClient, as_user) -> None:
    refused = report(client, as_user("admin"), xy=(300, 400), status=422)  # 100 m north of the north community
    assert "outside every grid" in refused["message"] and "北社区" in refused["message"]
    assert refused["details"]["nearest_community"] == town.NORTH
    assert refused["details"]["distance_m"] == pytest.approx(100, abs=0.5)
    assert "100 m" in refused["message"]


def test_a_building_stands_for_its_point_and_bad_reports_are_refused(client: TestClient, as_user,
                                                                     world: dict) -> None:
    body = report(client, as_user("worker_a"), point=None, building_id=world["Q"])
    assert body["incident"]["grid_code"] == api_world.GRID_B and body["incident"]["building_id"] == world["Q"]
    unknown = report(client, as_user("worker_a"), category_code="X9999", status=422)
    assert "X9999" in unknown["message"]
    by_name = report(client, as_user("worker_a"), category_code=None, category_class="event", category="市容环境",
                     subcategory="道路不洁")
    assert by_name["incident"]["category_code"] == "E0103"
    wrong = report(client, as_user("worker_a"), category_code=None, category_class="event", category="没有这类",
                   status=422)
    assert "没有这类" in wrong["message"]
    no_such = report(client, as_user("worker_a"), point=None, address="无此地址1号", status=422)
    assert "matches no building" in no_such["message"]
    assert report(client, as_user("planner"), status=403)["error"] == "permission_denied"


def test_a_second_report_nearby_is_flagged_as_a_possible_duplicate(client: TestClient, as_user) -> None:
    first = report(client, as_user("worker_a"))["incident"]
    again = report(client, as_user("leader_a"), xy=(310, 60))
    (candidate,) = again["duplicates"]
    assert candidate["case_id"] == first["id"] and candidate["distance_m"] == pytest.approx(10, abs=0.1)
    assert report(client, as_user("leader_a"), xy=(370, 60))["duplicates"] == []  # 70 m away
    assert report(client, as_user("leader_a"), xy=(310, 60), category_code="E0103")["duplicates"] == []


def test_a_busy_spot_hints_the_ten_nearest_open_cases(client: TestClient, as_user) -> None:
    """However many open cases of the category lie around, the report (and its log entry) names the ten nearest."""
    from gis.services.cases.report import DUPLICATE_HINTS

    filed = [report(client, as_user("worker_a"), xy=(300 + 3 * k, 60))["incident"]["id"] for k in range(13)]
    again = report(client, as_user("leader_a"), xy=(300, 60))["duplicates"]
    assert DUPLICATE_HINTS == 10 and len(again) == 10
    assert [c["case_id"] for c in again] == filed[:10]  # 0, 3, 6 ... 27 m away, nearest first
    assert [c["distance_m"] for c in again] == sorted(c["distance_m"] for c in again)
    assert again[0]["distance_m"] == pytest.approx(0, abs=0.1) and again[-1]["distance_m"] == pytest.approx(27, abs=0.1)


# --- the loop -------------------------------------------------------------------------------------


def states(client: TestClient, headers: dict, case_id: int) -> list[tuple]:
    events = client.get(f"/incidents/{case_id}", headers=headers).json()["events"]
    return [(e["action"], e["from_status"], e["to_status"]) for e in events]


def test_a_case_goes_through_every_state_by_the_roles_allowed(client: TestClient, as_user, world: dict) -> None:
    worker, leader = as_user("worker_a"), as_user("leader_a")
    worker_id = world["users"]["worker_a"]
    case = report(client, worker)["incident"]
    seen = {case["status"]}
    steps = [
        (leader, "register", {}, "registered"),
        (leader, "dispatch", {"handler_id": worker_id, "note": "请今日处理"}, "dispatched"),
        (worker, "accept", {}, "handling"),
        (worker, "request_extension", {"note": "等待物业"}, "extension_requested"),
        (leader, "deny_extension", {}, "handling"),
        (worker, "request_extension", {}, "extension_requested"),
        (leader, "approve_extension", {}, "extended"),
        (worker, "resume", {}, "handling"),
        (leader, "park", {"note": "需区里协调"}, "parked"),
        (leader, "unpark", {}, "handling"),
        (worker, "feedback", {"position": lonlat(300, 62)}, "feedback"),
        (leader, "reopen", {"note": "未清理干净"}, "handling"),
        (worker, "feedback", {}, "feedback"),
        (leader, "verify", {"position": lonlat(320, 60)}, "verification"),
        (leader, "close", {}, "closed"),
        (leader, "evaluate", {"satisfaction": 5}, "evaluated"),
    ]
    for headers, action, body, expected in steps:
        answer = act(client, headers, case, action, **body)
        assert answer["incident"]["status"] == answer["event"]["to_status"] == expected, action
        seen.add(expected)
        if expected in {"registered", "dispatched", "handling", "feedback", "verification"}:
            assert same_time(answer["incident"]["due_at"], answer["sla"]["due_at"]), action
    assert answer["incident"]["satisfaction"] == 5 and answer["incident"]["closed_at"] is not None
    assert answer["allowed_actions"] == []
    assert case["version"] == 1 + len(steps)
    log = client.get(f"/incidents/{case['id']}", headers=leader).json()["events"]
    assert [e["action"] for e in log] == ["report", *[s[1] for s in steps]]
    verify = next(e for e in log if e["action"] == "verify")
    assert verify["actor_id"] == world["users"]["leader_a"] and verify["position"] == pytest.approx(lonlat(320, 60))
    assert next(e for e in log if e["action"] == "dispatch")["handler_id"] == worker_id

    # The side roads: rejected; returned, handed over (移交) to the community and claimed there.
    other = report(client, worker, xy=(100, 60))["incident"]
    assert act(client, leader, other, "reject", note="非本辖区职责")["incident"]["status"] == "rejected"
    third = report(client, worker, xy=(200, 250), category_code="E0103")["incident"]
    for headers, action, body in [(leader, "register", {}), (leader, "dispatch", {"handler_id": worker_id}),
                                  (worker, "return", {"note": "不属网格事项"}), (leader, "hand_over", {}),
                                  (admin_headers := as_user("admin"), "claim", {"note": "社区认领"})]:
        seen.add(act(client, headers, third, action, **body)["incident"]["status"])
    seen |= {"rejected", "returned"}
    assert [s[2] for s in states(client, admin_headers, third["id"])] == ["reported", "registered", "dispatched",
                                                                          "returned", "referred", "handling"]
    # 随手办 (quick_fixed) has its own tests (tests/api/test_cases_departments.py); nothing enters "escalated" now.
    assert seen == set(case_service.STATUSES) - {"quick_fixed", "escalated"}


def test_forbidden_transitions_are_refused_with_a_clear_message(client: TestClient, as_user, world: dict) -> None:
    worker, leader, admin = as_user("worker_a"), as_user("leader_a"), as_user("admin")
    case = report(client, worker)["incident"]
    by_worker = act(client, worker, case, "register", status=403)
    assert by_worker["message"] == "role 'grid_worker' may not register a case; allowed: admin, grid_leader"
    too_early = act(client, leader, case, "close", status=409)
    assert "cannot close a case in status 'reported'" in too_early["message"]
    assert too_early["details"]["allowed_actions"] == ["register", "reject", "report_in", "summon", "supervise",
                                                       "urge"]
    assert "does not exist" in act(client, leader, case, "fly", status=422)["message"]
    # Not their grid: the same 404 as a missing case. Planners are refused by the access table.
    assert act(client, as_user("worker_b"), case, "accept", status=404)["message"] == \
        f"no incident {case['id']} within your grids"
    assert act(client, as_user("planner"), case, "register", status=403)["error"] == "permission_denied"
    # A stale version is a conflict naming the current one.
    act(client, leader, case, "register")
    stale = client.post(f"/incidents/{case['id']}/actions", json={"action": "reject"},
                        headers={**leader, "If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["details"] == {"current_version": 2}
    missing = client.post(f"/incidents/{case['id']}/actions", json={"action": "reject"}, headers=leader)
    assert missing.status_code == 422 and "version" in missing.json()["message"]
    # Dispatch names a handler among the grid's staff.
    assert "worker_b" not in act(client, leader, case, "dispatch", handler_id=world["users"]["worker_b"],
                                 status=422)["message"].split("staff:")[1]
    assert "handler_id is required" in act(client, leader, case, "dispatch", status=422)["message"]
    # The handler may not verify their own work; a verifier 500 m away may not verify.
    act(client, leader, case, "dispatch", handler_id=world["users"]["leader_a"])
    act(client, leader, case, "accept")
    act(client, leader, case, "feedback")
    own = act(client, leader, case, "verify", status=403)
    assert "handled this case and may not verify it" in own["message"]
    far = act(client, admin, case, "verify", position=lonlat(300, 560), status=422)
    assert "the verifier is 500 m from the case" in far["message"]
    assert act(client, admin, case, "verify", position=lonlat(300, 100))["incident"]["status"] == "verification"
    assert "cannot evaluate a case in status 'verification'" in act(client, admin, case, "evaluate", status=409)[
        "message"]
    act(client, admin, case, "close")
    assert "satisfaction must be a whole number from 1 to 5" in act(client, admin, case, "evaluate",
                                                                     satisfaction=9, status=422)["message"]


def test_reading_the_contact_is_audited_and_planners_never_see_it(client: TestClient, as_user,
                                                                  api_session: Session) -> None:
    case = report(client, as_user("worker_a"), reporter_contact="13812345678")["incident"]
    rid = uuid.uuid4().hex[:16]
    shown = client.get(f"/incidents/{case['id']}", headers={**as_user("leader_a"), "X-Request-ID": rid,
                                                            "X-Access-Reason": "callback"})
    assert shown.json()["reporter_contact"] == "138****5678" and "13812345678" not in shown.text
    (row,) = api_session.execute(text("SELECT username, action, entity, detail, reason FROM audit_log "
                                      "WHERE client_request_id = :r"), {"r": rid}).all()
    assert (row.username, row.action, row.entity, row.reason) == ("leader_a", "read", "incident", "callback")
    assert row.detail["field"] == "reporter_contact" and row.detail["ids"] == [str(case["id"])]
    planner = client.get(f"/incidents/{case['id']}", headers=as_user("planner")).json()
    assert "reporter_contact" not in planner and all(e["position"] is None for e in planner["events"])


# --- photos -------------------------------------------------------------------------------------


def png(width: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(1))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture
def upload_home(api_app, tmp_path):
    """Photos go to a temporary state folder, not the repository's (the app's settings restored after)."""
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"home": tmp_path, "incident_photo_max_bytes": 2000})
    try:
        yield tmp_path
    finally:
        api_app.state.settings = original


def test_photos_are_checked_by_content_and_size_stored_by_checksum_and_scoped(client: TestClient, as_user,
                                                                              upload_home) -> None:
    case = report(client, as_user("worker_a"))["incident"]
    image = png(3)
    # What is kept is the photo re-encoded without metadata (issue 23): its checksum and size.
    clean, _kind = case_service.clean_photo(image, max_pixels=1000)
    digest = hashlib.sha256(clean).hexdigest()
    url = f"/incidents/{case['id']}/photos"
    first = client.post(url, files={"file": ("anything.txt", image, "text/plain")}, headers=as_user("worker_a"))
    assert first.status_code == 201, first.text
    photo = first.json()
    assert (photo["content_type"], photo["sha256"], photo["size_bytes"]) == ("image/png", digest, len(clean))
    stored = upload_home / "uploads" / "incidents" / str(case["id"]) / f"{digest}.png"
    assert stored.read_bytes() == clean
    again = client.post(url, files={"file": ("b.png", image, "image/png")}, headers=as_user("leader_a"))
    assert again.status_code == 200 and again.json()["id"] == photo["id"]
    fake = client.post(url, files={"file": ("photo.jpg", b"<html>not a photo</html>", "image/jpeg")},
                       headers=as_user("worker_a"))
    assert fake.status_code == 422 and "not a JPEG, PNG or WebP" in fake.json()["message"]
    big = client.post(url, files={"file": ("big.jpg", b"\xff\xd8\xff" + b"0" * 3000, "image/jpeg")},
                      headers=as_user("worker_a"))
    assert big.status_code == 422 and "2,000-byte limit" in big.json()["message"]
    assert client.post(url, files={"file": ("a.png", image, "image/png")},
                       headers=as_user("worker_b")).status_code == 404
    got = client.get(photo["href"], headers=as_user("viewer"))
    assert got.status_code == 200 and got.content == clean and got.headers["content-type"] == "image/png"
    assert client.get(photo["href"], headers=as_user("worker_b")).status_code == 404
    listed = client.get(f"/incidents/{case['id']}", headers=as_user("worker_a")).json()["photos"]
    assert [p["id"] for p in listed] == [photo["id"]]


# --- deadlines and figures -------------------------------------------------------------------------


def test_overdue_and_due_soon_lists_are_scoped(client: TestClient, as_user, api_session: Session, api_app,
                                               world: dict) -> None:
    settings = api_app.state.settings
    worker = Principal(user_id=world["users"]["worker_a"], username="worker_a", role="grid_worker",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = case_service.report_incident(api_session, worker, settings=settings, point=tuple(lonlat(100, 60)),
                                       category_code="E0101", at=long_ago)["incident"]
    fresh = report(client, as_user("worker_a"), xy=(380, 250), category_code="E0103", urgency="urgent")["incident"]
    in_b = case_service.report_incident(api_session, worker, settings=settings, point=tuple(lonlat(500, 60)),
                                        category_code="E0101", at=long_ago)["incident"]
    mine = client.get("/incidents/overdue", headers=as_user("worker_a")).json()
    assert [c["id"] for c in mine["overdue"]] == [old["id"]]
    assert mine["overdue"][0]["sla"]["stage"] == "dispatch" and "reporter_contact" not in mine["overdue"][0]
    assert fresh["id"] not in {c["id"] for c in mine["overdue"] + mine["due_soon"]}  # urgent: 10 min, just begun
    everyone = client.get("/incidents/overdue", headers=as_user("viewer")).json()
    assert {old["id"], in_b["id"]} <= {c["id"] for c in everyone["overdue"]}


def test_case_figures_per_grid_for_every_role(client: TestClient, as_user) -> None:
    case = report(client, as_user("worker_a"))["incident"]
    act(client, as_user("leader_a"), case, "register")
    period = dt.datetime.fromisoformat(case["reported_at"]).astimezone(town_tz()).strftime("%Y-%m")
    for user in ("viewer", "worker_b", "planner"):
        figures = client.get("/stats/cases", params={"period": period}, headers=as_user(user)).json()
        (grid,) = [r for r in figures["levels"]["grid"] if r["code"] == api_world.GRID_A]
        assert grid["reports"] == 1 and grid["registered"] == 1 and grid["response_rate"] in (0.0, 1.0)
        assert figures["levels"]["total"][0]["reports"] >= 1
    street = client.get("/stats/cases", params={"period": period, "level": "street"}, headers=as_user("viewer"))
    assert [r["code"] for r in street.json()["levels"]["street"]] == [town.STREET]
    assert client.get("/stats/cases", params={"period": "2026-13"}, headers=as_user("viewer")).status_code == 422


def town_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
