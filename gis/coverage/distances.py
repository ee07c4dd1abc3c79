"""Nearest facility and walking distance for every building, per facility type.

One multi-source Dijkstra per type (``scipy.sparse.csgraph.dijkstra`` with ``min_only`` and a
distance limit) labels every graph node with its nearest facility; buildings read their
distance off their access nodes. A ``Reach`` table (which buildings each site reaches within
the limit) serves what-if questions and siting without running the whole type again.

The straight-line mode measures footprint-to-point distance as the crow flies. It exists for
areas without a network and is labelled ``straight_line`` wherever it appears: it
overstates coverage wherever a main road, river or railway is in the way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra
from shapely import STRtree

from gis.coverage.network import AttachedNetwork, Sites, locate_sites
from gis.errors import InvalidInput

__all__ = [
    "DEFAULT_LIMIT_FACTOR",
    "Reach",
    "TypeCoverage",
    "compute_coverage",
    "nearest_by_network",
    "nearest_by_straight_line",
    "reach_by_network",
    "reach_by_straight_line",
]

# The search goes this many radii out, so that an uncovered building still learns how far
# its nearest facility is (a gap at 320 m is not one at 900 m) while the search stays local.
DEFAULT_LIMIT_FACTOR = 2.0
# Dense distance rows per Dijkstra batch are capped at about this many cells (8 bytes each).
_BATCH_CELLS = 4_000_000

Progress = Callable[[str, float], None]


def _no_progress(_stage: str, _fraction: float) -> None:
    return None


@dataclass
class TypeCoverage:
    """Coverage of one facility type: per building, the nearest facility and the distance to it.

    ``facility`` indexes the facilities given (-1: none within ``limit_m``); ``distance_m`` is
    ``inf`` beyond the limit. ``mode`` is ``network`` or ``straight_line``.
    """

    type_code: str
    radius_m: float
    limit_m: float
    mode: str
    facility: np.ndarray
    distance_m: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        return self.distance_m <= self.radius_m


def _check_radius(radius_m: float, limit_m: float | None) -> float:
    if not (np.isfinite(radius_m) and radius_m > 0):
        raise InvalidInput(f"radius_m must be a positive number of metres; got {radius_m!r}")
    limit = radius_m * DEFAULT_LIMIT_FACTOR if limit_m is None else float(limit_m)
    if limit < radius_m:
        raise InvalidInput(f"limit_m must be at least the radius ({radius_m} m); got {limit_m!r}")
    return limit


def nearest_by_network(
    graph: AttachedNetwork, sites: Sites, *, radius_m: float, limit_m: float | None = None, type_code: str = ""
) -> TypeCoverage:
    """Each building's nearest site on foot within ``limit_m`` (default twice the radius)."""
    limit = _check_radius(radius_m, limit_m)
    if sites.n == 0 or len(sites.seed_site) == 0:
        nb = graph.n_buildings
        return TypeCoverage(type_code, radius_m, limit, "network", np.full(nb, -1, np.int64), np.full(nb, np.inf))
    return _nearest(graph, graph.with_sources(sites), np.arange(sites.n), radius_m=radius_m, limit_m=limit,
                    type_code=type_code)


def _nearest(graph: AttachedNetwork, augmented: Any, sources: np.ndarray, *, radius_m: float, limit_m: float,
             type_code: str) -> TypeCoverage:
    """Multi-source Dijkstra from the given site numbers of an augmented graph; sites numbered from 0."""
    n, nb = graph.n_nodes, graph.n_buildings
    if len(sources) == 0:
        return TypeCoverage(type_code, radius_m, limit_m, "network", np.full(nb, -1, np.int64), np.full(nb, np.inf))
    dist, _pred, source = dijkstra(augmented, directed=True, indices=n + sources, min_only=True, limit=limit_m,
                                   return_predecessors=True)
    best, row = graph.building_distances(dist[:n])
    facility = source[graph.access_node[np.maximum(row, 0)]] - n
    best = np.where(best <= limit_m, best, np.inf)
    facility = np.where(np.isfinite(best), facility, -1)
    # ``source`` numbers sites within the augmented graph; report them relative to this type's first one.
    facility = np.where(facility >= 0, facility - sources.min(), -1)
    return TypeCoverage(type_code, radius_m, limit_m, "network", facility.astype(np.int64), best)


def nearest_by_straight_line(
    footprints: np.ndarray, points: np.ndarray, *, radius_m: float, limit_m: float | None = None, type_code: str = ""
) -> TypeCoverage:
    """Each building's nearest point as the crow flies (straight-line mode: a draft view only)."""
    limit = _check_radius(radius_m, limit_m)
    fp = np.asarray(footprints, dtype=object)
    facility = np.full(len(fp), -1, dtype=np.int64)
    distance = np.full(len(fp), np.inf)
    pts = np.asarray(points, dtype=object)
    if len(pts) and len(fp):
        (bi, fi), d = STRtree(pts).query_nearest(fp, max_distance=limit, return_distance=True, all_matches=False)
        facility[bi], distance[bi] = fi, d
    return TypeCoverage(type_code, radius_m, limit, "straight_line", facility, distance)


def compute_coverage(
    graph: AttachedNetwork | None,
    facilities: Mapping[str, np.ndarray],
    radii: Mapping[str, float],
    *,
    footprints: np.ndarray | None = None,
    limit_factor: float = DEFAULT_LIMIT_FACTOR,
    mode: str = "network",
    progress: Progress = _no_progress,
) -> dict[str, TypeCoverage]:
    """Coverage of every type in ``radii``: ``facilities[type]`` holds that type's points (metric).

    In ``network`` mode ``graph`` is required; in ``straight_line`` mode ``footprints`` is.
    """
    if mode not in ("network", "straight_line"):
        raise InvalidInput(f"mode must be 'network' or 'straight_line'; got {mode!r}")
    out: dict[str, TypeCoverage] = {}
    codes = list(radii)
    if mode == "network":
        if graph is None:
            raise InvalidInput("network mode needs an attached walk network")
        # All facilities are located once and share one augmented graph; each type then starts its
        # own multi-source search from its consecutive block of virtual sources.
        blocks = [np.asarray(facilities.get(c, np.empty(0, dtype=object)), dtype=object) for c in codes]
        sizes = [len(b) for b in blocks]
        sites = locate_sites(graph, np.concatenate(blocks) if blocks else np.empty(0, dtype=object))
        augmented = graph.with_sources(sites)
        start = 0
        for i, code in enumerate(codes):
            progress(code, i / max(len(codes), 1))
            radius = radii[code]
            _check_radius(radius, None)
            out[code] = _nearest(graph, augmented, np.arange(start, start + sizes[i]), radius_m=radius,
                                 limit_m=radius * limit_factor, type_code=code)
            start += sizes[i]
    else:
        if footprints is None:
            raise InvalidInput("straight-line mode needs building footprints")
        for i, code in enumerate(codes):
            progress(code, i / max(len(codes), 1))
            points = np.asarray(facilities.get(code, np.empty(0, dtype=object)), dtype=object)
            out[code] = nearest_by_straight_line(footprints, points, radius_m=radii[code],
                                                 limit_m=radii[code] * limit_factor, type_code=code)
    progress("done", 1.0)
    return out


@dataclass
class Reach:
    """A sparse site × building table: which buildings each site reaches within ``limit_m``, and how far."""

    n_sites: int
    n_buildings: int
    limit_m: float
    site: np.ndarray
    building: np.ndarray
    distance: np.ndarray

    def nearest(self) -> tuple[np.ndarray, np.ndarray]:
        """Per building: the nearest site (-1: none) and its distance (inf: none)."""
        facility = np.full(self.n_buildings, -1, dtype=np.int64)
        distance = np.full(self.n_buildings, np.inf)
        if len(self.site):
            order = np.lexsort((self.site, self.distance, self.building))
            b = self.building[order]
            first = np.r_[True, b[1:] != b[:-1]]
            facility[b[first]] = self.site[order][first]
            distance[b[first]] = self.distance[order][first]
        return facility, distance

    def without(self, site: int) -> Reach:
        """The table with one site removed (its index stays reserved, so indices keep their meaning)."""
        keep = self.site != site
        return Reach(self.n_sites, self.n_buildings, self.limit_m, self.site[keep], self.building[keep],
                     self.distance[keep])

    def plus(self, other: Reach) -> Reach:
        """The table followed by ``other``'s sites, numbered after this table's."""
        if other.n_buildings != self.n_buildings:
            raise InvalidInput(f"reach tables cover {self.n_buildings} and {other.n_buildings} buildings")
        return Reach(self.n_sites + other.n_sites, self.n_buildings, min(self.limit_m, other.limit_m),
                     np.concatenate([self.site, other.site + self.n_sites]),
                     np.concatenate([self.building, other.building]),
                     np.concatenate([self.distance, other.distance]))

    def within(self, radius_m: float) -> Reach:
        keep = self.distance <= radius_m
        return Reach(self.n_sites, self.n_buildings, radius_m, self.site[keep], self.building[keep],
                     self.distance[keep])


def reach_by_network(graph: AttachedNetwork, sites: Sites, *, limit_m: float,
                     progress: Progress = _no_progress) -> Reach:
    """Distances from every site to every building within ``limit_m``, one bounded Dijkstra per site."""
    n = graph.n_nodes
    parts_s, parts_b, parts_d = [], [], []
    if sites.n:
        g = graph.with_sources(sites)
        batch = max(1, _BATCH_CELLS // (n + sites.n))
        for start in range(0, sites.n, batch):
            progress("reach", start / sites.n)
            idx = np.arange(start, min(start + batch, sites.n))
            dist = dijkstra(g, directed=True, indices=n + idx, limit=limit_m)[:, :n]
            value = dist[:, graph.access_node] + graph.access_offset
            best = np.minimum.reduceat(value, graph.access_group, axis=1)
            s, b = np.nonzero(best <= limit_m)
            parts_s.append(idx[s])
            parts_b.append(b)
            parts_d.append(best[s, b])
    empty_i, empty_f = np.empty(0, np.int64), np.empty(0)
    return Reach(sites.n, graph.n_buildings, limit_m,
                 np.concatenate(parts_s) if parts_s else empty_i,
                 np.concatenate(parts_b) if parts_b else empty_i,
                 np.concatenate(parts_d) if parts_d else empty_f)


def reach_by_straight_line(footprints: np.ndarray, points: np.ndarray, *, limit_m: float) -> Reach:
    """Straight-line distances from every point to every footprint within ``limit_m``."""
    fp = np.asarray(footprints, dtype=object)
    pts = np.asarray(points, dtype=object)
    if len(pts) == 0 or len(fp) == 0:
        e = np.empty(0, np.int64)
        return Reach(len(pts), len(fp), limit_m, e, e, np.empty(0))
    pi, bi = STRtree(fp).query(pts, predicate="dwithin", distance=limit_m)
    return Reach(len(pts), len(fp), limit_m, pi.astype(np.int64), bi.astype(np.int64),
                 shapely.distance(pts[pi], fp[bi]))
