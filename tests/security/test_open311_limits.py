"""Finding 4 of issue 23: anonymous Open311 filing without limits.

Every filing becomes a case with a deadline on grid staff. With no keys configured anyone could
file any number. Now filing needs an api key unless a setting opens it, and filings are limited
per client address and per key in PostgreSQL, so that every server process counts the same
hits; errors come in GeoReport's format.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from access_examples_incidents import POINT_A
from fastapi.testclient import TestClient
from helpers import count_rows
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from api.app import create_app

FILING = {"service_code": "E0101", "lat": str(POINT_A[1]), "long": str(POINT_A[0]), "description": "垃圾"}
URL = "/open311/v2/requests.json"


def _clear(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM rate_limit WHERE bucket LIKE 'open311:%'"))


@pytest.fixture
def limited(api_app, api_engine: Engine) -> Iterator[None]:
    """Open filing, 5 per address and 3 per key an hour; the counters cleared before and after."""
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={
        "open311_open_filing": True, "open311_filings_per_address": 5, "open311_filings_per_key": 3,
        "open311_api_keys": ["app-key-1"]})
    _clear(api_engine)
    try:
        yield
    finally:
        api_app.state.settings = original
        _clear(api_engine)


def test_by_default_filing_needs_an_api_key(client: TestClient, api_app) -> None:
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"open311_open_filing": False, "open311_api_keys": []})
    try:
        response = client.post(URL, data=FILING)
    finally:
        api_app.state.settings = original
    assert response.status_code == 403
    [error] = response.json()
    assert error["code"] == 403 and "api_key is required" in error["description"]


def test_a_hundred_anonymous_filings_from_one_address_get_429_after_the_limit(
        client: TestClient, limited: None, api_session: Session) -> None:
    before = count_rows(api_session, "incident")
    statuses = [client.post(URL, data=FILING).status_code for _ in range(100)]
    assert statuses[:5] == [201] * 5 and set(statuses[5:]) == {429}
    assert count_rows(api_session, "incident") == before + 5
    refused = client.post(URL, data=FILING)
    assert int(refused.headers["Retry-After"]) >= 1
    [error] = refused.json()
    assert error["code"] == 429 and "5 per 3600 s" in error["description"]


def test_a_key_is_limited_on_its_own(client: TestClient, limited: None, api_session: Session) -> None:
    statuses = [client.post(URL, data={**FILING, "api_key": "app-key-1"}).status_code for _ in range(4)]
    assert statuses == [201, 201, 201, 429]
    wrong = client.post(URL, data={**FILING, "api_key": "guessed"})
    assert wrong.status_code == 403 and wrong.json()[0]["code"] == 403


def test_the_count_is_shared_by_two_server_processes(api_app, api_engine: Engine, api_database_url: str,
                                                     limited: None) -> None:
    # Two apps with their own engines stand for two worker processes. Refused filings count too,
    # and create nothing to clean up.
    settings = api_app.state.settings
    first, second = create_app(settings, url=api_database_url), create_app(settings, url=api_database_url)
    bad = {**FILING, "service_code": "E0101X"}
    try:
        with TestClient(first) as a, TestClient(second) as b:
            seen = [a.post(URL, data=bad).status_code for _ in range(3)] + \
                   [b.post(URL, data=bad).status_code for _ in range(3)]
    finally:
        first.state.engine.dispose()
        second.state.engine.dispose()
    assert seen == [422, 422, 422, 422, 422, 429]
    with api_engine.connect() as conn:
        assert conn.execute(text("SELECT hits FROM rate_limit WHERE bucket = 'open311:addr:testclient'")).scalar() == 6
