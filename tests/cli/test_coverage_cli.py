"""`wangge coverage` end to end: the console script's entry point in this process, on the whole demo district."""

from __future__ import annotations

import json
import os

import cli_run
import pytest


@pytest.fixture(scope="module")
def demo_env(demo_database_url: str) -> dict[str, str]:
    """The environment of a command on the whole demo (tests/conftest.py loads it once per session)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env["WANGGE_DATABASE_URL"] = demo_database_url
    return env


def wangge(env: dict[str, str], *args: str) -> cli_run.Done:
    return cli_run.wangge(env, "coverage", *args)


def test_compute_json_gives_every_type_per_community(demo_env: dict[str, str]) -> None:
    done = wangge(demo_env, "compute", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["district_code"] == "320102" and report["mode"] == "network"
    assert report["population_source"] == "residents" and report["population"] > 60_000
    assert set(report["types"]) >= {"kindergarten", "elderly_daycare", "health_station", "primary_school"}
    for code, entry in report["types"].items():
        communities = [c for c in entry["communities"] if c["community_code"]]
        assert len(communities) == 23, code  # every community holding a home (320102003002 holds none)
        for row in communities:
            assert row["households_covered"] + row["households_not_covered"] == row["households"]
            assert (row["target_population_covered"] + row["target_population_not_covered"]
                    == row["target_population"])
        assert sum(c["households_covered"] for c in entry["communities"]) == entry["district"]["households_covered"]
    kg = report["types"]["kindergarten"]
    assert kg["radius_m"] == 300 and kg["target_group"] == "age_3_6" and kg["facilities"] >= 1
    assert 0 < kg["district"]["target_population_covered"] < kg["district"]["target_population"]
    assert report["run_id"] and "progress" not in done.stdout


def test_gaps_and_site_on_the_demo(demo_env: dict[str, str]) -> None:
    gaps = wangge(demo_env, "gaps", "--type", "kindergarten", "--top", "5", "--json")
    assert gaps.returncode == 0, gaps.stderr
    found = json.loads(gaps.stdout)
    ranked = [g["target_population"] for g in found["gaps"]]
    assert len(ranked) == 5 and ranked == sorted(ranked, reverse=True) and ranked[0] > 0
    assert all(g["community_code"] for g in found["gaps"])

    site = wangge(demo_env, "site", "--type", "elderly_daycare", "--k", "3", "--exact", "--json")
    assert site.returncode == 0, site.stderr
    answer = json.loads(site.stdout)
    greedy, exact = answer["greedy"], answer["exact"]
    assert len(greedy["sites"]) == 3
    assert greedy["target_population_after"] > greedy["target_population_before"]
    assert exact["target_population_after"] >= greedy["target_population_after"]
    assert all(s["newly_covered_target_population"] > 0 for s in greedy["sites"])

    human = wangge(demo_env, "site", "--type", "elderly_daycare", "--k", "2")
    assert human.returncode == 0 and "greedy" in human.stdout and "→" in human.stdout


def test_what_if_catalogue_and_errors(demo_env: dict[str, str]) -> None:
    added = wangge(demo_env, "what-if", "--type", "kindergarten", "--add", "118.7911,32.0411", "--json")
    assert added.returncode == 0, added.stderr
    figures = json.loads(added.stdout)
    assert figures["households_covered_after"] >= figures["households_covered_before"]

    catalogue = json.loads(wangge(demo_env, "catalogue", "--json").stdout)
    assert {row["code"]: row["radius_m"] for row in catalogue}["middle_school"] == 1000

    bad = wangge(demo_env, "compute", "--types", "kindergartens")
    assert bad.returncode == 1
    assert "unknown facility type kindergartens" in bad.stderr and "Traceback" not in bad.stderr
    bad_point = wangge(demo_env, "what-if", "--type", "kindergarten", "--add", "here")
    assert bad_point.returncode != 0 and "lon,lat" in bad_point.stderr


def test_site_cover_all_on_the_demo(demo_env: dict[str, str]) -> None:
    done = wangge(demo_env, "site", "--type", "elderly_daycare", "--cover-all", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "optimal" and 0 < report["sites_needed"] <= report["greedy"]["sites_needed"]
    assert report["target_population_covered_after"] + report["unreachable_target_population"] \
        == report["target_population"]
    assert all(s["community_code"] and s["community_name"] and s["building_id"] for s in report["sites"])
    human = wangge(demo_env, "site", "--type", "elderly_daycare", "--cover-all")
    assert human.returncode == 0, human.stderr
    assert f"{report['sites_needed']} new sites" in human.stdout and "greedy until full coverage needs" in human.stdout
    bad = wangge(demo_env, "site", "--type", "elderly_daycare", "--cover-all", "--exact")
    assert bad.returncode != 0 and "--cover-all" in bad.stderr


def test_supply_per_community_and_street(demo_env: dict[str, str]) -> None:
    done = wangge(demo_env, "supply", "--type", "kindergarten", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    kg = report["types"]["kindergarten"]
    rows = kg["communities"]
    assert len([r for r in rows if r["community_code"]]) >= 23
    assert [r["shortfall"] for r in rows] == sorted((r["shortfall"] for r in rows), reverse=True)
    assert kg["district"]["places_needed"] == sum(r["places_needed"] for r in rows)
    assert all(r["places_needed"] * 1000 >= r["residents"] * 30 for r in rows)
    streets = wangge(demo_env, "supply", "--level", "street")
    assert streets.returncode == 0, streets.stderr
    assert "kindergarten" in streets.stdout and "no capacity_per_1000 set for" in streets.stdout
    bad = wangge(demo_env, "supply", "--level", "grid")
    assert bad.returncode != 0 and "--level" in bad.stderr
    per_child = wangge(demo_env, "supply", "--type", "kindergarten", "--per", "target_group", "--json")
    assert per_child.returncode == 0, per_child.stderr
    kg_child = json.loads(per_child.stdout)["types"]["kindergarten"]
    assert all(r["places_needed"] == r["target_population"] for r in kg_child["communities"])
