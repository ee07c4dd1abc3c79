"""One error model for every response: ``{"error": code, "message": ..., "details": ...}``.

Routes raise WanggeError subclasses; this table alone decides the HTTP status. No traceback
ever reaches a client: unexpected exceptions become a 500 naming the request id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gis import errors
from gis.services import privacy

logger = logging.getLogger("wangge.api")

STATUS_CODES: dict[type[errors.WanggeError], int] = {
    errors.NotFound: 404,
    errors.PayloadTooLarge: 413,
    errors.TooManyRequests: 429,
    errors.Conflict: 409,
    errors.InvalidGeometry: 422,
    errors.CRSMismatch: 422,
    errors.InvalidInput: 422,
    errors.Infeasible: 422,
    errors.NotAuthenticated: 401,
    errors.PermissionDenied: 403,
    errors.AccessReasonRequired: 428,
    errors.DatabaseUnavailable: 503,
    errors.SetupError: 500,
    errors.WanggeError: 400,
}


def status_for(exc: errors.WanggeError) -> int:
    """The status of the nearest class in the table (subclasses inherit their parent's)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def public_message(exc: errors.WanggeError) -> str:
    """The message of ``exc`` as a caller may read it (an unreachable database is not named)."""
    if isinstance(exc, errors.DatabaseUnreachable):
        return exc.public_message
    return exc.message


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": code, "message": message, "details": details}


class ErrorBody(BaseModel):
    """The body of every 4xx and 5xx response (what ``error_body`` builds)."""

    error: str = Field(description="a stable code: invalid_input, not_found, conflict, not_authenticated, ...")
    message: str = Field(description="what went wrong, for people")
    details: Any = Field(description="what the message leaves out (the fields, the limits, the request id), or null")


# Every router declares these (``APIRouter(responses=ERROR_RESPONSES)``), so the schema says what an
# error looks like; they also take the place of FastAPI's default 422 body, which this API never sends.
# The schema is inline rather than a ``model``: FastAPI would give a model the route's media type
# (application/geo+json on GeoJSON routes), while errors are always application/json.
_ERROR_CONTENT = {"application/json": {"schema": ErrorBody.model_json_schema()}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused: the error code and message say why", "content": _ERROR_CONTENT},
    "5XX": {"description": "Failed on our side (the details name the request id), or the database is "
                           "unavailable (503, Retry-After)", "content": _ERROR_CONTENT},
}


class GeoReportError(BaseModel):
    """One error as Open311 GeoReport v2 writes it (the body is a list of these)."""

    code: int = Field(description="the HTTP status")
    description: str = Field(description="what went wrong")


_GEOREPORT_CONTENT = {"application/json": {"schema": {"type": "array",
                                                      "items": GeoReportError.model_json_schema()}}}
# Open311 clients parse GeoReport's error list, not our error body: the same statuses, their format.
OPEN311_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused (GeoReport error list)", "content": _GEOREPORT_CONTENT},
    "5XX": {"description": "Failed on our side, or the database is unavailable (503, Retry-After)",
            "content": _GEOREPORT_CONTENT},
}
OPEN311_PREFIX = "/open311/"


def error_response(request: Request, status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """The error body of ``request``'s API: ours, or GeoReport's list under /open311/."""
    if request.url.path.startswith(OPEN311_PREFIX):
        return JSONResponse([{"code": status, "description": message}], status_code=status, headers=headers)
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _keep_refusal(request: Request, status: int, message: str) -> None:
    """An audit row for a signed-in user's refused request: probes outside one's scope are kept."""
    principal = getattr(request.state, "principal", None)
    route = getattr(request.scope.get("route"), "path", None)
    if principal is None or route is None:
        return
    try:
        privacy.record_refusal(request.app.state.engine, principal, route=f"{request.method} {route}",
                               status=status, message=message)
    except SQLAlchemyError:  # the refusal itself must still be answered when the database is not there
        logger.warning("could not keep the refusal of %s %s in the audit log", request.method, route)


def _field_of(loc: tuple[Any, ...]) -> str | None:
    inside = loc[1:] if loc and loc[0] in {"body", "query", "path", "header", "cookie"} else loc
    return ".".join(str(p) for p in inside) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.WanggeError)
    async def _domain(request: Request, exc: errors.WanggeError) -> JSONResponse:
        status = status_for(exc)
        if status in (403, 404, 428):
            await run_in_threadpool(_keep_refusal, request, status, exc.message)
        headers = {"Retry-After": "5"} if status == 503 else None
        if status == 429:
            headers = {"Retry-After": str((exc.details or {}).get("retry_after_seconds", 60))}
        details = exc.details
        if isinstance(exc, errors.DatabaseUnreachable):
            logger.warning("%s (request %s)", exc.message, _request_id(request))
            details = {"request_id": _request_id(request)}
        return error_response(request, status, exc.code, public_message(exc), details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Each problem names its field the way the domain errors do (details.field): the body key or parameter,
        # without the part of the request it came in (body, query, path, header).
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg"),
             "field": _field_of(tuple(e.get("loc", ())))} for e in exc.errors()
        ]
        message = "the request is not valid"
        if request.url.path.startswith(OPEN311_PREFIX):  # GeoReport has no details: name the fields here
            message += "".join(f"; {d['where']}: {d['problem']}" for d in details[:3])
        return error_response(request, 422, "invalid_input", message, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), None,
                              getattr(exc, "headers", None))

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # A value the database refuses (a NUL in text, an id past bigint): the client's input, not our fault.
        logger.info("database refused a value (request %s): %s", _request_id(request), type(exc.orig).__name__)
        return error_response(request, 422, "invalid_input", "a value is out of range or holds characters the "
                              "database cannot store (e.g. NUL)", {"problem": type(exc.orig).__name__})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        rid = _request_id(request)
        logger.exception("unhandled error (request %s)", rid)
        message = "internal error; the request id names it in the server log"
        if request.url.path.startswith(OPEN311_PREFIX):
            message += f" ({rid})"
        return error_response(request, 500, "internal", message, {"request_id": rid})
