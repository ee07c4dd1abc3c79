"""The one checker: judges a set of units from their final geometry and the stored buildings and barriers.

A plan's figures, its adoption and ``wangge check boundaries`` all ask this module, never the
engine's own bookkeeping, so a promise ("no grid spans a main road", "no building is split")
is only reported as kept when it holds on the geometry a reviewer would look at:

- tiling against the parent (``gis.topology.check_tiling``): invalid, multi-part, overlapping,
  gaps, sticking out, orphans, parents without children, household bounds;
- ``across_barrier``: two residential buildings of one unit whose connecting segment crosses a
  main road, river or railway (closed at their ends as the engine closes them,
  ``gis.partition.barriers.close_barriers``) and which the barrier cuts apart inside the unit,
  unless that crossing was allowed; ``around_barrier_end`` when the segment crosses but the
  unit's land joins the two sides around the end of a barrier that neither closing nor carrying
  on could close: reported for the planner to close or accept, not a fault;
- ``split_building``: a footprint with less than ``split_share`` of its area in any one unit;
- ``sliver``: a unit of almost no land and no building.

(Land with no households that the engine joins to a unit across a barrier is listed by the
plan itself, ``attached_empty_land``: it is allowed, so it is a note, not a finding.)

Pure: GeoDataFrames in (EPSG:4490 or any CRS with a metric CRS given), findings out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.crs import local_affine_crs
from gis.partition.barriers import FOLLOW_STREET_M, close_barriers
from gis.topology import Finding, check_tiling

# Kinds that make a set of units unfit to adopt (household bounds are waived separately).
BLOCKING = frozenset({"invalid", "multipart", "overlap", "gap", "outside_parent", "orphan", "split_building",
                      "sliver"})
# Households across a barrier refuse a grid; a community (1,000–3,000 households) often has to take
# in more than one area between main roads, so for communities they are reported, not refused.
CROSSINGS = frozenset({"across_barrier"})
BOUNDS = frozenset({"households_below", "households_above"})
NOTES = frozenset({"around_barrier_end"})
_PLURALS = {"grid": "grids", "community": "communities", "street": "streets"}
# A unit over this many residential buildings is checked on the largest ones (pairs grow as n²).
_MAX_PAIR_BUILDINGS = 400


@dataclass(frozen=True)
class CheckOptions:
    """What the checker allows: closing distance, allowed crossings and the thresholds it reports on."""

    closing_m: float = 60.0
    allow_crossing: tuple[str, ...] = ()
    split_share: float = 0.95
    min_footprint_m2: float = 10.0
    sliver_m2: float = 50.0
    tolerance_m2: float = 1.0


def check_units(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, *, child_level: str,
                buildings: gpd.GeoDataFrame | None = None, roads: gpd.GeoDataFrame | None = None,
                barriers: gpd.GeoDataFrame | None = None, households: pd.Series | None = None,
                min_households: int | None = None, max_households: int | None = None,
                dedicated: pd.Series | None = None, parent_level: str | None = None,
                options: CheckOptions | None = None) -> list[Finding]:
    """Every finding on ``children`` (code, parent_code, geometry) against ``parents`` (code, geometry).

    ``buildings``: id, households, geometry (footprints). ``roads``: is_main_road, name, geometry.
    ``barriers``: name, geometry (rivers, rail; polygons count by their outline). All in the
    children's CRS. Without buildings only the tiling and bounds are checked.
    """
    opts = options or CheckOptions()
    findings = check_tiling(children, parents, child_level=child_level, households=households,
                            min_households=min_households, max_households=max_households, dedicated=dedicated,
                            tolerance_m2=opts.tolerance_m2, parent_level=parent_level)
    if children.empty:
        return findings
    # The engine measures a region in the affine CRS of that region: so does the checker, so
    # that both close the same barrier ends (a 60 m rule must not flip on a rounding).
    metric = local_affine_crs(parents if not parents.empty else children)
    units = children.to_crs(metric).reset_index(drop=True)
    units["geometry"] = [_valid(g) for g in units.geometry]
    codes = units["code"].astype(str).to_numpy()
    findings.extend(_slivers(units, codes, buildings, metric, opts, child_level, children.crs))
    if buildings is None or buildings.empty:
        return findings
    homes = buildings.to_crs(metric).reset_index(drop=True)
    homes_all = homes
    # Homes are what may not be split; a main road bridging a warehouse cuts it wherever units run.
    findings.extend(_split_buildings(units, codes, homes[homes["households"].fillna(0).to_numpy() > 0], opts,
                                     child_level, children.crs))
    lines, names, water, water_names = _barrier_lines(roads, barriers, metric, opts)
    if lines or water:
        parent_outline = shapely.union_all([_valid(g) for g in parents.to_crs(metric).geometry])
        # Barriers as the engine sees them: clipped to the parent, then closed at their free ends.
        lines, names = _clipped(lines, names, parent_outline)
        water, water_names = _clipped(water, water_names, parent_outline)
        # The engine's obstacles: the footprints of the buildings whose point lies in the parent.
        inside = shapely.intersects(parent_outline, shapely.point_on_surface(homes_all.geometry.to_numpy()))
        links, link_names = close_barriers(lines + water, names + water_names, parent_outline, opts.closing_m,
                                           obstacles=list(homes_all.geometry.to_numpy()[inside]),
                                           streets=_streets(roads, metric, parent_outline), follow_m=FOLLOW_STREET_M)
        lines, names = lines + links, names + link_names
    if lines:
        findings.extend(_crossings(units, codes, homes, lines, names, child_level, children.crs))
    if water:
        findings.extend(_across_water(units, codes, homes, water, water_names, child_level, children.crs))
    return findings


def summarise(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings counted by kind, every blocking kind present (0 when clean), for plan metrics."""
    counts = {kind: 0 for kind in sorted(BLOCKING | CROSSINGS | NOTES | {"empty_parent"} | BOUNDS)}
    for f in findings:
        counts[f.kind] = counts.get(f.kind, 0) + 1
    return counts


def blocking(findings: Iterable[Finding], *, allow_out_of_range: bool = False, level: str = "grid") -> list[Finding]:
    """The findings that refuse adoption (bounds only when not waived).

    Households across a barrier (``CROSSINGS``) refuse grids, not communities.
    """
    kinds = BLOCKING if allow_out_of_range else BLOCKING | BOUNDS
    if level == "grid":
        kinds = kinds | CROSSINGS
    return [f for f in findings if f.kind in kinds]


def _valid(geom: BaseGeometry) -> BaseGeometry:
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    return geom if geom.is_valid else shapely.make_valid(geom)


def _lonlat(geom: BaseGeometry, metric: object, crs: object) -> BaseGeometry:
    return gpd.GeoSeries([geom], crs=metric).to_crs(crs).iloc[0]


def _where(geom: BaseGeometry, metric: object, crs: object) -> tuple[BaseGeometry, str]:
    point = _lonlat(geom.representative_point() if geom.geom_type != "Point" else geom, metric, crs)
    return point, f"{point.x:.5f}, {point.y:.5f}"


def _slivers(units: gpd.GeoDataFrame, codes: np.ndarray, buildings: gpd.GeoDataFrame | None, metric: object,
             opts: CheckOptions, level: str, crs: object) -> list[Finding]:
    out = []
    areas = shapely.area(units.geometry.to_numpy())
    small = np.flatnonzero(areas < opts.sliver_m2)
    points = shapely.point_on_surface(buildings.to_crs(metric).geometry.to_numpy()) \
        if len(small) and buildings is not None and not buildings.empty else None
    for i in small:
        geom = units.geometry.iloc[i]
        if points is not None:
            if shapely.intersects(geom, points).any():
                continue  # a small unit with a building in it is small, not a sliver
        point, text = _where(geom, metric, crs) if not geom.is_empty else (shapely.Point(), "an unknown place")
        out.append(Finding("sliver", (codes[i],), None, float(areas[i]), point,
                           f"{level} {codes[i]} is a sliver of {areas[i]:.1f} m² with no building, near {text}"))
    return out


def _split_buildings(units: gpd.GeoDataFrame, codes: np.ndarray, homes: gpd.GeoDataFrame, opts: CheckOptions,
                     level: str, crs: object) -> list[Finding]:
    geoms = np.array([_valid(g) for g in homes.geometry], dtype=object)
    area = shapely.area(geoms)
    tree = shapely.STRtree(units.geometry.to_numpy())
    b_idx, u_idx = tree.query(geoms, predicate="intersects")
    per_building = pd.Series(u_idx).groupby(b_idx).size()
    shared = per_building[per_building > 1].index.to_numpy()
    out = []
    ids = homes["id"].to_numpy() if "id" in homes else np.arange(len(homes))
    for b in shared:
        if area[b] < opts.min_footprint_m2:
            continue
        mine = u_idx[b_idx == b]
        pieces = shapely.area(shapely.intersection(geoms[b], units.geometry.to_numpy()[mine]))
        inside = float(pieces.sum())
        if inside < 0.5 * area[b] or pieces.max() >= opts.split_share * inside:
            continue  # mostly outside these units (another parent's problem), or whole enough
        held = [f"{codes[u]} {p / inside:.0%}" for u, p in sorted(zip(mine, pieces, strict=True), key=lambda t: -t[1])
                if p / inside >= 0.01]
        point, text = _where(geoms[b], homes.crs, crs)
        out.append(Finding("split_building", tuple(codes[u] for u in mine), None, float(area[b]), point,
                           f"building {ids[b]} ({area[b]:,.0f} m²) is split between {_PLURALS.get(level, level)} "
                           f"{', '.join(held)} near {text}"))
    return out


def _barrier_lines(roads: gpd.GeoDataFrame | None, barriers: gpd.GeoDataFrame | None, metric: object,
                   opts: CheckOptions) -> tuple[list[BaseGeometry], list[str | None], list[BaseGeometry],
                                                list[str | None]]:
    """Linear barriers and water edges.

    Linear barriers are main roads, rivers and railways: a straight segment across one is a crossing.
    Water edges are lakes, ponds and the coast: only land cut apart by them is.
    """
    lines: list[BaseGeometry] = []
    names: list[str | None] = []
    water: list[BaseGeometry] = []
    water_names: list[str | None] = []
    if roads is not None and len(roads):
        main = roads[roads["is_main_road"].fillna(False).astype(bool)].to_crs(metric)
        for geom, name in zip(main.geometry, main.get("name", pd.Series([None] * len(main))), strict=True):
            name = name if isinstance(name, str) and name else None
            if name in opts.allow_crossing or geom is None or geom.is_empty:
                continue
            lines.append(geom)
            names.append(name)
    if barriers is not None and len(barriers):
        frame = barriers.to_crs(metric)
        kinds = frame["kind"] if "kind" in frame else pd.Series(["waterway"] * len(frame))
        for geom, name, kind in zip(frame.geometry, frame.get("name", pd.Series([None] * len(frame))), kinds,
                                    strict=True):
            name = name if isinstance(name, str) and name else None
            if name in opts.allow_crossing or geom is None or geom.is_empty:
                continue
            areal = geom.geom_type in ("Polygon", "MultiPolygon")
            edge = geom.boundary if areal else geom
            if areal or kind == "water":
                water.append(edge)
                water_names.append(name)
            else:
                lines.append(edge)
                names.append(name)
    return lines, names, water, water_names


def _residential(homes: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """The buildings with households, and their points on surface."""
    residential = homes[homes["households"].fillna(0).to_numpy() > 0]
    return residential, shapely.point_on_surface(residential.geometry.to_numpy())


def _across_water(units: gpd.GeoDataFrame, codes: np.ndarray, homes: gpd.GeoDataFrame, water: list[BaseGeometry],
                  names: list[str | None], level: str, crs: object) -> list[Finding]:
    """Units whose households lie on pieces of land that water cuts apart inside the unit."""
    residential, points = _residential(homes)
    if residential.empty:
        return []
    water_arr = np.asarray(water, dtype=object)
    water_tree = shapely.STRtree(water_arr)
    out = []
    for u, geom in enumerate(units.geometry):
        near = water_tree.query(geom, predicate="intersects")
        if len(near) == 0:
            continue
        mine = points[shapely.intersects(geom, points)]
        if len(mine) < 2:
            continue
        cut = shapely.intersection(shapely.union_all(water_arr[near]), geom)
        pieces = _pieces(geom, water_arr[near])
        if len(pieces) < 2:
            continue
        holding = {int(k) for k in shapely.STRtree(pieces).query(mine, predicate="within")[1]}
        if len(holding) < 2:
            continue
        crossed = sorted({names[k] or "water" for k in near})
        point, text = _where(cut, units.crs, crs)
        out.append(Finding("across_barrier", (codes[u],), None, None, point,
                           f"{level} {codes[u]} holds households on land cut apart by {'、'.join(crossed)} "
                           f"(near {text})"))
    return out


def _crossings(units: gpd.GeoDataFrame, codes: np.ndarray, homes: gpd.GeoDataFrame, lines: list[BaseGeometry],
               names: list[str | None], level: str, crs: object) -> list[Finding]:
    """Units holding two residential buildings whose connecting segment crosses a barrier."""
    residential, points = _residential(homes)
    if residential.empty:
        return []
    hh = residential["households"].to_numpy()
    line_arr = np.asarray(lines, dtype=object)
    line_tree = shapely.STRtree(line_arr)
    unit_tree = shapely.STRtree(units.geometry.to_numpy())
    p_idx, u_idx = unit_tree.query(points, predicate="intersects")
    out = []
    for u in np.unique(u_idx):
        mine = p_idx[u_idx == u]
        if len(mine) < 2:
            continue
        near = line_tree.query(shapely.convex_hull(shapely.multipoints(points[mine])), predicate="intersects")
        if len(near) == 0:
            continue
        if len(mine) > _MAX_PAIR_BUILDINGS:
            mine = mine[np.argsort(-hh[mine], kind="stable")[:_MAX_PAIR_BUILDINGS]]
        xy = shapely.get_coordinates(points[mine])
        i, j = np.triu_indices(len(mine), 1)
        segments = shapely.linestrings(np.stack([xy[i], xy[j]], axis=1))
        seg_hit, line_hit = shapely.STRtree(line_arr[near]).query(segments, predicate="intersects")
        if len(seg_hit) == 0:
            continue
        # Cut apart by the barrier inside the unit, or only joined around its end (which the planner
        # may close by hand, or accept)?
        geom = units.geometry.iloc[u]
        pieces = _pieces(geom, line_arr[line_tree.query(geom, predicate="intersects")])
        piece_of = np.full(len(mine), -1)
        if len(pieces) > 1:
            pt, pc = shapely.STRtree(pieces).query(points[mine], predicate="intersects")
            piece_of[pt[::-1]] = pc[::-1]
        apart = piece_of[i[seg_hit]] != piece_of[j[seg_hit]]
        if apart.any():
            kind, pick = "across_barrier", int(np.flatnonzero(apart)[0])
        else:
            # Both in one piece: joined around a barrier's end only if that barrier runs into the
            # piece's land; a segment that merely cuts across the inside of a bend (the outer side of
            # an L-shaped road) leaves the piece and comes back without crossing anything within it.
            dangling = _dangling(pieces, piece_of[i[seg_hit]], line_arr[near[line_hit]], geom)
            if not dangling.any():
                continue
            kind, pick = "around_barrier_end", int(np.flatnonzero(dangling)[0])
        seg_hit, line_hit = seg_hit[pick:], line_hit[pick:]
        first = int(seg_hit[0])
        barrier = near[int(line_hit[0])]
        crossing = shapely.intersection(segments[first], line_arr[barrier])
        point, text = _where(crossing if not crossing.is_empty else segments[first], units.crs, crs)
        ids = residential["id"].to_numpy() if "id" in residential else np.arange(len(residential))
        crossed = sorted({names[near[k]] or "an unnamed barrier" for k in np.unique(line_hit)})
        a, b = ids[mine[i[first]]], ids[mine[j[first]]]
        crossed = [names[near[int(line_hit[0])]] or "an unnamed barrier"] if kind == "around_barrier_end" else crossed
        tail = ("" if kind == "across_barrier" else
                "; the barrier ends inside the unit and nothing closes it (nothing within the closing distance, "
                "no street or clear way straight on), so the two sides are joined around its end")
        out.append(Finding(kind, (codes[u],), None, None, point,
                           f"{level} {codes[u]} holds households on both sides of {'、'.join(crossed)} "
                           f"(buildings {a} and {b}, crossing near {text}){tail}"))
    return out


def _dangling(pieces: np.ndarray, piece: np.ndarray, lines: np.ndarray, whole: BaseGeometry) -> np.ndarray:
    """Whether each line runs into the interior of its piece (``piece`` -1: the whole unit)."""
    areas = np.array([pieces[k] if k >= 0 else whole for k in piece], dtype=object)
    return shapely.relate_pattern(lines, areas, "T********")


def _pieces(geom: BaseGeometry, lines: np.ndarray) -> np.ndarray:
    """The pieces ``lines`` cut ``geom`` into.

    The lines are not clipped, so that links running a hair past the outline still cut it.
    """
    if len(lines) == 0:
        return np.array([geom], dtype=object)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all([geom.boundary, *lines]))))
    if len(faces) == 0:
        return np.array([geom], dtype=object)
    inside = shapely.within(shapely.point_on_surface(faces), geom)
    return faces[inside] if inside.any() else np.array([geom], dtype=object)


def _streets(roads: gpd.GeoDataFrame | None, metric: object, outline: BaseGeometry) -> list[BaseGeometry]:
    """Minor roads inside the outline: where a barrier's end turns into one, the engine follows it."""
    if roads is None or not len(roads):
        return []
    minor = roads[~roads["is_main_road"].fillna(False).astype(bool)].to_crs(metric)
    return _clipped(list(minor.geometry.dropna()), [None] * int(minor.geometry.notna().sum()), outline)[0]


def _clipped(lines: list[BaseGeometry], names: list[str | None],
             outline: BaseGeometry) -> tuple[list[BaseGeometry], list[str | None]]:
    """The linear parts of ``lines`` inside ``outline``, with their names."""
    out, out_names = [], []
    for line, name in zip(lines, names, strict=True):
        part = shapely.intersection(line, outline)
        linear = [p for p in shapely.get_parts(part) if p.geom_type in ("LineString", "MultiLineString")]
        if linear:
            out.append(shapely.union_all(linear) if len(linear) > 1 else linear[0])
            out_names.append(name)
    return out, out_names
