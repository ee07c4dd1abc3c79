"""Vector tile serving: our API against tipg, on the same database, the same tiles, the same load.

    .venv/bin/python bench/tiles.py [--url URL] [--concurrency 8] [--rounds 6] [--zooms 14,15,16] [--json]

The demo district (320102, Nanjing Xinjiekou: 1,278 buildings and its adopted grids) is read
from ``--url`` or, by default, from a bench database ``wangge_bench_tiles`` on the embedded
cluster, which is created and loaded the first time (import, boundaries, grid plans: a few
minutes) and kept for the next run (``--reload`` recreates it).

Both servers run under uvicorn (one worker each) in subprocesses on free ports:

* ``ours``: ``api.app.create_app`` with a signed-in viewer's bearer token on every request
  (auth, role check and layer-version read included): ``/tiles/{grids|buildings}/{z}/{x}/{y}.mvt``;
* ``tipg``: ``/collections/public.{grid|building}/tiles/WebMercatorQuad/{z}/{x}/{y}`` with the
  same attributes (``properties=``) and, for grids, ``filter=valid_to IS NULL`` (current grids).
  tipg draws grids without household counts, which ours computes per tile.

After one warm-up pass over every tile on each server, each case (layer × zoom) fires the
list of tiles covering the district ``--rounds`` times at each server with ``--concurrency``
requests in flight, servers alternating, and prints requests per second and p50/p95 latency
for both and the ratios. Figures are printed, never asserted (target: at least tipg's
throughput, p95 under 50 ms for a z15 building tile).
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
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

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
    """Send ``requests`` with ``concurrency`` in flight; latency of each, throughput of all."""
    latencies: list[float] = []
    sizes: list[int] = []
    failures: list[str] = []
    queue = list(reversed(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while queue:
                path, params = queue.pop()
                start = time.perf_counter()
                response = await client.get(path, params=params)
                latencies.append(time.perf_counter() - start)
                if response.status_code not in (200, 204):
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                sizes.append(len(response.content))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

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


def run(args: argparse.Namespace) -> dict[str, Any]:
    secret = secrets.token_urlsafe(48)
    settings = Settings(secret_key=secret)
    url = bench_database(settings, url=args.url, reload=args.reload)
    token = bench_token(settings, url)
    zooms = [int(z) for z in args.zooms.split(",")]
    tiles = district_tiles(url, zooms)
    log("tiles per zoom: " + ", ".join(f"z{z}: {len(t)}" for z, t in tiles.items()))
    auth = {"ours": {"Authorization": f"Bearer {token}"}, "tipg": {}}
    results: dict[str, Any] = {"concurrency": args.concurrency, "rounds": args.rounds, "cases": []}
    with ExitStack() as stack:
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
                for server in order:
                    requests = [tile_url(server, layer, t) for t in tiles[z]] * args.rounds
                    cpu = cpu_seconds(pids[server])
                    case[server] = asyncio.run(fire(bases[server], requests, headers=auth[server],
                                                    concurrency=args.concurrency))
                    case[server]["server_cpu_ms"] = (cpu_seconds(pids[server]) - cpu) / len(requests) * 1000
                case["rps_ratio"] = case["ours"]["rps"] / case["tipg"]["rps"]
                case["p95_ratio"] = case["ours"]["p95_ms"] / case["tipg"]["p95_ms"]
                results["cases"].append(case)
                log(f"{layer} z{z} done")
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"vector tiles, district {DISTRICT}: {results['concurrency']} in flight, "
          f"{results['rounds']} rounds over each zoom's tiles")
    print(f"{'layer':<10}{'z':>3}{'tiles':>6} | {'ours rps':>9}{'p50':>7}{'p95':>7}{'cpu':>6} | {'tipg rps':>9}"
          f"{'p50':>7}{'p95':>7}{'cpu':>6} | {'rps ratio':>9}{'p95 ratio':>10} | features ours/tipg")
    for c in results["cases"]:
        o, t = c["ours"], c["tipg"]
        f = c["features_in_middle_tile"]
        print(f"{c['layer']:<10}{c['z']:>3}{c['tiles']:>6} | {o['rps']:>9.1f}{o['p50_ms']:>7.1f}{o['p95_ms']:>7.1f}"
              f"{o['server_cpu_ms']:>6.1f} | {t['rps']:>9.1f}{t['p50_ms']:>7.1f}{t['p95_ms']:>7.1f}"
              f"{t['server_cpu_ms']:>6.1f} | {c['rps_ratio']:>9.2f}{c['p95_ratio']:>10.2f} | {f['ours']}/{f['tipg']}")
        for server in ("ours", "tipg"):
            if c[server]["failed"]:
                print(f"  {server}: {c[server]['failed']} failed, e.g. {c[server]['failures'][0]}")
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
    parser.add_argument("--rounds", type=int, default=6, help="passes over each zoom's tiles per case")
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
