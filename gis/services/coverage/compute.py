"""Computing coverage: nearest facility and walking distance per building and type, rolled up and stored as a run.

A run is one ``coverage_run`` row (parameters, network version, roll-ups) and one ``building_coverage`` row per
building and facility type, written by COPY.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict, cast

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.catalogue import FacilityType
from gis.coverage.distances import DEFAULT_LIMIT_FACTOR, TypeCoverage
from gis.coverage.distances import compute_coverage as compute_types
from gis.coverage.rollup import coverage_table, rollup
from gis.db.frames import copy_rows
from gis.db.levels import PLURAL
from gis.errors import InvalidInput
from gis.jsonable import plain
from gis.progress import Progress, noop_progress
from gis.services.coverage.cache import PreparedDistrict, prepare_district_with_source
from gis.services.coverage.district import (
    LEVEL_COLUMNS,
    NETWORK_NOTE,
    STRAIGHT_LINE_NOTE,
    check_mode,
    check_types,
    facility_types,
    metric_points,
    population_of,
    read_facilities,
    resolve_district,
    units_of,
)
from gis.services.coverage.runs import latest_run


class NetworkFigures(TypedDict):
    """The size of the walk network a run used."""

    nodes: int
    edges: int
    components: int
    fragment_edges_without_links: int


class CoverageReport(TypedDict):
    """What ``compute_coverage`` answers: the district, how it was measured, and per type the roll-ups."""

    district_code: str
    district_name: str
    network_version: int
    mode: str
    distance: str
    buildings: int
    households: int
    population: int
    population_source: str
    links_across_barriers: int | None
    network: NetworkFigures | None
    parameters: dict[str, Any]
    types: dict[str, dict[str, Any]]
    """Per type: catalogue fields, ``district`` totals and rows per ``streets``, ``communities``, ``grids``."""
    store_s: NotRequired[float]
    run_id: int | None
    network_cached: bool
    network_source: str
    load_s: float
    compute_s: float
    elapsed_s: float


def compute_coverage(
    session: Session,
    *,
    district_code: str | None = None,
    types: Iterable[str] | None = None,
    mode: str = "network",
    limit_factor: float = DEFAULT_LIMIT_FACTOR,
    store: bool = True,
    progress: Progress = noop_progress,
) -> CoverageReport:
    """Nearest facility and walking distance for every residential building and type; stored as a run.

    Returns the roll-ups per type and per street, community and grid: households and target
    population covered and not covered within each type's radius.
    """
    check_mode(mode)
    if not limit_factor >= 1.0:
        raise InvalidInput(f"limit_factor must be at least 1 (the search reaches the radius); got {limit_factor}",
                           details={"field": "limit_factor"})
    started = time.perf_counter()
    code, name, network_version = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = check_types(catalogue, types)
    progress("network", 0.0)
    load_started = time.perf_counter()
    prepared, source = prepare_district_with_source(session, code, progress=lambda s, f: progress(s, 0.4 * f))
    load_s = time.perf_counter() - load_started
    if mode == "network" and not prepared.has_network:
        raise InvalidInput(f"mode: district {code} has no walk network; import one, or use mode straight_line, "
                           "which is a draft only", details={"field": "mode"})
    coverages, ids, compute_s = _distances(session, prepared, catalogue, codes, mode, limit_factor, progress)
    progress("roll-ups", 0.7)
    population, population_source = population_of(session, prepared.homes)
    units, names = units_of(session, prepared.homes)
    table = coverage_table(coverages, households=prepared.households, population=population,
                           target_group={c: catalogue[c].target_group for c in codes}, units=units)
    illegal, network = _network_figures(prepared)
    summary: dict[str, Any] = {
        "district_code": code, "district_name": name, "network_version": network_version, "mode": mode,
        "distance": NETWORK_NOTE if mode == "network" else STRAIGHT_LINE_NOTE,
        "buildings": int(len(prepared.building_ids)), "households": int(prepared.households.sum()),
        "population": int(population["all"].sum()), "population_source": population_source,
        "links_across_barriers": illegal, "network": network,
        "types": _summary(table, coverages, catalogue, ids, names),
    }
    parameters = {"types": codes, "limit_factor": limit_factor, "mode": mode}
    timing: dict[str, Any] = {}
    run_id = None
    if store:
        progress("storing", 0.85)
        store_started = time.perf_counter()
        run_id = _store_run(session, summary, parameters, table, prepared, ids)
        timing["store_s"] = round(time.perf_counter() - store_started, 3)
    timing.update(network_cached=source != "prepared", load_s=round(load_s, 3), compute_s=round(compute_s, 3),
                  elapsed_s=round(time.perf_counter() - started, 3))
    if run_id is not None:
        session.execute(text("UPDATE coverage_run SET metrics = CAST(:m AS jsonb) WHERE id = :id"),
                        {"m": _json(timing), "id": run_id})
    progress("done", 1.0)
    # Keys in the order the report always had: the summary, parameters, then how the run went.
    return cast(CoverageReport, {**summary, "parameters": parameters, "run_id": run_id, "network_source": source,
                                 **timing})


def _distances(session: Session, prepared: PreparedDistrict, catalogue: Mapping[str, FacilityType],
               codes: list[str], mode: str, limit_factor: float,
               progress: Progress) -> tuple[dict[str, TypeCoverage], dict[str, np.ndarray], float]:
    """Per type, the nearest facility of every building; with the facilities' ids and the seconds it took."""
    facilities = read_facilities(session, prepared.district_code, codes)
    points = {c: metric_points(facilities[facilities["type_code"] == c], prepared.crs) for c in codes}
    ids = {c: facilities.loc[facilities["type_code"] == c, "id"].to_numpy(dtype=np.int64) for c in codes}
    started = time.perf_counter()
    coverages = compute_types(
        prepared.graph, points, {c: catalogue[c].radius_m for c in codes},
        footprints=prepared.footprints if mode == "straight_line" else None,
        limit_factor=limit_factor, mode=mode, progress=lambda s, f: progress(f"distances: {s}", 0.4 + 0.3 * f))
    return coverages, ids, time.perf_counter() - started


def _network_figures(prepared: PreparedDistrict) -> tuple[int | None, NetworkFigures | None]:
    """Building links that cross a barrier, and the network's size (None, None without a network)."""
    if prepared.graph is None:
        return None, None
    net = prepared.graph.network
    return (int((~prepared.graph.building_legal).sum()),
            NetworkFigures(nodes=net.n_nodes, edges=net.n_edges, components=net.components,
                           fragment_edges_without_links=net.fragment_edges))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _records(frame: pd.DataFrame, column: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        unit = row.pop(column)
        out.append({column: unit or None, "name": names.get(unit) if unit else "(outside every unit)",
                    **{k: plain(v) for k, v in row.items() if k != "type_code"}})
    return out


def _summary(table: pd.DataFrame, coverages: Mapping[str, TypeCoverage], catalogue: Mapping[str, FacilityType],
             ids: Mapping[str, np.ndarray], names: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    totals = {row.pop("type_code"): row for row in rollup(table, "type_code").to_dict("records")}
    by_level = {}
    for level, column in LEVEL_COLUMNS.items():
        if table[column].notna().any():
            frame = rollup(table, ["type_code", column])
            by_level[level] = {code: _records(part.drop(columns="type_code"), column, names.get(level, {}))
                               for code, part in frame.groupby("type_code", sort=False)}
        else:
            by_level[level] = {}
    out: dict[str, dict[str, Any]] = {}
    for code, cov in coverages.items():
        ft = catalogue[code]
        entry: dict[str, Any] = {
            "name_zh": ft.name_zh, "name_en": ft.name_en, "level": ft.level, "radius_m": ft.radius_m,
            "target_group": ft.target_group, "facilities": int(len(ids[code])), "search_limit_m": cov.limit_m,
            "district": {k: plain(v) for k, v in totals[code].items()},
        }
        for level in LEVEL_COLUMNS:
            entry[PLURAL[level]] = by_level[level].get(code, [])
        out[code] = entry
    return out


def _store_run(session: Session, summary: Mapping[str, Any], parameters: Mapping[str, Any], table: pd.DataFrame,
               prepared: PreparedDistrict, ids: Mapping[str, np.ndarray]) -> int:
    code, codes = summary["district_code"], list(parameters["types"])
    run_id = int(session.execute(text("""
        INSERT INTO coverage_run (district_code, mode, status, network_version, network_key, type_codes, parameters,
                                  summary)
        VALUES (:d, :mode, 'done', :v, :key, :types, CAST(:p AS jsonb), CAST(:s AS jsonb)) RETURNING id"""),
        {"d": code, "mode": summary["mode"], "v": summary["network_version"], "key": prepared.network_key,
         "types": codes,
         "p": _json(parameters), "s": _json(summary)}).scalar_one())
    fac_id = np.full(len(table), -1, dtype=np.int64)
    for c in codes:
        rows = (table["type_code"] == c).to_numpy()
        idx = table.loc[rows, "facility"].to_numpy(dtype=np.int64)
        fac_id[rows] = np.where(idx >= 0, ids[c][np.maximum(idx, 0)] if len(ids[c]) else -1, -1)
    dist = table["distance_m"].to_numpy(dtype=float)
    copy_rows(session, "building_coverage",
              ("run_id", "type_code", "building_id", "district_code", "facility_id", "distance_m", "within_standard",
               "households", "target_population"),
              zip([run_id] * len(table), table["type_code"].to_numpy(),
                  prepared.building_ids[table["building"].to_numpy()], [code] * len(table),
                  [int(f) if f >= 0 else None for f in fac_id],
                  [round(float(d), 1) if np.isfinite(d) else None for d in dist],
                  table["covered"].to_numpy(), table["households"].to_numpy(),
                  table["target_population"].to_numpy(), strict=True))
    return run_id


def run_for(session: Session, code: str, type_code: str, progress: Progress) -> tuple[int, bool]:
    """A current run covering ``type_code`` (computing one when there is none); (run id, computed now)."""
    latest = latest_run(session, code, type_code=type_code)
    if latest is not None and not latest["stale"]:
        return latest["run_id"], False
    report = compute_coverage(session, district_code=code, types=[type_code], progress=progress)
    run_id = report["run_id"]
    assert run_id is not None  # compute_coverage stores by default, and a stored run has an id
    return run_id, True
