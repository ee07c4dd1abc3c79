"""Import speed: Wangge's importer against what a user would otherwise do, in one run.

    .venv/bin/python bench/import_bench.py [--households 200000] [--json]

The alternative is the usual GeoPandas route: GDAL's OSM driver (through pyogrio) for the
extract, then ``GeoDataFrame.to_postgis`` for every layer. It does less than we do (no
walk network split at intersections, no facility classification, no household estimate),
so the ratio flatters it. Both write into the same throw-away database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pyogrio

from gis.db.engine import make_engine, transaction
from gis.db.setup import scratch_database
from gis.services.districts import generate_and_store_district, import_osm
from gis.settings import Settings
from gis.synthetic import generate_district

REPO = Path(__file__).resolve().parent.parent
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    results: dict[str, dict] = {}
    with scratch_database(settings, prefix="wangge_bench") as url:
        engine = make_engine(url)

        def ours_osm():  # type: ignore[no-untyped-def]
            with transaction(engine) as session:
                return import_osm(session, NANJING, district_code="320102", name="玄武区", settings=settings)

        def geopandas_osm():  # type: ignore[no-untyped-def]
            rows = 0
            for layer in ("multipolygons", "lines", "points"):
                frame = pyogrio.read_dataframe(NANJING, layer=layer)
                frame.to_postgis(f"gdal_{layer}", engine, if_exists="replace")
                rows += len(frame)
            return rows

        t_ours, report = timed(ours_osm)
        t_alt, rows = timed(geopandas_osm)
        results["nanjing_osm"] = {
            "ours_s": round(t_ours, 3), "geopandas_to_postgis_s": round(t_alt, 3),
            "speedup": round(t_alt / t_ours, 2), "buildings": report["buildings"], "edges": report["edges"],
            "alternative_rows": rows,
        }

        def ours_synthetic():  # type: ignore[no-untyped-def]
            with transaction(engine) as session:
                return generate_and_store_district(session, households=args.households, seed=1,
                                                   district_code="990001", name="合成区")

        t_ours, report = timed(ours_synthetic)
        t_gen, layers = timed(lambda: generate_district(households=args.households, seed=1))

        def geopandas_synthetic():  # type: ignore[no-untyped-def]
            for name in ("buildings", "nodes", "edges", "facilities"):
                getattr(layers, name).rename_geometry("geom").to_postgis(f"gp_{name}", engine, if_exists="replace")

        t_alt, _ = timed(geopandas_synthetic)
        results[f"synthetic_{args.households}"] = {
            "ours_s": round(t_ours, 3), "generation_s": round(t_gen, 3),
            "ours_store_s": round(t_ours - t_gen, 3), "geopandas_to_postgis_store_s": round(t_alt, 3),
            "store_speedup": round(t_alt / max(t_ours - t_gen, 1e-6), 2),
            "buildings": report["buildings"], "households": report["households"],
            "nodes": report["nodes"], "edges": report["edges"],
        }
        engine.dispose()
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for name, figures in results.items():
            print(name + ": " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
