"""Suggest a partition of a region into units: grids of a community, communities of a street.

``suggest_partition`` is the one entry point the services call: frames in (any CRS; all
measuring happens in the local metric CRS), units, building assignment and a report out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from gis.codes import reading_order
from gis.crs import local_affine_crs
from gis.errors import Infeasible, InvalidInput
from gis.partition.cells import CUT_COST, CellGraph, build_cells, union_faces
from gis.partition.engine import EngineResult, PartitionEngine
from gis.partition.exact import fit_to_region
from gis.partition.metrics import households_moved, partition_metrics
from gis.progress import Progress, noop_progress


@dataclass
class Suggestion:
    """The suggested units, the building → label assignment, and the report.

    Units carry label, code, kind, locked, status, households, buildings and geometry in the input CRS;
    the report holds metrics and infeasibilities.
    """

    units: gpd.GeoDataFrame
    assignment: pd.DataFrame
    report: dict[str, Any]
    graph: CellGraph | None  # None when fixed units cover the whole area


def suggest_partition(
    region: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame | None = None,
    *,
    crs: Any,
    lo: int,
    hi: int,
    current: gpd.GeoDataFrame | None = None,
    keep_current: bool = False,
    fixed: gpd.GeoDataFrame | None = None,
    allow_crossing: tuple[str, ...] = (),
    seed: int = 0,
    restarts: int = 3,
    label_prefix: str = "G",
    closing_m: float = 0.0,
    progress: Progress = noop_progress,
) -> Suggestion:
    """Split ``region`` (in ``crs``) into contiguous units of ``lo``..``hi`` households.

    ``buildings``: id, households, optional compound, geometry. ``roads``: is_main_road, name,
    geometry. ``barriers``: name, geometry. ``current``: the current units (code, geometry),
    used to report households moved and, with ``keep_current``, as the starting point.
    ``fixed``: units kept exactly as they are (dedicated grids, locked grids): code, kind,
    locked, geometry. Buildings belong to the unit holding their point on surface.
    ``closing_m``: barrier ends this close to the outline or another barrier are closed.
    """
    started = time.perf_counter()
    if lo <= 0 or hi < lo:
        raise InvalidInput(f"min and max: household bounds must satisfy 0 < min ≤ max, got {lo}..{hi}",
                           details={"field": "min" if lo <= 0 else "max"})
    if keep_current and (current is None or current.empty):
        raise InvalidInput("keep_current needs a current plan, and this area has no current units",
                           details={"field": "keep_current"})
    frame_for_crs = gpd.GeoDataFrame(geometry=[region], crs=crs)
    # Lon/lat is measured in an affine image of itself, so that the units go back onto the stored
    # outline exactly; a projected input is measured as it is.
    metric = frame_for_crs.crs if frame_for_crs.crs.is_projected else local_affine_crs(frame_for_crs)
    to_metric = _projector(crs, metric)
    region_m = shapely.make_valid(to_metric(region))
    b = _prepare_buildings(buildings, crs, metric)
    roads_m = roads.to_crs(metric) if roads is not None and len(roads) else gpd.GeoDataFrame(
        {"is_main_road": [], "name": []}, geometry=[], crs=metric)
    barriers_m = barriers.to_crs(metric) if barriers is not None and len(barriers) else None

    fixed_m = fixed.to_crs(metric) if fixed is not None and len(fixed) else None
    b_points = shapely.point_on_surface(b.geometry.to_numpy())
    free, in_fixed = _left_free(region_m, fixed_m, b_points)
    if not (in_fixed < 0).any() and fixed_m is None:
        raise Infeasible("the area holds no buildings, so there is nothing to put in units; "
                         "import its buildings or leave it out")
    progress("cells", 0.1)
    graph = build_cells(free, b[in_fixed < 0], roads_m, barriers_m, max_households=hi,
                        allow_crossing=allow_crossing, closing_m=closing_m) if free.area > 1.0 else None

    current_m = current.to_crs(metric) if current is not None and len(current) else None
    b_current = _current_of(b_points, current_m)
    progress("partition", 0.3)
    units_frames: list[gpd.GeoDataFrame] = []
    assignment_parts: list[pd.DataFrame] = []
    engine_result: EngineResult | None = None
    if graph is not None and graph.n:
        cell_current = None
        if keep_current and current_m is not None:
            cell_current = _cell_current(graph, b_current[in_fixed < 0], b["households"].to_numpy()[in_fixed < 0],
                                         current_m)
        engine_result = _engine(graph, lo, hi, seed).run(cell_current, restarts=restarts)
        units_frames.append(_general_units(graph, engine_result, metric))
        free_buildings = np.flatnonzero(in_fixed < 0)
        cell_of = graph.building_cell
        assignment_parts.append(pd.DataFrame({
            "row": free_buildings[cell_of >= 0], "engine_label": engine_result.labels[cell_of[cell_of >= 0]]}))
    if fixed_m is not None:
        units_frames.append(_fixed_units(fixed_m, metric))
        rows = np.flatnonzero(in_fixed >= 0)
        assignment_parts.append(pd.DataFrame({"row": rows, "engine_label": -1 - in_fixed[rows]}))

    progress("metrics", 0.8)
    units, assignment, absorbed, label_of = _labelled(units_frames, assignment_parts, b, metric, crs, label_prefix)
    report = partition_metrics(
        region=region_m, units=units, graph=graph, engine_result=engine_result, lo=lo, hi=hi,
        crs=crs,
    )
    report.update(_moves(b, assignment, b_current if current_m is not None else None))
    if absorbed:
        report["attached_empty_land"] = list(report.get("attached_empty_land") or []) + [
            {"unit": label_of.get(a["to"]), "area_m2": a["area_m2"], "across": None} for a in absorbed]
    report["keep_current"] = bool(keep_current)
    report["bounds"] = [lo, hi]
    report["runtime_s"] = round(time.perf_counter() - started, 3)
    progress("done", 1.0)
    assignment_out = pd.DataFrame({"building_id": b["id"].to_numpy()[assignment["row"].to_numpy()],
                                   "label": assignment["label"].to_numpy()})
    out_units = _in_storage(units, region, fixed, b, crs, to_metric)
    return Suggestion(units=out_units, assignment=assignment_out, report=report, graph=graph)


def _left_free(region_m: BaseGeometry, fixed_m: gpd.GeoDataFrame | None,
               b_points: np.ndarray) -> tuple[BaseGeometry, np.ndarray]:
    """What the fixed units leave of the region, and per building the fixed unit holding it (-1 for none)."""
    in_fixed = np.full(len(b_points), -1)
    if fixed_m is None:
        return region_m, in_fixed
    free = shapely.make_valid(shapely.difference(region_m, shapely.union_all(fixed_m.geometry.to_numpy())))
    for i, geom in enumerate(fixed_m.geometry):
        in_fixed[shapely.intersects(geom, b_points) & (in_fixed < 0)] = i
    return free, in_fixed


def _moves(b: gpd.GeoDataFrame, assignment: pd.DataFrame, b_current: np.ndarray | None) -> dict[str, int | None]:
    """Households and buildings moved from their current unit (None when there is no current plan)."""
    if b_current is None:
        return {"households_moved": None, "buildings_moved": None}
    b_new = np.full(len(b), None, dtype=object)
    b_new[assignment["row"].to_numpy()] = assignment["label"].to_numpy()
    moved = households_moved(b["households"].to_numpy(), b_current, b_new)
    return {"households_moved": moved["households"], "buildings_moved": moved["buildings"]}


def _engine(graph: CellGraph, lo: int, hi: int, seed: int) -> PartitionEngine:
    """The partition engine over the cells: households per cell, cut costs, and the barriers between cells."""
    edges = graph.edges
    return PartitionEngine(
        graph.cells["households"].to_numpy(), edges["u"].to_numpy(), edges["v"].to_numpy(),
        edges["cost"].to_numpy(), edges["kind"].map(CUT_COST).to_numpy(), lo=lo, hi=hi,
        hard_u=graph.hard_pairs["u"].to_numpy(), hard_v=graph.hard_pairs["v"].to_numpy(),
        hard_length=graph.hard_pairs["length_m"].to_numpy(), hard_name=graph.hard_pairs["name"].tolist(),
        seed=seed,
    )


def _general_units(graph: CellGraph, result: EngineResult, metric: Any) -> gpd.GeoDataFrame:
    """The engine's units as polygons (in metres), with their range status."""
    polys = _unit_polygons(graph, result.labels)
    label_ids = np.array(sorted(polys))
    return gpd.GeoDataFrame({
        "engine_label": label_ids,
        "kind": "general", "locked": False, "code": None,
        "status": [result.status.get(int(x), "in_range") for x in label_ids],
    }, geometry=[polys[x] for x in label_ids], crs=metric)


def _fixed_units(fixed_m: gpd.GeoDataFrame, metric: Any) -> gpd.GeoDataFrame:
    """Fixed units as they are, labelled -1, -2, ... (dedicated and locked unless they say otherwise)."""
    return gpd.GeoDataFrame({
        "engine_label": -1 - np.arange(len(fixed_m)),
        "kind": fixed_m.get("kind", pd.Series(["dedicated"] * len(fixed_m))).fillna("dedicated").to_numpy(),
        "locked": fixed_m.get("locked", pd.Series([True] * len(fixed_m))).fillna(True).astype(bool).to_numpy(),
        "code": fixed_m["code"].to_numpy() if "code" in fixed_m else None,
        "status": "fixed",
    }, geometry=fixed_m.geometry.to_numpy(), crs=metric)


def _labelled(units_frames: list[gpd.GeoDataFrame], assignment_parts: list[pd.DataFrame], b: gpd.GeoDataFrame,
              metric: Any, crs: Any, label_prefix: str,
              ) -> tuple[gpd.GeoDataFrame, pd.DataFrame, list[dict], dict[int, str]]:
    """All units with empty ones absorbed, labelled in reading order, with their households and buildings.

    Returns the units, the assignment (row, engine_label, label), what was absorbed, and the labels.
    """
    units = pd.concat(units_frames, ignore_index=True) if units_frames else gpd.GeoDataFrame(
        {"engine_label": [], "kind": [], "locked": [], "code": [], "status": []}, geometry=[], crs=metric)
    units = gpd.GeoDataFrame(units, geometry="geometry", crs=metric)
    assignment = pd.concat(assignment_parts, ignore_index=True) if assignment_parts else pd.DataFrame(
        {"row": [], "engine_label": []})
    units, absorbed = _absorb_empty_units(units, set(assignment["engine_label"].astype(int)))
    # Labels in reading order (west→east, north→south), so that "G03" means the same on every map.
    order = reading_order(units.to_crs(crs).geometry) if len(units) else []
    label_of = {int(units["engine_label"].iloc[i]): f"{label_prefix}{rank + 1:02d}" for rank, i in enumerate(order)}
    units["label"] = units["engine_label"].map(label_of)
    assignment["label"] = assignment["engine_label"].map(label_of)
    hh = b["households"].to_numpy()
    units["households"] = units["engine_label"].map(
        pd.Series(hh[assignment["row"].to_numpy()]).groupby(assignment["engine_label"].to_numpy()).sum()
    ).fillna(0).astype(int)
    units["buildings"] = units["engine_label"].map(assignment.groupby("engine_label").size()).fillna(0).astype(int)
    return units, assignment, absorbed, label_of


def _in_storage(units: gpd.GeoDataFrame, region: BaseGeometry, fixed: gpd.GeoDataFrame | None,
                b: gpd.GeoDataFrame, crs: Any, to_metric: Callable[[BaseGeometry], BaseGeometry]) -> gpd.GeoDataFrame:
    """The units back in ``crs``, sorted by label: fixed ones exactly as given, the rest fitted to the region."""
    out_units = units.to_crs(crs)
    if fixed is not None and len(fixed):
        # Fixed grids go out exactly as they came in, not through a reprojection round trip.
        original = fixed.to_crs(crs).geometry.to_numpy()
        is_fixed = out_units["engine_label"].to_numpy() < 0
        out_units.loc[is_fixed, "geometry"] = original[-1 - out_units["engine_label"].to_numpy()[is_fixed]]
    is_free = out_units["engine_label"].to_numpy() >= 0
    if is_free.any():
        # Back in storage coordinates, the units are made to tile what is left of the region exactly.
        free_region = region if fixed is None or not len(fixed) else shapely.difference(
            region, shapely.union_all(fixed.to_crs(crs).geometry.to_numpy()))
        fitted = fit_to_region(list(out_units.geometry.to_numpy()[is_free]), free_region,
                               area=lambda g: float(to_metric(g).area),
                               grid_size=1e-10 if gpd.GeoSeries(crs=crs).crs.is_geographic else 1e-5,
                               points=shapely.point_on_surface(b.to_crs(crs).geometry.to_numpy())
                               if len(b) else None)
        out_units.loc[is_free, "geometry"] = gpd.GeoSeries(fitted, index=out_units.index[is_free], crs=crs)
    out_units = out_units.drop(columns=["engine_label"])
    return out_units.sort_values("label").reset_index(drop=True)


def _absorb_empty_units(units: gpd.GeoDataFrame, holding: set[int]) -> tuple[gpd.GeoDataFrame, list[dict]]:
    """General units without a single building join the neighbour they share most boundary with.

    Land nobody lives on (a sliver between a road and the outline, a park cut off by barriers)
    is not a grid or a community of its own; the engine attaches what it can, and what is left
    joins here, in metres, before the units go back to storage coordinates.
    """
    general = (units["kind"] == "general").to_numpy() & (units["engine_label"].to_numpy() >= 0)
    empty = [i for i in np.flatnonzero(general) if int(units["engine_label"].iloc[i]) not in holding]
    keep = [i for i in range(len(units)) if i not in set(empty)]
    if not empty or not keep:
        return units, []
    geoms = units.geometry.to_numpy().copy()
    absorbed = []
    for i in sorted(empty, key=lambda k: -geoms[k].area):
        candidates = [j for j in keep if shapely.intersects(geoms[i], geoms[j])]
        if not candidates:
            candidates = [min(keep, key=lambda j: geoms[i].distance(geoms[j]))]
        shared = [shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)) for j in candidates]
        j = candidates[int(np.argmax(shared))]
        geoms[j] = union_faces(np.array([geoms[j], geoms[i]], dtype=object))
        absorbed.append({"to": int(units["engine_label"].iloc[j]), "area_m2": round(float(geoms[i].area), 1)})
    out = units.copy()
    out["geometry"] = geoms
    return gpd.GeoDataFrame(out.iloc[keep], geometry="geometry", crs=units.crs).reset_index(drop=True), \
        [a for a in absorbed if a["area_m2"] >= 1.0]


def _projector(src: Any, dst: Any) -> Callable[[BaseGeometry], BaseGeometry]:
    def project(geom: BaseGeometry) -> BaseGeometry:
        return gpd.GeoSeries([geom], crs=src).to_crs(dst).iloc[0]
    return project


def _prepare_buildings(buildings: gpd.GeoDataFrame, crs: Any, metric: Any) -> gpd.GeoDataFrame:
    for column in ("id", "households"):
        if column not in buildings:
            raise InvalidInput(f"buildings need a {column!r} column")
    frame = buildings.copy()
    if frame.crs is None:
        frame = frame.set_crs(crs)
    if "compound" not in frame:
        frame["compound"] = None
    frame["households"] = frame["households"].fillna(0).astype(int)
    return frame.to_crs(metric).reset_index(drop=True)


def _current_of(points: np.ndarray, current: gpd.GeoDataFrame | None) -> np.ndarray:
    """The code of the current unit holding each building point (None outside every unit)."""
    out = np.full(len(points), None, dtype=object)
    if current is None or len(points) == 0:
        return out
    tree = shapely.STRtree(current.geometry.to_numpy())
    p, u = tree.query(points, predicate="intersects")
    codes = current["code"].to_numpy()
    out[p[::-1]] = codes[u[::-1]]
    return out


def _cell_current(graph: CellGraph, b_current: np.ndarray, households: np.ndarray,
                  current: gpd.GeoDataFrame) -> np.ndarray:
    """One current label per cell: the current unit of most of its households (or of its land)."""
    codes = {c: i for i, c in enumerate(current["code"].tolist())}
    label = np.full(graph.n, -1, dtype=np.int64)
    frame = pd.DataFrame({"cell": graph.building_cell, "code": b_current, "hh": households + 1})
    frame = frame[(frame["cell"] >= 0) & frame["code"].notna()]
    if len(frame):
        best = frame.groupby(["cell", "code"])["hh"].sum().reset_index().sort_values("hh").drop_duplicates(
            "cell", keep="last")
        label[best["cell"].to_numpy()] = best["code"].map(codes).to_numpy()
    empty = np.flatnonzero(label < 0)
    if len(empty):
        where = _current_of(shapely.point_on_surface(graph.cells.geometry.to_numpy()[empty]), current)
        label[empty] = [codes[c] if c is not None else -1 for c in where]
    return label


def _unit_polygons(graph: CellGraph, labels: np.ndarray) -> dict[int, BaseGeometry]:
    faces = graph.faces
    face_label = labels[faces["cell"].to_numpy()]
    geoms = faces.geometry.to_numpy()
    out = {}
    for lab in np.unique(face_label):
        out[int(lab)] = union_faces(geoms[face_label == lab])
    return out
