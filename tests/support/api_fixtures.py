"""API fixtures: one database holding the API world, an app on it, a signed-in client per user.

A plugin of the whole suite (tests/conftest.py), so that tests/api, tests/security and tests/fuzz share
one world per test process rather than building it once per folder. The world is committed once per
session. Each test's requests then run inside one outer transaction that is rolled back afterwards,
so a test's writes never leak into the next. Tests that need real concurrent transactions make an
app of their own on a scratch copy.

The app is started once per process (its lifespan: job workers, then on shutdown the tile cache,
the workers and the pool): every test's ``client`` is the one started client, its headers and cookies
reset. Starting and stopping the app around each of a thousand tests cost a pool of fresh PostgreSQL
sessions per test (each loading PostGIS again), and kept nothing a test could see: with a session
override the app keeps no principal or tile (``TileCache.is_usable``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import api_world
import pytest
from fastapi.testclient import TestClient
from helpers import fresh_database, rolled_back_session
from httpx import Headers
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from gis.db.engine import make_engine
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def api_settings() -> Settings:
    # Open311 filing open to anyone, with limits no test reaches (tests/security/test_open311_limits.py
    # sets its own): the rate-limit counters are committed, outside each test's rollback.
    return Settings(database_url=None, home=REPO / ".wangge", secret_key=api_world.SECRET, open311_open_filing=True,
                    open311_filings_per_address=1_000_000, open311_filings_per_key=1_000_000)


@pytest.fixture(scope="session")
def api_database(template_database_url: str) -> Iterator[tuple[str, dict]]:
    """A database holding the API world (committed), and the world's ids."""
    with fresh_database(template_database_url, prefix="wangge_api") as url:
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            world = api_world.build_world(session)
        engine.dispose()
        yield url, world


@pytest.fixture(scope="session")
def api_database_url(api_database: tuple[str, dict]) -> str:
    return api_database[0]


@pytest.fixture(scope="session")
def world(api_database: tuple[str, dict]) -> dict:
    """Ids of the world's buildings, residents, facilities and users."""
    return api_database[1]


@pytest.fixture(scope="session")
def api_app(api_database_url: str):
    return create_app(api_settings(), url=api_database_url)


@pytest.fixture(scope="session")
def api_engine(api_app) -> Engine:
    return api_app.state.engine


@pytest.fixture
def api_session(api_engine: Engine) -> Iterator[Session]:
    """The one session every request of a test uses, inside a transaction rolled back at the end."""
    with rolled_back_session(api_engine) as session:
        yield session


@pytest.fixture(scope="session")
def started_api_client(api_app) -> Iterator[TestClient]:
    """The API app, started (lifespan) once for the session, behind a test client."""
    with TestClient(api_app, raise_server_exceptions=False, headers=api_world.REASON_HEADER) as test_client:
        yield test_client


@pytest.fixture
def client(api_app, api_session: Session, started_api_client: TestClient) -> Iterator[TestClient]:
    """An anonymous client whose requests share ``api_session`` (rolled back after the test).

    Like the web app it sends an X-Access-Reason with every request (``api_world.REASON_HEADER``);
    a test of the refusal without one removes it: ``client.headers.pop("X-Access-Reason")``.
    """

    def session_override() -> Iterator[Session]:
        with api_session.begin_nested():
            yield api_session

    started_api_client.headers = Headers(api_world.REASON_HEADER)
    started_api_client.cookies.clear()
    api_app.dependency_overrides[get_session] = session_override
    try:
        yield started_api_client
    finally:
        api_app.dependency_overrides.pop(get_session, None)


@pytest.fixture(scope="session")
def tokens(started_api_client: TestClient) -> dict[str, str]:
    """A bearer token per world user (signing in once per session, before any test's override)."""
    found = {}
    for username in api_world.USERS:
        response = started_api_client.post("/auth/token", data={"username": username, "password": api_world.PASSWORD})
        assert response.status_code == 200, response.text
        found[username] = response.json()["access_token"]
    return found


@pytest.fixture
def as_user(client: TestClient, tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """Headers signing a request in as ``username``: ``client.get(url, headers=as_user("worker_a"))``."""

    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[username]}"}

    return headers
