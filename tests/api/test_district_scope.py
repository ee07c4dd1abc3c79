"""Finding 6 of issue 23: every role with a district acts in it only, on every read and write.

The API world is district 320199 and its admin, planner and facility planner belong to it. This
test loads a second district (320198: a street, community, grid, facility, draft plan, two users
and audit rows) in the test's transaction and tries each write and read on it as each of them:
every attempt is refused and changes nothing. A city admin (no district) may do the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import api_world
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import users as user_service

OTHER = "320198"
STREET, COMMUNITY, GRID = OTHER + "001", OTHER + "001001", OTHER + "001001001"
BOX = "SRID=4490;MULTIPOLYGON(((119.0 33.0,119.01 33.0,119.01 33.01,119.0 33.01,119.0 33.0)))"


@pytest.fixture
def other(api_session: Session) -> dict[str, Any]:
    """District 320198 beside the world's, with something of every kind to act on."""
    def one(sql: str, **p: Any) -> Any:
        result = api_session.execute(text(sql), p)
        return result.scalar() if result.returns_rows else None

    one("INSERT INTO district (code, name, network_version) VALUES (:d, '他区', 1)", d=OTHER)
    one("INSERT INTO street (code, district_code, name, geom) VALUES (:c, :d, '他街道', ST_GeomFromEWKT(:g))",
        c=STREET, d=OTHER, g=BOX)
    one("INSERT INTO community (code, street_code, district_code, name, geom) VALUES "
        "(:c, :s, :d, '他社区', ST_GeomFromEWKT(:g))", c=COMMUNITY, s=STREET, d=OTHER, g=BOX)
    one("INSERT INTO grid (code, community_code, district_code, name, geom) VALUES "
        "(:c, :p, :d, '他网格', ST_GeomFromEWKT(:g))", c=GRID, p=COMMUNITY, d=OTHER, g=BOX)
    facility = one("INSERT INTO facility (district_code, type_code, name, source, geom) VALUES "
                   "(:d, 'kindergarten', '他幼儿园', 'manual', ST_GeomFromText('POINT(119.005 33.005)', 4490)) "
                   "RETURNING id", d=OTHER)
    building = one("INSERT INTO building (district_code, name, households, geom) VALUES (:d, '他楼', 10, "
                   "ST_GeomFromEWKT('SRID=4490;MULTIPOLYGON(((119.004 33.004,119.005 33.004,119.005 33.005,"
                   "119.004 33.005,119.004 33.004)))')) RETURNING id", d=OTHER)
    plan = one("INSERT INTO plan (district_code, kind, scope_code, status) VALUES (:d, 'grid_split', :s, 'draft') "
               "RETURNING id", d=OTHER, s=COMMUNITY)
    with api_world.password_hashed_once():  # argon2 by design takes long: hashed once per process
        worker = user_service.create_user(api_session, username="worker_x", password=api_world.PASSWORD,
                                          role="grid_worker", district_code=OTHER)
        admin = user_service.create_user(api_session, username="admin_x", password=api_world.PASSWORD,
                                         role="admin", district_code=OTHER)
    user_service.assign_grids(api_session, worker.id, [GRID])
    one("INSERT INTO audit_log (user_id, username, action, entity, entity_id, district_code) "
        "VALUES (:u, 'admin_x', 'read', 'resident', '1', :d)", u=admin.id, d=OTHER)
    one("INSERT INTO audit_log (user_id, username, action, entity) VALUES (:u, 'admin_x', 'login', 'app_user')",
        u=admin.id)
    api_session.flush()
    hash_before = api_session.execute(text("SELECT password_hash FROM app_user WHERE id = :i"),
                                      {"i": worker.id}).scalar()
    return {"facility": facility, "plan": plan, "building": building, "worker": worker.id, "admin": admin.id,
            "hash": hash_before}


@dataclass
class Probe:
    method: str
    path: Callable[[dict, dict], str]
    json: Callable[[dict, dict], Any] | None
    roles: tuple[str, ...]
    refused: int  # 403 for a known thing of another district; 404 where existence is not confirmed
    headers: dict[str, str] | None = None


PROBES = {
    "edit a facility": Probe("PATCH", lambda o, w: f"/facilities/{o['facility']}",
                             lambda o, w: {"name": "改名", "version": 1}, ("admin", "facility"), 403),
    "add a facility": Probe("POST", lambda o, w: "/facilities",
                            lambda o, w: {"type_code": "kindergarten", "district_code": OTHER, "name": "新",
                                          "geometry": {"type": "Point", "coordinates": [119.002, 33.002]}},
                            ("admin", "facility"), 403),
    "suggest grids": Probe("POST", lambda o, w: "/plans/grid-suggestions",
                           lambda o, w: {"community_code": COMMUNITY}, ("admin", "planner"), 403),
    "suggest grids for the district": Probe("POST", lambda o, w: "/plans/grid-suggestions",
                                            lambda o, w: {"all": True, "district_code": OTHER},
                                            ("admin", "planner"), 403),
    "suggest communities": Probe("POST", lambda o, w: "/plans/community-suggestions",
                                 lambda o, w: {"street_code": STREET}, ("admin", "planner"), 403),
    "adopt a plan": Probe("POST", lambda o, w: f"/plans/{o['plan']}/adopt", lambda o, w: {"reason": "x"},
                          ("admin", "planner"), 403, headers={"If-Match": '"1"'}),
    "reshape a grid": Probe("PATCH", lambda o, w: f"/grids/{GRID}",
                            lambda o, w: {"geometry": {"type": "Polygon", "coordinates": [[
                                [119.0, 33.0], [119.01, 33.0], [119.01, 33.009], [119.0, 33.009], [119.0, 33.0]]]},
                                "reason": "probe"}, ("admin", "planner"), 403, headers={"If-Match": '"1"'}),
    "record households": Probe("PUT", lambda o, w: f"/buildings/{o['building']}/households",
                               lambda o, w: {"households": 99, "reason": "probe"}, ("admin", "planner"), 403),
    "rename a user": Probe("PATCH", lambda o, w: f"/users/{o['worker']}",
                           lambda o, w: {"display_name": "x", "version": 1}, ("admin",), 404),
    "reset a password": Probe("PATCH", lambda o, w: f"/users/{o['worker']}",
                              lambda o, w: {"password": "attacker-chosen-1", "version": 1}, ("admin",), 404),
    "read a user": Probe("GET", lambda o, w: f"/users/{o['worker']}", None, ("admin",), 404),
    "assign a user's grids": Probe("PUT", lambda o, w: f"/users/{o['worker']}/grids",
                                   lambda o, w: {"grids": [GRID]}, ("admin",), 404),
    "give our worker their grid": Probe("PUT", lambda o, w: f"/users/{w['users']['worker_b']}/grids",
                                        lambda o, w: {"grids": [GRID]}, ("admin",), 404),
    "create a user there": Probe("POST", lambda o, w: "/users",
                                 lambda o, w: {"username": "spy", "password": "long-enough-1", "role": "admin",
                                               "district_code": OTHER}, ("admin",), 403),
    "move our user there": Probe("PATCH", lambda o, w: f"/users/{w['users']['viewer']}",
                                 lambda o, w: {"district_code": OTHER, "version": 1}, ("admin",), 403),
}
CASES = [(name, role) for name, probe in PROBES.items() for role in probe.roles]


def _state(session: Session, other: dict) -> tuple:
    """Everything the probes could change."""
    q = lambda sql, **p: session.execute(text(sql), p).all()  # noqa: E731
    return (q("SELECT name, version FROM facility WHERE district_code = :d ORDER BY id", d=OTHER),
            q("SELECT status, version FROM plan WHERE district_code = :d", d=OTHER),
            q("SELECT username, display_name, password_hash, district_code, version FROM app_user ORDER BY id"),
            q("SELECT user_id, grid_code, valid_to FROM grid_assignment ORDER BY id"),
            q("SELECT count(*) FROM plan"), q("SELECT code, valid_to, ST_AsEWKB(geom) FROM grid ORDER BY code, id"),
            q("SELECT households, households_source FROM building WHERE district_code = :d", d=OTHER))


@pytest.mark.parametrize(("name", "role"), CASES)
def test_a_write_or_read_in_another_district_is_refused_and_changes_nothing(
        client: TestClient, as_user, world: dict, other: dict, api_session: Session, name: str, role: str) -> None:
    probe = PROBES[name]
    before = _state(api_session, other)
    response = client.request(probe.method, probe.path(other, world),
                              json=probe.json(other, world) if probe.json else None,
                              headers={**as_user(role), **(probe.headers or {})})
    assert response.status_code == probe.refused, response.text
    assert response.json()["error"] in {"permission_denied", "not_found"}
    if probe.refused == 403:
        assert OTHER in response.json()["message"] and "320199" in response.json()["message"]
    api_session.expire_all()
    assert _state(api_session, other) == before


def test_not_yours_and_not_there_answer_alike(client: TestClient, as_user, other: dict) -> None:
    admin = as_user("admin")
    theirs = client.get(f"/users/{other['worker']}", headers=admin)
    missing = client.get("/users/987654", headers=admin)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["message"].replace(str(other["worker"]), "N") == \
        missing.json()["message"].replace("987654", "N")


def test_lists_and_the_audit_log_show_only_the_own_district(client: TestClient, as_user, other: dict) -> None:
    admin = as_user("admin")
    users = client.get("/users", headers=admin).json()
    assert users and {u["district_code"] for u in users} == {"320199"}
    audit = client.get("/audit", params={"limit": 1000}, headers=admin).json()["items"]
    assert all(r["district_code"] in {"320199", None} for r in audit)
    assert not any(r["username"] == "admin_x" or r["user_id"] == other["admin"] for r in audit)


def test_a_user_created_by_a_district_admin_belongs_to_that_district(client: TestClient, as_user,
                                                                     other: dict) -> None:
    created = client.post("/users", json={"username": "new_admin", "password": "long-enough-1", "role": "admin"},
                          headers=as_user("admin"))
    assert created.status_code == 201 and created.json()["district_code"] == "320199"


def test_a_city_admin_without_a_district_may_act_everywhere(client: TestClient, other: dict,
                                                            api_session: Session) -> None:
    user_service.create_user(api_session, username="city_admin", password=api_world.PASSWORD, role="admin")
    api_session.flush()
    token = client.post("/auth/token", data={"username": "city_admin", "password": api_world.PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(f"/users/{other['worker']}", headers=headers).status_code == 200
    renamed = client.patch(f"/facilities/{other['facility']}", json={"name": "改名", "version": 1}, headers=headers)
    assert renamed.status_code == 200, renamed.text
    audit = client.get("/audit", params={"limit": 1000}, headers=headers).json()["items"]
    assert any(r["district_code"] == OTHER for r in audit)
