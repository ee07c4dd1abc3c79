"""Failed sign-ins are limited per username and per client address; a fake clock moves time, nothing sleeps."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import api_world
import pytest
from fastapi.testclient import TestClient

from api.ratelimit import LoginLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(api_app) -> Iterator[FakeClock]:
    """A fresh limiter (5 per username, 20 per address, 60 s) on a fake clock, the app's own restored after."""
    fake = FakeClock()
    original = api_app.state.login_limiter
    # Counted in the database: a prefix of its own keeps this test's failures from any other test's.
    api_app.state.login_limiter = LoginLimiter(api_app.state.engine, per_username=5, per_ip=20, window_seconds=60,
                                               clock=fake, prefix=f"login-test-{uuid.uuid4().hex[:8]}")
    try:
        yield fake
    finally:
        api_app.state.login_limiter = original


def sign_in(client: TestClient, username: str, password: str, ip: str | None = None):
    return client.post("/auth/token", data={"username": username, "password": password})


def test_five_failures_lock_the_username_for_the_rest_of_the_minute(client: TestClient, clock: FakeClock) -> None:
    for i in range(5):
        assert sign_in(client, "worker_a", f"wrong-{i}").status_code == 401
        clock.now += 1
    refused = sign_in(client, "worker_a", api_world.PASSWORD)  # even the right password: no guess is checked
    assert refused.status_code == 429
    body = refused.json()
    assert body["error"] == "too_many_requests" and "try again in 55 s" in body["message"]
    assert body["details"] == {"retry_after_seconds": 55}
    assert refused.headers["Retry-After"] == "55"
    assert "Traceback" not in refused.text
    # Other accounts from the same address are not locked out by worker_a's failures.
    assert sign_in(client, "worker_b", api_world.PASSWORD).status_code == 200
    # Case and spaces do not make a fresh account name.
    assert sign_in(client, " WORKER_A ", api_world.PASSWORD).status_code == 429
    clock.now = 1000.0 + 60  # the first failure leaves the window
    assert sign_in(client, "worker_a", api_world.PASSWORD).status_code == 200


def test_a_right_password_clears_the_username_count(client: TestClient, clock: FakeClock) -> None:
    for i in range(4):
        assert sign_in(client, "worker_a", f"wrong-{i}").status_code == 401
    assert sign_in(client, "worker_a", api_world.PASSWORD).status_code == 200
    for i in range(4):
        assert sign_in(client, "worker_a", f"wrong-again-{i}").status_code == 401
    assert sign_in(client, "worker_a", api_world.PASSWORD).status_code == 200


def test_twenty_failures_from_one_address_lock_the_address(client: TestClient, clock: FakeClock) -> None:
    # Spraying one guess over many names: each name stays under 5, the address reaches 20.
    for i in range(20):
        assert sign_in(client, f"guess_{i}", "password123").status_code == 401
    refused = sign_in(client, "viewer", api_world.PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    clock.now += 60
    assert sign_in(client, "viewer", api_world.PASSWORD).status_code == 200


def test_the_limiter_forgets_failures_that_left_the_window(api_app) -> None:
    from sqlalchemy import text

    clock = FakeClock()
    prefix = f"login-test-{uuid.uuid4().hex[:8]}"
    limiter = LoginLimiter(api_app.state.engine, per_username=5, per_ip=1000, window_seconds=60, clock=clock,
                           prefix=prefix)
    count = text("SELECT count(*) FROM rate_limit WHERE bucket LIKE :p")
    for i in range(50):
        limiter.record_failure(username=f"name_{i}", ip="10.0.0.1")
    with api_app.state.engine.connect() as conn:
        assert conn.execute(count, {"p": f"{prefix}:%"}).scalar_one() == 51  # 50 names, one address
    clock.now += 61
    limiter.record_failure(username="late", ip="10.0.0.1")  # the address's old failures go
    limiter.check(username="name_49", ip="10.0.0.1")  # old failures expired: no error
    clock.now += 24 * 3600 + 1
    limiter.record_failure(username="later", ip="10.0.0.2")  # day-old rows of every name go
    with api_app.state.engine.connect() as conn:
        assert conn.execute(count, {"p": f"{prefix}:%"}).scalar_one() == 2
