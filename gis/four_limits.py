"""四至: describe a unit's boundary by its four limits, e.g. "东至中山路、南至汉中路、西至…、北至…".

How a side is found
-------------------
The outer boundary is oriented counter-clockwise and every segment is given the
direction of its outward normal. Normals are read from a copy of the boundary simplified
by ``buffer_m / 2``, so that the small steps of a zig-zag east boundary still face east;
each original segment takes the normal of the nearest simplified segment. A segment faces
east when its normal lies within ±45° of east, and so on (a side no segment faces within
±45°, e.g. the west of a triangle pointing west, takes the segments facing it within ±90°).

How a side is named
-------------------
1. The named feature (road, river, canal, railway, ...) that runs along the side: its
   segments roughly parallel to the side (within 60° of the side's direction, so a cross
   street ending at a corner does not count) are buffered by ``buffer_m`` and the length
   of the side inside that buffer is the feature's share; the feature with the longest
   share wins if it covers at least ``min_share`` of the side.
2. Else the neighbouring unit sharing most of the side (at least ``min_share``), by
   ``name`` or else ``code``.
3. Else ``fallback`` ("区界": the unit is at the edge of the area known).
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient

from gis.crs import metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidGeometry, InvalidInput
from gis.layers import STORAGE_CRS

SIDES = ("east", "south", "west", "north")
SIDE_ZH = {"east": "东", "south": "南", "west": "西", "north": "北"}
# Direction each side faces, in degrees counter-clockwise from east.
_FACING = {"east": 0.0, "north": 90.0, "west": 180.0, "south": 270.0}
# A feature segment more than this far from the side's direction does not run along it.
_MAX_PARALLEL_DEG = 60.0


def describe_four_limits(
    unit_geom: BaseGeometry,
    *,
    features: gpd.GeoDataFrame | None,
    neighbours: gpd.GeoDataFrame | None,
    metric_crs: str | None = None,
    buffer_m: float = 30.0,
    min_share: float = 0.25,
    fallback: str = "区界",
) -> dict[str, str]:
    """Name the east, south, west and north limits (四至) of a polygon.

    Parameters
    ----------
    unit_geom
        The unit's Polygon or MultiPolygon, in lon/lat (EPSG:4490).
    features
        Named linear or areal features (walk edges, barriers) with a ``name`` column
        (and usually ``kind``: road, river, rail, ...), in any CRS; unnamed ones are ignored.
    neighbours
        Other units with ``name`` and/or ``code``; the unit itself may be among them
        (anything covering more than half of the unit is skipped).
    metric_crs
        CRS to measure in; by default the Gauss-Krüger zone of the unit.
    buffer_m
        How far from the boundary a feature may run and still be its limit.
    min_share
        Share of a side a feature or a neighbour must run along to name it.
    fallback
        The text of a side with neither (e.g. the district boundary).

    Returns
    -------
    dict
        ``{"east": ..., "south": ..., "west": ..., "north": ..., "text": "东至…、南至…、西至…、北至…"}``.
    """
    if not isinstance(unit_geom, BaseGeometry) or unit_geom.is_empty:
        raise InvalidGeometry(f"unit_geom must be a non-empty polygon, received {unit_geom!r:.80}")
    if unit_geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(f"unit_geom must be a Polygon or MultiPolygon, received a {unit_geom.geom_type}")
    if buffer_m <= 0:
        raise InvalidInput(f"buffer_m must be > 0, received {buffer_m}", details={"field": "buffer_m"})
    if not 0 < min_share <= 1:
        raise InvalidInput(f"min_share must be in (0, 1], received {min_share}", details={"field": "min_share"})

    unit_frame = gpd.GeoDataFrame(geometry=[unit_geom], crs=STORAGE_CRS)
    crs = metric_crs or metric_crs_for_frame(unit_frame)
    unit = unit_frame.to_crs(crs).geometry.iloc[0]
    if not unit.is_valid:
        unit = _polygonal(shapely.make_valid(unit))

    portions, normals = _side_portions(unit, simplify_m=buffer_m / 2)
    reach = unit.boundary.buffer(buffer_m)
    segs, seg_names, seg_dirs = _feature_segments(features, crs, reach)
    nbrs = _neighbour_shapes(neighbours, crs, unit, reach)
    nb_tol = min(5.0, buffer_m)

    limits: dict[str, str] = {}
    for side in SIDES:
        portion = portions[side]
        length = portion.length
        limit = None
        if length > 0:
            limit = _best_feature(portion, normals[side], segs, seg_names, seg_dirs, buffer_m, min_share * length)
            if limit is None:
                limit = _best_neighbour(portion, nbrs, nb_tol, min_share * length)
        limits[side] = limit or fallback
    limits["text"] = "、".join(f"{SIDE_ZH[s]}至{limits[s]}" for s in SIDES)
    return limits


# --- sides --------------------------------------------------------------------------------


def _side_portions(unit: BaseGeometry, *, simplify_m: float) -> tuple[dict, dict]:
    """Boundary portion facing each side, and the (length, normal-angle) pairs of its segments."""
    starts, ends, angles = [], [], []
    for part in shapely.get_parts(unit):
        if part.is_empty or part.geom_type != "Polygon":
            continue
        ring = np.asarray(orient(part, 1.0).exterior.coords)[:, :2]
        simple = part.simplify(simplify_m, preserve_topology=True)
        simple_ring = np.asarray(orient(simple, 1.0).exterior.coords)[:, :2] if not simple.is_empty else ring
        s0, s1 = simple_ring[:-1], simple_ring[1:]
        keep = np.hypot(*(s1 - s0).T) > 0
        s0, s1 = s0[keep], s1[keep]
        simple_angles = _normal_angles(s0, s1)
        a, b = ring[:-1], ring[1:]
        ok = np.hypot(*(b - a).T) > 0
        a, b = a[ok], b[ok]
        nearest = _nearest_segment((a + b) / 2, s0, s1)
        starts.append(a)
        ends.append(b)
        angles.append(simple_angles[nearest])
    a, b, ang = np.vstack(starts), np.vstack(ends), np.concatenate(angles)
    lengths = np.hypot(*(b - a).T)

    portions, normals = {}, {}
    for side in SIDES:
        off = _angle_diff(ang, _FACING[side])
        dist_to_others = np.min([_angle_diff(ang, _FACING[o]) for o in SIDES if o != side], axis=0)
        # Within ±45°: ties on a diagonal go to the earlier side in SIDES order.
        mine = (off < dist_to_others) | ((off == dist_to_others) & _wins_tie(ang, side))
        if not mine.any():
            mine = off < 90.0
        lines = shapely.linestrings(np.stack([a[mine], b[mine]], axis=1))
        portions[side] = shapely.line_merge(shapely.multilinestrings(lines)) if mine.any() else shapely.LineString()
        normals[side] = (lengths[mine], ang[mine])
    return portions, normals


def _wins_tie(ang: np.ndarray, side: str) -> np.ndarray:
    """On an exact diagonal the side earlier in SIDES (east, south, west, north) takes the segment."""
    rank = {s: k for k, s in enumerate(SIDES)}
    result = np.ones(len(ang), dtype=bool)
    for other in SIDES:
        if other != side and rank[other] < rank[side]:
            result &= _angle_diff(ang, _FACING[other]) > _angle_diff(ang, _FACING[side])
    return result


def _normal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Outward normal angles (degrees from east) of counter-clockwise ring segments."""
    d = b - a
    return np.degrees(np.arctan2(-d[:, 0], d[:, 1])) % 360.0


def _nearest_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index of the segment (a→b) nearest to each point."""
    d = b - a  # (K, 2)
    rel = points[:, None, :] - a[None, :, :]  # (M, K, 2)
    t = np.clip(np.einsum("mkj,kj->mk", rel, d) / np.einsum("kj,kj->k", d, d), 0.0, 1.0)
    closest = a[None, :, :] + t[..., None] * d[None, :, :]
    return np.argmin(np.hypot(*(points[:, None, :] - closest).transpose(2, 0, 1)), axis=1)


def _angle_diff(a: np.ndarray | float, b: float) -> np.ndarray:
    return np.abs((np.asarray(a) - b + 180.0) % 360.0 - 180.0)


def _axial_direction(weights: np.ndarray, normal_angles: np.ndarray) -> float:
    """Length-weighted mean direction (mod 180°) of segments with the given normals."""
    theta = np.radians(normal_angles + 90.0) * 2
    return math.degrees(math.atan2(np.sum(weights * np.sin(theta)), np.sum(weights * np.cos(theta))) / 2) % 180.0


# --- features and neighbours --------------------------------------------------------------


def _feature_segments(features: gpd.GeoDataFrame | None, crs: str, reach: BaseGeometry):
    """Two-point segments of the named features near the unit, their names and directions (mod 180°)."""
    empty = (np.array([], dtype=object), np.array([], dtype=object), np.array([]))
    if features is None or len(features) == 0:
        return empty
    _check_frame(features, "features", ("name",))
    named = features[features["name"].notna() & (features["name"].astype(str).str.strip() != "")]
    if named.empty:
        return empty
    geoms = named.geometry.to_crs(crs).to_numpy()
    near = shapely.intersects(geoms, reach)
    geoms, names = geoms[near], named["name"].astype(str).str.strip().to_numpy()[near]
    if len(geoms) == 0:
        return empty
    # Areal features (water bodies) count by their outline.
    polygonal = np.isin(shapely.get_type_id(geoms), (3, 6))
    geoms = np.where(polygonal, shapely.boundary(geoms), geoms)
    lines, owner = shapely.get_parts(geoms, return_index=True)
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    same = idx[:-1] == idx[1:]
    a, b = coords[:-1][same], coords[1:][same]
    seg_owner = owner[idx[:-1][same]]
    ok = np.hypot(*(b - a).T) > 0
    a, b, seg_owner = a[ok], b[ok], seg_owner[ok]
    segs = shapely.linestrings(np.stack([a, b], axis=1)) if len(a) else np.array([], dtype=object)
    d = b - a
    dirs = np.degrees(np.arctan2(d[:, 1], d[:, 0])) % 180.0
    keep = shapely.intersects(segs, reach) if len(segs) else np.array([], dtype=bool)
    return segs[keep], names[seg_owner][keep], dirs[keep]


def _best_feature(portion, normals, segs, names, dirs, buffer_m: float, minimum: float) -> str | None:
    if len(segs) == 0:
        return None
    weights, angles = normals
    axis = _axial_direction(weights, angles)
    off = np.abs((dirs - axis + 90.0) % 180.0 - 90.0)
    near = shapely.intersects(segs, portion.buffer(buffer_m))
    keep = near & (off <= _MAX_PARALLEL_DEG)
    if not keep.any():
        return None
    scores = []
    for name in pd.unique(names[keep]):
        mine = segs[keep & (names == name)]
        shared = portion.intersection(shapely.union_all(shapely.buffer(mine, buffer_m))).length
        distance = float(np.min(shapely.distance(mine, portion)))
        scores.append((-shared, distance, name, shared))
    _, _, name, shared = min(scores)
    return name if shared >= minimum and shared > 0 else None


def _neighbour_shapes(neighbours: gpd.GeoDataFrame | None, crs: str, unit: BaseGeometry, reach: BaseGeometry):
    """(label, metric geometry) of the neighbours near the unit, leaving out the unit itself."""
    if neighbours is None or len(neighbours) == 0:
        return []
    _check_frame(neighbours, "neighbours", ())
    if "name" not in neighbours.columns and "code" not in neighbours.columns:
        raise InvalidInput(
            f"neighbours need a name or code column; received columns {', '.join(map(str, neighbours.columns))}"
        )
    geoms = neighbours.geometry.to_crs(crs).to_numpy()
    out = []
    for k, g in enumerate(geoms):
        if g is None or g.is_empty or not g.intersects(reach):
            continue
        if not g.is_valid:
            g = _polygonal(shapely.make_valid(g))
        if g.intersection(unit).area > 0.5 * unit.area:  # the unit itself, or its parent
            continue
        label = _label(neighbours.iloc[k])
        if label:
            out.append((label, g))
    return out


def _best_neighbour(portion, nbrs, tolerance: float, minimum: float) -> str | None:
    best_label, best = None, 0.0
    for label, g in nbrs:
        shared = portion.intersection(g.buffer(tolerance)).length
        if shared > best:
            best_label, best = label, shared
    return best_label if best >= minimum and best > 0 else None


def _label(row: pd.Series) -> str | None:
    for column in ("name", "code"):
        value = row.get(column)
        if value is not None and not pd.isna(value) and str(value).strip():
            return str(value).strip()
    return None


def _check_frame(frame: gpd.GeoDataFrame, name: str, columns: tuple[str, ...]) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput(f"{name} must be a GeoDataFrame, received {type(frame).__name__}")
    if frame.crs is None:
        raise CRSMismatch(f"{name} has no CRS; expected {STORAGE_CRS} or another defined CRS")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{name} lacks column(s) {', '.join(missing)}; received columns {', '.join(map(str, frame.columns))}"
        )


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]
