"""Residents, households and grid statistics over HTTP: scope, masking, audit rows, filters, edits.

The world (tests/support/api_world.py): grid A holds building N (3 residents, ages 4, 5, 35),
grid B building Q (a retired couple, 70 and 68, tagged elderly_alone), grid C building R (ages
4 and 33). ID and phone numbers follow the resident order N0 N1 N2 R0 R1 Q0 Q1:
``32010219800101{i:03d}X`` and ``1380000{i:04d}``.
"""

from __future__ import annotations

import csv
import io
import uuid
from urllib.parse import quote

import api_world
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def audit_rows(session: Session, request_id: str) -> list:
    """The audit rows one request wrote, identified by its X-Request-ID."""
    return session.execute(text("SELECT user_id, username, action, entity, entity_id, reason, request_id, "
                                "client_ip, detail FROM audit_log WHERE client_request_id = :r ORDER BY id"),
                           {"r": request_id}).all()


def traced(headers: dict[str, str], reason: str | None = None) -> tuple[dict[str, str], str]:
    """``headers`` plus a fresh request id (and an access reason), and that id."""
    rid = uuid.uuid4().hex[:16]
    extra = {"X-Request-ID": rid}
    if reason is not None:
        extra["X-Access-Reason"] = quote(reason)  # header values are ASCII: Chinese goes percent-encoded
    return {**headers, **extra}, rid


def ids_of(response) -> list[int]:
    return [item["id"] for item in response.json()["items"]]


# --- lists, masking, audit ------------------------------------------------------------------


def test_worker_lists_only_their_grid_masked_and_one_audit_row_names_every_id(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"), reason="每周走访")
    response = client.get("/residents", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert ids_of(response) == world["residents"]["N"] and body["total"] == 3
    first = body["items"][0]
    assert first["id_number"] == "320102********000X"
    assert first["phone"] == "138****0000"
    assert body["items"][2]["id_number"] == "320102********002X" and body["items"][2]["phone"] == "138****0002"
    assert {i["grid_code"] for i in body["items"]} == {api_world.GRID_A}
    assert "32010219800101000X" not in response.text and "13800000000" not in response.text
    assert "health_notes" not in first  # health data only in the detail view
    rows = audit_rows(api_session, rid)
    assert len(rows) == 1
    row = rows[0]
    assert (row.username, row.action, row.entity, row.reason) == ("worker_a", "list", "resident", "每周走访")
    assert row.user_id == world["users"]["worker_a"] and row.client_ip == "testclient"
    assert row.detail["ids"] == [str(i) for i in world["residents"]["N"]]


def test_a_read_that_returns_nothing_writes_no_audit_row(client: TestClient, as_user, api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    response = client.get("/residents", params={"grid_code": api_world.GRID_B}, headers=headers)
    assert response.status_code == 200 and response.json()["items"] == [] and response.json()["total"] == 0
    assert audit_rows(api_session, rid) == []


def test_admin_sees_the_district_and_filters_combine(client: TestClient, as_user, world: dict,
                                                     api_session: Session) -> None:
    admin = as_user("admin")
    everyone = client.get("/residents", headers=admin).json()
    assert everyone["total"] == 7
    by_grid = client.get("/residents", params={"grid_code": api_world.GRID_B}, headers=admin)
    assert ids_of(by_grid) == world["residents"]["Q"]
    by_tag = client.get("/residents", params={"tag": "elderly_alone"}, headers=admin)
    assert ids_of(by_tag) == world["residents"]["Q"]
    assert by_tag.json()["items"][0]["tags"] == ["elderly_alone"]
    assert ids_of(client.get("/residents", params={"q": "居民R"}, headers=admin)) == world["residents"]["R"]
    assert ids_of(client.get("/residents", params={"min_age": 60}, headers=admin)) == world["residents"]["Q"]
    children = client.get("/residents", params={"max_age": 14}, headers=admin)
    assert ids_of(children) == [*world["residents"]["N"][:2], world["residents"]["R"][0]]
    assert ids_of(client.get("/residents", params={"min_age": 30, "max_age": 40}, headers=admin)) == [
        world["residents"]["N"][2], world["residents"]["R"][1]]
    assert ids_of(client.get("/residents", params={"building_id": world["R"]}, headers=admin)) == \
        world["residents"]["R"]
    assert ids_of(client.get("/residents", params={"household_id": world["households"]["Q"]}, headers=admin)) == \
        world["residents"]["Q"]
    api_session.execute(text("UPDATE resident SET residency = 'floating' WHERE id = :r"),
                        {"r": world["residents"]["R"][1]})
    assert ids_of(client.get("/residents", params={"residency": "floating"}, headers=admin)) == \
        [world["residents"]["R"][1]]
    page = client.get("/residents", params={"limit": 2, "offset": 1}, headers=admin).json()
    all_ids = [i["id"] for i in everyone["items"]]
    assert [i["id"] for i in page["items"]] == all_ids[1:3] and page["total"] == 7


@pytest.mark.parametrize(("params", "where"), [
    ({"limit": 0}, "limit"), ({"limit": 5000}, "limit"), ({"grid_code": "123"}, "grid_code"),
    ({"min_age": 50, "max_age": 40}, "min_age"), ({"tag": "Bad Tag!"}, "tag"), ({"residency": "tourist"}, "residency"),
])
def test_bad_filters_are_refused_naming_the_parameter(client: TestClient, as_user, params: dict, where: str) -> None:
    response = client.get("/residents", params=params, headers=as_user("admin"))
    assert response.status_code == 422
    assert where in response.text


def test_a_name_search_treats_wildcards_literally(client: TestClient, as_user) -> None:
    assert client.get("/residents", params={"q": "%"}, headers=as_user("admin")).json()["total"] == 0


def test_geojson_puts_residents_at_their_buildings_point(client: TestClient, as_user, world: dict,
                                                         api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    response = client.get("/residents", params={"format": "geojson"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 3
    assert [f["id"] for f in body["features"]] == world["residents"]["N"]
    lon, lat = body["features"][0]["geometry"]["coordinates"]
    expected = api_session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                        "FROM building WHERE id = :b) x"), {"b": world["N"]}).one()
    assert (lon, lat) == pytest.approx(tuple(expected), abs=1e-6)
    assert 118 < lon < 119 and 31 < lat < 33  # lon/lat order (RFC 7946)
    assert body["features"][0]["properties"]["id_number"] == "320102********000X"
    assert audit_rows(api_session, rid)[0].detail["ids"] == [str(i) for i in world["residents"]["N"]]


# --- one resident -----------------------------------------------------------------------------


def test_detail_is_masked_with_an_etag_and_audited(client: TestClient, as_user, world: dict,
                                                   api_session: Session) -> None:
    resident = world["residents"]["N"][1]
    api_session.execute(text("UPDATE resident_private SET health_notes = '哮喘' WHERE resident_id = :r"),
                        {"r": resident})
    headers, rid = traced(as_user("leader_a"), reason="入户核查")
    response = client.get(f"/residents/{resident}", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["id_number"] == "320102********001X" and body["phone"] == "138****0001"
    assert body["health_notes"] == "哮喘" and body["grid_code"] == api_world.GRID_A
    assert response.headers["ETag"] == '"1"'
    (row,) = audit_rows(api_session, rid)
    assert (row.action, row.entity, row.entity_id, row.reason) == ("read", "resident", str(resident), "入户核查")


def test_detail_outside_the_grid_is_404_like_a_missing_one(client: TestClient, as_user, world: dict,
                                                          api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    other = client.get(f"/residents/{world['residents']['Q'][0]}", headers=headers)
    missing = client.get("/residents/999999", headers=headers)
    assert other.status_code == missing.status_code == 404
    assert other.json()["message"].replace(str(world["residents"]["Q"][0]), "#") == \
        missing.json()["message"].replace("999999", "#")
    # No record was read; both probes are kept as refusals (issue 23, finding 9), alike.
    rows = audit_rows(api_session, rid)
    assert [(r.action, r.detail["status"]) for r in rows] == [("refused", 404), ("refused", 404)]


# --- edits ------------------------------------------------------------------------------------


def test_patch_with_a_stale_version_conflicts_and_the_first_change_is_kept(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    resident = world["residents"]["N"][2]
    headers, rid = traced({**as_user("worker_a"), "If-Match": '"1"'}, reason="电话变更")
    first = client.patch(f"/residents/{resident}", headers=headers,
                         json={"phone": "139-1234-5678", "tags": ["disabled", "disabled"], "party_member": True,
                               "residency": "floating", "relation": "户主", "health_notes": "行动不便"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["version"] == 2 and first.headers["ETag"] == '"2"'
    assert body["phone"] == "139****5678" and body["tags"] == ["disabled"] and body["party_member"] is True
    assert body["residency"] == "floating" and body["relation"] == "户主" and body["health_notes"] == "行动不便"
    second = client.patch(f"/residents/{resident}", headers={**as_user("leader_a"), "If-Match": '"1"'},
                          json={"phone": "13700000000"})
    assert second.status_code == 409
    assert second.json()["error"] == "conflict" and second.json()["details"] == {"current_version": 2}
    stored = api_session.execute(text("SELECT r.version, r.party_member, p.phone, p.tags FROM resident r "
                                      "JOIN resident_private p ON p.resident_id = r.id WHERE r.id = :r"),
                                 {"r": resident}).one()
    assert tuple(stored) == (2, True, "139-1234-5678", ["disabled"])
    (row,) = audit_rows(api_session, rid)
    assert (row.action, row.entity, row.entity_id, row.reason) == ("update", "resident", str(resident), "电话变更")
    assert row.detail["fields"] == ["health_notes", "party_member", "phone", "relation", "residency", "tags"]
    assert "139" not in str(row.detail)  # the audit log names fields, never the values


def test_patch_clears_with_null_and_needs_a_version(client: TestClient, as_user, world: dict,
                                                    api_session: Session) -> None:
    resident = world["residents"]["N"][0]
    url = f"/residents/{resident}"
    no_version = client.patch(url, json={"phone": None}, headers=as_user("worker_a"))
    assert no_version.status_code == 422 and "If-Match" in no_version.json()["message"]
    cleared = client.patch(url, json={"phone": None, "version": 1}, headers=as_user("worker_a"))
    assert cleared.status_code == 200 and cleared.json()["phone"] is None
    assert api_session.execute(text("SELECT phone FROM resident_private WHERE resident_id = :r"),
                               {"r": resident}).scalar_one() is None
    refused = client.patch(url, json={"name": "改名"}, headers={**as_user("worker_a"), "If-Match": '"2"'})
    assert refused.status_code == 422  # the name is not a field a grid worker edits


def test_patch_outside_the_grid_is_404_and_changes_nothing(client: TestClient, as_user, world: dict,
                                                          api_session: Session) -> None:
    resident = world["residents"]["Q"][0]
    response = client.patch(f"/residents/{resident}", json={"tags": []},
                            headers={**as_user("worker_a"), "If-Match": '"1"'})
    assert response.status_code == 404
    assert api_session.execute(text("SELECT tags FROM resident_private WHERE resident_id = :r"),
                               {"r": resident}).scalar_one() == ["elderly_alone"]


# --- export -----------------------------------------------------------------------------------


def test_export_is_masked_scoped_csv_with_a_bom_and_audited(client: TestClient, as_user, world: dict,
                                                            api_session: Session) -> None:
    api_session.execute(text("UPDATE resident SET name = '=HYPERLINK(1)' WHERE id = :r"),
                        {"r": world["residents"]["N"][2]})
    headers, rid = traced(as_user("worker_a"), reason="台账导出")
    response = client.get("/residents/export", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "姓名", "性别"]
    assert [int(r[0]) for r in rows[1:]] == world["residents"]["N"]
    assert rows[1][1] == "居民N0" and rows[1][12] == "320102********000X" and rows[1][13] == "138****0000"
    assert rows[3][1] == "'=HYPERLINK(1)"  # a formula is never handed to Excel to run
    assert "32010219800101000X" not in response.text
    (row,) = audit_rows(api_session, rid)
    assert (row.action, row.entity, row.reason) == ("export", "resident", "台账导出")
    assert row.detail["ids"] == [str(i) for i in world["residents"]["N"]]


# --- households and buildings ----------------------------------------------------------------


def test_households_are_scoped_and_a_household_lists_its_members_masked(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    listed = client.get("/households", headers=headers)
    assert listed.status_code == 200 and ids_of(listed) == [world["households"]["N"]]
    assert listed.json()["items"][0]["members"] == 3 and listed.json()["items"][0]["grid_code"] == api_world.GRID_A
    assert audit_rows(api_session, rid)[0].detail["ids"] == [str(world["households"]["N"])]
    headers, rid = traced(as_user("worker_a"))
    one = client.get(f"/households/{world['households']['N']}", headers=headers)
    assert one.status_code == 200
    assert [m["id"] for m in one.json()["residents"]] == world["residents"]["N"]
    assert one.json()["residents"][0]["phone"] == "138****0000"
    (row,) = audit_rows(api_session, rid)
    assert row.entity == "household" and row.detail["resident_ids"] == world["residents"]["N"]
    assert client.get(f"/households/{world['households']['Q']}", headers=as_user("worker_a")).status_code == 404
    assert ids_of(client.get("/households", params={"grid_code": api_world.GRID_B},
                             headers=as_user("worker_b"))) == [world["households"]["Q"]]


def test_building_residents_are_scoped(client: TestClient, as_user, world: dict, api_session: Session) -> None:
    own = client.get(f"/buildings/{world['N']}/residents", headers=as_user("worker_a"))
    assert own.status_code == 200 and ids_of(own) == world["residents"]["N"]
    headers, rid = traced(as_user("worker_a"))
    other = client.get(f"/buildings/{world['Q']}/residents", headers=headers)
    assert other.status_code == 200 and other.json()["items"] == [] and other.json()["total"] == 0
    assert audit_rows(api_session, rid) == []
    assert client.get("/buildings/999999/residents", headers=as_user("worker_a")).status_code == 404


# --- statistics -------------------------------------------------------------------------------


def _stats(client: TestClient, headers: dict) -> dict[str, dict]:
    response = client.get("/stats/grids", headers=headers)
    assert response.status_code == 200
    return {g["grid_code"]: g for g in response.json()["items"]}


def test_grid_statistics_for_the_world_need_no_personal_access_and_write_no_audit(
        client: TestClient, as_user, api_session: Session) -> None:
    headers, rid = traced(as_user("viewer"))
    stats = _stats(client, headers)
    figures = ("buildings", "building_households", "households", "residents", "elderly_60_plus", "children_0_14",
               "party_members", "floating", "party_orgs")
    assert {code: tuple(g[k] for k in figures) for code, g in stats.items()} == {
        api_world.GRID_A: (1, 120, 1, 3, 0, 2, 0, 0, 0),
        api_world.GRID_B: (1, 60, 1, 2, 2, 0, 0, 0, 0),
        api_world.GRID_C: (1, 40, 1, 2, 0, 1, 0, 0, 0),
    }
    assert stats[api_world.GRID_B]["tags"] == {"elderly_alone": 2} and stats[api_world.GRID_A]["tags"] == {}
    assert "居民" not in client.get("/stats/grids", headers=as_user("viewer")).text
    assert audit_rows(api_session, rid) == []


def test_grid_statistics_count_party_members_floating_and_show_sensitive_tags_only_in_scope(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    q0, q1 = world["residents"]["Q"]
    api_session.execute(text("UPDATE resident SET party_member = true, residency = 'floating' WHERE id = :r"),
                        {"r": q0})
    api_session.execute(text("UPDATE resident_private SET tags = ARRAY['elderly_alone', 'key_population'] "
                             "WHERE resident_id = :r"), {"r": q1})
    api_session.execute(text("INSERT INTO party_org (district_code, kind, name, grid_code) "
                             "VALUES ('320199', 'grid_branch', '北二网格党支部', :g)"), {"g": api_world.GRID_B})
    for user, shown in (("viewer", False), ("planner", False), ("worker_a", False), ("worker_b", True),
                        ("admin", True)):
        grid_b = _stats(client, as_user(user))[api_world.GRID_B]
        assert (grid_b["party_members"], grid_b["floating"], grid_b["party_orgs"]) == (1, 1, 1)
        expected = {"elderly_alone": 2, "key_population": 1} if shown else {"elderly_alone": 2}
        assert grid_b["tags"] == expected, user
        assert grid_b["sensitive_tags_shown"] is shown
    only_a = client.get("/stats/grids", params={"code_prefix": api_world.GRID_A}, headers=as_user("viewer"))
    assert [g["grid_code"] for g in only_a.json()["items"]] == [api_world.GRID_A]


def test_an_access_reason_sent_as_raw_utf8_bytes_is_kept_as_text(client: TestClient, as_user, world: dict,
                                                                 api_session: Session) -> None:
    rid = uuid.uuid4().hex[:16]
    headers = {**as_user("worker_a"), "X-Request-ID": rid, "X-Access-Reason": "独居老人回访".encode()}
    assert client.get(f"/residents/{world['residents']['N'][0]}", headers=headers).status_code == 200
    assert audit_rows(api_session, rid)[0].reason == "独居老人回访"
