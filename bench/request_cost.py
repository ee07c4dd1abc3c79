"""Request cost: the server's and PostgreSQL's CPU per request, endpoint by endpoint, one request at a time.

    .venv/bin/python bench/request_cost.py [--requests 150] [--only report,transition] [--json]

Where ``bench/load.py`` says how the server holds up under 200 people, this says what each kind of
request costs, so that a change to one route can be measured on its own. It starts
``wangge serve --workers 1`` on a copy of the load bench's database (``bench/load.py``'s
``wangge_bench_load``, loaded the first time) and sends ``--requests`` requests of each kind of the
load mix one after another, after a few unmeasured ones: a vector tile repeat of each layer, a
``/grids`` and a ``/buildings`` list, an incident report, a case read, and a case step along the loop.
For each it prints the CPU the server process and all PostgreSQL processes spent per request
(``psutil``, 10 ms clock ticks, hence the many requests) and the wall time per request as the
client saw it. Nothing else should run meanwhile: PostgreSQL's CPU is that of the whole cluster.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import (  # noqa: E402 - after the sys.path line above
    NEXT_STEP,
    bench_database,
    copy_of,
    cpu_seconds,
    log,
    server_cpu,
    sign_in,
    start_server,
    targets,
)
from gis.settings import Settings  # noqa: E402

KINDS = ("tiles/buildings", "tiles/grids", "grids", "buildings", "report", "case read", "case step")
WARM_UP = 10


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process of this machine."""
    return cpu_seconds(p for p in psutil.process_iter(["name"]) if (p.info["name"] or "").startswith("postgres"))


Request = tuple[str, str, dict[str, Any], str]  # method, path, httpx keyword arguments, who sends it


class Mix:
    """The requests of each kind, drawn from a seeded stream; cases filed here are walked along the loop."""

    def __init__(self, where: Any, users: dict[str, tuple[dict[str, str], dict[str, Any]]]) -> None:
        self.where, self.users = where, users
        self.rng = random.Random(1)
        self.cases: dict[int, tuple[str, int]] = {}  # id -> (status, version)
        self.turn = 0

    def make(self, kind: str) -> Request:
        rng, where = self.rng, self.where
        if kind.startswith("tiles/"):
            z, x, y = rng.choice(where.tiles)
            return "GET", f"/{kind}/{z}/{x}/{y}.mvt", {}, "viewer"
        if kind == "grids":
            return "GET", "/grids", {"params": {"community_code": rng.choice(where.communities)}}, "viewer"
        if kind == "buildings":
            west, south, east, north = where.extent
            size = 0.004
            lon, lat = rng.uniform(west, east - size), rng.uniform(south, north - size)
            bbox = f"{lon:.6f},{lat:.6f},{lon + size:.6f},{lat + size:.6f}"
            return "GET", "/buildings", {"params": {"bbox": bbox}}, "viewer"
        if kind == "report":
            _, lon, lat = rng.choice(where.points)
            return "POST", "/incidents", {"json": {"point": [lon, lat], "category_code": "E0101",
                                                   "description": "bench request_cost", "source": "patrol"}}, "worker"
        if kind == "case read":
            return "GET", f"/incidents/{rng.choice(list(self.cases))}", {}, "leader"
        open_cases = [i for i, (status, _) in self.cases.items() if status in NEXT_STEP]
        if not open_cases:
            raise SystemExit("no open case left to step: file more reports first (--requests)")
        case_id = open_cases[self.turn % len(open_cases)]
        self.turn += 1
        status, version = self.cases[case_id]
        action, actor = NEXT_STEP[status]
        body: dict[str, Any] = {"action": action, "note": "bench request_cost"}
        if action == "dispatch":
            body["handler_id"] = self.users["worker"][1]["id"]
        return "POST", f"/incidents/{case_id}/actions", {"json": body, "headers": {"If-Match": f'"{version}"'}}, actor

    def seen(self, kind: str, answer: dict[str, Any]) -> None:
        if kind in ("report", "case step"):
            case = answer["incident"]
            self.cases[case["id"]] = (case["status"], case["version"])


def measure(client: httpx.Client, pid: int, mix: Mix, kind: str, count: int) -> dict[str, Any]:
    def send() -> int:
        method, path, kwargs, user = mix.make(kind)
        headers = {**mix.users[user][0], **kwargs.pop("headers", {})}
        response = client.request(method, path, headers=headers, **kwargs)
        if response.status_code >= 400:
            raise SystemExit(f"{kind}: {method} {path} answered {response.status_code}: {response.text[:300]}")
        if kind in ("report", "case step"):
            mix.seen(kind, response.json())
        return len(response.content)

    for _ in range(WARM_UP):
        send()
    server0, postgres0, wall0 = server_cpu(pid), postgres_cpu(), time.perf_counter()
    size = sum(send() for _ in range(count))
    return {"kind": kind, "requests": count, "server_cpu_ms": (server_cpu(pid) - server0) / count * 1000,
            "postgres_cpu_ms": (postgres_cpu() - postgres0) / count * 1000,
            "wall_ms": (time.perf_counter() - wall0) / count * 1000, "bytes": size // count}


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    secret = secrets.token_urlsafe(48)
    kept = bench_database(Settings(secret_key=secret), url=None, reload=False)
    kinds = [k for k in KINDS if not args.only or k in args.only]
    # A case read and a case step need cases: reports are filed first whatever was asked.
    order = (["report"] if {"case read", "case step"} & set(kinds) and "report" not in kinds else []) + kinds
    results = []
    with copy_of(kept) as url, ExitStack() as stack:
        server_log = stack.enter_context(tempfile.TemporaryFile())
        base, pid = start_server(stack, url, secret, server_log, workers=1)
        users = {role: sign_in(base, f"demo_{role}") for role in ("viewer", "worker", "leader")}
        mix = Mix(targets(url, users["worker"][1]["grids"][0]), users)
        with httpx.Client(base_url=base, timeout=60) as client:
            for kind in order:
                log(f"{kind}: {args.requests} requests")
                result = measure(client, pid, mix, kind, args.requests)
                if kind in kinds:
                    results.append(result)
    return results


def only(value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(f"--only: unknown kind(s) {', '.join(unknown)}; choose from "
                                         f"{', '.join(KINDS)}")
    return kinds


def main(argv: list[str] | None = None, *, output: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=150, help="measured requests of each kind")
    parser.add_argument("--only", type=only, default=None, help=f"comma-separated kinds of: {', '.join(KINDS)}")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests: at least 1")
    results = run(args)
    if args.json:
        output(json.dumps(results, indent=2))
        return
    output(f"{'request':18s} {'server CPU':>11s} {'PostgreSQL CPU':>15s} {'wall':>9s} {'bytes':>7s}  (per request)")
    for r in results:
        output(f"{r['kind']:18s} {r['server_cpu_ms']:8.2f} ms {r['postgres_cpu_ms']:12.2f} ms "
               f"{r['wall_ms']:6.2f} ms {r['bytes']:7d}")
    output("one request at a time against wangge serve --workers 1; PostgreSQL's CPU is the whole cluster's")


if __name__ == "__main__":
    main()
