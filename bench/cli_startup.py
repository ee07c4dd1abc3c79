"""CLI start-up: what every `wangge` command pays before doing its work, against the interpreter's own.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--json]

Each case is a fresh process of the installed ``wangge`` script (``.venv/bin/wangge``), stdout
discarded; the cases take turns ``--runs`` times, so that a burst of other work on the machine
lands on all of them, and the median wall time of each is printed:

* ``python -c pass``: the interpreter's start-up, the floor no command can go under;
* ``wangge --help``: parsing the command tree and printing the help (target < 0.3 s);
* ``wangge check boundaries --help``: the same for one command, through its group (target < 0.6 s);
* ``wangge db status``: a whole light command: settings, SQLAlchemy, psycopg and Alembic loaded,
  a connection, three queries (target < 0.6 s). The database should be running (``make db-start``);
  a stopped one answers sooner and the output says so.

``python -X importtime -c "import gis.cli"`` shows what is loaded at start-up;
tests/cli/test_startup.py checks that no engine is. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WANGGE = str(BIN / "wangge")

CASES: dict[str, tuple[list[str], float | None]] = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "wangge --help": ([WANGGE, "--help"], 0.3),
    "wangge check boundaries --help": ([WANGGE, "check", "boundaries", "--help"], 0.6),
    "wangge db status": ([WANGGE, "db", "status"], 0.6),
}


def run_once(argv: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="Runs of each case (median printed).")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not Path(WANGGE).exists():
        sys.exit(f"{WANGGE} not found: run this with the virtualenv's python (.venv/bin/python)")
    times: dict[str, list[float]] = {name: [] for name in CASES}
    codes: dict[str, set[int]] = {name: set() for name in CASES}
    for argv, _ in CASES.values():  # one unmeasured pass: the OS file cache warm for all
        run_once(argv)
    for _ in range(args.runs):
        for name, (argv, _) in CASES.items():
            seconds, code = run_once(argv)
            times[name].append(seconds)
            codes[name].add(code)
    anchor = statistics.median(times["python -c pass"])
    results = {}
    for name, (_, target) in CASES.items():
        median = statistics.median(times[name])
        results[name] = {
            "median_s": round(median, 3), "min_s": round(min(times[name]), 3),
            "max_s": round(max(times[name]), 3), "over_python_s": round(median - anchor, 3),
            "target_s": target, "met": None if target is None else median < target,
            "exit_codes": sorted(codes[name]),
        }
    if args.json:
        print(json.dumps({"runs": args.runs, "cases": results}))
        return
    print(f"{args.runs} runs each, median (min–max) wall time; machine load {_load()}")
    for name, r in results.items():
        target = "" if r["target_s"] is None else (
            f"  target < {r['target_s']} s: {'met' if r['met'] else 'NOT met'}")
        note = "" if r["exit_codes"] == [0] else f"  (exit codes {r['exit_codes']}"
        if name == "wangge db status" and 3 in r["exit_codes"]:
            note += ": the database is not running, `make db-start`"
        note += ")" if note else ""
        print(f"  {name:<32} {r['median_s']:.3f} s ({r['min_s']:.3f}–{r['max_s']:.3f}), "
              f"+{r['over_python_s']:.3f} s over python{target}{note}")
    sys.stdout.flush()


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


if __name__ == "__main__":
    main()
