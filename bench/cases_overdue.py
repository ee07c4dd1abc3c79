"""The overdue list and the scheduler's urging over many open cases (issue 18).

    .venv/bin/python bench/cases_overdue.py [--cases 2000] [--json]

In a throw-away database holding the API tests' town (tests/support/api_world.py), ``--cases``
cases are filed through ``report_incident`` over the past 30 days (not timed), a third of them
dispatched. Then, timed once each as a scheduler and a page would call them:

* ``overdue``: ``overdue_incidents`` for the whole district (every open case's clock computed);
* ``urge``: ``urge_overdue`` (the same clocks, one system urging per late stage written);
* ``urge_again``: the next scheduler run, which finds every late case already urged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests" / "support")]

import api_world  # noqa: E402
import coverage_town as town  # noqa: E402

from gis.db.engine import make_engine, transaction  # noqa: E402
from gis.db.setup import scratch_database  # noqa: E402
from gis.services import cases as case_service  # noqa: E402
from gis.services.residents import Reader  # noqa: E402
from gis.services.users import Principal  # noqa: E402
from gis.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings(database_url=None, home=REPO / ".wangge")
    now = dt.datetime.now(dt.UTC)
    with scratch_database(settings, prefix="wangge_bench_cases") as url:
        engine = make_engine(url)
        with transaction(engine) as s:
            world = api_world.build_world(s)
            users = world["users"]
            worker = Principal(user_id=users["worker_a"], username="worker_a", role="grid_worker",
                               district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
            leader = Principal(user_id=users["leader_a"], username="leader_a", role="grid_leader",
                               district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
            codes = ["C0106", "E0101", "S0101", "C0501", "E0402"]
            for n in range(args.cases):
                at = now - dt.timedelta(minutes=(n * 30 * 24 * 60) // max(args.cases, 1))
                pt = town._lonlat([town.p(20 + (n * 7) % 360, 10 + (n * 13) % 250)])[0]
                case = case_service.report_incident(s, worker, settings=settings, point=(pt.x, pt.y),
                                                    category_code=codes[n % len(codes)], at=at)["incident"]
                if n % 3 == 0:
                    version = case_service.act_on_incident(s, Reader(leader), case["id"], action="register",
                                                           expected_version=1, settings=settings,
                                                           at=at)["incident"]["version"]
                    case_service.act_on_incident(s, Reader(leader), case["id"], action="dispatch",
                                                 expected_version=version, settings=settings, at=at,
                                                 handler_id=users["worker_a"])
        figures: dict[str, float | int] = {"cases": args.cases}
        with transaction(engine) as s:
            t0 = time.perf_counter()
            listed = case_service.overdue_incidents(s, None, settings=settings, now=now)
            figures["overdue_s"] = round(time.perf_counter() - t0, 3)
            figures["overdue"] = len(listed["overdue"])
            figures["due_soon"] = len(listed["due_soon"])
        with transaction(engine) as s:
            t0 = time.perf_counter()
            figures["urged"] = len(case_service.urge_overdue(s, settings=settings, now=now))
            figures["urge_s"] = round(time.perf_counter() - t0, 3)
        with transaction(engine) as s:
            t0 = time.perf_counter()
            figures["urged_again"] = len(case_service.urge_overdue(s, settings=settings, now=now))
            figures["urge_again_s"] = round(time.perf_counter() - t0, 3)
        engine.dispose()
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{figures['cases']:,} open cases: overdue list {figures['overdue_s']} s ({figures['overdue']} overdue, "
              f"{figures['due_soon']} due soon); urge-overdue {figures['urge_s']} s ({figures['urged']} urged); "
              f"the next run {figures['urge_again_s']} s ({figures['urged_again']} urged)")


if __name__ == "__main__":
    main()
