"""Facility classification against a hand-labelled set of real OSM objects.

    .venv/bin/python bench/classification.py [--counts-as-general-hospital health_centre] [--json]

``tests/data/catalogue/labelled_facilities.csv`` holds named objects and tags from the
extracts we hold (Nanjing Xinjiekou, Guangzhou Donghu, Shanghai Wujiaochang, Xiamen Gulangyu,
Helsinki centre 2019; © OpenStreetMap contributors, ODbL), each labelled by hand with the life-circle type it is, or
none. Every named object the reader could take for a facility is in it, plus the first unnamed
object of each tag combination per extract. This prints the accuracy per extract and overall,
every mistake with the rule that decided it, and the confusions the planner cannot afford
(a specialised hospital, 诊所, convenience store or senior high school counted as a community
health centre, health station, food market or primary school).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.catalogue import GENERAL_HOSPITAL, explain_facility, load_catalogue  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "catalogue" / "labelled_facilities.csv"
CRITICAL_TYPES = {"health_centre", "health_station", "food_market", "primary_school"}


def read_labelled(path: Path = LABELLED) -> list[dict[str, Any]]:
    """The labelled cases: extract, osm_id, name, tags (a dict), expected ('' = none), note."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [{**row, "tags": json.loads(row["tags"])} for row in csv.DictReader(fh)]


def evaluate(cases: list[dict[str, Any]], counts_as: dict[str, str] | None = None) -> dict[str, Any]:
    """Accuracy per extract and overall, the mistakes, and the critical confusions."""
    catalogue = load_catalogue()
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    mistakes = []
    critical = []
    for case in cases:
        found = explain_facility(case["tags"], catalogue, counts_as=counts_as)
        got = found.type_code or ""
        total[case["extract"]] += 1
        if got == case["expected"]:
            right[case["extract"]] += 1
            continue
        wrong = {"extract": case["extract"], "osm_id": case["osm_id"], "name": case["name"],
                 "expected": case["expected"] or None, "got": got or None, "reason": found.reason}
        mistakes.append(wrong)
        if got in CRITICAL_TYPES:
            critical.append(wrong)
    per_extract = {e: {"cases": total[e], "right": right[e], "accuracy": round(right[e] / total[e], 4)}
                   for e in sorted(total)}
    n, ok = sum(total.values()), sum(right.values())
    return {"cases": n, "right": ok, "accuracy": round(ok / n, 4) if n else None, "per_extract": per_extract,
            "mistakes": mistakes, "critical_confusions": critical,
            "expected_types": dict(Counter(c["expected"] or "(none)" for c in cases).most_common())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts-as-general-hospital", default=None,
                        help="what a general hospital counts as (default: nothing, as shipped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts_as = {GENERAL_HOSPITAL: args.counts_as_general_hospital} if args.counts_as_general_hospital else None
    result = evaluate(read_labelled(), counts_as)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in result["mistakes"]:
        by[m["extract"]].append(m)
    for extract, figures in result["per_extract"].items():
        print(f"{extract:32s} {figures['right']:4d}/{figures['cases']:<4d} {figures['accuracy']:.1%}")
    print(f"{'overall':32s} {result['right']:4d}/{result['cases']:<4d} {result['accuracy']:.1%}")
    for m in result["mistakes"]:
        print(f"  wrong: {m['extract']} {m['osm_id']} {m['name'] or '(unnamed)'}: expected {m['expected']}, "
              f"got {m['got']} ({m['reason']})")
    print(f"critical confusions: {len(result['critical_confusions'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
