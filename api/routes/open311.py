"""Open311 GeoReport v2 over the same cases, so existing citizen apps can file and follow reports.

Public (no sign-in), JSON only (``.json`` paths). Rules, documented for app makers:

- ``service_code`` is the catalogue code (``E0101`` 暴露垃圾 ...), ``services.json`` lists them.
- ``status`` is ``open`` until nothing is left to do, then ``closed`` (rejected 不予立案, closed
  结案, evaluated 评价); ``status_notes`` names the internal status (``handling (处置中)``).
- Public answers carry no personal data: no contact, reporter, address, photos or staff; the
  description only of requests filed through Open311 (the citizen published it); lat/long
  rounded to ``Settings.open311_coordinate_decimals`` (4: about 10 m).
- Filing (POST requests.json, form-encoded): ``api_key`` must be one of
  ``Settings.open311_api_keys`` (403 otherwise), unless ``open311_open_filing`` lets anyone file,
  as on a 12345 web form. Filings are rate limited per client address and per key
  (``open311_filings_per_address`` / ``_per_key`` in ``open311_window_seconds``; 429 with
  Retry-After), counted in PostgreSQL so that every server process shares the counts. The case is
  filed by the pseudo-role ``citizen`` (source ``open311``), routed like any report; ``phone`` or
  ``email`` is kept as the reporter's contact (masked for staff), names and device ids are not stored.
- Errors use GeoReport's own format, ``[{"code": 403, "description": "..."}]``, with the HTTP
  status of the API's one error table (api/errors.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request

from api.deps import EngineDep, SessionDep, SettingsDep
from api.errors import OPEN311_ERROR_RESPONSES
from api.schemas.open311 import ServicePublic, ServiceRequestCreatedPublic, ServiceRequestPublic
from gis.errors import InvalidInput
from gis.services import cases as case_service
from gis.services import ratelimits

router = APIRouter(prefix="/open311/v2", tags=["open311"], responses=OPEN311_ERROR_RESPONSES)


@router.get("/services.json", summary="The service list: incident categories (service_code = category code)",
            response_model=list[ServicePublic])
def services(settings: SettingsDep) -> Sequence[Mapping[str, Any]]:
    return case_service.open311_services(settings)


def _ids(raw: str | None) -> list[int] | None:
    if not raw:
        return None
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise InvalidInput(f"service_request_id: expected ids separated by commas, got {raw!r}",
                           details={"field": "service_request_id"}) from None


@router.get("/requests.json", summary="Public service requests, newest first (default: the last 90 days)",
            response_model=list[ServiceRequestPublic])
def list_requests(session: SessionDep, settings: SettingsDep,
                  service_request_id: Annotated[str | None, Query(description="ids, comma-separated")] = None,
                  service_code: str | None = None, start_date: dt.datetime | None = None,
                  end_date: dt.datetime | None = None, status: str | None = None) -> Sequence[Mapping[str, Any]]:
    return case_service.open311_requests(session, settings=settings, ids=_ids(service_request_id),
                                         service_code=service_code, start=start_date, end=end_date, status=status)


@router.post("/requests.json", status_code=201, summary="File a service request (form-encoded, as GeoReport v2)",
             response_model=list[ServiceRequestCreatedPublic])
def create_request(
    request: Request, session: SessionDep, engine: EngineDep, settings: SettingsDep,
    service_code: Annotated[str | None, Form()] = None, lat: Annotated[float | None, Form()] = None,
    long: Annotated[float | None, Form()] = None, address_string: Annotated[str | None, Form()] = None,
    address_id: Annotated[int | None, Form()] = None, description: Annotated[str | None, Form()] = None,
    email: Annotated[str | None, Form()] = None, phone: Annotated[str | None, Form()] = None,
    api_key: Annotated[str | None, Form()] = None,
) -> Sequence[Mapping[str, Any]]:
    # Counted before anything else, in their own transactions: refused filings count too.
    address = request.client.host if request.client else "unknown"
    ratelimits.hit(engine, f"open311:addr:{address}", limit=settings.open311_filings_per_address,
                   window_seconds=settings.open311_window_seconds, what="Open311 filings from your address")
    if case_service.check_open311_key(settings, api_key):
        ratelimits.hit(engine, ratelimits.key_bucket("open311:key", api_key or ""),
                       limit=settings.open311_filings_per_key, window_seconds=settings.open311_window_seconds,
                       what="Open311 filings with this api_key")
    if description is not None and len(description) > 4000:
        raise InvalidInput("description: at most 4,000 characters", details={"field": "description"})
    created = case_service.open311_create(session, settings=settings, service_code=service_code, lat=lat, lon=long,
                                          address=address_string, address_id=address_id, description=description,
                                          contact=phone or email, api_key=api_key)
    return [created]


@router.get("/requests/{request_id}.json", summary="One public service request",
            response_model=list[ServiceRequestPublic])
def get_request(request_id: int, session: SessionDep, settings: SettingsDep) -> Sequence[Mapping[str, Any]]:
    return [case_service.open311_request(session, request_id, settings=settings)]
