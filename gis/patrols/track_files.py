"""Track files read into raw points, before any cleaning: GPX (with the stdlib's expat) and GeoJSON.

Each reader turns a file into ``RawTrack``: longitude, latitude, time and accuracy as written, the segment and
(GPX) the line of every point, with the file's encoding, declared CRS and track name. A file that cannot be read
is an ``InvalidInput`` naming the file (``where``), and where it can, the point and line. ``gis.patrols.tracks``
cleans what these return.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.parsers import expat

import numpy as np
import pandas as pd
from pyproj import CRS

from gis.errors import CRSMismatch, InvalidInput

# Horizontal accuracy ≈ HDOP × user equivalent range error; 5 m is the usual consumer-GPS figure.
HDOP_TO_METRES = 5.0
GPX_NAMESPACES = ("http://www.topografix.com/GPX/1/1", "http://www.topografix.com/GPX/1/0")
_ACCURACY_ELEMENTS = ("accuracy", "accuracy_m", "hacc", "horizontalaccuracy")
TIME_KEYS = ("time", "timestamp", "at", "datetime", "时间")
ACCURACY_KEYS = ("accuracy_m", "accuracy", "hacc", "精度")
_TIMES_KEYS = ("coordTimes", "coord_times", "times", "timestamps")
_ACCURACIES_KEYS = ("accuracies", "accuracy_m", "accuracy")
_XML_DECL = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])([A-Za-z0-9._\-]+)\2""")


@dataclass
class RawTrack:
    """Points as read, before cleaning: lon, lat, time (raw values), accuracy_m, segment; optional line."""

    frame: pd.DataFrame
    fmt: str
    encoding: str | None = None
    crs: Any = None
    name: str | None = None


def format_of(format: str | None, suffix: str, data: bytes, where: str) -> str:
    if format is not None:
        fmt = format.strip().lower()
        if fmt not in ("gpx", "geojson"):
            raise InvalidInput(f"{where}: format {format!r} is not a track format; expected gpx or geojson")
        return fmt
    if suffix == ".gpx":
        return "gpx"
    if suffix in (".geojson", ".json"):
        return "geojson"
    head = data.lstrip(codecs.BOM_UTF8).lstrip()[:1]
    if head == b"<":
        return "gpx"
    if head in (b"{", b"["):
        return "geojson"
    raise InvalidInput(f"{where}: neither GPX (XML) nor GeoJSON; expected a .gpx or .geojson track",
                       details={"where": where})


def _python_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _decode(data: bytes, where: str, declared: str | None) -> tuple[str, str]:
    """Text and the encoding used: the declared one, else UTF-8, else GB18030 (a superset of GBK)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="strict"), "utf-8"
    if declared is not None:
        codec = _python_codec(declared)
        if codec is None:
            raise InvalidInput(f"{where}: declared encoding {declared!r} is unknown; expected e.g. UTF-8 or GBK",
                               details={"where": where})
        # GB18030 decodes everything GBK and GB2312 do, so a file labelled with the older name still reads.
        if codec in ("gbk", "gb2312"):
            codec = "gb18030"
        try:
            return data.decode(codec), declared
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise InvalidInput(f"{where}: line {line}: bytes that are not {declared} although the file declares "
                               f"{declared}; fix the declaration or re-save the file",
                               details={"where": where, "line": line}) from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        try:
            return data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            line = data[: exc.start].count(b"\n") + 1
            raise InvalidInput(f"{where}: line {line}: text is neither UTF-8 nor GBK/GB18030",
                               details={"where": where, "line": line}) from None


def _local(name: str) -> str:
    return name.rsplit(" ", 1)[-1]


def parse_gpx(data: bytes, where: str) -> RawTrack:
    match = _XML_DECL.match(data)
    text, encoding = _decode(data, where, match.group(3).decode("ascii") if match else None)
    # expat knows no multi-byte encodings but UTF-8/16: hand it UTF-8 and say so in the declaration.
    utf8 = text.encode("utf-8")
    if match:
        utf8 = _XML_DECL.sub(rb"\1\2UTF-8\2", utf8, count=1)

    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[str] = []
    text_parts: list[str] = []
    points: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    state: dict[str, Any] = {"segment": -1, "root": None, "name": None, "rtept": 0, "wpt": 0}

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal current
        local = _local(tag)
        if state["root"] is None:
            state["root"] = local
            if local != "gpx":
                raise _GpxStop(f"the root element is <{local}>; expected <gpx>")
        if local == "trkseg":
            state["segment"] += 1
        elif local == "trkpt":
            if state["segment"] < 0:
                state["segment"] = 0
            current = {"lat": attrs.get("lat"), "lon": attrs.get("lon"), "time": None, "accuracy_m": None,
                       "hdop": None, "segment": state["segment"], "line": parser.CurrentLineNumber}
        elif local in ("rtept", "wpt"):
            state[local] += 1
        stack.append(local)
        text_parts.clear()

    def end(tag: str) -> None:
        nonlocal current
        local = stack.pop()
        value = "".join(text_parts).strip()
        text_parts.clear()
        if current is not None:
            if local == "trkpt":
                points.append(current)
                current = None
            elif local == "time" and stack and stack[-1] == "trkpt":
                current["time"] = value
            elif local == "hdop" and stack and stack[-1] == "trkpt":
                current["hdop"] = value
            elif local.lower() in _ACCURACY_ELEMENTS and "extensions" in stack:
                current["accuracy_m"] = value
        elif local == "name" and stack and stack[-1] == "trk" and state["name"] is None:
            state["name"] = value or None

    def chars(content: str) -> None:
        text_parts.append(content)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(utf8, True)
    except expat.ExpatError as exc:
        raise InvalidInput(
            f"{where}: not well-formed XML at line {exc.lineno}, column {exc.offset + 1}: "
            f"{expat.ErrorString(exc.code)} (a truncated or damaged GPX file?)",
            details={"where": where, "line": exc.lineno, "column": exc.offset + 1}) from None
    except _GpxStop as exc:
        raise InvalidInput(f"{where}: {exc}", details={"where": where}) from None
    if not points:
        found = ", ".join(f"{state[k]} <{k}>" for k in ("rtept", "wpt") if state[k])
        hint = f"; found {found}, which are planned points without a walked track" if found else ""
        raise InvalidInput(f"{where}: no track points (<trkpt>) in the GPX file{hint}", details={"where": where})

    frame = pd.DataFrame(points)
    for i, row in enumerate(points):
        if row["accuracy_m"] is None and row["hdop"] is not None:
            hdop = read_number(row["hdop"], where, i, "hdop", line=row["line"])
            frame.at[i, "accuracy_m"] = None if hdop is None else hdop * HDOP_TO_METRES
    return RawTrack(frame.drop(columns="hdop"), fmt="gpx", encoding=encoding, crs=None, name=state["name"])


class _GpxStop(Exception):
    """Raised inside expat handlers to stop parsing a file that is XML but not GPX."""


def first_key(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return None


def parse_geojson(data: bytes, where: str) -> RawTrack:
    text, encoding = _decode(data, where, None)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg} "
                           "(a truncated or damaged file?)",
                           details={"where": where, "line": exc.lineno, "column": exc.colno}) from None
    if not isinstance(obj, dict) or "type" not in obj:
        raise InvalidInput(f"{where}: not a GeoJSON object (no \"type\" member)", details={"where": where})
    crs = _geojson_crs(obj, where)
    kind = obj["type"]
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list) or not features:
            raise InvalidInput(f"{where}: the FeatureCollection has no features; expected a track",
                               details={"where": where})
    elif kind == "Feature":
        features = [obj]
    elif kind in ("LineString", "MultiLineString", "Point", "MultiPoint"):
        features = [{"type": "Feature", "geometry": obj, "properties": {}}]
    else:
        raise InvalidInput(f"{where}: GeoJSON type {kind!r} is not a track; expected a LineString Feature with "
                           "coordTimes or a FeatureCollection of timed Points", details={"where": where})

    rows: list[dict[str, Any]] = []
    name = None
    segment = 0
    for f_no, feature in enumerate(features, start=1):
        geom = feature.get("geometry") if isinstance(feature, dict) else None
        props = (feature.get("properties") or {}) if isinstance(feature, dict) else {}
        if not isinstance(geom, dict) or not isinstance(props, dict):
            raise InvalidInput(f"{where}: feature {f_no} has no geometry or malformed properties",
                               details={"where": where, "feature": f_no})
        name = name or (props.get("name") if isinstance(props.get("name"), str) else None)
        gtype, coords = geom.get("type"), geom.get("coordinates")
        if gtype == "Point":
            seg = props.get("segment", 0)
            rows.append(_coord_row(coords, first_key(props, TIME_KEYS), first_key(props, ACCURACY_KEYS),
                                   seg if isinstance(seg, int) else 0, where, f"feature {f_no}"))
        elif gtype in ("LineString", "MultiLineString"):
            lines = [coords] if gtype == "LineString" else coords
            times = first_key(props, _TIMES_KEYS)
            accs = first_key(props, _ACCURACIES_KEYS)
            if gtype == "LineString":
                times = [times] if times is not None else None
                accs = [accs] if isinstance(accs, list) else None
            if not isinstance(lines, list):
                raise InvalidInput(f"{where}: feature {f_no}: coordinates are not a list", details={"where": where})
            for part_no, line in enumerate(lines):
                part_times = _part(times, part_no, len(line), where, f"feature {f_no}", "times")
                part_accs = _part(accs, part_no, len(line), where, f"feature {f_no}", "accuracies")
                for k, xy in enumerate(line):
                    rows.append(_coord_row(xy, part_times[k], part_accs[k], segment, where,
                                           f"feature {f_no}, vertex {k + 1}"))
                segment += 1
        else:
            raise InvalidInput(f"{where}: feature {f_no} is a {gtype}; expected Point, LineString or MultiLineString",
                               details={"where": where, "feature": f_no})
    frame = pd.DataFrame(rows, columns=["lon", "lat", "time", "accuracy_m", "segment"])
    return RawTrack(frame, fmt="geojson", encoding=encoding, crs=crs, name=name)


def _part(values: Any, part_no: int, n: int, where: str, what: str, key: str) -> list[Any]:
    """The per-vertex values of one line part (``None``s when absent); a length mismatch is an error."""
    if values is None:
        return [None] * n
    if not isinstance(values, list) or part_no >= len(values) or not isinstance(values[part_no], list):
        raise InvalidInput(f"{where}: {what}: {key} must be a list per line part", details={"where": where})
    part = values[part_no]
    if len(part) != n:
        raise InvalidInput(f"{where}: {what}: {n} coordinates but {len(part)} {key}; expected one per coordinate",
                           details={"where": where})
    return part


def _coord_row(xy: Any, time: Any, acc: Any, segment: int, where: str, what: str) -> dict[str, Any]:
    if not isinstance(xy, list | tuple) or len(xy) < 2:
        raise InvalidInput(f"{where}: {what}: coordinates {xy!r} are not a position [lon, lat]",
                           details={"where": where})
    return {"lon": xy[0], "lat": xy[1], "time": time, "accuracy_m": acc, "segment": segment}


def _geojson_crs(obj: dict[str, Any], where: str) -> Any:
    """The legacy ``crs`` member's CRS (GeoJSON 2008), or None (RFC 7946: lon/lat)."""
    member = obj.get("crs")
    if not member:
        return None
    label = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    try:
        return CRS.from_user_input(label)
    except Exception:  # pyproj raises CRSError with a long PROJ text
        raise CRSMismatch(f"{where}: the crs member {member!r} names no CRS pyproj knows; "
                          "expected e.g. urn:ogc:def:crs:OGC:1.3:CRS84 or EPSG:4490",
                          details={"where": where}) from None



def read_number(value: Any, where: str, i: int, what: str, *, line: Any = None) -> float | None:
    if value is None or value is pd.NA or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):  # a missing cell in a frame
        return None
    if isinstance(value, bool):
        value = None
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise InvalidInput(f"{where}: point {i + 1}{at_line(line)}: {what} {value!r} is not a number",
                           details={"where": where, "point": i + 1, "line": line_number(line)})
    return out


def at_line(line: Any) -> str:
    return "" if line_number(line) is None else f" (line {int(line)})"


def line_number(line: Any) -> int | None:
    return None if line is None or (isinstance(line, float) and math.isnan(line)) else int(line)

