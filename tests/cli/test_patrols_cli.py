"""`wangge patrols import | coverage | weekly | purge` against a throw-away database holding the API world.

The commands commit, so they get their own scratch database; each test starts with no patrols.
Figures in the town: see tests/support/patrol_tracks.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import api_world
import cli_run
import pytest
from helpers import fresh_database
from patrol_tracks import GRID_A_COVERED_M, MAIN_ROAD_WALK, WEEK, town_gpx
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import make_engine, transaction

REPO = Path(__file__).resolve().parents[2]
A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C


@pytest.fixture(scope="module")
def cli_world(template_database_url: str) -> Iterator[tuple[str, Engine, dict]]:
    with fresh_database(template_database_url, prefix="wangge_patrol_cli") as url:
        engine = make_engine(url)
        with transaction(engine) as session:
            world = api_world.build_world(session)
        yield url, engine, world
        engine.dispose()


@pytest.fixture
def area(cli_world: tuple[str, Engine, dict]) -> dict:
    url, engine, world = cli_world
    with transaction(engine) as s:
        s.execute(text("DELETE FROM patrol"))
        s.execute(text("DELETE FROM audit_log"))
    return {"url": url, "engine": engine, "world": world}


def wangge(area: dict, *args: str) -> Result:
    """Run ``wangge patrols ARGS`` in this process (the command reads its settings from the environment)."""
    return CliRunner().invoke(app, ["patrols", *args], env={"WANGGE_DATABASE_URL": area["url"], "COLUMNS": "200"})


def ok_json(done: Result) -> dict:
    assert done.exit_code == 0, done.output + repr(done.exception)
    return json.loads(done.stdout)


def count(area: dict, sql: str) -> int:
    with transaction(area["engine"]) as s:
        return s.execute(text(sql)).scalar_one()


def test_import_then_coverage_and_weekly(area: dict, tmp_path: Path) -> None:
    track = tmp_path / "周一.gpx"
    track.write_bytes(town_gpx(MAIN_ROAD_WALK))
    imported = ok_json(wangge(area, "import", str(track), "--worker", "worker_a", "--json"))
    assert (imported["patrol"]["grid_code"], imported["patrol"]["point_count"]) == (A, 36)
    assert count(area, "SELECT count(*) FROM patrol_point") == 36
    human = wangge(area, "import", str(track), "--worker", str(area["world"]["users"]["worker_a"]), "--grid", A)
    assert human.exit_code == 0 and "36 of 36 points kept" in human.stdout and "2026-W41" in human.stdout

    cov = ok_json(wangge(area, "coverage", "--grid", A, "--week", WEEK, "--json"))
    assert cov["patrols"] == 2 and cov["summary"]["households_covered"] == 120
    assert cov["summary"]["street_covered_m"] == pytest.approx(GRID_A_COVERED_M, abs=0.5)
    text_out = wangge(area, "coverage", "--grid", A, "--week", WEEK).stdout
    assert "households walked past 120/120 (100%)" in text_out

    weekly = ok_json(wangge(area, "weekly", "--district", "320199", "--week", WEEK, "--json"))
    assert weekly["missed"] == [B, C] and weekly["summary"]["household_share"] == round(120 / 220, 4)
    lines = wangge(area, "weekly", "--district", "320199", "--week", WEEK).stdout.splitlines()
    assert lines[0].startswith("week 2026-W41: 1 of 3 grids patrolled")
    assert sum("MISSED" in ln for ln in lines) == 2


def one_error_line(area: dict, *args: str) -> str:
    """Run the real ``wangge patrols ARGS`` through the console script's entry point and return its one error line."""
    env = {**os.environ, "WANGGE_DATABASE_URL": area["url"]}
    done = cli_run.wangge(env, "patrols", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_import_errors_are_one_line_and_store_nothing(area: dict, tmp_path: Path) -> None:
    cut = tmp_path / "cut.gpx"
    cut.write_bytes(town_gpx(MAIN_ROAD_WALK)[:-300])
    assert "cut.gpx" in one_error_line(area, "import", str(cut), "--worker", "worker_a")
    good = tmp_path / "good.gpx"
    good.write_bytes(town_gpx(MAIN_ROAD_WALK))
    assert "worker_b does not hold grid 320199001001001" in one_error_line(
        area, "import", str(good), "--worker", "worker_b", "--grid", A)
    missing = wangge(area, "import", str(good), "--worker", "nobody")
    assert missing.exit_code == 1 and "no such user" in str(missing.exception)
    assert count(area, "SELECT count(*) FROM patrol") == 0


def test_purge_deletes_old_tracks_keeps_young_ones_and_leaves_an_audit_row(area: dict, tmp_path: Path) -> None:
    old, young = tmp_path / "old.gpx", tmp_path / "young.gpx"
    old.write_bytes(town_gpx(MAIN_ROAD_WALK))  # 2026-10-05
    young.write_bytes(town_gpx(MAIN_ROAD_WALK, start=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    old_id = ok_json(wangge(area, "import", str(old), "--worker", "worker_a", "--json"))["patrol"]["id"]
    young_id = ok_json(wangge(area, "import", str(young), "--worker", "worker_a", "--json"))["patrol"]["id"]

    dry = ok_json(wangge(area, "purge", "--older-than-days", "30", "--dry-run", "--json"))
    assert (dry["patrols"], dry["points"], dry["dry_run"]) == (1, 36, True)
    assert count(area, "SELECT count(*) FROM patrol") == 2

    done = ok_json(wangge(area, "purge", "--older-than-days", "30", "--json"))
    assert (done["patrols"], done["points"]) == (1, 36)
    with transaction(area["engine"]) as s:
        assert s.execute(text("SELECT id FROM patrol")).scalars().all() == [young_id]
        assert s.execute(text("SELECT count(*) FROM patrol_point WHERE patrol_id = :i"), {"i": old_id}).scalar() == 0
        audit = s.execute(text("SELECT username, action, entity, detail FROM audit_log WHERE action = 'purge'")).one()
    assert audit[:3] == ("system", "purge", "patrol") and audit[3]["patrols"] == 1
    # The default retention (180 days) keeps the young one.
    again = wangge(area, "purge")
    assert again.exit_code == 0 and "deleted 0 patrol(s)" in again.stdout
    refused = wangge(area, "purge", "--older-than-days", "0")
    assert refused.exit_code == 2 and "1 or more days, got 0" in refused.output  # a usage error, as typer's
