"""Reading incidents: one page (as records or GeoJSON points) and one case with its log, summons and photos."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.routing import (
    case_actions,
)
from gis.services.cases.log import _case_view, _sla, _summons_of
from gis.services.cases.photos import Photo, _photos_of
from gis.services.cases.rules import case_table, deadline_rules
from gis.services.cases.scope import (
    _INCIDENT_COLUMNS,
    IncidentRecord,
    _audit_contacts,
    _incident_record,
    _incident_where,
    _iso,
    _not_found,
    _now,
    case_scope,
)
from gis.services.residents import Reader, check_paging
from gis.settings import Settings


class IncidentPage(TypedDict):
    """One page of incident records and the total in the reader's scope."""

    items: list[IncidentRecord]
    total: int
    limit: int
    offset: int


class IncidentDetail(IncidentRecord):
    """One incident with its log, photos, summons, deadline status and the actions the reader may take now."""

    events: list[dict[str, Any]]
    photos: list[Photo]
    summons: list[dict[str, Any]]
    sla: dict[str, Any]
    allowed_actions: list[str]


class IncidentCollection(TypedDict):
    """The same page as GeoJSON points."""

    type: str
    features: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def _select_incidents(session: Session, reader: Reader, *, limit: int, offset: int, **filters: Any
                      ) -> tuple[list[IncidentRecord], int, dict[str, Any]]:
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
                   department_id: int | None = None) -> IncidentPage:
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
                      offset: int = 0, level: str | None = None, department_id: int | None = None
                      ) -> IncidentCollection:
    """The same page as :func:`list_incidents` as a FeatureCollection of points."""
    items, total, given = _select_incidents(session, reader, limit=limit, offset=offset, grid_code=grid_code,
                                            status=status, category=category, source=source, since=since,
                                            until=until, level=level, department_id=department_id)
    _audit_contacts(session, reader, items, action="list", detail={"filters": given, "format": "geojson"})
    features = [{"type": "Feature", "id": r["id"], "geometry": r["geometry"],
                 "properties": {k: v for k, v in r.items() if k != "geometry"}} for r in items]
    return {"type": "FeatureCollection", "features": features, "total": total, "limit": limit, "offset": offset}


def get_incident(session: Session, reader: Reader, incident_id: int, *, settings: Settings | None = None,
                 now: dt.datetime | None = None) -> IncidentDetail:
    """One incident the reader may see, with its events, summons, photos and the actions the reader may take now."""
    settings = settings or Settings()
    now = _now(now)
    scope = case_scope(session, reader.principal)
    where = _incident_where(scope, incident_id=incident_id)
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS} FROM incident i WHERE {where.sql}"),
                          where.params).first()
    if row is None:
        raise _not_found(reader.principal, "incident", incident_id)
    events = [dict(e) for e in session.execute(text("""
        SELECT e.id, e.at, e.action, e.from_status, e.to_status, e.note, e.actor_id, e.actor_role, e.handler_id,
               e.satisfaction, e.detail, CASE WHEN e.geom IS NULL THEN NULL ELSE ARRAY[ST_X(e.geom), ST_Y(e.geom)] END
               AS position
        FROM incident_event e WHERE e.incident_id = :i ORDER BY e.at, e.id"""), {"i": incident_id}).mappings()]
    # The actor's GPS at an action is a movement (行踪): only for those who may read personal data.
    shown = scope.personal
    sla = _sla(events, row, deadline_rules(settings), now)
    record: IncidentDetail = {
        **_incident_record(row, scope, now),
        "events": [{**{k: v for k, v in e.items() if k != "detail"}, "at": _iso(e["at"]),
                    "position": e["position"] if shown else None, "note": e["note"] if shown else None,
                    "detail": _public_detail(e["detail"])} for e in events],
        "photos": _photos_of(session, incident_id),
        "summons": _summons_of(session, [incident_id], now)[incident_id],
        "sla": sla,
        "allowed_actions": case_actions(_case_view(session, row, events, sla), scope.actor,
                                        table=case_table(settings)) if shown or reader.principal.role == "admin"
        else [],
    }
    _audit_contacts(session, reader, [record], action="read")
    return record


_PUBLIC_DETAIL = ("to_level", "from_level", "department_id", "departments", "report_in_hours", "check", "sampled",
                  "automatic", "stage", "overdue")


def _public_detail(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an event's detail shows: the codes of the routing beyond the grid, never duplicates' or GPS data."""
    if not detail:
        return None
    kept: dict[str, Any] = {k: detail[k] for k in _PUBLIC_DETAIL if k in detail}
    return kept or None
