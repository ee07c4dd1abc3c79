"""Patrol tracks as located records: paged lists and one track, within the retention period, always audited.

Patrol tracks are movements (行踪轨迹, sensitive under PIPL): a worker sees their own, a leader
also their grids', an admin all; tracks older than the retention period are never returned, and
every read is audited.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.services import privacy
from gis.services.cases.scope import _iso, _not_found
from gis.services.residents import Reader, Where, check_grid_code, check_paging
from gis.services.users import Principal


class PatrolPage(TypedDict):
    """One page of patrols (no tracks) within the retention period."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    retention_days: int


class PatrolFeature(TypedDict):
    """One patrol's track as a GeoJSON Feature."""

    type: str
    id: int
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


def _cutoff(retention_days: int, now: dt.datetime | None) -> dt.datetime:
    if retention_days < 1:
        raise InvalidInput(f"patrol_retention_days: 1 or more, got {retention_days}",
                           details={"field": "patrol_retention_days"})
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
                 limit: int = 100, offset: int = 0, now: dt.datetime | None = None) -> PatrolPage:
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
               now: dt.datetime | None = None) -> PatrolFeature:
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
