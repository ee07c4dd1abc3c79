"""Health: does the API answer, does the database, and at which versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from api.deps import EngineDep
from api.errors import ERROR_RESPONSES
from gis import __version__
from gis.db import migrate as migrations
from gis.db.engine import describe_url, unavailable, versions

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health", summary="Health of the API and its database")
def health(engine: EngineDep) -> dict[str, Any]:
    """PostgreSQL, PostGIS and pgRouting versions and the schema revision; 503 when the database is down."""
    try:
        found = versions(engine)
        revision = migrations.current_revision(engine)
    except SQLAlchemyError as exc:
        raise unavailable(engine.url.render_as_string(hide_password=True), exc) from None
    head = migrations.head_revision()
    return {
        "status": "ok" if revision == head else "schema_outdated",
        "wangge": __version__,
        "database": describe_url(engine.url.render_as_string(hide_password=True)),
        **found,
        "schema_revision": revision,
        "schema_head": head,
    }
