"""Boundary validation: whether a parent's children tile it (全域覆盖, 无缝拼接).

``check_tiling`` checks grids within communities and communities within streets (the
same function, ``child_level`` only changes the words). It returns ``Finding`` objects,
each with the offending area or point and one human line a planner can act on;
``findings_to_geojson`` turns them into a FeatureCollection for a map.

Overlays run in the CRS the boundaries were drawn in (EPSG:4490), so that vertices shared
by neighbours meet exactly; only their results are projected, and areas are measured in
an affine image of lon/lat (``gis.crs.local_affine_crs``: straight edges stay straight), never in
degrees. Slivers smaller than ``tolerance_m2`` or thinner than ``MIN_WIDTH_M`` are numerical
noise, not findings. Pairs
of overlapping children are found with an STRtree, not by comparing every pair.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from gis.crs import local_affine_crs, metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidInput
from gis.layers import STORAGE_CRS

FINDING_KINDS = (
    "overlap",
    "gap",
    "outside_parent",
    "multipart",
    "invalid",
    "orphan",
    "empty_parent",
    "households_below",
    "households_above",
)

# Gaps, overlaps and stray parts thinner than this (mean width) are digitising noise, not findings.
MIN_WIDTH_M = 0.05

# Plural of each level (for messages) and the level above it.
_PLURALS = {"grid": "grids", "community": "communities", "street": "streets", "district": "districts"}
_PARENT_LEVEL = {"grid": "community", "community": "street", "street": "district", "district": "city"}


@dataclass(frozen=True)
class Finding:
    """One problem in a tiling.

    kind: one of ``FINDING_KINDS``.
    units: codes of the units involved (both grids of an overlap, the grids next to a gap, ...).
    parent_code: the parent the problem lies in (for an orphan, the parent code it names).
    area_m2: the offending area in square metres, or None when the problem is not an area.
    location: the offending area or a point, in lon/lat (EPSG:4490).
    message: one English line with the codes, the rounded area and a lon/lat location.
    """

    kind: str
    units: tuple[str, ...]
    parent_code: str | None
    area_m2: float | None
    location: BaseGeometry
    message: str


def check_tiling(
    children: gpd.GeoDataFrame,
    parent: gpd.GeoDataFrame,
    *,
    child_level: str,
    households: pd.Series | None = None,
    min_households: int | None = None,
    max_households: int | None = None,
    dedicated: pd.Series | None = None,
    tolerance_m2: float = 1.0,
    parent_level: str | None = None,
) -> list[Finding]:
    """Check that the children tile their parents; return every problem found.

    Parameters
    ----------
    children
        Units with ``code``, ``parent_code`` and a polygon geometry, in EPSG:4490.
    parent
        Parent units with ``code`` and a polygon geometry, in the same CRS.
    child_level
        ``"grid"`` or ``"community"`` (or ``"street"``); used only in messages.
    households
        Households per child, indexed like ``children`` or by child code. With it,
        children outside ``[min_households, max_households]`` are findings.
    dedicated
        Booleans, indexed like ``households``: dedicated grids (专属网格) are exempt
        from the household bounds.
    tolerance_m2
        Overlaps, gaps and stray parts smaller than this are numerical slivers, not findings.
    parent_level
        The parents' level for messages, when it is not the one above ``child_level``.

    Returns
    -------
    list[Finding]
        Invalid and orphan children and empty parents first, then per parent the parts
        outside it, multi-part children, overlaps, gaps and household bounds.
    """
    _check_arguments(children, parent, tolerance_m2, min_households, max_households)
    words = _Words(child_level)
    if parent_level:
        words.parent = parent_level  # communities of a district without streets
    if parent.empty and children.empty:
        return []
    # Overlays run in the CRS the boundaries were drawn in, so shared vertices meet exactly;
    # only the results are projected, to a metric CRS for areas and to lon/lat for locations.
    # Areas in an affine image of the boundaries' CRS: a hair-thin sliver along a long straight edge
    # stays hair-thin there, where a Gauss-Krüger zone bows the edge and makes square metres of it.
    frame = parent if not parent.empty else children
    metric = local_affine_crs(frame) if frame.crs.is_geographic else metric_crs_for_frame(frame)
    ctx = _Context(children.crs, metric, words, tolerance_m2)

    child_codes = children["code"].astype(str).to_numpy()
    child_parents = children["parent_code"].astype(str).to_numpy()
    parent_codes = parent["code"].astype(str).to_numpy()
    parent_geoms = [_polygonal(shapely.make_valid(g)) if g is not None else shapely.Polygon()
                    for g in parent.geometry.to_numpy()]
    parent_by_code = dict(zip(parent_codes, parent_geoms, strict=True))

    # Invalid children are reported, then repaired so that the other checks still run.
    geoms, valid, findings = _repaired(ctx, children.geometry.to_numpy(), child_codes, child_parents)
    has_parent = np.array([p in parent_by_code for p in child_parents], dtype=bool)
    findings.extend(_orphans(ctx, geoms, child_codes, child_parents, has_parent))
    findings.extend(_empty_parents(ctx, parent_codes, parent_geoms, set(child_parents[has_parent])))

    hh = _align(households, children, "households")
    ded = _align(dedicated, children, "dedicated")
    for pcode in parent_codes:
        idx = np.flatnonzero(has_parent & (child_parents == pcode))
        if len(idx) == 0:
            continue
        pgeom = parent_by_code[pcode]
        findings.extend(_outside(ctx, idx, geoms, child_codes, pcode, pgeom))
        findings.extend(_multipart(ctx, idx, geoms, valid, child_codes, pcode))
        findings.extend(_overlaps(ctx, idx, geoms, child_codes, pcode))
        findings.extend(_gaps(ctx, idx, geoms, child_codes, pcode, pgeom))
        if hh is not None:
            findings.extend(
                _household_bounds(ctx, idx, hh, ded, geoms, child_codes, pcode, min_households, max_households)
            )
    return findings


def _check_arguments(children: gpd.GeoDataFrame, parent: gpd.GeoDataFrame, tolerance_m2: float,
                     min_households: int | None, max_households: int | None) -> None:
    """Columns, CRSs, bounds and unique parent codes, or the error that says which is wrong."""
    _require_columns(children, ("code", "parent_code"), "children")
    _require_columns(parent, ("code",), "parent")
    if children.crs is None or parent.crs is None:
        raise CRSMismatch(
            f"children and parent need a CRS; received children={children.crs}, parent={parent.crs}, "
            f"expected {STORAGE_CRS}"
        )
    if not children.empty and not children.crs.equals(parent.crs):
        raise CRSMismatch(f"children are in {children.crs.to_string()} but parent is in {parent.crs.to_string()}")
    if tolerance_m2 < 0:
        raise InvalidInput(f"tolerance_m2 must be >= 0, received {tolerance_m2}", details={"field": "tolerance_m2"})
    if min_households is not None and max_households is not None and min_households > max_households:
        raise InvalidInput(
            f"min_households ({min_households}) is greater than max_households ({max_households})",
            details={"field": "min_households"},
        )
    if parent["code"].astype(str).duplicated().any():
        dups = sorted(set(parent["code"].astype(str)[parent["code"].astype(str).duplicated()]))
        raise InvalidInput(f"parent codes must be unique; duplicated: {', '.join(dups)}")


def _repaired(ctx: _Context, raw: np.ndarray, child_codes: np.ndarray,
              child_parents: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[Finding]]:
    """Children's polygons (invalid ones repaired, missing ones empty), which were valid, and the findings."""
    words = ctx.words
    findings: list[Finding] = []
    geoms = np.empty(len(raw), dtype=object)
    valid = np.ones(len(raw), dtype=bool)
    for i, g in enumerate(raw):
        if g is None or g.is_empty:
            valid[i] = False
            geoms[i] = shapely.Polygon()
            findings.append(
                Finding("invalid", (child_codes[i],), child_parents[i], None, shapely.Point(),
                        f"{words.child} {child_codes[i]} has no geometry")
            )
            continue
        if not g.is_valid:
            valid[i] = False
            reason = shapely.is_valid_reason(g)
            geoms[i] = _polygonal(shapely.make_valid(g))
            where = ctx.lonlat(_reason_point(reason, g))
            findings.append(
                Finding("invalid", (child_codes[i],), child_parents[i], None, where,
                        f"{words.child} {child_codes[i]} has an invalid boundary ({_reason_text(reason)}) "
                        f"near {_fmt_point(where)}")
            )
        else:
            geoms[i] = _polygonal(g)
    return geoms, valid, findings


def _orphans(ctx: _Context, geoms: np.ndarray, child_codes: np.ndarray, child_parents: np.ndarray,
             has_parent: np.ndarray) -> list[Finding]:
    """Children naming a parent that does not exist."""
    words = ctx.words
    findings = []
    for i in np.flatnonzero(~has_parent).tolist():
        where = ctx.lonlat(_point_of(geoms[i]))
        area = ctx.area(geoms[i]) if not geoms[i].is_empty else None
        findings.append(
            Finding("orphan", (child_codes[i],), child_parents[i], area, where,
                    f"{words.child} {child_codes[i]} names {words.parent} {child_parents[i]}, "
                    f"which does not exist (near {_fmt_point(where)})")
        )
    return findings


def _empty_parents(ctx: _Context, parent_codes: np.ndarray, parent_geoms: list[BaseGeometry],
                   used_parents: set[str]) -> list[Finding]:
    """Parents no child names."""
    words = ctx.words
    findings = []
    for code, pgeom in zip(parent_codes, parent_geoms, strict=True):
        if code not in used_parents:
            where = ctx.lonlat(pgeom)
            area = ctx.area(pgeom)
            findings.append(
                Finding("empty_parent", (code,), code, area, where,
                        f"{words.parent} {code} has no {words.children} "
                        f"({_fmt_area(area)}, near {_fmt_point(where)})")
            )
    return findings


def findings_to_geojson(findings: Iterable[Finding]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (lon/lat) of findings, for a map layer."""
    features = []
    for f in findings:
        features.append(
            {
                "type": "Feature",
                "geometry": None if f.location is None or f.location.is_empty else mapping(f.location),
                "properties": {
                    "kind": f.kind,
                    "units": list(f.units),
                    "parent_code": f.parent_code,
                    "area_m2": None if f.area_m2 is None else round(float(f.area_m2), 2),
                    "message": f.message,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


# --- the checks, one parent at a time ---------------------------------------------------


def _outside(ctx, idx, geoms, codes, pcode, pgeom) -> list[Finding]:
    out = []
    for i in idx:
        stray = _polygonal(shapely.difference(geoms[i], pgeom))
        parts = ctx.large_parts(stray)
        if not parts:
            continue
        area = float(sum(a for _, a in parts))
        where = ctx.lonlat(shapely.union_all([p for p, _ in parts]))
        out.append(
            Finding("outside_parent", (codes[i],), pcode, area, where,
                    f"{ctx.words.child} {codes[i]} sticks out of {ctx.words.parent} {pcode} by {_fmt_area(area)} "
                    f"near {_fmt_point(where)}")
        )
    return out


def _multipart(ctx, idx, geoms, valid, codes, pcode) -> list[Finding]:
    out = []
    for i in idx:
        if not valid[i]:  # an invalid boundary is reported once, as invalid
            continue
        parts = sorted(ctx.large_parts(geoms[i]), key=lambda pa: -pa[1])
        if len(parts) < 2:
            continue
        detached = parts[1:]
        area = float(sum(a for _, a in detached))
        where = ctx.lonlat(shapely.union_all([p for p, _ in detached]))
        out.append(
            Finding("multipart", (codes[i],), pcode, area, where,
                    f"{ctx.words.child} {codes[i]} has {len(parts)} separate parts; the detached "
                    f"{'part covers' if len(detached) == 1 else 'parts cover'} {_fmt_area(area)} "
                    f"near {_fmt_point(where)}")
        )
    return out


def _overlaps(ctx, idx, geoms, codes, pcode) -> list[Finding]:
    sub = geoms[idx]
    tree = shapely.STRtree(sub)
    left, right = tree.query(sub, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return []
    inter = shapely.intersection(sub[left], sub[right])
    out = []
    for a, b, g in zip(left, right, inter, strict=True):
        area = float(sum(pa for _, pa in ctx.large_parts(_polygonal(g))))
        if area <= ctx.tolerance_m2:
            continue
        ca, cb = sorted((codes[idx[a]], codes[idx[b]]))
        where = ctx.lonlat(_polygonal(g))
        out.append(
            Finding("overlap", (ca, cb), pcode, float(area), where,
                    f"{ctx.words.children} {ca} and {cb} overlap by {_fmt_area(area)} near {_fmt_point(where)}")
        )
    return out


def _gaps(ctx, idx, geoms, codes, pcode, pgeom) -> list[Finding]:
    covered = shapely.union_all(geoms[idx])
    holes = _polygonal(shapely.difference(pgeom, covered))
    parts = ctx.large_parts(holes)
    if not parts:
        return []
    sub = geoms[idx]
    tree = shapely.STRtree(sub)
    out = []
    for gap, area in parts:
        near = tree.query(gap, predicate="dwithin", distance=ctx.touch_distance)
        units = tuple(sorted(codes[idx[j]] for j in near))
        where = ctx.lonlat(gap)
        nextto = f" (next to {', '.join(units)})" if units else ""
        out.append(
            Finding("gap", units, pcode, area, where,
                    f"gap of {_fmt_area(area)} in {ctx.words.parent} {pcode} not covered by any "
                    f"{ctx.words.child}, near {_fmt_point(where)}{nextto}")
        )
    return out


def _household_bounds(ctx, idx, hh, ded, geoms, codes, pcode, lo, hi) -> list[Finding]:
    out = []
    for i in idx:
        value = hh[i]
        if pd.isna(value) or (ded is not None and _truthy(ded[i])):
            continue
        n = int(round(float(value)))
        kind = None
        if lo is not None and n < lo:
            kind, text = "households_below", f"below the minimum of {lo}"
        elif hi is not None and n > hi:
            kind, text = "households_above", f"above the maximum of {hi}"
        if kind is None:
            continue
        where = ctx.lonlat(_point_of(geoms[i]))
        out.append(
            Finding(kind, (codes[i],), pcode, None, where,
                    f"{ctx.words.child} {codes[i]} has {n} households, {text} (near {_fmt_point(where)})")
        )
    return out


# --- helpers ------------------------------------------------------------------------------


class _Words:
    def __init__(self, child_level: str) -> None:
        level = str(child_level).strip().lower()
        if not level:
            raise InvalidInput("child_level must name a level such as 'grid' or 'community', received ''")
        self.child = level
        self.children = _PLURALS.get(level, level + "s")
        self.parent = _PARENT_LEVEL.get(level, "parent")


class _Context:
    """The working CRS of the boundaries, with projections to metres (areas) and lon/lat (locations)."""

    def __init__(self, work_crs: Any, metric_crs: Any, words: _Words, tolerance_m2: float) -> None:
        from pyproj import CRS, Transformer

        work = CRS.from_user_input(work_crs)
        self.words = words
        self.tolerance_m2 = tolerance_m2
        self._to_metric = Transformer.from_crs(work, metric_crs, always_xy=True)
        storage = CRS.from_user_input(STORAGE_CRS)
        self._to_lonlat = None if work.equals(storage) else Transformer.from_crs(work, storage, always_xy=True)
        # Units next to a gap: within about a centimetre of it (boundaries rarely meet exactly).
        self.touch_distance = 1e-7 if work.is_geographic else 0.01

    def _project(self, geoms: Any, transformer: Any) -> Any:
        return shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))

    def areas(self, geoms: np.ndarray) -> np.ndarray:
        """Areas in m² of an array of geometries in the working CRS."""
        return shapely.area(self._project(np.asarray(geoms, dtype=object), self._to_metric))

    def area(self, geom: BaseGeometry) -> float:
        return float(self.areas(np.array([geom], dtype=object))[0])

    def large_parts(self, geom: BaseGeometry) -> list[tuple[BaseGeometry, float]]:
        """The polygons of ``geom`` that are more than noise, with their areas in m².

        Noise is smaller than the tolerance, or thinner than ``MIN_WIDTH_M`` (mean width
        2·area/perimeter): boundaries drawn in a projected CRS and stored in lon/lat part by
        millimetres along a long shared edge, square metres of area but no width a person could see.
        """
        parts = shapely.get_parts(geom)
        if len(parts) == 0:
            return []
        metric = self._project(np.asarray(parts, dtype=object), self._to_metric)
        areas = shapely.area(metric)
        perimeters = shapely.length(shapely.boundary(metric))
        with np.errstate(divide="ignore", invalid="ignore"):
            widths = np.where(perimeters > 0, 2 * areas / perimeters, 0.0)
        min_width = MIN_WIDTH_M if self.tolerance_m2 > 0 else 0.0  # a zero tolerance reports every hair
        return [(p, float(a)) for p, a, w in zip(parts, areas, widths, strict=True)
                if a > self.tolerance_m2 and w > min_width]

    def lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        if geom is None or geom.is_empty or self._to_lonlat is None:
            return geom
        return self._project(geom, self._to_lonlat)


def _require_columns(frame: gpd.GeoDataFrame, columns: tuple[str, ...], name: str) -> None:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput(f"{name} must be a GeoDataFrame, received {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"{name} lacks column(s) {', '.join(missing)}; received columns {', '.join(map(str, frame.columns))}"
        )


def _align(values: pd.Series | None, children: gpd.GeoDataFrame, name: str) -> np.ndarray | None:
    """Values per child position, from a Series indexed like ``children`` or by child code."""
    if values is None:
        return None
    values = pd.Series(values)
    if children.index.isin(values.index).all():
        return values.reindex(children.index).to_numpy()
    codes = children["code"].astype(str)
    by_code = values.copy()
    by_code.index = by_code.index.astype(str)
    if codes.isin(by_code.index).all():
        return by_code.reindex(codes).to_numpy()
    missing = [c for c in codes if c not in by_code.index][:5]
    raise InvalidInput(
        f"{name} must be indexed like children or by child code; no value for {', '.join(missing)}"
    )


def _truthy(value: Any) -> bool:
    return not pd.isna(value) and bool(value)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """The polygonal part of a geometry (drops the lines and points an overlay may leave)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    if not polys:
        return shapely.Polygon()
    return shapely.union_all(polys) if len(polys) > 1 else polys[0]


def _point_of(geom: BaseGeometry) -> BaseGeometry:
    return shapely.Point() if geom is None or geom.is_empty else geom.representative_point()


def _reason_text(reason: str) -> str:
    """``Self-intersection[x y]`` without the raw coordinates (the message gives lon/lat)."""
    return reason.split("[", 1)[0].strip() or reason


def _reason_point(reason: str, geom: BaseGeometry) -> BaseGeometry:
    """The point GEOS names in ``is_valid_reason``, else a point of the geometry."""
    if "[" in reason and "]" in reason:
        try:
            x, y = (float(v) for v in reason.split("[", 1)[1].split("]", 1)[0].split()[:2])
            return shapely.Point(x, y)
        except ValueError:
            pass
    return shapely.Point(shapely.get_coordinates(geom)[0]) if not geom.is_empty else shapely.Point()


def _fmt_area(area: float) -> str:
    return f"{area:,.0f} m²" if area >= 10 else f"{area:.1f} m²"


def _fmt_point(geom: BaseGeometry) -> str:
    if geom is None or geom.is_empty:
        return "an unknown place"
    p = geom if geom.geom_type == "Point" else geom.representative_point()
    return f"{p.x:.4f}, {p.y:.4f}"
