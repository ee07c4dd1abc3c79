"""Coordinate systems: the Chinese map offsets (GCJ-02, BD-09), the storage CRS and metric CRSs.

AMap/Tencent publish GCJ-02 and Baidu BD-09 coordinates: WGS84 shifted by an
obfuscation of up to several hundred metres. The forward formulas are public; the
inverses here are iterated until the round trip is exact to well under a millimetre,
so converted boundaries land where they belong (domain.md §7). CGCS2000 (EPSG:4490)
and WGS84 (EPSG:4326) differ by centimetres, so WGS84 is relabelled, not transformed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from gis.errors import CRSMismatch, InvalidInput
from gis.layers import STORAGE_CRS

__all__ = [
    "CHINA_BOUNDS",
    "OBFUSCATED_SYSTEMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_in_china",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "is_china_crs",
    "metric_crs_for",
    "metric_crs_for_frame",
    "to_storage_crs",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

# (min lon, min lat, max lon, max lat): China's rough extent, used for sanity checks.
CHINA_BOUNDS = (73.0, 3.0, 136.0, 54.0)
# The region in which the GCJ-02 offset is applied (the widely used public constants);
# a little wider than CHINA_BOUNDS so border areas are shifted like the map providers do.
_GCJ_BOUNDS = (72.004, 0.8293, 137.8347, 55.8271)

OBFUSCATED_SYSTEMS = ("gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

# Iterated inverses stop when the forward image is this close to the target (degrees,
# ~1e-6 m) or after _MAX_ITER steps; the obfuscation's Jacobian is close to identity, so
# fixed-point iteration gains several digits per step and ends in 3 to 6 steps.
_TOL_DEG = 1e-11
_MAX_ITER = 30

# CGCS2000 3-degree Gauss-Krüger CRSs with the central meridian in the name (no zone
# prefix in the easting): EPSG:4534 is CM 75E, ..., EPSG:4554 is CM 135E.
_GK3_FIRST_EPSG = 4534
_GK3_FIRST_CM = 75
_GK3_LAST_CM = 135
# CGCS2000 itself and all its Gauss-Krüger projections (6-degree 4491-4512, 3-degree
# 4513-4554): data labelled with these must lie in China.
_CHINA_EPSG = frozenset({4490, *range(4491, 4555)})


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    if x.shape != y.shape:
        raise InvalidInput(f"lon and lat must have the same shape; got lon {x.shape} and lat {y.shape}")
    return x, y, x.ndim == 0


def _out(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(x), float(y)
    return x, y


def _in_gcj_region(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    minx, miny, maxx, maxy = _GCJ_BOUNDS
    return (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    inside = _in_gcj_region(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]], lon: np.ndarray,
            lat: np.ndarray, start: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x, y) == (lon, lat) by fixed-point iteration from ``start``."""
    x, y = start
    for _ in range(_MAX_ITER):
        fx, fy = forward(x, y)
        dx, dy = lon - fx, lat - fy
        x, y = x + dx, y + dy
        # NaN inputs never converge; they must not keep the loop running.
        if np.all(~np.isfinite(dx) | (np.abs(dx) < _TOL_DEG)) and np.all(~np.isfinite(dy) | (np.abs(dy) < _TOL_DEG)):
            break
    return x, y


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Shift WGS84 lon/lat into GCJ-02 (AMap, Tencent); points outside China are unchanged."""
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_gcj_forward(x, y), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat back to WGS84, iterated to sub-millimetre accuracy."""
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_invert(_gcj_forward, x, y, (x, y)), scalar)


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Shift GCJ-02 lon/lat into BD-09 (Baidu)."""
    x, y, scalar = _as_arrays(lon, lat)
    return _out(*_bd_forward(x, y), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat back to GCJ-02, iterated to sub-millimetre accuracy."""
    x, y, scalar = _as_arrays(lon, lat)
    # The usual closed-form approximation is within ~1 m; iteration removes the rest.
    x0, y0 = x - 0.0065, y - 0.006
    z = np.sqrt(x0 * x0 + y0 * y0) - 0.00002 * np.sin(y0 * _X_PI)
    theta = np.arctan2(y0, x0) - 0.000003 * np.cos(x0 * _X_PI)
    start = (z * np.cos(theta), z * np.sin(theta))
    return _out(*_invert(_bd_forward, x, y, start), scalar)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Shift WGS84 lon/lat into BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat back to WGS84 (via GCJ-02)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def _normalise_system(source_crs: str) -> str | None:
    """'GCJ-02', 'gcj_02', 'BD09' ... -> 'gcj02' / 'bd09'; anything else -> None."""
    key = source_crs.strip().lower().replace("-", "").replace("_", "")
    return key if key in _TO_WGS84 else None


def is_china_crs(crs: Any) -> bool:
    """Whether ``crs`` is CGCS2000 or one of its Gauss-Krüger projections (EPSG:4490-4554)."""
    if crs is None:
        return False
    epsg = CRS.from_user_input(crs).to_epsg()
    return epsg in _CHINA_EPSG


def _crs_label(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.name


def _bounds_text(bounds: np.ndarray | None) -> str:
    if bounds is None:
        return "no coordinates"
    minx, miny, maxx, maxy = bounds
    return f"x {minx:.6g}..{maxx:.6g}, y {miny:.6g}..{maxy:.6g}"


def _finite_bounds(gdf: gpd.GeoDataFrame) -> np.ndarray | None:
    """Total bounds, or None when the frame has no non-empty geometry."""
    if len(gdf) == 0:
        return None
    bounds = gdf.total_bounds
    return None if np.isnan(bounds).any() else bounds


def _first_row_outside(gdf: gpd.GeoDataFrame, box: tuple[float, float, float, float]) -> int | None:
    minx, miny, maxx, maxy = box
    b = gdf.geometry.bounds.to_numpy()
    outside = (b[:, 0] < minx) | (b[:, 2] > maxx) | (b[:, 1] < miny) | (b[:, 3] > maxy)
    hits = np.flatnonzero(outside & ~np.isnan(b).any(axis=1))
    return int(hits[0]) + 1 if len(hits) else None


def _looks_swapped(bounds: np.ndarray) -> bool:
    minx, miny, maxx, maxy = bounds
    c_minx, c_miny, c_maxx, c_maxy = CHINA_BOUNDS
    return c_miny <= minx and maxx <= c_maxy and c_minx <= miny and maxy <= c_maxx


def check_in_china(gdf: gpd.GeoDataFrame, *, where: str) -> None:
    """Raise CRSMismatch unless every geometry lies within China's rough extent.

    ``gdf`` is taken as lon/lat when it has no CRS or a geographic one; projected frames
    are transformed to EPSG:4490 first. ``where`` names the data (a file name) in the message.
    """
    _check_in_china(gdf, where=where, label=None)


def _check_in_china(gdf: gpd.GeoDataFrame, *, where: str, label: str | None) -> None:
    frame = gdf
    if gdf.crs is not None and not gdf.crs.is_geographic:
        frame = gdf.to_crs(STORAGE_CRS)
    bounds = _finite_bounds(frame)
    if bounds is None:
        return
    row = _first_row_outside(frame, CHINA_BOUNDS)
    if row is None:
        return
    if label is None:
        label = "no CRS" if gdf.crs is None else _crs_label(gdf.crs)
    minx, miny, maxx, maxy = CHINA_BOUNDS
    raise CRSMismatch(
        f"{where}: row {row} lies outside China (data spans lon/lat {_bounds_text(bounds)}; "
        f"expected lon {minx:g}..{maxx:g}, lat {miny:g}..{maxy:g}) although the data is in {label}; "
        "check the file's CRS or pass the right one as source_crs",
        details={"field": "source_crs", "where": where, "row": row, "bounds": [float(v) for v in bounds]},
    )


def _check_lonlat(gdf: gpd.GeoDataFrame, *, where: str, label: str, china: bool) -> None:
    """Sanity checks for lon/lat data: swapped axes, out-of-range values, outside China."""
    bounds = _finite_bounds(gdf)
    if bounds is None:
        return
    minx, miny, maxx, maxy = bounds
    out_of_range = minx < -180 or maxx > 180 or miny < -90 or maxy > 90
    # Swapped axes are only asserted where the data must be Chinese, or where the file is
    # impossible as given (lat > 90): Svalbard in EPSG:4326 looks "swapped" too.
    if _looks_swapped(bounds) and (china or out_of_range):
        raise CRSMismatch(
            f"{where}: coordinates look like latitude/longitude swapped (x {minx:.6g}..{maxx:.6g} looks like "
            f"latitudes, y {miny:.6g}..{maxy:.6g} like longitudes, in {label}); "
            "expected x = longitude, y = latitude: swap the columns in the source data",
            details={"where": where, "bounds": [float(v) for v in bounds]},
        )
    if out_of_range:
        hint = (
            "they look like projected metres; pass the projected CRS as source_crs (e.g. EPSG:4549)"
            if max(abs(minx), abs(maxx), abs(miny), abs(maxy)) > 1000
            else "check the CRS"
        )
        raise CRSMismatch(
            f"{where}: coordinates out of range for {label} ({_bounds_text(bounds)}; expected longitude "
            f"-180..180, latitude -90..90): {hint}",
            details={"where": where, "bounds": [float(v) for v in bounds]},
        )
    if china:
        _check_in_china(gdf, where=where, label=label)


def to_storage_crs(gdf: gpd.GeoDataFrame, source_crs: str | None, *, where: str = "input") -> gpd.GeoDataFrame:
    """Return ``gdf`` in EPSG:4490 (CGCS2000), checking that its coordinates are plausible.

    Parameters
    ----------
    gdf
        The data as read; its own CRS is used unless ``source_crs`` is given.
    source_crs
        Overrides the frame's CRS: an EPSG code or anything pyproj accepts, or ``"gcj02"``
        / ``"bd09"`` (case-insensitive) for lon/lat in those obfuscated systems, which are
        converted to WGS84. EPSG:4326 and EPSG:4490 are relabelled as EPSG:4490 (centimetres
        apart); other CRSs are transformed.
    where
        Names the data (a file name) in error messages.
    """
    if source_crs is not None and source_crs.strip() == "":
        source_crs = None
    system = _normalise_system(source_crs) if source_crs is not None else None

    if system is not None:
        return _from_obfuscated(gdf, system, source_crs, where)

    if source_crs is not None:
        try:
            crs = CRS.from_user_input(source_crs)
        except Exception as exc:  # pyproj raises CRSError with a long PROJ text
            raise CRSMismatch(
                f"{where}: source_crs {source_crs!r} is not a CRS pyproj knows; expected e.g. EPSG:4549, "
                f"EPSG:4326, gcj02 or bd09 ({type(exc).__name__})",
                details={"field": "source_crs", "where": where},
            ) from None
        gdf = gdf.set_crs(crs, allow_override=True)
    elif gdf.crs is None:
        raise CRSMismatch(
            f"{where}: the CRS is missing (no .prj or crs member); pass it as source_crs, "
            "e.g. EPSG:4490, EPSG:4549 (CGCS2000 GK CM 120E) or gcj02",
            details={"field": "source_crs", "where": where},
        )

    crs = gdf.crs
    if crs.is_geographic:
        _check_lonlat(gdf, where=where, label=_crs_label(crs), china=is_china_crs(crs))
        if crs.to_epsg() in (4326, 4490):
            return gdf.set_crs(STORAGE_CRS, allow_override=True)
        return gdf.to_crs(STORAGE_CRS)
    return _from_projected(gdf, where)


def _from_obfuscated(gdf: gpd.GeoDataFrame, system: str, source_crs: str | None, where: str) -> gpd.GeoDataFrame:
    """Lon/lat in GCJ-02 or BD-09 converted to WGS84 and labelled EPSG:4490, once they look Chinese."""
    if gdf.crs is not None and not gdf.crs.is_geographic:
        raise CRSMismatch(
            f"{where}: source_crs {source_crs} means longitude/latitude in {system.upper()}, "
            f"but the file's CRS is {_crs_label(gdf.crs)} (projected); expected a geographic file "
            "(EPSG:4326 or no CRS)",
            details={"field": "source_crs", "where": where},
        )
    _check_lonlat(gdf, where=where, label=system.upper(), china=True)
    inverse = _TO_WGS84[system]

    def _convert(coords: np.ndarray) -> np.ndarray:
        x, y = inverse(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    out = gdf.set_geometry(shapely.transform(gdf.geometry.values, _convert))
    return out.set_crs(STORAGE_CRS, allow_override=True)


def _from_projected(gdf: gpd.GeoDataFrame, where: str) -> gpd.GeoDataFrame:
    """Projected data transformed to EPSG:4490, refused when it is degrees labelled metres or lands off the map."""
    crs = gdf.crs
    label = _crs_label(crs)
    china = is_china_crs(crs)
    bounds = _finite_bounds(gdf)
    if bounds is not None and np.all(np.abs(bounds) <= 180):
        raise CRSMismatch(
            f"{where}: coordinates look like longitude/latitude in degrees ({_bounds_text(bounds)}) but the CRS "
            f"is {label} (projected, metres); pass source_crs EPSG:4490 if they are lon/lat",
            details={"field": "source_crs", "where": where},
        )
    out = gdf.to_crs(STORAGE_CRS)
    out_bounds = _finite_bounds(out)
    if bounds is not None and (out_bounds is None or not np.all(np.isfinite(out_bounds))):
        raise CRSMismatch(
            f"{where}: coordinates {_bounds_text(bounds)} cannot be transformed from {label} to EPSG:4490 "
            "(outside the CRS's area); check the CRS"
        )
    if china:
        try:
            check_in_china(out, where=where)
        except CRSMismatch as exc:
            raise CRSMismatch(
                f"{exc.message} (received {label} coordinates {_bounds_text(bounds)})", details=exc.details
            ) from None
    else:
        _check_lonlat(out, where=where, label=f"{label} transformed to EPSG:4490", china=False)
    return out


def metric_crs_for(lon: float, lat: float | None = None) -> str:
    """The metric CRS for measuring near ``lon``: a CGCS2000 3-degree GK zone in China, else UTM.

    In China (lon 73..136, and ``lat`` 3..54 when given) this is the zone whose central
    meridian is nearest, EPSG:4534 (CM 75E) to EPSG:4554 (CM 135E); elsewhere the WGS84
    UTM zone, north unless ``lat`` is negative.
    """
    if not math.isfinite(lon) or (lat is not None and not math.isfinite(lat)):
        raise InvalidInput(f"metric_crs_for: lon/lat must be finite numbers; got lon={lon!r}, lat={lat!r}")
    minx, miny, maxx, maxy = CHINA_BOUNDS
    in_china = minx <= lon <= maxx and (lat is None or miny <= lat <= maxy)
    if in_china:
        cm = 3 * math.floor(lon / 3.0 + 0.5)
        cm = min(max(cm, _GK3_FIRST_CM), _GK3_LAST_CM)
        return f"EPSG:{_GK3_FIRST_EPSG + (cm - _GK3_FIRST_CM) // 3}"
    wrapped = (lon + 180.0) % 360.0 - 180.0
    zone = min(int(math.floor((wrapped + 180.0) / 6.0)) + 1, 60)
    return f"EPSG:{(32700 if lat is not None and lat < 0 else 32600) + zone}"


def metric_crs_for_frame(gdf: gpd.GeoDataFrame) -> str:
    """The metric CRS (see ``metric_crs_for``) for the centre of ``gdf``'s total bounds."""
    frame = gdf
    if gdf.crs is not None and not gdf.crs.is_geographic:
        frame = gdf.to_crs(STORAGE_CRS)
    bounds = _finite_bounds(frame)
    if bounds is None:
        raise InvalidInput("metric_crs_for_frame: the frame has no geometries; "
                           "expected at least one non-empty geometry")
    minx, miny, maxx, maxy = bounds
    return metric_crs_for((minx + maxx) / 2.0, (miny + maxy) / 2.0)


# GRS 1980, the ellipsoid of CGCS2000 (and, to the millimetre here, of WGS84).
_GRS80_A = 6378137.0
_GRS80_F = 1 / 298.257222101


def local_affine_crs(gdf: gpd.GeoDataFrame) -> CRS:
    """A metric CRS that is an exact affine map of lon/lat around the centre of ``gdf``.

    Straight edges in lon/lat stay straight in it, so lines noded in metres (a road meeting a
    community's outline) land back exactly on the outline stored in EPSG:4490; a Gauss-Krüger
    zone bends long edges by centimetres, which left units sticking out of their parent by
    square metres. It is a plate carrée on a sphere of the local meridian radius M with the
    standard parallel chosen so that east-west scale equals the ellipsoid's N·cos φ0: lengths
    and areas are true at the centre and within 0.05% across a district (tens of kilometres).
    """
    frame = gdf if gdf.crs is None or gdf.crs.is_geographic else gdf.to_crs(STORAGE_CRS)
    bounds = _finite_bounds(frame)
    if bounds is None:
        raise InvalidInput("local_affine_crs: the frame has no geometries; expected at least one non-empty geometry")
    # Rounded so that one area always gets the same CRS (and the same figures).
    lon0 = round(float(bounds[0] + bounds[2]) / 2.0, 4)
    lat0 = round(float(bounds[1] + bounds[3]) / 2.0, 4)
    e2 = _GRS80_F * (2 - _GRS80_F)
    s = math.sin(math.radians(lat0))
    n = _GRS80_A / math.sqrt(1 - e2 * s * s)
    m = _GRS80_A * (1 - e2) / (1 - e2 * s * s) ** 1.5
    lat_ts = math.degrees(math.acos(min(1.0, n * math.cos(math.radians(lat0)) / m)))
    return CRS.from_proj4(f"+proj=eqc +lat_ts={lat_ts!r} +lat_0={lat0!r} +lon_0={lon0!r} +R={m!r} "
                          "+x_0=0 +y_0=0 +units=m +no_defs +type=crs")
