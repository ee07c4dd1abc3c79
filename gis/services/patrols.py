"""Patrols (巡查) stored and measured: upload a track, a grid's coverage per week, purge after retention.

Uploads go through ``gis.patrols.read_track`` (the cleaning and its report) and are stored in
one savepoint: the patrol row with its line, length and times (UTC), and its points by COPY,
so a bad track leaves the database as it was. A grid worker uploads only their own tracks for
their own grids; a leader also for workers of their grids; an admin for any worker of their
district (the CLI acts as the system admin).

Coverage is an aggregate: which buildings (with households) and street segments (walk edges
clipped to the grid; a street on the boundary counts for both grids) the grid's own patrols of a week passed within the set distances
(``gis.patrols.compute_patrol_coverage``), and per grid of a district or community the share of
households in buildings walked past (not households visited: gis.services.visits) and the
grids that missed the weekly patrol. It names no worker and no
track, so every role may see it; the tracks themselves are read through gis.services.cases.

A week is an ISO week in local time (Asia/Shanghai): a patrol belongs to the week in which it
started, as ``gis.patrols.iso_week`` counts it.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import PurePath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import metric_crs_for_frame
from gis.db.frames import copy_rows
from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.layers import STORAGE_CRS
from gis.patrols import Track, TrackReport, compute_patrol_coverage, iso_week, read_track, weekly_patrol_coverage
from gis.patrols.coverage import (
    DEFAULT_BUILDING_RADIUS_M,
    DEFAULT_SEGMENT_MIN_SHARE,
    DEFAULT_SEGMENT_RADIUS_M,
    DEFAULT_TIMEZONE,
    _parse_week,  # the one parser of week labels, so messages match the pure core's
)
from gis.services import privacy
from gis.services.residents import check_grid_code
from gis.services.users import GRID_SCOPED_ROLES, SYSTEM, Principal

__all__ = [
    "DEFAULT_MAX_TRACK_BYTES",
    "current_week",
    "grid_streets",
    "import_patrol",
    "patrol_coverage",
    "purge_patrols",
    "store_track",
    "weekly_coverage",
    "week_period",
]

DEFAULT_MAX_TRACK_BYTES = 10_000_000
# Below this share of points inside the chosen grid the report asks whether the grid is right.
_IN_GRID_WARNING = 0.5
_SUFFIX_FORMATS = {".gpx": "gpx", ".geojson": "geojson", ".json": "geojson"}

# Buildings belong to the current grid that contains their point on surface (as in gis.services.privacy).
_GRID_BUILDINGS = """
    SELECT g.code AS grid_code, b.id, b.name, b.households, b.households_source, ST_AsBinary(b.geom) AS geom
    FROM grid g JOIN building b
      ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
    WHERE g.valid_to IS NULL AND g.code = ANY(CAST(:codes AS text[]))
    ORDER BY g.code, b.id
"""
# Grids' boundaries run along street centre lines (they are cut from street blocks), so an edge
# on the boundary lies on it only up to rounding: each grid is widened by this much before its
# edges are clipped, and a boundary street counts for the grids on both sides.
BOUNDARY_TOLERANCE_M = 1.0
_GRID_EDGES = """
    SELECT DISTINCT e.id, e.name, e.highway, ST_AsBinary(e.geom) AS geom
    FROM grid g JOIN walk_edge e ON e.district_code = g.district_code AND ST_Intersects(e.geom, ST_Expand(g.geom, 1e-4))
    WHERE g.valid_to IS NULL AND g.code = ANY(CAST(:codes AS text[]))
    ORDER BY e.id
"""


# --- upload -------------------------------------------------------------------------------


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
                               "name the worker whose track it is (worker_id, or --worker on the command line)")
        worker = uploader.user_id
    row = _user(session, worker)
    if row is None and not uploader.is_grid_scoped and uploader.district_code is None:
        # A city admin or the command line may upload anyone's tracks: "not there" is all there is.
        raise NotFound(f"worker {worker!r}: no such user (give a user id or username)")
    if row is None or not _may_upload_for(session, uploader, row):
        raise NotFound(f"worker {worker!r}: no worker of that id or name whose tracks {uploader.username} may "
                       "upload (grid workers upload their own, leaders their grids' workers, admins their "
                       "district's)")
    if row.role_code not in GRID_SCOPED_ROLES:
        raise InvalidInput(f"worker {row.username} is a {row.role_code}; patrol tracks belong to grid workers "
                           "and grid leaders")
    if not row.is_active:
        raise InvalidInput(f"worker {row.username} is deactivated; their tracks can no longer be uploaded")
    return row


def _resolve_grid(session: Session, uploader: Principal, worker: Any, grid_code: str | None) -> Any:
    """The current grid the patrol is for (default: the worker's only grid), within the uploader's scope."""
    if grid_code is None:
        held = _grids_of(session, worker.id)
        if len(held) != 1:
            raise InvalidInput(f"grid_code: worker {worker.username} holds "
                               f"{'no grid' if not held else 'grids ' + ', '.join(held)}; "
                               "name the grid the patrol was for (grid_code, or --grid)")
        grid_code = held[0]
    check_grid_code(grid_code)
    grid = session.execute(text("""
        SELECT code, district_code, community_code, name, ST_AsBinary(geom) AS geom FROM grid
        WHERE code = :c AND valid_to IS NULL"""), {"c": grid_code}).first()
    if grid is None:
        raise NotFound(f"grid_code: no current grid {grid_code}")
    if not uploader.sees_grid(grid.code) or (
            not uploader.is_grid_scoped and uploader.district_code and grid.district_code != uploader.district_code):
        raise PermissionDenied(f"{uploader.username} may not upload patrols for grid {grid.code}"
                               + (f"; their grids are {', '.join(sorted(uploader.grid_codes)) or 'none'}"
                                  if uploader.is_grid_scoped else ""))
    return grid


def _check_size(data: bytes, where: str, max_bytes: int) -> None:
    if not data:
        raise InvalidInput(f"{where}: the file is empty; expected a GPX or GeoJSON track", details={"where": where})
    if len(data) > max_bytes:
        raise InvalidInput(f"{where}: {len(data):,} bytes; tracks up to {max_bytes:,} bytes are accepted "
                           "(WANGGE_PATROL_MAX_UPLOAD_BYTES): split the track, e.g. one file per patrol",
                           details={"where": where, "size_bytes": len(data), "max_bytes": max_bytes})


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
) -> dict[str, Any]:
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
                           f"(their grids: {', '.join(held) or 'none'}); assign it first (wangge user grids)")
    report = _report(track.report, track, shapely.from_wkb(bytes(grid.geom)), grid.code)
    patrol_id = store_track(session, track, worker_id=worker_row.id, grid_code=grid.code,
                            district_code=grid.district_code, source_name=source_name)
    privacy.record_change(session, uploader, entity="patrol", entity_id=patrol_id, action="upload",
                          district_code=grid.district_code, request_id=request_id,
                          detail={"worker_id": worker_row.id, "grid_code": grid.code, "source_name": source_name,
                                  "input_points": report["input_points"], "kept_points": report["kept_points"]})
    patrol = {"id": patrol_id, "district_code": grid.district_code, "worker_id": worker_row.id,
              "worker": worker_row.username, "grid_code": grid.code, "started_at": track.started_at.isoformat(),
              "ended_at": track.ended_at.isoformat(), "length_m": round(track.length_m, 1),
              "point_count": track.point_count, "source_name": source_name,
              "week": iso_week(track.started_at)}
    return {"patrol": patrol, "report": report}


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


# --- periods ------------------------------------------------------------------------------


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"timezone: {name!r} is not a time zone; expected e.g. Asia/Shanghai") from None


def week_period(week: str, *, timezone: str = DEFAULT_TIMEZONE) -> tuple[dt.datetime, dt.datetime]:
    """Start (Monday 00:00 local) and end (the next Monday) of an ISO week such as ``2026-W47``, in UTC."""
    year, number = _parse_week(week)
    monday = dt.datetime.combine(dt.date.fromisocalendar(year, number, 1), dt.time(), tzinfo=_zone(timezone))
    return monday.astimezone(dt.UTC), (monday + dt.timedelta(days=7)).astimezone(dt.UTC)


def _as_utc(value: dt.date | dt.datetime, tz: zoneinfo.ZoneInfo, *, end: bool) -> dt.datetime:
    """A datetime in UTC; a date is a local day (its start, or for ``end`` the start of the next day)."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value + dt.timedelta(days=1 if end else 0), dt.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(dt.UTC)


def _period(week: str | None, start: dt.date | dt.datetime | None, end: dt.date | dt.datetime | None,
            timezone: str) -> tuple[dt.datetime, dt.datetime, str | None]:
    """(start, end, week) in UTC from a week label or a start and end (dates are local days, end inclusive)."""
    if week is not None:
        if start is not None or end is not None:
            raise InvalidInput("give a week (e.g. 2026-W47) or start and end, not both")
        return (*week_period(week, timezone=timezone), week)
    if start is None or end is None:
        raise InvalidInput("give a week (e.g. 2026-W47), or both start and end")
    tz = _zone(timezone)
    lo, hi = _as_utc(start, tz, end=False), _as_utc(end, tz, end=True)
    if hi <= lo:
        raise InvalidInput(f"end {end} is not after start {start}")
    return lo, hi, None


def current_week(*, now: dt.datetime | None = None, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The ISO week of ``now`` (default: the present) in local time."""
    return iso_week(now or dt.datetime.now(dt.UTC), timezone=timezone)


# --- loading ------------------------------------------------------------------------------


def _frame(session: Session, sql: str, params: dict[str, Any]) -> gpd.GeoDataFrame:
    result = session.execute(text(sql), params)
    columns = list(result.keys())
    frame = pd.DataFrame.from_records([tuple(r) for r in result.all()], columns=columns)
    wkb = frame.pop("geom") if "geom" in frame else pd.Series([], dtype=object)
    geoms = shapely.from_wkb([bytes(g) for g in wkb]) if len(wkb) else np.array([], dtype=object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS, index=frame.index),
                            crs=STORAGE_CRS)


def grid_streets(session: Session, codes: list[str]) -> gpd.GeoDataFrame:
    """Walk edges clipped to each current grid (widened by ``BOUNDARY_TOLERANCE_M``), in a metric CRS.

    One row per grid and edge (``grid_code``, ``id``, ``name``, ``highway``); a part of an edge
    that only touches a grid is left out.
    """
    grids = _frame(session, """SELECT code AS grid_code, ST_AsBinary(geom) AS geom FROM grid
                               WHERE valid_to IS NULL AND code = ANY(CAST(:codes AS text[])) ORDER BY code""",
                   {"codes": codes})
    edges = _frame(session, _GRID_EDGES, {"codes": codes})
    columns = ["grid_code", "id", "name", "highway"]
    if grids.empty or edges.empty:
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=STORAGE_CRS)
    crs = metric_crs_for_frame(grids)
    zones = shapely.buffer(np.asarray(grids.to_crs(crs).geometry.values, dtype=object), BOUNDARY_TOLERANCE_M)
    lines = np.asarray(edges.to_crs(crs).geometry.values, dtype=object)
    tree = shapely.STRtree(lines)
    grid_at, edge_at = tree.query(zones, predicate="intersects")
    clipped = shapely.intersection(lines[edge_at], zones[grid_at])
    parts, part_of = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0.01)  # line parts, not touching points
    rows: dict[int, list[shapely.Geometry]] = {}
    for part, k in zip(parts[keep], part_of[keep], strict=True):
        rows.setdefault(int(k), []).append(part)
    order = sorted(rows, key=lambda k: (grid_at[k], edges["id"].iloc[edge_at[k]]))
    frame = pd.DataFrame({
        "grid_code": [grids["grid_code"].iloc[grid_at[k]] for k in order],
        **{c: [edges[c].iloc[edge_at[k]] for k in order] for c in ("id", "name", "highway")},
    }, columns=columns)
    geoms = [rows[k][0] if len(rows[k]) == 1 else shapely.multilinestrings(rows[k]) for k in order]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=crs, index=frame.index), crs=crs)


def _grids(session: Session, codes: list[str]) -> pd.DataFrame:
    rows = session.execute(text("""
        SELECT code, name, community_code, district_code, kind FROM grid
        WHERE valid_to IS NULL AND code = ANY(CAST(:codes AS text[])) ORDER BY code"""), {"codes": codes}).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["code", "name", "community_code", "district_code", "kind"])


def retention_cutoff(retention_days: int | None, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """The oldest start a patrol may have to be read (None: no retention given)."""
    if retention_days is None:
        return None
    if retention_days < 1:
        raise InvalidInput(f"patrol_retention_days: 1 or more, got {retention_days}")
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)


def _stored_tracks(session: Session, grid_codes: list[str], lo: dt.datetime, hi: dt.datetime, *,
                   retention_days: int | None = None) -> list[tuple[int, str, Track]]:
    """(patrol id, grid code, Track) of the grids' patrols that started in [lo, hi), from their stored points.

    Patrols older than ``retention_days`` are never read, purged or not (domain §6).
    """
    cutoff = retention_cutoff(retention_days)
    if cutoff is not None:
        lo = max(lo, cutoff)
    patrols = session.execute(text("""
        SELECT id, grid_code, started_at, ended_at, source_name, ST_AsBinary(geom) AS geom FROM patrol
        WHERE grid_code = ANY(CAST(:codes AS text[])) AND started_at >= :lo AND started_at < :hi
        ORDER BY started_at, id"""), {"codes": grid_codes, "lo": lo, "hi": hi}).all()
    if not patrols:
        return []
    points = session.execute(text("""
        SELECT patrol_id, at, ST_X(geom) AS lon, ST_Y(geom) AS lat, accuracy_m FROM patrol_point
        WHERE patrol_id = ANY(:ids) ORDER BY patrol_id, at, id"""), {"ids": [p.id for p in patrols]}).all()
    by_patrol: dict[int, list[Any]] = {}
    for p in points:
        by_patrol.setdefault(p.patrol_id, []).append(p)
    out = []
    for patrol in patrols:
        pts = by_patrol.get(patrol.id, [])
        if len(pts) >= 2:
            frame = pd.DataFrame({"lon": [p.lon for p in pts], "lat": [p.lat for p in pts],
                                  "time": pd.DatetimeIndex([p.at for p in pts]).tz_convert("UTC"),
                                  "accuracy_m": [np.nan if p.accuracy_m is None else p.accuracy_m for p in pts]})
        elif patrol.geom is not None:
            # No stored points (an older import): the line's vertices, timed evenly from start to end.
            xy = shapely.get_coordinates(shapely.from_wkb(bytes(patrol.geom)))
            times = pd.date_range(patrol.started_at, patrol.ended_at, periods=len(xy)).tz_convert("UTC")
            frame = pd.DataFrame({"lon": xy[:, 0], "lat": xy[:, 1], "time": times, "accuracy_m": np.nan})
        else:
            continue
        frame["segment"] = 0
        frame["point"] = np.arange(1, len(frame) + 1)
        report = TrackReport(source=f"patrol {patrol.id}", format="stored", input_points=len(frame),
                             kept_points=len(frame))
        out.append((int(patrol.id), str(patrol.grid_code), Track(points=frame, report=report,
                                                                  name=patrol.source_name)))
    return out


# --- coverage -----------------------------------------------------------------------------


def patrol_coverage(
    session: Session,
    *,
    grid_code: str,
    week: str | None = None,
    start: dt.date | dt.datetime | None = None,
    end: dt.date | dt.datetime | None = None,
    building_radius_m: float = DEFAULT_BUILDING_RADIUS_M,
    segment_radius_m: float = DEFAULT_SEGMENT_RADIUS_M,
    segment_min_share: float = DEFAULT_SEGMENT_MIN_SHARE,
    timezone: str = DEFAULT_TIMEZONE,
    retention_days: int | None = None,
    detail: bool = True,
) -> dict[str, Any]:
    """Which buildings and street segments of a grid its patrols of a week (or start..end) passed.

    Dates in ``start``/``end`` are local days, ``end`` included; naive datetimes are local time.
    Without ``detail`` (for anyone but the grid's own staff and admins) it is the grid's weekly
    figures only: whole ISO weeks, no per-building or per-segment rows and no distances, so a
    narrowed window cannot tell when or where a worker walked.
    """
    check_grid_code(grid_code)
    if not detail and (start is not None or end is not None or week is None):
        raise InvalidInput("patrol figures of a grid that is not yours come per ISO week only: give week "
                           "(e.g. 2026-W47), not start and end", details={"field": "start"})
    lo, hi, label = _period(week, start, end, timezone)
    grid = _grids(session, [grid_code])
    if grid.empty:
        raise NotFound(f"grid_code: no current grid {grid_code}")
    buildings = _frame(session, _GRID_BUILDINGS, {"codes": [grid_code]})
    segments = grid_streets(session, [grid_code])
    tracks = _stored_tracks(session, [grid_code], lo, hi, retention_days=retention_days)
    cov = compute_patrol_coverage([t for _, _, t in tracks], buildings, segments,
                                  building_radius_m=building_radius_m, segment_radius_m=segment_radius_m,
                                  segment_min_share=segment_min_share)
    b, s = cov.buildings, cov.segments
    g = grid.iloc[0]
    if not detail:
        return {"grid_code": grid_code, "grid_name": g["name"], "community_code": g["community_code"],
                "district_code": g["district_code"], "period": {"week": label, "timezone": timezone},
                "patrols": len(tracks), "missed": not tracks, "summary": walked_past(cov.summary()), "detail": False}
    return {
        "grid_code": grid_code, "grid_name": g["name"], "community_code": g["community_code"],
        "district_code": g["district_code"],
        "period": {"week": label, "start": lo.isoformat(), "end": hi.isoformat(), "timezone": timezone},
        "patrols": len(tracks), "missed": not tracks,
        "summary": walked_past(cov.summary()),
        "buildings": [{"id": int(bid), "name": name, "households": int(hh), "households_source": src,
                       "covered": bool(c), "nearest_m": _metres(d)}
                      for bid, name, hh, src, c, d in zip(buildings["id"], buildings["name"], b["households"],
                                                          buildings["households_source"], b["covered"],
                                                          b["nearest_m"], strict=True)],
        "segments": [{"edge_id": int(eid), "name": name, "highway": hw, "length_m": round(float(ln), 1),
                      "covered_m": round(float(cm), 1), "covered_share": round(float(sh), 3), "covered": bool(c)}
                     for eid, name, hw, ln, cm, sh, c in zip(segments["id"], segments["name"], segments["highway"],
                                                             s["length_m"], s["covered_m"], s["covered_share"],
                                                             s["covered"], strict=True)],
    }


def _metres(value: float) -> float | None:
    return round(float(value), 1) if np.isfinite(value) else None


def weekly_coverage(
    session: Session,
    *,
    district_code: str | None = None,
    community_code: str | None = None,
    week: str,
    building_radius_m: float = DEFAULT_BUILDING_RADIUS_M,
    segment_radius_m: float = DEFAULT_SEGMENT_RADIUS_M,
    segment_min_share: float = DEFAULT_SEGMENT_MIN_SHARE,
    timezone: str = DEFAULT_TIMEZONE,
    retention_days: int | None = None,
) -> dict[str, Any]:
    """Per grid of a district (or community), one ISO week: households walked past, street share, missed patrols."""
    if (district_code is None) == (community_code is None):
        raise InvalidInput("give district_code or community_code (one of them)")
    lo, hi = week_period(week, timezone=timezone)
    column, value = ("district_code", district_code) if district_code else ("community_code", community_code)
    codes = list(session.execute(text(f"""
        SELECT code FROM grid WHERE valid_to IS NULL AND {column} = :v ORDER BY code"""), {"v": value}).scalars())
    if not codes:
        raise NotFound(f"{column}: no current grids in {value}"
                       + (" (is the district loaded and are its grids adopted?)" if district_code else ""))
    grids = _grids(session, codes).set_index("code")
    buildings = _frame(session, _GRID_BUILDINGS, {"codes": codes})
    segments = grid_streets(session, codes)
    tracks = _stored_tracks(session, codes, lo, hi, retention_days=retention_days)
    weekly = weekly_patrol_coverage([(code, t) for _, code, t in tracks], buildings, segments, weeks=[week],
                                    grid_codes=codes, timezone=timezone, building_radius_m=building_radius_m,
                                    segment_radius_m=segment_radius_m, segment_min_share=segment_min_share)
    rows = []
    for r in weekly.table.to_dict("records"):
        g = grids.loc[r["grid_code"]]
        rows.append({"grid_code": r["grid_code"], "grid_name": g["name"], "community_code": g["community_code"],
                     "kind": g["kind"], "patrols": int(r["tracks"]), "missed": bool(r["missed"]),
                     "buildings_total": int(r["buildings_total"]), "buildings_covered": int(r["buildings_covered"]),
                     "households_total": int(r["households_total"]),
                     "households_walked_past": int(r["households_covered"]),
                     "household_walked_past_share": _rounded(r["household_share"]),
                     "street_share": _rounded(r["street_share"])})
        _deprecated_aliases(rows[-1])
    hh_total = sum(r["households_total"] for r in rows)
    hh_covered = sum(r["households_walked_past"] for r in rows)
    missed = weekly.missed_grids(week)
    summary = _deprecated_aliases({"grids": len(rows), "patrolled": len(rows) - len(missed), "missed": len(missed),
                                   "patrols": len(tracks), "households_total": hh_total,
                                   "households_walked_past": hh_covered,
                                   "household_walked_past_share": _rounded(hh_covered / hh_total if hh_total
                                                                           else None)})
    return {
        column: value, "week": week,
        "period": {"start": lo.isoformat(), "end": hi.isoformat(), "timezone": timezone},
        "building_radius_m": building_radius_m, "segment_radius_m": segment_radius_m,
        "summary": summary,
        "missed": missed,
        "grids": rows,
    }


# The patrol figure is households in buildings a patrol walked past (within building_radius_m), not
# households visited (gis.services.visits): named so since issue 18. The old keys stay one release,
# deprecated, for API clients that read them; nothing in web/ does.
DEPRECATED_KEYS = {"households_covered": "households_walked_past", "household_share": "household_walked_past_share"}


def walked_past(summary: dict[str, Any]) -> dict[str, Any]:
    """The pure core's coverage summary with the household figures under their true names (and the old ones)."""
    out = dict(summary)
    out["households_walked_past"] = summary["households_covered"]
    out["household_walked_past_share"] = summary["household_share"]
    return out


def _deprecated_aliases(figures: dict[str, Any]) -> dict[str, Any]:
    """Add the deprecated keys (one release) beside the walked-past figures."""
    for old, new in DEPRECATED_KEYS.items():
        figures[old] = figures[new]
    return figures


def _rounded(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else round(float(value), 4)


# --- retention ----------------------------------------------------------------------------


def purge_patrols(session: Session, *, retention_days: int, now: dt.datetime | None = None, dry_run: bool = False,
                  principal: Principal = SYSTEM) -> dict[str, Any]:
    """Delete patrols (and their points) that started more than ``retention_days`` ago; one audit row.

    The cut-off matches the read side (gis.services.cases): what it no longer shows is what goes.
    ``dry_run`` counts without deleting (and writes no audit row).
    """
    if not isinstance(retention_days, int) or retention_days < 1:
        raise InvalidInput(f"older-than-days: 1 or more, got {retention_days!r}")
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=retention_days)
    rows = session.execute(text("""
        SELECT p.district_code, count(*) AS patrols, COALESCE(sum(pp.points), 0) AS points, min(p.started_at) AS oldest
        FROM patrol p LEFT JOIN (SELECT patrol_id, count(*) AS points FROM patrol_point GROUP BY patrol_id) pp
          ON pp.patrol_id = p.id
        WHERE p.started_at < :cutoff GROUP BY p.district_code ORDER BY p.district_code"""),
        {"cutoff": cutoff}).all()
    by_district = {r.district_code: {"patrols": int(r.patrols), "points": int(r.points),
                                     "oldest": r.oldest.isoformat()} for r in rows}
    result = {"retention_days": retention_days, "cutoff": cutoff.isoformat(), "dry_run": dry_run,
              "patrols": sum(d["patrols"] for d in by_district.values()),
              "points": sum(d["points"] for d in by_district.values()), "by_district": by_district,
              "audit_id": None}
    if dry_run:
        return result
    with session.begin_nested():
        deleted = session.execute(text("DELETE FROM patrol WHERE started_at < :cutoff"), {"cutoff": cutoff}).rowcount
        if deleted != result["patrols"]:  # a concurrent upload or purge: report what was really deleted
            result["patrols"] = deleted
        audit = privacy.record_change(
            session, principal, entity="patrol", entity_id=f"started before {cutoff.date().isoformat()}",
            action="purge", district_code=next(iter(by_district)) if len(by_district) == 1 else None,
            detail={"retention_days": retention_days, "cutoff": cutoff.isoformat(), "patrols": result["patrols"],
                    "points": result["points"], "by_district": by_district})
    result["audit_id"] = audit.id
    return result
