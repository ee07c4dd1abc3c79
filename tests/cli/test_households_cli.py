"""`wangge db migrate`, `wangge import osm` and `wangge households` on a database made by migrate alone.

A fresh empty database on the test server, migrated with the command a user would run; the commands
run through the console script's entry point in this process and commit, so the database is dropped afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import cli_run
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gis.db.engine import drop_database, ensure_database, make_engine

REPO = Path(__file__).resolve().parents[2]
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"


@pytest.fixture(scope="module")
def fresh_env(database_url: str) -> Iterator[dict[str, str]]:
    url = make_url(database_url).set(database=f"wangge_cli_households_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)
    ensure_database(url)  # an empty database: no schema, no catalogue
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env["WANGGE_DATABASE_URL"] = url
    env["WANGGE_HOME"] = str(REPO / ".wangge")
    try:
        yield env
    finally:
        drop_database(url)


def wangge(env: dict[str, str], *args: str) -> cli_run.Done:
    return cli_run.wangge(env, *args)


def scalar(env: dict[str, str], sql: str) -> object:
    engine = make_engine(env["WANGGE_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_migrate_import_review_set(fresh_env: dict[str, str]) -> None:
    done = wangge(fresh_env, "db", "migrate")
    assert done.returncode == 0, done.stderr
    assert scalar(fresh_env, "SELECT count(*) FROM facility_type") >= 10  # the catalogue is there

    done = wangge(fresh_env, "import", "osm", str(NANJING), "--district-code", "320102", "--name", "玄武区", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # still one JSON document: the review went to stderr
    assert report["facilities"] > 50 and report["warnings"] == []
    assert "estimates to check first" in done.stderr and "check:" in done.stderr
    assert report["review"]["buildings"]

    done = wangge(fresh_env, "households", "review", "--district", "320102", "--top", "3", "--json")
    assert done.returncode == 0, done.stderr
    review = json.loads(done.stdout)
    assert len(review["buildings"]) == 3
    first = review["buildings"][0]
    assert {"building_id", "name", "households", "reason", "reason_text", "concerns"} <= set(first)

    human = wangge(fresh_env, "households", "review", "--district", "320102", "--top", "2")
    assert human.returncode == 0 and f"building {first['building_id']}" in human.stdout
    assert f"[{first['reason']}]" in human.stdout

    building = first["building_id"]
    done = wangge(fresh_env, "households", "set", str(building), "12", "--by", "王网格员", "--reason", "入户核查")
    assert done.returncode == 0, done.stderr
    assert "12 households, recorded" in done.stdout
    shown = json.loads(wangge(fresh_env, "households", "show", str(building), "--json").stdout)
    assert (shown["households"], shown["households_source"], shown["recorded_by"]) == (12, "recorded", "王网格员")

    missing = wangge(fresh_env, "households", "set", "0", "3", "--by", "wang", "--reason", "x")
    assert missing.returncode == 1 and "building 0 does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_overlap_refused_and_province_warned(fresh_env: dict[str, str]) -> None:
    held = scalar(fresh_env, "SELECT count(*) FROM building")
    if not held:
        wangge(fresh_env, "db", "migrate")
        wangge(fresh_env, "import", "osm", str(NANJING), "--district-code", "320102", "--name", "玄武区")
    done = wangge(fresh_env, "import", "osm", str(NANJING), "--district-code", "110101", "--name", "东城区")
    assert done.returncode == 1
    assert "overlaps district 320102" in done.stderr and "--allow-overlap" in done.stderr
    assert scalar(fresh_env, "SELECT count(*) FROM building WHERE district_code = '110101'") == 0

    done = wangge(fresh_env, "import", "osm", str(NANJING), "--district-code", "110101", "--name", "东城区",
                  "--allow-overlap")
    assert done.returncode == 0, done.stderr
    assert "district 110101 is in 北京" in done.stderr
