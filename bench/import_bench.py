"""Storing an imported district: our store against ``GeoDataFrame.to_postgis`` for the same rows, in one run.

    .venv/bin/python bench/import_bench.py [--households 200000] [--rounds 3] [--json]

Two districts, each read or generated once (not timed) and then stored ``--rounds`` times by each
route, the routes alternating, in one throw-away PostGIS database:

* ``nanjing``: the demo extract (``data/osm/cn_nanjing_xinjiekou_2021.osm``) as ``wangge import osm``
  reads it, households estimated;
* ``synthetic``: ``gis.synthetic.generate_district(households=N)``, what ``wangge generate district`` stores.

Routes (the median round of each is printed, with the ratio ``to_postgis / ours``; target ≥ 1):

* ``ours``: ``gis.services.districts.store_layers`` in one transaction, committed — ids, the links
  between tables, the overlap check and the district row, into the schema's tables with their
  indexes, keys, constraints and layer-version triggers; every table written by one COPY;
* ``to_postgis``: ``GeoDataFrame.to_postgis`` of the same six layers (compounds, buildings, walk
  nodes and edges, barriers, facilities: the same rows), each into a new table of its own
  (``if_exists="replace"``): no indexes, keys or constraints, so the ratio flatters it.

Between rounds the stored district is deleted (not timed), so every round starts from the same state.

Also printed, once: the whole ``import osm`` of the Nanjing extract (read, estimate, store, review)
against the usual GeoPandas route for a file, GDAL's OSM driver (pyogrio) then ``to_postgis``
of each layer, which does much less (no walk network, no facility classification, no households).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.db.engine import make_engine, transaction
from gis.db.setup import scratch_database
from gis.layers import DistrictLayers
from gis.services.districts import (SOURCE_TABLES, clear_district_data, import_osm, read_osm_with_households,
                                   store_layers)
from gis.settings import Settings
from gis.synthetic import generate_district

REPO = Path(__file__).resolve().parent.parent
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
LAYERS = ("compounds", "buildings", "nodes", "edges", "barriers", "facilities")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def forget_district(engine: Engine, code: str) -> None:
    """Delete what a store wrote and vacuum, so that the next round starts where this one did."""
    with transaction(engine) as session:
        clear_district_data(session, code)
        session.execute(text("DELETE FROM district WHERE code = :d"), {"d": code})
    # Without it each round would find the last one's dead rows in the indexes it writes to, while
    # to_postgis writes into new tables every time.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("district", *SOURCE_TABLES):
            conn.execute(text(f'VACUUM "{table}"'))


def compare_store(engine: Engine, layers: DistrictLayers, *, code: str, name: str, rounds: int) -> dict[str, Any]:
    """Store the same layers with ours and with to_postgis, alternating; medians and the ratio."""
    rows = {layer: len(getattr(layers, layer)) for layer in LAYERS}

    def ours() -> dict[str, Any]:
        with transaction(engine) as session:
            return store_layers(session, layers, district_code=code, name=name, source="bench", attribution=None)

    def theirs() -> None:
        for layer in LAYERS:
            frame = getattr(layers, layer)
            frame.rename_geometry("geom").to_postgis(f"gp_{layer}", engine, if_exists="replace")

    ours_s, theirs_s = [], []
    for _ in range(rounds):
        seconds, report = timed(ours)
        ours_s.append(seconds)
        assert report["buildings"] == rows["buildings"] and report["edges"] == rows["edges"], report
        forget_district(engine, code)
        seconds, _ = timed(theirs)
        theirs_s.append(seconds)
    ours_m, theirs_m = statistics.median(ours_s), statistics.median(theirs_s)
    return {"rows": sum(rows.values()), **{f"{k}_rows": v for k, v in rows.items()},
            "ours_store_s": round(ours_m, 3), "to_postgis_s": round(theirs_m, 3),
            "ratio": round(theirs_m / ours_m, 2), "ours_rounds_s": [round(s, 3) for s in ours_s],
            "to_postgis_rounds_s": [round(s, 3) for s in theirs_s]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    results: dict[str, dict[str, Any]] = {}
    nanjing = read_osm_with_households(NANJING, settings)
    synthetic = generate_district(households=args.households, seed=1)
    with scratch_database(settings, prefix="wangge_bench") as url:
        engine = make_engine(url)
        try:
            results["nanjing_store"] = compare_store(engine, nanjing, code="320102", name="玄武区", rounds=args.rounds)
            results[f"synthetic_{args.households}_store"] = compare_store(engine, synthetic, code="990001",
                                                                          name="合成区", rounds=args.rounds)

            def ours_osm() -> dict[str, Any]:
                with transaction(engine) as session:
                    return import_osm(session, NANJING, district_code="320102", name="玄武区", settings=settings)

            def geopandas_osm() -> int:
                n = 0
                for layer in ("multipolygons", "lines", "points"):
                    frame = pyogrio.read_dataframe(NANJING, layer=layer)
                    frame.to_postgis(f"gdal_{layer}", engine, if_exists="replace")
                    n += len(frame)
                return n

            t_ours, report = timed(ours_osm)
            t_alt, n = timed(geopandas_osm)
            results["nanjing_whole_import"] = {
                "ours_s": round(t_ours, 3), "gdal_to_postgis_s": round(t_alt, 3),
                "ratio": round(t_alt / t_ours, 2), "buildings": report["buildings"], "edges": report["edges"], "gdal_rows": n}
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        for case, figures in results.items():
            if case.endswith("_store"):
                print(f"{case}: {figures['rows']:,} rows; ours {figures['ours_store_s']} s, to_postgis "
                      f"{figures['to_postgis_s']} s: {figures['ratio']}× (target ≥ 1×; median of {args.rounds}, "
                      f"rounds ours {figures['ours_rounds_s']}, to_postgis {figures['to_postgis_rounds_s']})")
            else:
                print(case + ": " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
