"""The application factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.deps import authorize, mark_reasons_required
from api.errors import install_error_handlers
from api.headers import SecurityHeaders, mount_docs, page_policy
from api.idempotency import Idempotency
from api.ratelimit import BodySizeLimit, ConcurrencyLimit, LoginLimiter
from api.routes import ROUTERS
from api.tilecache import TileCache, TileFastPath
from gis import __version__
from gis.db.engine import database_url, make_engine
from gis.errors import SetupError
from gis.services.privacy import REQUEST_CONTEXT, RequestContext
from gis.settings import Settings
from web import mount as mount_web

logger = logging.getLogger("wangge.api")


# What a client may name its request with: an id from a proxy or an app, never markup or log lines.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")


class RequestId:
    """Names every request with the server's own id, kept beside the id the client sent.

    ``X-Request-ID`` in the response and ``request_id`` in the log and the audit rows are the
    server's (a client cannot forge or collide with them); what the client sent in
    ``X-Request-ID`` is kept as ``client_request_id`` and echoed as ``X-Client-Request-ID``.
    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware costs about
    a millisecond a request, a tenth of a vector tile's whole budget.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1").strip()
        client_rid = given if _CLIENT_ID.fullmatch(given) else None
        rid = uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = rid  # request.state.request_id for handlers and audit rows
        state["client_request_id"] = client_rid
        client = scope.get("client")
        # Audit rows written while the request runs take these (threads of sync routes copy the context).
        token = REQUEST_CONTEXT.set(RequestContext(request_id=rid, client_request_id=client_rid,
                                                   client_ip=client[0] if client else None))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-request-id", rid.encode("latin-1"))]
                if client_rid:
                    extra.append((b"x-client-request-id", client_rid.encode("latin-1")))
                message["headers"] = [*message.get("headers", []), *extra]
                logger.info("%s %s -> %s [%s%s]", scope["method"], scope["path"], message["status"], rid,
                            f" client {client_rid}" if client_rid else "")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_CONTEXT.reset(token)


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


def install_reason_schema(app: FastAPI) -> None:
    """Make ``/openapi.json`` declare X-Access-Reason required where the routes require it."""
    build = app.openapi
    # The routers' own routes: the app holds them wrapped as included routers.
    routes = [route for router in ROUTERS for route in router.routes]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = mark_reasons_required(build(), routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def admitted_requests(settings: Settings) -> int:
    """How many requests one process works on at once (``ConcurrencyLimit``); the rest wait, holding nothing.

    The connections the pool keeps, less one for the background job runner, and below AnyIO's
    thread pool of 40 that sync routes run on. Not into the overflow: a request past the kept
    connections opened one of its own and closed it after (a PostgreSQL backend start, a few ms of
    CPU on each side), so under load every request paid a connection. The overflow is for the work
    that takes a connection beside a request's own: the job runner's jobs, idempotency keys
    (``api.idempotency``) and the sign-in limiter.
    """
    return max(1, min(settings.db_pool_size - 1, 40 - 1))


def create_app(settings: Settings, *, url: str | None = None, host: str | None = None) -> FastAPI:
    """Build the app for ``settings``; ``url`` overrides the database (tests use it).

    ``host`` is the address it will listen on: demo mode is refused off loopback.
    """
    check_secret(settings, host=host)
    engine = make_engine(url or database_url(settings), pool_size=settings.db_pool_size,
                         max_overflow=settings.db_max_overflow, pool_timeout=settings.db_pool_timeout_seconds)

    tile_cache = TileCache(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Job workers start with the process (issue 20): queued jobs, also those left by a restart, run
        # without waiting for a request to this process.
        from api.routes.jobs import job_runner
        job_runner(_app)
        yield
        tile_cache.close()
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
        docs_url=None,  # served by api.headers.mount_docs from installed files, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.login_limiter = LoginLimiter(engine, per_username=settings.login_failures_per_username,
                                           per_ip=settings.login_failures_per_ip,
                                           window_seconds=settings.login_window_seconds)
    app.state.tile_cache = tile_cache
    install_error_handlers(app)
    # Innermost: tile repeats are answered from memory before routing, inside every other middleware.
    app.add_middleware(TileFastPath, cache=tile_cache)
    app.add_middleware(Idempotency, engine=engine, settings=settings)  # issue 17: keyed writes answered once
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    in_progress = admitted_requests(settings)
    app.add_middleware(ConcurrencyLimit, limit=in_progress,
                       wait_seconds=settings.db_pool_timeout_seconds, exempt=("/app/static", "/app/vendor"))

    app.add_middleware(SecurityHeaders, page_csp=page_policy(settings))
    app.add_middleware(RequestId)
    # Outermost: X-Forwarded-For names the client only when the peer is a configured proxy (none by
    # default), so a forged header changes neither the logged address nor the per-address limits.
    # `wangge serve` turns uvicorn's own handling off (it trusts loopback by default).
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))

    for router in ROUTERS:
        app.include_router(router)
    install_reason_schema(app)
    mount_docs(app)
    mount_web(app)  # pages and static files: plain routes, outside the access table (they hold no data)
    return app


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The app's OpenAPI document, built without a database (making an app opens no connection).

    The app is made on a URL it never connects to, so that a document can be had (for the
    contract test, the fuzz run, a client generator) where no database runs.
    """
    app = create_app(settings, url="postgresql+psycopg://openapi@127.0.0.1:9/never_connected")
    try:
        return app.openapi()
    finally:
        app.state.engine.dispose()
