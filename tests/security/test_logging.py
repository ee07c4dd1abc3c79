"""Passwords never reach a log: sign-in, user creation and a password change, with every logger at DEBUG."""

from __future__ import annotations

import logging

import api_world
import pytest
from fastapi.testclient import TestClient

NEW_PASSWORD = "Secret-Canary-7f3a9c"
CHANGED_PASSWORD = "Second-Canary-2b8e41"


def test_passwords_appear_in_no_log_record(client: TestClient, as_user, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("wangge", "uvicorn", "sqlalchemy.engine", "httpx", ""):
        caplog.set_level(logging.DEBUG, logger=name)
    assert client.post("/auth/token", data={"username": "worker_a", "password": api_world.PASSWORD}).status_code == 200
    assert client.post("/auth/token", data={"username": "worker_a", "password": NEW_PASSWORD}).status_code == 401
    created = client.post("/users", json={"username": "canary", "password": NEW_PASSWORD, "role": "viewer"},
                          headers=as_user("admin"))
    assert created.status_code == 201, created.text
    uid, version = created.json()["id"], created.json()["version"]
    changed = client.patch(f"/users/{uid}", json={"password": CHANGED_PASSWORD},
                           headers={**as_user("admin"), "If-Match": f'"{version}"'})
    assert changed.status_code == 200, changed.text
    assert client.post("/auth/token", data={"username": "canary", "password": CHANGED_PASSWORD}).status_code == 200
    too_short = client.post("/users", json={"username": "canary2", "password": "short", "role": "viewer"},
                            headers=as_user("admin"))
    assert too_short.status_code == 422 and "short" not in too_short.text  # the error names the field, not its value
    assert caplog.records, "nothing was logged: the capture is not working"
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for secret in (api_world.PASSWORD, NEW_PASSWORD, CHANGED_PASSWORD):
        assert secret not in logged
    # Nor in any response body.
    for response in (created, changed):
        assert NEW_PASSWORD not in response.text and CHANGED_PASSWORD not in response.text
