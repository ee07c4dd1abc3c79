"""``wangge ledgers`` through the real command on a scratch database holding the API tests' town."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import api_world
import cli_run
import coverage_town as town
import pytest
from helpers import fresh_database
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import make_engine

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def town_env(template_database_url: str) -> Iterator[tuple[dict[str, str], dict, str]]:
    with fresh_database(template_database_url, prefix="wangge_cli_ledgers") as url:
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            world = api_world.build_world(session)
        engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
        env["WANGGE_DATABASE_URL"] = url
        env["WANGGE_HOME"] = str(REPO / ".wangge")
        yield env, world, url


def wangge(env: dict[str, str], *args: str) -> cli_run.Done:
    return cli_run.wangge(env, *args)


def _needs(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM need")).scalar_one()
    finally:
        engine.dispose()


def test_needs_imported_reached_counted_and_exported(town_env, tmp_path: Path) -> None:
    env, world, url = town_env
    bad = tmp_path / "bad.csv"
    bad.write_text(f"需求类型,楼栋ID\nparking,{world['N']}\nparking,abc\n", encoding="utf-8")
    refused = wangge(env, "ledgers", "import-needs", str(bad))
    assert refused.returncode != 0
    assert "bad.csv: row 3, column 楼栋ID" in refused.stderr + refused.stdout
    assert _needs(url) == 0

    good = tmp_path / "needs.csv"
    good.write_text(f"需求类型,楼栋ID,涉及人数\nparking,{world['N']},6\nparking,{world['R']},2\n", encoding="utf-8")
    done = wangge(env, "ledgers", "import-needs", str(good), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == 2 and _needs(url) == 2

    # No resource yet: both needs are without one within 500 m.
    reach = wangge(env, "ledgers", "reach", "--district", town.DISTRICT, "--json")
    assert reach.returncode == 0, reach.stderr
    figures = json.loads(reach.stdout)
    assert (figures["needs"], figures["needs_without_resource"], figures["mode"]) == (2, 2, "network")

    stats = wangge(env, "ledgers", "stats", "--district", town.DISTRICT, "--json")
    by_community = {c["community_code"]: c for c in json.loads(stats.stdout)["communities"]}
    assert (by_community[town.NORTH]["needs"], by_community[town.SOUTH]["needs"]) == (1, 1)

    out = tmp_path / "north.xlsx"
    exported = wangge(env, "ledgers", "export", town.NORTH, "--out", str(out), "--json")
    assert exported.returncode == 0, exported.stderr
    sheet = load_workbook(out)["需求清单"]
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["停车"]
