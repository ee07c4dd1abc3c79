"""Filing a case: a staff or citizen report, routed to its grid, checked for duplicates, 随手办 closed."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.duplicates import duplicates_among
from gis.cases.workflow import CLOSED_STATUSES, CaseState, apply_action
from gis.errors import InvalidInput, PermissionDenied
from gis.services.cases.log import _append_event, _refresh_due
from gis.services.cases.photos import _store_photo
from gis.services.cases.places import Location, StaffMember, _resolve_place, grid_staff, locate_point
from gis.services.cases.rules import (
    AREAS,
    SOURCES,
    URGENCIES,
    CategoryEntry,
    case_table,
    incident_categories,
    resolve_category,
)
from gis.services.cases.scope import IncidentRecord, _incident_record, _now
from gis.services.users import Principal
from gis.settings import Settings


class ReportResult(TypedDict):
    """A filed case: the case, where it was routed, its grid's staff, duplicates, its deadline status.

    ``photos`` and ``quick_fix_check`` are there when photos came with it and when it was a 随手办.
    """

    incident: IncidentRecord
    routing: Location
    staff: list[StaffMember]
    duplicates: list[dict[str, Any]]
    sla: dict[str, Any]
    photos: NotRequired[list[dict[str, Any]]]
    quick_fix_check: NotRequired[dict[str, Any]]


# The hints a dispatcher reads: the nearest few. A busy corner can hold hundreds of open cases of one
# category, and every report keeps its hints in its log entry, so the list is bounded.
DUPLICATE_HINTS = 10
# Rows the SQL prefilter hands to the exact check, nearest first (a margin over DUPLICATE_HINTS for
# the few the exact window or metric distance may still drop).
_DUPLICATE_SCAN = 5 * DUPLICATE_HINTS
_METRES_PER_DEGREE_LAT = 110_574.0
_METRES_PER_DEGREE_LON_AT_EQUATOR = 111_320.0


def _duplicates(session: Session, *, point: tuple[float, float], category_class: str, category: str,
                at: dt.datetime, settings: Settings) -> list[dict[str, Any]]:
    """The nearest open cases the new report may repeat (gis.cases.duplicates), at most ``DUPLICATE_HINTS``.

    The SQL prefilter is a box around the point, which the spatial index answers (a distance on the
    geography cast alone would read every case), then the geodesic distance, nearest first.
    """
    window = dt.timedelta(hours=settings.case_duplicate_window_hours)
    radius = settings.case_duplicate_radius_m * 1.01
    # Degrees of the radius, generously: the box only has to contain the circle.
    half_height = 1.1 * radius / _METRES_PER_DEGREE_LAT
    half_width = 1.1 * radius / (_METRES_PER_DEGREE_LON_AT_EQUATOR * max(math.cos(math.radians(point[1])), 0.01))
    rows = session.execute(text("""
        WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS pt)
        SELECT i.id, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, COALESCE(i.category_code, i.category) AS category,
               i.category_class, i.reported_at, i.status
        FROM incident i, here
        WHERE i.geom && ST_Expand(here.pt, :half_width, :half_height)
          AND COALESCE(i.category_code, i.category) = :category AND i.status <> ALL(CAST(:closed AS text[]))
          AND i.reported_at BETWEEN :since AND :until
          AND ST_DWithin(i.geom::geography, here.pt::geography, :radius)
        ORDER BY ST_Distance(i.geom::geography, here.pt::geography), i.id
        LIMIT :scan"""),
        {"category": category, "closed": sorted(CLOSED_STATUSES), "since": at - window,
         "until": at + window, "lon": point[0], "lat": point[1], "radius": radius,
         "half_width": half_width, "half_height": half_height, "scan": _DUPLICATE_SCAN}).mappings().all()
    if not rows:
        return []
    found = duplicates_among(rows, lon=point[0], lat=point[1], category=category, category_class=category_class,
                             reported_at=at, max_distance_m=settings.case_duplicate_radius_m, window=window)
    return [c.to_dict() for c in found[:DUPLICATE_HINTS]]


def _check_report(principal: Principal | None, *, photos: Sequence[tuple[str | None, bytes]], quick_fix: bool,
                  source: str, urgency: str, area: str, reporter_contact: str | None) -> None:
    """The fields of a report that need no database: photo kinds, 随手办 photos, source, urgency, area, contact."""
    bad_kind = [k for k, _ in photos if k not in ("before", "after", None)]
    if bad_kind:
        raise InvalidInput(f"photos: kind {bad_kind[0]!r}: choose before or after", details={"field": "photos"})
    if quick_fix:
        kinds = {k for k, _ in photos}
        missing = [k for k in ("before", "after") if k not in kinds]
        if missing:
            raise InvalidInput(f"quick_fix (随手办): a {' and an '.join(missing)} photo is required: the fix is "
                               "checked on the photos taken before and after it",
                               details={"field": "photos", "reason": "quick_fix_photos_missing", "missing": missing})
    if source not in SOURCES:
        raise InvalidInput(f"source {source!r}: choose one of {', '.join(SOURCES)}",
                           details={"field": "source"})
    # "open311" is the server's mark on what a citizen filed through Open311 (principal None): only
    # those descriptions reach the anonymous feed, and staff notes may name residents.
    if (principal is None) != (source == "open311"):
        staff = ", ".join(s for s in SOURCES if s != "open311")
        raise InvalidInput(f"source {source!r}: 'open311' is set by the server for requests filed through "
                           f"/open311/v2 only; staff reports choose one of {staff}", details={"field": "source"})
    if urgency not in URGENCIES:
        raise InvalidInput(f"urgency {urgency!r}: choose normal or urgent", details={"field": "urgency"})
    if area not in AREAS:
        raise InvalidInput(f"area {area!r}: choose urban or rural", details={"field": "area"})
    if reporter_contact is not None and len(reporter_contact.strip()) > 100:
        raise InvalidInput("reporter_contact: at most 100 characters", details={"field": "reporter_contact"})


def report_incident(session: Session, principal: Principal | None, *, settings: Settings,
                    point: tuple[float, float] | None = None, building_id: int | None = None,
                    address: str | None = None, category_code: str | None = None,
                    category_class: str | None = None, category: str | None = None, subcategory: str | None = None,
                    description: str | None = None, source: str = "patrol", urgency: str = "normal",
                    area: str = "urban", reporter_contact: str | None = None,
                    position: tuple[float, float] | None = None, note: str | None = None,
                    at: dt.datetime | None = None, quick_fix: bool = False,
                    photos: Sequence[tuple[str | None, bytes]] | None = None) -> ReportResult:
    """File a case at a point (or a building / address), route it to its grid's staff and flag duplicates.

    ``principal`` None is a citizen (Open311). Grid staff and admins report anywhere in their
    district; the case goes to the grid the routing rule picks, whoever reported it.
    Returns the case, where it was routed, the staff it goes to, duplicate candidates and its deadline.

    ``quick_fix`` (随手办): the reporter fixed it on the spot. The category must allow it (the
    city's table, column ``quick_fix``) and ``photos`` must hold at least one ``("before", bytes)``
    and one ``("after", bytes)``. The automatic check (both photos there) closes it at once as
    ``system``, unless the case falls in the sample (``case_quick_fix_sample_share``, picked from
    its id, so the same case is always in or out): then a verifier checks it.
    """
    at = _now(at)
    photos = list(photos or [])
    _check_report(principal, photos=photos, quick_fix=quick_fix, source=source, urgency=urgency, area=area,
                  reporter_contact=reporter_contact)
    cat = resolve_category(settings, category_code=category_code, category_class=category_class,
                           category=category, subcategory=subcategory)
    role = principal.role if principal is not None else "citizen"
    actor = principal.user_id if principal is not None and principal.user_id else None
    # The workflow table decides who may report; checked before anything is written.
    transition = apply_action(None, "quick_fix" if quick_fix else "report", actor=actor, actor_role=role, at=at,
                              note=note, actor_position=position, table=case_table(settings))
    if quick_fix:
        rule = next((c for c in incident_categories(settings) if c.code == cat["category_code"]), None)
        if rule is None or not rule.quick_fix:
            raise InvalidInput(f"quick_fix (随手办): category {cat['category_code'] or cat['category']} "
                               f"({cat['subcategory'] or cat['category']}) is not fixed on the spot in this city's "
                               "table; report it as a case", details={"field": "quick_fix",
                                                                       "reason": "quick_fix_not_allowed",
                                                                       "category_code": cat["category_code"]})
    where, building, place = _resolve_place(session, point=point, building_id=building_id, address=address)
    routing = locate_point(session, lon=where[0], lat=where[1], tolerance_m=settings.case_boundary_tolerance_m)
    if principal is not None and principal.district_code and principal.district_code != routing["district_code"]:
        raise PermissionDenied(f"the point lies in district {routing['district_code']}, outside your district "
                               f"{principal.district_code}", details={"field": "point"})
    # "Same category" is the subcategory (its code) when known: two 市容环境 reports of rubbish and
    # of a dirty road are not duplicates.
    duplicates = _duplicates(session, point=where, category_class=cat["category_class"],
                             category=cat["category_code"] or cat["category"], at=at, settings=settings)
    incident_id = _insert_incident(session, routing, cat, description=description, source=source, urgency=urgency,
                                   area=area, status=transition.status, address=place, building_id=building,
                                   reported_by=actor, contact=reporter_contact, at=at, point=where,
                                   quick_fix=quick_fix)
    _append_event(session, incident_id, routing["district_code"], transition.event, actor_id=actor,
                  detail={"routing": routing, "duplicates": duplicates} if duplicates else {"routing": routing})
    stored = [_store_photo(session, incident_id, routing["district_code"], content=content, settings=settings,
                           kind=kind, uploaded_by=actor, field="photos") for kind, content in photos]
    check = None
    if quick_fix:
        check = _quick_fix_check(session, incident_id, routing["district_code"], transition.state, settings=settings,
                                 at=at)
    sla, row, _ = _refresh_due(session, incident_id, settings=settings, now=at)
    answer: ReportResult = {"incident": _incident_record(row, principal or _CITIZEN), "routing": routing,
              "staff": grid_staff(session, routing["grid_code"]), "duplicates": duplicates, "sla": sla}
    if photos:
        answer["photos"] = [{k: v for k, v in p.items() if k != "created"} for p in stored]
    if check is not None:
        answer["quick_fix_check"] = check
    return answer


def _insert_incident(session: Session, routing: Location, cat: CategoryEntry, *, description: str | None, source: str,
                     urgency: str, area: str, status: str, address: str | None, building_id: int | None,
                     reported_by: int | None, contact: str | None, at: dt.datetime, point: tuple[float, float],
                     quick_fix: bool) -> int:
    """The new case's row, in the grid, community and street it was routed to; its id."""
    return int(session.execute(text("""
        INSERT INTO incident (district_code, street_code, community_code, grid_code, category_code, category_class,
                              category, subcategory, description, source, urgency, area, status, address,
                              building_id, reported_by, reporter_contact, reported_at, geom, quick_fix, handler_id)
        VALUES (:district, :street, :community, :grid, :code, :class, :category, :sub, :description, :source,
                :urgency, :area, :status, :address, :building, :by, :contact, :at,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :quick, :handler)
        RETURNING id"""), {
        "quick": quick_fix, "handler": reported_by if quick_fix else None,
        "district": routing["district_code"], "street": routing["street_code"],
        "community": routing["community_code"], "grid": routing["grid_code"], "code": cat["category_code"],
        "class": cat["category_class"], "category": cat["category"], "sub": cat["subcategory"],
        "description": description, "source": source, "urgency": urgency, "area": area,
        "status": status, "address": address, "building": building_id, "by": reported_by,
        "contact": contact.strip() if contact else None, "at": at, "lon": point[0], "lat": point[1]}).scalar_one())


def quick_fix_sampled(incident_id: int, share: float) -> bool:
    """Whether a 随手办 case is in the verifier's sample: from its id, so the answer never changes."""
    if share <= 0:
        return False
    if share >= 1:
        return True
    draw = int.from_bytes(hashlib.sha256(f"quick_fix:{incident_id}".encode()).digest()[:4], "big") / 2**32
    return draw < share


def _quick_fix_check(session: Session, incident_id: int, district_code: str, state: CaseState, *,
                     settings: Settings, at: dt.datetime) -> dict[str, Any]:
    """Close a 随手办 by the automatic check, or leave it for a verifier when it is sampled."""
    if quick_fix_sampled(incident_id, settings.case_quick_fix_sample_share):
        return {"check": "sampled", "status": state.status}
    closing = apply_action(state, "close", actor=None, actor_role="system", at=at,
                           note="随手办自动核查: 处置前后照片齐全", table=case_table(settings))
    _append_event(session, incident_id, district_code, closing.event, actor_id=None,
                  detail={"check": "automatic", "automatic": True})
    session.execute(text("UPDATE incident SET status = :s, closed_at = :at, version = version + 1 WHERE id = :id"),
                    {"s": closing.status, "at": at, "id": incident_id})
    return {"check": "automatic", "status": closing.status}


_CITIZEN = Principal(user_id=0, username="citizen", role="viewer")  # sees no contact
