"""Incidents (事件) and patrols as located records, grid-scoped in the query; the case loop on incidents.

Incidents: grid staff see their grids' incidents, admins all of their district, planners and
viewers the incidents of their district without the reporter's contact. A contact leaves
masked, and a read that shows one is audited. Patrol tracks are movements (行踪轨迹, sensitive
under PIPL): a worker sees their own, a leader also their grids', an admin all; tracks older
than the retention period are never returned, and every read is audited.

The case loop (report, actions, photos, deadlines, urging, summons, figures, the public Open311
view) is in the second half of this module; the rules themselves are :mod:`gis.cases`'.

Beyond the grid (issue 18): a community officer sees the cases of their community, a street
officer those of their street, a supervisor those of the district, a department's staff the
cases offered to or claimed by their department and those it is summoned to (吹哨); all of them
see the description and the masked contact (audited) of what is in their scope, like grid staff.

Routing rule (where a reported point belongs): the current level-1 grids (a level-2 grid lies
inside one; its cases go to the level-1 grid's staff) within
``Settings.case_boundary_tolerance_m`` (1 cm) of the point are its candidates, found in SQL;
a point inside one grid and clear of its boundary has one candidate. A point on a boundary
shared by several grids (within the tolerance) goes to the grid with the **lowest code**, so the
same point always lands in the same grid. Community and street are those of the chosen grid's
current community. A point outside every grid is refused, naming the nearest current
community and its distance in metres.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, ImageOps
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases import IncidentCategory, check_category, load_categories
from gis.cases.deadlines import (
    DEFAULT_LIMITS,
    CaseClock,
    DeadlineRules,
    WorkingCalendar,
    due_at,
    sla_status,
    urgings_due,
)
from gis.cases.duplicates import find_duplicates
from gis.cases.routing import (
    CASE_LEVELS,
    Actor,
    CaseView,
    case_actions,
    category_limits,
    check_case_rules,
    next_level,
    pick_department,
)
from gis.cases.stats import LEVELS, case_stats, department_stats, period_bounds, stats_to_dict
from gis.cases.workflow import CLOSED_STATUSES, STATUSES, STAYING_ACTIONS, CaseState, apply_action, replay, transitions
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services import departments as department_service
from gis.services import privacy
from gis.services.residents import Reader, Where, check_grid_code, check_paging
from gis.services.users import Principal
from gis.settings import Settings

__all__ = [
    "SOURCES", "CaseScope", "Reader", "act_on_incident", "add_photo", "case_scope", "case_statistics",
    "case_table", "check_open311_key", "clean_photo", "deadline_rules", "get_incident", "list_summons",
    "urge_overdue", "get_patrol", "grid_staff", "incident_categories", "incidents_geojson",
    "list_incidents", "list_patrols", "locate_point", "open311_create", "open311_request", "open311_requests",
    "open311_services",
    "overdue_incidents", "photo_file", "report_incident", "resolve_category",
]

_INCIDENT_COLUMNS = """
    i.id, i.district_code, i.street_code, i.community_code, i.grid_code, i.category_class, i.category,
    i.subcategory, i.description, i.source, i.urgency, i.status, i.address, i.building_id, i.reported_by,
    i.reporter_contact, i.reported_at, i.due_at, i.closed_at, i.satisfaction, i.duplicate_of, i.version,
    i.category_code, i.area, i.handler_id, i.level, i.department_id, i.quick_fix, ST_AsGeoJSON(i.geom, 7) AS point
"""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Roles of the case loop beyond the grid: they see the personal fields of the cases in their scope.
CASE_ROLES = frozenset({"supervisor", "department_staff", "street_officer", "community_officer"})


@dataclass(frozen=True)
class CaseScope:
    """The principal with the case scope of their user row (street, community, department)."""

    principal: Principal
    street_code: str | None = None
    community_code: str | None = None
    department_id: int | None = None

    @property
    def personal(self) -> bool:
        """Whether they see descriptions, notes and masked contacts of the cases in scope."""
        return self.principal.may_read_personal_data or self.principal.role in CASE_ROLES

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.principal.user_id, role=self.principal.role, department_id=self.department_id)


def case_scope(session: Session, principal: Principal | CaseScope) -> CaseScope:
    """The principal's case scope; roles beyond the grid have it on their user row."""
    if isinstance(principal, CaseScope):
        return principal
    if principal.role not in CASE_ROLES or not principal.user_id:
        return CaseScope(principal)
    row = session.execute(text("SELECT street_code, community_code, department_id FROM app_user WHERE id = :u"),
                          {"u": principal.user_id}).first()
    if row is None:
        return CaseScope(principal)
    return CaseScope(principal, street_code=row.street_code, community_code=row.community_code,
                     department_id=row.department_id)


def _incident_scope(scope: CaseScope) -> tuple[str, dict[str, Any]]:
    """Grid staff: their grids; admins and supervisors: their district; a street or community officer: theirs;
    department staff: what is offered to, claimed by or summoned to their department; planners and viewers:
    their district (no contacts).
    """
    principal = scope.principal
    district, params = ("i.district_code = :scope_district", {"scope_district": principal.district_code}) \
        if principal.district_code else ("TRUE", {})
    role = principal.role
    if role == "supervisor":
        return district, params
    if role == "street_officer":
        if scope.street_code is None:
            return district, params
        return f"{district} AND i.street_code = :scope_street", {**params, "scope_street": scope.street_code}
    if role == "community_officer":
        if scope.community_code is None:
            return "FALSE", {}
        return f"{district} AND i.community_code = :scope_community", {**params,
                                                                        "scope_community": scope.community_code}
    if role == "department_staff":
        if scope.department_id is None:
            return "FALSE", {}
        return (f"{district} AND (i.department_id = :scope_department OR EXISTS (SELECT 1 FROM case_summons cs "
                "WHERE cs.incident_id = i.id AND cs.department_id = :scope_department))",
                {**params, "scope_department": scope.department_id})
    if principal.may_read_personal_data:
        return privacy.scope_filter(principal, grid_column="i.grid_code", district_column="i.district_code")
    return district, params


def _incident_where(scope: CaseScope, *, incident_id: int | None = None, grid_code: str | None = None,
                    status: str | None = None, category: str | None = None, source: str | None = None,
                    since: dt.datetime | None = None, until: dt.datetime | None = None, level: str | None = None,
                    department_id: int | None = None) -> Where:
    if level is not None and level not in CASE_LEVELS:
        raise InvalidInput(f"level {level!r}: choose one of {', '.join(CASE_LEVELS)}", details={"field": "level"})
    where = Where.scoped(_incident_scope(scope))
    where.equal("i.id", "incident_id", incident_id, audit=False)
    where.equal("i.grid_code", "grid_code", None if grid_code is None else check_grid_code(grid_code))
    for column, value in (("status", status), ("category", category), ("source", source), ("level", level),
                          ("department_id", department_id)):
        where.equal(f"i.{column}", column, value)
    where.period("i.reported_at", since, until)
    return where


def _incident_record(row: Any, scope: CaseScope | Principal, now: dt.datetime | None = None) -> dict[str, Any]:
    personal = scope.personal if isinstance(scope, CaseScope) else scope.may_read_personal_data
    now = now or dt.datetime.now(dt.UTC)
    record = {
        "id": row.id, "district_code": row.district_code, "street_code": row.street_code,
        "community_code": row.community_code, "grid_code": row.grid_code, "category_class": row.category_class,
        "category": row.category, "subcategory": row.subcategory, "description": row.description,
        "source": row.source, "urgency": row.urgency, "status": row.status, "address": row.address,
        "building_id": row.building_id, "reported_by": row.reported_by, "reported_at": _iso(row.reported_at),
        "due_at": _iso(row.due_at), "closed_at": _iso(row.closed_at), "satisfaction": row.satisfaction,
        "duplicate_of": row.duplicate_of, "version": row.version, "category_code": row.category_code,
        "area": row.area, "handler_id": row.handler_id, "level": row.level, "department_id": row.department_id,
        "quick_fix": row.quick_fix,
        # Late now: the stored due time of the running stage has passed (paused and finished cases have none).
        "overdue": row.due_at is not None and row.status not in CLOSED_STATUSES and row.due_at < now,
        "geometry": json.loads(row.point),
    }
    # Planners and viewers never get the key at all; within scope the contact is masked. A
    # description (and an event's note) may name residents: theirs to read who may read personal
    # data (and audited), never a planner's or viewer's, who work with counts.
    if personal:
        record["reporter_contact"] = privacy.mask_phone(row.reporter_contact)
    else:
        record["description"] = None
    return record


def _audit_contacts(session: Session, reader: Reader, records: list[dict[str, Any]], *, action: str,
                    detail: dict[str, Any] | None = None) -> None:
    """One audit row naming the incidents whose contact, description or notes were shown (none: no row)."""
    shown = [r for r in records if r.get("reporter_contact") or r.get("description")
             or any(e.get("note") for e in r.get("events", []))]
    fields = sorted({f for r in shown for f in ("reporter_contact", "description") if r.get(f)}
                    | ({"notes"} if any(e.get("note") for r in shown for e in r.get("events", [])) else set()))
    main = "reporter_contact" if "reporter_contact" in fields else (fields[0] if fields else None)
    privacy.record_read(session, reader.principal, entity="incident", entity_ids=[r["id"] for r in shown],
                        action=action, reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip,
                        detail={"field": main, "fields": fields, **(detail or {})})


def _select_incidents(session: Session, reader: Reader, *, limit: int, offset: int, **filters: Any
                      ) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    check_paging(limit, offset)
    scope = case_scope(session, reader.principal)
    where = _incident_where(scope, **filters)
    total = session.execute(text(f"SELECT count(*) FROM incident i WHERE {where.sql}"), where.params).scalar_one()
    rows = session.execute(text(f"SELECT {_INCIDENT_COLUMNS} FROM incident i WHERE {where.sql} "
                                "ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit OFFSET :offset"),
                           {**where.params, "limit": limit, "offset": offset}).all()
    return [_incident_record(r, scope) for r in rows], total, where.given


def list_incidents(session: Session, reader: Reader, *, grid_code: str | None = None, status: str | None = None,
                   category: str | None = None, source: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, limit: int = 100, offset: int = 0, level: str | None = None,
                   department_id: int | None = None) -> dict[str, Any]:
    """One page of the incidents the reader may see, newest first, with the total.

    ``level`` (grid, community, street, department) and ``department_id`` narrow it to who holds the case.
    """
    items, total, given = _select_incidents(session, reader, limit=limit, offset=offset, grid_code=grid_code,
                                            status=status, category=category, source=source, since=since,
                                            until=until, level=level, department_id=department_id)
    _audit_contacts(session, reader, items, action="list", detail={"filters": given})
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def incidents_geojson(session: Session, reader: Reader, *, grid_code: str | None = None,
                      status: str | None = None, category: str | None = None, source: str | None = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None, limit: int = 100,
                      offset: int = 0, level: str | None = None, department_id: int | None = None) -> dict[str, Any]:
    """The same page as :func:`list_incidents` as a FeatureCollection of points."""
    items, total, given = _select_incidents(session, reader, limit=limit, offset=offset, grid_code=grid_code,
                                            status=status, category=category, source=source, since=since,
                                            until=until, level=level, department_id=department_id)
    _audit_contacts(session, reader, items, action="list", detail={"filters": given, "format": "geojson"})
    features = [{"type": "Feature", "id": r["id"], "geometry": r.pop("geometry"), "properties": r} for r in items]
    return {"type": "FeatureCollection", "features": features, "total": total, "limit": limit, "offset": offset}


def _not_found(principal: Principal, what: str, ident: Any, extra: str = "") -> NotFound:
    # One answer for missing and out of scope alike, so existence is not confirmed.
    if principal.is_grid_scoped or principal.role in CASE_ROLES:
        return NotFound(f"no {what} {ident} within your {'grids' if principal.is_grid_scoped else 'scope'}{extra}")
    return NotFound(f"{what} {ident} does not exist{extra}")


def get_incident(session: Session, reader: Reader, incident_id: int, *, settings: Settings | None = None,
                 now: dt.datetime | None = None) -> dict[str, Any]:
    """One incident the reader may see, with its events, summons, photos and the actions the reader may take now."""
    settings = settings or Settings()
    now = _now(now)
    scope = case_scope(session, reader.principal)
    where = _incident_where(scope, incident_id=incident_id)
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS} FROM incident i WHERE {where.sql}"),
                          where.params).first()
    if row is None:
        raise _not_found(reader.principal, "incident", incident_id)
    record = _incident_record(row, scope, now)
    events = [dict(e) for e in session.execute(text("""
        SELECT e.id, e.at, e.action, e.from_status, e.to_status, e.note, e.actor_id, e.actor_role, e.handler_id,
               e.satisfaction, e.detail, CASE WHEN e.geom IS NULL THEN NULL ELSE ARRAY[ST_X(e.geom), ST_Y(e.geom)] END
               AS position
        FROM incident_event e WHERE e.incident_id = :i ORDER BY e.at, e.id"""), {"i": incident_id}).mappings()]
    # The actor's GPS at an action is a movement (行踪): only for those who may read personal data.
    shown = scope.personal
    record["events"] = [{**{k: v for k, v in e.items() if k != "detail"}, "at": _iso(e["at"]),
                         "position": e["position"] if shown else None, "note": e["note"] if shown else None,
                         "detail": _public_detail(e["detail"])} for e in events]
    record["photos"] = _photos_of(session, incident_id)
    record["summons"] = _summons_of(session, [incident_id], now)[incident_id]
    sla = _sla(events, row, deadline_rules(settings), now)
    record["sla"] = sla
    record["allowed_actions"] = case_actions(_case_view(session, row, events, sla), scope.actor,
                                             table=case_table(settings)) if shown or \
        reader.principal.role == "admin" else []
    _audit_contacts(session, reader, [record], action="read")
    return record


def _public_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an event's detail shows: the codes of the routing beyond the grid, never duplicates' or GPS data."""
    if not detail:
        return None
    kept = {k: detail[k] for k in ("to_level", "from_level", "department_id", "departments", "report_in_hours",
                                   "check", "sampled", "automatic", "stage", "overdue") if k in detail}
    return kept or None


# --- patrols ------------------------------------------------------------------------------


def _cutoff(retention_days: int, now: dt.datetime | None) -> dt.datetime:
    if retention_days < 1:
        raise InvalidInput(f"patrol_retention_days: 1 or more, got {retention_days}")
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)


def _patrol_scope(principal: Principal) -> tuple[str, dict[str, Any]]:
    """A worker: their own patrols; a leader: their own and their grids'; an admin: their district."""
    privacy.require_personal_access(principal, "patrol tracks")
    if not principal.is_grid_scoped:
        return privacy.scope_filter(principal, grid_column="pa.grid_code", district_column="pa.district_code")
    params: dict[str, Any] = {"scope_user": principal.user_id}
    if principal.role == "grid_leader":
        grids, grid_params = privacy.scope_filter(principal, grid_column="pa.grid_code")
        return f"(pa.worker_id = :scope_user OR {grids})", {**params, **grid_params}
    return "pa.worker_id = :scope_user", params


_PATROL_COLUMNS = """
    pa.id, pa.district_code, pa.worker_id, u.username AS worker, pa.grid_code, pa.started_at, pa.ended_at,
    COALESCE(pa.length_m, ST_Length(pa.geom::geography)) AS length_m, pa.point_count, pa.source_name
"""


def _patrol_record(row: Any) -> dict[str, Any]:
    return {"id": row.id, "district_code": row.district_code, "worker_id": row.worker_id, "worker": row.worker,
            "grid_code": row.grid_code, "started_at": _iso(row.started_at), "ended_at": _iso(row.ended_at),
            "length_m": round(row.length_m, 1) if row.length_m is not None else None,
            "point_count": row.point_count, "source_name": row.source_name}


def _audit_patrols(session: Session, reader: Reader, ids: list[int], *, action: str,
                   detail: dict[str, Any] | None = None) -> None:
    privacy.record_read(session, reader.principal, entity="patrol", entity_ids=ids, action=action,
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip, detail=detail)


def list_patrols(session: Session, reader: Reader, *, retention_days: int, worker_id: int | None = None,
                 grid_code: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 limit: int = 100, offset: int = 0, now: dt.datetime | None = None) -> dict[str, Any]:
    """One page of the patrols the reader may see within the retention period, newest first; audited."""
    check_paging(limit, offset)
    where = Where.scoped(_patrol_scope(reader.principal))
    where.add("pa.started_at >= :cutoff", "cutoff", _cutoff(retention_days, now), audit=False)
    where.equal("pa.worker_id", "worker_id", worker_id)
    where.equal("pa.grid_code", "grid_code", None if grid_code is None else check_grid_code(grid_code))
    where.period("pa.started_at", since, until)
    total = session.execute(text(f"SELECT count(*) FROM patrol pa WHERE {where.sql}"), where.params).scalar_one()
    rows = session.execute(text(f"""
        SELECT {_PATROL_COLUMNS} FROM patrol pa LEFT JOIN app_user u ON u.id = pa.worker_id
        WHERE {where.sql} ORDER BY pa.started_at DESC, pa.id DESC LIMIT :limit OFFSET :offset"""),
        {**where.params, "limit": limit, "offset": offset}).all()
    items = [_patrol_record(r) for r in rows]
    _audit_patrols(session, reader, [p["id"] for p in items], action="list", detail={"filters": where.given})
    return {"items": items, "total": total, "limit": limit, "offset": offset,
            "retention_days": retention_days}


def get_patrol(session: Session, reader: Reader, patrol_id: int, *, retention_days: int,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """One patrol's track as a GeoJSON Feature (LineString, a time per vertex when points were recorded); audited.

    NotFound when it is outside the reader's scope or older than the retention period.
    """
    scope, params = _patrol_scope(reader.principal)
    params.update(id=patrol_id, cutoff=_cutoff(retention_days, now))
    row = session.execute(text(f"""
        SELECT {_PATROL_COLUMNS}, ST_AsGeoJSON(pa.geom, 7) AS track FROM patrol pa
        LEFT JOIN app_user u ON u.id = pa.worker_id
        WHERE pa.id = :id AND pa.started_at >= :cutoff AND {scope}"""), params).first()
    if row is None:
        raise _not_found(reader.principal, "patrol", patrol_id,
                         f" (tracks are kept {retention_days} days)")
    points = session.execute(text("""
        SELECT at, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM patrol_point WHERE patrol_id = :id ORDER BY at, id"""),
        {"id": patrol_id}).all()
    properties = _patrol_record(row)
    if len(points) >= 2:
        geometry: dict[str, Any] | None = {"type": "LineString",
                                           "coordinates": [[round(p.lon, 7), round(p.lat, 7)] for p in points]}
        properties["coord_times"] = [_iso(p.at) for p in points]
    else:
        geometry = json.loads(row.track) if row.track else None
    _audit_patrols(session, reader, [patrol_id], action="read", detail={"track": True})
    return {"type": "Feature", "id": patrol_id, "geometry": geometry, "properties": properties}


# --- the case loop: settings, categories, routing ---------------------------------------------

SOURCES = ("patrol", "hotline_12345", "resident", "video", "higher_level", "open311")
URGENCIES = ("normal", "urgent")
AREAS = ("urban", "rural")
# Photo types by their first bytes (the filename and the client's content type are not trusted).
PHOTO_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
# Open311 list answers hold at most this many requests (GeoReport v2 suggests 1,000 and 90 days).
OPEN311_MAX = 1000
OPEN311_DAYS = 90


def _hhmm(value: str, name: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected a time HH:MM, got {value!r}") from None


def deadline_rules(settings: Settings) -> DeadlineRules:
    """The deadline rules of :mod:`gis.cases.deadlines` with the limits and calendar of ``settings``."""
    limits = dict(DEFAULT_LIMITS)
    limits.update({
        (None, "dispatch", "urgent", None): dt.timedelta(minutes=settings.case_dispatch_minutes_urgent),
        (None, "dispatch", "normal", None): dt.timedelta(minutes=settings.case_dispatch_minutes_normal),
        (None, "handling", "urgent", None): dt.timedelta(hours=settings.case_handling_hours_urgent),
        (None, "handling", "normal", None): dt.timedelta(hours=settings.case_handling_hours_normal),
        (None, "verification", None, "urban"): dt.timedelta(hours=settings.case_verification_hours_urban),
        (None, "verification", None, "rural"): dt.timedelta(hours=settings.case_verification_hours_rural),
    })
    periods = tuple((_hhmm(a, "case_working_periods"), _hhmm(b, "case_working_periods"))
                    for a, b in settings.case_working_periods)
    # The city's category table: a limit per category code and stage (its own file when it has one).
    limits.update(category_limits(incident_categories(settings), urgent={
        "dispatch": limits[(None, "dispatch", "urgent", None)], "handling": limits[(None, "handling", "urgent", None)],
        "verification": limits[(None, "verification", None, "urban")]}))
    calendar = WorkingCalendar(timezone=settings.case_timezone, periods=periods)
    clocks = {"urgent": "wall" if settings.case_urgent_wall_clock else "working", "normal": "working"}
    return DeadlineRules(limits=limits, clocks=clocks, calendar=calendar, due_soon_share=settings.case_due_soon_share)


def case_table(settings: Settings) -> dict[tuple[str | None, str], tuple[str, frozenset[str]]]:
    """The workflow table with the verifying roles of ``settings`` (``WANGGE_CASE_VERIFIER_ROLES``)."""
    return transitions(frozenset(settings.case_verifier_roles))


def incident_categories(settings: Settings) -> tuple[IncidentCategory, ...]:
    """The category catalogue: the shipped list, or the city's own file (``case_categories_path``)."""
    return load_categories(settings.case_categories_path)


def resolve_category(settings: Settings, *, category_code: str | None = None, category_class: str | None = None,
                     category: str | None = None, subcategory: str | None = None) -> dict[str, Any]:
    """The catalogue entry of a report: by code (``E0101``), or by class + category (+ subcategory)."""
    known = incident_categories(settings)
    if category_code is not None:
        found = next((c for c in known if c.code == category_code.strip()), None)
        if found is None:
            raise InvalidInput(f"category_code {category_code!r} is not in the catalogue; see "
                               "GET /open311/v2/services.json for the codes (e.g. E0101 暴露垃圾)")
        return {"category_code": found.code, "category_class": found.category_class, "category": found.category,
                "subcategory": found.subcategory}
    if category_class is None or category is None:
        raise InvalidInput("category: send category_code (e.g. E0101), or category_class and category "
                           "(and subcategory)")
    check_category(category_class, category, subcategory, categories=known)
    code = next((c.code for c in known if (c.category_class, c.category, c.subcategory)
                 == (category_class, category, subcategory)), None)
    return {"category_code": code, "category_class": category_class, "category": category,
            "subcategory": subcategory}


def _check_lonlat(lon: Any, lat: Any, name: str = "point") -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected lon and lat in degrees; got {lon!r}, {lat!r}") from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(f"{name}: ({x}, {y}) is not lon/lat (lon -180..180, lat -90..90; EPSG:4490)")
    return x, y


def locate_point(session: Session, *, lon: float, lat: float, tolerance_m: float = 0.01) -> dict[str, Any]:
    """The grid, community and street of a point by the routing rule (module doc); InvalidInput outside every grid."""
    lon, lat = _check_lonlat(lon, lat)
    rows = session.execute(text("""
        WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g)
        SELECT gr.code, gr.name, gr.district_code, gr.community_code,
               COALESCE(c.street_code, left(gr.community_code, 9)) AS street_code,
               ST_Intersects(gr.geom, pt.g) AS touches
        FROM grid gr CROSS JOIN pt
        LEFT JOIN community c ON c.code = gr.community_code AND c.valid_to IS NULL
        WHERE gr.valid_to IS NULL AND gr.level = 1 AND gr.geom && ST_Expand(pt.g, :deg)
          AND ST_DWithin(gr.geom::geography, pt.g::geography, :tol)
        ORDER BY gr.code"""), {"lon": lon, "lat": lat, "tol": tolerance_m, "deg": tolerance_m / 50_000 + 1e-9}).all()
    if not rows:
        nearest = session.execute(text("""
            WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g),
                 near AS (SELECT c.code, c.name, c.geom FROM community c, pt WHERE c.valid_to IS NULL
                          ORDER BY c.geom <-> pt.g LIMIT 5)
            SELECT near.code, near.name, ST_Distance(near.geom::geography, pt.g::geography) AS distance_m
            FROM near, pt ORDER BY distance_m, near.code LIMIT 1"""), {"lon": lon, "lat": lat}).first()
        if nearest is None:
            raise InvalidInput(f"the point ({lon:.6f}, {lat:.6f}) lies outside every grid, and no community is "
                               "stored yet", details={"lon": lon, "lat": lat})
        raise InvalidInput(f"the point ({lon:.6f}, {lat:.6f}) lies outside every grid; the nearest community is "
                           f"{nearest.name} ({nearest.code}), {nearest.distance_m:.0f} m away",
                           details={"lon": lon, "lat": lat, "nearest_community": nearest.code,
                                    "nearest_community_name": nearest.name,
                                    "distance_m": round(float(nearest.distance_m), 1)})
    chosen = rows[0]
    return {"grid_code": chosen.code, "grid_name": chosen.name, "community_code": chosen.community_code,
            "street_code": chosen.street_code, "district_code": chosen.district_code,
            "rule": "shared_boundary_lowest_code" if len(rows) > 1 else "inside",
            "candidates": [r.code for r in rows]}


def grid_staff(session: Session, grid_code: str) -> list[dict[str, Any]]:
    """The active leaders and workers currently assigned to a grid (whom its cases are routed to)."""
    rows = session.execute(text("""
        SELECT u.id, u.username, u.display_name, u.role_code, ga.duty, ga.public_phone
        FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
        WHERE ga.grid_code = :g AND ga.valid_to IS NULL AND u.is_active
        ORDER BY ga.duty, u.username"""), {"g": grid_code}).all()
    return [{"user_id": r.id, "username": r.username, "display_name": r.display_name, "role": r.role_code,
             "duty": r.duty, "public_phone": r.public_phone} for r in rows]


def _resolve_place(session: Session, *, point: tuple[float, float] | None, building_id: int | None,
                   address: str | None) -> tuple[tuple[float, float], int | None, str | None]:
    """(lon, lat, building id, address) of a report: the point as given, or a building's point on surface."""
    given = [name for name, value in (("point", point), ("building_id", building_id), ("address", address))
             if value is not None]
    if not given:
        raise InvalidInput("where: send a point (lon, lat), a building_id or an address")
    if point is not None:
        if len(point) != 2:
            raise InvalidInput(f"point: expected [lon, lat]; got {point!r}")
        return _check_lonlat(*point), building_id, address
    sql = """SELECT b.id, b.address, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
             FROM building b WHERE """
    if building_id is not None:
        row = session.execute(text(sql + "b.id = :id"), {"id": building_id}).first()
        if row is None:
            raise NotFound(f"building {building_id} does not exist")
        return (row.lon, row.lat), row.id, address or row.address
    wanted = (address or "").strip()
    rows = session.execute(text(sql + """b.address = :a OR b.id IN (
        SELECT d.building_id FROM dwelling d WHERE d.address = :a) ORDER BY b.id LIMIT 5"""), {"a": wanted}).all()
    if not rows:
        raise InvalidInput(f"address {wanted!r} matches no building; send a point or a building_id instead")
    if len({r.id for r in rows}) > 1:
        raise InvalidInput(f"address {wanted!r} matches {len(rows)} buildings ({', '.join(str(r.id) for r in rows)}); "
                           "send the building_id", details={"building_ids": [r.id for r in rows]})
    return (rows[0].lon, rows[0].lat), rows[0].id, wanted


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"at: a timezone-aware time is required; got {at!r}")
    return at


def _events(session: Session, incident_id: int) -> list[dict[str, Any]]:
    return [dict(e) for e in session.execute(text("""
        SELECT action, from_status, to_status, at, actor_id, actor_role, handler_id FROM incident_event
        WHERE incident_id = :i ORDER BY at, id"""), {"i": incident_id}).mappings()]


def _sla(events: list[dict[str, Any]], row: Any, rules: DeadlineRules, now: dt.datetime) -> dict[str, Any]:
    # Limits are keyed by the category code of the city's table (the class name when a case has none).
    return sla_status(events, now=now, rules=rules, category=row.category_code or row.category,
                      urgency=row.urgency, area=row.area).to_dict()


def _duplicates(session: Session, *, point: tuple[float, float], category_class: str, category: str,
                at: dt.datetime, settings: Settings) -> list[dict[str, Any]]:
    """Open cases the new report may repeat (gis.cases.duplicates), prefiltered in SQL by place and time."""
    window = dt.timedelta(hours=settings.case_duplicate_window_hours)
    rows = session.execute(text("""
        SELECT i.id, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat, COALESCE(i.category_code, i.category) AS category,
               i.category_class, i.reported_at, i.status
        FROM incident i
        WHERE COALESCE(i.category_code, i.category) = :category AND i.status <> ALL(CAST(:closed AS text[]))
          AND i.reported_at BETWEEN :since AND :until
          AND ST_DWithin(i.geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography, :radius)"""),
        {"category": category, "closed": sorted(CLOSED_STATUSES), "since": at - window,
         "until": at + window, "lon": point[0], "lat": point[1],
         "radius": settings.case_duplicate_radius_m * 1.01}).mappings().all()
    if not rows:
        return []
    found = find_duplicates(lon=point[0], lat=point[1], category=category, category_class=category_class,
                            reported_at=at, open_cases=pd.DataFrame([dict(r) for r in rows]),
                            max_distance_m=settings.case_duplicate_radius_m, window=window)
    return [c.to_dict() for c in found]


# --- report -------------------------------------------------------------------------------------


def report_incident(session: Session, principal: Principal | None, *, settings: Settings,
                    point: tuple[float, float] | None = None, building_id: int | None = None,
                    address: str | None = None, category_code: str | None = None,
                    category_class: str | None = None, category: str | None = None, subcategory: str | None = None,
                    description: str | None = None, source: str = "patrol", urgency: str = "normal",
                    area: str = "urban", reporter_contact: str | None = None,
                    position: tuple[float, float] | None = None, note: str | None = None,
                    at: dt.datetime | None = None, quick_fix: bool = False,
                    photos: list[tuple[str, bytes]] | None = None) -> dict[str, Any]:
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
        raise InvalidInput(f"source {source!r}: choose one of {', '.join(SOURCES)}")
    # "open311" is the server's mark on what a citizen filed through Open311 (principal None): only
    # those descriptions reach the anonymous feed, and staff notes may name residents.
    if (principal is None) != (source == "open311"):
        staff = ", ".join(s for s in SOURCES if s != "open311")
        raise InvalidInput(f"source {source!r}: 'open311' is set by the server for requests filed through "
                           f"/open311/v2 only; staff reports choose one of {staff}", details={"field": "source"})
    if urgency not in URGENCIES:
        raise InvalidInput(f"urgency {urgency!r}: choose normal or urgent")
    if area not in AREAS:
        raise InvalidInput(f"area {area!r}: choose urban or rural")
    if reporter_contact is not None and len(reporter_contact.strip()) > 100:
        raise InvalidInput("reporter_contact: at most 100 characters")
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
                               f"{principal.district_code}")
    # "Same category" is the subcategory (its code) when known: two 市容环境 reports of rubbish and
    # of a dirty road are not duplicates.
    duplicates = _duplicates(session, point=where, category_class=cat["category_class"],
                             category=cat["category_code"] or cat["category"], at=at, settings=settings)
    incident_id = session.execute(text("""
        INSERT INTO incident (district_code, street_code, community_code, grid_code, category_code, category_class,
                              category, subcategory, description, source, urgency, area, status, address,
                              building_id, reported_by, reporter_contact, reported_at, geom, quick_fix, handler_id)
        VALUES (:district, :street, :community, :grid, :code, :class, :category, :sub, :description, :source,
                :urgency, :area, :status, :address, :building, :by, :contact, :at,
                ST_SetSRID(ST_MakePoint(:lon, :lat), 4490), :quick, :handler)
        RETURNING id"""), {
        "quick": quick_fix, "handler": actor if quick_fix else None,
        "district": routing["district_code"], "street": routing["street_code"],
        "community": routing["community_code"], "grid": routing["grid_code"], "code": cat["category_code"],
        "class": cat["category_class"], "category": cat["category"], "sub": cat["subcategory"],
        "description": description, "source": source, "urgency": urgency, "area": area,
        "status": transition.status, "address": place, "building": building, "by": actor,
        "contact": reporter_contact.strip() if reporter_contact else None, "at": at, "lon": where[0],
        "lat": where[1]}).scalar_one()
    _append_event(session, incident_id, routing["district_code"], transition.event, actor_id=actor,
                  detail={"routing": routing, "duplicates": duplicates} if duplicates else {"routing": routing})
    stored = [_store_photo(session, incident_id, routing["district_code"], content=content, settings=settings,
                           kind=kind, uploaded_by=actor) for kind, content in photos]
    check = None
    if quick_fix:
        check = _quick_fix_check(session, incident_id, routing["district_code"], transition.state, settings=settings,
                                 at=at)
    sla = _refresh_due(session, incident_id, settings=settings, now=at)
    row = _locked(session, incident_id)
    answer = {"incident": _incident_record(row, principal or _CITIZEN), "routing": routing,
              "staff": grid_staff(session, routing["grid_code"]), "duplicates": duplicates, "sla": sla}
    if photos:
        answer["photos"] = [{k: v for k, v in p.items() if k != "created"} for p in stored]
    if check is not None:
        answer["quick_fix_check"] = check
    return answer


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


def _append_event(session: Session, incident_id: int, district_code: str, event: Any, *, actor_id: int | None,
                  detail: dict[str, Any] | None = None) -> int:
    """Append one row to the case's log (who, when, from, to, note, GPS, handler, score)."""
    extra = dict(detail or {})
    if event.distance_m is not None:
        extra["distance_m"] = round(event.distance_m, 1)
    lon, lat = event.position if event.position else (None, None)
    return session.execute(text("""
        INSERT INTO incident_event (incident_id, district_code, actor_id, actor_role, at, action, from_status,
                                    to_status, note, handler_id, satisfaction, detail, geom)
        VALUES (:i, :d, :actor, :role, :at, :action, :frm, :to, :note, :handler, :score, CAST(:detail AS jsonb),
                CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END)
        RETURNING id"""), {
        "i": incident_id, "d": district_code, "actor": actor_id, "role": event.actor_role, "at": event.at,
        "action": event.action, "frm": event.from_status, "to": event.to_status, "note": event.note,
        "handler": event.handler_id if isinstance(event.handler_id, int) else None, "score": event.satisfaction,
        "detail": json.dumps(extra, ensure_ascii=False) if extra else None, "lon": lon, "lat": lat}).scalar_one()


def _locked(session: Session, incident_id: int, *, lock: bool = False) -> Any:
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS}, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat "
                               f"FROM incident i WHERE i.id = :id{' FOR UPDATE' if lock else ''}"),
                          {"id": incident_id}).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return row


def _refresh_due(session: Session, incident_id: int, *, settings: Settings, now: dt.datetime) -> dict[str, Any]:
    """Recompute the due time of the case's current stage from its log; store and return its SLA status."""
    row = _locked(session, incident_id)
    sla = _sla(_events(session, incident_id), row, deadline_rules(settings), now)
    due = dt.datetime.fromisoformat(sla["due_at"]) if sla["due_at"] else None
    session.execute(text("UPDATE incident SET due_at = :due WHERE id = :id"), {"due": due, "id": incident_id})
    return sla


# --- actions ------------------------------------------------------------------------------------


def _acting_scope(scope: CaseScope, incident_id: int) -> tuple[str, dict[str, Any]]:
    if not scope.personal:
        raise PermissionDenied(f"{scope.principal.role} may not act on cases; grid staff, community, street, "
                               "department staff, supervisors and admins do")
    sql, params = _incident_scope(scope)
    return sql, {**params, "id": incident_id}


def _case_in_scope(session: Session, principal: Principal | CaseScope, incident_id: int, *, lock: bool) -> Any:
    scope = case_scope(session, principal)
    sql, params = _acting_scope(scope, incident_id)
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS}, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat "
                               f"FROM incident i WHERE i.id = :id AND {sql}{' FOR UPDATE OF i' if lock else ''}"),
                          params).first()
    if row is None:
        raise _not_found(scope.principal, "incident", incident_id)
    return row


def _check_handler(session: Session, handler_id: int, grid_code: str | None) -> None:
    staff = grid_staff(session, grid_code) if grid_code else []
    if handler_id not in {s["user_id"] for s in staff}:
        names = ", ".join(f"{s['username']} ({s['user_id']})" for s in staff) or "nobody is assigned"
        raise InvalidInput(f"handler_id {handler_id} is not staff of grid {grid_code}; its staff: {names}",
                           details={"grid_staff": [s["user_id"] for s in staff]})


def _summons_of(session: Session, ids: list[int], now: dt.datetime) -> dict[int, list[dict[str, Any]]]:
    """Each case's summons: department, who summoned when, the report-in limit, the report-in, missed or not."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    for r in session.execute(text("""
            SELECT s.id, s.incident_id, s.department_id, d.name AS department, d.kind AS department_kind,
                   s.summoned_by, s.summoned_at, s.report_in_hours, s.report_in_due_at, s.reported_in_at,
                   s.reported_in_by
            FROM case_summons s JOIN department d ON d.id = s.department_id
            WHERE s.incident_id = ANY(:ids) ORDER BY s.summoned_at, s.id"""), {"ids": ids}).all():
        found[r.incident_id].append(_summons_record(r, now))
    return found


def _summons_record(r: Any, now: dt.datetime) -> dict[str, Any]:
    # Missed: no report-in by the limit (a late report-in stays missed, with its time shown).
    missed = (r.reported_in_at is None and r.report_in_due_at < now) or \
        (r.reported_in_at is not None and r.reported_in_at > r.report_in_due_at)
    return {"id": r.id, "incident_id": r.incident_id, "department_id": r.department_id,
            "department": r.department, "department_kind": r.department_kind, "summoned_by": r.summoned_by,
            "summoned_at": _iso(r.summoned_at), "report_in_hours": r.report_in_hours,
            "report_in_due_at": _iso(r.report_in_due_at), "reported_in_at": _iso(r.reported_in_at),
            "reported_in_by": r.reported_in_by, "missed": missed,
            "status": "reported_in" if r.reported_in_at is not None else ("missed" if missed else "waiting")}


def _case_view(session: Session, row: Any, events: list[dict[str, Any]], sla: dict[str, Any]) -> CaseView:
    state = replay(events) if events else CaseState(status=row.status, handler_id=row.handler_id)
    summoned = frozenset(session.execute(text(
        "SELECT department_id FROM case_summons WHERE incident_id = :i AND reported_in_at IS NULL"),
        {"i": row.id}).scalars())
    return CaseView(status=row.status, level=row.level, handler_id=state.handler_id, handled_by=state.handled_by,
                    department_id=row.department_id, summoned=summoned, sla_status=sla["status"])


def _department_in(session: Session, department_id: int, district_code: str) -> Any:
    row = session.execute(text("SELECT id, name, kind, street_code, district_code, is_active FROM department "
                               "WHERE id = :id"), {"id": department_id}).first()
    if row is None or row.district_code != district_code or not row.is_active:
        raise InvalidInput(f"department {department_id} is not an active department of district {district_code}; "
                           "see GET /departments", details={"field": "departments", "department_id": department_id})
    return row


def act_on_incident(session: Session, reader: Reader, incident_id: int, *, action: str,
                    expected_version: int | None, settings: Settings, note: str | None = None,
                    position: tuple[float, float] | None = None, satisfaction: int | None = None,
                    handler_id: int | None = None, department_id: int | None = None,
                    departments: list[int] | None = None, report_in_hours: float | None = None,
                    at: dt.datetime | None = None) -> dict[str, Any]:
    """Apply a workflow action to a case in the actor's scope and append it to the log.

    The workflow table (gis.cases.workflow) decides role and state, gis.cases.routing the level,
    department, summons and urging rules; actors act only on cases in their scope (NotFound
    otherwise, so existence is not confirmed); a stale ``expected_version`` is a Conflict naming
    the current one. Returns the case, the event, the due time of its stage and the codes of what
    the actor may do next.

    ``hand_over`` takes ``department_id`` when it goes to the department level (default: the
    department the category table picks); ``summon`` takes ``departments`` and
    ``report_in_hours`` (counted on the case's clock: working hours for a normal case).
    """
    principal = reader.principal
    at = _now(at)
    if expected_version is None:
        raise InvalidInput("send the version you read, as If-Match or in the body, so no action is taken twice")
    scope = case_scope(session, principal)
    row = _case_in_scope(session, scope, incident_id, lock=True)
    if row.version != expected_version:
        raise Conflict(f"incident {incident_id} was changed by someone else (current version {row.version}, yours "
                       f"{expected_version}); reload and try again", details={"current_version": row.version})
    if handler_id is not None and action == "dispatch":
        _check_handler(session, handler_id, row.grid_code)
    events = _events(session, incident_id)
    rules = deadline_rules(settings)
    table = case_table(settings)
    state = replay(events) if events else CaseState(status=row.status, handler_id=row.handler_id)
    transition = apply_action(state, action, actor=principal.user_id, actor_role=principal.role, at=at, note=note,
                              actor_position=position, case_position=(row.lon, row.lat), handler_id=handler_id,
                              satisfaction=satisfaction, verify_max_distance_m=settings.case_verify_max_distance_m,
                              table=table)
    sla_before = _sla(events, row, rules, at)
    check_case_rules(action, _case_view(session, row, events, sla_before), scope.actor)

    level, department = row.level, row.department_id
    detail: dict[str, Any] = {}
    after: list[Any] = []  # rows to write once the event id is known
    if action == "hand_over":
        level = next_level(row.level)
        detail = {"from_level": row.level, "to_level": level}
        if level == "department":
            if department_id is not None:
                chosen = _department_in(session, department_id, row.district_code)
                if chosen.street_code not in (None, row.street_code):
                    raise InvalidInput(f"department {chosen.name} serves street {chosen.street_code}, not the case's "
                                       f"street {row.street_code}", details={"field": "department_id"})
                department = chosen.id
            else:
                picked = pick_department(row.category_code, street_code=row.street_code,
                                         departments=department_service.routing_departments(session,
                                                                                            row.district_code),
                                         categories=incident_categories(settings))
                if picked is None:
                    raise InvalidInput(f"no department of district {row.district_code} handles category "
                                       f"{row.category_code or row.category}; register one (POST /departments) or "
                                       "name department_id", details={"field": "department_id",
                                                                      "reason": "no_department"})
                department = int(picked["id"])  # type: ignore[call-overload]
            detail["department_id"] = department
        elif department_id is not None:
            raise InvalidInput(f"department_id: the case goes to the {level} level, not yet to a department",
                               details={"field": "department_id"})
    elif action == "return" and row.level != "grid":
        # Sent back one level: the level that handed it over decides again.
        level = {"community": "grid", "street": "community", "department": "street"}[row.level]
        department = None
        detail = {"from_level": row.level, "to_level": level}
    elif action == "summon":
        wanted = sorted(set(departments or []))
        if not wanted:
            raise InvalidInput("summon: name the departments to summon (departments: [ids])",
                               details={"field": "departments"})
        if report_in_hours is None or not (0 < report_in_hours <= 24 * 30):
            raise InvalidInput(f"summon: report_in_hours must be more than 0 and at most 720; got {report_in_hours!r}",
                               details={"field": "report_in_hours"})
        open_ones = set(session.execute(text("SELECT department_id FROM case_summons WHERE incident_id = :i "
                                             "AND reported_in_at IS NULL"), {"i": incident_id}).scalars())
        for d in wanted:
            dept = _department_in(session, d, row.district_code)
            if d in open_ones:
                raise Conflict(f"summon: {dept.name} is already summoned on this case and has not reported in",
                               details={"field": "departments", "department_id": d})
        clock = rules.clocks[row.urgency]
        due = due_at(at, dt.timedelta(hours=report_in_hours), calendar=rules.calendar_for(clock)).at
        detail = {"departments": wanted, "report_in_hours": report_in_hours, "report_in_due_at": _iso(due)}
        after = [("summons", d, due) for d in wanted]
    elif action == "report_in" and row.status != "escalated":
        own = scope.department_id if principal.role == "department_staff" else \
            (departments[0] if departments and len(departments) == 1 else None)
        if own is None:
            raise InvalidInput("report_in: an admin names the one department reporting in (departments: [id])",
                               details={"field": "departments"})
        summons = session.execute(text("""
            SELECT id, report_in_due_at FROM case_summons WHERE incident_id = :i AND department_id = :d
              AND reported_in_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE"""), {"i": incident_id, "d": own}).first()
        if summons is None:
            raise Conflict(f"report_in: department {own} has no open summons on this case",
                           details={"reason": "not_summoned", "department_id": own})
        detail = {"department_id": own, "summons_id": summons.id,
                  "on_time": at <= summons.report_in_due_at}
        after = [("report_in", summons.id, None)]
    elif action in {"urge", "supervise"}:
        detail = {"stage": sla_before["stage"], "overdue": sla_before["status"] == "overdue",
                  "due_at": sla_before["due_at"]}
        after = [("urging", action, sla_before)]

    event_id = _append_event(session, incident_id, row.district_code, transition.event, actor_id=principal.user_id,
                             detail=detail or None)
    for kind, value, extra in after:
        if kind == "summons":
            session.execute(text("""
                INSERT INTO case_summons (incident_id, district_code, department_id, summoned_by, summoned_at,
                                          report_in_hours, report_in_due_at, note)
                VALUES (:i, :d, :dept, :by, :at, :hours, :due, :note)"""),
                {"i": incident_id, "d": row.district_code, "dept": value, "by": principal.user_id or None, "at": at,
                 "hours": report_in_hours, "due": extra, "note": note})
        elif kind == "report_in":
            session.execute(text("UPDATE case_summons SET reported_in_at = :at, reported_in_by = :by WHERE id = :id"),
                            {"at": at, "by": principal.user_id or None, "id": value})
        else:
            _record_urging(session, row, kind=value, sla=extra, actor_id=principal.user_id or None,
                           actor_role=principal.role, at=at, note=note, handler_id=state.handler_id)
    new = transition.state
    # Finished cases keep when they finished; an evaluation keeps the closing time, a reopen clears it.
    session.execute(text("""
        UPDATE incident SET status = :status, handler_id = :handler, version = version + 1, level = :level,
               department_id = :department,
               closed_at = CASE WHEN CAST(:keep AS boolean) THEN closed_at ELSE CAST(:closed AS timestamptz) END,
               satisfaction = COALESCE(CAST(:score AS smallint), satisfaction)
        WHERE id = :id"""), {
        "status": new.status, "handler": new.handler_id if isinstance(new.handler_id, int) else None,
        "keep": new.status == "evaluated" or action in STAYING_ACTIONS,
        "closed": at if new.status in {"closed", "rejected"} else None, "level": level, "department": department,
        "score": transition.event.satisfaction, "id": incident_id})
    sla = _refresh_due(session, incident_id, settings=settings, now=at)
    privacy.record_change(session, principal, entity="incident", entity_id=incident_id, action=action,
                          reason=reader.reason, district_code=row.district_code, request_id=reader.request_id,
                          detail={"from": transition.event.from_status, "to": new.status, "event_id": event_id})
    fresh = _locked(session, incident_id)
    record = _incident_record(fresh, scope, at)
    record.pop("reporter_contact", None)  # an action answer shows no contact, so it needs no read audit
    next_actions = case_actions(_case_view(session, fresh, _events(session, incident_id), sla), scope.actor,
                                table=table)
    return {"incident": record, "event": {**transition.event.to_dict(), "id": event_id, "detail": detail or None},
            "sla": sla, "allowed_actions": next_actions}


def _record_urging(session: Session, row: Any, *, kind: str, sla: dict[str, Any], actor_id: int | None,
                   actor_role: str, at: dt.datetime, note: str | None, handler_id: Any) -> None:
    """One row per 催办/督办, naming the grid, level, department and person it was aimed at."""
    session.execute(text("""
        INSERT INTO incident_urging (incident_id, district_code, kind, actor_id, actor_role, at, grid_code, level,
                                     department_id, target_user_id, stage, due_at, overdue, note)
        VALUES (:i, :d, :kind, :actor, :role, :at, :grid, :level, :dept, :target, :stage, :due, :overdue, :note)"""),
        {"i": row.id, "d": row.district_code, "kind": kind, "actor": actor_id, "role": actor_role, "at": at,
         "grid": row.grid_code, "level": row.level, "dept": row.department_id,
         "target": handler_id if isinstance(handler_id, int) else None, "stage": sla["stage"],
         "due": dt.datetime.fromisoformat(sla["due_at"]) if sla["due_at"] else None,
         "overdue": sla["status"] == "overdue", "note": note})


# --- photos -------------------------------------------------------------------------------------


def photo_kind(content: bytes) -> str | None:
    """``jpg``, ``png`` or ``webp`` from the file's first bytes; None for anything else."""
    if content[:3] == b"\xff\xd8\xff":
        return "jpg"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    return None


_PIL_FORMATS = {"jpg": "JPEG", "png": "PNG", "webp": "WEBP"}


def clean_photo(content: bytes, *, max_pixels: int) -> tuple[bytes, str]:
    """The photo decoded and re-encoded in its own format without any metadata (EXIF GPS, comments); and its kind.

    The pixel count is read from the header and checked before anything is decoded, so a small
    file that would decompress to gigabytes (a "bomb") is refused without being expanded. The
    EXIF orientation is applied to the pixels first, as viewers would have shown it.
    """
    kind = photo_kind(content)
    if kind is None:
        raise InvalidInput("photo: the file is not a JPEG, PNG or WebP image (checked by its content, not its name)")
    try:
        with Image.open(io.BytesIO(content), formats=[_PIL_FORMATS[kind]]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise InvalidInput(f"photo: {width}×{height} is {width * height:,} pixels, more than the "
                                   f"{max_pixels:,} allowed (WANGGE_INCIDENT_PHOTO_MAX_PIXELS)",
                                   details={"width": width, "height": height, "max_pixels": max_pixels})
            image.load()
            frame = ImageOps.exif_transpose(image)  # a copy: the first frame only
    except Image.DecompressionBombError:  # Pillow's own ceiling, met while reading the header
        raise InvalidInput(f"photo: the image holds far more pixels than the {max_pixels:,} allowed "
                           "(WANGGE_INCIDENT_PHOTO_MAX_PIXELS)", details={"max_pixels": max_pixels}) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"photo: the {kind.upper()} data cannot be decoded ({type(exc).__name__}); "
                           "send the photo as the camera wrote it") from None
    # Encoders write some of ``info`` back (a JPEG comment, for one): keep only what a pixel needs.
    frame.info = {k: v for k, v in frame.info.items() if k == "transparency"}
    out = io.BytesIO()
    if kind == "jpg":
        if frame.mode not in ("RGB", "L"):
            frame = frame.convert("RGB")
        frame.save(out, format="JPEG", quality=90, optimize=True)
    elif kind == "png":
        frame.save(out, format="PNG", optimize=True)
    else:
        frame.save(out, format="WEBP", quality=90)
    return out.getvalue(), kind


def _photos_of(session: Session, incident_id: int) -> list[dict[str, Any]]:
    rows = session.execute(text("""
        SELECT id, content_type, size_bytes, sha256, uploaded_at, kind FROM incident_photo WHERE incident_id = :i
        ORDER BY id"""), {"i": incident_id}).all()
    return [{"id": r.id, "kind": r.kind, "content_type": r.content_type, "size_bytes": r.size_bytes, "sha256": r.sha256,
             "uploaded_at": _iso(r.uploaded_at), "href": f"/incidents/{incident_id}/photos/{r.id}"} for r in rows]


def add_photo(session: Session, reader: Reader, incident_id: int, *, content: bytes,
              settings: Settings, kind: str | None = None) -> dict[str, Any]:
    """Attach a JPEG/PNG/WebP photo (checked by content, size and pixels) to a case in the uploader's scope.

    Decoded and re-encoded without metadata (:func:`clean_photo`), stored as
    ``<state>/uploads/incidents/<id>/<sha256 of the clean file>.<ext>``; the same photo twice is one.
    ``kind``: ``before`` or ``after`` (the photos of a 随手办), or None.
    """
    if kind not in (None, "before", "after"):
        raise InvalidInput(f"kind {kind!r}: choose before or after, or leave it out", details={"field": "kind"})
    row = _case_in_scope(session, reader.principal, incident_id, lock=False)
    return _store_photo(session, incident_id, row.district_code, content=content, settings=settings, kind=kind,
                        uploaded_by=reader.principal.user_id or None)


def _store_photo(session: Session, incident_id: int, district_code: str, *, content: bytes, settings: Settings,
                 kind: str | None, uploaded_by: int | None) -> dict[str, Any]:
    limit = settings.incident_photo_max_bytes
    if len(content) > limit:
        raise InvalidInput(f"photo: {len(content):,} bytes is more than the {limit:,}-byte limit",
                           details={"size_bytes": len(content), "max_bytes": limit})
    # Only pixels are kept: the stored file is our own encoding, never the uploaded bytes.
    content, ext = clean_photo(content, max_pixels=settings.incident_photo_max_pixels)
    digest = hashlib.sha256(content).hexdigest()
    existing = session.execute(text("SELECT id FROM incident_photo WHERE incident_id = :i AND sha256 = :s"),
                               {"i": incident_id, "s": digest}).scalar()
    folder = settings.state_dir() / "uploads" / "incidents" / str(incident_id)
    path = folder / f"{digest}.{ext}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a photo.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        os.replace(tmp, path)
    if existing is None:
        existing = session.execute(text("""
            INSERT INTO incident_photo (incident_id, district_code, path, content_type, size_bytes, sha256,
                                        uploaded_by, kind)
            VALUES (:i, :d, :p, :t, :n, :s, :by, :kind) RETURNING id"""),
            {"i": incident_id, "d": district_code, "p": str(path.relative_to(settings.state_dir())),
             "t": PHOTO_TYPES[ext], "n": len(content), "s": digest, "by": uploaded_by, "kind": kind}).scalar_one()
        created = True
    else:
        created = False
    photo = next(p for p in _photos_of(session, incident_id) if p["id"] == existing)
    return {**photo, "created": created}


def photo_file(session: Session, reader: Reader, incident_id: int, photo_id: int, *,
               settings: Settings) -> tuple[Path, str]:
    """The stored file and content type of a photo of a case the reader may see."""
    where = _incident_where(case_scope(session, reader.principal), incident_id=incident_id)
    seen = session.execute(text(f"SELECT 1 FROM incident i WHERE {where.sql}"), where.params).first()
    photo = session.execute(text("SELECT path, content_type FROM incident_photo WHERE id = :p AND incident_id = :i"),
                            {"p": photo_id, "i": incident_id}).first() if seen else None
    if photo is None:
        raise _not_found(reader.principal, "photo", f"{photo_id} of incident {incident_id}")
    path = settings.state_dir() / photo.path
    if not path.is_file():
        raise NotFound(f"photo {photo_id} of incident {incident_id}: the file {photo.path} is missing from the "
                       "upload store")
    # Photos of a case may show people and homes: every read is kept.
    privacy.record_read(session, reader.principal, entity="incident_photo", entity_ids=[photo_id],
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip,
                        detail={"incident_id": incident_id})
    return path, photo.content_type


# --- deadlines: overdue lists, automatic urging, summons -----------------------------------------


def _events_by_case(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    by_case: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for e in session.execute(text("""
                SELECT incident_id, action, from_status, to_status, at, actor_id, actor_role, handler_id
                FROM incident_event WHERE incident_id = ANY(:ids) ORDER BY at, id"""), {"ids": ids}).mappings():
            by_case[e["incident_id"]].append(dict(e))
    return by_case


def overdue_incidents(session: Session, principal: Principal | None, *, settings: Settings,
                      now: dt.datetime | None = None, grid_code: str | None = None) -> dict[str, Any]:
    """Cases in scope whose running stage is overdue or due soon, most urgent first (no contacts).

    Every case with a running clock counts, whatever its status: urging, supervision or a summons
    never takes a late case off the list. Each item says how often it was urged and supervised.
    ``principal`` None (the command line) sees every district.
    """
    now = _now(now)
    rules = deadline_rules(settings)
    scope, params = _incident_scope(case_scope(session, principal)) if principal is not None else ("TRUE", {})
    rows = session.execute(text(f"""
        SELECT i.id, i.grid_code, i.community_code, i.category_code, i.category, i.subcategory, i.status,
               i.urgency, i.area, i.handler_id, i.reported_at, i.version, i.due_at, i.level, i.department_id,
               (SELECT count(*) FROM incident_urging u WHERE u.incident_id = i.id AND u.kind = 'urge') AS urged,
               (SELECT count(*) FROM incident_urging u WHERE u.incident_id = i.id AND u.kind = 'supervise')
                   AS supervised
        FROM incident i WHERE {scope} AND i.status <> ALL(CAST(:closed AS text[]))
          AND (CAST(:grid AS text) IS NULL OR i.grid_code = :grid)
        ORDER BY i.id"""), {**params, "closed": sorted(CLOSED_STATUSES), "grid": grid_code}).all()
    events = _events_by_case(session, [r.id for r in rows])
    lists: dict[str, list[dict[str, Any]]] = {"overdue": [], "due_soon": []}
    for r in rows:
        sla = _sla(events[r.id], r, rules, now)
        if sla["status"] in lists:
            lists[sla["status"]].append({
                "id": r.id, "grid_code": r.grid_code, "community_code": r.community_code,
                "category_code": r.category_code, "category": r.category, "subcategory": r.subcategory,
                "status": r.status, "urgency": r.urgency, "handler_id": r.handler_id, "level": r.level,
                "department_id": r.department_id, "reported_at": _iso(r.reported_at), "version": r.version,
                "due_at": sla["due_at"], "overdue": sla["status"] == "overdue", "urged": r.urged,
                "supervised": r.supervised, "sla": sla})
    for items in lists.values():
        items.sort(key=lambda c: c["sla"]["remaining_seconds"] if c["sla"]["remaining_seconds"] is not None else 0)
    return {"now": now.isoformat(), **lists}


def urge_overdue(session: Session, *, settings: Settings, now: dt.datetime | None = None,
                 district_code: str | None = None) -> list[dict[str, Any]]:
    """Urge (催办, as role ``system``) every case whose running stage is over its limit, once per late stage run.

    Status, handler and due time stay as they are: the case stays late and on the overdue list
    until someone acts. Cases another transaction holds are skipped this round (SKIP LOCKED), so
    two schedulers never urge one case twice; the next run sees the urging and leaves it.
    """
    now = _now(now)
    rules = deadline_rules(settings)
    table = case_table(settings)
    rows = session.execute(text("""
        SELECT i.id, i.district_code, i.category, i.category_code, i.urgency, i.area, i.grid_code, i.level,
               i.department_id, i.status FROM incident i
        WHERE i.status <> ALL(CAST(:closed AS text[])) AND (CAST(:d AS text) IS NULL OR i.district_code = :d)
        ORDER BY i.id FOR UPDATE SKIP LOCKED"""), {"closed": sorted(CLOSED_STATUSES), "d": district_code}).all()
    events = _events_by_case(session, [r.id for r in rows])
    clocks = [CaseClock(case_id=r.id, events=events[r.id], category=r.category_code or r.category, urgency=r.urgency,
                        area=r.area) for r in rows]
    by_id = {r.id: r for r in rows}
    done = []
    for breach in urgings_due(clocks, now=now, rules=rules):
        row = by_id[breach.case_id]
        hours = breach.overdue_by / dt.timedelta(hours=1)
        state = replay(events[breach.case_id])
        transition = apply_action(state, "urge", actor=None, actor_role="system", at=now, table=table,
                                  note=f"自动催办: {breach.stage} stage overdue by {hours:.2f} counted hours")
        sla = {"stage": breach.stage, "status": "overdue", "due_at": _iso(breach.due_at)}
        event_id = _append_event(session, breach.case_id, row.district_code, transition.event, actor_id=None,
                                 detail={"automatic": True, "stage": breach.stage, "due_at": _iso(breach.due_at),
                                         "overdue": True, "overdue_hours": round(hours, 3)})
        _record_urging(session, row, kind="urge", sla=sla, actor_id=None, actor_role="system", at=now,
                       note=transition.event.note, handler_id=state.handler_id)
        done.append({"id": breach.case_id, "status": breach.status, "stage": breach.stage,
                     "due_at": _iso(breach.due_at), "overdue_hours": round(hours, 3), "event_id": event_id})
    return done


def list_summons(session: Session, principal: Principal, *, missed: bool | None = None,
                 department_id: int | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """Summons (吹哨) on the cases in scope, newest first, with the count of missed report-ins (报到).

    ``missed`` True: only those not reported in by their limit (a late report-in counts as
    missed); False: only the others. A department's staff see their own department's.
    """
    now = _now(now)
    scope = case_scope(session, principal)
    sql, params = _incident_scope(scope)
    if principal.role == "department_staff":
        department_id = scope.department_id
    rows = session.execute(text(f"""
        SELECT s.id, s.incident_id, s.department_id, d.name AS department, d.kind AS department_kind,
               s.summoned_by, s.summoned_at, s.report_in_hours, s.report_in_due_at, s.reported_in_at, s.reported_in_by,
               i.grid_code, i.status AS incident_status
        FROM case_summons s JOIN department d ON d.id = s.department_id JOIN incident i ON i.id = s.incident_id
        WHERE {sql} AND (CAST(:dept AS integer) IS NULL OR s.department_id = :dept)
        ORDER BY s.summoned_at DESC, s.id DESC"""), {**params, "dept": department_id}).all()
    items = []
    for r in rows:
        record = {**_summons_record(r, now), "grid_code": r.grid_code, "incident_status": r.incident_status}
        if missed is None or record["missed"] == missed:
            items.append(record)
    counts: dict[int, dict[str, Any]] = {}
    for r in rows:
        rec = _summons_record(r, now)
        c = counts.setdefault(r.department_id, {"department_id": r.department_id, "department": r.department,
                                                "summoned": 0, "reported_in": 0, "reported_in_on_time": 0,
                                                "missed": 0, "waiting": 0})
        c["summoned"] += 1
        c["reported_in"] += rec["reported_in_at"] is not None
        c["reported_in_on_time"] += rec["reported_in_at"] is not None and not rec["missed"]
        c["missed"] += rec["missed"]
        c["waiting"] += rec["status"] == "waiting"
    return {"now": now.isoformat(), "items": items, "total": len(items),
            "missed": sum(c["missed"] for c in counts.values()),
            "by_department": sorted(counts.values(), key=lambda c: c["department_id"])}


# --- figures ------------------------------------------------------------------------------------


def case_statistics(session: Session, *, period: str, level: str = "grid", settings: Settings,
                    district_code: str | None = None, as_of: dt.datetime | None = None) -> dict[str, Any]:
    """Rates per grid, community or street (and in total), and the figures per grid, person and department.

    - ``levels``: response, resolution, on-time closure and satisfaction rates (gis.cases.stats) of
      the cases reported in the period; 随手办 cases are left out and counted apart (``quick_fix``).
    - ``by_grid``: per grid, cases reported, 随手办 reported and how they were checked, urgings
      (催办) and supervisions (督办) in the period, and cases late now (open, due time passed).
    - ``by_person``: urgings and supervisions in the period per person they were aimed at.
    - ``by_department``: per department, cases offered (hand-overs in the period), claimed and the
      mean response time, closed and the mean closure time (working hours from the offer), summons,
      report-ins on time and missed, urgings and supervisions (gis.cases.stats.department_stats).
    """
    if level not in LEVELS:
        raise InvalidInput(f"level {level!r}: choose one of {', '.join(LEVELS)}")
    rules = deadline_rules(settings)
    start, end = period_bounds(period, timezone=settings.case_timezone)
    judged = min(as_of or end, end)
    params = {"start": start, "end": end, "d": district_code, "as_of": judged}
    cases = pd.DataFrame([dict(r) for r in session.execute(text("""
        SELECT i.id, i.grid_code, i.community_code, i.street_code, i.reported_at, i.urgency,
               COALESCE(i.category_code, i.category) AS category, i.area, i.satisfaction
        FROM incident i WHERE i.reported_at >= :start AND i.reported_at < :end AND NOT i.quick_fix
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d)"""), params).mappings()],
        columns=["id", "grid_code", "community_code", "street_code", "reported_at", "urgency", "category", "area",
                 "satisfaction"])
    ids = [int(i) for i in cases["id"]]
    events = pd.DataFrame([dict(r) for r in session.execute(text("""
        SELECT incident_id, action, to_status, at, satisfaction FROM incident_event WHERE incident_id = ANY(:ids)
        ORDER BY at, id"""), {"ids": ids}).mappings()], columns=["incident_id", "action", "to_status", "at",
                                                                 "satisfaction"])
    levels = [level] if level == "total" else [level, "total"]
    frame = case_stats(cases, events, start=start, end=end, as_of=as_of, rules=rules, levels=levels)
    answer = {"district_code": district_code, "level": level,
              **stats_to_dict(frame, start=start, end=end, as_of=as_of)}

    quick = session.execute(text("""
        SELECT i.grid_code,
               count(*) AS reported,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'close' AND e.actor_role = 'system' AND e.at <= :as_of))
                   AS closed_automatically,
               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'close' AND e.actor_role = 'system')) AS sampled,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'verify' AND e.at <= :as_of)) AS verified,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'reopen' AND e.at <= :as_of)) AS reopened
        FROM incident i WHERE i.quick_fix AND i.reported_at >= :start AND i.reported_at < :end
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d)
        GROUP BY i.grid_code ORDER BY i.grid_code"""), params).mappings().all()
    quick_total = {k: sum(r[k] for r in quick) for k in ("reported", "closed_automatically", "sampled", "verified",
                                                          "reopened")}
    answer["quick_fix"] = quick_total

    urgings = [dict(r) for r in session.execute(text("""
        SELECT u.kind, u.grid_code, u.target_user_id, au.username AS target, u.department_id, u.level, u.overdue
        FROM incident_urging u LEFT JOIN app_user au ON au.id = u.target_user_id
        WHERE u.at >= :start AND u.at < :end AND u.at <= :as_of
          AND (CAST(:d AS text) IS NULL OR u.district_code = :d)"""), params).mappings()]
    late = {r.grid_code: r.n for r in session.execute(text("""
        SELECT i.grid_code, count(*) AS n FROM incident i
        WHERE i.status <> ALL(CAST(:closed AS text[])) AND i.due_at IS NOT NULL AND i.due_at < :as_of
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d) GROUP BY i.grid_code"""),
        {**params, "closed": sorted(CLOSED_STATUSES)}).all()}
    reports = cases.groupby("grid_code").size().to_dict() if len(cases) else {}
    grids = sorted({*reports, *(r["grid_code"] for r in quick), *(u["grid_code"] for u in urgings), *late} - {None})
    quick_by_grid = {r["grid_code"]: r for r in quick}
    answer["by_grid"] = [{
        "grid_code": g, "reports": int(reports.get(g, 0)),
        "quick_fix": int(quick_by_grid[g]["reported"]) if g in quick_by_grid else 0,
        "quick_fix_closed_automatically": int(quick_by_grid[g]["closed_automatically"]) if g in quick_by_grid else 0,
        "urged": sum(1 for u in urgings if u["grid_code"] == g and u["kind"] == "urge"),
        "supervised": sum(1 for u in urgings if u["grid_code"] == g and u["kind"] == "supervise"),
        "late_now": int(late.get(g, 0))} for g in grids]
    people: dict[int, dict[str, Any]] = {}
    for u in urgings:
        if u["target_user_id"] is None:
            continue
        p = people.setdefault(u["target_user_id"], {"user_id": u["target_user_id"], "username": u["target"],
                                                    "urged": 0, "supervised": 0})
        p["urged" if u["kind"] == "urge" else "supervised"] += 1
    answer["by_person"] = sorted(people.values(), key=lambda p: p["user_id"])

    offers = [dict(r) for r in session.execute(text("""
        SELECT CAST(e.detail->>'department_id' AS integer) AS department_id, e.at AS offered_at,
               (SELECT min(c.at) FROM incident_event c WHERE c.incident_id = e.incident_id AND c.action = 'claim'
                  AND c.at >= e.at AND c.from_status = 'referred'
                  AND NOT EXISTS (SELECT 1 FROM incident_event h WHERE h.incident_id = e.incident_id
                                  AND h.action IN ('hand_over', 'return') AND h.at > e.at AND h.at <= c.at
                                  AND h.id <> e.id)) AS claimed_at,
               (SELECT min(c.at) FROM incident_event c WHERE c.incident_id = e.incident_id AND c.action = 'close'
                  AND c.at >= e.at) AS closed_at
        FROM incident_event e WHERE e.action = 'hand_over' AND e.detail ? 'department_id'
          AND e.at >= :start AND e.at < :end AND (CAST(:d AS text) IS NULL OR e.district_code = :d)"""),
        params).mappings()]
    summons = [dict(r) for r in session.execute(text("""
        SELECT department_id, report_in_due_at, reported_in_at FROM case_summons
        WHERE summoned_at >= :start AND summoned_at < :end AND (CAST(:d AS text) IS NULL OR district_code = :d)"""),
        params).mappings()]
    figures = department_stats(offers, summons, urgings, as_of=judged, rules=rules)
    names = {r.id: (r.name, r.kind) for r in session.execute(text(
        "SELECT id, name, kind FROM department WHERE (CAST(:d AS text) IS NULL OR district_code = :d)"), params)}
    answer["by_department"] = [{**f, "department": names.get(f["department_id"], (None, None))[0],
                                "kind": names.get(f["department_id"], (None, None))[1]} for f in figures]
    return answer


# --- the public view (Open311 GeoReport v2) -----------------------------------------------------

# status open/closed: a case is closed once nothing is left to do (rejected, closed, evaluated).


def open311_services(settings: Settings) -> list[dict[str, Any]]:
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


def _public(row: Any, settings: Settings) -> dict[str, Any]:
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
                     now: dt.datetime | None = None) -> list[dict[str, Any]]:
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
            raise InvalidInput(f"status {status!r}: choose open or closed")
        where.append("i.status " + ("= ANY" if status == "closed" else "<> ALL") + "(CAST(:closed AS text[]))")
    rows = session.execute(text(f"SELECT {_PUBLIC_COLUMNS} {_PUBLIC_FROM} WHERE {' AND '.join(where)} "
                                "ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit"), params).all()
    return [_public(r, settings) for r in rows]


def open311_request(session: Session, request_id: int, *, settings: Settings) -> dict[str, Any]:
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
        raise PermissionDenied("api_key: not a key of a registered citizen app on this server")
    if settings.open311_open_filing:
        return False
    raise PermissionDenied("api_key is required: this server takes Open311 filings from registered citizen apps "
                           "only (WANGGE_OPEN311_API_KEYS), unless WANGGE_OPEN311_OPEN_FILING=true opens it")


def open311_create(session: Session, *, settings: Settings, service_code: str | None, lat: float | None,
                   lon: float | None, address: str | None = None, address_id: int | None = None,
                   description: str | None = None, contact: str | None = None, api_key: str | None = None,
                   at: dt.datetime | None = None) -> dict[str, Any]:
    """File a citizen's request (role ``citizen``): the api_key rule of Settings, then :func:`report_incident`."""
    check_open311_key(settings, api_key)
    if not service_code:
        raise InvalidInput("service_code is required (see services.json)")
    point = None
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            raise InvalidInput("send both lat and long")
        point = (lon, lat)
    if point is None and address_id is None and not address:
        raise InvalidInput("a location is required: lat and long, address_string or address_id")
    report = report_incident(session, None, settings=settings, point=point, building_id=address_id,
                             address=address if point is None and address_id is None else None,
                             category_code=service_code, description=description, source="open311",
                             reporter_contact=contact, at=at)
    notice = None
    if report["duplicates"]:
        notice = (f"a similar open request lies {report['duplicates'][0]['distance_m']:.0f} m away "
                  f"(#{report['duplicates'][0]['case_id']}); staff will check whether yours repeats it")
    return {"service_request_id": str(report["incident"]["id"]), "service_notice": notice, "account_id": None}
