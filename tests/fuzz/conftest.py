"""Fuzz fixtures: the API world in a database of the fuzzer's own, an app on it, a token per role.

The world comes from the suite's API fixtures (``tests/support/api_fixtures.py``) and is copied
into a database only the fuzz app uses; every fuzzed request then runs in a transaction rolled
back after it, so each case meets the same world and nothing a case writes reaches another
test. (Jobs started with ``"background": true`` run in sessions of their own and commit: into the
fuzz database, which is dropped at the end.) The fuzz app is an app instance of its own, so its
sign-in limiter (which fuzzing of ``POST /auth/token`` trips) never blocks the tokens other tests
sign in for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import api_world
import pytest
from api_fixtures import api_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import copy_database, rolled_back_session
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from gis.db.engine import drop_database


@pytest.fixture(scope="session")
def fuzz_database_url(api_database: tuple[str, dict]) -> Iterator[str]:
    """A copy of the API world's database that only the fuzz app uses; dropped afterwards."""
    url = copy_database(api_database[0], prefix="wangge_fuzz")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def fuzz_app(fuzz_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """An app on the fuzz database whose every request runs in its own rolled-back transaction.

    Its home (where uploaded photos go, which no rollback removes) is a temporary folder.
    """
    settings = api_settings().model_copy(update={"home": tmp_path_factory.mktemp("fuzz_home")})
    app = create_app(settings, url=fuzz_database_url)
    engine = app.state.engine

    def rolled_back_request_session() -> Iterator[Session]:
        # As api.deps.get_session (commit on success, roll back on error), inside an outer
        # transaction that is always rolled back: a fuzzed PATCH /users/{id} cannot lock out a role.
        with rolled_back_session(engine) as session, session.begin():
            yield session

    app.dependency_overrides[get_session] = rolled_back_request_session
    try:
        with TestClient(app):  # started (lifespan) once for the session: see StartedApp
            yield app
    finally:
        app.dependency_overrides.clear()
        engine.dispose()


class StartedApp:
    """An app already started by its fixture, as Schemathesis reaches it: lifespan events are answered, not run.

    Schemathesis starts an ASGI app's lifespan on a test's first request and ends it at the test's
    teardown. The fuzz app's lifespan (job workers; on shutdown, the pool) then ran for each of some
    900 tests, each opening fresh PostgreSQL sessions that load PostGIS again.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


@pytest.fixture(scope="session")
def fuzz_target(fuzz_app: FastAPI) -> StartedApp:
    """The started fuzz app, for ``case.call(app=...)``."""
    return StartedApp(fuzz_app)


@pytest.fixture(scope="session")
def fuzz_tokens(fuzz_app: FastAPI) -> dict[str, str]:
    """A bearer token per role (api_world.ROLE_USERS), signed in through the fuzz app before any fuzzing."""
    found = {}
    client = TestClient(fuzz_app)  # the app is started by its fixture
    for role, username in api_world.ROLE_USERS.items():
        response = client.post("/auth/token", data={"username": username, "password": api_world.PASSWORD})
        assert response.status_code == 200, response.text
        found[role] = response.json()["access_token"]
    return found
