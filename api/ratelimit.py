"""Request guards: a cap on request body size, a cap on requests in progress, and a limit on failed sign-ins.

The first two are per process by nature (a body, the requests this process is serving). Failed
sign-ins are counted in PostgreSQL (``rate_limit``), so that with ``wangge serve --workers N`` an
attacker gets the same number of guesses as against one process, not N times as many.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from gis.db.engine import make_engine
from gis.errors import DatabaseUnavailable, PayloadTooLarge, TooManyRequests
from gis.services import ratelimits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- body size -----------------------------------------------------------------------------------


def _too_large_message(limit: int) -> str:
    return (f"the request body is larger than the {limit:,}-byte limit (WANGGE_MAX_REQUEST_BYTES); "
            "send a smaller file or geometry")


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` when a body without Content-Length grows past the cap.

    A Starlette HTTPException because FastAPI turns any other error met while parsing a body into a
    400; api/errors.py renders status 413 as the PayloadTooLarge error model.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=_too_large_message(limit))


class BodySizeLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` with 413, before the app buffers them."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            # Refused on the header alone: nothing of the body is read.
            error = PayloadTooLarge(_too_large_message(self.max_bytes),
                                    details={"content_length": declared, "max_bytes": self.max_bytes})
            response = JSONResponse({"error": error.code, "message": error.message, "details": error.details},
                                    status_code=413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # chunked, or a Content-Length that lied
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


# --- requests in progress --------------------------------------------------------------------------


class ConcurrencyLimit:
    """ASGI middleware admitting at most ``limit`` requests at once; the rest wait here, then get 503.

    Without it, under more clients than database connections every request starts, sync
    dependencies check out a connection in one thread-pool hop and the route needs another hop:
    with all threads blocked waiting for a connection that is held by requests waiting for a
    thread, nothing moves until the pool timeout (measured: 200 clients, p50 31 s, 80% 503s).
    Waiting here costs no thread and no connection. ``limit`` must stay below both the thread
    pool and the connection pool. Static files (``exempt`` prefixes) touch neither and skip it.
    """

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.exempt = exempt
        self._slots = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(self.exempt):
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            error = DatabaseUnavailable(
                f"the server is busy ({self.limit} requests in progress for {self.wait_seconds:g} s); retry shortly",
                details={"retry_after_seconds": 2})
            response = JSONResponse({"error": error.code, "message": error.message, "details": error.details},
                                    status_code=503, headers={"Retry-After": "2"})
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._slots.release()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# --- sign-in failures ----------------------------------------------------------------------------


def _user_bucket(prefix: str, username: str) -> str:
    # authenticate() strips the name; folding case too stops "Admin" from being a fresh counter.
    name = username.strip().casefold()
    if len(name) > 100:  # a bucket is at most 200 characters; a name that long is an attack anyway
        name = "sha256:" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
    return f"{prefix}:user:{name}"


class LoginLimiter:
    """Counts failed sign-ins per username and per client address in a sliding window, in PostgreSQL.

    A caller over either limit is refused (TooManyRequests, with the seconds until the oldest
    failure leaves the window) before the password is checked, so guessing costs no hashing. The
    counts are rows of ``rate_limit`` (gis.services.ratelimits), so every server process of
    ``wangge serve --workers N`` refuses after the same number of failures. ``clock`` returns
    wall-clock seconds, the same in every process; tests pass a fake one, and a ``prefix`` of
    their own so that their counts meet nobody else's.
    """

    def __init__(self, engine: Engine, *, per_username: int = 5, per_ip: int = 20, window_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time, prefix: str = "login") -> None:
        # Connections of its own, opened per use: a sign-in holds the request's connection while it
        # records the outcome in a transaction of its own, and with a pool of one (or every
        # connection busy) borrowing a second from the request pool would wait for itself.
        self.engine = make_engine(engine.url.render_as_string(hide_password=False), poolclass=NullPool,
                                  connect_args={"connect_timeout": 5, "application_name": "wangge-limits"})
        self.per_username = per_username
        self.per_ip = per_ip
        self.window = window_seconds
        self.clock = clock
        self.prefix = prefix

    def _buckets(self, username: str, ip: str) -> dict[str, int]:
        return {_user_bucket(self.prefix, username): self.per_username, f"{self.prefix}:ip:{ip}": self.per_ip}

    def check(self, *, username: str, ip: str) -> None:
        """Raise TooManyRequests when ``username`` or ``ip`` has used up its failures."""
        wait = ratelimits.failure_wait(self.engine, self._buckets(username, ip), window_seconds=self.window,
                                       now=self.clock())
        if wait > 0:
            seconds = max(1, math.ceil(wait - 1e-6))  # timestamps keep microseconds: 55.000001 is 55
            raise TooManyRequests(f"too many failed sign-ins for this account or address; try again in {seconds} s",
                                  details={"retry_after_seconds": seconds})

    def record_failure(self, *, username: str, ip: str) -> None:
        """Count one failed sign-in against both the username and the address."""
        ratelimits.record_failure(self.engine, list(self._buckets(username, ip)), window_seconds=self.window,
                                  now=self.clock(), prefix=self.prefix)

    def record_success(self, *, username: str) -> None:
        """A right password clears the username's failures (the address keeps its count)."""
        ratelimits.clear(self.engine, _user_bucket(self.prefix, username))
