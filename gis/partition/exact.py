"""Units made exact in storage coordinates: valid single polygons that tile their region.

The engine works in metres (an affine image of lon/lat, see ``gis.crs.local_affine_crs``),
so its units come back onto the stored outline to within floating-point noise, not exactly.
Noise is enough to break what adoption checks: a zero-width spike where two faces met at a
vertex of the outline is a self-intersection, a sliver left outside is a part sticking out
of the parent. ``fit_to_region`` repairs each unit against the region as stored: spikes and
collapsed rings removed (``make_valid``), anything outside the region clipped off, slivers
cut loose and every uncovered scrap of the region given to the unit it shares the longest
boundary with. Written by hand because it is the glue between our cells and the stored
parent; the overlay work itself is GEOS (shapely).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

Area = Callable[[BaseGeometry], float]
# Below this a scrap is floating-point dust: nothing to give anyone.
_DUST_M2 = 1e-4


def polygonal(geom: BaseGeometry | None) -> BaseGeometry:
    """The polygonal part of a geometry, valid (spikes and zero-area rings dropped)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if not geom.is_valid:
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    if not parts:
        return shapely.Polygon()
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def fit_to_region(geoms: list[BaseGeometry], region: BaseGeometry, *, area: Area,
                  sliver_m2: float = 1.0, grid_size: float = 0.0,
                  points: np.ndarray | None = None) -> list[BaseGeometry]:
    """Each unit valid, inside ``region``, in one piece where it was essentially one, and together tiling it.

    ``area`` measures a geometry in m² (the caller knows the metric CRS); parts smaller
    than ``sliver_m2`` are noise and move to the neighbour they share most boundary with.
    A unit whose large parts are really apart keeps them: the checker reports it. ``grid_size``
    (in the geometries' units) is the grid an invalid unit is snapped to before repair. With
    ``points`` (the buildings' points), a part holding none of them moves to a neighbour whatever
    its size.
    """
    region = polygonal(region)
    out: list[BaseGeometry] = []
    loose: list[BaseGeometry] = []
    for geom in geoms:
        if grid_size and geom is not None and not geom.is_valid:
            # Where a unit's ring comes within a rounding error of itself (a hole touching the shell),
            # the way back can cross it over; snapping to a fine grid keeps it valid, and in one piece,
            # and moves every shared vertex the same way, so neighbours still meet exactly.
            geom = _snapped(geom, grid_size)
        g = polygonal(geom)
        if not region.covers(g):
            g = polygonal(shapely.intersection(g, region))
        parts = list(shapely.get_parts(g))
        if len(parts) > 1:
            sizes = np.array([area(p) for p in parts])
            keep = sizes >= sliver_m2
            if points is not None and len(points):
                # A part cut off by a hair-thin neck but holding no building is land, not part of
                # the unit's community of households: it goes to its neighbour like a sliver.
                holds = np.array([bool(shapely.intersects(p, points).any()) for p in parts])
                keep &= holds | (sizes == sizes.max())
            if not keep.any():
                keep[int(np.argmax(sizes))] = True
            loose.extend(p for p, k in zip(parts, keep, strict=True) if not k)
            g = shapely.union_all([p for p, k in zip(parts, keep, strict=True) if k])
        out.append(g)
    covered = shapely.union_all(out) if out else shapely.Polygon()
    gaps = polygonal(shapely.difference(region, covered))
    # Scraps of no area at all (a zero-width triangle along an edge) are left out: adding them to a
    # unit is an overlay on degenerate input, which has been seen to fill a hole the unit rings.
    scraps = [p for p in [*shapely.get_parts(gaps), *loose] if not p.is_empty and area(p) >= _DUST_M2]
    if not scraps or not out:
        return out
    tree = shapely.STRtree(out)
    additions: dict[int, list[BaseGeometry]] = {}
    for scrap in scraps:
        near = tree.query(scrap, predicate="intersects")
        if len(near) == 0:
            near = np.atleast_1d(tree.nearest(scrap))
        shared = [shapely.length(shapely.intersection(scrap.boundary, out[i].boundary)) for i in near]
        best = int(near[int(np.argmax(shared))])
        additions.setdefault(best, []).append(scrap)
    for i, extra in additions.items():
        out[i] = polygonal(shapely.union_all([out[i], *extra]))
    return [_without_dust(g, area) for g in out]


def _snapped(geom: BaseGeometry, grid_size: float) -> BaseGeometry:
    """``geom`` on the grid.

    GEOS can fail to snap a ring that crosses itself ("unable to assign free hole to a shell", seen on
    Shanghai), so such a unit is repaired first and then snapped.
    """
    try:
        return shapely.set_precision(geom, grid_size)
    except GEOSException:
        repaired = polygonal(geom)
        try:
            return shapely.set_precision(repaired, grid_size)
        except GEOSException:
            return repaired


def _without_dust(geom: BaseGeometry, area: Area, dust_m2: float = 0.01) -> BaseGeometry:
    """Drop zero-width parts an overlay can leave behind (a 0 m² second part is still a second part)."""
    parts = list(shapely.get_parts(geom))
    if len(parts) < 2:
        return geom
    sizes = [area(p) for p in parts]
    kept = [p for p, a in zip(parts, sizes, strict=True) if a >= dust_m2] or [parts[int(np.argmax(sizes))]]
    return kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)
