"""Finding 5 of issue 23: the public demo secret, demo ID key and demo_* accounts work in explicit demo mode only.

The attack: a server bound to 127.0.0.1 behind nginx ran with the demo secret (it is in the
source), so anyone could sign an admin token; and the demo_* accounts (public passwords) signed in.
Outside demo mode the app now refuses to start with the demo secret, whatever the address or the
environment, and a server with a real secret signs in no demo account and accepts no token of one.
The public demo ID key (which would make encrypted ID numbers readable by anyone) is refused the
same way, not only under WANGGE_ENVIRONMENT=production (tests/cli/test_registers_cli.py runs the
commands that would use it).
"""

from __future__ import annotations

import datetime as dt

import api_world
import jwt
import pytest
from fastapi.testclient import TestClient
from helpers import ID_KEY
from sqlalchemy.orm import Session

from api.app import create_app
from api.security import ALGORITHM
from gis.errors import SetupError
from gis.services import privacy
from gis.services import users as user_service
from gis.settings import DEMO_ID_KEY, DEMO_SECRET, Settings


def _admin_claims(world: dict) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {"sub": str(world["users"]["admin"]), "name": "admin", "role": "admin", "ver": 1, "iat": now,
            "exp": now + dt.timedelta(hours=1)}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", None, "0.0.0.0"])
def test_no_start_with_the_demo_secret_outside_demo_mode_whatever_the_address(api_database_url: str,
                                                                              host: str | None) -> None:
    with pytest.raises(SetupError, match="WANGGE_SECRET_KEY"):
        create_app(Settings(), url=api_database_url, host=host)


@pytest.mark.parametrize("environment", ["local", "staging", "test", "production"])
def test_no_start_with_the_demo_secret_outside_demo_mode_whatever_the_environment(api_database_url: str,
                                                                                  environment: str) -> None:
    with pytest.raises(SetupError, match="outside demo mode"):
        create_app(Settings(environment=environment), url=api_database_url, host="127.0.0.1")


@pytest.mark.parametrize("environment", ["local", "staging", "test", "production"])
def test_the_demo_id_key_is_refused_outside_demo_mode_whatever_the_environment(environment: str) -> None:
    with pytest.raises(SetupError, match="public demo key"):
        privacy.id_keys(Settings(id_key=DEMO_ID_KEY, environment=environment))
    # A real key works everywhere; demo mode (never in production) alone takes the demo key.
    assert privacy.id_keys(Settings(id_key=ID_KEY, environment=environment)).current_id
    if environment == "production":
        with pytest.raises(SetupError, match="in production"):
            privacy.id_keys(Settings(id_key=DEMO_ID_KEY, environment=environment, demo_mode=True))
    else:
        assert privacy.id_keys(Settings(id_key=DEMO_ID_KEY, environment=environment, demo_mode=True)).current_id


def test_a_forged_demo_secret_admin_token_is_refused_outside_demo_mode(client: TestClient, world: dict) -> None:
    forged = jwt.encode(_admin_claims(world), DEMO_SECRET, algorithm=ALGORITHM)
    response = client.get("/users", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert client.get("/audit", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_demo_accounts_sign_in_only_in_demo_mode(client: TestClient, api_session: Session, api_app) -> None:
    user = user_service.create_user(api_session, username="demo_admin", password="wangge-demo-2026", role="admin")
    api_session.flush()
    form = {"username": "demo_admin", "password": "wangge-demo-2026"}
    refused = client.post("/auth/token", data=form)
    assert refused.status_code == 401 and "demo mode" in refused.json()["message"]
    # A token issued while the server ran in demo mode stops working when it runs without.
    token = jwt.encode({"sub": str(user.id), "name": "demo_admin", "role": "admin", "ver": user.version,
                        "iat": dt.datetime.now(dt.UTC), "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
                       api_world.SECRET, algorithm=ALGORITHM)
    assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    api_app.state.settings = api_app.state.settings.model_copy(update={"demo_mode": True})
    try:
        assert client.post("/auth/token", data=form).status_code == 200
        assert client.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        api_app.state.settings = api_app.state.settings.model_copy(update={"demo_mode": False})


def test_demo_mode_itself_is_refused_off_loopback_and_in_production(api_database_url: str) -> None:
    with pytest.raises(SetupError, match="0.0.0.0"):
        create_app(Settings(demo_mode=True), url=api_database_url, host="0.0.0.0")
    with pytest.raises(SetupError, match="production"):
        create_app(Settings(demo_mode=True, environment="production"), url=api_database_url)
