"""Patrol tracks from GPX, GeoJSON or a list of points: read, check the CRS, clean, measure.

Every reader ends in the same cleaning, and every point it drops is named in the report
(``TrackReport``), by its number in file order counting from 1, with the reason:

* ``no_time``: the point has no timestamp (a track with none at all is an error instead);
* ``implausible_time``: before 2000-01-01 UTC, as GPS units without a fix write (1970, 1980);
* ``duplicate_time``: a second point at the same instant (the first in file order is kept);
* ``poor_accuracy``: a horizontal accuracy worse than ``max_accuracy_m``;
* ``teleport``: reaching it implies a speed above ``max_speed_mps`` (see ``_drop_teleports``).

Points listed out of time order are sorted, and the report names those that came too late.
Times are tz-aware UTC; a time without an offset is read in ``assume_timezone`` (UTC, as GPX
requires, unless the caller knows the device wrote local time), and the report says so.

Coordinates go through ``gis.crs.to_storage_crs`` taken as CGCS2000 lon/lat, so projected
metres, swapped lat/lon and points outside China are refused with ``CRSMismatch``;
``source_crs="gcj02"`` (AMap, Tencent exports) or ``"bd09"`` converts such tracks.
GPX is read with the stdlib's expat: a truncated or malformed file is an ``InvalidInput``
naming the file, line and column. Accuracy in GPX comes from an ``accuracy`` extension
element in metres when present, else ``hdop`` × ``HDOP_TO_METRES``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod, Transformer

from gis.crs import check_in_china, metric_crs_for, to_storage_crs
from gis.errors import InvalidInput
from gis.layers import STORAGE_CRS
from gis.patrols.track_files import (
    ACCURACY_KEYS,
    GPX_NAMESPACES,
    HDOP_TO_METRES,
    TIME_KEYS,
    RawTrack,
    at_line,
    first_key,
    format_of,
    line_number,
    parse_geojson,
    parse_gpx,
    read_number,
)
from gis.periods import zone

__all__ = [
    "DEFAULT_MAX_ACCURACY_M",
    "DEFAULT_MAX_SPEED_MPS",
    "HDOP_TO_METRES",
    "REASONS",
    "Removal",
    "Track",
    "TrackReport",
    "read_track",
    "to_gpx",
    "track_from_points",
]

# Walking or cycling a grid never exceeds this (m/s, ~25 km/h); faster jumps are GPS glitches.
DEFAULT_MAX_SPEED_MPS = 7.0
# Fixes reported worse than this (metres) cannot tell which side of a street a worker walked.
DEFAULT_MAX_ACCURACY_M = 50.0
# Earlier times are a device without a fix (Unix or GPS epoch), not a patrol.
EARLIEST_TIME = pd.Timestamp("2000-01-01T00:00:00Z")

REASONS = {
    "no_time": "no timestamp",
    "implausible_time": "timestamp before 2000-01-01 (a device without a GPS fix)",
    "duplicate_time": "same timestamp as an earlier point",
    "poor_accuracy": "horizontal accuracy worse than {max_accuracy_m:g} m",
    "teleport": "reaching it implies more than {max_speed_mps:g} m/s",
}

# CGCS2000 uses the GRS80 ellipsoid; WGS84 differs from it by a tenth of a millimetre in b.
_GEOD = Geod(ellps="GRS80")
# Epoch numbers above this are milliseconds (1e11 s is the year 5138).
_EPOCH_MS_FROM = 1e11
_MIN_POINTS = 2


# --- the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Removal:
    """Points dropped for one reason, by number in file order (from 1), with a one-line message."""

    reason: str
    points: tuple[int, ...]
    message: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"reason": self.reason, "points": list(self.points), "message": self.message}


@dataclass
class TrackReport:
    """What reading and cleaning a track did: counts, reordering, every dropped point and why."""

    source: str
    format: str
    input_points: int
    kept_points: int = 0
    encoding: str | None = None
    reordered: tuple[int, ...] = ()
    removals: list[Removal] = field(default_factory=list)
    converted_from: str | None = None
    assumed_timezone: str | None = None
    max_speed_mps: float = DEFAULT_MAX_SPEED_MPS
    max_accuracy_m: float | None = DEFAULT_MAX_ACCURACY_M

    def removed(self, reason: str) -> tuple[int, ...]:
        """Numbers of the points dropped for ``reason`` (one of ``REASONS``)."""
        if reason not in REASONS:
            raise InvalidInput(f"TrackReport.removed: unknown reason {reason!r}; expected one of {sorted(REASONS)}")
        return tuple(p for r in self.removals if r.reason == reason for p in r.points)

    @property
    def removed_count(self) -> int:
        """How many points were dropped, all reasons together."""
        return sum(len(r.points) for r in self.removals)

    @property
    def messages(self) -> list[str]:
        """One line per thing the cleaning did, for showing to the uploader."""
        lines = []
        if self.converted_from:
            lines.append(f"coordinates converted from {self.converted_from.upper()} to CGCS2000")
        if self.assumed_timezone:
            lines.append(f"times without a UTC offset were read as {self.assumed_timezone}")
        if self.reordered:
            lines.append(f"{len(self.reordered)} point(s) out of time order were sorted "
                         f"(points {_number_list(self.reordered)})")
        lines.extend(r.message for r in self.removals)
        return lines

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the upload response and the patrol record)."""
        return {
            "source": self.source, "format": self.format, "encoding": self.encoding,
            "input_points": self.input_points, "kept_points": self.kept_points,
            "removed_points": self.removed_count, "reordered": list(self.reordered),
            "removals": [r.to_dict() for r in self.removals], "converted_from": self.converted_from,
            "assumed_timezone": self.assumed_timezone, "max_speed_mps": self.max_speed_mps,
            "max_accuracy_m": self.max_accuracy_m, "messages": self.messages,
        }


@dataclass
class Track:
    """A cleaned patrol track in time order.

    ``points`` has ``lon``, ``lat`` (EPSG:4490), ``time`` (datetime64, UTC), ``accuracy_m``
    (NaN when unknown), ``segment`` (GPX track segment, 0 elsewhere unless given) and ``point``
    (the number in file order, from 1, as the report uses).
    """

    points: pd.DataFrame
    report: TrackReport
    name: str | None = None

    @property
    def point_count(self) -> int:
        """Number of points kept."""
        return len(self.points)

    @property
    def started_at(self) -> dt.datetime:
        """Time of the first point, tz-aware UTC."""
        return self.points["time"].iloc[0].to_pydatetime()

    @property
    def ended_at(self) -> dt.datetime:
        """Time of the last point, tz-aware UTC."""
        return self.points["time"].iloc[-1].to_pydatetime()

    @property
    def duration(self) -> dt.timedelta:
        """Time from the first to the last point."""
        return self.ended_at - self.started_at

    @cached_property
    def length_m(self) -> float:
        """Length on the ellipsoid in metres, summed within segments (a gap between segments is not walked)."""
        pts = self.points
        if len(pts) < 2:
            return 0.0
        lon, lat = pts["lon"].to_numpy(), pts["lat"].to_numpy()
        _, _, dist = _GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
        same = np.diff(self._runs()) == 0
        return float(np.sum(np.asarray(dist)[same]))

    def _runs(self) -> np.ndarray:
        """A run number per point: it changes where the segment changes in time order."""
        seg = self.points["segment"].to_numpy()
        return np.concatenate([[0], np.cumsum(seg[1:] != seg[:-1])])

    def to_linestring(self) -> shapely.LineString:
        """All points in time order as one LineString in EPSG:4490 (what the patrol table stores)."""
        return shapely.linestrings(self.points[["lon", "lat"]].to_numpy())

    def to_lines(self) -> shapely.MultiLineString | shapely.LineString | shapely.Point:
        """The walked lines, one per segment (a one-point segment is skipped unless it is all there is)."""
        parts = []
        for _, seg in self.points.groupby(self._runs(), sort=True):
            if len(seg) >= 2:
                parts.append(shapely.linestrings(seg[["lon", "lat"]].to_numpy()))
        if not parts:
            return shapely.points(self.points[["lon", "lat"]].to_numpy()[0])
        return parts[0] if len(parts) == 1 else shapely.multilinestrings(parts)

    def to_feature(self) -> dict[str, Any]:
        """A GeoJSON Feature: LineString (lon/lat) with ``coordTimes`` (ISO 8601, UTC) and ``accuracies``."""
        coords = [[round(x, 7), round(y, 7)] for x, y in self.points[["lon", "lat"]].to_numpy()]
        acc = [None if math.isnan(a) else round(float(a), 1) for a in self.points["accuracy_m"]]
        return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {"name": self.name, "coordTimes": [_iso_utc(t) for t in self.points["time"]],
                               "accuracies": acc, "length_m": round(self.length_m, 1)}}


# --- public readers -----------------------------------------------------------------------


def read_track(
    source: str | Path | bytes,
    *,
    format: str | None = None,
    name: str | None = None,
    source_crs: str | None = None,
    max_speed_mps: float = DEFAULT_MAX_SPEED_MPS,
    max_accuracy_m: float | None = DEFAULT_MAX_ACCURACY_M,
    assume_timezone: str = "UTC",
) -> Track:
    """Read a GPX or GeoJSON track (a path or the file's bytes) and clean it; see the module docstring.

    Parameters
    ----------
    source
        A file path, or the file's content as bytes (an upload).
    format
        ``"gpx"`` or ``"geojson"``; by default from the suffix, else sniffed from the content.
    name
        Names the data in messages and the report (default: the file name, or ``"upload"``).
    source_crs
        ``"gcj02"`` / ``"bd09"`` for obfuscated lon/lat, or a CRS pyproj knows; GPX is lon/lat
        by definition and GeoJSON too unless it carries a ``crs`` member.
    max_speed_mps, max_accuracy_m
        Cleaning thresholds; ``max_accuracy_m=None`` keeps every point whatever its accuracy.
    assume_timezone
        Zone for times written without an offset (e.g. ``"Asia/Shanghai"`` for devices writing local time).
    """
    if isinstance(source, bytes | bytearray):
        data, where = bytes(source), name or "upload"
        suffix = ""
    else:
        path = Path(source)
        where = name or path.name
        suffix = path.suffix.lower()
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InvalidInput(f"{where}: no such file ({path})", details={"where": where}) from None
        except OSError as exc:
            raise InvalidInput(f"{where}: cannot read the file ({exc.strerror})", details={"where": where}) from None
    fmt = format_of(format, suffix, data, where)
    raw = parse_gpx(data, where) if fmt == "gpx" else parse_geojson(data, where)
    return _clean(raw, where=where, source_crs=source_crs, max_speed_mps=max_speed_mps,
                  max_accuracy_m=max_accuracy_m, assume_timezone=assume_timezone)


def track_from_points(
    points: Iterable[Any] | pd.DataFrame,
    *,
    name: str | None = None,
    where: str = "points",
    source_crs: str | None = None,
    max_speed_mps: float = DEFAULT_MAX_SPEED_MPS,
    max_accuracy_m: float | None = DEFAULT_MAX_ACCURACY_M,
    assume_timezone: str = "UTC",
) -> Track:
    """Clean a track given as points: ``(lon, lat, time[, accuracy_m])`` tuples, mappings or a frame.

    Mappings and frames use the keys ``lon``, ``lat``, ``time`` and optionally ``accuracy_m``
    (or ``accuracy``) and ``segment``; times are datetimes, ISO 8601 strings or epoch numbers.
    """
    rows: list[dict[str, Any]] = []
    records = points.to_dict("records") if isinstance(points, pd.DataFrame) else points
    for i, p in enumerate(records):
        if isinstance(p, Mapping):
            rows.append({"lon": p.get("lon"), "lat": p.get("lat"), "time": first_key(p, TIME_KEYS),
                         "accuracy_m": first_key(p, ACCURACY_KEYS), "segment": p.get("segment", 0)})
        else:
            values = tuple(p)
            if len(values) not in (3, 4):
                raise InvalidInput(f"{where}: point {i + 1} has {len(values)} values; "
                                   "expected (lon, lat, time) or (lon, lat, time, accuracy_m)",
                                   details={"where": where, "point": i + 1})
            rows.append({"lon": values[0], "lat": values[1], "time": values[2],
                         "accuracy_m": values[3] if len(values) == 4 else None, "segment": 0})
    raw = RawTrack(pd.DataFrame(rows, columns=["lon", "lat", "time", "accuracy_m", "segment"]), fmt="points")
    raw.name = name
    return _clean(raw, where=where, source_crs=source_crs, max_speed_mps=max_speed_mps,
                  max_accuracy_m=max_accuracy_m, assume_timezone=assume_timezone)


def to_gpx(track: Track, *, creator: str = "wangge") -> str:
    """The track as GPX 1.1 text (UTC times, accuracy in a ``urn:wangge:gpx:1`` extension); reads back unchanged."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<gpx version="1.1" creator={quoteattr(creator)} xmlns="{GPX_NAMESPACES[0]}" '
           'xmlns:wg="urn:wangge:gpx:1">', "  <trk>"]
    if track.name:
        out.append(f"    <name>{escape(track.name)}</name>")
    for _, seg in track.points.groupby(track._runs(), sort=True):
        out.append("    <trkseg>")
        for lon, lat, time, acc in seg[["lon", "lat", "time", "accuracy_m"]].itertuples(index=False):
            ext = "" if math.isnan(acc) else f"<extensions><wg:accuracy>{acc:.1f}</wg:accuracy></extensions>"
            out.append(f'      <trkpt lat="{lat:.7f}" lon="{lon:.7f}"><time>{_iso_utc(time)}</time>{ext}</trkpt>')
        out.append("    </trkseg>")
    out += ["  </trk>", "</gpx>", ""]
    return "\n".join(out)


# --- cleaning -----------------------------------------------------------------------------


def _parse_time(value: Any, tz: dt.tzinfo, where: str, i: int, line: Any) -> tuple[pd.Timestamp, bool]:
    """One time as a UTC Timestamp (NaT when missing) and whether it had no offset."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return pd.NaT, False
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return pd.NaT, False
        if re.fullmatch(r"\d+(\.\d+)?", s):
            value = float(s)
        else:
            try:
                value = dt.datetime.fromisoformat(s)
            except ValueError:
                raise InvalidInput(f"{where}: point {i + 1}{at_line(line)}: time {s!r} is not ISO 8601; "
                                   "expected e.g. 2026-10-05T08:30:00Z",
                                   details={"where": where, "point": i + 1, "line": line_number(line)}) from None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        seconds = float(value) / 1000.0 if float(value) >= _EPOCH_MS_FROM else float(value)
        return pd.Timestamp(seconds, unit="s", tz="UTC"), False
    if isinstance(value, dt.datetime | pd.Timestamp | np.datetime64):
        ts = pd.Timestamp(value)
        if ts.tzinfo is None:
            return ts.tz_localize(tz).tz_convert("UTC"), True
        return ts.tz_convert("UTC"), False
    raise InvalidInput(f"{where}: point {i + 1}{at_line(line)}: time {value!r} is neither a datetime, "
                       "an ISO 8601 string nor epoch seconds",
                       details={"where": where, "point": i + 1, "line": line_number(line)})


def _check_thresholds(max_speed_mps: float, max_accuracy_m: float | None) -> None:
    if not (isinstance(max_speed_mps, int | float) and math.isfinite(max_speed_mps) and max_speed_mps > 0):
        raise InvalidInput(f"max_speed_mps: a positive number of metres per second, got {max_speed_mps!r}")
    if max_accuracy_m is not None and not (isinstance(max_accuracy_m, int | float) and max_accuracy_m > 0):
        raise InvalidInput(f"max_accuracy_m: a positive number of metres or None, got {max_accuracy_m!r}")


def _number_list(points: Iterable[int], limit: int = 20) -> str:
    pts = list(points)
    text = ", ".join(str(p) for p in pts[:limit])
    return text + (f", … ({len(pts) - limit} more)" if len(pts) > limit else "")


def _columns(frame: pd.DataFrame, where: str,
             tz: dt.tzinfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DatetimeIndex, bool]:
    """Longitude, latitude, accuracy and UTC time of every point as read; and whether a time had no offset."""
    n = len(frame)
    lines = frame["line"].to_numpy() if "line" in frame else [None] * n
    lon = np.array([read_number(v, where, i, "longitude", line=lines[i]) for i, v in enumerate(frame["lon"])],
                   dtype="float64")
    lat = np.array([read_number(v, where, i, "latitude", line=lines[i]) for i, v in enumerate(frame["lat"])],
                   dtype="float64")
    missing = np.flatnonzero(np.isnan(lon) | np.isnan(lat))
    if len(missing):
        i = int(missing[0])
        raise InvalidInput(f"{where}: point {i + 1}{at_line(lines[i])} has no longitude/latitude",
                           details={"where": where, "point": i + 1, "line": line_number(lines[i])})
    acc = np.array([np.nan if (a := read_number(v, where, i, "accuracy", line=lines[i])) is None else a
                    for i, v in enumerate(frame["accuracy_m"])], dtype="float64")
    parsed = [_parse_time(v, tz, where, i, lines[i]) for i, v in enumerate(frame["time"])]
    # Nanoseconds explicitly: pandas 3 infers the unit, and the speed arithmetic below needs one.
    times = pd.DatetimeIndex([p[0] for p in parsed], tz="UTC").as_unit("ns")
    return lon, lat, acc, times, any(p[1] for p in parsed)


def _clean(raw: RawTrack, *, where: str, source_crs: str | None, max_speed_mps: float, max_accuracy_m: float | None,
           assume_timezone: str) -> Track:
    _check_thresholds(max_speed_mps, max_accuracy_m)
    tz = zone(assume_timezone, field="assume_timezone")
    frame = raw.frame.reset_index(drop=True)
    n = len(frame)
    report = TrackReport(source=where, format=raw.fmt, input_points=n, encoding=raw.encoding,
                         max_speed_mps=float(max_speed_mps),
                         max_accuracy_m=None if max_accuracy_m is None else float(max_accuracy_m))
    if n == 0:
        raise InvalidInput(f"{where}: the track has no points", details={"where": where})
    lon, lat, acc, times, assumed = _columns(frame, where, tz)
    if assumed:
        report.assumed_timezone = assume_timezone
    segment = pd.to_numeric(frame["segment"], errors="coerce").fillna(0).astype("int64").to_numpy()

    if times.isna().all():
        raise InvalidInput(
            f"{where}: the track has no timestamps ({n} points, none with a time); a patrol track needs a time "
            "per point: export it with times (GPX <time>, GeoJSON coordTimes or a time property per Point)",
            details={"where": where, "points": n})

    lon, lat, converted = _to_storage(lon, lat, where=where, declared=raw.crs, source_crs=source_crs)
    report.converted_from = converted

    number = np.arange(1, n + 1)
    keep = np.ones(n, dtype=bool)

    def drop(mask: np.ndarray, reason: str) -> None:
        hit = mask & keep
        if hit.any():
            pts = tuple(int(p) for p in np.sort(number[hit]))
            text = REASONS[reason].format(max_speed_mps=max_speed_mps, max_accuracy_m=max_accuracy_m or 0)
            report.removals.append(Removal(reason, pts, f"{len(pts)} point(s) dropped: {text} "
                                                        f"(points {_number_list(pts)})"))
            keep[hit] = False

    t_ns = times.asi8.copy()  # NaT is the minimum int64
    drop(times.isna(), "no_time")
    drop(~times.isna() & (times < EARLIEST_TIME), "implausible_time")

    # Accuracy before duplicates: of two fixes at one instant, a good one should win over a poor one.
    if max_accuracy_m is not None:
        drop(~np.isnan(acc) & (acc > max_accuracy_m), "poor_accuracy")
    # Points listed after a later one are "out of order"; a stable sort keeps file order among equals.
    valid = np.flatnonzero(keep)
    if len(valid):
        running_max = np.maximum.accumulate(t_ns[valid])
        late = valid[1:][t_ns[valid][1:] < running_max[:-1]]
        report.reordered = tuple(int(p) for p in number[late])
    order = valid[np.argsort(t_ns[valid], kind="stable")]
    dup = np.zeros(n, dtype=bool)
    dup[order[1:][np.diff(t_ns[order]) == 0]] = True
    drop(dup, "duplicate_time")
    order = order[keep[order]]
    if len(order) >= 2:
        teleports = _drop_teleports(lon[order], lat[order], t_ns[order], max_speed_mps)
        bad = np.zeros(n, dtype=bool)
        bad[order[teleports]] = True
        drop(bad, "teleport")
        order = order[keep[order]]

    report.kept_points = len(order)
    if len(order) < _MIN_POINTS:
        raise InvalidInput(
            f"{where}: only {len(order)} usable point(s) of {n} after cleaning; a track needs at least {_MIN_POINTS}"
            + (f" ({'; '.join(report.messages)})" if report.messages else ""),
            details={"where": where, "report": report.to_dict()})
    points = pd.DataFrame({
        "lon": lon[order], "lat": lat[order], "time": times[order], "accuracy_m": acc[order],
        "segment": segment[order], "point": number[order],
    })
    return Track(points=points, report=report, name=raw.name)


def _to_storage(lon: np.ndarray, lat: np.ndarray, *, where: str, declared: Any,
                source_crs: str | None) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Lon/lat in EPSG:4490 via gis.crs (CRS checks included) and the obfuscated system converted, if any."""
    # GPX and RFC 7946 GeoJSON are WGS84 lon/lat, which Wangge takes as CGCS2000; labelling them so
    # makes gis.crs check for swapped axes and points outside China as it does for Chinese CRSs.
    crs = declared if declared is not None else STORAGE_CRS
    frame = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=crs)
    out = to_storage_crs(frame, source_crs, where=where)
    if declared is not None and not CRS.from_user_input(declared).equals(CRS.from_user_input(STORAGE_CRS)):
        check_in_china(out, where=where)
    xy = shapely.get_coordinates(out.geometry.values)
    system = source_crs.strip().lower().replace("-", "").replace("_", "") if source_crs else None
    return xy[:, 0].copy(), xy[:, 1].copy(), system if system in ("gcj02", "bd09") else None


def _drop_teleports(lon: np.ndarray, lat: np.ndarray, t_ns: np.ndarray, max_speed_mps: float) -> np.ndarray:
    """Positions (in the given time-sorted arrays) of points that cannot be reached at ``max_speed_mps``.

    The track is cut wherever one step is too fast; the longest piece is trusted (a GPS glitch
    is a few points, the walk is most of them), and the track is extended from it forwards and
    backwards, keeping each next point reachable from the last kept one. So a burst of glitches
    of any length shorter than the trusted piece goes, and the walk after it stays.
    """
    transformer = Transformer.from_crs(STORAGE_CRS, metric_crs_for(float(np.median(lon)), float(np.median(lat))),
                                       always_xy=True)
    x, y = transformer.transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    t = t_ns.astype("float64") / 1e9
    n = len(x)

    def fast(i: int, j: int) -> bool:
        return math.hypot(x[j] - x[i], y[j] - y[i]) > max_speed_mps * abs(t[j] - t[i])

    step_fast = np.hypot(np.diff(x), np.diff(y)) > max_speed_mps * np.diff(t)
    starts = np.concatenate([[0], np.flatnonzero(step_fast) + 1])
    ends = np.concatenate([starts[1:], [n]])
    best = int(np.argmax(ends - starts))  # argmax takes the earliest of equally long pieces
    first, last = int(starts[best]), int(ends[best]) - 1
    keep = np.zeros(n, dtype=bool)
    keep[first:last + 1] = True
    anchor = last
    for j in range(last + 1, n):
        if not fast(anchor, j):
            keep[j] = True
            anchor = j
    anchor = first
    for j in range(first - 1, -1, -1):
        if not fast(j, anchor):
            keep[j] = True
            anchor = j
    return np.flatnonzero(~keep)


def _iso_utc(ts: pd.Timestamp) -> str:
    text = ts.tz_convert("UTC").isoformat()
    return text.replace("+00:00", "Z")
