"""The public view of cases (Open311 GeoReport v2): services, requests, and citizen filings.

A case is ``closed`` in this view once nothing is left to do (rejected, closed, evaluated),
``open`` otherwise. Nothing that names a person leaves: no contact, reporter, photo or address.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.workflow import CLOSED_STATUSES, STATUSES
from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.services.cases.report import report_incident
from gis.services.cases.rules import incident_categories
from gis.services.cases.scope import _iso, _now
from gis.settings import Settings

# Open311 list answers hold at most this many requests (GeoReport v2 suggests 1,000 and 90 days).
OPEN311_MAX = 1000


OPEN311_DAYS = 90


class Open311Service(TypedDict):
    """A catalogue entry as a GeoReport v2 service."""

    service_code: str
    service_name: str | None
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class Open311Request(TypedDict):
    """One case as a GeoReport v2 service request (what a citizen may see of it)."""

    service_request_id: str
    status: str
    status_notes: str
    service_name: str
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: None
    requested_datetime: str | None
    updated_datetime: str | None
    expected_datetime: str | None
    address: None
    address_id: None
    zipcode: None
    lat: float
    long: float
    media_url: None


class Open311Filing(TypedDict):
    """The answer to a citizen's filing: the request's id and a notice about a similar open request."""

    service_request_id: str
    service_notice: str | None
    account_id: None


def open311_services(settings: Settings) -> list[Open311Service]:
    """The catalogue as GeoReport v2 services: service_code = category code."""
    return [{"service_code": c.code, "service_name": c.subcategory,
             "description": f"{c.subcategory} ({c.subcategory_en}); {c.category} {c.category_en}",
             "metadata": False, "type": "realtime", "keywords": f"{c.category_class},{c.category_en}",
             "group": c.category} for c in incident_categories(settings)]


_PUBLIC_COLUMNS = """
    i.id, i.category_code, i.category, i.subcategory, i.status, i.source, i.reported_by, i.description,
    i.reported_at,
    i.due_at, i.closed_at, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, COALESCE(dp.name, g.name) AS grid_name,
    (SELECT max(e.at) FROM incident_event e WHERE e.incident_id = i.id) AS updated_at
"""


# The agency responsible is the department holding the case once it is handed to one, else its grid.
_PUBLIC_FROM = ("FROM incident i LEFT JOIN grid g ON g.code = i.grid_code AND g.valid_to IS NULL "
                "LEFT JOIN department dp ON dp.id = i.department_id")


def _public(row: Any, settings: Settings) -> Open311Request:
    """One case as a GeoReport v2 request: no contact, no reporter, no photos, no address, rounded point."""
    digits = settings.open311_coordinate_decimals
    return {
        "service_request_id": str(row.id),
        "status": "closed" if row.status in CLOSED_STATUSES else "open",
        "status_notes": f"{row.status} ({STATUSES.get(row.status, row.status)})",
        "service_name": row.subcategory or row.category,
        "service_code": row.category_code,
        # Only what a citizen published through Open311 is shown; staff notes may name residents.
        "description": row.description if row.source == "open311" and row.reported_by is None else None,
        "agency_responsible": row.grid_name,
        "service_notice": None,
        "requested_datetime": _iso(row.reported_at),
        "updated_datetime": _iso(row.updated_at or row.reported_at),
        "expected_datetime": _iso(row.due_at),
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": round(row.lat, digits),
        "long": round(row.lon, digits),
        "media_url": None,
    }


def open311_requests(session: Session, *, settings: Settings, ids: list[int] | None = None,
                     service_code: str | None = None, start: dt.datetime | None = None,
                     end: dt.datetime | None = None, status: str | None = None,
                     now: dt.datetime | None = None) -> list[Open311Request]:
    """Public requests, newest first: by id, or by code, period (default the last 90 days) and open/closed."""
    params: dict[str, Any] = {"limit": OPEN311_MAX, "closed": sorted(CLOSED_STATUSES)}
    where = ["TRUE"]
    if ids:
        where.append("i.id = ANY(:ids)")
        params["ids"] = ids
    else:
        end = end or _now(now)
        start = start or end - dt.timedelta(days=OPEN311_DAYS)
        where.append("i.reported_at >= :start AND i.reported_at <= :end")
        params.update(start=start, end=end)
    if service_code:
        where.append("i.category_code = ANY(:codes)")
        params["codes"] = [c.strip() for c in service_code.split(",") if c.strip()]
    if status is not None:
        if status not in ("open", "closed"):
            raise InvalidInput(f"status {status!r}: choose open or closed", details={"field": "status"})
        where.append("i.status " + ("= ANY" if status == "closed" else "<> ALL") + "(CAST(:closed AS text[]))")
    rows = session.execute(text(f"SELECT {_PUBLIC_COLUMNS} {_PUBLIC_FROM} WHERE {' AND '.join(where)} "
                                "ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit"), params).all()
    return [_public(r, settings) for r in rows]


def open311_request(session: Session, request_id: int, *, settings: Settings) -> Open311Request:
    """One public request; NotFound when there is none."""
    row = session.execute(text(f"SELECT {_PUBLIC_COLUMNS} {_PUBLIC_FROM} WHERE i.id = :id"),
                          {"id": request_id}).first()
    if row is None:
        raise NotFound(f"service request {request_id} does not exist")
    return _public(row, settings)


def check_open311_key(settings: Settings, api_key: str | None) -> bool:
    """Whether a filing comes with a registered key; PermissionDenied when one is needed and missing or wrong.

    A key is needed unless ``open311_open_filing`` opens filing to anyone; a wrong key is refused
    either way (an app sending one expects it to count).
    """
    if api_key and api_key in settings.open311_api_keys:
        return True
    if api_key:
        raise PermissionDenied("api_key: not a key of a registered citizen app on this server",
                               details={"field": "api_key"})
    if settings.open311_open_filing:
        return False
    raise PermissionDenied("api_key is required: this server takes Open311 filings from registered citizen apps "
                           "only (WANGGE_OPEN311_API_KEYS), unless WANGGE_OPEN311_OPEN_FILING=true opens it",
                           details={"field": "api_key"})


def open311_create(session: Session, *, settings: Settings, service_code: str | None, lat: float | None,
                   lon: float | None, address: str | None = None, address_id: int | None = None,
                   description: str | None = None, contact: str | None = None, api_key: str | None = None,
                   at: dt.datetime | None = None) -> Open311Filing:
    """File a citizen's request (role ``citizen``): the api_key rule of Settings, then :func:`report_incident`."""
    check_open311_key(settings, api_key)
    if not service_code:
        raise InvalidInput("service_code is required (see services.json)", details={"field": "service_code"})
    point = None
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            raise InvalidInput(f"{'long' if lon is None else 'lat'}: send both lat and long",
                               details={"field": "long" if lon is None else "lat"})
        point = (lon, lat)
    if point is None and address_id is None and not address:
        raise InvalidInput("lat: a location is required: lat and long, address_string or address_id",
                           details={"field": "lat"})
    report = report_incident(session, None, settings=settings, point=point, building_id=address_id,
                             address=address if point is None and address_id is None else None,
                             category_code=service_code, description=description, source="open311",
                             reporter_contact=contact, at=at)
    notice = None
    if report["duplicates"]:
        notice = (f"a similar open request lies {report['duplicates'][0]['distance_m']:.0f} m away "
                  f"(#{report['duplicates'][0]['case_id']}); staff will check whether yours repeats it")
    return {"service_request_id": str(report["incident"]["id"]), "service_notice": notice, "account_id": None}
