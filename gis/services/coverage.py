"""Coverage use cases: life-circle walking coverage, gaps, siting, what-if and isochrones.

Each loads a district from the database, analyses it with ``gis.coverage`` (pure) and, for a
computation, stores a coverage run (parameters, network version, roll-ups) with one row per
building and facility type. The district's attached walk network comes from
``gis.services.coverage_cache``: prepared once per network version (a key bumped by triggers on
every table it reads) and shared by every process, so the second question about a district
costs milliseconds and any edit is picked up on the next call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.catalogue import LEVELS, TARGET_BANDS, TARGET_GROUPS, FacilityType, load_catalogue
from gis.coverage.distances import DEFAULT_LIMIT_FACTOR, Reach, TypeCoverage, reach_by_network
from gis.coverage.distances import compute_coverage as compute_types
from gis.coverage.gaps import DEFAULT_LINK_M, find_gaps
from gis.coverage.isochrones import DEFAULT_WIDTH_M, network_isochrones, straight_line_isochrones
from gis.coverage.network import AttachedNetwork, locate_sites
from gis.coverage.rollup import coverage_table, estimate_population, rollup
from gis.coverage.siting import (
    SitingResult,
    cover_all,
    cover_matrix,
    exact_capacitated,
    exact_mclp,
    greedy_capacitated,
    greedy_mclp,
)
from gis.coverage.siting import (
    what_if as reach_what_if,
)
from gis.coverage.supply import supply_table
from gis.crs import metric_crs_for_frame
from gis.db.frames import copy_rows
from gis.errors import InvalidInput, NotFound
from gis.layers import STORAGE_CRS
from gis.services.coverage_cache import (  # noqa: F401  (clear_cache and read_geo_frame: used by callers)
    PreparedDistrict,
    clear_cache,
    noop_progress,
    prepare_district,
    prepare_district_with_source,
    read_geo_frame,
)

Progress = Callable[[str, float], None]
MODES = ("network", "straight_line")
LEVEL_COLUMNS = {"street": "street_code", "community": "community_code", "grid": "grid_code"}
PLURAL = {"street": "streets", "community": "communities", "grid": "grids"}
STRAIGHT_LINE_NOTE = ("straight-line mode: distances as the crow flies, a draft for areas without a walk network; "
                      "it overstates coverage wherever a main road, river or railway is in the way")
NETWORK_NOTE = "walking distance along the stored network (GB 50180-2018 radii)"
# How many candidate sites siting considers at most (generated ones are thinned on a grid).
DEFAULT_MAX_CANDIDATES = 1500
# Most places one facility may be given in capacity-aware siting: HiGHS refuses coefficients from 1e15
# on (a 500), and a million places is already no kindergarten or day-care centre.
MAX_PLACES = 1_000_000


# --- loading ------------------------------------------------------------------------------


def resolve_district(session: Session, district_code: str | None) -> tuple[str, str, int]:
    """(code, name, network_version) of the named district, or of the only one when none is named."""
    if district_code:
        row = session.execute(text("SELECT code, name, network_version FROM district WHERE code = :d"),
                              {"d": district_code}).first()
        if row is None:
            raise NotFound(f"district {district_code} does not exist; import it first (wangge import osm ...)")
        return str(row[0]), str(row[1]), int(row[2])
    rows = session.execute(text(
        "SELECT code, name, network_version FROM district d WHERE EXISTS "
        "(SELECT 1 FROM building b WHERE b.district_code = d.code) ORDER BY code")).all()
    if not rows:
        raise NotFound("no district with buildings in the database: run `wangge demo` or `wangge import osm` first")
    if len(rows) > 1:
        raise InvalidInput("several districts are loaded (" + ", ".join(r[0] for r in rows)
                           + "); name one with --district-code")
    return str(rows[0][0]), str(rows[0][1]), int(rows[0][2])


def facility_types(session: Session) -> dict[str, FacilityType]:
    """The catalogue as the database holds it (a deployment's edits included), else the shipped file."""
    rows = session.execute(text(
        "SELECT code, name_zh, name_en, level, radius_m, target_group, capacity_per_1000 FROM facility_type")).all()
    if not rows:
        return load_catalogue()
    order = list(load_catalogue())
    types = {r[0]: FacilityType(code=r[0], name_zh=r[1], name_en=r[2], level=r[3], radius_m=float(r[4]),
                                target_group=r[5], capacity_per_1000=r[6]) for r in rows}
    rank = {c: i for i, c in enumerate(order)}
    return dict(sorted(types.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _check_types(catalogue: Mapping[str, FacilityType], types: Iterable[str] | None) -> list[str]:
    if not types:
        return list(catalogue)
    codes = list(dict.fromkeys(t.strip() for t in types if t and t.strip()))
    unknown = [c for c in codes if c not in catalogue]
    if unknown:
        raise InvalidInput(f"--types: unknown facility type {', '.join(unknown)}; known: {', '.join(catalogue)}")
    return codes


def _check_type(catalogue: Mapping[str, FacilityType], type_code: str) -> str:
    """The one facility type ``type_code`` names (blanks around it dropped); InvalidInput when it names none."""
    code = type_code.strip()
    if code not in catalogue:
        raise InvalidInput(f"type_code: {type_code!r} is not a facility type; known: {', '.join(catalogue)}",
                           details={"field": "type_code"})
    return code


def _facilities(session: Session, district_code: str, types: Sequence[str]) -> gpd.GeoDataFrame:
    return read_geo_frame(session, """
        SELECT id, type_code, name, capacity, ST_AsBinary(geom) AS geom FROM facility
        WHERE district_code = :d AND type_code = ANY(:t) ORDER BY id""", {"d": district_code, "t": list(types)})


def _population(session: Session, prepared: PreparedDistrict) -> tuple[pd.DataFrame, str]:
    """People per building (rows in prepared order) and target group; estimated when none are recorded."""
    groups = ", ".join(f"count(*) FILTER (WHERE {band_condition(name)}) AS {name}"
                       for name in TARGET_BANDS if name != "all")
    rows = session.execute(text(f"""
        SELECT building_id, count(*) AS "all", {groups}
        FROM (SELECT building_id, date_part('year', age(current_date, birth_date))::int AS age
              FROM resident WHERE district_code = :d) r
        GROUP BY building_id"""), {"d": prepared.district_code}).mappings().all()
    if not rows:
        return estimate_population(prepared.households), "estimated from households (no residents recorded)"
    frame = pd.DataFrame(rows).set_index("building_id").reindex(prepared.building_ids).fillna(0).astype(np.int64)
    return frame.reset_index(drop=True)[list(TARGET_GROUPS)], "residents"


def band_condition(group: str, column: str = "age") -> str:
    """SQL condition for target ``group`` on completed years in ``column`` (half-open, never BETWEEN)."""
    low, high = TARGET_BANDS[group]
    return f"{column} >= {int(low)}" + (f" AND {column} < {int(high)}" if high is not None else "")


def _units(session: Session, prepared: PreparedDistrict) -> tuple[pd.DataFrame, dict[str, dict[str, str]]]:
    """Street, community and grid code of every building (where its point-on-surface falls), and unit names."""
    frame = pd.DataFrame(index=pd.Index(prepared.building_ids, name="id"),
                         columns=list(LEVEL_COLUMNS.values()), dtype=object)
    names: dict[str, dict[str, str]] = {}
    for level, column in LEVEL_COLUMNS.items():
        names[level] = dict(session.execute(text(
            f"SELECT code, name FROM {level} WHERE valid_to IS NULL AND district_code = :d"),
            {"d": prepared.district_code}).all())
        if not names[level]:
            continue  # no boundaries of this level: nothing to look up per building
        rows = session.execute(text(f"""
            SELECT b.id, (SELECT u.code FROM {level} u WHERE u.valid_to IS NULL AND u.district_code = b.district_code
                          AND ST_Intersects(u.geom, ST_PointOnSurface(b.geom)) ORDER BY u.code LIMIT 1)
            FROM building b WHERE b.district_code = :d AND b.id = ANY(:ids)"""),
            {"d": prepared.district_code, "ids": prepared.building_ids.tolist()}).all()
        found = pd.Series({int(i): c for i, c in rows if c is not None}, dtype=object)
        frame.loc[found.index, column] = found.to_numpy()
    frame = frame.reset_index(drop=True)
    return frame.astype(object).where(frame.notna(), None), names


def _metric_points(frame: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    return np.asarray(frame.geometry.to_crs(crs).values, dtype=object) if len(frame) else np.empty(0, dtype=object)


# --- compute ------------------------------------------------------------------------------


def compute_coverage(
    session: Session,
    *,
    district_code: str | None = None,
    types: Iterable[str] | None = None,
    mode: str = "network",
    limit_factor: float = DEFAULT_LIMIT_FACTOR,
    store: bool = True,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Nearest facility and walking distance for every residential building and type; stored as a run.

    Returns the roll-ups per type and per street, community and grid: households and target
    population covered and not covered within each type's radius.
    """
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not limit_factor >= 1.0:
        raise InvalidInput(f"limit_factor must be at least 1 (the search reaches the radius); got {limit_factor}")
    started = time.perf_counter()
    code, name, network_version = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = _check_types(catalogue, types)
    progress("network", 0.0)
    cached_before = time.perf_counter()
    prepared, source = prepare_district_with_source(session, code, progress=lambda s, f: progress(s, 0.4 * f))
    cached = source != "prepared"
    load_s = time.perf_counter() - cached_before
    if mode == "network" and not prepared.has_network:
        raise InvalidInput(f"district {code} has no walk network; import one, or use straight-line mode "
                           "(--straight-line), which is a draft only")
    facilities = _facilities(session, code, codes)
    points = {c: _metric_points(facilities[facilities["type_code"] == c], prepared.crs) for c in codes}
    ids = {c: facilities.loc[facilities["type_code"] == c, "id"].to_numpy(dtype=np.int64) for c in codes}
    t0 = time.perf_counter()
    coverages = compute_types(
        prepared.graph, points, {c: catalogue[c].radius_m for c in codes},
        footprints=prepared.footprints if mode == "straight_line" else None,
        limit_factor=limit_factor, mode=mode, progress=lambda s, f: progress(f"distances: {s}", 0.4 + 0.3 * f))
    compute_s = time.perf_counter() - t0
    progress("roll-ups", 0.7)
    population, population_source = _population(session, prepared)
    units, names = _units(session, prepared)
    table = coverage_table(coverages, households=prepared.households, population=population,
                           target_group={c: catalogue[c].target_group for c in codes}, units=units)
    summary = _summary(table, coverages, catalogue, ids, names)
    illegal = int((~prepared.graph.building_legal).sum()) if prepared.has_network else None
    network = ({"nodes": prepared.graph.network.n_nodes, "edges": prepared.graph.network.n_edges,
                "components": prepared.graph.network.components,
                "fragment_edges_without_links": prepared.graph.network.fragment_edges}
               if prepared.has_network else None)
    report: dict[str, Any] = {
        "district_code": code, "district_name": name, "network_version": network_version, "mode": mode,
        "distance": NETWORK_NOTE if mode == "network" else STRAIGHT_LINE_NOTE,
        "buildings": int(len(prepared.building_ids)), "households": int(prepared.households.sum()),
        "population": int(population["all"].sum()), "population_source": population_source,
        "links_across_barriers": illegal, "network": network,
        "parameters": {"types": codes, "limit_factor": limit_factor, "mode": mode},
        "types": summary,
    }
    run_id = None
    if store:
        progress("storing", 0.85)
        t1 = time.perf_counter()
        run_id = _store_run(session, code, network_version, mode, codes, report, table, prepared, ids)
        report["store_s"] = round(time.perf_counter() - t1, 3)
    report["run_id"] = run_id
    report["network_cached"] = cached
    report["network_source"] = source
    report["load_s"] = round(load_s, 3)
    report["compute_s"] = round(compute_s, 3)
    report["elapsed_s"] = round(time.perf_counter() - started, 3)
    if run_id is not None:
        session.execute(text("UPDATE coverage_run SET metrics = CAST(:m AS jsonb) WHERE id = :id"),
                        {"m": _json({k: report[k] for k in ("load_s", "compute_s", "store_s", "elapsed_s",
                                                                 "network_cached")}), "id": run_id})
    progress("done", 1.0)
    return report


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _records(frame: pd.DataFrame, column: str, names: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        unit = row.pop(column)
        out.append({column: unit or None, "name": names.get(unit) if unit else "(outside every unit)",
                    **{k: _plain(v) for k, v in row.items() if k != "type_code"}})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _summary(table: pd.DataFrame, coverages: Mapping[str, TypeCoverage], catalogue: Mapping[str, FacilityType],
             ids: Mapping[str, np.ndarray], names: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    totals = {row.pop("type_code"): row for row in rollup(table, "type_code").to_dict("records")}
    by_level = {}
    for level, column in LEVEL_COLUMNS.items():
        if table[column].notna().any():
            frame = rollup(table, ["type_code", column])
            by_level[level] = {code: _records(part.drop(columns="type_code"), column, names.get(level, {}))
                               for code, part in frame.groupby("type_code", sort=False)}
        else:
            by_level[level] = {}
    out: dict[str, Any] = {}
    for code, cov in coverages.items():
        ft = catalogue[code]
        entry: dict[str, Any] = {
            "name_zh": ft.name_zh, "name_en": ft.name_en, "level": ft.level, "radius_m": ft.radius_m,
            "target_group": ft.target_group, "facilities": int(len(ids[code])), "search_limit_m": cov.limit_m,
            "district": {k: _plain(v) for k, v in totals[code].items()},
        }
        for level in LEVEL_COLUMNS:
            entry[PLURAL[level]] = by_level[level].get(code, [])
        out[code] = entry
    return out


def _store_run(session: Session, code: str, network_version: int, mode: str, codes: list[str],
               report: Mapping[str, Any], table: pd.DataFrame, prepared: PreparedDistrict,
               ids: Mapping[str, np.ndarray]) -> int:
    summary = {k: v for k, v in report.items() if k not in ("parameters",)}
    run_id = int(session.execute(text("""
        INSERT INTO coverage_run (district_code, mode, status, network_version, type_codes, parameters, summary)
        VALUES (:d, :mode, 'done', :v, :types, CAST(:p AS jsonb), CAST(:s AS jsonb)) RETURNING id"""),
        {"d": code, "mode": mode, "v": network_version, "types": codes, "p": _json(report["parameters"]),
         "s": _json(summary)}).scalar_one())
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


# --- reading runs -------------------------------------------------------------------------


def latest_run(session: Session, district_code: str, *, type_code: str | None = None) -> dict[str, Any] | None:
    """The newest stored run of a district (covering ``type_code`` when given), or None."""
    row = session.execute(text("""
        SELECT r.id, r.network_version, r.mode, r.type_codes, r.created_at, d.network_version
        FROM coverage_run r JOIN district d ON d.code = r.district_code
        WHERE r.district_code = :d AND r.status = 'done' AND (CAST(:t AS text) IS NULL OR :t = ANY(r.type_codes))
        ORDER BY r.id DESC LIMIT 1"""), {"d": district_code, "t": type_code}).first()
    if row is None:
        return None
    return {"run_id": int(row[0]), "network_version": int(row[1]), "mode": row[2], "type_codes": list(row[3]),
            "created_at": row[4], "stale": int(row[1]) != int(row[5])}


def coverage_summary(session: Session, *, district_code: str | None = None, run_id: int | None = None,
                     level: str = "community") -> dict[str, Any]:
    """A stored run's figures per type at one level (street, community or grid), or the district totals."""
    if level not in (*LEVEL_COLUMNS, "district"):
        raise InvalidInput(f"level must be street, community, grid or district; got {level!r}")
    if run_id is None:
        code, _, _ = resolve_district(session, district_code)
        latest = latest_run(session, code)
        if latest is None:
            raise NotFound(f"no coverage run for district {code}: run `wangge coverage compute` first")
        run_id = latest["run_id"]
    row = session.execute(text("""
        SELECT r.id, r.district_code, r.mode, r.network_version, r.summary, r.created_at, d.network_version
        FROM coverage_run r JOIN district d ON d.code = r.district_code WHERE r.id = :id"""), {"id": run_id}).first()
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist")
    summary = row[4]
    types = {code: {**{k: v for k, v in entry.items() if k not in ("streets", "communities", "grids", "district")},
                    "rows": entry["district"] if level == "district" else entry[PLURAL[level]]}
             for code, entry in summary.get("types", {}).items()}
    return {"run_id": int(row[0]), "district_code": row[1], "mode": row[2], "network_version": int(row[3]),
            "stale": int(row[3]) != int(row[6]), "created_at": row[5].isoformat(), "level": level,
            "distance": summary.get("distance"), "population_source": summary.get("population_source"),
            "types": types}


def _run_for(session: Session, code: str, type_code: str, progress: Progress) -> tuple[int, bool]:
    """A current run covering ``type_code`` (computing one when there is none); (run id, computed now)."""
    latest = latest_run(session, code, type_code=type_code)
    if latest is not None and not latest["stale"]:
        return latest["run_id"], False
    report = compute_coverage(session, district_code=code, types=[type_code], progress=progress)
    return int(report["run_id"]), True


# --- gaps ---------------------------------------------------------------------------------


def coverage_gaps(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    run_id: int | None = None,
    link_m: float = DEFAULT_LINK_M,
    max_span_m: float | None = None,
    top: int | None = None,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Uncovered buildings of one type clustered into gap areas, ranked by uncovered target population.

    A gap is at most ``max_span_m`` across (default: the type's walking radius), so that each is
    roughly what one new facility could serve.
    """
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = _check_type(catalogue, type_code)
    computed = False
    if run_id is None:
        run_id, computed = _run_for(session, code, type_code, lambda s, f: progress(s, 0.6 * f))
    progress("loading uncovered buildings", 0.6)
    rows = read_geo_frame(session, """
        SELECT c.building_id, c.distance_m, c.within_standard, c.households, c.target_population,
               ST_AsBinary(b.geom) AS geom
        FROM building_coverage c JOIN building b ON b.id = c.building_id
        WHERE c.run_id = :r AND c.type_code = :t ORDER BY c.building_id""", {"r": run_id, "t": type_code})
    run = session.execute(text("SELECT mode, network_version FROM coverage_run WHERE id = :r"), {"r": run_id}).first()
    if run is None:
        raise NotFound(f"coverage run {run_id} does not exist")
    ft = catalogue[type_code]
    result: dict[str, Any] = {"run_id": run_id, "computed_now": computed, "district_code": code,
                              "type_code": type_code, "name_zh": ft.name_zh, "radius_m": ft.radius_m,
                              "target_group": ft.target_group, "mode": run[0], "link_m": link_m,
                              "max_span_m": max_span_m if max_span_m is not None else ft.radius_m}
    if rows.empty:
        return {**result, "gaps": [], "uncovered_households": 0, "uncovered_target_population": 0,
                "geojson": {"type": "FeatureCollection", "features": []}}
    crs = metric_crs_for_frame(rows)
    prepared_units = _units_for_ids(session, code, rows["building_id"].to_numpy(dtype=np.int64))
    distance = rows["distance_m"].astype(float).fillna(np.inf).to_numpy()
    gaps = find_gaps(rows.geometry.to_crs(crs).values, uncovered=~rows["within_standard"].to_numpy(dtype=bool),
                     target_population=rows["target_population"].to_numpy(), households=rows["households"].to_numpy(),
                     distance_m=distance, units=prepared_units[["street_code", "community_code", "grid_code"]],
                     link_m=link_m, max_span_m=max_span_m if max_span_m is not None else ft.radius_m, crs=crs)
    progress("outlining gaps", 0.9)
    names = {level: dict(session.execute(text(
        f"SELECT code, name FROM {level} WHERE valid_to IS NULL AND district_code = :d"), {"d": code}).all())
        for level in LEVEL_COLUMNS}
    uncovered = ~rows["within_standard"].to_numpy(dtype=bool)
    total = len(gaps)
    if top is not None:
        gaps = gaps.head(top)
    lonlat = gaps.to_crs(STORAGE_CRS) if len(gaps) else gaps
    ids = rows["building_id"].to_numpy(dtype=np.int64)
    records = []
    features = []
    for i, row in enumerate(lonlat.itertuples()):
        centre = row.geometry.representative_point()
        record = {
            "rank": int(row.rank), "buildings": int(row.buildings), "households": int(row.households),
            "target_population": int(row.target_population),
            "nearest_m": None if row.nearest_m is None or not np.isfinite(row.nearest_m) else round(row.nearest_m),
            "area_m2": float(row.area_m2), "street_code": row.street_code,
            "community_code": row.community_code, "community_name": names["community"].get(row.community_code),
            "grid_code": row.grid_code, "grid_name": names["grid"].get(row.grid_code),
            "lon": round(centre.x, 6), "lat": round(centre.y, 6),
            "building_ids": [int(ids[b]) for b in row.building_index],
        }
        records.append(record)
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(row.geometry),
                         "properties": {k: v for k, v in record.items() if k != "building_ids"}})
    progress("done", 1.0)
    return {**result, "gaps_total": total,
            "uncovered_households": int(rows["households"].to_numpy()[uncovered].sum()),
            "uncovered_target_population": int(rows["target_population"].to_numpy()[uncovered].sum()),
            "gaps": records, "geojson": {"type": "FeatureCollection", "features": features}}


def _units_for_ids(session: Session, code: str, ids: np.ndarray) -> pd.DataFrame:
    shim = PreparedDistrict(district_code=code, network_key="", crs="", graph=None, building_ids=ids,
                            households=np.zeros(len(ids), np.int64), load_s=0.0)
    return _units(session, shim)[0]


# --- siting -------------------------------------------------------------------------------


def _candidate_points(session: Session, prepared: PreparedDistrict, *, weights: np.ndarray, covered: np.ndarray,
                      radius_m: float, max_candidates: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate sites from building points that could newly cover someone, thinned on a grid.

    Returns metric points and the building id each comes from. Any building may host a new
    facility; only those within the radius (as the crow flies, a lower bound of the walk) of an
    uncovered building with target population can add anything.
    """
    frame = read_geo_frame(session, "SELECT id, ST_AsBinary(ST_PointOnSurface(geom)) AS geom FROM building "
                                "WHERE district_code = :d ORDER BY id", {"d": prepared.district_code})
    pts = np.asarray(frame.geometry.to_crs(prepared.crs).values, dtype=object)
    ids = frame["id"].to_numpy(dtype=np.int64)
    need = (weights > 0) & ~covered
    if not need.any() or len(pts) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    tree = shapely.STRtree(prepared.footprints[need])
    useful = np.unique(tree.query(pts, predicate="dwithin", distance=radius_m)[0])
    pts, ids = pts[useful], ids[useful]
    xy = shapely.get_coordinates(pts)
    cell = 10.0
    while True:
        keys = np.floor(xy / cell).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        if len(first) <= max_candidates:
            break
        cell *= 1.25
    first = np.sort(first)
    return pts[first], ids[first]


def suggest_sites(
    session: Session,
    *,
    type_code: str,
    k: int = 3,
    district_code: str | None = None,
    exact: bool = False,
    capacity: float | None = None,
    candidates: Sequence[tuple[float, float]] | None = None,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    time_limit_s: float = 60.0,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Suggest k new sites for one facility type that newly cover the most target population.

    Candidates are given lon/lat points or generated from building points. Greedy always runs;
    with ``exact`` the HiGHS MCLP runs too and both answers are reported (exact is never worse).
    With ``capacity`` (places per new facility; also assumed for existing ones without a
    recorded capacity) the figures are people *served* within capacities, not merely covered.
    """
    if k < 1:
        raise InvalidInput(f"--k must be at least 1; got {k}")
    if capacity is not None and not 0 < capacity <= MAX_PLACES:
        raise InvalidInput(f"--capacity must be a positive number of places, at most {MAX_PLACES:,}; got {capacity}",
                           details={"field": "capacity"})
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = _check_type(catalogue, type_code)
    ft = catalogue[type_code]
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.3 * f))
    graph = _require_network(prepared, code)
    facilities = _facilities(session, code, [type_code])
    population, population_source = _population(session, prepared)
    weights = population[ft.target_group].to_numpy(dtype=float)
    progress("existing coverage", 0.3)
    existing_reach, _ = _reach(prepared, facilities, type_code, ft.radius_m)
    existing = cover_matrix(existing_reach, ft.radius_m)
    covered = np.asarray(existing.sum(axis=0)).ravel() > 0
    progress("candidate sites", 0.4)
    if candidates is not None:
        pts = gpd.GeoSeries(shapely.points(np.asarray(candidates, dtype=float)), crs=STORAGE_CRS)
        cand_pts = np.asarray(pts.to_crs(prepared.crs).values, dtype=object)
        cand_building = np.full(len(cand_pts), -1, dtype=np.int64)
        source = "given"
    else:
        cand_pts, cand_building = _candidate_points(session, prepared, weights=weights, covered=covered,
                                                    radius_m=ft.radius_m, max_candidates=max_candidates)
        source = "building points"
    sites = locate_sites(graph, cand_pts)
    cand_reach = reach_by_network(graph, sites, limit_m=ft.radius_m,
                                  progress=lambda s, f: progress("candidate reach", 0.4 + 0.3 * f))
    cand = cover_matrix(cand_reach, ft.radius_m)
    progress("choosing sites", 0.7)
    hh = prepared.households.astype(float)
    answers: dict[str, SitingResult] = {}
    assumed = 0
    if capacity is None:
        answers["greedy"] = greedy_mclp(cand, weights, k, covered=covered)
        if exact:
            answers["exact"] = exact_mclp(cand, weights, k, covered=covered, time_limit_s=time_limit_s)
    else:
        recorded = facilities["capacity"].to_numpy(dtype=float) if len(facilities) else np.zeros(0)
        assumed = int(np.isnan(recorded).sum())
        existing_capacity = np.where(np.isnan(recorded), capacity, recorded)
        answers["greedy"] = greedy_capacitated(existing, existing_capacity, cand, capacity, weights, k,
                                               time_limit_s=time_limit_s)
        if exact:
            answers["exact"] = exact_capacitated(existing, existing_capacity, cand, capacity, weights, k,
                                                 time_limit_s=time_limit_s)
    units, names = _units(session, prepared)
    lonlat = gpd.GeoSeries(cand_pts, crs=prepared.crs).to_crs(STORAGE_CRS) if len(cand_pts) else None
    out_answers = {}
    for method, ans in answers.items():
        now = covered.copy()
        chosen = []
        for j, gain in zip(ans.chosen, ans.gains, strict=True):
            idx = cand.indices[cand.indptr[j]:cand.indptr[j + 1]]
            new = idx[~now[idx]]
            counts = units.iloc[new]["community_code"].value_counts() if len(new) else pd.Series(dtype=int)
            community = _site_community(session, lonlat.iloc[j])
            chosen.append({
                "lon": round(lonlat.iloc[j].x, 6), "lat": round(lonlat.iloc[j].y, 6),
                "building_id": int(cand_building[j]) if cand_building[j] >= 0 else None,
                "community_code": community, "community_name": names["community"].get(community),
                "newly_covered_buildings": int(len(new)),
                "newly_covered_households": int(hh[new].sum()),
                "newly_covered_target_population": int(round(weights[new].sum())),
                ("newly_served_target_population" if capacity is not None else "gain"): round(gain, 1),
                "communities_reached": {str(c): int(n) for c, n in counts.items()},
            })
            now[idx] = True
        out_answers[method] = {
            "status": ans.status, "gap": ans.gap, "solve_s": round(ans.solve_s, 3), "sites": chosen,
            "target_population_before": round(ans.before, 1), "target_population_after": round(ans.after, 1),
            "target_population_added": round(ans.after - ans.before, 1),
            "households_covered_before": int(hh[covered].sum()), "households_covered_after": int(hh[now].sum()),
            **({"served": "people served within capacities"} if capacity is not None else {}),
        }
    progress("done", 1.0)
    return {
        "district_code": code, "type_code": type_code, "name_zh": ft.name_zh, "radius_m": ft.radius_m,
        "target_group": ft.target_group, "k": k, "existing_facilities": int(len(facilities)),
        "target_population": int(weights.sum()), "households": int(hh.sum()),
        "population_source": population_source, "candidates": int(sites.n), "candidate_source": source,
        "capacity": capacity, "existing_capacity_assumed": assumed if capacity is not None else None,
        "distance": NETWORK_NOTE, **out_answers,
    }


# Cover-all considers every building that could newly cover someone, thinned only beyond this.
COVER_ALL_MAX_CANDIDATES = 20000


def cover_all_sites(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    candidates: Sequence[tuple[float, float]] | None = None,
    max_candidates: int = COVER_ALL_MAX_CANDIDATES,
    time_limit_s: float = 60.0,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """The least number of new sites so every reachable target building is within the walking radius.

    Set covering solved by HiGHS beside greedy run until nothing more can be covered (the answer
    never has more sites). Each site names its building, address and community; the target
    buildings no candidate can reach are listed with the reason.
    """
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = _check_type(catalogue, type_code)
    ft = catalogue[type_code]
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.3 * f))
    graph = _require_network(prepared, code)
    facilities = _facilities(session, code, [type_code])
    population, population_source = _population(session, prepared)
    weights = population[ft.target_group].to_numpy(dtype=float)
    progress("existing coverage", 0.3)
    existing_reach, _ = _reach(prepared, facilities, type_code, ft.radius_m)
    covered = np.asarray(cover_matrix(existing_reach, ft.radius_m).sum(axis=0)).ravel() > 0
    progress("candidate sites", 0.4)
    thinned = False
    if candidates is not None:
        pts = gpd.GeoSeries(shapely.points(np.asarray(candidates, dtype=float)), crs=STORAGE_CRS)
        cand_pts = np.asarray(pts.to_crs(prepared.crs).values, dtype=object)
        cand_building = np.full(len(cand_pts), -1, dtype=np.int64)
        source = "given"
    else:
        cand_pts, cand_building = _candidate_points(session, prepared, weights=weights, covered=covered,
                                                    radius_m=ft.radius_m, max_candidates=max_candidates)
        source = "building points"
        thinned = len(cand_pts) >= max_candidates
    sites = locate_sites(graph, cand_pts)
    cand = cover_matrix(reach_by_network(graph, sites, limit_m=ft.radius_m,
                                         progress=lambda s, f: progress("candidate reach", 0.4 + 0.3 * f)),
                        ft.radius_m)
    progress("set covering", 0.7)
    result = cover_all(cand, weights, covered=covered, time_limit_s=time_limit_s)
    hh = prepared.households.astype(float)
    units, names = _units(session, prepared)
    lonlat = gpd.GeoSeries(cand_pts, crs=prepared.crs).to_crs(STORAGE_CRS) if len(cand_pts) else None

    def describe(chosen: list[int]) -> list[dict[str, Any]]:
        now = covered.copy()
        out = []
        info = _buildings_info(session, [int(cand_building[j]) for j in chosen if cand_building[j] >= 0])
        for j in chosen:
            idx = cand.indices[cand.indptr[j]:cand.indptr[j + 1]]
            new = idx[~now[idx]]
            community = _site_community(session, lonlat.iloc[j])
            building = info.get(int(cand_building[j]), {})
            out.append({
                "lon": round(lonlat.iloc[j].x, 6), "lat": round(lonlat.iloc[j].y, 6),
                "building_id": int(cand_building[j]) if cand_building[j] >= 0 else None,
                "building_name": building.get("name"), "address": building.get("address"),
                "community_code": community, "community_name": names["community"].get(community),
                "newly_covered_buildings": int(len(new)), "newly_covered_households": int(hh[new].sum()),
                "newly_covered_target_population": int(round(weights[new].sum())),
            })
            now[idx] = True
        return out

    unreachable = result.detail["unreachable"]
    reasons = _unreachable_reasons(prepared, unreachable, cand_pts, ft.radius_m, thinned)
    ids = prepared.building_ids[unreachable]
    info = _buildings_info(session, ids.tolist())
    unreachable_rows = [{
        "building_id": int(b), "building_name": info.get(int(b), {}).get("name"),
        "address": info.get(int(b), {}).get("address"),
        "community_code": units.iloc[i]["community_code"],
        "community_name": names["community"].get(units.iloc[i]["community_code"]),
        "households": int(hh[i]), "target_population": int(round(weights[i])), "reason": reason,
    } for i, b, reason in zip(unreachable.tolist(), ids.tolist(), reasons, strict=True)]
    unreachable_rows.sort(key=lambda r: -r["target_population"])
    after = covered.copy()
    for j in result.chosen:
        after[cand.indices[cand.indptr[j]:cand.indptr[j + 1]]] = True
    progress("done", 1.0)
    return {
        "district_code": code, "type_code": type_code, "name_zh": ft.name_zh, "radius_m": ft.radius_m,
        "target_group": ft.target_group, "existing_facilities": int(len(facilities)),
        "population_source": population_source, "distance": NETWORK_NOTE,
        "candidates": int(sites.n), "candidate_source": source, "candidates_thinned": thinned,
        "target_buildings": int(((weights > 0)).sum()),
        "target_buildings_covered_before": int(((weights > 0) & covered).sum()),
        "target_buildings_reachable": result.detail["reachable_buildings"],
        "target_population": int(weights.sum()), "households": int(hh.sum()),
        "target_population_covered_before": int(round(weights[covered].sum())),
        "target_population_covered_after": int(round(weights[after].sum())),
        "households_covered_before": int(hh[covered].sum()), "households_covered_after": int(hh[after].sum()),
        "sites_needed": len(result.chosen), "status": result.status, "gap": result.gap,
        "solve_s": round(result.solve_s, 3), "sites": describe(result.chosen),
        "greedy": {"sites_needed": len(result.detail["greedy_chosen"]),
                   "sites": describe(result.detail["greedy_chosen"])},
        "unreachable_buildings": len(unreachable_rows),
        "unreachable_households": int(hh[unreachable].sum()),
        "unreachable_target_population": int(round(weights[unreachable].sum())),
        "unreachable": unreachable_rows,
    }


def _buildings_info(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Name and address of buildings: the first standard address (一标三实), else compound and building name."""
    if not ids:
        return {}
    rows = session.execute(text("""
        SELECT b.id, b.name,
               (SELECT a.address FROM standard_address a WHERE a.building_id = b.id ORDER BY a.id LIMIT 1),
               c.name
        FROM building b LEFT JOIN compound c ON c.id = b.compound_id WHERE b.id = ANY(:ids)"""),
        {"ids": list(ids)}).all()
    return {int(r[0]): {"name": r[1], "address": r[2] or (" ".join(x for x in (r[3], r[1]) if x) or None)}
            for r in rows}


def _unreachable_reasons(prepared: PreparedDistrict, unreachable: np.ndarray, cand_pts: np.ndarray,
                         radius_m: float, thinned: bool) -> list[str]:
    """Why no candidate covers each of these buildings, in words."""
    if len(unreachable) == 0:
        return []
    if len(cand_pts) == 0:
        return ["no candidate site at all"] * len(unreachable)
    tree = shapely.STRtree(cand_pts)
    near = tree.query(prepared.footprints[unreachable], predicate="dwithin", distance=radius_m)[0]
    has_near = np.zeros(len(unreachable), dtype=bool)
    has_near[near] = True
    out = []
    for ok in has_near:
        if ok:
            out.append(f"candidate sites lie within {radius_m:.0f} m as the crow flies but none within {radius_m:.0f} m "
                       "on foot: a main road, river or railway in the way, or the building is far from any path"
                       + ("; candidates were thinned" if thinned else ""))
        else:
            out.append(f"no candidate site within {radius_m:.0f} m even as the crow flies"
                       + ("; candidates were thinned" if thinned else ""))
    return out


def _site_community(session: Session, point: Any) -> str | None:
    return session.execute(text(
        "SELECT code FROM community WHERE valid_to IS NULL AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(:x, :y), "
        "4490)) ORDER BY code LIMIT 1"), {"x": point.x, "y": point.y}).scalar()


def _require_network(prepared: PreparedDistrict, code: str) -> AttachedNetwork:
    if prepared.graph is None:
        raise InvalidInput(f"district {code} has no walk network: siting, what-if and isochrones need one")
    return prepared.graph


def _reach(prepared: PreparedDistrict, facilities: gpd.GeoDataFrame, type_code: str,
           limit_m: float) -> tuple[Reach, np.ndarray]:
    """The type's facility × building reach table, cached with the network until a facility changes."""
    graph = _require_network(prepared, prepared.district_code)
    ids = facilities["id"].to_numpy(dtype=np.int64)
    pts = _metric_points(facilities, prepared.crs)
    key = (type_code, limit_m, tuple(ids.tolist()), tuple(shapely.to_wkb(pts).tolist()) if len(pts) else ())
    hit = prepared.reach_cache.get(key)
    if hit is None:
        hit = (reach_by_network(graph, locate_sites(graph, pts), limit_m=limit_m), ids)
        prepared.reach_cache.clear()  # one type at a time is what interactive what-if needs
        prepared.reach_cache[key] = hit
    return hit


# --- what-if ------------------------------------------------------------------------------


def what_if(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    add: tuple[float, float] | None = None,
    remove: int | None = None,
    move: tuple[int, float, float] | None = None,
    limit_factor: float = DEFAULT_LIMIT_FACTOR,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Coverage of one type after adding, moving or removing one facility, from the cached reach table.

    ``add`` is (lon, lat); ``remove`` a facility id; ``move`` (facility id, lon, lat). Nothing is stored.
    """
    if sum(x is not None for x in (add, remove, move)) != 1:
        raise InvalidInput("what-if: give exactly one of --add, --remove or --move")
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = _check_type(catalogue, type_code)
    ft = catalogue[type_code]
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.5 * f))
    graph = _require_network(prepared, code)
    facilities = _facilities(session, code, [type_code])
    limit = ft.radius_m * limit_factor
    t0 = time.perf_counter()
    reach, ids = _reach(prepared, facilities, type_code, limit)
    reach_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    removed_index = None
    target = remove if remove is not None else (move[0] if move is not None else None)
    if target is not None:
        where = np.flatnonzero(ids == target)
        if len(where) == 0:
            raise NotFound(f"facility {target} is not a {type_code} of district {code}")
        removed_index = int(where[0])
    added = None
    point = add if add is not None else ((move[1], move[2]) if move is not None else None)
    if point is not None:
        pt = gpd.GeoSeries([shapely.Point(point)], crs=STORAGE_CRS).to_crs(prepared.crs).values
        added = reach_by_network(graph, locate_sites(graph, np.asarray(pt, dtype=object)), limit_m=limit)
    before_fac, before_d = reach.nearest()
    after_fac, after_d = reach_what_if(reach, remove=removed_index, add=added)
    update_s = time.perf_counter() - t1
    population, population_source = _population(session, prepared)
    units, names = _units(session, prepared)
    weights = population[ft.target_group].to_numpy(dtype=np.int64)
    before = before_d <= ft.radius_m
    after = after_d <= ft.radius_m
    hh = prepared.households
    frame = units.assign(households=hh, target=weights, before=before, after=after)
    per_community = []
    for unit, grp in frame.groupby(frame["community_code"].fillna(""), sort=True):
        row = {
            "community_code": unit or None, "name": names["community"].get(unit),
            "households_covered_before": int(grp.loc[grp["before"], "households"].sum()),
            "households_covered_after": int(grp.loc[grp["after"], "households"].sum()),
            "target_population_covered_before": int(grp.loc[grp["before"], "target"].sum()),
            "target_population_covered_after": int(grp.loc[grp["after"], "target"].sum()),
        }
        if (row["households_covered_before"], row["target_population_covered_before"]) != (
                row["households_covered_after"], row["target_population_covered_after"]):
            per_community.append(row)
    action = ({"add": {"lon": add[0], "lat": add[1]}} if add is not None else
              {"remove": remove} if remove is not None else
              {"move": {"facility_id": move[0], "lon": move[1], "lat": move[2]}})  # type: ignore[index]
    progress("done", 1.0)
    return {
        "district_code": code, "type_code": type_code, "radius_m": ft.radius_m, "action": action,
        "distance": NETWORK_NOTE, "population_source": population_source,
        "households_covered_before": int(hh[before].sum()), "households_covered_after": int(hh[after].sum()),
        "target_population_covered_before": int(weights[before].sum()),
        "target_population_covered_after": int(weights[after].sum()),
        "buildings_gaining": int((after & ~before).sum()), "buildings_losing": int((before & ~after).sum()),
        "communities_changed": per_community,
        "reach_s": round(reach_s, 4), "update_s": round(update_s, 4),
    }


# --- isochrones ---------------------------------------------------------------------------


def facility_isochrones(
    session: Session,
    *,
    district_code: str | None = None,
    type_code: str | None = None,
    facility_ids: Sequence[int] | None = None,
    mode: str = "network",
    width_m: float = DEFAULT_WIDTH_M,
    progress: Progress = noop_progress,
) -> dict[str, Any]:
    """Isochrone polygons per facility as GeoJSON (lon/lat) for maps; display only, not the coverage figures."""
    if mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = _check_types(catalogue, [type_code] if type_code else None)
    facilities = _facilities(session, code, codes)
    if facility_ids is not None:
        facilities = facilities[facilities["id"].isin(list(facility_ids))]
    features = []
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.3 * f))
    groups = list(facilities.groupby("type_code", sort=True)) if len(facilities) else []
    for i, (tc, group) in enumerate(groups):
        progress(f"isochrones: {tc}", 0.3 + 0.7 * i / max(len(groups), 1))
        radius = catalogue[tc].radius_m
        pts = _metric_points(group, prepared.crs)
        if mode == "network":
            polygons = network_isochrones(_require_network(prepared, code), locate_sites(prepared.graph, pts),
                                          radius, width_m=width_m)
        else:
            polygons = straight_line_isochrones(pts, radius)
        lonlat = gpd.GeoSeries(polygons, crs=prepared.crs).to_crs(STORAGE_CRS)
        for row, geom in zip(group.itertuples(), lonlat, strict=True):
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": {
                "facility_id": int(row.id), "type_code": tc, "name": row.name, "radius_m": radius, "mode": mode,
                "display_only": True}})
    progress("done", 1.0)
    return {"type": "FeatureCollection", "features": features,
            "properties": {"district_code": code, "mode": mode,
                           "note": ("display geometry; coverage figures come from per-building distances"
                                    if mode == "network" else STRAIGHT_LINE_NOTE)}}


# --- supply against demand ----------------------------------------------------------------


SUPPLY_LEVELS = ("community", "street")
SUPPLY_BASES = ("residents", "target_group")


def supply_demand(
    session: Session,
    *,
    type_code: str | None = None,
    level: str = "community",
    per: str = "residents",
    district_code: str | None = None,
) -> dict[str, Any]:
    """Places needed (``capacity_per_1000`` × residents) against places provided, per community or street.

    With ``per="target_group"`` a place is needed for every person of the type's target group
    (types whose target group is everybody are then left out).

    Provided places are the facilities' recorded capacities, or the type's default capacity where
    none is recorded (counted as assumed). Types without a ``capacity_per_1000`` are listed as such.
    Rows are ranked by shortfall.
    """
    if level not in SUPPLY_LEVELS:
        raise InvalidInput(f"level must be community or street; got {level!r}", details={"field": "level"})
    if per not in SUPPLY_BASES:
        raise InvalidInput(f"per must be residents or target_group; got {per!r}", details={"field": "per"})
    code, name, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = [_check_type(catalogue, type_code)] if type_code else list(catalogue)
    shipped = load_catalogue()
    homes = session.execute(text("""
        SELECT b.id, b.households FROM building b WHERE b.district_code = :d AND (b.households > 0
               OR EXISTS (SELECT 1 FROM resident r WHERE r.building_id = b.id)) ORDER BY b.id"""), {"d": code}).all()
    ids = np.array([r[0] for r in homes], dtype=np.int64)
    shim = PreparedDistrict(district_code=code, network_key="", crs="", graph=None, building_ids=ids,
                            households=np.array([r[1] or 0 for r in homes], dtype=np.int64), load_s=0.0)
    population, population_source = _population(session, shim)
    units, names = _units(session, shim)
    column = LEVEL_COLUMNS[level]
    unit_names = names.get(level, {})
    facilities = session.execute(text(f"""
        SELECT f.id, f.type_code, f.capacity,
               (SELECT u.code FROM {level} u WHERE u.valid_to IS NULL AND u.district_code = f.district_code
                AND ST_Intersects(u.geom, f.geom) ORDER BY u.code LIMIT 1)
        FROM facility f WHERE f.district_code = :d AND f.type_code = ANY(:t)"""),
        {"d": code, "t": codes}).all()
    fac = pd.DataFrame(facilities, columns=["id", "type_code", "capacity", "unit"])
    out: dict[str, Any] = {}
    no_standard = []
    for tc in codes:
        ft = catalogue[tc]
        if per == "residents":
            per_1000, basis = ft.capacity_per_1000, "residents"
        else:
            per_1000, basis = (None if ft.target_group == "all" else 1000.0), "target_population"
        if per_1000 is None:
            no_standard.append(tc)
            continue
        default = shipped[tc].default_capacity if tc in shipped else None
        demand = pd.DataFrame({"unit": units[column].to_numpy(), "residents": population["all"].to_numpy(),
                               "target_population": population[ft.target_group].to_numpy()})
        mine = fac[fac["type_code"] == tc]
        table = supply_table(demand, mine[["unit", "capacity"]].astype({"capacity": float}),
                             capacity_per_1000=float(per_1000), default_capacity=default, basis=basis)
        rows = [{column: r.pop("unit"), "name": None, **{k: _plain(v) for k, v in r.items()}}
                for r in table.to_dict("records")]
        for r in rows:
            r["name"] = unit_names.get(r[column]) if r[column] else "(outside every unit)"
        totals = {k: int(table[k].sum()) for k in ("residents", "target_population", "places_needed", "facilities",
                                                   "places_provided", "facilities_capacity_assumed")}
        totals["shortfall"] = int(table["shortfall"].sum())  # units short, not netted against others' surplus
        out[tc] = {"name_zh": ft.name_zh, "capacity_per_1000": ft.capacity_per_1000, "places_per_1000": per_1000,
                   "per": basis, "default_capacity": default,
                   "target_group": ft.target_group, "district": totals, PLURAL[level]: rows,
                   "capacity_note": (f"{totals['facilities_capacity_assumed']} facilities without a recorded "
                                     f"capacity counted at the type default ({default} places)" if default else
                                     f"{totals['facilities_capacity_assumed']} facilities without a recorded "
                                     "capacity counted as 0 places (no type default)")
                   if totals["facilities_capacity_assumed"] else None}
    return {"district_code": code, "district_name": name, "level": level, "population_source": population_source,
            "basis": ("places needed = capacity_per_1000 × residents / 1,000 (千人指标), rounded up per unit"
                      if per == "residents" else "places needed = one per person of the type's target group"),
            "types": out, "no_standard": no_standard}


# --- catalogue ----------------------------------------------------------------------------


def list_facility_types(session: Session) -> list[dict[str, Any]]:
    """The catalogue rows as the database holds them, with the number of facilities of each type."""
    counts = dict(session.execute(text("SELECT type_code, count(*) FROM facility GROUP BY type_code")).all())
    return [{"code": ft.code, "name_zh": ft.name_zh, "name_en": ft.name_en, "level": ft.level,
             "radius_m": ft.radius_m, "target_group": ft.target_group, "capacity_per_1000": ft.capacity_per_1000,
             "facilities": int(counts.get(ft.code, 0))} for ft in facility_types(session).values()]


def update_facility_type(session: Session, code: str, **changes: Any) -> dict[str, Any]:
    """Edit one catalogue row (radius_m, level, target_group, capacity_per_1000, names); returns the new row."""
    allowed = {"radius_m", "level", "target_group", "capacity_per_1000", "name_zh", "name_en"}
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(sorted(unknown))}; editable: {', '.join(sorted(allowed))}")
    if not changes:
        raise InvalidInput("nothing to change: give --radius-m, --level, --target-group or --capacity-per-1000")
    if "radius_m" in changes and not float(changes["radius_m"]) > 0:
        raise InvalidInput(f"--radius-m must be a positive number of metres; got {changes['radius_m']}")
    if "level" in changes and changes["level"] not in LEVELS:
        raise InvalidInput(f"--level must be one of {', '.join(LEVELS)}; got {changes['level']!r}")
    if "target_group" in changes and changes["target_group"] not in TARGET_GROUPS:
        raise InvalidInput(f"--target-group must be one of {', '.join(TARGET_GROUPS)}; got {changes['target_group']!r}")
    if "capacity_per_1000" in changes and float(changes["capacity_per_1000"]) < 0:
        raise InvalidInput(f"--capacity-per-1000 must not be negative; got {changes['capacity_per_1000']}")
    exists = session.execute(text("SELECT 1 FROM facility_type WHERE code = :c"), {"c": code}).first()
    if exists is None:
        raise NotFound(f"facility type {code!r} is not in the catalogue")
    assignments = ", ".join(f"{k} = :{k}" for k in changes)
    session.execute(text(f"UPDATE facility_type SET {assignments} WHERE code = :code"), {**changes, "code": code})
    return next(row for row in list_facility_types(session) if row["code"] == code)



def read_points(path: Any) -> list[tuple[float, float]]:
    """Candidate points from a CSV with lon,lat columns or any vector file of points (to CGCS2000 lon/lat)."""
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        cols = {c.lower(): c for c in frame.columns}
        lon, lat = cols.get("lon") or cols.get("x"), cols.get("lat") or cols.get("y")
        if lon is None or lat is None:
            raise InvalidInput(f"{path.name}: expected lon and lat columns; got {list(frame.columns)}")
        xy = frame[[lon, lat]].to_numpy(dtype=float)
    else:
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several kinds; the user needs one line
            raise InvalidInput(f"{path.name}: cannot read points: {str(exc).splitlines()[0]}") from None
        if frame.crs is None:
            raise InvalidInput(f"{path.name}: no CRS; expected EPSG:4490 or WGS84 lon/lat")
        frame = frame.to_crs(STORAGE_CRS)
        if not (frame.geom_type == "Point").all():
            raise InvalidInput(f"{path.name}: expected points; got {sorted(set(frame.geom_type))}")
        xy = shapely.get_coordinates(frame.geometry.values)
    if not np.isfinite(xy).all() or len(xy) == 0:
        raise InvalidInput(f"{path.name}: no usable lon/lat points")
    return [(float(x), float(y)) for x, y in xy]


# --- runs for the API ---------------------------------------------------------------------


def mark_facilities_changed(session: Session, district_code: str) -> int:
    """Mark a district's stored runs stale after a facility was added, moved, retyped or resized.

    A run is stale when its ``network_version`` is not the district's (``latest_run``), so the
    version is bumped; the cached network reloads on the next question, as after a re-import.
    Returns the new version.
    """
    version = session.execute(text(
        "UPDATE district SET network_version = network_version + 1 WHERE code = :d RETURNING network_version"),
        {"d": district_code}).scalar()
    if version is None:
        raise NotFound(f"district {district_code} does not exist")
    return int(version)


def set_run_owner(session: Session, run_id: int, user_id: int | None) -> None:
    """Record who asked for a run (the CLI leaves it empty)."""
    session.execute(text("UPDATE coverage_run SET created_by = :u WHERE id = :id"), {"u": user_id, "id": run_id})


def list_runs(session: Session, *, district_code: str | None = None, type_code: str | None = None,
              mode: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Stored runs, newest first, with whether each is stale; (rows of the page, total matching)."""
    if mode is not None and mode not in MODES:
        raise InvalidInput(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    where = """(CAST(:d AS text) IS NULL OR r.district_code = :d)
               AND (CAST(:t AS text) IS NULL OR :t = ANY(r.type_codes))
               AND (CAST(:m AS text) IS NULL OR r.mode = :m)"""
    params = {"d": district_code, "t": type_code, "m": mode}
    total = int(session.execute(text(f"SELECT count(*) FROM coverage_run r WHERE {where}"), params).scalar_one())
    rows = session.execute(text(f"""
        SELECT r.id, r.district_code, r.mode, r.status, r.network_version, r.type_codes, r.created_at,
               u.username AS created_by, d.network_version AS district_network_version,
               r.summary->'households' AS households, r.summary->'population_source' AS population_source
        FROM coverage_run r JOIN district d ON d.code = r.district_code
        LEFT JOIN app_user u ON u.id = r.created_by
        WHERE {where} ORDER BY r.id DESC LIMIT :limit OFFSET :offset"""),
        {**params, "limit": limit, "offset": offset}).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        item["created_at"] = item["created_at"].isoformat()
        item["type_codes"] = list(item["type_codes"])
        item["stale"] = int(item.pop("district_network_version")) != int(item["network_version"])
        out.append(item)
    return out, total


def _headline(figures: Mapping[str, Any]) -> str:
    def part(label: str, covered: Any, total: Any) -> str:
        share = f" ({covered / total:.0%})" if total else ""
        return f"{label} {covered:,}/{total:,}{share}"

    return (part("households", figures.get("households_covered", 0), figures.get("households", 0)) + ", "
            + part("target population", figures.get("target_population_covered", 0),
                   figures.get("target_population", 0)))


def run_report(session: Session, run_id: int) -> dict[str, Any]:
    """A stored run in full: per type, the district figures with a one-line headline, and every street,
    community and grid; with whether the run is stale (the network or facilities changed since).
    """
    row = session.execute(text("""
        SELECT r.id, r.district_code, r.mode, r.status, r.network_version, r.type_codes, r.parameters, r.summary,
               r.metrics, r.created_at, u.username, d.network_version, d.name
        FROM coverage_run r JOIN district d ON d.code = r.district_code LEFT JOIN app_user u ON u.id = r.created_by
        WHERE r.id = :id"""), {"id": run_id}).first()
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist", details={"run_id": run_id})
    summary = row[7] or {}
    types = {}
    for code, entry in (summary.get("types") or {}).items():
        types[code] = {**entry, "headline": _headline(entry.get("district") or {})}
    return {
        "run_id": int(row[0]), "district_code": row[1], "district_name": row[12], "mode": row[2], "status": row[3],
        "network_version": int(row[4]), "stale": int(row[4]) != int(row[11]), "type_codes": list(row[5]),
        "parameters": row[6], "created_at": row[9].isoformat(), "created_by": row[10],
        "distance": summary.get("distance"), "buildings": summary.get("buildings"),
        "households": summary.get("households"), "population": summary.get("population"),
        "population_source": summary.get("population_source"), "metrics": row[8], "types": types,
    }


def uncovered_buildings(session: Session, run_id: int, type_code: str) -> list[dict[str, Any]]:
    """GeoJSON features (lon/lat) of the buildings a run found outside the type's walking radius."""
    rows = session.execute(text("""
        SELECT c.building_id, c.distance_m, c.households, c.target_population, c.facility_id,
               ST_AsGeoJSON(b.geom, 7, 0)::json AS geometry
        FROM building_coverage c JOIN building b ON b.id = c.building_id
        WHERE c.run_id = :r AND c.type_code = :t AND NOT c.within_standard ORDER BY c.building_id"""),
        {"r": run_id, "t": type_code}).mappings().all()
    return [{"type": "Feature", "id": f"building-{r['building_id']}", "geometry": r["geometry"],
             "properties": {"feature": "uncovered_building", "building_id": int(r["building_id"]),
                            "type_code": type_code, "distance_m": r["distance_m"], "households": int(r["households"]),
                            "target_population": int(r["target_population"]),
                            "nearest_facility_id": r["facility_id"]}} for r in rows]
