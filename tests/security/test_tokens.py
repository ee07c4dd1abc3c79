"""Tampered, expired and odd tokens are refused (401); role escalation attempts are refused (403/404)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import api_world
import jwt
import pytest
from fastapi.testclient import TestClient

from api.security import ALGORITHM
from gis.settings import DEMO_SECRET

NOW = dt.datetime.now(dt.UTC)


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def valid_claims(world: dict, username: str = "worker_a") -> dict:
    return {"sub": str(world["users"][username]), "name": username, "role": "grid_worker", "ver": 1,
            "iat": NOW, "exp": NOW + dt.timedelta(hours=1)}


def me(client: TestClient, token: str):
    return client.get("/auth/me", headers={"Authorization": f"Bearer {token}"})


def sign(claims: dict, key: str = api_world.SECRET, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def test_a_token_signed_with_our_key_works(client: TestClient, world: dict) -> None:
    """The control: the forgeries below differ from this in one thing each."""
    assert me(client, sign(valid_claims(world))).status_code == 200


TAMPERED = {
    "alg_none": lambda w, t: f"{b64({'alg': 'none', 'typ': 'JWT'})}.{t.split('.')[1]}.",
    "alg_none_with_admin": lambda w, t: f"{b64({'alg': 'none', 'typ': 'JWT'})}."
                                        f"{b64({**valid_claims(w, 'admin'), 'iat': 0, 'exp': 4102444800})}.",
    "wrong_key": lambda w, t: sign(valid_claims(w), key="another-secret-of-enough-length-000000000"),
    "demo_key": lambda w, t: sign(valid_claims(w), key=DEMO_SECRET),
    "hs512_same_key": lambda w, t: sign(valid_claims(w), algorithm="HS512"),
    "role_claim_changed": lambda w, t: ".".join(
        [t.split(".")[0], b64({**jwt.decode(t, options={"verify_signature": False}), "role": "admin"}),
         t.split(".")[2]]),
    "sub_changed_to_admin": lambda w, t: ".".join(
        [t.split(".")[0], b64({**jwt.decode(t, options={"verify_signature": False}),
                              "sub": str(w["users"]["admin"])}), t.split(".")[2]]),
    "signature_dropped": lambda w, t: t.rsplit(".", 1)[0] + ".",
    "expired": lambda w, t: sign({**valid_claims(w), "iat": NOW - dt.timedelta(hours=3),
                                  "exp": NOW - dt.timedelta(hours=2)}),
    "missing_sub": lambda w, t: sign({k: v for k, v in valid_claims(w).items() if k != "sub"}),
    "missing_exp": lambda w, t: sign({k: v for k, v in valid_claims(w).items() if k != "exp"}),
    "non_numeric_sub": lambda w, t: sign({**valid_claims(w), "sub": "admin"}),
    "sql_in_sub": lambda w, t: sign({**valid_claims(w), "sub": "1 OR 1=1"}),
    "negative_sub": lambda w, t: sign({**valid_claims(w), "sub": "-1"}),
    "unknown_user": lambda w, t: sign({**valid_claims(w), "sub": "999999999"}),
    "huge_sub": lambda w, t: sign({**valid_claims(w), "sub": "9" * 40}),
    "stale_version": lambda w, t: sign({**valid_claims(w), "ver": 0}),
    "not_before_in_future": lambda w, t: sign({**valid_claims(w), "nbf": NOW + dt.timedelta(hours=1)}),
    "issued_in_future": lambda w, t: sign({**valid_claims(w), "iat": NOW + dt.timedelta(days=1)}),
    "garbage": lambda w, t: "not.a.token",
    "empty_segments": lambda w, t: "..",
}


@pytest.mark.parametrize("name", sorted(TAMPERED))
def test_tampered_tokens_are_refused(client: TestClient, world: dict, tokens: dict, name: str) -> None:
    forged = TAMPERED[name](world, tokens["worker_a"])
    response = me(client, forged)
    assert response.status_code == 401, f"{name}: {response.text[:300]}"
    assert response.json()["error"] == "not_authenticated"
    assert "Traceback" not in response.text
    # The same token never opens an admin route either.
    assert client.get("/users", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic d29ya2VyX2E6eA==", "bearer  x y", "Token abc"])
def test_malformed_authorization_headers_are_refused(client: TestClient, header: str) -> None:
    response = client.get("/auth/me", headers={"Authorization": header})
    assert response.status_code == 401 and response.json()["error"] == "not_authenticated"


def test_a_worker_cannot_raise_their_own_role(client: TestClient, as_user, world: dict, api_session) -> None:
    uid = world["users"]["worker_a"]
    for body in ({"role": "admin", "version": 1}, {"role": "admin"}, {"is_active": True, "role": "district_planner"}):
        response = client.patch(f"/users/{uid}", json=body, headers={**as_user("worker_a"), "If-Match": '"1"'})
        assert response.status_code == 403, response.text
    assert client.put(f"/users/{uid}/grids", json={"grids": [api_world.GRID_B, api_world.GRID_C]},
                      headers=as_user("worker_a")).status_code == 403
    assert client.post("/users", json={"username": "sneaky", "password": "long-enough-1", "role": "admin"},
                       headers=as_user("worker_a")).status_code == 403
    assert client.get("/auth/me", headers=as_user("worker_a")).json()["role"] == "grid_worker"
    assert client.get("/auth/me", headers=as_user("worker_a")).json()["grids"] == [api_world.GRID_A]


def test_a_worker_sees_no_other_grids_residents_by_any_filter(client: TestClient, as_user, world: dict) -> None:
    headers = as_user("worker_a")
    mine = client.get("/residents", headers=headers)
    assert mine.status_code == 200
    own_ids = {r["id"] for r in mine.json()["items"]}
    assert len(own_ids) == 3  # building N's three residents
    for params in ({"grid_code": api_world.GRID_B}, {"grid_code": api_world.GRID_C},
                   {"community_code": "320199001002"}, {"building_id": world["Q"]}, {"building_id": world["R"]},
                   {"tag": "elderly_alone"}, {"grid_code": f"{api_world.GRID_B}' OR '1'='1"}):
        response = client.get("/residents", params=params, headers=headers)
        assert response.status_code in (200, 403, 404, 422), f"{params}: {response.text[:200]}"
        if response.status_code == 200:
            assert {r["id"] for r in response.json()["items"]} <= own_ids, params
    for other in ("Q", "R"):
        response = client.get(f"/buildings/{world[other]}/residents", headers=headers)
        assert response.status_code in (403, 404) or response.json().get("items", []) == [], response.text[:200]
    export = client.get("/residents/export", params={"grid_code": api_world.GRID_B}, headers=headers)
    assert export.status_code in (403, 404) or "elderly_alone" not in export.text


@pytest.mark.parametrize("role_user", ["planner", "facility", "viewer"])
def test_planners_and_viewers_reach_no_resident_endpoint(client: TestClient, as_user, world: dict,
                                                         role_user: str) -> None:
    headers = as_user(role_user)
    for path in ("/residents", "/residents/export", "/households", f"/buildings/{world['N']}/residents"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403, f"{role_user} {path}: {response.status_code}"
        assert response.json()["error"] == "permission_denied"
