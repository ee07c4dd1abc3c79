"""Partition quality and speed: Wangge's engine against spopt's max-p and METIS alone, in one run.

    .venv/bin/python bench/partition.py [--households 200000] [--maxp-max-cells 6000] [--json]

Inputs, the same for every method:

- square lattices of 32×32 = 1,024 and 71×71 = 5,041 cells of 50 m with 10–70 households
  each (seeded), rook contiguity: the shape of the problem spopt's own examples use;
- a synthetic district of ``--households`` households (gis.synthetic), cut into building
  cells by our cell builder (roads, main roads and the river included).

Methods:

- **wangge**: ``gis.partition`` (on the lattice: the engine on the lattice graph; on the
  district: the whole suggestion, cells included, timed end to end);
- **spopt MaxPHeuristic** with threshold = the minimum (max-p has no upper bound, which is
  the point: its in-range share shows what a planner gets). Skipped above
  ``--maxp-max-cells`` cells, where it takes many minutes (77 s at 1,024 cells and ~9 min at
  5,041 were reported; set the option higher to measure);
- **pymetis alone**: METIS k-way with household vertex weights, k = round(T / 400) and the
  contiguity option, no repair.

Each prints time, units, share of units in range, Polsby-Popper mean and multi-part units.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.partition.cells import CUT_COST  # noqa: E402
from gis.partition.engine import PartitionEngine  # noqa: E402
from gis.partition.metrics import part_counts, polsby_popper  # noqa: E402
from gis.partition.suggest import suggest_partition  # noqa: E402
from gis.synthetic import generate_district  # noqa: E402

LO, HI = 300, 500


def lattice(side: int, seed: int = 7, cell_m: float = 50.0) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x0, y0 = jj.ravel() * cell_m, ii.ravel() * cell_m
    geoms = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    cells = gpd.GeoDataFrame({"households": rng.integers(10, 71, side * side)}, geometry=geoms, crs="EPSG:4549")
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return cells, u, v


def evaluate(geoms: np.ndarray, households: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    units = np.unique(labels)
    hh = np.array([households[labels == k].sum() for k in units])
    polys = np.array([shapely.union_all(geoms[labels == k]) for k in units], dtype=object)
    pp = polsby_popper(polys)
    return {"units": int(len(units)), "in_range_share": round(float(((hh >= LO) & (hh <= HI)).mean()), 4),
            "households_min": int(hh.min()), "households_max": int(hh.max()),
            "polsby_popper_mean": round(float(pp.mean()), 3), "multipart_units": int((part_counts(polys) > 1).sum())}


def run_wangge_lattice(cells: gpd.GeoDataFrame, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cost = np.full(len(u), 50.0 * CUT_COST["interior"])
    engine = PartitionEngine(cells["households"].to_numpy(), u, v, cost, np.full(len(u), CUT_COST["interior"]),
                             lo=LO, hi=HI, seed=0)
    return engine.run(restarts=2).labels


def run_maxp(cells: gpd.GeoDataFrame, side: int) -> np.ndarray:
    from libpysal.weights import lat2W
    from spopt.region import MaxPHeuristic

    w = lat2W(side, side, rook=True)
    frame = cells.copy()
    frame["households"] = frame["households"].astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MaxPHeuristic(frame, w, ["households"], "households", LO, top_n=2)
        model.solve()
    return np.asarray(model.labels_)


def run_metis(households: np.ndarray, u: np.ndarray, v: np.ndarray, n: int) -> np.ndarray:
    import pymetis
    from scipy.sparse import coo_matrix

    adj = coo_matrix((np.ones(2 * len(u)), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)).tocsr()
    k = max(1, round(int(households.sum()) / ((LO + HI) / 2)))
    graph = pymetis.CSRAdjacency(adj.indptr, adj.indices)
    try:
        result = pymetis.part_graph(k, graph, vweights=households.astype(np.int64), options=pymetis.Options(contig=1))
    except RuntimeError:  # METIS refuses contiguity on a disconnected graph (e.g. islands between rivers)
        result = pymetis.part_graph(k, graph, vweights=households.astype(np.int64))
    return np.asarray(result[1])


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _progress(row: dict[str, Any]) -> None:
    print(f"· {row['case']}: {row['method']} {row.get('seconds')} s", file=sys.stderr, flush=True)


def bench_lattice(side: int, maxp_max_cells: int, rows: list[dict[str, Any]]) -> None:
    cells, u, v = lattice(side)
    n = side * side
    hh = cells["households"].to_numpy()
    geoms = cells.geometry.to_numpy()
    case = f"lattice {side}×{side} ({n} cells, {int(hh.sum())} households)"
    t, labels = timed(lambda: run_wangge_lattice(cells, u, v))
    rows.append({"case": case, "method": "wangge", "seconds": round(t, 3), **evaluate(geoms, hh, labels)})
    _progress(rows[-1])
    t, labels = timed(lambda: run_metis(hh, u, v, n))
    rows.append({"case": case, "method": "pymetis alone", "seconds": round(t, 3), **evaluate(geoms, hh, labels)})
    _progress(rows[-1])
    if n <= maxp_max_cells:
        t, labels = timed(lambda: run_maxp(cells, side))
        rows.append({"case": case, "method": "spopt MaxPHeuristic", "seconds": round(t, 3),
                     **evaluate(geoms, hh, labels)})
        _progress(rows[-1])
    else:
        rows.append({"case": case, "method": "spopt MaxPHeuristic", "seconds": None,
                     "note": f"skipped: more than --maxp-max-cells {maxp_max_cells} cells"})


def bench_district(households: int, rows: list[dict[str, Any]]) -> None:
    layers = generate_district(households=households, seed=1)
    metric = "EPSG:4549"
    buildings = layers.buildings[["households", "geometry"]].copy()
    buildings["id"] = np.arange(len(buildings))
    region = shapely.union_all(layers.edges.to_crs(metric).geometry.to_numpy()).convex_hull.buffer(30)
    region_4490 = gpd.GeoSeries([region], crs=metric).to_crs("EPSG:4490").iloc[0]
    roads = layers.edges[["is_main_road", "name", "geometry"]]
    barriers = layers.barriers[["name", "geometry"]] if len(layers.barriers) else None
    case = f"synthetic district ({households} households, {len(buildings)} buildings)"
    t, suggestion = timed(lambda: suggest_partition(region_4490, buildings, roads, barriers, crs="EPSG:4490",
                                                    lo=LO, hi=HI, restarts=2))
    rep = suggestion.report
    rows.append({"case": case, "method": "wangge", "seconds": round(t, 3), "units": rep["units"],
                 "in_range_share": rep["in_range_share"],
                 "in_range_share_feasible_areas": rep["in_range_share_feasible_areas"],
                 "households_min": rep["households_min"], "households_max": rep["households_max"],
                 "polsby_popper_mean": rep["polsby_popper_mean"], "multipart_units": rep["multipart_units"],
                 "main_road_crossings": rep["main_road_crossings"], "gap_m2": rep["gap_m2"],
                 "overlap_m2": rep["overlap_m2"], "infeasible_areas": len(rep["infeasible"]),
                 "cells": suggestion.graph.n})
    graph = suggestion.graph
    cells = graph.cells
    hh = cells["households"].to_numpy()
    e = graph.edges
    # METIS knows no roads: it gets every adjacency, main-road ones included, and we count crossings.
    hp = graph.hard_pairs
    u = np.concatenate([e["u"].to_numpy(), hp["u"].to_numpy()])
    v = np.concatenate([e["v"].to_numpy(), hp["v"].to_numpy()])
    t, labels = timed(lambda: run_metis(hh, u, v, graph.n))
    comp = graph.soft_components()
    has_hh = hh > 0
    crossings = len({lab for lab in np.unique(labels[has_hh])
                     if len(np.unique(comp[has_hh][labels[has_hh] == lab])) > 1})
    rows.append({"case": case, "method": "pymetis alone (on our cells)", "seconds": round(t, 3),
                 **evaluate(cells.geometry.to_numpy(), hh, labels), "main_road_crossings": crossings})
    rows.append({"case": case, "method": "spopt MaxPHeuristic", "seconds": None,
                 "note": "not run: minutes already at 1,024 cells; see the lattice rows"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--maxp-max-cells", type=int, default=6000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for side in (32, 71):
        bench_lattice(side, args.maxp_max_cells, rows)
    bench_district(args.households, rows)
    ratios = {}
    for case in dict.fromkeys(r["case"] for r in rows):
        ours = next(r for r in rows if r["case"] == case and r["method"] == "wangge")
        for r in rows:
            if r["case"] == case and r["method"] != "wangge" and r.get("seconds"):
                ratios[f"{case}: {r['method']} / wangge time"] = round(r["seconds"] / ours["seconds"], 1)
    if args.json:
        print(json.dumps({"rows": rows, "ratios": ratios}, ensure_ascii=False))
        return
    header = f"{'case':<58} {'method':<30} {'time s':>8} {'units':>6} {'in range':>9} {'PP mean':>8} {'multi':>6}"
    print(header)
    for r in rows:
        if r.get("seconds") is None:
            print(f"{r['case']:<58} {r['method']:<30} {'-':>8}  {r.get('note', '')}")
            continue
        print(f"{r['case']:<58} {r['method']:<30} {r['seconds']:>8.2f} {r['units']:>6} "
              f"{100 * r['in_range_share']:>8.1f}% {r['polsby_popper_mean']:>8.3f} {r['multipart_units']:>6}")
    for name, value in ratios.items():
        print(f"{name}: {value}×")


if __name__ == "__main__":
    main()
