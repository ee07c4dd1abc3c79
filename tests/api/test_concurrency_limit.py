"""Admission control: at most ``limit`` requests in progress; the others wait without a thread, then get 503."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

from api.ratelimit import ConcurrencyLimit


def _call(app, path: str) -> tuple[int, dict, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    async def run():
        await app({"type": "http", "path": path, "method": "GET", "headers": []}, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return start["status"], dict(start["headers"]), body

    return run()


def test_requests_beyond_the_limit_wait_then_get_503_and_static_files_pass() -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def slow_app(scope, receive, send):
        started.append(scope["path"])
        if scope["path"] == "/held":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    guarded = ConcurrencyLimit(slow_app, limit=1, wait_seconds=0.2, exempt=("/app/static",))

    async def scenario():
        held = asyncio.create_task(_call(guarded, "/held"))
        await asyncio.sleep(0.05)
        refused = await _call(guarded, "/incidents")
        static = await _call(guarded, "/app/static/app.js")
        release.set()
        first = await held
        after = await _call(guarded, "/incidents")
        return first, refused, static, after

    # A loop of its own in a thread of its own: a browser test earlier in this process (Playwright's sync API)
    # leaves the main thread looking as if a loop were running there.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        first, refused, static, after = pool.submit(asyncio.run, scenario()).result()
    assert first[0] == 200 and static[0] == 200 and after[0] == 200
    status, headers, body = refused
    assert status == 503 and headers[b"retry-after"] == b"2"
    assert json.loads(body)["error"] == "database_unavailable" and "busy" in json.loads(body)["message"]
    assert started == ["/held", "/app/static/app.js", "/incidents"]  # the refused request never reached the app
