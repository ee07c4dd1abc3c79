"""Per-district coverage and grid suggestions fanned out over Dask, on two synthetic districts.

Tasks commit in their own transactions from other processes, so the module gets its own
scratch database (two small synthetic districts with strip communities) and one LocalCluster
of 2 single-threaded worker processes, addressed like a real scheduler. The CLI tests start
their own LocalCluster through a bare ``--dask``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cli_run
import pytest
from helpers import copy_database, fresh_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.cli import with_dask_default
from gis.db.engine import make_engine, transaction
from gis.errors import InvalidInput
from gis.services import scale
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SETTINGS = Settings(database_url=None, home=REPO / ".wangge")
# Origins 0.1° apart: ~9 km, far more than a 3,000-household district spans, so boundaries never overlap.
DISTRICTS = {"320901": ("合成一区", (118.70, 32.00), 1), "320902": ("合成二区", (118.80, 32.00), 2)}
HOUSEHOLDS = 3000
UNKNOWN = "999999"


@pytest.fixture(scope="module")
def city_url(template_database_url: str) -> Iterator[str]:
    with fresh_database(template_database_url, prefix="wangge_scale") as url:
        engine = make_engine(url)
        try:
            for code, (name, origin, seed) in DISTRICTS.items():
                with transaction(engine) as session:
                    scale.store_synthetic_district(session, district_code=code, name=name, households=HOUSEHOLDS,
                                                   seed=seed, origin=origin, community_households=1500)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="module")
def city(city_url: str) -> Iterator[Engine]:
    engine = make_engine(city_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """The address of a small LocalCluster, used as a real scheduler address would be."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                      silence_logs=logging.CRITICAL) as cluster:
        yield cluster.scheduler_address


def communities_of(engine: Engine) -> dict[str, list[str]]:
    with transaction(engine) as session:
        rows = session.execute(text("SELECT district_code, code FROM community WHERE valid_to IS NULL "
                                    "ORDER BY code")).all()
    out: dict[str, list[str]] = {}
    for district, code in rows:
        out.setdefault(district, []).append(code)
    return out


def district_figures(summary: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    return {code: (e["district"]["households"], e["district"]["households_covered"],
                   e["district"]["target_population"], e["district"]["target_population_covered"])
            for code, e in summary["types"].items()}


def test_the_synthetic_city_has_two_districts_with_communities(city: Engine) -> None:
    assert {d: len(c) for d, c in communities_of(city).items()} == {"320901": 2, "320902": 2}
    with transaction(city) as session:
        assert scale.districts_with_buildings(session) == ["320901", "320902"]
        assert scale.districts_with_communities(session) == ["320901", "320902"]


def test_coverage_on_dask_stores_a_run_per_district_with_the_serial_figures(
        city_url: str, city: Engine, scheduler: str) -> None:
    serial = scale.compute_coverage_for_districts(city_url)
    seen: list[tuple[str, float]] = []
    fanned = scale.compute_coverage_for_districts(city_url, scheduler=scheduler,
                                                  progress=lambda stage, f: seen.append((stage, f)))

    assert serial["failed"] == [] and fanned["failed"] == []
    assert serial["runner"].startswith("serial")
    assert fanned["runner"] == f"dask scheduler {scheduler} (2 workers, 2 threads)"
    assert [d["district_code"] for d in fanned["districts"]] == ["320901", "320902"]
    for alone, on_dask in zip(serial["districts"], fanned["districts"], strict=True):
        assert on_dask["run_id"] != alone["run_id"]
        assert on_dask["households"] == alone["households"] == HOUSEHOLDS
        assert district_figures(on_dask) == district_figures(alone)
        assert any(covered for _, covered, _, _ in district_figures(on_dask).values())
    # Each district's run landed in PostGIS, with one row per residential building and type.
    with transaction(city) as session:
        for d in fanned["districts"]:
            run = session.execute(text("SELECT district_code, status, array_length(type_codes, 1) FROM coverage_run "
                                       "WHERE id = :id"), {"id": d["run_id"]}).one()
            assert run[0] == d["district_code"] and run[1] == "done"
            rows = session.execute(text("SELECT count(*), sum(households) FILTER (WHERE within_standard) "
                                        "FROM building_coverage WHERE run_id = :id AND type_code = 'kindergarten'"),
                                   {"id": d["run_id"]}).one()
            assert rows[0] == d["buildings"]
            assert rows[1] == d["types"]["kindergarten"]["district"]["households_covered"]
            assert run[2] == len(d["types"]) and rows[0] * run[2] == session.scalar(text(
                "SELECT count(*) FROM building_coverage WHERE run_id = :id"), {"id": d["run_id"]})
    # Progress: one report per finished district, ending at 1.
    assert seen[0] == ("2 districts", 0.0)
    assert [f for _, f in seen[1:]] == [0.5, 1.0]
    assert {stage.split()[0] for stage, _ in seen[1:]} == {"320901", "320902"}


def test_partition_on_dask_stores_one_plan_per_community_as_serially(
        city_url: str, city: Engine, scheduler: str) -> None:
    communities = communities_of(city)
    fanned = scale.suggest_grids_for_districts(city_url, SETTINGS, scheduler=scheduler, seed=3)
    serial = scale.suggest_grids_for_districts(city_url, SETTINGS, seed=3)

    assert fanned["failed"] == [] and serial["failed"] == []
    with transaction(city) as session:
        for d in fanned["districts"]:
            code = d["district_code"]
            assert d["communities"] == len(communities[code])
            plans = session.execute(text("""
                SELECT scope_code, district_code, kind, status FROM plan WHERE id = ANY(:ids) ORDER BY scope_code"""),
                {"ids": d["plan_ids"]}).all()
            assert [p[0] for p in plans] == communities[code]
            assert {(p[1], p[2], p[3]) for p in plans} == {(code, "grid_split", "draft")}
            assigned = session.scalar(text("SELECT sum(households) FROM plan_unit WHERE plan_id = ANY(:ids)"),
                                      {"ids": d["plan_ids"]})
            assert assigned == HOUSEHOLDS
        # The same seed on the same data gives the same grids, wherever it ran.
        for on_dask, alone in zip(fanned["districts"], serial["districts"], strict=True):
            units = [session.execute(text("""
                SELECT p.scope_code, u.label, u.households, round(ST_Area(u.geom::geography)) FROM plan_unit u
                JOIN plan p ON p.id = u.plan_id WHERE p.id = ANY(:ids) ORDER BY 1, 2"""), {"ids": ids}).all()
                     for ids in (on_dask["plan_ids"], alone["plan_ids"])]
            assert units[0] == units[1] and len(units[0]) >= on_dask["communities"]


def test_a_failing_district_is_named_and_the_others_results_land(
        city_url: str, city: Engine, scheduler: str) -> None:
    with transaction(city) as session:
        runs_before = session.scalar(text("SELECT count(*) FROM coverage_run"))
    coverage = scale.compute_coverage_for_districts(city_url, district_codes=["320901", UNKNOWN, "320902"],
                                                    scheduler=scheduler)
    assert [d["district_code"] for d in coverage["districts"]] == ["320901", "320902"]
    assert coverage["district_codes"] == ["320901", UNKNOWN, "320902"]
    [failed] = coverage["failed"]
    assert failed["district_code"] == UNKNOWN
    assert failed["error"].startswith("NotFound: ") and UNKNOWN in failed["error"]

    grids = scale.suggest_grids_for_districts(city_url, SETTINGS, district_codes=[UNKNOWN, "320902"],
                                              scheduler=scheduler)
    assert [d["district_code"] for d in grids["districts"]] == ["320902"]
    assert [f["district_code"] for f in grids["failed"]] == [UNKNOWN]
    assert "no current communities in district 999999" in grids["failed"][0]["error"]

    with transaction(city) as session:
        assert session.scalar(text("SELECT count(*) FROM coverage_run")) == runs_before + 2
        assert session.scalar(text("SELECT count(*) FROM coverage_run WHERE district_code = :d"), {"d": UNKNOWN}) == 0
        assert session.scalar(text("SELECT count(*) FROM plan WHERE id = ANY(:ids)"),
                              {"ids": grids["districts"][0]["plan_ids"]}) == 2


def test_serial_runs_report_failures_the_same_way(city_url: str) -> None:
    report = scale.compute_coverage_for_districts(city_url, district_codes=[UNKNOWN, "320901"], types=["kindergarten"])
    assert [d["district_code"] for d in report["districts"]] == ["320901"]
    assert list(report["districts"][0]["types"]) == ["kindergarten"]
    assert report["failed"][0]["district_code"] == UNKNOWN and UNKNOWN in report["failed"][0]["error"]


def test_bad_runner_arguments_are_one_line_errors(city_url: str) -> None:
    with (pytest.raises(InvalidInput, match="scheduler: cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'"),
          scale.dask_client("tcp://127.0.0.1:9", connect_timeout_s=1)):
        pass
    with pytest.raises(InvalidInput, match="empty value"):
        scale.compute_coverage_for_districts(city_url, scheduler=" ")
    with pytest.raises(InvalidInput, match="at least one district code"):
        scale.compute_coverage_for_districts(city_url, district_codes=[])
    with pytest.raises(InvalidInput, match=r"^max must be at least min \(500\), got 300"):
        scale.suggest_grids_for_districts(city_url, SETTINGS, lo=500, hi=300)
    assert scale.local_cluster_size(tasks=1) == 1
    assert scale.local_cluster_size(tasks=50) == (os.cpu_count() or 1)
    with pytest.raises(InvalidInput, match="workers must be at least 1"):
        scale.local_cluster_size(tasks=3, workers=0)


def test_a_bare_dask_option_means_a_local_cluster() -> None:
    assert with_dask_default(["coverage", "compute", "--all-districts", "--dask"]) == [
        "coverage", "compute", "--all-districts", "--dask", "local"]
    assert with_dask_default(["coverage", "compute", "--dask", "--json"]) == [
        "coverage", "compute", "--dask", "local", "--json"]
    assert with_dask_default(["partition", "grids", "--dask", "tcp://10.0.0.5:8786", "--json"]) == [
        "partition", "grids", "--dask", "tcp://10.0.0.5:8786", "--json"]
    assert with_dask_default(["partition", "grids", "--dask=tcp://h:1"]) == ["partition", "grids", "--dask=tcp://h:1"]
    assert with_dask_default(["x", "--", "--dask"]) == ["x", "--", "--dask"]


# --- the command line -----------------------------------------------------------------------


def wangge(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env["WANGGE_DATABASE_URL"] = url
    return subprocess.run([sys.executable, "-m", "gis.cli", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=600, check=False)


def test_cli_coverage_all_districts_on_a_local_cluster(city_url: str, city: Engine) -> None:
    done = wangge(city_url, "coverage", "compute", "--all-districts", "--dask", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runner"].startswith("dask LocalCluster (2 workers")
    assert [d["district_code"] for d in report["districts"]] == ["320901", "320902"] and report["failed"] == []
    with transaction(city) as session:
        for d in report["districts"]:
            assert session.scalar(text("SELECT district_code FROM coverage_run WHERE id = :id"),
                                  {"id": d["run_id"]}) == d["district_code"]
    assert "coverage by district" in done.stderr  # the progress bar

    human = wangge(city_url, "coverage", "compute", "--all-districts", "--types", "kindergarten")
    assert human.returncode == 0, human.stderr
    assert "320901 合成一区" in human.stdout and "320902 合成二区" in human.stdout
    assert "2 of 2 districts stored a coverage run; serial" in human.stdout
    assert human.stdout.count("kindergarten") == 2


def test_cli_partition_all_districts_on_a_scheduler_address(city_url: str, city: Engine, scheduler: str) -> None:
    done = wangge(city_url, "partition", "grids", "--all-districts", "--dask", scheduler, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runner"].startswith(f"dask scheduler {scheduler}")
    communities = communities_of(city)
    assert {d["district_code"]: d["communities"] for d in report["districts"]} == {
        code: len(codes) for code, codes in communities.items()}
    with transaction(city) as session:
        ids = [i for d in report["districts"] for i in d["plan_ids"]]
        assert session.scalar(text("SELECT count(*) FROM plan WHERE id = ANY(:ids) AND kind = 'grid_split'"),
                              {"ids": ids}) == 4

    human = wangge(city_url, "partition", "grids", "--all-districts")
    assert human.returncode == 0, human.stderr
    assert "320901: 2 communities" in human.stdout and "2 of 2 districts stored draft grid plans" in human.stdout


def test_cli_option_mistakes_are_refused(city_url: str) -> None:
    # Refusals come before any cluster starts: the entry point in this process says what a real one would.
    env = {"WANGGE_DATABASE_URL": city_url}
    alone = cli_run.wangge(env, "coverage", "compute", "--dask")
    assert alone.returncode == 2 and "--all-districts" in alone.stderr
    both = cli_run.wangge(env, "partition", "grids", "--all-districts", "--community", "320901001001")
    assert both.returncode == 2 and "drop --community" in both.stderr
    unreachable = cli_run.wangge(env, "partition", "grids", "--all-districts", "--dask", "tcp://127.0.0.1:9")
    assert unreachable.returncode == 1 and "cannot reach a Dask scheduler" in unreachable.stderr
    assert "Connection refused" in unreachable.stderr  # said at once: nothing listens there
    assert "Traceback" not in unreachable.stderr


def test_cli_exits_non_zero_naming_a_failed_district_and_keeps_the_others(city_url: str, city: Engine) -> None:
    # A district with a building but no walk network: network coverage refuses it.
    city.dispose()  # a template database must have no open sessions
    url = copy_database(city_url, prefix="wangge_scale_broken")
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            session.execute(text("INSERT INTO district (code, name) VALUES ('320903', '无路网区')"))
            session.execute(text("""
                INSERT INTO building (district_code, households, households_source, geom)
                SELECT '320903', 10, 'recorded', ST_Translate(geom, 0.5, 0) FROM building
                WHERE district_code = '320901' AND households > 0 LIMIT 1"""))
            before = session.scalar(text("SELECT count(*) FROM coverage_run"))
        done = wangge(url, "coverage", "compute", "--all-districts", "--types", "kindergarten", "--json")
        assert done.returncode == 1
        report = json.loads(done.stdout)
        assert [d["district_code"] for d in report["districts"]] == ["320901", "320902"]
        assert [f["district_code"] for f in report["failed"]] == ["320903"]
        assert "1 of 3 districts failed" in done.stderr
        assert "320903: InvalidInput: mode: district 320903 has no walk network" in done.stderr
        with transaction(engine) as session:
            assert session.scalar(text("SELECT count(*) FROM coverage_run")) == before + 2
    finally:
        engine.dispose()
        from gis.db.engine import drop_database

        drop_database(url)
