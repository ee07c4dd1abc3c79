"""Coverage speed: nearest facility on foot for every building, against what a user would otherwise run.

    .venv/bin/python bench/coverage.py [--households 2100000] [--facilities 1000] [--cold-repeats 5] [--json]

Two cases, each on one network, one set of buildings and one set of facilities, all in one
throw-away PostGIS database:

* ``nanjing``: the demo extract (Xinjiekou, district 320102) with every catalogue facility it has;
* ``synthetic``: a generated city with at least 100,000 network nodes and 1,000 facilities of 6 types.

Routes timed per case (same limit: twice each type's radius):

* ``ours_run``: ``gis.coverage`` with the district's network prepared (what every `wangge coverage
  compute` after the first does): locate the facilities, one multi-source scipy Dijkstra per type,
  per-building minimum over entrances.
* ``ours_cold``: a server process that holds nothing asks about a network version that some process
  has prepared before (``gis.services.coverage.cache``): the network key from ``layer_version``, the
  prepared arrays read from ``coverage_network_cache`` and unpacked, then the run. The process cache
  is cleared before each repeat; the best is kept. The cold answers are checked equal to the warm ones.
* ``ours_first``: the first question on a new network version, which nobody has prepared: read the
  tables (binary cursor), prepare (graph build + attaching buildings), store the archive for every
  other process, run. ``ours_read`` and ``ours_prepare`` split the same work as the bench's own
  frames see it (GeoDataFrames, for the networkx and naive routes below).
* ``pgrouting_per_facility``: ``pgr_drivingDistance`` from each facility in the same PostGIS, nearest per
  building in SQL (buildings and facilities snapped to their nearest node with KNN). On the large case
  only a subset of facilities is timed and the total extrapolated linearly; the output says so.
* ``pgrouting_multi_start``: pgRouting at its best, one ``pgr_drivingDistance(..., equicost => true)``
  per type; measured in full.
* ``networkx``: ``multi_source_dijkstra`` per type on our very graph (same answer, checked).
* ``naive_loop``: for each building a bounded ``single_source_dijkstra_path_length`` (networkx) and the
  nearest facility of each type; a subset of buildings on the large case, extrapolated and labelled.

pgRouting snaps to nodes rather than attaching buildings at their entrances, so its covered
counts differ a little from ours; networkx and the naive loop run on our graph and must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from sqlalchemy import text

from gis.catalogue import load_catalogue
from gis.coverage.distances import compute_coverage
from gis.coverage.network import AttachedNetwork, attach_buildings, build_network, locate_sites
from gis.db.engine import make_engine, transaction
from gis.db.setup import scratch_database
from gis.services import coverage as coverage_service
from gis.services.coverage import cache as coverage_cache
from gis.services.districts import import_osm, store_layers
from gis.settings import Settings
from gis.synthetic import generate_district

REPO = Path(__file__).resolve().parent.parent
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
SYNTHETIC_TYPES = ("community_service_station", "kindergarten", "health_station", "elderly_daycare", "food_market",
                   "primary_school")
LIMIT_FACTOR = 2.0


def log(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def best_of(n: int, fn):  # type: ignore[no-untyped-def]
    runs = [timed(fn) for _ in range(n)]
    return min(t for t, _ in runs), runs[-1][1]


# --- loading the same data every route uses ---------------------------------------------------


def load_case(session: Any, district: str) -> dict[str, Any]:
    from gis.db.frames import read_frame as read
    p = {"d": district}
    buildings = read(session, "SELECT id, households, compound_id, ST_AsBinary(geom) AS geom FROM building "
                              "WHERE district_code = :d AND households > 0 ORDER BY id", p)
    nodes = read(session, "SELECT id, ST_AsBinary(geom) AS geom FROM walk_node WHERE district_code = :d", p)
    edges = read(session, "SELECT id, source, target, length_m, cost, reverse_cost, is_main_road, "
                          "ST_AsBinary(geom) AS geom FROM walk_edge WHERE district_code = :d ORDER BY id", p)
    barriers = read(session, "SELECT kind, ST_AsBinary(geom) AS geom FROM barrier WHERE district_code = :d", p)
    facilities = read(session, "SELECT id, type_code, ST_AsBinary(geom) AS geom FROM facility "
                               "WHERE district_code = :d ORDER BY id", p)
    return {"buildings": buildings, "nodes": nodes, "edges": edges, "barriers": barriers, "facilities": facilities}


def prepare(case: dict[str, Any], crs: str) -> AttachedNetwork:
    net = build_network(case["nodes"], case["edges"], barriers=case["barriers"], crs=crs)
    return attach_buildings(net, case["buildings"].geometry.to_crs(crs).values)


# --- the routes ---------------------------------------------------------------------------------


def ours(graph: AttachedNetwork, points: dict[str, np.ndarray], radii: dict[str, float]) -> dict[str, Any]:
    return compute_coverage(graph, points, radii, limit_factor=LIMIT_FACTOR)


def with_all_sources(graph: AttachedNetwork, points: dict[str, np.ndarray]):  # type: ignore[no-untyped-def]
    """One graph with a virtual source per facility (all types), and each type's source node ids."""
    flat = np.concatenate([points[t] for t in points]) if points else np.empty(0, dtype=object)
    sites = locate_sites(graph, flat)
    g = graph.with_sources(sites)
    sources, start = {}, graph.n_nodes
    for t in points:
        sources[t] = list(range(start, start + len(points[t])))
        start += len(points[t])
    return g, sources, sites


def networkx_route(nxg: nx.DiGraph, graph: AttachedNetwork, sources: dict[str, list[int]],
                   radii: dict[str, float]) -> dict[str, np.ndarray]:
    out = {}
    for t, src in sources.items():
        node_dist = np.full(graph.n_nodes, np.inf)
        if src:
            dist, _paths = nx.multi_source_dijkstra(nxg, src, cutoff=radii[t] * LIMIT_FACTOR)
            for node, d in dist.items():
                if node < graph.n_nodes:
                    node_dist[node] = d
        best, _ = graph.building_distances(node_dist)
        out[t] = np.where(best <= radii[t] * LIMIT_FACTOR, best, np.inf)
    return out


def naive_route(nxg: nx.DiGraph, graph: AttachedNetwork, sites: Any, sources: dict[str, list[int]],
                radii: dict[str, float], buildings: np.ndarray) -> dict[str, np.ndarray]:
    """For each building on its own: a bounded Dijkstra from its entrance, then the nearest facility per type."""
    cutoff = max(radii.values()) * LIMIT_FACTOR
    seeds: dict[str, list[tuple[int, float]]] = {}
    n = graph.n_nodes
    for t, src in sources.items():
        wanted = set(s - n for s in src)
        seeds[t] = [(int(node), float(c))
                    for s_, node, c in zip(sites.seed_site, sites.seed_node, sites.seed_cost, strict=True)
                    if s_ in wanted]
    out = {t: np.full(len(buildings), np.inf) for t in sources}
    for i, b in enumerate(buildings):
        rows = np.flatnonzero(graph.access_building == b)
        for r in rows:
            dist = nx.single_source_dijkstra_path_length(nxg, int(graph.access_node[r]), cutoff=cutoff)
            offset = graph.access_offset[r]
            for t, tseeds in seeds.items():
                limit = radii[t] * LIMIT_FACTOR
                for node, c in tseeds:
                    d = dist.get(node)
                    if d is not None and d + c + offset <= limit:
                        out[t][i] = min(out[t][i], d + c + offset)
    return out


def pgrouting_routes(session: Any, district: str, radii: dict[str, float], *, subset: int | None,
                     seed: int) -> dict[str, Any]:
    """pgr_drivingDistance, per facility and multi-start, nearest per building in SQL."""
    edges_sql = f"SELECT id, source, target, cost, reverse_cost FROM walk_edge WHERE district_code = '{district}'"
    limits = ", ".join(f"('{t}', {r * LIMIT_FACTOR})" for t, r in radii.items())
    session.execute(text("DROP TABLE IF EXISTS bench_n, bench_f, bench_b, bench_out"))

    def snap() -> None:
        # The district's nodes in a table of their own with a GiST index: KNN on walk_node filtered by
        # district lets the planner pick the district b-tree and sort every node per building.
        session.execute(text("""
            CREATE TEMP TABLE bench_n AS SELECT id, geom FROM walk_node WHERE district_code = :d"""), {"d": district})
        session.execute(text("CREATE INDEX ON bench_n USING gist (geom)"))
        session.execute(text("ANALYZE bench_n"))
        session.execute(text(f"""
            CREATE TEMP TABLE bench_f AS
            SELECT f.id, f.type_code, l.lim,
                   (SELECT n.id FROM bench_n n ORDER BY n.geom <-> f.geom LIMIT 1) AS node
            FROM facility f JOIN (VALUES {limits}) AS l(type_code, lim) USING (type_code)
            WHERE f.district_code = :d"""), {"d": district})
        session.execute(text("""
            CREATE TEMP TABLE bench_b AS
            SELECT b.id, (SELECT n.id FROM bench_n n ORDER BY n.geom <-> b.geom LIMIT 1) AS node
            FROM building b WHERE b.district_code = :d AND b.households > 0"""), {"d": district})
        session.execute(text("CREATE INDEX ON bench_b (node)"))
        session.execute(text("ANALYZE bench_f; ANALYZE bench_b"))

    snap_s, _ = timed(snap)
    ids = [r[0] for r in session.execute(text("SELECT id FROM bench_f ORDER BY id"))]
    chosen = ids
    if subset is not None and subset < len(ids):
        chosen = sorted(np.random.default_rng(seed).choice(ids, size=subset, replace=False).tolist())

    def per_facility() -> int:
        session.execute(text("DROP TABLE IF EXISTS bench_out"))
        session.execute(text("""
            CREATE TEMP TABLE bench_out AS
            SELECT DISTINCT ON (b.id, f.type_code) b.id AS building_id, f.type_code, f.id AS facility_id, d.agg_cost
            FROM bench_f f CROSS JOIN LATERAL pgr_drivingDistance(:e, f.node, f.lim, directed => false) d
            JOIN bench_b b ON b.node = d.node
            WHERE f.id = ANY(:ids)
            ORDER BY b.id, f.type_code, d.agg_cost"""), {"e": edges_sql, "ids": chosen})
        return session.execute(text("SELECT count(*) FROM bench_out")).scalar_one()

    per_s, per_rows = timed(per_facility)

    def multi_start() -> dict[str, int]:
        covered = {}
        for t, r in radii.items():
            rows = session.execute(text("""
                SELECT DISTINCT ON (b.id) b.id, d.agg_cost
                FROM pgr_drivingDistance(:e, (SELECT array_agg(DISTINCT node) FROM bench_f WHERE type_code = :t),
                                         :lim, directed => false, equicost => true) d
                JOIN bench_b b ON b.node = d.node
                ORDER BY b.id, d.agg_cost"""), {"e": edges_sql, "t": t, "lim": r * LIMIT_FACTOR}).all()
            covered[t] = sum(1 for _, cost in rows if cost <= r)
        return covered

    multi_s, multi_covered = timed(multi_start)
    scale = len(ids) / max(len(chosen), 1)
    return {
        "snap_s": snap_s, "per_facility_s": per_s, "per_facility_timed": len(chosen), "facilities": len(ids),
        "per_facility_total_s": snap_s + per_s * scale, "extrapolated": len(chosen) < len(ids),
        "multi_start_s": snap_s + multi_s, "multi_start_covered": multi_covered, "per_facility_rows": per_rows,
    }


def forget_shared(session: Any, district: str) -> None:
    """No prepared network anywhere: this process's cache cleared, the shared rows deleted (committed)."""
    import psycopg

    from gis.db.engine import libpq_url

    coverage_service.clear_cache()
    url = session.connection().engine.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DELETE FROM coverage_network_cache WHERE district_code = %s", (district,))


def cold_runs(session: Any, district: str, points: dict[str, np.ndarray], radii: dict[str, float],
              repeats: int) -> dict[str, Any]:
    """The first question on a new network version, then the best of ``repeats`` cold ones in a fresh process."""
    forget_shared(session, district)
    start = time.perf_counter()
    prepared = coverage_cache.prepare_district(session, district)
    first_prepare = time.perf_counter() - start
    first = ours(prepared.graph, points, radii)
    first_s = time.perf_counter() - start
    assert prepared.source == "prepared"
    best: tuple[float, float, float, float] | None = None
    identical = True
    for _ in range(repeats):
        coverage_cache.clear_cache()  # what a process that has never seen this district holds
        c0, t0 = time.process_time(), time.perf_counter()
        cold = coverage_cache.prepare_district(session, district)
        t1 = time.perf_counter()
        answer = ours(cold.graph, points, radii)
        t2, c2 = time.perf_counter(), time.process_time()
        assert cold.source == "shared", cold.source
        identical &= all(np.array_equal(answer[t].distance_m, first[t].distance_m)
                         and np.array_equal(answer[t].facility, first[t].facility) for t in radii)
        if best is None or t2 - t0 < best[0]:
            best = (t2 - t0, t1 - t0, t2 - t1, c2 - c0)
    size = coverage_cache.shared_networks(session, district)[0]["bytes"]
    assert best is not None
    return {"first_s": first_s, "first_prepare_s": first_prepare, "cold_s": best[0], "network_s": best[1],
            "run_s": best[2], "cpu_s": best[3], "identical": bool(identical), "archive_bytes": size}


# --- one case ---------------------------------------------------------------------------------


def run_case(name: str, url: str, district: str, *, naive_subset: int | None, pgr_subset: int | None,
             repeats: int, cold_repeats: int) -> dict[str, Any]:
    catalogue = load_catalogue()
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            t_read, case = timed(lambda: load_case(session, district))
            from gis.crs import metric_crs_for_frame

            crs = metric_crs_for_frame(case["buildings"])
            types = sorted(set(case["facilities"]["type_code"]))
            radii = {t: catalogue[t].radius_m for t in types}
            points = {t: np.asarray(case["facilities"].loc[case["facilities"]["type_code"] == t].geometry
                                    .to_crs(crs).values, dtype=object) for t in types}
            t_prep, graph = timed(lambda: prepare(case, crs))
            log(f"{name}: {len(case['nodes']):,} nodes, {len(case['edges']):,} edges, {graph.n_buildings:,} "
                f"buildings, {sum(len(p) for p in points.values()):,} facilities of {len(types)} types "
                f"(read {t_read:.2f} s, prepare {t_prep:.2f} s)")
            t_run, result = best_of(repeats, lambda: ours(graph, points, radii))
            log(f"{name}: ours {t_run:.3f} s per run")
            cold = cold_runs(session, district, points, radii, cold_repeats)
            log(f"{name}: ours first question on a new version (read, prepare, share, run) {cold['first_s']:.2f} s; "
                f"cold in a new process (key, shared arrays, run) {cold['cold_s']:.3f} s")
            coverage_service.clear_cache()
            t_service, service = timed(lambda: coverage_service.compute_coverage(
                session, district_code=district, types=types, store=False))
            log(f"{name}: ours through the service, new process (shared network, run, roll-ups) {t_service:.2f} s")

            pgr = pgrouting_routes(session, district, radii, subset=pgr_subset, seed=1)
            log(f"{name}: pgRouting per facility {pgr['per_facility_total_s']:.2f} s"
                + (" (extrapolated)" if pgr["extrapolated"] else "") + f", multi-start {pgr['multi_start_s']:.2f} s")

            g, sources, sites = with_all_sources(graph, points)
            t_nx_build, nxg = timed(lambda: nx.from_scipy_sparse_array(g, create_using=nx.DiGraph))
            t_nx, nx_result = timed(lambda: networkx_route(nxg, graph, sources, radii))
            log(f"{name}: networkx {t_nx:.2f} s (+ {t_nx_build:.2f} s to build its graph)")

            all_b = np.arange(graph.n_buildings)
            sample = all_b
            if naive_subset is not None and naive_subset < len(all_b):
                sample = np.sort(np.random.default_rng(2).choice(all_b, size=naive_subset, replace=False))
            t_naive, naive = timed(lambda: naive_route(nxg, graph, sites, sources, radii, sample))
            t_naive_total = t_naive * len(all_b) / len(sample)
            log(f"{name}: naive per-building loop {t_naive_total:.1f} s"
                + (f" (extrapolated from {len(sample)} buildings)" if len(sample) < len(all_b) else ""))
            session.rollback()

        diff_nx = max(_max_diff(result[t].distance_m, nx_result[t]) for t in types)
        diff_naive = max(_max_diff(result[t].distance_m[sample], naive[t]) for t in types)
        ours_covered = {t: int(result[t].covered.sum()) for t in types}
        return {
            "nodes": len(case["nodes"]), "edges": len(case["edges"]), "buildings": int(graph.n_buildings),
            "graph_nodes": int(graph.n_nodes), "facilities": int(sum(len(p) for p in points.values())),
            "types": len(types),
            "ours_run_s": round(t_run, 4), "ours_prepare_s": round(t_prep, 3), "ours_read_s": round(t_read, 3),
            "ours_cold_s": round(cold["cold_s"], 3), "ours_cold_network_s": round(cold["network_s"], 3),
            "ours_cold_run_s": round(cold["run_s"], 4), "ours_cold_cpu_s": round(cold["cpu_s"], 3),
            "ours_cold_identical_to_warm": cold["identical"], "load_average": [round(x, 1) for x in os.getloadavg()],
            "ours_first_s": round(cold["first_s"], 3), "ours_first_prepare_s": round(cold["first_prepare_s"], 3),
            "shared_archive_bytes": cold["archive_bytes"],
            "ours_service_cold_s": round(t_service, 3),
            "pgrouting_per_facility_s": round(pgr["per_facility_total_s"], 3),
            "pgrouting_per_facility_extrapolated": pgr["extrapolated"],
            "pgrouting_per_facility_timed": f"{pgr['per_facility_timed']} of {pgr['facilities']} facilities",
            "pgrouting_multi_start_s": round(pgr["multi_start_s"], 3),
            "pgrouting_snap_s": round(pgr["snap_s"], 3),
            "networkx_s": round(t_nx, 3), "networkx_graph_build_s": round(t_nx_build, 3),
            "naive_loop_s": round(t_naive_total, 2),
            "naive_loop_extrapolated": bool(len(sample) < len(all_b)),
            "naive_loop_timed": f"{len(sample)} of {len(all_b)} buildings",
            "speedup_vs_pgrouting_per_facility": round(pgr["per_facility_total_s"] / t_run, 1),
            "speedup_vs_pgrouting_multi_start": round(pgr["multi_start_s"] / t_run, 1),
            "speedup_vs_networkx": round(t_nx / t_run, 1),
            "speedup_vs_naive_loop": round(t_naive_total / t_run, 1),
            "cold_speedup_vs_pgrouting_per_facility": round(pgr["per_facility_total_s"] / cold["cold_s"], 1),
            "cold_speedup_vs_pgrouting_multi_start": round(pgr["multi_start_s"] / cold["cold_s"], 1),
            "first_speedup_vs_pgrouting_multi_start": round(pgr["multi_start_s"] / cold["first_s"], 1),
            "max_difference_networkx_m": diff_nx, "max_difference_naive_m": diff_naive,
            "buildings_covered_ours": ours_covered,
            "buildings_covered_pgrouting_node_snapped": pgr["multi_start_covered"],
            "service_households_covered": {t: service["types"][t]["district"]["households_covered"] for t in types},
        }
    finally:
        engine.dispose()


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    if (np.isfinite(a) != np.isfinite(b)).any():
        return float("inf")
    return round(float(np.abs(a[both] - b[both]).max()), 6) if both.any() else 0.0


def synthetic_layers(households: int, facilities: int, seed: int):  # type: ignore[no-untyped-def]
    layers = generate_district(households=households, seed=seed)
    pool = layers.facilities[layers.facilities["type_code"].isin(SYNTHETIC_TYPES)]
    keep = np.sort(np.random.default_rng(seed).choice(len(pool), size=min(facilities, len(pool)), replace=False))
    layers.facilities = pool.iloc[keep].reset_index(drop=True)
    return layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=2_100_000,
                        help="size of the synthetic city (2.1 million gives just over 100,000 nodes)")
    parser.add_argument("--facilities", type=int, default=1000)
    parser.add_argument("--pgr-subset", type=int, default=60,
                        help="facilities timed one by one with pgRouting on the synthetic case")
    parser.add_argument("--naive-subset", type=int, default=300,
                        help="buildings timed one by one in the naive loop on the synthetic case")
    parser.add_argument("--repeats", type=int, default=3, help="our run is timed this often, best kept")
    parser.add_argument("--cold-repeats", type=int, default=5,
                        help="the cold path (a process that holds nothing) is timed this often, best kept")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    results: dict[str, Any] = {}
    with scratch_database(settings, prefix="wangge_bench_cov") as url:
        engine = make_engine(url)
        log("importing the Nanjing extract")
        with transaction(engine) as session:
            import_osm(session, NANJING, district_code="320102", name="玄武区", settings=settings)
        log(f"generating a synthetic city of {args.households:,} households")
        layers = synthetic_layers(args.households, args.facilities, seed=1)
        with transaction(engine) as session:
            # It is generated around the same centre as the extract: the overlap is known and wanted.
            store_layers(session, layers, district_code="990001", name="合成区", source="bench",
                         attribution="synthetic data, not a real place", allow_overlap=True)
        engine.dispose()
        results["nanjing"] = run_case("nanjing", url, "320102", naive_subset=None, pgr_subset=None,
                                      repeats=args.repeats, cold_repeats=args.cold_repeats)
        results["synthetic"] = run_case("synthetic", url, "990001", naive_subset=args.naive_subset,
                                        pgr_subset=args.pgr_subset, repeats=args.repeats,
                                        cold_repeats=args.cold_repeats)
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for name, figures in results.items():
            print(f"== {name}")
            for key, value in figures.items():
                print(f"  {key}: {value}")
        big = results["synthetic"]
        print(f"targets: 100k-node case under 2 s: ours per run {big['ours_run_s']} s "
              f"({'met' if big['ours_run_s'] < 2 else 'missed'}); "
              f"at least 20x faster than pgRouting per facility: {big['speedup_vs_pgrouting_per_facility']}x "
              f"({'met' if big['speedup_vs_pgrouting_per_facility'] >= 20 else 'missed'}), against its "
              f"multi-start call {big['speedup_vs_pgrouting_multi_start']}x")
        print(f"cold (new process: key + shared arrays + run) on {big['nodes']:,} nodes: {big['ours_cold_s']} s "
              f"(this process's CPU {big['ours_cold_cpu_s']} s; load average {big['load_average']}) "
              f"beside pgRouting multi-start {big['pgrouting_multi_start_s']} s: "
              f"{big['cold_speedup_vs_pgrouting_multi_start']}x; target <= 0.6 s "
              f"({'met' if big['ours_cold_s'] <= 0.6 else 'missed'}); identical to warm: "
              f"{big['ours_cold_identical_to_warm']}; first question on a new version (read + prepare + share + run) "
              f"{big['ours_first_s']} s ({big['first_speedup_vs_pgrouting_multi_start']}x)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
