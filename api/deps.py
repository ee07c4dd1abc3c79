"""Dependencies shared by routes: settings, the engine, a session per request, the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from api.access import check_role, roles_for, route_key
from api.security import oauth2_scheme, principal_from_token
from gis.db.engine import unavailable
from gis.errors import DatabaseUnavailable, InvalidInput
from gis.services.users import Principal
from gis.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    """A session that commits when the route returns and rolls back when it raises."""
    engine: Engine = request.app.state.engine
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            yield session
    except OperationalError as exc:
        raise unavailable(engine.url.render_as_string(hide_password=True), exc) from None
    except PoolTimeout:
        raise DatabaseUnavailable(
            f"no database connection became free within {request.app.state.settings.db_pool_timeout_seconds:g} s: "
            "the server is overloaded, retry shortly") from None


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
# scope="function": commit (or roll back) before the response is sent, so a failed commit never
# follows a 200 (request-scoped yield dependencies finish after sending in FastAPI >= 0.118).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def authorize(request: Request, session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]) -> None:
    """Applied to every route: look the route up in the access table and check the caller's role."""
    key = route_key(request)
    if key is None:
        return
    if not roles_for(key):
        return  # public
    principal = principal_from_token(session, request.app.state.settings, token)
    check_role(key, principal.role)
    request.state.principal = principal


def get_principal(request: Request) -> Principal:
    return request.state.principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class AuditContext:
    """What an audit row needs to know about the request besides the user."""

    principal: Principal
    request_id: str | None
    client_ip: str | None
    reason: str | None


def access_reason(raw: str | None) -> str | None:
    """The X-Access-Reason header as text: percent-encoded UTF-8 (``%E8%B5%B0%E8%AE%BF``) or raw UTF-8 bytes.

    HTTP header values are ASCII (Starlette reads them as Latin-1), yet reasons are written in Chinese.
    """
    if raw is None:
        return None
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass  # not raw UTF-8 bytes: keep as received
    return unquote(raw).strip() or None


def get_audit_context(
    request: Request,
    reason: Annotated[str | None, Header(alias="X-Access-Reason",
                                        description="why personal records are read (kept in the audit log)")] = None,
) -> AuditContext:
    return AuditContext(principal=request.state.principal, request_id=getattr(request.state, "request_id", None),
                        client_ip=request.client.host if request.client else None, reason=access_reason(reason))


AuditDep = Annotated[AuditContext, Depends(get_audit_context)]


def expected_version(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The version a write was based on, from ``If-Match: "7"`` (or W/"7"); None when absent."""
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise InvalidInput(f"If-Match: expected a version number such as \"3\", got {if_match!r}")
    return int(raw)


IfMatchDep = Annotated[int | None, Depends(expected_version)]
