"""Patrol uploads: one GPX or GeoJSON track read, cleaned and stored for a worker and a grid.

Uploads go through ``gis.patrols.read_track`` (the cleaning and its report) and are stored in
one savepoint: the patrol row with its line, length and times (UTC), and its points by COPY,
so a bad track leaves the database as it was. A grid worker uploads only their own tracks for
their own grids; a leader also for workers of their grids; an admin for any worker of their
district (the CLI acts as the system admin).
"""

from __future__ import annotations

import datetime as dt
from pathlib import PurePath
from typing import Any, TypedDict

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.frames import copy_rows
from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.patrols import Track, TrackReport, iso_week, read_track
from gis.services import privacy
from gis.services.residents import check_grid_code
from gis.services.users import GRID_SCOPED_ROLES, Principal

DEFAULT_MAX_TRACK_BYTES = 10_000_000


class StoredPatrol(TypedDict):
    """The patrol row an upload wrote (times in UTC, ISO 8601; ``week`` as ``gis.patrols.iso_week`` counts it)."""

    id: int
    district_code: str
    worker_id: int
    worker: str
    grid_code: str
    started_at: str
    ended_at: str
    length_m: float
    point_count: int
    source_name: str | None
    week: str


class PatrolUpload(TypedDict):
    """The stored patrol and the cleaning report (``gis.patrols.TrackReport``, with the share in the grid)."""

    patrol: StoredPatrol
    report: dict[str, Any]
# Below this share of points inside the chosen grid the report asks whether the grid is right.
_IN_GRID_WARNING = 0.5
_SUFFIX_FORMATS = {".gpx": "gpx", ".geojson": "geojson", ".json": "geojson"}


def _user(session: Session, ident: int | str) -> Any:
    """A user row by id or username; None when there is none."""
    column = "id" if isinstance(ident, int) or str(ident).isdigit() else "username"
    value: Any = int(ident) if column == "id" else str(ident).strip()
    return session.execute(text(f"""
        SELECT u.id, u.username, u.role_code, u.district_code, u.is_active FROM app_user u
        WHERE u.{column} = :v"""), {"v": value}).first()


def _grids_of(session: Session, user_id: int, *, at: dt.datetime | None = None) -> list[str]:
    """Grid codes the user holds now (and at ``at``, when given)."""
    rows = session.execute(text("""
        SELECT DISTINCT grid_code FROM grid_assignment WHERE user_id = :u AND (
            (valid_from <= now() AND (valid_to IS NULL OR valid_to > now()))
            OR (CAST(:at AS timestamptz) IS NOT NULL AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)))
        ORDER BY grid_code"""), {"u": user_id, "at": at}).scalars()
    return list(rows)


def _may_upload_for(session: Session, uploader: Principal, row: Any) -> bool:
    """Whether ``uploader`` may upload tracks of user ``row``: their own; a leader's workers; an admin's district."""
    if row.id == uploader.user_id:
        return True
    if uploader.role == "grid_worker":
        return False
    if uploader.role == "grid_leader":
        return bool(set(_grids_of(session, row.id)) & uploader.grid_codes)
    return uploader.district_code is None or row.district_code == uploader.district_code


def _resolve_worker(session: Session, uploader: Principal, worker: int | str | None) -> Any:
    """The worker whose track it is, checked against what the uploader may do.

    Scope comes first and one answer covers "not yours" and "not there": nothing about a user
    (name, role, active flag) is told to someone who may not upload their tracks.
    """
    if worker is None:
        if uploader.role not in GRID_SCOPED_ROLES:
            raise InvalidInput(f"worker_id: {uploader.username} ({uploader.role}) uploads for a grid worker; "
                               "name the worker whose track it is", details={"field": "worker_id"})
        worker = uploader.user_id
    row = _user(session, worker)
    if row is None and not uploader.is_grid_scoped and uploader.district_code is None:
        # A city admin or the command line may upload anyone's tracks: "not there" is all there is.
        raise NotFound(f"worker_id: {worker!r} is no such user (give a user id or username)",
                       details={"field": "worker_id"})
    if row is None or not _may_upload_for(session, uploader, row):
        raise NotFound(f"worker_id: {worker!r}: no worker of that id or name whose tracks {uploader.username} "
                       "may upload (grid workers upload their own, leaders their grids' workers, admins their "
                       "district's)", details={"field": "worker_id"})
    if row.role_code not in GRID_SCOPED_ROLES:
        raise InvalidInput(f"worker_id: {row.username} is a {row.role_code}; patrol tracks belong to grid "
                           "workers and grid leaders", details={"field": "worker_id"})
    if not row.is_active:
        raise InvalidInput(f"worker_id: {row.username} is deactivated; their tracks can no longer be uploaded",
                           details={"field": "worker_id"})
    return row


def _resolve_grid(session: Session, uploader: Principal, worker: Any, grid_code: str | None) -> Any:
    """The current grid the patrol is for (default: the worker's only grid), within the uploader's scope."""
    if grid_code is None:
        held = _grids_of(session, worker.id)
        if len(held) != 1:
            raise InvalidInput(f"grid_code: worker {worker.username} holds "
                               f"{'no grid' if not held else 'grids ' + ', '.join(held)}; "
                               "name the grid the patrol was for", details={"field": "grid_code"})
        grid_code = held[0]
    check_grid_code(grid_code)
    grid = session.execute(text("""
        SELECT code, district_code, community_code, name, ST_AsBinary(geom) AS geom FROM grid
        WHERE code = :c AND valid_to IS NULL"""), {"c": grid_code}).first()
    if grid is None:
        raise NotFound(f"grid_code: no current grid {grid_code}", details={"field": "grid_code"})
    if not uploader.sees_grid(grid.code) or (
            not uploader.is_grid_scoped and uploader.district_code and grid.district_code != uploader.district_code):
        raise PermissionDenied(f"grid_code: {uploader.username} may not upload patrols for grid {grid.code}"
                               + (f"; their grids are {', '.join(sorted(uploader.grid_codes)) or 'none'}"
                                  if uploader.is_grid_scoped else ""), details={"field": "grid_code"})
    return grid


def _check_size(data: bytes, where: str, max_bytes: int) -> None:
    if not data:
        raise InvalidInput(f"{where}: the file is empty; expected a GPX or GeoJSON track",
                           details={"field": "file", "where": where})
    if len(data) > max_bytes:
        raise InvalidInput(f"{where}: {len(data):,} bytes; tracks up to {max_bytes:,} bytes are accepted "
                           "(WANGGE_PATROL_MAX_UPLOAD_BYTES): split the track, e.g. one file per patrol",
                           details={"field": "file", "where": where, "size_bytes": len(data),
                                    "max_bytes": max_bytes})


def store_track(session: Session, track: Track, *, worker_id: int, grid_code: str, district_code: str,
                source_name: str | None = None) -> int:
    """Write one cleaned track as a patrol row and its points (COPY) in a savepoint; returns the patrol id."""
    with session.begin_nested():
        line = track.to_linestring()
        patrol_id = session.execute(text("""
            INSERT INTO patrol (district_code, worker_id, grid_code, started_at, ended_at, length_m, point_count,
                                source_name, geom)
            VALUES (:d, :w, :g, :s, :e, :len, :n, :src, ST_GeomFromWKB(:geom, 4490)) RETURNING id"""),
            {"d": district_code, "w": worker_id, "g": grid_code, "s": track.started_at, "e": track.ended_at,
             "len": round(track.length_m, 2), "n": track.point_count, "src": source_name,
             "geom": shapely.to_wkb(line)}).scalar_one()
        pts = track.points
        geoms = shapely.to_wkb(shapely.set_srid(shapely.points(pts[["lon", "lat"]].to_numpy()), 4490),
                               hex=True, include_srid=True)
        times = [t.to_pydatetime() for t in pts["time"]]
        copy_rows(session, "patrol_point", ["patrol_id", "district_code", "at", "accuracy_m", "geom"],
                  zip([patrol_id] * len(pts), [district_code] * len(pts), times, pts["accuracy_m"].tolist(),
                      geoms, strict=True))
    return int(patrol_id)


def import_patrol(
    session: Session,
    data: bytes,
    *,
    uploader: Principal,
    worker: int | str | None = None,
    grid_code: str | None = None,
    source_name: str | None = None,
    format: str | None = None,
    source_crs: str | None = None,
    assume_timezone: str = "UTC",
    max_bytes: int = DEFAULT_MAX_TRACK_BYTES,
    request_id: str | None = None,
) -> PatrolUpload:
    """Read, clean and store one GPX or GeoJSON track for a worker and grid; returns the patrol and the report.

    Parameters
    ----------
    data
        The file's bytes (at most ``max_bytes``).
    uploader
        Who uploads: a worker for themselves and their grids, a leader also for their grids'
        workers, an admin (or ``SYSTEM`` from the CLI) for any worker, who must then be named.
    worker
        The worker whose track it is, by id or username (default: the uploader).
    grid_code
        The grid patrolled (default: the worker's grid when they hold exactly one).
    source_name
        The file name, used in messages, the report and the patrol record.
    """
    where = source_name or "upload"
    _check_size(data, where, max_bytes)
    worker_row = _resolve_worker(session, uploader, worker)
    grid = _resolve_grid(session, uploader, worker_row, grid_code)
    if format is None and source_name:
        format = _SUFFIX_FORMATS.get(PurePath(source_name).suffix.lower())
    track = read_track(data, format=format, name=where, source_crs=source_crs, assume_timezone=assume_timezone)
    held = _grids_of(session, worker_row.id, at=track.started_at)
    if grid.code not in held:
        raise InvalidInput(f"grid_code: worker {worker_row.username} does not hold grid {grid.code} "
                           f"(their grids: {', '.join(held) or 'none'}); assign it first (wangge user grids)",
                           details={"field": "grid_code"})
    report = _report(track.report, track, shapely.from_wkb(bytes(grid.geom)), grid.code)
    patrol_id = store_track(session, track, worker_id=worker_row.id, grid_code=grid.code,
                            district_code=grid.district_code, source_name=source_name)
    privacy.record_change(session, uploader, entity="patrol", entity_id=patrol_id, action="upload",
                          district_code=grid.district_code, request_id=request_id,
                          detail={"worker_id": worker_row.id, "grid_code": grid.code, "source_name": source_name,
                                  "input_points": report["input_points"], "kept_points": report["kept_points"]})
    patrol = StoredPatrol(id=patrol_id, district_code=grid.district_code, worker_id=worker_row.id,
                          worker=worker_row.username, grid_code=grid.code, started_at=track.started_at.isoformat(),
                          ended_at=track.ended_at.isoformat(), length_m=round(track.length_m, 1),
                          point_count=track.point_count, source_name=source_name,
                          week=iso_week(track.started_at))
    return PatrolUpload(patrol=patrol, report=report)


def _report(report: TrackReport, track: Track, grid_geom: shapely.Geometry, grid_code: str) -> dict[str, Any]:
    """The cleaning report with the share of points inside the grid (a warning when most lie outside)."""
    out = report.to_dict()
    inside = shapely.contains_xy(grid_geom, track.points["lon"].to_numpy(), track.points["lat"].to_numpy())
    share = float(inside.mean()) if len(inside) else 0.0
    out["points_in_grid"] = int(inside.sum())
    out["share_in_grid"] = round(share, 3)
    if share < _IN_GRID_WARNING:
        out["messages"] = [*out["messages"], f"only {share:.0%} of the kept points lie in grid {grid_code}: "
                                             "check that the patrol was for this grid"]
    return out


