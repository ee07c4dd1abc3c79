"""Fan-out speed: per-district coverage and grid suggestions, one process against a Dask LocalCluster, in one run.

    .venv/bin/python bench/scale.py [--districts 4] [--households 50000] [--workers N] [--repeats 1] [--json]

``--districts`` synthetic districts of ``--households`` households each (gis.synthetic, strip
communities of about 2,000 households, see ``gis.services.scale.store_synthetic_district``) in
one throw-away PostGIS database. Two jobs, each over every district:

* coverage: ``compute_coverage_for_districts`` (a stored coverage run per district, whole catalogue);
* partition: ``suggest_grids_for_districts`` (a draft grid plan per community).

Two routes per job, timed end to end as the user gets them:

* serial: the districts one after another in this process (``--all-districts`` without ``--dask``);
* dask: one task per district on a LocalCluster of ``--workers`` single-threaded worker processes
  (default: one per core), started and warmed (workers import gis) before the clock starts. The
  start-up and warm-up are timed too: a bare ``--dask`` pays them on every call, so a ratio
  counting them is printed beside the warm one.

Both routes start cold: the coverage network cache is cleared in this process and in every
worker before each timed run. The Dask figures are checked against the serial ones (household
coverage of every district and type, grid households of every plan). Each run stores new
coverage runs and draft plans, which is what the commands do.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.db.engine import make_engine, transaction  # noqa: E402
from gis.db.setup import scratch_database  # noqa: E402
from gis.services import coverage as coverage_service  # noqa: E402
from gis.services import scale  # noqa: E402
from gis.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIRST_CODE = 990101


def log(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


def origins(count: int, households: int) -> list[tuple[float, float]]:
    """South-west corners far enough apart that no two districts overlap (8 to a row)."""
    side_deg = math.sqrt(households / 12_000) / 90  # km² at ~12,000 households/km², ~90 km per degree
    step = max(0.15, 2 * side_deg)
    return [(112.0 + step * (i % 8), 28.0 + step * (i // 8)) for i in range(count)]


def warm(module_names: tuple[str, ...]) -> None:
    for name in module_names:
        importlib.import_module(name)


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def best_of(repeats: int, fn, before) -> tuple[float, Any]:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeats):
        before()
        runs.append(timed(fn))
    return min(t for t, _ in runs), runs[-1][1]


def coverage_figures(report: dict[str, Any]) -> dict[str, Any]:
    return {d["district_code"]: {t: (e["district"]["households_covered"], e["district"]["target_population_covered"])
                                 for t, e in d["types"].items()} for d in report["districts"]}


def grid_households(url: str, report: dict[str, Any]) -> list[list[Any]]:
    from sqlalchemy import text

    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            return [[list(r) for r in session.execute(text("""
                SELECT p.scope_code, u.label, u.households FROM plan_unit u JOIN plan p ON p.id = u.plan_id
                WHERE p.id = ANY(:ids) ORDER BY 1, 2"""), {"ids": d["plan_ids"]})] for d in report["districts"]]
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--districts", type=int, default=4)
    parser.add_argument("--households", type=int, default=50_000, help="households per district")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes (default: cores)")
    parser.add_argument("--repeats", type=int, default=1, help="each route is timed this often, best kept")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    codes = [str(FIRST_CODE + i) for i in range(args.districts)]
    result: dict[str, Any] = {"districts": args.districts, "households_per_district": args.households,
                              "cores": os.cpu_count(), "buildings": 0, "communities": 0, "rows": [],
                              "load_average_before": round(os.getloadavg()[0], 2)}

    with scratch_database(settings, prefix="wangge_bench_scale") as url:
        engine = make_engine(url)
        try:
            for i, (code, origin) in enumerate(zip(codes, origins(len(codes), args.households), strict=True)):
                log(f"generating district {code} ({args.households:,} households) at {origin}")
                with transaction(engine) as session:
                    stored = scale.store_synthetic_district(session, district_code=code, name=f"合成{i + 1}区",
                                                            households=args.households, seed=args.seed + i,
                                                            origin=origin)
                result["buildings"] += stored["buildings"]
                result["communities"] += len(stored["community_codes"])
        finally:
            engine.dispose()

        def run_serial(job: str):  # type: ignore[no-untyped-def]
            if job == "coverage":
                return lambda: scale.compute_coverage_for_districts(url, district_codes=codes)
            return lambda: scale.suggest_grids_for_districts(url, settings, district_codes=codes, seed=args.seed)

        def run_dask(job: str, address: str):  # type: ignore[no-untyped-def]
            if job == "coverage":
                return lambda: scale.compute_coverage_for_districts(url, district_codes=codes, scheduler=address)
            return lambda: scale.suggest_grids_for_districts(url, settings, district_codes=codes, seed=args.seed,
                                                             scheduler=address)

        serial: dict[str, Any] = {}
        for job in ("coverage", "partition"):
            log(f"{job}: serial")
            seconds, serial[job] = best_of(args.repeats, run_serial(job), coverage_service.clear_cache)
            result["rows"].append({"job": job, "route": serial[job]["runner"], "seconds": round(seconds, 2)})

        log("starting a LocalCluster")
        t0 = time.perf_counter()
        with scale.dask_client(scale.LOCAL_CLUSTER, workers=args.workers, tasks=len(codes)) as client:
            client.run(warm, ("gis.services.scale", "gis.services.coverage", "gis.services.partition"))
            result["dask_startup_s"] = round(time.perf_counter() - t0, 2)
            address = client.scheduler.address
            fanned: dict[str, Any] = {}
            for job in ("coverage", "partition"):
                log(f"{job}: dask")
                seconds, fanned[job] = best_of(args.repeats, run_dask(job, address),
                                               lambda: client.run(coverage_service.clear_cache))
                route = fanned[job]["runner"].replace(f"scheduler {address}", "LocalCluster")
                result["rows"].append({"job": job, "route": route, "seconds": round(seconds, 2)})

        for job in ("coverage", "partition"):
            failed = serial[job]["failed"] + fanned[job]["failed"]
            if failed:
                raise SystemExit(f"{job}: districts failed: {failed}")
        result["same_coverage_figures"] = coverage_figures(serial["coverage"]) == coverage_figures(fanned["coverage"])
        result["same_grids"] = grid_households(url, serial["partition"]) == grid_households(url, fanned["partition"])

    # Other processes on the machine take cores from the Dask route first: say how busy it was.
    result["load_average_after"] = round(os.getloadavg()[0], 2)
    times = {(r["job"], r["route"].split()[0]): r["seconds"] for r in result["rows"]}
    ratios = {}
    for job in ("coverage", "partition"):
        ratios[f"{job}: serial / dask (warm cluster)"] = round(times[(job, "serial")] / times[(job, "dask")], 2)
        ratios[f"{job}: serial / dask (start-up counted)"] = round(
            times[(job, "serial")] / (times[(job, "dask")] + result["dask_startup_s"]), 2)
    result["ratios"] = ratios
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"{args.districts} synthetic districts × {args.households:,} households ({result['buildings']:,} buildings, "
          f"{result['communities']} communities) on {result['cores']} cores; 1-minute load average "
          f"{result['load_average_before']} before, {result['load_average_after']} after")
    print(f"{'job':<10} {'route':<44} {'time s':>8}")
    for r in result["rows"]:
        print(f"{r['job']:<10} {r['route']:<44} {r['seconds']:>8.2f}")
    print(f"LocalCluster start-up and warm-up: {result['dask_startup_s']:.2f} s")
    print(f"same figures on both routes: coverage {result['same_coverage_figures']}, grids {result['same_grids']}")
    for name, value in ratios.items():
        print(f"{name}: {value}×")


if __name__ == "__main__":
    main()
