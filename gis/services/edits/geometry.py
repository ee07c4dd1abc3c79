"""Geometry an editor sends and the measuring an edit does: GeoJSON read and checked, areas in metres.

Input is GeoJSON (RFC 7946: longitude, latitude), taken as CGCS2000 (EPSG:4490). Overlays run in
EPSG:4490, so neighbours' shared vertices meet exactly; lengths and areas are measured in the
CGCS2000 Gauss-Krüger zone of the data (``gis.crs.metric_crs_for``). Pure: no database.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from shapely.errors import GEOSException
from shapely.geometry import LineString, MultiPolygon, Polygon, shape
from shapely.geometry.base import BaseGeometry

from gis.crs import CHINA_BOUNDS, metric_crs_for
from gis.errors import CRSMismatch, InvalidGeometry
from gis.layers import STORAGE_CRS

# Overlaps, gaps and parts smaller than this are numerical slivers, as in gis.topology.check_tiling.
SLIVER_M2 = 1.0


def parse_geometry(value: Any, *, where: str, kinds: tuple[str, ...]) -> BaseGeometry:
    """A GeoJSON geometry (or Feature) of one of ``kinds``, in lon/lat in China, valid; else an error naming why.

    ``where`` is the field the geometry came in (``geometry``, ``line``): errors start with it and carry it
    as ``details["field"]``.
    """
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidGeometry(f"{where}: expected a GeoJSON geometry object such as "
                              f'{{"type": "Polygon", "coordinates": [...]}}; received {type(value).__name__}',
                              details={"where": where, "field": where})
    if value["type"] not in kinds:
        raise InvalidGeometry(f"{where}: expected a GeoJSON {' or '.join(kinds)}; received {value['type']}",
                              details={"where": where, "received": value["type"], "expected": list(kinds),
                                       "field": where})
    try:
        geom = shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, GEOSException) as exc:
        raise InvalidGeometry(f"{where}: the {value['type']} cannot be read ({exc}); check its coordinates "
                              f"(rings need at least 4 positions, the first repeated last)",
                              details={"where": where, "field": where}) from None
    if geom.is_empty:
        raise InvalidGeometry(f"{where}: the {value['type']} is empty", details={"where": where, "field": where})
    _check_lonlat(geom, where=where)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        problem = reason.split("[", 1)[0].strip() or reason
        x, y = _reason_point(reason, geom)
        raise InvalidGeometry(f"{where} is not a valid {geom.geom_type}: {problem} near {x:.6f}, {y:.6f} "
                              f"(lon, lat); redraw the boundary there",
                              details={"where": where, "problem": problem, "location": [x, y], "field": where})
    return geom


def _check_lonlat(geom: BaseGeometry, *, where: str) -> None:
    """Coordinates must be longitude, latitude in China: catch metres and swapped axes with a clear message."""
    xy = shapely.get_coordinates(geom)
    if not np.isfinite(xy).all():
        raise InvalidGeometry(f"{where}: coordinates must be finite numbers", details={"where": where, "field": where})
    minx, miny = xy.min(axis=0)
    maxx, maxy = xy.max(axis=0)
    bounds = [float(minx), float(miny), float(maxx), float(maxy)]
    spans = f"x {minx:.6g}..{maxx:.6g}, y {miny:.6g}..{maxy:.6g}"
    c_minx, c_miny, c_maxx, c_maxy = CHINA_BOUNDS
    inside = c_minx <= minx and maxx <= c_maxx and c_miny <= miny and maxy <= c_maxy
    swapped = c_miny <= minx and maxx <= c_maxy and c_minx <= miny and maxy <= c_maxx
    if not inside and swapped:
        raise CRSMismatch(f"{where}: coordinates look like latitude, longitude swapped ({spans}: x looks like "
                          f"latitudes, y like longitudes); GeoJSON puts longitude first",
                          details={"where": where, "bounds": bounds, "field": where})
    if max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        hint = " they look like projected metres;" if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 1000 else ""
        raise CRSMismatch(f"{where}: coordinates ({spans}) are not longitude/latitude;{hint} GeoJSON is longitude, "
                          f"latitude in degrees (CGCS2000, EPSG:4490): convert the boundary before sending it",
                          details={"where": where, "bounds": bounds, "field": where})
    if not inside:
        raise CRSMismatch(f"{where}: coordinates ({spans}) lie outside China (expected longitude "
                          f"{c_minx:g}..{c_maxx:g}, latitude {c_miny:g}..{c_maxy:g}, CGCS2000)",
                          details={"where": where, "bounds": bounds, "field": where})


def _reason_point(reason: str, geom: BaseGeometry) -> tuple[float, float]:
    """The point GEOS names in ``is_valid_reason``, else the geometry's first vertex."""
    if "[" in reason and "]" in reason:
        try:
            x, y = (float(v) for v in reason.split("[", 1)[1].split("]", 1)[0].split()[:2])
            return x, y
        except ValueError:
            pass
    x, y = shapely.get_coordinates(geom)[0]
    return float(x), float(y)


class Metric:
    """Projections between lon/lat (EPSG:4490) and the metric CRS of the data, for lengths and areas."""

    def __init__(self, near: BaseGeometry) -> None:
        centre = near.centroid
        self.crs = metric_crs_for(centre.x, centre.y)
        self._forward = Transformer.from_crs(STORAGE_CRS, self.crs, always_xy=True)
        self._inverse = Transformer.from_crs(self.crs, STORAGE_CRS, always_xy=True)

    @staticmethod
    def _apply(geom: BaseGeometry, transformer: Transformer) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(geom, self._forward)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return self._apply(geom, self._inverse)

    def area(self, geom: BaseGeometry | None) -> float:
        return 0.0 if geom is None or geom.is_empty else float(self.to_metric(geom).area)


def polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """The polygonal part of an overlay result (drops the lines and points it may leave)."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(polys) if polys else MultiPolygon()


def parts(geom: BaseGeometry, metric: Metric) -> list[Polygon]:
    """The polygons of ``geom`` larger than a sliver, largest first."""
    polygons = [q for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")
                for q in shapely.get_parts(p)]
    big = [p for p in polygons if metric.area(p) >= SLIVER_M2]
    return sorted(big, key=lambda p: -metric.area(p))


def clean(geom: BaseGeometry, metric: Metric) -> MultiPolygon:
    """``geom`` as a MultiPolygon without sliver parts and pinholes (noise of overlays and reprojection)."""
    out = []
    for part in parts(geom, metric):
        holes = [ring for ring in part.interiors if metric.area(Polygon(ring)) >= SLIVER_M2]
        out.append(Polygon(part.exterior, holes))
    return MultiPolygon(out)


def lonlat_text(geom: BaseGeometry) -> str:
    p = geom if geom.geom_type == "Point" else geom.representative_point()
    return f"{p.x:.5f}, {p.y:.5f}"


def area_text(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


def extend(line: LineString, by: float) -> LineString:
    """``line`` (metric) with both ends extended by ``by`` metres along their end segments."""
    xy = np.asarray(line.coords, dtype=float)
    if len(xy) < 2:
        return line

    def beyond(end: np.ndarray, before: np.ndarray) -> np.ndarray:
        d = end - before
        n = float(np.hypot(*d))
        return end if n == 0 else end + d / n * by

    return LineString([beyond(xy[0], xy[1]), *xy[1:-1], beyond(xy[-1], xy[-2])])
