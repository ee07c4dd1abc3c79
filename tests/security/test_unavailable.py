"""Finding 12 of issue 23, its last part: a 503 named the database to whoever asked.

With the database down, ``/health`` (anonymous), every API route, the Open311 endpoints, the public
grid notice and a failed background job said ``cannot reach PostgreSQL at host:port/name``. Now the
caller hears that the database is unavailable and when to retry; which database, and why, is in
the server log only.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import api_world
import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.jobs import describe_job
from api.security import ALGORITHM
from gis.db.engine import unavailable
from gis.services.jobs import Job
from gis.settings import Settings

HOST, PORT, NAME, USER = "127.0.0.1", 9, "wangge_hidden_db_name", "wangge_hidden_user"
URL = f"postgresql://{USER}:hidden-password@{HOST}:{PORT}/{NAME}"
NAMED = (HOST, f":{PORT}/", NAME, USER, "hidden-password", "PostgreSQL")


def _names_nothing(text: str) -> None:
    for word in NAMED:
        assert word not in text, f"{word!r} in {text[:300]}"


def test_a_503_names_no_database_host_port_or_name(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(Settings(database_url=None, secret_key=api_world.SECRET), url=URL)
    now = dt.datetime.now(dt.UTC)
    # A well-signed token, so the request gets as far as looking its user up in the database.
    token = jwt.encode({"sub": "1", "name": "admin", "role": "admin", "ver": 1, "iat": now,
                        "exp": now + dt.timedelta(hours=1)}, api_world.SECRET, algorithm=ALGORITHM)
    caplog.set_level(logging.WARNING)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            answers = {
                "health": client.get("/health"),
                "sign-in": client.post("/auth/token", data={"username": "admin", "password": api_world.PASSWORD}),
                "residents": client.get("/residents", headers={"Authorization": f"Bearer {token}",
                                                               **api_world.REASON_HEADER}),
                "open311": client.get("/open311/v2/requests.json"),
            }
            notice = client.get(f"/app/notice/{api_world.GRID_A}")
    finally:
        app.state.engine.dispose()
    for name, response in answers.items():
        assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0, name
        _names_nothing(response.text)
        body = response.json()
        message = body[0]["description"] if name == "open311" else body["message"]
        assert "the database is unavailable" in message and "数据库暂时不可用" in message, name
        if name != "open311":
            assert body["error"] == "database_unavailable" and body["details"]["request_id"], name
    assert notice.status_code == 503 and "数据库暂时不可用" in notice.text
    _names_nothing(notice.text)
    # The server's own log still says which database did not answer.
    assert f"{HOST}:{PORT}/{NAME}" in caplog.text


def test_a_job_cut_off_by_the_database_names_no_database() -> None:
    error = unavailable(URL, ConnectionRefusedError(f'connection to server at "{HOST}", port {PORT} failed'))
    job = Job(id="j1", kind="grid_suggestions", owner_id=1, owner="planner", parameters={}, status="failed",
              stage=f"failed: {error}", error=error)
    shown = describe_job(job)
    assert shown["error"]["error"] == "database_unavailable" and shown["error"]["status"] == 503
    assert "the database is unavailable" in shown["error"]["message"] and shown["stage"].startswith("failed: ")
    _names_nothing(json.dumps(shown, ensure_ascii=False))
