"""Finding 12 of issue 23: security headers, offline API docs, and a /health that tells strangers little.

HTML pages carried no CSP, frame-ancestors, nosniff or Referrer-Policy; ``/docs`` loaded Swagger UI
from a CDN (and broke offline); ``/health`` gave anonymous callers the database host, port, name
and exact versions. The docs pages are opened in Debian's Chromium with every request outside
the server refused: they must render from installed files, and the policy must block nothing of
theirs (ReDoc's own CDN logo, which it blocks, aside).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import api_world
import pytest
import uvicorn
from browser import chromium
from fastapi.testclient import TestClient

from api.app import create_app
from gis.settings import Settings

HTML_PAGES = ["/app/login", "/app/", "/docs", "/redoc", "/docs/oauth2-redirect"]


@pytest.mark.parametrize("path", HTML_PAGES)
def test_every_html_page_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["X-Frame-Options"] == "DENY"
    assert "cdn." not in response.text and "jsdelivr" not in response.text and "fonts.googleapis" not in response.text


def test_api_answers_carry_nosniff_and_a_closed_policy(client: TestClient, as_user) -> None:
    for response in (client.get("/openapi.json"), client.get("/grids", headers=as_user("viewer")),
                     client.get("/no/such/route")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_health_gives_versions_to_admins_only(client: TestClient, as_user) -> None:
    for headers in ({}, as_user("viewer"), as_user("worker_a"), {"Authorization": "Bearer forged"}):
        body = client.get("/health", headers=headers).json()
        assert body == {"status": "ok"}
    admin = client.get("/health", headers=as_user("admin")).json()
    assert admin["status"] == "ok" and admin["postgis"].startswith("3.") and "database" in admin


def test_a_basemap_host_is_allowed_for_images_only(api_database_url: str) -> None:
    settings = Settings(database_url=None, secret_key=api_world.SECRET,
                        basemap_url="https://{s}.tiles.example.cn/{z}/{x}/{y}.png")
    with TestClient(create_app(settings, url=api_database_url)) as client:
        csp = client.get("/app/login").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob: https://*.tiles.example.cn;" in csp
    assert "tiles.example.cn" not in csp.split("img-src", 1)[0]


@pytest.fixture(scope="module")
def live_server(api_database_url: str) -> Iterator[str]:
    app = create_app(Settings(database_url=None, secret_key=api_world.SECRET), url=api_database_url)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):  # until it listens (a bounded wait, not a timing assertion)
        if server.started:
            break
        time.sleep(0.1)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()
    app.state.engine.dispose()


@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .info .title"), ("/redoc", "h1")])
def test_the_docs_render_offline_from_installed_files(live_server: str, path: str,
                                                                             ready: str) -> None:
    outside: list[str] = []
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(live_server):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    with chromium() as browser:
        page = browser.new_page()
        page.route("**/*", route)
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(live_server + path, wait_until="load")
        page.wait_for_selector(ready)
        title = page.inner_text(ready)
        page.close()
    assert "Wangge" in title
    assert outside == []
    # ReDoc's bundle names its vendor's logo on a CDN; the policy blocks it before any request leaves.
    assert [p for p in problems if "cdn.redoc.ly/redoc/logo-mini.svg" not in p] == []
