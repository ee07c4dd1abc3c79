"""Finding 10 of issue 23: forgeable forensics.

``X-Request-ID`` was stored as sent, and ``X-Forwarded-For`` was believed from loopback, so the
logged address could be forged and the per-address sign-in limit bypassed (22 failures, no 429).
Now the header is believed only from ``WANGGE_TRUSTED_PROXIES`` (none by default), and audit rows
carry the server's own request id beside the client's.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import api_world
import httpx
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from gis.settings import Settings


def api_settings() -> Settings:
    return Settings(database_url=None, secret_key=api_world.SECRET)


def _rows(session: Session, client_rid: str) -> list:
    return session.execute(text("SELECT request_id, client_request_id, client_ip, action FROM audit_log "
                                "WHERE client_request_id = :r ORDER BY id"), {"r": client_rid}).all()


def _clear_lockouts(app) -> None:  # type: ignore[no-untyped-def]
    with app.state.engine.begin() as connection:
        connection.execute(text("DELETE FROM rate_limit WHERE bucket LIKE '%:ip:testclient'"))


def test_rotating_forged_addresses_do_not_escape_the_per_address_sign_in_limit(api_database_url: str) -> None:
    app = create_app(api_settings(), url=api_database_url)
    _clear_lockouts(app)  # earlier tests' failed sign-ins from the test client count in the same table
    try:
        with TestClient(app) as client:
            statuses = [client.post("/auth/token", data={"username": f"nobody{i}", "password": "wrong-password"},
                                    headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                        for i in range(22)]
    finally:
        # The limiter counts in the database now (shared by every server process): the test client's
        # address must not stay locked out for the tests that sign in after this one.
        _clear_lockouts(app)
        app.state.engine.dispose()
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]


def test_a_forged_forwarded_for_is_not_the_logged_address(client: TestClient, as_user, api_session: Session) -> None:
    response = client.get("/residents", headers={**as_user("worker_a"), "X-Forwarded-For": "203.0.113.66",
                                                 "X-Request-ID": "forged-id-1"})
    assert response.status_code == 200
    [row] = _rows(api_session, "forged-id-1")
    assert row.client_ip == "testclient" and "203.0.113.66" not in str(row)


def test_a_configured_proxy_is_believed(api_database_url: str) -> None:
    settings = api_settings().model_copy(update={"trusted_proxies": ["testclient"]})
    app = create_app(settings, url=api_database_url)
    try:
        with TestClient(app) as client:
            def fail(i: int, address: str) -> int:
                return client.post("/auth/token", data={"username": f"nobody{i}", "password": "wrong-password"},
                                   headers={"X-Forwarded-For": address}).status_code
            first = [fail(i, "198.51.100.1") for i in range(21)]
            other = fail(99, "198.51.100.2")
    finally:
        app.state.engine.dispose()
    # Behind the proxy each client is counted on its own address.
    assert first[20] == 429 and other == 401


def test_the_servers_request_id_is_stored_beside_the_clients(client: TestClient, as_user,
                                                             api_session: Session) -> None:
    response = client.get("/residents", headers={**as_user("worker_a"), "X-Request-ID": "from-the-app-7"})
    [row] = _rows(api_session, "from-the-app-7")
    assert re.fullmatch(r"[0-9a-f]{16}", row.request_id) and row.request_id == response.headers["X-Request-ID"]
    assert response.headers["X-Client-Request-ID"] == "from-the-app-7"
    # A client id that could forge a log line or collide is not kept at all.
    odd = client.get("/residents", headers={**as_user("worker_a"), "X-Request-ID": "x" * 65})
    assert "X-Client-Request-ID" not in odd.headers
    assert api_session.execute(text("SELECT count(*) FROM audit_log WHERE request_id = :r AND "
                                    "client_request_id IS NULL"), {"r": odd.headers["X-Request-ID"]}).scalar() == 1


def test_change_rows_record_the_client_address(client: TestClient, as_user, world: dict,
                                               api_session: Session) -> None:
    response = client.patch(f"/users/{world['users']['viewer']}", json={"display_name": "看", "version": 1},
                            headers={**as_user("admin"), "X-Request-ID": "change-1"})
    assert response.status_code == 200, response.text
    [row] = _rows(api_session, "change-1")
    assert row.action == "update" and row.client_ip == "testclient"


def test_wangge_serve_on_loopback_does_not_believe_forwarded_for(api_database_url: str, tmp_path) -> None:
    """The attack as it was: `wangge serve` (uvicorn) on 127.0.0.1, 22 failures from rotating forged addresses."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env.update(WANGGE_DATABASE_URL=api_database_url, WANGGE_SECRET_KEY=api_world.SECRET)
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "wangge"), "serve", "--host", "127.0.0.1",
                                "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # until it listens (a bounded wait, not a timing assertion)
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(base + "/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        statuses = [httpx.post(base + "/auth/token", data={"username": f"nobody{i}", "password": "wrong-password"},
                               headers={"X-Forwarded-For": f"198.51.100.{i}"}, timeout=30).status_code
                    for i in range(22)]
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
