"""Isochrone polygons for maps: the part of the network reached within the radius, drawn wide.

These are display geometry, secondary to the per-building distances (which decide coverage).
The polygon is the reached network, buffered by ``width_m``: whole segments where every
point is within the radius, and the reached stretch of partly reached ones, shortened by the
drawing width so that the round end stops at the radius. The facility's own link and its own
stretch of street are always drawn, so there is never a hole at the origin. Blocks enclosed
by reached streets are filled unless a network node inside is out of reach, and any node out of
reach that would fall inside the drawing is cut out: nothing unreachable is shown as reached.

``straight_line_isochrones`` are plain circles, for the straight-line draft mode only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import MultiPolygon, Polygon
from shapely.ops import substring

from gis.coverage.network import AttachedNetwork, Sites

__all__ = ["DEFAULT_WIDTH_M", "network_isochrones", "straight_line_isochrones"]

# Half-width of the drawn street band: about a street and its pavements.
DEFAULT_WIDTH_M = 12.0
# Radius of the notch cut around an unreachable node that a band would otherwise cover.
_NOTCH_M = 1.0


def straight_line_isochrones(points: Any, radius_m: float) -> np.ndarray:
    """Circles of ``radius_m`` around each point (straight-line mode: a draft, not walking distance)."""
    return shapely.buffer(np.asarray(points, dtype=object), radius_m, quad_segs=16)


def network_isochrones(graph: AttachedNetwork, sites: Sites, radius_m: float, *,
                       width_m: float = DEFAULT_WIDTH_M) -> np.ndarray:
    """One polygon per site covering the network reached within ``radius_m`` on foot.

    Every reached node is inside its polygon: the segment a node was reached through is
    reached whole, so its band covers the node.
    """
    net = graph.network
    n = graph.n_nodes
    out = np.empty(sites.n, dtype=object)
    if sites.n == 0:
        return out
    g = graph.with_sources(sites)
    seg_cost = (graph.seg_p1 - graph.seg_p0) * np.abs(net.edge_cost[graph.seg_edge])
    for i in range(sites.n):
        d = dijkstra(g, directed=True, indices=n + i, limit=radius_m)[:n]
        pieces = _reached_pieces(graph, d, seg_cost, radius_m, width_m)
        pieces.extend(_own_pieces(graph, sites, i, radius_m, width_m))
        band = shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object), width_m, quad_segs=4))
        out[i] = _clean(band, graph, d, radius_m, sites.links.start[i])
    return out


def _reached_pieces(graph: AttachedNetwork, d: np.ndarray, seg_cost: np.ndarray, r: float,
                    w: float) -> list[Any]:
    net = graph.network
    da, db = d[graph.seg_a], d[graph.seg_b]
    touched = np.isfinite(da) | np.isfinite(db)
    full = touched & ((r - da) + (r - db) >= seg_cost)
    pieces: list[Any] = []
    p0, p1, edge = graph.seg_p0, graph.seg_p1, graph.seg_edge
    for s in np.flatnonzero(full):
        pieces.append(substring(net.edge_geom[edge[s]], p0[s], p1[s], normalized=True))
    span = p1 - p0
    for s in np.flatnonzero(touched & ~full):
        cost = max(seg_cost[s], 1e-9)
        if np.isfinite(da[s]) and r - da[s] - w > 0:
            pieces.append(substring(net.edge_geom[edge[s]], p0[s], p0[s] + span[s] * (r - da[s] - w) / cost,
                                    normalized=True))
        if np.isfinite(db[s]) and r - db[s] - w > 0:
            pieces.append(substring(net.edge_geom[edge[s]], p1[s] - span[s] * (r - db[s] - w) / cost, p1[s],
                                    normalized=True))
    return [p for p in pieces if p is not None and not p.is_empty]


def _own_pieces(graph: AttachedNetwork, sites: Sites, i: int, r: float, w: float) -> list[Any]:
    """The site's link and the stretch of its own edge it reaches directly (no hole at the origin)."""
    net = graph.network
    links = sites.links
    e = links.edge[i]
    reach = max(r - links.length[i] - w, 0.0) / max(abs(net.edge_cost[e]), 1e-9)
    line = net.edge_geom[e]
    end = shapely.line_interpolate_point(line, links.pos[i], normalized=True)
    pieces = [shapely.LineString([links.start[i], end]) if links.length[i] > 0 else links.start[i]]
    lo, hi = max(links.pos[i] - reach, 0.0), min(links.pos[i] + reach, 1.0)
    if hi > lo:
        pieces.append(substring(line, lo, hi, normalized=True))
    return pieces


def _clean(band: Any, graph: AttachedNetwork, d: np.ndarray, r: float, origin: Any) -> Any:
    """Fill enclosed blocks that hold no unreachable node; cut out unreachable nodes the band covers."""
    xy = graph.node_xy
    out_of_reach = ~(d <= r)
    parts = list(band.geoms) if isinstance(band, MultiPolygon) else [band]
    filled = []
    for part in parts:
        if not isinstance(part, Polygon) or part.is_empty:
            continue
        holes = []
        for ring in part.interiors:
            hole = Polygon(ring)
            minx, miny, maxx, maxy = hole.bounds
            near = out_of_reach & (xy[:, 0] >= minx) & (xy[:, 0] <= maxx) & (xy[:, 1] >= miny) & (xy[:, 1] <= maxy)
            if near.any() and shapely.contains_xy(hole, xy[near, 0], xy[near, 1]).any():
                holes.append(ring)
        filled.append(Polygon(part.exterior, holes))
    shape = shapely.union_all(np.asarray(filled, dtype=object)) if filled else band
    inside = np.flatnonzero(out_of_reach)
    if len(inside):
        inside = inside[shapely.intersects_xy(shape, xy[inside, 0], xy[inside, 1])]
    if len(inside):
        notches = shapely.buffer(shapely.points(xy[inside]), _NOTCH_M)
        shape = shape.difference(shapely.union_all(notches))
    if not shape.intersects(origin):
        shape = shape.union(origin.buffer(_NOTCH_M))
    return shape
