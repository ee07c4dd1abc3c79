"""The application factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from api.errors import install_error_handlers
from api.routes import health
from gis import __version__
from gis.db.engine import database_url, make_engine
from gis.settings import Settings

logger = logging.getLogger("wangge.api")


def create_app(settings: Settings, *, url: str | None = None) -> FastAPI:
    """Build the app for ``settings``; ``url`` overrides the database (tests use it)."""
    engine = make_engine(url or database_url(settings), pool_size=10, max_overflow=20)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Wangge 网格 API",
        version=__version__,
        description="Community grid management: boundaries, plans, coverage, cases. "
        "Map data © OpenStreetMap contributors (ODbL).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    install_error_handlers(app)

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        logger.info("%s %s -> %s [%s]", request.method, request.url.path, response.status_code, rid)
        return response

    app.include_router(health.router)
    return app
