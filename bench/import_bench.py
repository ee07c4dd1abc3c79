"""Storing an imported district: our store against ``GeoDataFrame.to_postgis`` for the same rows, in one run.

    .venv/bin/python bench/import_bench.py [--households 200000] [--rounds 5] [--json]

Two districts, each read or generated once (not timed) and then stored ``--rounds`` times by each
route, the routes taking turns, in one throw-away PostGIS database:

* ``nanjing``: the demo extract (``data/osm/cn_nanjing_xinjiekou_2021.osm``) as ``wangge import osm``
  reads it, households estimated;
* ``synthetic``: ``gis.synthetic.generate_district(households=N)``, what ``wangge generate district`` stores.

Routes (medians printed; each ratio is the other route's time over ours, so > 1 means we are faster):

* ``ours``: ``gis.services.districts.store_layers`` in one transaction, committed: ids, the links
  between tables, the overlap check and the district row, then one COPY per table into the schema's
  tables with their indexes, foreign keys and layer-version triggers. ``ours_copy`` is the part
  spent in those COPYs (recorded by wrapping ``copy_frame``; the rows it was given are kept).
* ``to_postgis same tables``: ``GeoDataFrame.to_postgis(if_exists="append")`` of exactly the rows our
  COPYs wrote (same ids, same columns) into the same tables, in one transaction: the like-for-like
  comparison (target ≥ 1).
* ``to_postgis new tables``: ``to_postgis(if_exists="replace")`` of the six layers as read
  (compounds, buildings, walk nodes and edges, barriers, facilities) into new tables of their own,
  what a user without Wangge would do: no indexes, keys or triggers to maintain, which costs the
  server more than that whole route (``ours_copy`` alone is longer), so this ratio stays under 1.

Between rounds the stored rows are deleted and the tables vacuumed (not timed), so that every round
starts from the same state, as to_postgis's new tables do.

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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.db.engine import make_engine, transaction
from gis.db.setup import scratch_database
from gis.layers import DistrictLayers
from gis.services import districts
from gis.services.districts import SOURCE_TABLES, clear_district_data, import_osm, read_osm_with_households
from gis.settings import Settings
from gis.synthetic import generate_district

REPO = Path(__file__).resolve().parent.parent
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
LAYERS = ("compounds", "buildings", "nodes", "edges", "barriers", "facilities")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


@contextmanager
def recorded_copies() -> Iterator[dict[str, Any]]:
    """While open, the store's copy_frame calls are timed and their tables, rows and columns kept."""
    record: dict[str, Any] = {"seconds": 0.0, "tables": []}
    original = districts.copy_frame

    def recording(session: Any, table: str, frame: Any, columns: Any) -> int:
        start = time.perf_counter()
        n = original(session, table, frame, columns)
        record["seconds"] += time.perf_counter() - start
        record["tables"].append((table, frame.copy(), tuple(columns)))
        return n

    districts.copy_frame = recording
    try:
        yield record
    finally:
        districts.copy_frame = original


def as_table_rows(frame: gpd.GeoDataFrame, columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    """The columns our COPY wrote, the geometry named ``geom`` as in the tables."""
    kept = frame[[c for c in columns if c != "geom"] + ([frame.geometry.name] if "geom" in columns else [])]
    return kept.rename_geometry("geom") if "geom" in columns else kept


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
    """Store the same layers by each route, taking turns; medians and ratios."""
    rows = {layer: len(getattr(layers, layer)) for layer in LAYERS}
    times: dict[str, list[float]] = {"ours": [], "ours_copy": [], "same_tables": [], "new_tables": []}
    written: list[tuple[str, gpd.GeoDataFrame]] = []

    def ours() -> dict[str, Any]:
        with transaction(engine) as session:
            return districts.store_layers(session, layers, district_code=code, name=name, source="bench",
                                          attribution=None)

    def same_tables() -> None:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO district (code, name) VALUES (:c, :n)"), {"c": code, "n": name})
            for table, frame in written:
                frame.to_postgis(table, conn, if_exists="append")

    def new_tables() -> None:
        for layer in LAYERS:
            getattr(layers, layer).rename_geometry("geom").to_postgis(f"gp_{layer}", engine, if_exists="replace")

    for _ in range(rounds):
        with recorded_copies() as record:
            seconds, report = timed(ours)
        assert report["buildings"] == rows["buildings"] and report["edges"] == rows["edges"], report
        times["ours"].append(seconds)
        times["ours_copy"].append(record["seconds"])
        written = [(table, as_table_rows(frame, columns)) for table, frame, columns in record["tables"]]
        forget_district(engine, code)
        times["same_tables"].append(timed(same_tables)[0])
        forget_district(engine, code)
        times["new_tables"].append(timed(new_tables)[0])
    m = {k: statistics.median(v) for k, v in times.items()}
    return {
        "rows": sum(rows.values()),
        "ours_store_s": round(m["ours"], 3), "ours_copy_s": round(m["ours_copy"], 3),
        "to_postgis_same_tables_s": round(m["same_tables"], 3), "to_postgis_new_tables_s": round(m["new_tables"], 3),
        "ratio_same_tables": round(m["same_tables"] / m["ours"], 2),
        "copy_ratio_same_tables": round(m["same_tables"] / m["ours_copy"], 2),
        "ratio_new_tables": round(m["new_tables"] / m["ours"], 2),
        "rounds_s": {k: [round(s, 3) for s in v] for k, v in times.items()},
        **{f"{k}_rows": v for k, v in rows.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
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
                "ratio": round(t_alt / t_ours, 2), "buildings": report["buildings"], "edges": report["edges"],
                "gdal_rows": n}
        finally:
            engine.dispose()
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        print(f"median of {args.rounds} rounds; ratio = to_postgis time / ours (> 1: we are faster)")
        for case, f in results.items():
            if not case.endswith("_store"):
                print(case + ": " + ", ".join(f"{k} {v}" for k, v in f.items()))
                continue
            print(f"{case}: {f['rows']:,} rows\n"
                  f"  ours: store {f['ours_store_s']} s, of which COPY {f['ours_copy_s']} s\n"
                  f"  to_postgis, same rows into the same tables: {f['to_postgis_same_tables_s']} s: store "
                  f"{f['ratio_same_tables']}×, COPY {f['copy_ratio_same_tables']}× (target ≥ 1×)\n"
                  f"  to_postgis, the layers into new tables without indexes or keys: "
                  f"{f['to_postgis_new_tables_s']} s: store {f['ratio_new_tables']}×")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
