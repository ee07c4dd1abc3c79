"""Load: ``wangge serve`` under many concurrent clients, then a check that no accepted write was lost.

    .venv/bin/python bench/load.py [--clients 200] [--seconds 60] [--think-time 1] [--workers 2] [--seed 1]
                                   [--url URL] [--json]
    .venv/bin/python bench/load.py --think-time 0 --workers 1,2   # throughput of 2 processes against 1

The demo district (320102, Nanjing Xinjiekou) with its adopted grids and the demo accounts is read
from ``--url`` or, by default, from a bench database ``wangge_bench_load`` on the embedded cluster,
created and loaded the first time (a few minutes) and kept for the next run (``--reload``
recreates it). Each run (each worker count) works on a copy of it (``CREATE DATABASE ... TEMPLATE``),
dropped afterwards, so every run starts from the demo's own cases: a run files about 1,500 cases at
the same dozen buildings, and kept, they made each report's duplicate check read thousands more
and the next run's figures incomparable (case logs are append-only, so they cannot be deleted).
``--url`` runs on that database itself. ``wangge serve --workers N`` runs in a subprocess on a free loopback port with a
fresh secret key; ``--workers 1,2`` runs the same load against one process, then two, and prints
the ratio of their throughputs.

``--clients`` asyncio clients, each on its own keep-alive connection (``bench/httpclient.py``, on
uvloop), loop for ``--seconds``, each with its own seeded random stream, waiting ``--think-time``
seconds between two of its requests (a person reading the answer; 0 hammers the server), over a
mix of the requests below. The clients share the machine with the server, which real people's
phones do not, so they must cost it as little CPU as they can: 0.2–0.3 ms a request here, where
one httpx.AsyncClient spent 8.6–10 ms (the server 6–11 ms).

The mix:

* vector tiles (``/tiles/{buildings|grids}/{z}/{x}/{y}.mvt``, z14–16 over the district), and GeoJSON
  lists (``/grids?community_code=``, ``/buildings?bbox=``), as demo_viewer or demo_planner;
* incident reports (``POST /incidents`` at a building's point in demo_worker's grid, as demo_worker),
  each with a description token unique to the run and the request;
* case transitions (``POST /incidents/{id}/actions`` with ``If-Match``) along the loop register →
  dispatch → accept → feedback → verify → close, demo_leader running the case and demo_worker
  handling it. Clients share the cases, so two may act on one case at once: the loser's 409 is an
  expected conflict (counted apart), after which it reloads the case (``GET /incidents/{id}``).

It prints per endpoint: requests, throughput, p50/p95/p99 latency and errors by status, and every
transport error by kind with its first message and cause (a request that got no HTTP answer; one
on a reused connection that the server closed before reading it is sent once more, and counted
apart). Then it checks the database: the incidents carrying the run's token are exactly the 201s, each with the
description, category, reporter and grid it was accepted with; every accepted transition has its
event row (same id, case, action and status), no other event was written, and each case's version
and status are what the accepted transitions left. Exit status 1 when an accepted write is missing
or differs (or unacknowledged writes appear with no transport error to explain them); figures are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from sqlalchemy import text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.httpclient import Connection, Response, TransportError  # noqa: E402 - after the sys.path line above
from gis.db.engine import make_engine  # noqa: E402
from gis.settings import Settings  # noqa: E402

DISTRICT = "320102"
BENCH_DB = "wangge_bench_load"
ZOOMS = (14, 15, 16)
CATEGORIES = ("E0101", "E0103", "E0201", "E0302")
# Share of each kind of request; a transition falls back to a report while no case is open.
MIX = (("tile", 40), ("grids", 10), ("buildings", 15), ("report", 15), ("transition", 20))
# The next step of a case from each status, and who takes it (the leader runs the case, the worker handles it).
NEXT_STEP = {"reported": ("register", "leader"), "registered": ("dispatch", "leader"),
             "dispatched": ("accept", "worker"), "handling": ("feedback", "worker"),
             "feedback": ("verify", "leader"), "verification": ("close", "leader")}
CONFLICT = "409 (expected conflict)"
# Settings passed on from this command's environment to wangge serve (every other WANGGE_ one is not).
SERVER_SETTINGS = ("WANGGE_DB_POOL_SIZE", "WANGGE_DB_MAX_OVERFLOW", "WANGGE_DB_POOL_TIMEOUT_SECONDS",
                   "WANGGE_JOB_WORKERS")


def log(message: str) -> None:
    print(f"· {message}", file=sys.stderr, flush=True)


# --- the database -------------------------------------------------------------------------------


def bench_database(settings: Settings, *, url: str | None, reload: bool) -> str:
    """The URL of a database holding the demo district with its grids and the demo accounts, loading it when missing."""
    from gis.services.demo import demo_database

    return demo_database(settings, name=BENCH_DB, url=url, reload=reload, with_users=True, log=log)


@dataclass
class Targets:
    """What the clients aim at: tiles, communities, the district's extent and building points in the worker's grid."""

    tiles: list[tuple[int, int, int]]
    communities: list[str]
    extent: tuple[float, float, float, float]
    points: list[tuple[int, float, float]]  # building id, lon, lat


def targets(url: str, grid_code: str) -> Targets:
    """Tiles over the district's buildings at each zoom, its communities, and building points in ``grid_code``."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            extent = tuple(conn.execute(text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_Extent(geom) AS e FROM building WHERE district_code = :d) s"), {"d": DISTRICT}).one())
            communities = list(conn.scalars(text(
                "SELECT code FROM community WHERE district_code = :d AND valid_to IS NULL ORDER BY code"),
                {"d": DISTRICT}))
            # Points well inside the grid, so that routing (which settles points near an edge) keeps them there.
            points = [tuple(r) for r in conn.execute(text("""
                SELECT b.id, ST_X(p.pt), ST_Y(p.pt) FROM building b
                JOIN grid g ON g.code = :g AND g.valid_to IS NULL
                CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.geom) AS pt) p
                WHERE ST_Contains(g.geom, p.pt)
                  AND ST_Distance(ST_Boundary(g.geom)::geography, p.pt::geography) > 20
                ORDER BY b.id"""), {"g": grid_code})]
    finally:
        engine.dispose()
    west, south, east, north = extent

    def tile(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 1 << z
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    tiles = []
    for z in ZOOMS:
        x0, y0 = tile(west, north, z)
        x1, y1 = tile(east, south, z)
        tiles += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    if not points:
        raise SystemExit(f"no building lies well inside demo_worker's grid {grid_code}")
    return Targets(tiles=tiles, communities=communities, extent=extent, points=points)


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(stack: ExitStack, url: str, secret: str, server_log: Any, *, workers: int = 1) -> tuple[str, int]:
    """``wangge serve --workers N`` on a free loopback port, its log into ``server_log``; its base URL and pid."""
    port = free_port()
    # The server's own settings only; the pool and job sizes may be tried from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_") or k in SERVER_SETTINGS}
    # The clients sign in as the demo accounts, which only demo mode accepts.
    env.update(WANGGE_DATABASE_URL=url, WANGGE_SECRET_KEY=secret, WANGGE_DEMO_MODE="true")
    process = subprocess.Popen([str(Path(sys.executable).parent / "wangge"), "serve", "--host", "127.0.0.1",
                                "--port", str(port), "--workers", str(workers)], env=env, cwd=tempfile.gettempdir(),
                               stdout=subprocess.DEVNULL, stderr=server_log)
    stack.callback(lambda: (process.terminate(), process.wait(60)))
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # a busy machine: each worker process imports the whole app
    while True:
        if process.poll() is not None:
            server_log.seek(0)
            raise SystemExit(f"wangge serve exited with {process.returncode}:\n"
                             + server_log.read().decode(errors="replace")[-3000:])
        try:
            server_log.seek(0)
            # Every worker process ready, not just the first: the load is meant for all of them.
            ready = server_log.read().decode(errors="replace").count("Application startup complete") >= workers
            if ready and httpx.get(base + "/health", timeout=2).status_code == 200:
                return base, process.pid
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"wangge serve did not answer on {base} within 300 s")
        time.sleep(0.2)


def sign_in(base: str, username: str) -> tuple[dict[str, str], dict[str, Any]]:
    """A demo user's auth header and who they are (``GET /auth/me``)."""
    from gis.services.demo import DEMO_PASSWORD

    response = httpx.post(base + "/auth/token", data={"username": username, "password": DEMO_PASSWORD}, timeout=30)
    response.raise_for_status()
    # Staff reading a case (its description may name residents) say why, as the web app does.
    headers = {"Authorization": f"Bearer {response.json()['access_token']}",
               "X-Access-Reason": quote("负载测试 load benchmark")}
    me = httpx.get(base + "/auth/me", headers=headers, timeout=30)
    me.raise_for_status()
    return headers, me.json()


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Case:
    """What the clients know of a case: its version and status as last seen."""

    version: int
    status: str


@dataclass
class Run:
    """Everything the clients measured and every write the server accepted."""

    token: str
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, Counter] = field(default_factory=dict)
    # incident id -> what the 201 said: description, category, reporter, grid, version
    created: dict[int, dict[str, Any]] = field(default_factory=dict)
    # event id -> (incident id, action, to_status, incident version after)
    transitions: dict[int, tuple[int, str, str, int]] = field(default_factory=dict)
    cases: dict[int, Case] = field(default_factory=dict)
    # The cases with a next step, kept as they change (not searched for before every request).
    open_cases: list[int] = field(default_factory=list)
    open_at: dict[int, int] = field(default_factory=dict)
    # Requests that got no HTTP answer: kind (exception class) -> count, and the first of each kind
    # with its request, message and underlying cause (what the investigation starts from).
    transport: Counter = field(default_factory=Counter)
    transport_first: dict[str, str] = field(default_factory=dict)
    # Requests sent a second time because the server had closed the reused connection unread.
    resent: int = 0

    def failed(self, endpoint: str, method: str, path: str, error: TransportError, seconds: float) -> None:
        kind = error.kind
        self.note(endpoint, kind, seconds)
        self.transport[kind] += 1
        if kind not in self.transport_first:
            cause = error.__cause__ or error.__context__
            self.transport_first[kind] = (f"{method} {path} after {seconds * 1000:.0f} ms: {error!s} "
                                          f"(cause: {cause!r})")

    def note(self, endpoint: str, status: int | str, seconds: float) -> None:
        self.latencies.setdefault(endpoint, []).append(seconds)
        self.statuses.setdefault(endpoint, Counter())[status] += 1

    def seen(self, incident_id: int, record: dict[str, Any]) -> None:
        """Keep the newest state of a case (answers may arrive out of order)."""
        case = self.cases.get(incident_id)
        if case is None or record["version"] > case.version:
            self.cases[incident_id] = Case(version=record["version"], status=record["status"])
            is_open = record["status"] in NEXT_STEP
            if is_open and incident_id not in self.open_at:
                self.open_at[incident_id] = len(self.open_cases)
                self.open_cases.append(incident_id)
            elif not is_open and incident_id in self.open_at:  # the last one takes its place
                at, last = self.open_at.pop(incident_id), self.open_cases.pop()
                if last != incident_id:
                    self.open_cases[at], self.open_at[last] = last, at


async def client_loop(number: int, connection: Connection, run: Run, *, seed: int, stop_at: float,
                      users: dict[str, tuple[dict[str, str], dict[str, Any]]], where: Targets,
                      think_time: float = 0.0) -> None:
    """One simulated client: a seeded random walk over the mix until ``stop_at``, ``think_time`` s between steps."""
    rng = random.Random(seed * 100_003 + number)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    worker_id, leader_grids = users["worker"][1]["id"], set(users["leader"][1]["grids"])
    sent = 0

    async def call(endpoint: str, method: str, path: str, user: str, *, params: dict[str, str] | None = None,
                   body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response | None:
        target = f"{path}?{urlencode(params)}" if params else path
        sent_headers = users[user][0] if body is None else {**users[user][0], "Content-Type": "application/json"}
        if headers:
            sent_headers = {**sent_headers, **headers}
        payload = None if body is None else json.dumps(body).encode()
        started = time.perf_counter()
        try:
            response = await connection.request(method, target, sent_headers, payload)
        except TransportError as error:
            run.failed(endpoint, method, target, error, time.perf_counter() - started)
            return None
        status: int | str = response.status
        if status == 409 and endpoint.endswith("/actions"):
            status = CONFLICT
        run.note(endpoint, status, time.perf_counter() - started)
        return response

    if think_time > 0:  # clients start spread over one think time, not all in the same instant
        await asyncio.sleep(rng.uniform(0, think_time))
    first = True
    while time.monotonic() < stop_at:
        if think_time > 0 and not first:
            await asyncio.sleep(think_time)
            if time.monotonic() >= stop_at:
                break
        first = False
        kind = rng.choices(kinds, weights)[0]
        reader = rng.choice(("viewer", "planner"))
        if kind == "transition" and not run.open_cases:
            kind = "report"
        if kind == "tile":
            layer = rng.choice(("buildings", "grids"))
            z, x, y = rng.choice(where.tiles)
            await call(f"GET /tiles/{layer}", "GET", f"/tiles/{layer}/{z}/{x}/{y}.mvt", reader)
        elif kind == "grids":
            await call("GET /grids?community_code", "GET", "/grids", reader,
                       params={"community_code": rng.choice(where.communities)})
        elif kind == "buildings":
            west, south, east, north = where.extent
            size = 0.004  # about 400 m × 450 m: a few dozen buildings
            lon, lat = rng.uniform(west, east - size), rng.uniform(south, north - size)
            await call("GET /buildings?bbox", "GET", "/buildings", reader,
                       params={"bbox": f"{lon:.6f},{lat:.6f},{lon + size:.6f},{lat + size:.6f}"})
        elif kind == "report":
            sent += 1
            building, lon, lat = rng.choice(where.points)
            description = f"bench-load {run.token} client {number} report {sent}: building {building}"
            category = rng.choice(CATEGORIES)
            response = await call("POST /incidents", "POST", "/incidents", "worker", body={
                "point": [lon, lat], "category_code": category, "description": description, "source": "patrol"})
            if response is not None and response.status == 201:
                answer = response.json()
                incident = answer["incident"]
                run.created[incident["id"]] = {"description": description, "category_code": category,
                                               "reported_by": worker_id, "grid_code": answer["routing"]["grid_code"],
                                               "version": incident["version"]}
                if incident["grid_code"] in leader_grids:
                    run.seen(incident["id"], incident)
        else:
            incident_id = rng.choice(run.open_cases)
            case = run.cases[incident_id]
            action, actor = NEXT_STEP[case.status]
            body: dict[str, Any] = {"action": action, "note": f"bench-load {run.token}"}
            if action == "dispatch":
                body["handler_id"] = worker_id
            response = await call("POST /incidents/{id}/actions", "POST", f"/incidents/{incident_id}/actions",
                                  actor, body=body, headers={"If-Match": f'"{case.version}"'})
            if response is None:
                continue
            if response.status == 200:
                answer = response.json()
                event = answer["event"]
                run.transitions[event["id"]] = (incident_id, event["action"], event["to_status"],
                                                answer["incident"]["version"])
                run.seen(incident_id, answer["incident"])
            elif response.status == 409:  # someone else moved it first: reload, as a real client would
                fresh = await call("GET /incidents/{id}", "GET", f"/incidents/{incident_id}", "leader")
                if fresh is not None and fresh.status == 200:
                    run.seen(incident_id, fresh.json())


async def load(base: str, run: Run, *, clients: int, seconds: float, seed: int,
               users: dict[str, tuple[dict[str, str], dict[str, Any]]], where: Targets,
               think_time: float = 0.0) -> float:
    """Run the clients for ``seconds``, one connection each; the elapsed time."""
    parts = urlsplit(base)
    assert parts.hostname is not None and parts.port is not None
    # A generous timeout: a request that times out may still commit, which would blur the write check.
    connections = [Connection(parts.hostname, parts.port, timeout=300) for _ in range(clients)]
    try:
        started = time.monotonic()
        await asyncio.gather(*(client_loop(n, connection, run, seed=seed, stop_at=started + seconds, users=users,
                                           where=where, think_time=think_time)
                               for n, connection in enumerate(connections)))
        return time.monotonic() - started
    finally:
        run.resent = sum(c.resent for c in connections)
        for connection in connections:
            connection.close()


# --- the write check ----------------------------------------------------------------------------


def check_writes(url: str, run: Run) -> dict[str, Any]:
    """Compare what the server accepted with what the database holds; the problems found."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(text("""
                SELECT id, description, category_code, reported_by, grid_code, version, status FROM incident
                WHERE description LIKE :token"""), {"token": f"bench-load {run.token} %"})}
            ids = sorted(set(rows) | set(run.created))
            events = {r.id: r for r in conn.execute(text("""
                SELECT id, incident_id, action, to_status FROM incident_event WHERE incident_id = ANY(:ids)"""),
                {"ids": ids})}
    finally:
        engine.dispose()
    transport_errors = {endpoint: sum(n for status, n in counts.items() if isinstance(status, str)
                                      and status != CONFLICT) for endpoint, counts in run.statuses.items()}
    problems: list[str] = []
    missing = [i for i in run.created if i not in rows]
    problems += [f"incident {i} was accepted (201) but is not in the database" for i in missing]
    for incident_id, sent in run.created.items():
        row = rows.get(incident_id)
        if row is None:
            continue
        for key in ("description", "category_code", "reported_by", "grid_code"):
            if getattr(row, key) != sent[key]:
                problems.append(f"incident {incident_id}: {key} is {getattr(row, key)!r}, accepted {sent[key]!r}")
    unacknowledged = sorted(set(rows) - set(run.created))
    if unacknowledged and not transport_errors.get("POST /incidents"):
        problems.append(f"{len(unacknowledged)} incidents carry the run's token but were never acknowledged: "
                        f"{unacknowledged[:5]}")
    reports = Counter(e.incident_id for e in events.values() if e.action == "report")
    problems += [f"incident {i} has {reports[i]} report events, expected 1" for i in run.created if reports[i] != 1]
    for event_id, (incident_id, action, to_status, _) in run.transitions.items():
        event = events.get(event_id)
        if event is None:
            problems.append(f"event {event_id} ({action} on incident {incident_id}) was accepted but is missing")
        elif (event.incident_id, event.action, event.to_status) != (incident_id, action, to_status):
            problems.append(f"event {event_id}: is {event.action} → {event.to_status} on incident "
                            f"{event.incident_id}, accepted {action} → {to_status} on incident {incident_id}")
    stray = [e for e in events.values() if e.action != "report" and e.id not in run.transitions]
    if stray and not transport_errors.get("POST /incidents/{id}/actions"):
        problems.append(f"{len(stray)} events were written for requests that were not accepted: "
                        f"{[e.id for e in stray[:5]]}")
    if not any(transport_errors.values()):
        # Each accepted transition raised the version by one, and the last one set the status.
        accepted = Counter(t[0] for t in run.transitions.values())
        last = {}
        for incident_id, _, to_status, version in run.transitions.values():
            if version > last.get(incident_id, (0, ""))[0]:
                last[incident_id] = (version, to_status)
        for incident_id, sent in run.created.items():
            row = rows.get(incident_id)
            if row is None:
                continue
            if row.version != sent["version"] + accepted[incident_id]:
                problems.append(f"incident {incident_id}: version {row.version}, expected {sent['version']} + "
                                f"{accepted[incident_id]} accepted transitions")
            if incident_id in last and row.status != last[incident_id][1]:
                problems.append(f"incident {incident_id}: status {row.status!r}, the last accepted transition "
                                f"left {last[incident_id][1]!r}")
    return {"incidents_accepted": len(run.created), "incidents_in_database": len(rows),
            "unacknowledged_incidents": len(unacknowledged), "transitions_accepted": len(run.transitions),
            "transition_events_in_database": sum(1 for e in events.values() if e.action != "report"),
            "problems": problems}


# --- the report ---------------------------------------------------------------------------------


def percentiles(ordered: list[float]) -> dict[float, float]:
    """p50, p95 and p99 of sorted latencies in seconds, in milliseconds (nearest rank)."""
    return {p: ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))] * 1000 for p in (0.50, 0.95, 0.99)}


def summary(run: Run, elapsed: float) -> list[dict[str, Any]]:
    """Per endpoint: requests, throughput, p50/p95/p99 in ms, and the count of each non-2xx outcome."""
    rows = []
    for endpoint in sorted(run.latencies):
        latencies = sorted(run.latencies[endpoint])
        pct = percentiles(latencies)
        errors = {str(status): n for status, n in sorted(run.statuses[endpoint].items(), key=lambda kv: str(kv[0]))
                  if not (isinstance(status, int) and 200 <= status < 300)}
        rows.append({"endpoint": endpoint, "requests": len(latencies), "rps": len(latencies) / elapsed,
                     "p50_ms": pct[0.50], "p95_ms": pct[0.95], "p99_ms": pct[0.99], "errors": errors})
    return rows


def overall(run: Run, elapsed: float) -> dict[str, Any]:
    """Every request together: count, throughput, p50/p95/p99, non-2xx answers (but conflicts), transport errors."""
    latencies = sorted(x for values in run.latencies.values() for x in values)
    pct = percentiles(latencies) if latencies else {0.50: 0.0, 0.95: 0.0, 0.99: 0.0}
    statuses: Counter = Counter()
    for counts in run.statuses.values():
        statuses.update(counts)
    refused = sum(n for status, n in statuses.items() if isinstance(status, int) and not 200 <= status < 300)
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": pct[0.50], "p95_ms": pct[0.95],
            "p99_ms": pct[0.99], "error_answers": refused, "conflicts": statuses.get(CONFLICT, 0),
            "transport_errors": sum(run.transport.values())}


def print_report(results: dict[str, Any]) -> None:
    workers = results["workers"]
    print(f"load, district {DISTRICT}: {results['clients']} clients for {results['elapsed_s']:.1f} s, think time "
          f"{results['think_time']:g} s, against wangge serve --workers {workers} "
          f"({'one process' if workers == 1 else f'{workers} processes'}), seed {results['seed']}")
    print(f"{'endpoint':<32}{'requests':>9}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}  errors")
    for row in results["endpoints"]:
        errors = ", ".join(f"{status}: {n}" for status, n in row["errors"].items()) or "-"
        print(f"{row['endpoint']:<32}{row['requests']:>9}{row['rps']:>8.1f}{row['p50_ms']:>8.0f}"
              f"{row['p95_ms']:>8.0f}{row['p99_ms']:>8.0f}  {errors}")
    everything = results["overall"]
    print(f"{'all':<32}{everything['requests']:>9}{everything['rps']:>8.1f}{everything['p50_ms']:>8.0f}"
          f"{everything['p95_ms']:>8.0f}{everything['p99_ms']:>8.0f}  {everything['error_answers']} error answers "
          f"(besides {everything['conflicts']} expected conflicts), {everything['transport_errors']} transport errors")
    if results["transport"]:
        print("transport errors (no HTTP answer) by kind, with the first of each:")
        for kind, n in results["transport"].items():
            print(f"  {kind}: {n}  first: {results['transport_first'][kind]}")
    if results["resent"]:
        print(f"{results['resent']} requests sent again on a new connection: the server had closed the reused one "
              "before reading them (bench/httpclient.py says when a request is sent again)")
    check = results["writes"]
    print(f"writes: {check['incidents_accepted']} incidents accepted, {check['incidents_in_database']} in the "
          f"database ({check['unacknowledged_incidents']} unacknowledged); {check['transitions_accepted']} "
          f"transitions accepted, {check['transition_events_in_database']} transition events in the database")
    if check["problems"]:
        print(f"LOST OR ALTERED WRITES ({len(check['problems'])}):")
        for problem in check["problems"][:20]:
            print(f"  {problem}")
    else:
        print("every accepted write is in the database, as accepted")
    if results["server_errors"]:
        print(f"server log: {len(results['server_errors'])} error lines, the last: {results['server_errors'][-1]}")
    requests = max(1, everything["requests"])
    print(f"CPU per request: server processes {results['cpu']['server_s'] / requests * 1000:.1f} ms, these clients "
          f"{results['cpu']['clients_s'] / requests * 1000:.1f} ms (PostgreSQL apart): what the figures above cost "
          "whatever else the machine is doing")
    print("latencies in ms (client side, queueing included); load average at the end: "
          + " ".join(f"{x:.1f}" for x in results["loadavg"]))


def run_loop(main: Any) -> Any:
    """Run the clients on uvloop where it is installed (less CPU a request than asyncio's own loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the server process and its worker processes."""
    import psutil

    root = psutil.Process(pid)
    return cpu_seconds([root, *root.children(recursive=True)])


def cpu_seconds(processes: Iterable[Any]) -> float:
    """CPU seconds (user + system) used so far by ``processes`` (psutil), those that have exited left out."""
    import psutil

    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def run_once(args: argparse.Namespace, url: str, secret: str, workers: int) -> dict[str, Any]:
    """One server with ``workers`` processes under the load; its figures and the write check."""
    with ExitStack() as stack:
        server_log = stack.enter_context(open(f"{args.server_log}.{workers}", "w+b") if args.server_log  # noqa: SIM115
                                         else tempfile.TemporaryFile())  # noqa: SIM115
        base, pid = start_server(stack, url, secret, server_log, workers=workers)
        users = {role: sign_in(base, f"demo_{role}") for role in ("viewer", "planner", "worker", "leader")}
        grids = users["worker"][1]["grids"]
        if not grids:
            raise SystemExit("demo_worker has no grid: the demo grid plans were not adopted before the accounts")
        where = targets(url, grids[0])
        log(f"wangge serve --workers {workers} at {base}; {len(where.tiles)} tiles, {len(where.communities)} "
            f"communities, {len(where.points)} building points in grid {grids[0]}; {args.clients} clients for "
            f"{args.seconds} s, think time {args.think_time:g} s")
        current = Run(token=secrets.token_hex(4))
        cpu_before, own_before = server_cpu(pid), time.process_time()
        elapsed = run_loop(load(base, current, clients=args.clients, seconds=args.seconds, seed=args.seed,
                                users=users, where=where, think_time=args.think_time))
        loadavg = os.getloadavg()
        cpu = {"server_s": server_cpu(pid) - cpu_before, "clients_s": time.process_time() - own_before}
        server_log.seek(0)
        server_errors = [line for line in server_log.read().decode(errors="replace").splitlines()
                         if "Error" in line or "Exception" in line]
    return {"clients": args.clients, "seconds": args.seconds, "think_time": args.think_time, "workers": workers,
            "elapsed_s": elapsed, "seed": args.seed, "token": current.token, "endpoints": summary(current, elapsed),
            "overall": overall(current, elapsed), "transport": dict(current.transport),
            "transport_first": current.transport_first, "resent": current.resent, "writes": check_writes(url, current),
            "server_errors": server_errors, "loadavg": loadavg, "cpu": cpu}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    url = bench_database(Settings(secret_key=secret), url=args.url, reload=args.reload)
    if args.url:
        return [run_once(args, url, secret, workers) for workers in args.workers]
    results = []
    for workers in args.workers:
        with copy_of(url) as copy:
            results.append(run_once(args, copy, secret, workers))
    return results


@contextmanager
def copy_of(url: str) -> Iterator[str]:
    """A copy of the database at ``url`` on the same server (``CREATE DATABASE ... TEMPLATE``), dropped afterwards."""
    from sqlalchemy.engine import make_url

    from gis.db.engine import drop_database

    source = make_url(url)
    copy = source.set(database=f"{source.database}_run_{secrets.token_hex(4)}").render_as_string(hide_password=False)
    admin = make_engine(source.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{make_url(copy).database}" TEMPLATE "{source.database}"'))
    finally:
        admin.dispose()
    try:
        yield copy
    finally:
        drop_database(copy)


def worker_counts(value: str) -> list[int]:
    try:
        counts = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        counts = []
    if not counts or any(n < 1 for n in counts):
        raise argparse.ArgumentTypeError(f"--workers: give process counts of 1 or more, like 2 or 1,2; got {value!r}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="database holding district 320102 (default: the bench database)")
    parser.add_argument("--reload", action="store_true", help="recreate the bench database and load it again")
    parser.add_argument("--clients", type=int, default=200, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=60, help="how long the clients keep going")
    parser.add_argument("--think-time", type=float, default=0.0,
                        help="seconds each client waits between two of its requests (0: none)")
    parser.add_argument("--workers", type=worker_counts, default=[1],
                        help="server processes (wangge serve --workers N); a list like 1,2 runs the load against "
                             "each in turn and prints the throughput ratio")
    parser.add_argument("--seed", type=int, default=1, help="seed of the clients' random choices")
    parser.add_argument("--server-log", help="keep wangge serve's log in this file (.N appended per worker count)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.think_time < 0:
        parser.error("--think-time: seconds, 0 or more")
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for i, result in enumerate(results):
            if i:
                print()
            print_report(result)
        if len(results) > 1:
            base = results[0]
            print()
            for other in results[1:]:
                ratio = other["overall"]["rps"] / base["overall"]["rps"] if base["overall"]["rps"] else float("nan")
                print(f"throughput: {other['workers']} processes {other['overall']['rps']:.1f} req/s against "
                      f"{base['workers']} {base['overall']['rps']:.1f} req/s in the same run: {ratio:.2f}×")
    sys.exit(1 if any(r["writes"]["problems"] for r in results) else 0)


if __name__ == "__main__":
    main()
