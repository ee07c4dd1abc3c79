"""Geometries from what the pass collected: polygons repaired in bulk, lines cut into runs, the walk network.

The network is noded by hand (split at every node two ways share): OSM already names the shared
nodes, so no geometric noding is needed, and lengths are geodesic on the GRS80 ellipsoid.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.layers import (
    EDGE_COLUMNS,
    MAIN_ROAD_CLASSES,
    NODE_COLUMNS,
    STORAGE_CRS,
)
from gis.osm.tags import GEOD, M2_PER_DEG2, MIN_PART_M2, tag_name

if TYPE_CHECKING:  # the collected records are only read here; collect.py repairs rings with polygonal_parts
    from gis.osm.collect import Collected, Line


def polygonal_parts(geom: Any) -> Any:
    """The polygonal parts of ``geom`` at least ``MIN_PART_M2`` large, as one geometry or None."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    parts = [q for p in parts for q in shapely.get_parts(p)]
    if not parts:
        return None
    lat = shapely.centroid(shapely.MultiPolygon(parts)).y
    scale = M2_PER_DEG2 * max(math.cos(math.radians(lat)), 1e-6)
    parts = [p for p in parts if p.area * scale >= MIN_PART_M2]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _single_part(geoms: np.ndarray) -> np.ndarray:
    """MultiPolygons of one part become Polygons."""
    single = (shapely.get_type_id(geoms) == 6) & (shapely.get_num_geometries(geoms) == 1)
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.get_geometry(geoms[single], 0)
    return geoms


def area_geometries(out: Collected) -> np.ndarray:
    """Polygons for every collected area, repaired; None where none could be made."""
    areas = out.areas
    geoms = np.empty(len(areas), dtype=object)
    ring_idx = [i for i, a in enumerate(areas) if a.ring is not None]
    if ring_idx:
        rings = [ring for a in areas if (ring := a.ring) is not None]
        lens = np.fromiter((len(r) for r in rings), dtype=np.int64, count=len(rings))
        coords = np.concatenate(rings)
        linear = shapely.linearrings(coords, indices=np.repeat(np.arange(len(rings)), lens))
        geoms[ring_idx] = shapely.polygons(linear)
    for i, a in enumerate(areas):
        if a.ring is None:
            geoms[i] = a.geom
    if len(geoms) == 0:
        return geoms
    valid = shapely.is_valid(geoms)
    for i in np.flatnonzero(~valid).tolist():
        reason = shapely.is_valid_reason(geoms[i])
        fixed = polygonal_parts(shapely.make_valid(geoms[i], method="structure", keep_collapsed=False))
        geoms[i] = fixed
        a = areas[i]
        if not (a.building or a.water or a.compound or a.facility):
            continue  # a land-use area only read for context: repaired silently, not a layer's problem
        if fixed is None:
            out.counts["invalid_skipped"] += 1
            out.problem(f"{areas[i].label}: invalid ring ({reason}); nothing polygonal left after repair, skipped")
        else:
            out.counts["invalid_repaired"] += 1
            out.problem(f"{areas[i].label}: invalid ring ({reason}); repaired")
    return _single_part(geoms)


def _runs(line: Line) -> list[tuple[np.ndarray, np.ndarray]]:
    """Maximal runs of located nodes (at least two) of a way, consecutive repeats dropped."""
    refs, xy = line.refs, line.xy
    keep = np.ones(len(refs), dtype=bool)
    keep[1:] = refs[1:] != refs[:-1]
    refs, xy = refs[keep], xy[keep]
    located = ~np.isnan(xy[:, 0])
    if located.all():
        return [(refs, xy)] if len(refs) >= 2 else []
    runs = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], located.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        if stop - start >= 2:
            runs.append((refs[start:stop], xy[start:stop]))
    return runs


def line_geometry(line: Line) -> Any:
    runs = _runs(line)
    if not runs:
        return None
    if len(runs) == 1:
        return shapely.LineString(runs[0][1])
    return shapely.MultiLineString([xy for _, xy in runs])


def build_network(walk: list[Line], counts: Counter) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Split the walkable ways into edges between graph nodes."""
    run_refs: list[np.ndarray] = []
    run_xy: list[np.ndarray] = []
    run_way: list[int] = []
    for k, line in enumerate(walk):
        runs = _runs(line)
        if np.isnan(line.xy[:, 0]).any():
            counts["ways_clipped"] += 1
        for refs, xy in runs:
            run_refs.append(refs)
            run_xy.append(xy)
            run_way.append(k)
    if not run_refs:
        return make_frame(NODE_COLUMNS, {}, []), make_frame(EDGE_COLUMNS, {}, [])

    lens = np.fromiter((len(r) for r in run_refs), dtype=np.int64, count=len(run_refs))
    refs = np.concatenate(run_refs)
    xy = np.concatenate(run_xy)
    run_of = np.repeat(np.arange(len(lens)), lens)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ends = starts + lens - 1

    # Graph nodes: shared by two positions (two ways, or a way passing twice) or a run end.
    _, inverse, occurrences = np.unique(refs, return_inverse=True, return_counts=True)
    is_node = occurrences[inverse] > 1
    is_node[starts] = True
    is_node[ends] = True

    def split(is_node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.flatnonzero(is_node)
        same_run = run_of[pos[:-1]] == run_of[pos[1:]]
        return pos[:-1][same_run], pos[1:][same_run]

    a, b = split(is_node)
    # A closed way with no other graph node on it would be an edge from a node to itself:
    # cut it in the middle so every edge joins two different nodes.
    loops = (refs[a] == refs[b]) & (b - a >= 2)
    if loops.any():
        is_node[(a[loops] + b[loops]) // 2] = True
        a, b = split(is_node)

    # Geodesic lengths of every segment, summed per edge through a running total.
    seg = np.zeros(len(refs) - 1)
    if len(seg):
        _, _, seg = GEOD.inv(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1])
    total = np.concatenate([[0.0], np.cumsum(seg)])
    length = total[b] - total[a]

    n_pts = b - a + 1
    edge_of = np.repeat(np.arange(len(a)), n_pts)
    offset = np.arange(n_pts.sum()) - np.repeat(np.cumsum(n_pts) - n_pts, n_pts)
    point_idx = np.repeat(a, n_pts) + offset
    lines = shapely.linestrings(xy[point_idx], indices=edge_of)

    way_idx = np.asarray(run_way)[run_of[a]]
    highway = [walk[k].tags.get("highway") for k in way_idx]
    edges = make_frame(
        EDGE_COLUMNS,
        {
            "source": refs[a].astype(np.int64),
            "target": refs[b].astype(np.int64),
            "length_m": length.astype(np.float64),
            "highway": highway,
            "is_main_road": np.array([h in MAIN_ROAD_CLASSES for h in highway], dtype=bool),
            "name": [tag_name(walk[k].tags) for k in way_idx],
            "osm_id": np.array([walk[k].osm_id for k in way_idx], dtype=np.int64),
        },
        lines,
    )
    used = np.unique(np.concatenate([a, b]))
    node_ids, first = np.unique(refs[used], return_index=True)
    pos = used[first]
    nodes = make_frame(
        NODE_COLUMNS,
        {"node_id": node_ids.astype(np.int64), "osm_id": node_ids.astype(np.int64)},
        shapely.points(xy[pos]),
    )
    return nodes, edges


def make_frame(columns: Iterable[str], data: Mapping[str, Any], geometry: Any) -> gpd.GeoDataFrame:
    """A frame with exactly ``columns`` (then ``geometry``) in the storage CRS."""
    frame = pd.DataFrame({c: data.get(c, []) for c in columns})
    geom = np.empty(len(geometry), dtype=object)
    geom[:] = list(geometry)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geom, crs=STORAGE_CRS).values, crs=STORAGE_CRS)


def line_midpoint(xy: np.ndarray) -> Any:
    pts = xy[~np.isnan(xy[:, 0])]
    if len(pts) == 0:
        return None
    if len(set(map(tuple, pts.tolist()))) == 1:
        return shapely.Point(pts[0])
    return shapely.LineString(pts).interpolate(0.5, normalized=True)
