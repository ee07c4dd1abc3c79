"""Patrol coverage: the buildings and street segments of a grid the tracks passed; per week, the grids missed.

A building is covered when a track passes within ``building_radius_m`` of its footprint
(30 m: across a street and a front yard). A street segment is covered when at least
``segment_min_share`` of its length lies within ``segment_radius_m`` of a track, so walking
across a side street at a junction does not count as patrolling it; the covered length is
reported too. Distances are measured in the CGCS2000 Gauss-Krüger zone of the buildings
(``gis.crs.metric_crs_for``), never in degrees.

Tracks are cut into pieces of a few GPS steps and put in one STRtree, so the nearest pass of
every building is one vectorised ``query_nearest`` however long the tracks are.

Weekly: a patrol counts for the ISO week in which it started, in local time
(``timezone``, Asia/Shanghai by default: a Monday 07:00 patrol is Sunday 23:00 UTC). A grid
with no patrol in a week missed that week's patrol (每周定期网格巡查). Only a grid's own
patrols count for it: a worker crossing a neighbour grid does not patrol it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gis.crs import metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidInput
from gis.layers import STORAGE_CRS
from gis.patrols.tracks import Track
from gis.periods import DEFAULT_TIMEZONE, zone

__all__ = [
    "DEFAULT_BUILDING_RADIUS_M",
    "DEFAULT_SEGMENT_MIN_SHARE",
    "DEFAULT_SEGMENT_RADIUS_M",
    "DEFAULT_TIMEZONE",
    "PatrolCoverage",
    "WeeklyCoverage",
    "compute_patrol_coverage",
    "iso_week",
    "iso_weeks_between",
    "weekly_patrol_coverage",
]

DEFAULT_BUILDING_RADIUS_M = 30.0
DEFAULT_SEGMENT_RADIUS_M = 20.0
DEFAULT_SEGMENT_MIN_SHARE = 0.5

# Tracks go into the search tree in pieces of this many GPS steps: one step per item makes a
# long straight walk a tree of near-equidistant boxes; 4 was ~1.5× faster than 1, 16 or 64.
_STEPS_PER_PIECE = 4
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")

TrackLike: TypeAlias = Track | shapely.Geometry


@dataclass
class PatrolCoverage:
    """Coverage of buildings and street segments by a set of tracks.

    ``buildings`` (index of the input frame): ``covered``, ``nearest_m`` (distance of the nearest
    pass; ``inf`` without tracks), ``track`` (position of the nearest track in the input, -1
    without tracks) and ``households`` (0 where unknown). ``segments`` (index of the input
    frame, empty when none were given): ``length_m``, ``covered_m``, ``covered_share``,
    ``nearest_m`` and ``covered``.
    """

    buildings: pd.DataFrame
    segments: pd.DataFrame
    building_radius_m: float
    segment_radius_m: float
    segment_min_share: float
    metric_crs: str
    track_count: int
    households_unknown: int = 0

    @property
    def buildings_total(self) -> int:
        """Number of buildings."""
        return len(self.buildings)

    @property
    def buildings_covered(self) -> int:
        """Number of buildings a track passed within the radius."""
        return int(self.buildings["covered"].sum())

    @property
    def building_share(self) -> float | None:
        """Covered buildings ÷ buildings (None without buildings)."""
        return _share(self.buildings_covered, self.buildings_total)

    @property
    def households_total(self) -> int:
        """Households in all buildings (unknown counts as 0, see ``households_unknown``)."""
        return int(self.buildings["households"].sum())

    @property
    def households_covered(self) -> int:
        """Households in covered buildings."""
        return int(self.buildings.loc[self.buildings["covered"], "households"].sum())

    @property
    def household_share(self) -> float | None:
        """Covered households ÷ households (None when no building has households)."""
        return _share(self.households_covered, self.households_total)

    @property
    def street_length_m(self) -> float:
        """Total length of the street segments."""
        return float(self.segments["length_m"].sum()) if len(self.segments) else 0.0

    @property
    def street_covered_m(self) -> float:
        """Length of street within ``segment_radius_m`` of a track (whether or not its segment counts as covered)."""
        return float(self.segments["covered_m"].sum()) if len(self.segments) else 0.0

    @property
    def street_share(self) -> float | None:
        """Covered street length ÷ street length (None without streets)."""
        return _share(self.street_covered_m, self.street_length_m)

    @property
    def segments_covered(self) -> int:
        """Number of street segments covered over at least ``segment_min_share`` of their length."""
        return int(self.segments["covered"].sum()) if len(self.segments) else 0

    def summary(self) -> dict[str, Any]:
        """The headline figures as a JSON-ready dict."""
        return {
            "tracks": self.track_count, "metric_crs": self.metric_crs,
            "building_radius_m": self.building_radius_m, "segment_radius_m": self.segment_radius_m,
            "segment_min_share": self.segment_min_share,
            "buildings_total": self.buildings_total, "buildings_covered": self.buildings_covered,
            "building_share": self.building_share, "households_total": self.households_total,
            "households_covered": self.households_covered, "household_share": self.household_share,
            "households_unknown": self.households_unknown,
            "segments_total": len(self.segments), "segments_covered": self.segments_covered,
            "street_length_m": round(self.street_length_m, 1), "street_covered_m": round(self.street_covered_m, 1),
            "street_share": self.street_share,
        }


@dataclass
class WeeklyCoverage:
    """Per grid and ISO week: patrols, covered buildings, households and street, and whether the week was missed.

    ``table`` has one row per (``grid_code``, ``week``) with ``tracks``, ``buildings_total``,
    ``buildings_covered``, ``households_total``, ``households_covered``, ``household_share``,
    ``street_share`` and ``missed`` (no patrol that week).
    """

    table: pd.DataFrame
    weeks: list[str]
    timezone: str

    @property
    def missed(self) -> list[tuple[str, str]]:
        """(week, grid_code) pairs with no patrol, in week then grid order."""
        rows = self.table[self.table["missed"]].sort_values(["week", "grid_code"])
        return list(zip(rows["week"], rows["grid_code"], strict=True))

    def missed_grids(self, week: str) -> list[str]:
        """Grids that missed the patrol in ``week`` (e.g. ``"2026-W41"``)."""
        _parse_week(week)
        if week not in self.weeks:
            raise InvalidInput(f"week {week!r} is not in this result; it covers {self.weeks[0]}..{self.weeks[-1]}")
        return sorted(self.table.loc[(self.table["week"] == week) & self.table["missed"], "grid_code"])


# --- public functions ---------------------------------------------------------------------


def compute_patrol_coverage(
    tracks: TrackLike | Iterable[TrackLike],
    buildings: gpd.GeoDataFrame,
    segments: gpd.GeoDataFrame | None = None,
    *,
    building_radius_m: float = DEFAULT_BUILDING_RADIUS_M,
    segment_radius_m: float = DEFAULT_SEGMENT_RADIUS_M,
    segment_min_share: float = DEFAULT_SEGMENT_MIN_SHARE,
    households_column: str = "households",
    metric_crs: str | None = None,
) -> PatrolCoverage:
    """Which buildings and street segments the tracks passed within the radii; see the module docstring.

    Parameters
    ----------
    tracks
        ``Track`` objects or shapely (Multi)LineStrings/Points in EPSG:4490 lon/lat; none gives
        zero coverage.
    buildings
        Footprints (any CRS) with a household count column ``households_column``.
    segments
        Street segments as lines (any CRS), or None.
    metric_crs
        The CRS to measure in; by default the Gauss-Krüger zone at the buildings' centre.
    """
    _check_radius("building_radius_m", building_radius_m)
    _check_radius("segment_radius_m", segment_radius_m)
    if not (0.0 < segment_min_share <= 1.0):
        raise InvalidInput(f"segment_min_share: a share in (0, 1], got {segment_min_share!r}")
    track_list = _track_list(tracks)
    crs = metric_crs or _metric_crs(buildings, segments)
    b_geoms, households, unknown = _buildings_metric(buildings, crs, households_column)
    s_geoms = _segments_metric(segments, crs)
    steps, step_track, lines = _tracks_metric(track_list, crs)
    b_table = _building_table(b_geoms, households, steps, step_track, building_radius_m)
    b_table.index = buildings.index
    s_table = _segment_table(s_geoms, steps, lines, segment_radius_m, segment_min_share)
    if segments is not None:
        s_table.index = segments.index
    return PatrolCoverage(buildings=b_table, segments=s_table, building_radius_m=float(building_radius_m),
                          segment_radius_m=float(segment_radius_m), segment_min_share=float(segment_min_share),
                          metric_crs=crs, track_count=len(track_list), households_unknown=unknown)


def weekly_patrol_coverage(
    patrols: Iterable[tuple[str, Track]],
    buildings: gpd.GeoDataFrame,
    segments: gpd.GeoDataFrame | None = None,
    *,
    weeks: Sequence[str] | None = None,
    grid_codes: Sequence[str] | None = None,
    grid_column: str = "grid_code",
    timezone: str = DEFAULT_TIMEZONE,
    building_radius_m: float = DEFAULT_BUILDING_RADIUS_M,
    segment_radius_m: float = DEFAULT_SEGMENT_RADIUS_M,
    segment_min_share: float = DEFAULT_SEGMENT_MIN_SHARE,
    households_column: str = "households",
) -> WeeklyCoverage:
    """Coverage per grid and ISO week from ``(grid_code, track)`` pairs; grids without a patrol are ``missed``.

    ``buildings`` (and ``segments``, when given) carry ``grid_column``. ``weeks`` (``"2026-W41"``)
    defaults to every week from the first patrol's to the last's; ``grid_codes`` to every grid
    of the buildings and patrols. A patrol outside ``weeks`` is ignored.
    """
    pairs = [(str(code), track) for code, track in patrols]
    for code, track in pairs:
        if not isinstance(track, Track):
            raise InvalidInput(f"weekly_patrol_coverage: the patrol of grid {code} is a {type(track).__name__}; "
                               "expected a Track (its start time picks the week)")
    for frame, what in ((buildings, "buildings"), (segments, "segments")):
        if frame is not None and grid_column not in frame.columns:
            raise InvalidInput(f"weekly_patrol_coverage: {what} have no {grid_column!r} column; "
                               f"columns are {list(frame.columns)}")
    week_of = [iso_week(track.started_at, timezone=timezone) for _, track in pairs]
    if weeks is None:
        if not pairs:
            raise InvalidInput("weekly_patrol_coverage: no patrols and no weeks; pass weeks=[...] to list missed grids")
        weeks = _weeks_from_to(min(week_of), max(week_of))
    else:
        weeks = list(dict.fromkeys(weeks))
        for w in weeks:
            _parse_week(w)
    if grid_codes is None:
        grid_codes = sorted(set(buildings[grid_column].astype(str)) | {code for code, _ in pairs})

    crs = _metric_crs(buildings, segments)
    b_geoms, households, _ = _buildings_metric(buildings, crs, households_column)
    b_grid = buildings[grid_column].astype(str).to_numpy()
    s_geoms = _segments_metric(segments, crs)
    s_grid = segments[grid_column].astype(str).to_numpy() if segments is not None else np.array([], dtype=object)
    by_key: dict[tuple[str, str], list[Track]] = {}
    for (code, track), week in zip(pairs, week_of, strict=True):
        by_key.setdefault((code, week), []).append(track)

    rows = []
    for code in grid_codes:
        b_mask, s_mask = b_grid == code, s_grid == code
        hh = households[b_mask]
        for week in weeks:
            tracks = by_key.get((code, week), [])
            steps, step_track, lines = _tracks_metric(tracks, crs)
            b = _building_table(b_geoms[b_mask], hh, steps, step_track, building_radius_m)
            s = _segment_table(s_geoms[s_mask], steps, lines, segment_radius_m, segment_min_share)
            hh_total = int(b["households"].sum())
            hh_covered = int(b.loc[b["covered"], "households"].sum())
            rows.append({
                "grid_code": code, "week": week, "tracks": len(tracks),
                "buildings_total": len(b), "buildings_covered": int(b["covered"].sum()),
                "households_total": hh_total, "households_covered": hh_covered,
                "household_share": _share(hh_covered, hh_total),
                "street_share": _share(float(s["covered_m"].sum()), float(s["length_m"].sum())),
                "missed": not tracks,
            })
    columns = ["grid_code", "week", "tracks", "buildings_total", "buildings_covered", "households_total",
               "households_covered", "household_share", "street_share", "missed"]
    return WeeklyCoverage(table=pd.DataFrame(rows, columns=columns), weeks=list(weeks), timezone=timezone)


def iso_week(when: dt.datetime | pd.Timestamp, *, timezone: str = DEFAULT_TIMEZONE) -> str:
    """The ISO week (``"2026-W41"``) of a tz-aware time, as seen in ``timezone``."""
    ts = pd.Timestamp(when)
    if ts.tzinfo is None:
        raise InvalidInput(f"iso_week: {when!r} has no time zone; expected a tz-aware time (patrol times are UTC)")
    year, week, _ = ts.tz_convert(zone(timezone)).isocalendar()
    return f"{year:04d}-W{week:02d}"


def iso_weeks_between(start: dt.date, end: dt.date) -> list[str]:
    """Every ISO week from the one containing ``start`` to the one containing ``end``."""
    if end < start:
        raise InvalidInput(f"iso_weeks_between: end {end} is before start {start}")
    first = start - dt.timedelta(days=start.isoweekday() - 1)
    out = []
    day = first
    while day <= end:
        year, week, _ = day.isocalendar()
        out.append(f"{year:04d}-W{week:02d}")
        day += dt.timedelta(days=7)
    return out


# --- internals ----------------------------------------------------------------------------


def _share(part: float, whole: float) -> float | None:
    return None if whole <= 0 else float(part) / float(whole)


def _check_radius(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise InvalidInput(f"{name}: a positive number of metres, got {value!r}")


def _parse_week(week: str) -> tuple[int, int]:
    m = _WEEK.match(week) if isinstance(week, str) else None
    if m is None:
        raise InvalidInput(f"week {week!r} is not an ISO week; expected e.g. 2026-W41")
    year, num = int(m.group(1)), int(m.group(2))
    try:
        dt.date.fromisocalendar(year, num, 1)
    except ValueError:
        raise InvalidInput(f"week {week!r} does not exist (year {year} has no week {num})") from None
    return year, num


def _weeks_from_to(first: str, last: str) -> list[str]:
    start = dt.date.fromisocalendar(*_parse_week(first), 1)
    end = dt.date.fromisocalendar(*_parse_week(last), 1)
    return iso_weeks_between(start, end)


def _track_list(tracks: TrackLike | Iterable[TrackLike]) -> list[TrackLike]:
    if isinstance(tracks, Track | shapely.Geometry):
        return [tracks]
    out = list(tracks)
    for i, t in enumerate(out):
        if not isinstance(t, Track | shapely.Geometry):
            raise InvalidInput(f"tracks: item {i + 1} is a {type(t).__name__}; expected a Track or a shapely geometry")
    return out


def _metric_crs(buildings: gpd.GeoDataFrame, segments: gpd.GeoDataFrame | None) -> str:
    for frame in (buildings, segments):
        if frame is not None and len(frame) and not frame.geometry.is_empty.all():
            _require_crs(frame, "buildings" if frame is buildings else "segments")
            return metric_crs_for_frame(frame)
    # Nothing to measure: any metric CRS gives zeros; this one keeps the result well-formed.
    return "EPSG:4549"


def _require_crs(frame: gpd.GeoDataFrame, what: str) -> None:
    if frame.crs is None:
        raise CRSMismatch(f"{what}: the frame has no CRS; expected EPSG:4490 or a metric CRS such as EPSG:4549")


def _buildings_metric(buildings: gpd.GeoDataFrame, crs: str, column: str) -> tuple[np.ndarray, np.ndarray, int]:
    if column not in buildings.columns:
        raise InvalidInput(f"buildings: no {column!r} column (households per building); "
                           f"columns are {list(buildings.columns)}")
    if len(buildings):
        _require_crs(buildings, "buildings")
    geoms = buildings.geometry.to_crs(crs).values if len(buildings) else np.array([], dtype=object)
    hh = pd.to_numeric(buildings[column], errors="coerce").astype("float64").to_numpy()
    unknown = int(np.isnan(hh).sum())
    if (hh[~np.isnan(hh)] < 0).any():
        row = int(np.flatnonzero(hh < 0)[0])
        raise InvalidInput(f"buildings: row {row + 1} has {hh[row]:g} households; expected 0 or more")
    return np.asarray(geoms, dtype=object), np.nan_to_num(hh, nan=0.0).astype("int64"), unknown


def _segments_metric(segments: gpd.GeoDataFrame | None, crs: str) -> np.ndarray:
    if segments is None or not len(segments):
        return np.array([], dtype=object)
    _require_crs(segments, "segments")
    return np.asarray(segments.geometry.to_crs(crs).values, dtype=object)


def _tracks_metric(tracks: Sequence[TrackLike], crs: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tracks cut into short pieces (and lone points) in ``crs``, the track of each piece, and the whole lines."""
    if not tracks:
        empty = np.array([], dtype=object)
        return empty, np.array([], dtype="int64"), empty
    geoms = np.array([t.to_lines() if isinstance(t, Track) else t for t in tracks], dtype=object)
    transformer = Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    geoms = shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    parts, part_track = shapely.get_parts(geoms, return_index=True)
    coords, coord_part = shapely.get_coordinates(parts, return_index=True)
    counts = np.bincount(coord_part, minlength=len(parts))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ids: list[np.ndarray] = []
    piece_track: list[int] = []
    lone: list[int] = []
    for p, (offset, n) in enumerate(zip(offsets, counts, strict=True)):
        if n == 1:  # a lone fix still counts: kept as a point
            lone.append(p)
            continue
        for start in range(0, n - 1, _STEPS_PER_PIECE):
            ids.append(np.arange(offset + start, offset + min(start + _STEPS_PER_PIECE, n - 1) + 1))
            piece_track.append(int(part_track[p]))
    pieces = np.array([], dtype=object)
    if ids:
        flat = np.concatenate(ids)
        which = np.repeat(np.arange(len(ids)), [len(i) for i in ids])
        pieces = np.asarray(shapely.linestrings(coords[flat], indices=which), dtype=object)
    if lone:
        pieces = np.concatenate([pieces, parts[lone]])
        piece_track += [int(part_track[p]) for p in lone]
    return pieces, np.asarray(piece_track, dtype="int64"), geoms


def _building_table(geoms: np.ndarray, households: np.ndarray, steps: np.ndarray, step_track: np.ndarray,
                    radius_m: float) -> pd.DataFrame:
    n = len(geoms)
    nearest = np.full(n, np.inf)
    track = np.full(n, -1, dtype="int64")
    if n and len(steps):
        tree = shapely.STRtree(steps)
        (src, hit), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
        nearest[src] = dist
        track[src] = step_track[hit]
    return pd.DataFrame({"covered": nearest <= radius_m, "nearest_m": nearest, "track": track,
                         "households": households})


def _segment_table(geoms: np.ndarray, steps: np.ndarray, lines: np.ndarray, radius_m: float,
                   min_share: float) -> pd.DataFrame:
    n = len(geoms)
    length = shapely.length(geoms) if n else np.array([], dtype="float64")
    covered_m = np.zeros(n)
    nearest = np.full(n, np.inf)
    if n and len(steps):
        tree = shapely.STRtree(steps)
        (src, _), dist = tree.query_nearest(geoms, return_distance=True, all_matches=False)
        nearest[src] = dist
        near = np.flatnonzero(nearest <= radius_m)
        if len(near):
            zone = shapely.union_all(shapely.buffer(lines, radius_m))
            shapely.prepare(zone)
            covered_m[near] = shapely.length(shapely.intersection(geoms[near], zone))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(length > 0, covered_m / np.where(length > 0, length, 1.0), 0.0)
    share = np.clip(share, 0.0, 1.0)
    return pd.DataFrame({"length_m": length, "covered_m": covered_m, "covered_share": share, "nearest_m": nearest,
                         "covered": share >= min_share - 1e-9})
