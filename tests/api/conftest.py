"""API fixtures: one database holding the API world, an app on it, a signed-in client per user.

The world is committed once per session. Each test's requests then run inside one outer
transaction that is rolled back afterwards, so a test's writes never leak into the next.
Tests that need real concurrent transactions use ``committing_client`` on a scratch copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import api_world
import pytest
from fastapi.testclient import TestClient
from helpers import fresh_database, rolled_back_session
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


@pytest.fixture
def client(api_app, api_session: Session) -> Iterator[TestClient]:
    """An anonymous client whose requests share ``api_session`` (rolled back after the test).

    Like the web app it sends an X-Access-Reason with every request (``api_world.REASON_HEADER``);
    a test of the refusal without one removes it: ``client.headers.pop("X-Access-Reason")``.
    """

    def session_override() -> Iterator[Session]:
        with api_session.begin_nested():
            yield api_session

    api_app.dependency_overrides[get_session] = session_override
    try:
        with TestClient(api_app, raise_server_exceptions=False, headers=api_world.REASON_HEADER) as test_client:
            yield test_client
    finally:
        api_app.dependency_overrides.pop(get_session, None)


@pytest.fixture(scope="session")
def tokens(api_app) -> dict[str, str]:
    """A bearer token per world user (signing in once per session)."""
    found = {}
    with TestClient(api_app) as anonymous:
        for username in api_world.USERS:
            response = anonymous.post("/auth/token", data={"username": username, "password": api_world.PASSWORD})
            assert response.status_code == 200, response.text
            found[username] = response.json()["access_token"]
    return found


@pytest.fixture
def as_user(client: TestClient, tokens: dict[str, str]) -> Callable[[str], dict[str, str]]:
    """Headers signing a request in as ``username``: ``client.get(url, headers=as_user("worker_a"))``."""

    def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[username]}"}

    return headers
