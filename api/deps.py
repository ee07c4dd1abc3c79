"""Dependencies shared by routes: settings, the engine, a session per request, the signed-in user."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Header, Request
from fastapi.routing import APIRoute
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from api.access import check_role, roles_for, route_key
from api.security import oauth2_scheme, principal_from_token
from gis.db.engine import unavailable
from gis.errors import AccessReasonRequired, DatabaseUnavailable, InvalidInput
from gis.services.users import Principal
from gis.settings import Settings

if TYPE_CHECKING:
    from api.tilecache import TileCache


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
    # Signed-in principals are kept per process (api.tilecache): the token's user is read from the database
    # once, not on every request, and dropped when a notice says the user or their grids changed.
    kept: TileCache = request.app.state.tile_cache
    principal = kept.signed_in(token) if token and kept.is_usable(request.app) else None
    if principal is None:
        started_in = kept.generation
        principal = principal_from_token(session, request.app.state.settings, token)
        kept.remember(request, session, principal, started_in=started_in)
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


ACCESS_REASON_HEADER = "X-Access-Reason"
MAX_ACCESS_REASON = 200  # characters once decoded: a purpose (网格走访, 入户核查), not a report
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
ACCESS_REASON_REQUIRED = (
    "请说明查阅个人信息的原因（请求头 X-Access-Reason），原因记入审计日志 · X-Access-Reason is required: say why "
    "you read these personal records (the reason is kept in the audit log)")


def access_reason(raw: str | None) -> str | None:
    """The X-Access-Reason header as text: percent-encoded UTF-8 (``%E8%B5%B0%E8%AE%BF``) or raw UTF-8 bytes.

    HTTP header values are ASCII (Starlette reads them as Latin-1), yet reasons are written in Chinese.
    A reason goes into the audit log as given: one line, at most ``MAX_ACCESS_REASON`` characters.
    """
    if raw is None:
        return None
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass  # not raw UTF-8 bytes: keep as received
    reason = unquote(raw).strip() or None
    if reason is None:
        return None
    if len(reason) > MAX_ACCESS_REASON:
        raise InvalidInput(f"查阅原因最多 {MAX_ACCESS_REASON} 个字符 · {ACCESS_REASON_HEADER}: at most "
                           f"{MAX_ACCESS_REASON} characters, got {len(reason)}",
                           details={"header": ACCESS_REASON_HEADER, "max_length": MAX_ACCESS_REASON})
    if _CONTROL.search(reason):
        # A forged line break or NUL in the audit log would let a reason pass for another row.
        raise InvalidInput(f"查阅原因须为一行文字 · {ACCESS_REASON_HEADER}: one line of text, "
                           "without control characters", details={"header": ACCESS_REASON_HEADER})
    return reason


def require_access_reason(raw: str | None) -> str:
    """The reason of a read of personal records; AccessReasonRequired (428) when it is missing or blank."""
    reason = access_reason(raw)
    if reason is None:
        raise AccessReasonRequired(ACCESS_REASON_REQUIRED, details={
            "header": ACCESS_REASON_HEADER, "max_length": MAX_ACCESS_REASON,
            "encoding": "percent-encoded UTF-8 for Chinese, e.g. %E7%BD%91%E6%A0%BC%E8%B5%B0%E8%AE%BF (网格走访)"})
    return reason


ReasonHeader = Annotated[str | None, Header(
    alias=ACCESS_REASON_HEADER,
    description=f"why personal records are read, kept in the audit log; required where they are returned (428 "
                f"without): at most {MAX_ACCESS_REASON} characters, percent-encoded UTF-8 for Chinese "
                "(网格走访 = %E7%BD%91%E6%A0%BC%E8%B5%B0%E8%AE%BF)")]


def _audit_context(request: Request, reason: str | None) -> AuditContext:
    return AuditContext(principal=request.state.principal, request_id=getattr(request.state, "request_id", None),
                        client_ip=request.client.host if request.client else None, reason=reason)


def get_audit_context(request: Request, reason: ReasonHeader = None) -> AuditContext:
    """For changes: a reason is kept when given."""
    return _audit_context(request, access_reason(reason))


def get_personal_audit_context(request: Request, reason: ReasonHeader = None) -> AuditContext:
    """For routes that return or count personal records: no reason, no records (428)."""
    return _audit_context(request, require_access_reason(reason))


def get_case_audit_context(request: Request, reason: ReasonHeader = None) -> AuditContext:
    """For case routes: a reason from the roles that see descriptions, notes and contacts; optional for others.

    Planners and viewers get cases without those fields (gis.services.cases), so they read
    nothing personal there and have nothing to justify.
    """
    principal: Principal = request.state.principal
    # Issue 18: the roles beyond the grid (community, street, department, supervisor) see them too.
    from gis.services.cases import CASE_ROLES

    if principal.may_read_personal_data or principal.role in CASE_ROLES:
        return _audit_context(request, require_access_reason(reason))
    return _audit_context(request, access_reason(reason))


AuditDep = Annotated[AuditContext, Depends(get_audit_context)]
PersonalAuditDep = Annotated[AuditContext, Depends(get_personal_audit_context)]
CaseAuditDep = Annotated[AuditContext, Depends(get_case_audit_context)]

# The dependencies after which a route reads personal data: its schema says the reason is required.
REASON_REQUIRED_BY = (get_personal_audit_context, get_case_audit_context)


def requires_reason(route: APIRoute) -> bool:
    """Whether ``route`` depends (at any depth) on a dependency that requires X-Access-Reason."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call in REASON_REQUIRED_BY:
            return True
        pending.extend(dependant.dependencies)
    return False


def mark_reasons_required(schema: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Declare X-Access-Reason required in the OpenAPI operations of the routes that require it.

    The header is read as optional (a missing one is answered 428 by the dependency, not 422 by
    FastAPI, and case routes need it of some roles only), so FastAPI would publish it as optional.
    """
    for route in routes:
        if not isinstance(route, APIRoute) or not requires_reason(route):
            continue
        for method in route.methods or ():
            operation = schema.get("paths", {}).get(route.path_format, {}).get(method.lower())
            for parameter in (operation or {}).get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == ACCESS_REASON_HEADER:
                    parameter["required"] = True
                    parameter["schema"] = {"type": "string", "minLength": 1, "title": ACCESS_REASON_HEADER}
    return schema


def expected_version(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The version a write was based on, from ``If-Match: "7"`` (or W/"7"); None when absent."""
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise InvalidInput(f"If-Match: expected a version number such as \"3\", got {if_match!r}")
    return int(raw)


IfMatchDep = Annotated[int | None, Depends(expected_version)]
