"""The application factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import authorize
from api.errors import install_error_handlers
from api.ratelimit import BodySizeLimit, ConcurrencyLimit, LoginLimiter
from api.routes import ROUTERS
from gis import __version__
from gis.db.engine import database_url, make_engine
from gis.errors import SetupError
from gis.settings import Settings
from web import mount as mount_web

logger = logging.getLogger("wangge.api")


class RequestId:
    """Names every request (``X-Request-ID``, given or new) in its response and in the log line.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware costs about
    a millisecond a request, a tenth of a vector tile's whole budget.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id")
        rid = given.decode("latin-1")[:64] if given else uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid  # request.state.request_id for handlers and audit rows

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
                logger.info("%s %s -> %s [%s]", scope["method"], scope["path"], message["status"], rid)
            await send(message)

        await self.app(scope, receive, send_with_id)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_secret(settings: Settings, *, host: str | None = None) -> None:
    """Refuse the public demo secret outside demo mode, whatever the address; refuse demo mode where it is exposed.

    Behind a reverse proxy the app listens on 127.0.0.1 and is still reachable by anyone, so only
    an explicit demo mode (``wangge demo``, ``WANGGE_DEMO_MODE``) may run with the public secret.
    """
    if settings.demo_mode:
        if settings.environment == "production":
            raise SetupError("refusing to start in demo mode under WANGGE_ENVIRONMENT=production: demo mode signs "
                             "in the demo_* accounts, whose passwords are public; unset WANGGE_DEMO_MODE")
        if host is not None and host not in LOOPBACK_HOSTS:
            raise SetupError(f"refusing to start in demo mode on host {host}: the demo secret and demo_* "
                             "passwords are public; serve the demo on 127.0.0.1 only")
        return
    if settings.uses_demo_secret():
        raise SetupError("refusing to start with the demo secret outside demo mode: set WANGGE_SECRET_KEY to a "
                         "random string of 32+ characters (e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe(48))'`), or run `wangge demo` for the demo")


def create_app(settings: Settings, *, url: str | None = None, host: str | None = None) -> FastAPI:
    """Build the app for ``settings``; ``url`` overrides the database (tests use it).

    ``host`` is the address it will listen on: demo mode is refused off loopback.
    """
    check_secret(settings, host=host)
    engine = make_engine(url or database_url(settings), pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs = getattr(_app.state, "jobs", None)
        if jobs is not None:
            _app.state.jobs = None  # a restarted app (tests reuse one) makes a fresh runner
            jobs.shutdown(wait=False)
        engine.dispose()

    app = FastAPI(
        title="Wangge 网格 API",
        version=__version__,
        description="Community grid management: boundaries, plans, coverage, cases. "
        "Map data © OpenStreetMap contributors (ODbL).",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.login_limiter = LoginLimiter(per_username=settings.login_failures_per_username,
                                           per_ip=settings.login_failures_per_ip,
                                           window_seconds=settings.login_window_seconds)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    # Below both pools: one connection is left for the background job runner (one worker thread),
    # and sync routes run on AnyIO's default thread pool of 40.
    in_progress = max(1, min(settings.db_pool_size + settings.db_max_overflow - 1, 40 - 1))
    app.add_middleware(ConcurrencyLimit, limit=in_progress,
                       wait_seconds=settings.db_pool_timeout_seconds, exempt=("/app/static", "/app/vendor"))

    app.add_middleware(RequestId)

    for router in ROUTERS:
        app.include_router(router)
    mount_web(app)  # pages and static files: plain routes, outside the access table (they hold no data)
    return app
