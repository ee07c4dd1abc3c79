"""Health: does the API answer, does the database; at which versions for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.deps import EngineDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.health import HealthPublic
from api.security import oauth2_scheme, principal_from_token
from gis import __version__
from gis.db import migrate as migrations
from gis.db.engine import describe_url, unavailable, versions
from gis.errors import NotAuthenticated
from gis.settings import Settings

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health", summary="Health of the API and its database (versions for admins)",
            response_model=HealthPublic, response_model_exclude_unset=True)
def health(engine: EngineDep, settings: SettingsDep,
           token: Annotated[str | None, Depends(oauth2_scheme)] = None) -> dict[str, Any]:
    """``status`` for anyone; PostgreSQL, PostGIS and pgRouting versions, database and schema revision for admins.

    Versions and the database's host and name help an attacker more than a load balancer, which
    needs the status only. 503 when the database is down.
    """
    try:
        revision = migrations.current_revision(engine)
        head = migrations.head_revision()
        status = {"status": "ok" if revision == head else "schema_outdated"}
        if not _is_admin(engine, settings, token):
            return status
        found = versions(engine)
    except SQLAlchemyError as exc:
        raise unavailable(engine.url.render_as_string(hide_password=True), exc) from None
    return {
        **status,
        "wangge": __version__,
        "database": describe_url(engine.url.render_as_string(hide_password=True)),
        **found,
        "schema_revision": revision,
        "schema_head": head,
    }


def _is_admin(engine: Engine, settings: Settings, token: str | None) -> bool:
    """Whether ``token`` is a valid admin's; any other caller (none, bad, expired, another role) is not."""
    if not token:
        return False
    with Session(engine) as session:
        try:
            return principal_from_token(session, settings, token).role == "admin"
        except NotAuthenticated:
            return False
