"""Needs × resources within a walk on a real district: how long the ledgers' reach query takes.

    .venv/bin/python bench/ledgers_bench.py [--needs 2000] [--resources 300] [--radius 500] [--json]

A scratch database gets the Nanjing Xinjiekou extract (data/osm, ODbL); needs are placed on random
residential buildings and resources at random points of them, as a community's lists would be.
The walk network is loaded once by the coverage service (``prepare_district``, timed apart, as a
server keeps it cached), then ``gis.ledgers.walking_pairs`` answers the question the reach route
asks: which resources each need reaches within the radius on foot, and which needs reach none.
The same pairs as the crow flies are counted beside it: what a straight-line buffer would wrongly
promise. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import geopandas as gpd
import numpy as np

from gis import ledgers
from gis.db.engine import make_engine, transaction
from gis.db.setup import scratch_database
from gis.services import coverage as coverage_service
from gis.services import districts as district_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--needs", type=int, default=2000)
    parser.add_argument("--resources", type=int, default=300)
    parser.add_argument("--radius", type=float, default=500.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings(database_url=None, home=REPO / ".wangge")
    rng = np.random.default_rng(args.seed)
    with scratch_database(settings, prefix="wangge_bench_ledgers",
                         server_url=os.environ.get("WANGGE_TEST_DATABASE_URL")) as url:
        engine = make_engine(url)
        with transaction(engine) as session:
            district_service.import_osm(session, REPO / "data/osm/cn_nanjing_xinjiekou_2021.osm",
                                        district_code="320102", name="玄武区", settings=settings)
        with transaction(engine) as session:
            t0 = time.perf_counter()
            prepared = coverage_service.prepare_district(session, "320102")
            load_s = time.perf_counter() - t0
        engine.dispose()
    footprints = gpd.GeoSeries(prepared.footprints, crs=prepared.crs)
    pick = rng.integers(0, len(footprints), args.needs)
    needs = footprints.iloc[pick].representative_point().values
    spots = footprints.iloc[rng.integers(0, len(footprints), args.resources)].representative_point().values
    t1 = time.perf_counter()
    walk = ledgers.walking_pairs(prepared.graph, needs, spots, limit_m=args.radius)
    walk_s = time.perf_counter() - t1
    nearest, _ = walk.nearest()
    crow = ledgers.straight_line_pairs(needs, spots, limit_m=args.radius)
    crow_nearest, _ = crow.nearest()
    out = {"needs": args.needs, "resources": args.resources, "radius_m": args.radius,
           "network_nodes": int(prepared.graph.n_nodes), "network_load_s": round(load_s, 2),
           "walking_pairs_s": round(walk_s, 3), "pairs_within_radius": int(len(walk.need)),
           "needs_without_resource": int((nearest < 0).sum()),
           "needs_without_resource_straight_line": int((crow_nearest < 0).sum()),
           "pairs_straight_line": int(len(crow.need))}
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print(f"{key:>38}: {value}")


if __name__ == "__main__":
    main()
