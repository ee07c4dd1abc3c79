"""Browser tests: the web app served by uvicorn on a free port, driven by Debian's headless Chromium.

Every request to a non-local address is blocked and recorded; a test that made one fails. No
browser is downloaded: Playwright drives /usr/bin/chromium (scripts/bootstrap.sh installs it), and
a missing browser fails the test rather than skipping it. The database is a copy of the demo
(``CREATE DATABASE … TEMPLATE``) with the demo accounts and a kindergarten coverage run, so that
what these tests write (an adopted plan, an incident) never reaches other tests; it is dropped after.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import api_world
import pytest
import uvicorn
from browser import chromium
from helpers import copy_database
from sqlalchemy import text

from api.app import create_app
from gis.db.engine import drop_database, make_engine, transaction
from gis.services import coverage as coverage_service
from gis.services.demo import DEMO_DISTRICT, ensure_demo_users
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@pytest.fixture(scope="session")
def web_database_url(demo_database_url: str) -> Iterator[str]:
    """A copy of the demo database with demo users and a kindergarten coverage run; dropped afterwards."""
    url = copy_database(demo_database_url, prefix="wangge_web")
    try:
        engine = make_engine(url)
        try:
            with transaction(engine) as session:
                with api_world.password_hashed_once():  # argon2 by design takes long: once per password
                    ensure_demo_users(session)
                # The staff's public phones go on the grid notice.
                session.execute(text("UPDATE grid_assignment SET public_phone = '025-8400 1234'"))
            with transaction(engine) as session:
                coverage_service.compute_coverage(session, district_code=DEMO_DISTRICT[0], types=["kindergarten"])
        finally:
            engine.dispose()
        yield url
    finally:
        drop_database(url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(web_database_url: str) -> Iterator[str]:
    """The app (API and web pages) on a free local port, in a background thread; its base URL."""
    # The web tests sign in as the demo accounts, as a `wangge demo` user would.
    settings = Settings(database_url=None, home=REPO / ".wangge", demo_mode=True)
    app = create_app(settings, url=web_database_url, host="127.0.0.1")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    for _ in range(200):  # started flips once the socket listens (no wall-clock assertion: a bounded wait)
        if srv.started:
            break
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


# Every URL but the app's own (local hosts) and in-page data: and blob: URLs. Playwright hands the
# pattern to the browser, so only requests that leave the machine stop for the Python handler: the
# page's own requests (hundreds of tiles and scripts per page) are never paused on their way out.
_LOCAL = "|".join(map(re.escape, sorted(LOCAL_HOSTS)))
LEAVES_THE_MACHINE = re.compile(rf"^(?!(?:https?|wss?)://(?:{_LOCAL})(?::\d+)?(?:[/?#]|$)|data:|blob:)")


class BlockedNetwork:
    """Aborts every request that leaves the machine and remembers it (routed for LEAVES_THE_MACHINE)."""

    def __init__(self) -> None:
        self.attempted: list[str] = []

    def __call__(self, route: object) -> None:
        self.attempted.append(route.request.url)  # type: ignore[attr-defined]
        route.abort()  # type: ignore[attr-defined]


@pytest.fixture
def open_page(browser: object, server: str, request: pytest.FixtureRequest) -> Iterator[object]:
    """A factory of fresh pages (own context, optional viewport) with the network blocked; checks afterwards."""
    blocked = BlockedNetwork()
    contexts = []
    errors: list[str] = []

    def make(viewport: dict[str, int] | None = None) -> object:
        context = browser.new_context(viewport=viewport or {"width": 1280, "height": 860},  # type: ignore[attr-defined]
                                      base_url=server)
        context.route(LEAVES_THE_MACHINE, blocked)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert blocked.attempted == [], f"requests outside the app: {blocked.attempted}"
    assert errors == [], f"uncaught errors in the page: {errors}"
