"""Vector tile serving: our API against tipg, on the same database, the same tiles, the same load.

    .venv/bin/python bench/tiles.py [--url URL] [--concurrency 8] [--rounds 20] [--cold-rounds 5]
                                    [--zooms 14,15,16] [--json]

The demo district (320102, Nanjing Xinjiekou: 1,278 buildings and its adopted grids) is read
from ``--url`` or, by default, from a bench database ``wangge_bench_tiles`` on the embedded
cluster, which is created and loaded the first time (import, boundaries, grid plans: a few
minutes) and kept for the next run (``--reload`` recreates it).

Both servers run under uvicorn (one worker each) in subprocesses on free ports:

* ``ours``: ``api.app.create_app`` with a signed-in viewer's bearer token on every request
  (auth, role check and layer version included): ``/tiles/{grids|buildings}/{z}/{x}/{y}.mvt``;
* ``tipg`` (installed from PyPI with the ``bench`` extra):
  ``/collections/public.{grid|building}/tiles/WebMercatorQuad/{z}/{x}/{y}`` with the same
  attributes (``properties=``) and, for grids, ``filter=valid_to IS NULL`` (current grids).
  tipg draws grids without household counts, which ours computes per tile.

Each case (layer × zoom) is measured twice, servers alternating:

* cold: ``--cold-rounds`` times, a building of the district is touched (a no-op UPDATE, which
  bumps the building counter and so the version of both layers, as an edit does), and once ours
  has heard of the new version, every tile of the zoom is asked for once: nothing is in our
  memory or in ``tile_cache`` for that version, so each is drawn (tipg has no cache: it always
  draws);
* warm: after one pass over the tiles, the list of tiles ``--rounds`` times with
  ``--concurrency`` requests in flight: repeats, which ours answers from memory.

It prints requests per second and p50/p95 latency for both and the ratios. Figures are printed,
never asserted (target, issue 20: warm at least twice tipg's throughput on every case, p95 under
50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# A bare keep-alive client, not httpx: the load must cost far less than the servers it measures.
from bench.httpclient import Connection  # noqa: E402 - after the sys.path line above
from gis.db.engine import make_engine, transaction  # noqa: E402
from gis.settings import Settings  # noqa: E402

DISTRICT = "320102"
BENCH_DB = "wangge_bench_tiles"
BENCH_USER = "bench_tiles_viewer"
LAYERS = {  # ours: (tipg collection, tipg query)
    "buildings": ("public.building", {"properties": "id,name,kind,floors,households,households_source"}),
    "grids": ("public.grid", {"properties": "code,name,community_code,kind,level,version",
                              "filter": "valid_to IS NULL", "filter-lang": "cql2-text"}),
}


def log(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


# --- the database -------------------------------------------------------------------------------


def bench_database(settings: Settings, *, url: str | None, reload: bool) -> str:
    """The URL of a database holding the demo district with its grids, loading it when missing."""
    from gis.services.demo import demo_database

    return demo_database(settings, name=BENCH_DB, url=url, reload=reload, with_users=False, log=log)


def bench_token(settings: Settings, url: str) -> str:
    """A bearer token of a viewer (created when missing), signed with ``settings.secret_key``."""
    from api.security import create_token
    from gis.db.models import AppUser
    from gis.services import users as user_service

    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            user = session.query(AppUser).filter_by(username=BENCH_USER).one_or_none()
            if user is None:
                user = user_service.create_user(session, username=BENCH_USER, password=secrets.token_urlsafe(16),
                                                role="viewer", district_code=DISTRICT)
            return create_token(settings, user)["access_token"]
    finally:
        engine.dispose()


def district_tiles(url: str, zooms: list[int]) -> dict[int, list[tuple[int, int, int]]]:
    """Every XYZ tile of each zoom that the district's buildings' extent touches."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            west, south, east, north = conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM building WHERE district_code = :d) s"), {"d": DISTRICT}).one()
    finally:
        engine.dispose()

    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 1 << z
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    found = {}
    for z in zooms:
        x0, y0 = tile(west, north, z)
        x1, y1 = tile(east, south, z)
        found[z] = [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return found


# --- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ours(url: str, port: int, secret: str) -> None:
    """Run our app under uvicorn (the bench starts this in a subprocess)."""
    import logging

    import uvicorn

    from api.app import create_app

    logging.getLogger("wangge.api").setLevel(logging.WARNING)
    app = create_app(Settings(database_url=url, secret_key=secret), url=url, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), robust to other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_servers(stack: ExitStack, url: str, secret: str) -> tuple[dict[str, str], dict[str, int]]:
    """Our app and tipg under uvicorn on free ports; their base URLs (once both answer) and process ids."""
    ours, tipg = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANGGE_", "TIPG_"))}
    processes = {
        "ours": subprocess.Popen([sys.executable, __file__, "--serve-ours", url, str(ours), secret], env=env,
                                 stdout=subprocess.DEVNULL),
        "tipg": subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(tipg),
             "--log-level", "warning", "--no-access-log"],
            env={**env, "DATABASE_URL": make_url(url).set(drivername="postgresql").render_as_string(
                hide_password=False), "TIPG_DB_SCHEMAS": '["public"]',
                 "TIPG_DB_TABLES": '["public.building", "public.grid"]', "TIPG_MAX_FEATURES_PER_TILE": "100000"},
            stdout=subprocess.DEVNULL),
    }
    for process in processes.values():
        stack.callback(lambda p=process: (p.terminate(), p.wait(10)))
    bases = {"ours": f"http://127.0.0.1:{ours}", "tipg": f"http://127.0.0.1:{tipg}"}
    health = {"ours": "/health", "tipg": "/healthz"}
    deadline = time.monotonic() + 60
    for name, base in bases.items():
        while True:
            if processes[name].poll() is not None:
                raise SystemExit(f"{name} server exited with {processes[name].returncode}")
            try:
                if httpx.get(base + health[name], timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} server did not answer on {base} within 60 s")
            time.sleep(0.2)
    return bases, {name: process.pid for name, process in processes.items()}


def tile_url(server: str, layer: str, zxy: tuple[int, int, int]) -> tuple[str, dict[str, str]]:
    z, x, y = zxy
    if server == "ours":
        return f"/tiles/{layer}/{z}/{x}/{y}.mvt", {}
    collection, query = LAYERS[layer]
    return f"/collections/{collection}/tiles/WebMercatorQuad/{z}/{x}/{y}", query


# --- the load -----------------------------------------------------------------------------------


async def fire(base: str, requests: list[tuple[str, dict[str, str]]], *, headers: dict[str, str],
               concurrency: int) -> dict[str, Any]:
    """Send ``requests`` with ``concurrency`` in flight: each one's latency, the time all took, failures."""
    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[str] = []
    parsed = httpx.URL(base)
    targets = [str(httpx.URL(path, params=params)) for path, params in requests]
    queue = list(reversed(targets))
    connections = [Connection(parsed.host, parsed.port or 80, headers) for _ in range(concurrency)]

    async def worker(connection: Connection) -> None:
        while queue:
            target = queue.pop()
            start = time.perf_counter()
            status, _, data = await connection.request("GET", target)
            latencies.append(time.perf_counter() - start)
            if status not in (200, 204):
                failures.append(f"{target}: {status} {data[:200]!r}")
            sizes.append(len(data))

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        elapsed = time.perf_counter() - started
        for connection in connections:
            connection.close()
    return {"latencies": latencies, "elapsed": elapsed, "sizes": sizes, "failures": failures}


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests per second, p50/p95 and failures over one or more ``fire`` runs."""
    latencies = sorted(x for s in samples for x in s["latencies"])
    sizes = [x for s in samples for x in s["sizes"]]
    failures = [x for s in samples for x in s["failures"]]
    elapsed = sum(s["elapsed"] for s in samples)

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(p * (len(latencies) - 1))))] * 1000

    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": pct(0.50), "p95_ms": pct(0.95),
            "mean_bytes": sum(sizes) / max(1, len(sizes)), "failures": failures[:3], "failed": len(failures)}


def feature_counts(base: str, server: str, layer: str, zxy: tuple[int, int, int], headers: dict[str, str]) -> int:
    """Features in one tile (checks both servers draw the same things)."""
    import mapbox_vector_tile

    path, params = tile_url(server, layer, zxy)
    content = httpx.get(base + path, params=params, headers=headers, timeout=60).content
    return sum(len(v["features"]) for v in mapbox_vector_tile.decode(content).values()) if content else 0


def touch_district(engine: Engine, layer: str) -> int:
    """Bump the building counter as an edit would (a no-op UPDATE of one building); the layer's new version."""
    from gis.services.tiles import layer_version

    with transaction(engine) as session:
        session.execute(text("UPDATE building SET name = name WHERE id = "
                             "(SELECT min(id) FROM building WHERE district_code = :d)"), {"d": DISTRICT})
    with transaction(engine) as session:
        return layer_version(session, layer)


def await_version(base: str, layer: str, zxy: tuple[int, int, int], headers: dict[str, str], version: int) -> None:
    """Wait until our server answers for ``version`` (it hears of a change by LISTEN, a moment after the commit).

    A 304 for the new version's ETag comes either from memory holding the new version or from the
    route reading it: both mean no tile of the old version is served any more.
    """
    from gis.services.tiles import get_layer, tile_etag
    from gis.services.users import Principal

    etag = tile_etag(get_layer(layer), version, Principal(user_id=0, username="", role="viewer"))
    path, params = tile_url("ours", layer, zxy)
    for _ in range(1000):
        if httpx.get(base + path, params=params, headers={**headers, "If-None-Match": etag},
                     timeout=60).status_code == 304:
            return
        time.sleep(0.01)
    raise SystemExit(f"our server still answers {layer} with an older version than {version}")


Requests = list[tuple[str, dict[str, str]]]


def measure(bases: dict[str, str], pids: dict[str, int], auth: dict[str, dict[str, str]], order: tuple[str, str],
            rounds: list[dict[str, Requests]], *, concurrency: int,
            before_round: Callable[[], None] | None = None) -> dict[str, Any]:
    """Each round's requests fired at each server in ``order``; figures per server over all rounds."""
    samples: dict[str, list[dict[str, Any]]] = {s: [] for s in order}
    cpu = {s: 0.0 for s in order}
    for requests in rounds:
        if before_round is not None:
            before_round()
        for server in order:
            start = cpu_seconds(pids[server])
            samples[server].append(asyncio.run(fire(bases[server], requests[server], headers=auth[server],
                                                    concurrency=concurrency)))
            cpu[server] += cpu_seconds(pids[server]) - start
    figures = {s: summarize(samples[s]) for s in order}
    for server in order:
        figures[server]["server_cpu_ms"] = cpu[server] / figures[server]["requests"] * 1000
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(48)
    settings = Settings(secret_key=secret)
    url = bench_database(settings, url=args.url, reload=args.reload)
    token = bench_token(settings, url)
    zooms = [int(z) for z in args.zooms.split(",")]
    tiles = district_tiles(url, zooms)
    log("tiles per zoom: " + ", ".join(f"z{z}: {len(t)}" for z, t in tiles.items()))
    auth = {"ours": {"Authorization": f"Bearer {token}"}, "tipg": {}}
    results: dict[str, Any] = {"concurrency": args.concurrency, "rounds": args.rounds,
                               "cold_rounds": args.cold_rounds, "cases": []}
    engine = make_engine(url)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        bases, pids = start_servers(stack, url, secret)
        log("servers up; warming up (every tile once on each)")
        for server in ("ours", "tipg"):
            for layer in LAYERS:
                for z in zooms:
                    asyncio.run(fire(bases[server], [tile_url(server, layer, t) for t in tiles[z]],
                                     headers=auth[server], concurrency=args.concurrency))
        for layer in LAYERS:
            for z in zooms:
                middle = tiles[z][len(tiles[z]) // 2]
                case: dict[str, Any] = {"layer": layer, "z": z, "tiles": len(tiles[z]), "features_in_middle_tile": {
                    s: feature_counts(bases[s], s, layer, middle, auth[s]) for s in ("ours", "tipg")}}
                order = ("ours", "tipg") if (len(results["cases"]) % 2 == 0) else ("tipg", "ours")
                once = {s: [tile_url(s, layer, t) for t in tiles[z]] for s in order}

                def new_version(layer: str = layer, middle: tuple[int, int, int] = middle) -> None:
                    await_version(bases["ours"], layer, middle, auth["ours"], touch_district(engine, layer))

                case["cold"] = measure(bases, pids, auth, order, [once] * args.cold_rounds,
                                       concurrency=args.concurrency, before_round=new_version)
                for server in order:  # one pass, so that the repeats below are repeats
                    asyncio.run(fire(bases[server], once[server], headers=auth[server], concurrency=args.concurrency))
                case["warm"] = measure(bases, pids, auth, order, [{s: once[s] * args.rounds for s in order}],
                                       concurrency=args.concurrency)
                for phase in ("cold", "warm"):
                    figures = case[phase]
                    figures["rps_ratio"] = figures["ours"]["rps"] / figures["tipg"]["rps"]
                    figures["p95_ratio"] = figures["ours"]["p95_ms"] / figures["tipg"]["p95_ms"]
                results["cases"].append(case)
                log(f"{layer} z{z} done")
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"vector tiles, district {DISTRICT}: {results['concurrency']} in flight; cold: {results['cold_rounds']} "
          f"rounds of each zoom's tiles, each after an edit; warm: {results['rounds']} rounds of repeats")
    print(f"{'layer':<10}{'z':>3}{'tiles':>6} {'phase':<5}| {'ours rps':>9}{'p50':>7}{'p95':>7}{'cpu':>6} | "
          f"{'tipg rps':>9}{'p50':>7}{'p95':>7}{'cpu':>6} | {'rps ratio':>9}{'p95 ratio':>10} | features ours/tipg")
    for c in results["cases"]:
        f = c["features_in_middle_tile"]
        for phase in ("cold", "warm"):
            figures = c[phase]
            o, t = figures["ours"], figures["tipg"]
            print(f"{c['layer']:<10}{c['z']:>3}{c['tiles']:>6} {phase:<5}| {o['rps']:>9.1f}{o['p50_ms']:>7.1f}"
                  f"{o['p95_ms']:>7.1f}{o['server_cpu_ms']:>6.1f} | {t['rps']:>9.1f}{t['p50_ms']:>7.1f}"
                  f"{t['p95_ms']:>7.1f}{t['server_cpu_ms']:>6.1f} | {figures['rps_ratio']:>9.2f}"
                  f"{figures['p95_ratio']:>10.2f} | {f['ours']}/{f['tipg']}")
            for server in ("ours", "tipg"):
                if figures[server]["failed"]:
                    print(f"  {server}: {figures[server]['failed']} failed, e.g. {figures[server]['failures'][0]}")
    warm = [c["warm"] for c in results["cases"]]
    print(f"warm: rps ratio {min(w['rps_ratio'] for w in warm):.2f}–{max(w['rps_ratio'] for w in warm):.2f} "
          f"(target ≥ 2), our p95 {min(w['ours']['p95_ms'] for w in warm):.1f}–"
          f"{max(w['ours']['p95_ms'] for w in warm):.1f} ms (target < 50)")
    print("latencies in ms; cpu: the server process's CPU ms per request (database work not included);")
    print("ratios are ours / tipg (rps: higher is better; p95: lower is better); load average at the end: "
          + " ".join(f"{x:.1f}" for x in os.getloadavg()))


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-ours":
        serve_ours(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database holding district 320102 (default: the bench database)")
    parser.add_argument("--reload", action="store_true", help="recreate the bench database and load it again")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=20, help="passes over each zoom's tiles per case (warm)")
    parser.add_argument("--cold-rounds", type=int, default=5,
                        help="passes over each zoom's tiles per case, each after an edit (cold)")
    parser.add_argument("--zooms", default="14,15,16")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
