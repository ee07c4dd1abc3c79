"""Incidents and patrols over HTTP: who sees which, contacts masked, tracks audited and kept for a set time.

Each test gets one incident in each grid (A, B, C; reporter contact api_world.INCIDENT_CONTACT),
added in its transaction; the world has one patrol two days old by worker_a in grid A and one by
worker_b in grid B.
"""

from __future__ import annotations

import datetime as dt
import uuid

import api_world
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

MASKED_CONTACT = "139****5678"


@pytest.fixture
def incidents(api_session: Session, world: dict) -> dict[str, int]:
    """An incident in each grid, "A", "B" and "C" (rolled back with the test)."""
    return api_world.add_incidents(api_session, world["users"])


def audit_rows(session: Session, request_id: str) -> list:
    return session.execute(text("SELECT username, action, entity, entity_id, reason, detail FROM audit_log "
                                "WHERE client_request_id = :r ORDER BY id"), {"r": request_id}).all()


def traced(headers: dict[str, str]) -> tuple[dict[str, str], str]:
    rid = uuid.uuid4().hex[:16]
    return {**headers, "X-Request-ID": rid, "X-Access-Reason": "patrol-review"}, rid


def ids_of(response) -> set[int]:
    assert response.status_code == 200, response.text[:300]
    return {item["id"] for item in response.json()["items"]}


# --- incidents --------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "grids"), [("worker_a", "A"), ("leader_a", "A"), ("worker_b", "B"),
                                             ("admin", "ABC"), ("planner", "ABC"), ("facility", "ABC"),
                                             ("viewer", "ABC")])
def test_incidents_each_role_sees(client: TestClient, as_user, incidents: dict, user: str, grids: str) -> None:
    response = client.get("/incidents", headers=as_user(user))
    assert ids_of(response) == {incidents[g] for g in grids}
    assert response.json()["total"] == len(grids)


def test_grid_staff_see_the_contact_masked_and_the_read_is_audited(client: TestClient, as_user, incidents: dict,
                                                                   api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    response = client.get("/incidents", headers=headers)
    (item,) = response.json()["items"]
    assert item["reporter_contact"] == MASKED_CONTACT and api_world.INCIDENT_CONTACT not in response.text
    assert item["grid_code"] == api_world.GRID_A and item["geometry"]["type"] == "Point"
    (row,) = audit_rows(api_session, rid)
    assert (row.action, row.entity, row.detail["ids"]) == ("list", "incident", [str(incidents["A"])])


@pytest.mark.parametrize("user", ["planner", "viewer"])
def test_planners_and_viewers_get_incidents_without_the_contact_and_no_audit(
        client: TestClient, as_user, incidents: dict, api_session: Session, user: str) -> None:
    headers, rid = traced(as_user(user))
    response = client.get("/incidents", headers=headers)
    assert all("reporter_contact" not in item for item in response.json()["items"])
    assert "****" not in response.text and api_world.INCIDENT_CONTACT not in response.text
    one = client.get(f"/incidents/{incidents['B']}", headers=headers)
    assert one.status_code == 200 and "reporter_contact" not in one.json()
    assert audit_rows(api_session, rid) == []


def test_incident_detail_is_scoped_and_carries_its_events(client: TestClient, as_user, incidents: dict) -> None:
    own = client.get(f"/incidents/{incidents['A']}", headers=as_user("worker_a"))
    assert own.status_code == 200
    body = own.json()
    assert body["reporter_contact"] == MASKED_CONTACT and body["description"] == "网格A: 垃圾堆放"
    assert [(e["action"], e["to_status"]) for e in body["events"]] == [("report", "reported")]
    other = client.get(f"/incidents/{incidents['B']}", headers=as_user("worker_a"))
    missing = client.get("/incidents/999999", headers=as_user("worker_a"))
    assert other.status_code == missing.status_code == 404


def test_incident_filters_and_geojson(client: TestClient, as_user, incidents: dict) -> None:
    admin = as_user("admin")
    assert ids_of(client.get("/incidents", params={"grid_code": api_world.GRID_C}, headers=admin)) == \
        {incidents["C"]}
    assert ids_of(client.get("/incidents", params={"status": "closed"}, headers=admin)) == set()
    # A grid filter cannot widen a worker's scope.
    assert ids_of(client.get("/incidents", params={"grid_code": api_world.GRID_B},
                             headers=as_user("worker_a"))) == set()
    collection = client.get("/incidents", params={"format": "geojson"}, headers=as_user("worker_b"))
    assert collection.headers["content-type"].startswith("application/geo+json")
    (feature,) = collection.json()["features"]
    assert feature["id"] == incidents["B"] and feature["properties"]["reporter_contact"] == MASKED_CONTACT
    lon, lat = feature["geometry"]["coordinates"]
    assert 118 < lon < 119 and 31 < lat < 33


# --- patrols ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "owners"), [("worker_a", {"worker_a"}), ("worker_b", {"worker_b"}),
                                              ("leader_a", {"worker_a"}), ("admin", {"worker_a", "worker_b"})])
def test_patrols_each_role_sees(client: TestClient, as_user, world: dict, user: str, owners: set) -> None:
    assert ids_of(client.get("/patrols", headers=as_user(user))) == {world["patrols"][o] for o in owners}


def test_a_leader_sees_patrols_in_their_grids_a_worker_only_their_own(client: TestClient, as_user, world: dict,
                                                                      api_session: Session) -> None:
    # worker_b helps out in grid A: leader_a (grid A) sees it, worker_a (not theirs) does not.
    helping = api_world.add_patrol(api_session, worker_id=world["users"]["worker_b"], grid_code=api_world.GRID_A,
                                   xys=[(100, 0), (100, 200)], started_at=dt.datetime.now(dt.UTC))
    assert helping in ids_of(client.get("/patrols", headers=as_user("leader_a")))
    assert helping not in ids_of(client.get("/patrols", headers=as_user("worker_a")))
    assert helping in ids_of(client.get("/patrols", headers=as_user("worker_b")))
    assert client.get(f"/patrols/{helping}", headers=as_user("leader_a")).status_code == 200
    assert client.get(f"/patrols/{helping}", headers=as_user("worker_a")).status_code == 404


def test_a_track_is_geojson_with_times_and_each_read_is_audited(client: TestClient, as_user, world: dict,
                                                                api_session: Session) -> None:
    patrol = world["patrols"]["worker_a"]
    headers, rid = traced(as_user("worker_a"))
    response = client.get(f"/patrols/{patrol}", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert len(feature["geometry"]["coordinates"]) == 3 == len(feature["properties"]["coord_times"])
    assert all(118 < lon < 119 and 31 < lat < 33 for lon, lat in feature["geometry"]["coordinates"])
    props = feature["properties"]
    assert props["worker"] == "worker_a" and props["grid_code"] == api_world.GRID_A
    assert props["length_m"] == pytest.approx(150 + (150 ** 2 + 50 ** 2) ** 0.5, rel=0.01)
    (row,) = audit_rows(api_session, rid)
    assert (row.username, row.action, row.entity, row.entity_id, row.reason) == \
        ("worker_a", "read", "patrol", str(patrol), "patrol-review")
    headers, rid = traced(as_user("worker_a"))
    client.get(f"/patrols/{patrol}", headers=headers)
    assert len(audit_rows(api_session, rid)) == 1  # every read, not only the first


def test_another_workers_track_is_404(client: TestClient, as_user, world: dict, api_session: Session) -> None:
    headers, rid = traced(as_user("worker_a"))
    assert client.get(f"/patrols/{world['patrols']['worker_b']}", headers=headers).status_code == 404
    assert client.get(f"/patrols/{world['patrols']['worker_b']}", headers=as_user("leader_a")).status_code == 404
    # Nothing was read, but the probe is kept (issue 23, finding 9).
    (row,) = audit_rows(api_session, rid)
    assert (row.action, row.entity, row.detail["status"]) == ("refused", "GET /patrols/{patrol_id}", 404)


def test_patrols_older_than_the_retention_period_are_not_returned(client: TestClient, as_user, world: dict,
                                                                 api_app, api_session: Session) -> None:
    days = api_app.state.settings.patrol_retention_days
    now = dt.datetime.now(dt.UTC)
    old = api_world.add_patrol(api_session, worker_id=world["users"]["worker_a"], grid_code=api_world.GRID_A,
                               xys=[(0, 0), (100, 0)], started_at=now - dt.timedelta(days=days + 1))
    kept = api_world.add_patrol(api_session, worker_id=world["users"]["worker_a"], grid_code=api_world.GRID_A,
                                xys=[(0, 0), (100, 0)], started_at=now - dt.timedelta(days=days - 1))
    for user in ("worker_a", "leader_a", "admin"):
        listed = ids_of(client.get("/patrols", headers=as_user(user)))
        assert kept in listed and old not in listed, user
        assert client.get(f"/patrols/{old}", headers=as_user(user)).status_code == 404
    message = client.get(f"/patrols/{old}", headers=as_user("admin")).json()["message"]
    assert f"{days} days" in message
