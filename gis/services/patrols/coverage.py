"""Patrol figures: what a grid's patrols of a week passed, and per grid of a district the households walked past.

Coverage is an aggregate: which buildings (with households) and street segments (walk edges
clipped to the grid; a street on the boundary counts for both grids) the grid's own patrols of
a week passed within the set distances (``gis.patrols.compute_patrol_coverage``), and per grid
of a district or community the share of households in buildings walked past (not households
visited: gis.services.visits) and the grids that missed the weekly patrol. It names no worker
and no track, so every role may see it; the tracks themselves are read through gis.services.cases.

A week is an ISO week in local time (Asia/Shanghai): a patrol belongs to the week in which it
started, as ``gis.patrols.iso_week`` counts it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NotRequired, TypedDict, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis.crs import metric_crs_for_frame
from gis.db.frames import read_frame
from gis.db.levels import level_table
from gis.errors import InvalidInput, NotFound
from gis.jsonable import plain
from gis.layers import STORAGE_CRS
from gis.patrols import Track, TrackReport, compute_patrol_coverage, iso_week, weekly_patrol_coverage
from gis.patrols.coverage import (
    DEFAULT_BUILDING_RADIUS_M,
    DEFAULT_SEGMENT_MIN_SHARE,
    DEFAULT_SEGMENT_RADIUS_M,
    _parse_week,  # the one parser of week labels, so messages match the pure core's
)
from gis.periods import DEFAULT_TIMEZONE, zone
from gis.services.patrols.retention import retention_cutoff
from gis.services.residents import check_grid_code


class PatrolCoverage(TypedDict):
    """A grid's patrol figures for a week or days; the rows per building and segment only with ``detail``."""

    grid_code: str
    grid_name: str
    community_code: str
    district_code: str
    period: dict[str, Any]
    patrols: int
    missed: bool
    summary: dict[str, Any]
    detail: NotRequired[bool]
    buildings: NotRequired[list[dict[str, Any]]]
    segments: NotRequired[list[dict[str, Any]]]


class WeeklyPatrolFigures(TypedDict):
    """Per grid of a district (``district_code``) or community (``community_code``), one ISO week."""

    district_code: NotRequired[str]
    community_code: NotRequired[str]
    week: str
    period: dict[str, Any]
    building_radius_m: float
    segment_radius_m: float
    summary: dict[str, Any]
    missed: list[str]
    grids: list[dict[str, Any]]


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



# --- periods ------------------------------------------------------------------------------


def week_period(week: str, *, timezone: str = DEFAULT_TIMEZONE) -> tuple[dt.datetime, dt.datetime]:
    """Start (Monday 00:00 local) and end (the next Monday) of an ISO week such as ``2026-W47``, in UTC."""
    year, number = _parse_week(week)
    monday = dt.datetime.combine(dt.date.fromisocalendar(year, number, 1), dt.time(), tzinfo=zone(timezone))
    return monday.astimezone(dt.UTC), (monday + dt.timedelta(days=7)).astimezone(dt.UTC)


def _as_utc(value: dt.date | dt.datetime, tz: dt.tzinfo, *, end: bool) -> dt.datetime:
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
            raise InvalidInput("week: give a week (e.g. 2026-W47) or start and end, not both",
                               details={"field": "week"})
        return (*week_period(week, timezone=timezone), week)
    if start is None or end is None:
        raise InvalidInput("week: give a week (e.g. 2026-W47), or both start and end", details={"field": "week"})
    tz = zone(timezone)
    lo, hi = _as_utc(start, tz, end=False), _as_utc(end, tz, end=True)
    if hi <= lo:
        raise InvalidInput(f"end: {end} is not after start {start}", details={"field": "end"})
    return lo, hi, None


def current_week(*, now: dt.datetime | None = None, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The ISO week of ``now`` (default: the present) in local time."""
    return iso_week(now or dt.datetime.now(dt.UTC), timezone=timezone)


# --- loading ------------------------------------------------------------------------------


def grid_streets(session: Session, codes: list[str]) -> gpd.GeoDataFrame:
    """Walk edges clipped to each current grid (widened by ``BOUNDARY_TOLERANCE_M``), in a metric CRS.

    One row per grid and edge (``grid_code``, ``id``, ``name``, ``highway``); a part of an edge
    that only touches a grid is left out.
    """
    grids = read_frame(session, """SELECT code AS grid_code, ST_AsBinary(geom) AS geom FROM grid
                               WHERE valid_to IS NULL AND code = ANY(CAST(:codes AS text[])) ORDER BY code""",
                   {"codes": codes})
    edges = read_frame(session, _GRID_EDGES, {"codes": codes})
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
) -> PatrolCoverage:
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
        raise NotFound(f"grid_code: no current grid {grid_code}", details={"field": "grid_code"})
    buildings = read_frame(session, _GRID_BUILDINGS, {"codes": [grid_code]})
    segments = grid_streets(session, [grid_code])
    tracks = _stored_tracks(session, [grid_code], lo, hi, retention_days=retention_days)
    cov = compute_patrol_coverage([t for _, _, t in tracks], buildings, segments,
                                  building_radius_m=building_radius_m, segment_radius_m=segment_radius_m,
                                  segment_min_share=segment_min_share)
    b, s = cov.buildings, cov.segments
    g = grid.iloc[0]
    if not detail:
        return PatrolCoverage(grid_code=grid_code, grid_name=g["name"], community_code=g["community_code"],
                              district_code=g["district_code"], period={"week": label, "timezone": timezone},
                              patrols=len(tracks), missed=not tracks, summary=walked_past(cov.summary()),
                              detail=False)
    return PatrolCoverage(
        grid_code=grid_code, grid_name=g["name"], community_code=g["community_code"],
        district_code=g["district_code"],
        period={"week": label, "start": lo.isoformat(), "end": hi.isoformat(), "timezone": timezone},
        patrols=len(tracks), missed=not tracks,
        summary=walked_past(cov.summary()),
        buildings=[{"id": int(bid), "name": plain(name), "households": int(hh), "households_source": plain(src),
                       "covered": bool(c), "nearest_m": _metres(d)}
                      for bid, name, hh, src, c, d in zip(buildings["id"], buildings["name"], b["households"],
                                                          buildings["households_source"], b["covered"],
                                                          b["nearest_m"], strict=True)],
        segments=[{"edge_id": int(eid), "name": plain(name), "highway": plain(hw), "length_m": round(float(ln), 1),
                      "covered_m": round(float(cm), 1), "covered_share": round(float(sh), 3), "covered": bool(c)}
                     for eid, name, hw, ln, cm, sh, c in zip(segments["id"], segments["name"], segments["highway"],
                                                             s["length_m"], s["covered_m"], s["covered_share"],
                                                             s["covered"], strict=True)],
    )


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
) -> WeeklyPatrolFigures:
    """Per grid of a district (or community), one ISO week: households walked past, street share, missed patrols."""
    if (district_code is None) == (community_code is None):
        raise InvalidInput("district_code, community_code: give one of them", details={"field": "district_code"})
    lo, hi = week_period(week, timezone=timezone)
    column, value = ("district_code", district_code) if district_code else ("community_code", community_code)
    grid = level_table("grid")
    codes = list(session.execute(select(grid.c.code).where(grid.c.valid_to.is_(None), grid.c[column] == value)
                                 .order_by(grid.c.code)).scalars())
    if not codes:
        raise NotFound(f"{column}: no current grids in {value}"
                       + (" (is the district loaded and are its grids adopted?)" if district_code else ""),
                       details={"field": column})
    grids = _grids(session, codes).set_index("code")
    buildings = read_frame(session, _GRID_BUILDINGS, {"codes": codes})
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
    return cast(WeeklyPatrolFigures, {
        column: value, "week": week,
        "period": {"start": lo.isoformat(), "end": hi.isoformat(), "timezone": timezone},
        "building_radius_m": building_radius_m, "segment_radius_m": segment_radius_m,
        "summary": summary,
        "missed": missed,
        "grids": rows,
    })


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


