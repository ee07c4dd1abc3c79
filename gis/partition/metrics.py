"""What a planner reads before adopting a plan: bounds, shape, tiling, roads, moves, infeasibility."""

from __future__ import annotations

import functools
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from shapely.geometry.base import BaseGeometry

# Gap and overlap below this are floating-point dust, not a hole a planner could see.
AREA_DUST_M2 = 0.01


def polsby_popper(geoms: np.ndarray) -> np.ndarray:
    """4πA/P²: 1 for a disc, about 0.785 for a square, towards 0 for a snake."""
    area = shapely.area(geoms)
    perimeter = shapely.length(shapely.boundary(geoms))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perimeter > 0, 4 * np.pi * area / perimeter**2, 0.0)


def part_counts(geoms: np.ndarray) -> np.ndarray:
    """Polygon parts per geometry (a grid must be exactly one)."""
    return np.array([len(shapely.get_parts(g)) if g is not None and not g.is_empty else 0 for g in geoms])


def tiling_errors(region: BaseGeometry, geoms: np.ndarray) -> tuple[float, float]:
    """(gap, overlap) areas of units against the region they must tile, in the units' CRS."""
    if len(geoms) == 0:
        return float(region.area), 0.0
    union = shapely.union_all(geoms)
    gap = shapely.difference(region, union).area
    overlap = float(shapely.area(geoms).sum() - union.area)
    return float(gap if gap > AREA_DUST_M2 else 0.0), float(overlap if overlap > AREA_DUST_M2 else 0.0)


def households_moved(households: np.ndarray, before: np.ndarray, after: np.ndarray) -> dict[str, int]:
    """Households and buildings whose unit changes.

    Old and new units are first matched one to one on shared households, so that a unit that is only
    renamed moves nobody.
    """
    keep = np.array([a is not None and b is not None for a, b in zip(before, after, strict=True)], dtype=bool)
    w = np.asarray(households)[keep].astype(float)
    if not keep.any():
        return {"households": 0, "buildings": 0}
    b_codes, bi = np.unique(np.asarray(before)[keep].astype(str), return_inverse=True)
    a_codes, ai = np.unique(np.asarray(after)[keep].astype(str), return_inverse=True)
    # +1 per building, so that buildings with no households still decide the matching.
    shared = coo_matrix((w + 1e-3, (bi, ai)), shape=(len(b_codes), len(a_codes))).toarray()
    rows, cols = linear_sum_assignment(-shared)
    match = np.full(len(b_codes), -1)
    match[rows] = cols
    moved = match[bi] != ai
    return {"households": int(w[moved].sum()), "buildings": int(moved.sum())}


def partition_metrics(*, region: BaseGeometry, units: gpd.GeoDataFrame, graph: Any, engine_result: Any,
                      lo: int, hi: int, crs: Any) -> dict[str, Any]:
    """The report: units in metric CRS with label, kind, status, households, geometry."""
    geoms = units.geometry.to_numpy()
    general = (units["kind"] == "general").to_numpy()
    statuses = units["status"].to_numpy()
    feasible = general & np.isin(statuses, ["in_range", "out_of_range"])
    hh = units["households"].to_numpy()
    in_range = (hh >= lo) & (hh <= hi)
    pp = polsby_popper(geoms)
    gap, overlap = tiling_errors(region, geoms)
    report: dict[str, Any] = {
        "units": int(len(units)),
        "general_units": int(general.sum()),
        "in_range_share": _share(in_range[general]),
        "in_range_share_feasible_areas": _share(in_range[feasible]),
        "households_total": int(hh.sum()),
        "households_min": int(hh[general].min()) if general.any() else None,
        "households_max": int(hh[general].max()) if general.any() else None,
        "households_spread": int(hh[general].max() - hh[general].min()) if general.any() else None,
        "multipart_units": int((part_counts(geoms) > 1).sum()),
        "gap_m2": round(gap, 2),
        "overlap_m2": round(overlap, 2),
        "polsby_popper_mean": round(float(pp.mean()), 3) if len(pp) else None,
        "polsby_popper_min": round(float(pp.min()), 3) if len(pp) else None,
    }
    report.update(_boundary_metrics(graph, engine_result))
    report["infeasible"] = _infeasible(graph, engine_result, units, crs)
    report["attached_empty_land"] = _attached(graph, engine_result, units, crs)
    return report


def _share(mask: np.ndarray) -> float | None:
    return round(float(mask.mean()), 4) if len(mask) else None


def _boundary_metrics(graph: Any, result: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"main_road_crossings": 0, "boundary_on_roads_share": None,
                           "boundary_on_minor_roads_share": None, "boundary_through_blocks_m": 0.0}
    if graph is None or result is None or graph.n == 0:
        return out
    labels = result.labels
    comp = result.components
    # A crossing is a unit with households on both sides of a main road or barrier.
    has_hh = graph.cells["households"].to_numpy() > 0
    frame = pd.DataFrame({"label": labels[has_hh], "comp": comp[has_hh]})
    out["main_road_crossings"] = int((frame.groupby("label")["comp"].nunique() > 1).sum())
    e = graph.edges
    cut = labels[e["u"].to_numpy()] != labels[e["v"].to_numpy()]
    by_kind = e[cut].groupby("kind")["length_m"].sum()
    hp = graph.hard_pairs
    hard_cut = float(hp["length_m"][labels[hp["u"].to_numpy()] != labels[hp["v"].to_numpy()]].sum()) if len(hp) else 0
    minor = float(by_kind.get("minor_road", 0.0))
    through = float(by_kind.get("interior", 0.0) + by_kind.get("compound", 0.0))
    total = minor + through + hard_cut
    if total > 0:
        out["boundary_on_roads_share"] = round((minor + hard_cut) / total, 4)
        out["boundary_on_minor_roads_share"] = round(minor / total, 4)
    out["boundary_through_blocks_m"] = round(through, 1)
    out["boundary_through_compounds_m"] = round(float(by_kind.get("compound", 0.0)), 1)
    return out


def _infeasible(graph: Any, result: Any, units: gpd.GeoDataFrame, crs: Any) -> list[dict[str, Any]]:
    if result is None:
        return []
    label_of = dict(zip(units["engine_label"], units["label"], strict=True)) if "label" in units else {}
    out = []
    for item in result.infeasible:
        if item.households == 0 and int(graph.cells["buildings"].to_numpy()[item.cells].sum()) == 0:
            continue  # land without buildings, joined to a neighbour (attached_empty_land), not a unit to explain
        cells = graph.cells.geometry.to_numpy()[item.cells]
        point = gpd.GeoSeries([shapely.union_all(cells).representative_point()], crs=graph.crs).to_crs(crs).iloc[0]
        unit = label_of.get(int(result.labels[item.cells[0]]))
        # An area that could not be split may hold several out-of-range units: name them all.
        named = (label_of.get(int(lab)) for lab in np.unique(result.labels[item.cells]))
        units_in_area = sorted({name for name in named if name is not None})
        out.append({"reason": item.reason, "households": item.households, "message": item.message,
                    "options": item.options, "bounded_by": item.neighbours, "unit": unit, "units": units_in_area,
                    "proven": item.proven,
                    "point": [round(point.x, 6), round(point.y, 6)]})
    return out


def _attached(graph: Any, result: Any, units: gpd.GeoDataFrame, crs: Any) -> list[dict[str, Any]]:
    """Each piece of land without households joined to a unit across a barrier.

    Gives the unit, its area, the barrier, and its outline (GeoJSON in ``crs``) so that maps can draw what
    was joined.
    """
    if result is None:
        return []
    label_of = dict(zip(units["engine_label"], units["label"], strict=True)) if "label" in units else {}
    out = []
    for item in result.attached:
        cells = graph.cells.geometry.to_numpy()[item["cells"]]
        area = float(shapely.area(cells).sum())
        if area < 1.0:
            continue  # slivers between carriageways: not worth a line in the report
        across = item["across"] if isinstance(item["across"], str) else None
        outline = gpd.GeoSeries([shapely.union_all(cells)], crs=graph.crs).to_crs(crs).iloc[0]
        # Seven decimals of a degree is about a centimetre: plenty for a map, small in the stored metrics.
        # Rounded, not snapped: the outline is only drawn, and snapping can fail on what a union leaves.
        decimals = 7 if CRS.from_user_input(crs).is_geographic else 2
        outline = shapely.transform(outline, functools.partial(np.round, decimals=decimals))
        out.append({"unit": label_of.get(item["to_label"]), "area_m2": round(area, 1), "across": across,
                    "geometry": shapely.geometry.mapping(outline) if not outline.is_empty else None})
    return out
