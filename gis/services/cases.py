"""Incidents (事件) and patrols as located records: the read side, grid-scoped in the query.

Incidents: grid staff see their grids' incidents, admins all of their district, planners and
viewers the incidents of their district without the reporter's contact. A contact leaves
masked, and a read that shows one is audited. Patrol tracks are movements (行踪轨迹, sensitive
under PIPL): a worker sees their own, a leader also their grids', an admin all; tracks older
than the retention period are never returned, and every read is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services import privacy
from gis.services.residents import Reader, Where, check_grid_code, check_paging
from gis.services.users import Principal

__all__ = ["Reader", "get_incident", "get_patrol", "incidents_geojson", "list_incidents", "list_patrols"]

_INCIDENT_COLUMNS = """
    i.id, i.district_code, i.street_code, i.community_code, i.grid_code, i.category_class, i.category,
    i.subcategory, i.description, i.source, i.urgency, i.status, i.address, i.building_id, i.reported_by,
    i.reporter_contact, i.reported_at, i.due_at, i.closed_at, i.satisfaction, i.duplicate_of, i.version,
    ST_AsGeoJSON(i.geom, 7) AS point
"""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _incident_scope(principal: Principal) -> tuple[str, dict[str, Any]]:
    """Grid staff: their grids; admins: their district; planners and viewers: their district (no contacts)."""
    if principal.may_read_personal_data:
        return privacy.scope_filter(principal, grid_column="i.grid_code", district_column="i.district_code")
    if principal.district_code:
        return "i.district_code = :scope_district", {"scope_district": principal.district_code}
    return "TRUE", {}


def _incident_where(principal: Principal, *, incident_id: int | None = None, grid_code: str | None = None,
                    status: str | None = None, category: str | None = None, source: str | None = None,
                    since: dt.datetime | None = None, until: dt.datetime | None = None) -> Where:
    where = Where.scoped(_incident_scope(principal))
    where.equal("i.id", "incident_id", incident_id, audit=False)
    where.equal("i.grid_code", "grid_code", None if grid_code is None else check_grid_code(grid_code))
    for column, value in (("status", status), ("category", category), ("source", source)):
        where.equal(f"i.{column}", column, value)
    where.period("i.reported_at", since, until)
    return where


def _incident_record(row: Any, principal: Principal) -> dict[str, Any]:
    record = {
        "id": row.id, "district_code": row.district_code, "street_code": row.street_code,
        "community_code": row.community_code, "grid_code": row.grid_code, "category_class": row.category_class,
        "category": row.category, "subcategory": row.subcategory, "description": row.description,
        "source": row.source, "urgency": row.urgency, "status": row.status, "address": row.address,
        "building_id": row.building_id, "reported_by": row.reported_by, "reported_at": _iso(row.reported_at),
        "due_at": _iso(row.due_at), "closed_at": _iso(row.closed_at), "satisfaction": row.satisfaction,
        "duplicate_of": row.duplicate_of, "version": row.version, "geometry": json.loads(row.point),
    }
    # Planners and viewers never get the key at all; within scope the contact is masked.
    if principal.may_read_personal_data:
        record["reporter_contact"] = privacy.mask_phone(row.reporter_contact)
    return record


def _audit_contacts(session: Session, reader: Reader, records: list[dict[str, Any]], *, action: str,
                    detail: dict[str, Any] | None = None) -> None:
    """One audit row naming the incidents whose reporter's contact was shown (none shown: no row)."""
    ids = [r["id"] for r in records if r.get("reporter_contact")]
    privacy.record_read(session, reader.principal, entity="incident", entity_ids=ids, action=action,
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip,
                        detail={"field": "reporter_contact", **(detail or {})})


def _select_incidents(session: Session, reader: Reader, *, limit: int, offset: int, **filters: Any
                      ) -> tuple[list[dict[str, Any]], int, dict[str, Any]]:
    check_paging(limit, offset)
    where = _incident_where(reader.principal, **filters)
    total = session.execute(text(f"SELECT count(*) FROM incident i WHERE {where.sql}"), where.params).scalar_one()
    rows = session.execute(text(f"SELECT {_INCIDENT_COLUMNS} FROM incident i WHERE {where.sql} "
                                "ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit OFFSET :offset"),
                           {**where.params, "limit": limit, "offset": offset}).all()
    return [_incident_record(r, reader.principal) for r in rows], total, where.given


def list_incidents(session: Session, reader: Reader, *, grid_code: str | None = None, status: str | None = None,
                   category: str | None = None, source: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """One page of the incidents the reader may see, newest first, with the total."""
    items, total, given = _select_incidents(session, reader, limit=limit, offset=offset, grid_code=grid_code,
                                            status=status, category=category, source=source, since=since,
                                            until=until)
    _audit_contacts(session, reader, items, action="list", detail={"filters": given})
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def incidents_geojson(session: Session, reader: Reader, *, grid_code: str | None = None,
                      status: str | None = None, category: str | None = None, source: str | None = None,
                      since: dt.datetime | None = None, until: dt.datetime | None = None, limit: int = 100,
                      offset: int = 0) -> dict[str, Any]:
    """The same page as :func:`list_incidents` as a FeatureCollection of points."""
    items, total, given = _select_incidents(session, reader, limit=limit, offset=offset, grid_code=grid_code,
                                            status=status, category=category, source=source, since=since,
                                            until=until)
    _audit_contacts(session, reader, items, action="list", detail={"filters": given, "format": "geojson"})
    features = [{"type": "Feature", "id": r["id"], "geometry": r.pop("geometry"), "properties": r} for r in items]
    return {"type": "FeatureCollection", "features": features, "total": total, "limit": limit, "offset": offset}


def _not_found(principal: Principal, what: str, ident: Any, extra: str = "") -> NotFound:
    # One answer for missing and out of scope alike, so existence is not confirmed.
    if principal.is_grid_scoped:
        return NotFound(f"no {what} {ident} within your grids{extra}")
    return NotFound(f"{what} {ident} does not exist{extra}")


def get_incident(session: Session, reader: Reader, incident_id: int) -> dict[str, Any]:
    """One incident the reader may see, with its events; NotFound otherwise."""
    where = _incident_where(reader.principal, incident_id=incident_id)
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS} FROM incident i WHERE {where.sql}"),
                          where.params).first()
    if row is None:
        raise _not_found(reader.principal, "incident", incident_id)
    record = _incident_record(row, reader.principal)
    events = session.execute(text("""
        SELECT e.id, e.at, e.action, e.from_status, e.to_status, e.note, e.actor_id
        FROM incident_event e WHERE e.incident_id = :i ORDER BY e.at, e.id"""), {"i": incident_id}).mappings()
    record["events"] = [{**e, "at": _iso(e["at"])} for e in events]
    _audit_contacts(session, reader, [record], action="read")
    return record


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
