"""Sign-in, tokens, the demo-secret refusal and user management."""

from __future__ import annotations

import datetime as dt

import api_world
import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.security import ALGORITHM
from gis.errors import SetupError
from gis.settings import DEMO_SECRET, Settings


def test_sign_in_returns_a_token_naming_the_role(client: TestClient) -> None:
    response = client.post("/auth/token", data={"username": "worker_a", "password": api_world.PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "grid_worker"
    claims = jwt.decode(body["access_token"], api_world.SECRET, algorithms=[ALGORITHM])
    assert claims["name"] == "worker_a"
    me = client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["grids"] == [api_world.GRID_A]
    assert "password_hash" not in me.text


@pytest.mark.parametrize(("username", "password"), [("worker_a", "wrong-password"), ("nobody", "whatever-123")])
def test_wrong_credentials_get_one_message(client: TestClient, username: str, password: str) -> None:
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json() == {"error": "not_authenticated", "message": "wrong username or password",
                               "details": None}


def test_missing_expired_and_forged_tokens_are_refused(client: TestClient, world: dict) -> None:
    assert client.get("/auth/me").status_code == 401
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=10)
    claims = {"sub": str(world["users"]["admin"]), "ver": 1, "iat": past, "exp": past + dt.timedelta(hours=1)}
    expired = jwt.encode(claims, api_world.SECRET, algorithm=ALGORITHM)
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and "expired" in response.json()["message"]
    forged = jwt.encode({**claims, "exp": past + dt.timedelta(days=2)}, DEMO_SECRET, algorithm=ALGORITHM)
    response = client.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and "not valid" in response.json()["message"]


def test_changing_a_user_revokes_their_tokens_and_stale_versions_conflict(client: TestClient, as_user, world) -> None:
    uid = world["users"]["viewer"]
    assert client.get("/auth/me", headers=as_user("viewer")).status_code == 200
    current = client.get(f"/users/{uid}", headers=as_user("admin"))
    version = current.json()["version"]
    assert current.headers["ETag"] == f'"{version}"'
    changed = client.patch(f"/users/{uid}", json={"display_name": "只读"}, headers={**as_user("admin"),
                                                                                    "If-Match": f'"{version}"'})
    assert changed.status_code == 200 and changed.json()["version"] == version + 1
    stale = client.patch(f"/users/{uid}", json={"display_name": "又改"}, headers={**as_user("admin"),
                                                                                 "If-Match": f'"{version}"'})
    assert stale.status_code == 409
    assert stale.json()["details"]["current_version"] == version + 1
    assert client.get(f"/users/{uid}", headers=as_user("admin")).json()["display_name"] == "只读"
    # The viewer's old token names the old version: it no longer works.
    assert client.get("/auth/me", headers=as_user("viewer")).status_code == 401


def test_admin_creates_a_worker_with_grids_and_the_audit_log_says_so(client: TestClient, as_user) -> None:
    response = client.post("/users", json={"username": "worker_c", "password": "long-enough-1",
                                           "role": "grid_worker", "grids": [api_world.GRID_C]},
                           headers=as_user("admin"))
    assert response.status_code == 201, response.text
    assert response.json()["grids"] == [api_world.GRID_C]
    duplicate = client.post("/users", json={"username": "worker_c", "password": "long-enough-1",
                                            "role": "grid_worker"}, headers=as_user("admin"))
    assert duplicate.status_code == 409
    unknown_grid = client.post("/users", json={"username": "worker_d", "password": "long-enough-1",
                                               "role": "grid_worker", "grids": ["999999999999999"]},
                               headers=as_user("admin"))
    assert unknown_grid.status_code == 404 and "999999999999999" in unknown_grid.json()["message"]
    log = client.get("/audit", params={"entity": "app_user"}, headers=as_user("admin")).json()["items"]
    assert log[0]["action"] == "create" and log[0]["username"] == "admin"
    assert log[0]["detail"]["grids"] == [api_world.GRID_C]


def test_demo_secret_is_refused_outside_demo_mode_and_demo_mode_off_loopback(api_database_url: str) -> None:
    with pytest.raises(SetupError, match="WANGGE_SECRET_KEY"):
        create_app(Settings(environment="production"), url=api_database_url)
    # Behind a proxy the app listens on loopback: that is no reason to accept the public secret.
    with pytest.raises(SetupError, match="outside demo mode"):
        create_app(Settings(), url=api_database_url, host="127.0.0.1")
    with pytest.raises(SetupError, match="0.0.0.0"):
        create_app(Settings(demo_mode=True), url=api_database_url, host="0.0.0.0")
    with pytest.raises(SetupError, match="production"):
        create_app(Settings(demo_mode=True, environment="production"), url=api_database_url, host="127.0.0.1")
    create_app(Settings(secret_key="x" * 40, environment="production"), url=api_database_url, host="0.0.0.0")
    create_app(Settings(demo_mode=True), url=api_database_url, host="127.0.0.1")
