"""The API's health page and its error model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from gis.settings import Settings

SECRET = "health-test-secret-0123456789-abcdefghijklmnop"


def test_health_tells_anonymous_callers_the_status_only(database_url: str) -> None:
    with TestClient(create_app(Settings(secret_key=SECRET), url=database_url)) as client:
        response = client.get("/health")
        forged = client.get("/health", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert forged.status_code == 200 and forged.json() == {"status": "ok"}
    assert response.headers["X-Request-ID"]
    # The versions and the database are for admins (tests/security/test_headers.py signs one in).


def test_unknown_route_uses_the_error_model(database_url: str) -> None:
    with TestClient(create_app(Settings(secret_key=SECRET), url=database_url)) as client:
        response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_database_down_gives_503_with_retry_hint() -> None:
    app = create_app(Settings(secret_key=SECRET), url="postgresql://someone:secret@127.0.0.1:1/wangge")
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    body = response.json()
    assert body["error"] == "database_unavailable" and "the database is unavailable" in body["message"]
    # Which database is for the server log (tests/security/test_unavailable.py), not the caller.
    assert "127.0.0.1" not in response.text and "secret" not in response.text
    assert "Traceback" not in response.text


def test_the_server_names_every_request_and_keeps_the_clients_id_beside(database_url: str) -> None:
    with TestClient(create_app(Settings(secret_key=SECRET), url=database_url)) as client:
        given = client.get("/health", headers={"X-Request-ID": "req-from-proxy-42"})
        made = client.get("/health")
    assert given.headers["X-Client-Request-ID"] == "req-from-proxy-42"
    assert len(given.headers["X-Request-ID"]) == 16 and given.headers["X-Request-ID"] != "req-from-proxy-42"
    assert len(made.headers["X-Request-ID"]) == 16 and "X-Client-Request-ID" not in made.headers
