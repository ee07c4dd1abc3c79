"""`wangge visits cadence | due | stats` and `wangge grids unstaffed | reassign` on a scratch database (the API world).

The commands commit, so the world lives in its own database; the tests run in order and the last
one adopts a plan (grid B retired into A), after which the others' grids would no longer hold.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zoneinfo
from collections.abc import Iterator
from pathlib import Path

import api_world
import coverage_town as town
import pytest
from helpers import ID_KEY, fresh_database
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import make_engine, transaction
from gis.idnumbers import IdKeys, new_key
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.settings import Settings
from gis.visits import open_findings, seal_findings

REPO = Path(__file__).resolve().parents[2]
A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C


@pytest.fixture(scope="module")
def area(template_database_url: str) -> Iterator[dict]:
    with fresh_database(template_database_url, prefix="wangge_visits_cli") as url:
        engine = make_engine(url)
        with transaction(engine) as session:
            world = api_world.build_world(session)
            session.execute(text("UPDATE household SET created_at = now() - interval '30 days'"))
        yield {"url": url, "engine": engine, "world": world}
        engine.dispose()


def wangge(area: dict, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"WANGGE_DATABASE_URL": area["url"], "COLUMNS": "200"})


def ok_json(done: Result) -> dict:
    assert done.exit_code == 0, done.output + repr(done.exception)
    return json.loads(done.stdout)


def said(done: Result) -> str:
    """What a refused command says (the entry point prints the WanggeError as one line)."""
    return done.output + str(done.exception or "")


def _one(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_cadence_is_shown_and_set_per_group(area: dict) -> None:
    shown = ok_json(wangge(area, "visits", "cadence", "--json"))
    days = {r["tag"]: r["days"] for r in shown["rules"]}
    assert (shown["district_code"], shown["source"], days["elderly_alone"], days["other"]) == ("320199", "default", 7,
                                                                                                90)
    done = wangge(area, "visits", "cadence", "--set", "elderly_alone=3", "--set", "other=60")
    assert done.exit_code == 0, done.output
    assert "elderly_alone          every   3 days" in done.stdout
    engine = area["engine"]
    assert _one(engine, "SELECT days FROM visit_cadence WHERE district_code = '320199' AND tag = 'elderly_alone'") == 3
    assert _one(engine, "SELECT count(*) FROM visit_cadence WHERE district_code = '320199'") == 11
    assert _one(engine, "SELECT detail->'set'->>'other' FROM audit_log WHERE entity = 'visit_cadence'") == "60"
    # Bad values name what is wrong and change nothing.
    for bad, words in (("elderly_alone=0", "days between 1 and 366"), ("weekly", "expected TAG=DAYS"),
                       ("Elderly=7", "lower-case letters")):
        refused = wangge(area, "visits", "cadence", "--set", bad)
        assert refused.exit_code == 1 and words in said(refused), said(refused)
    assert _one(engine, "SELECT days FROM visit_cadence WHERE district_code = '320199' AND tag = 'elderly_alone'") == 3
    assert ok_json(wangge(area, "visits", "cadence", "--set", "elderly_alone=7", "--set", "other=90",
                          "--json"))["source"] == "district"


def test_due_list_and_monthly_stats(area: dict) -> None:
    engine, world = area["engine"], area["world"]
    q = world["households"]["Q"]
    due = ok_json(wangge(area, "visits", "due", "--grid", B, "--json"))
    [item] = due["items"]
    assert (item["household_id"], item["tag"], item["last_visit"], item["overdue_days"]) == (q, "elderly_alone",
                                                                                            None, 30)
    human = wangge(area, "visits", "due", "--grid", B)
    assert f"household {q}" in human.stdout and "30 days overdue" in human.stdout and "never" in human.stdout
    assert _one(engine, "SELECT count(*) FROM audit_log WHERE action = 'due_list' AND username = 'system'") == 2
    # worker_b's visit (as the API stores it) takes Q off the list.
    with transaction(engine) as session:
        session.execute(text("INSERT INTO visit (district_code, household_id, grid_code, worker_id, visited_at, "
                             "purpose) VALUES ('320199', :h, :g, :w, now() - interval '1 hour', 'care')"),
                        {"h": q, "g": B, "w": world["users"]["worker_b"]})
    assert ok_json(wangge(area, "visits", "due", "--grid", B, "--json"))["items"] == []
    month = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).astimezone(zoneinfo.ZoneInfo("Asia/Shanghai"))
    stats = ok_json(wangge(area, "visits", "stats", "--month", month.strftime("%Y-%m"), "--json"))
    rows = {i["grid_code"]: i for i in stats["items"]}
    assert (rows[B]["households_due"], rows[B]["visited"], rows[B]["coverage_share"]) == (1, 1, 1.0)
    assert (rows[A]["households_due"], rows[A]["visited"]) == (1, 0)
    assert stats["summary"]["households_due"] == 3 and stats["summary"]["visited"] == 1
    human = wangge(area, "visits", "stats", "--month", month.strftime("%Y-%m"))
    assert "1 of 3 households due were visited (33%)" in human.stdout
    bad = wangge(area, "visits", "stats", "--month", "2026-13")
    assert bad.exit_code == 1 and "month: YYYY-MM" in said(bad)


def test_findings_are_sealed_again_after_a_key_rotation(area: dict) -> None:
    engine, world = area["engine"], area["world"]
    old, new = IdKeys.from_text(ID_KEY), new_key()
    with transaction(engine) as session:
        session.execute(text("INSERT INTO visit (district_code, household_id, grid_code, worker_id, visited_at, "
                             "purpose, findings) VALUES ('320199', :h, :g, :w, now(), 'care', :f)"),
                        {"h": world["households"]["N"], "g": A, "w": world["users"]["worker_a"],
                         "f": seal_findings(old, "门口堆放杂物，已提醒")})
    env = {"WANGGE_DATABASE_URL": area["url"], "WANGGE_ID_KEY": new,
           "WANGGE_ID_KEYS_PREVIOUS": json.dumps([ID_KEY])}
    done = CliRunner().invoke(app, ["visits", "reseal", "--json"], env=env)
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert json.loads(done.stdout) == {"checked": 1, "resealed": 1}
    token = _one(engine, "SELECT findings FROM visit WHERE findings IS NOT NULL")
    fresh = IdKeys.from_text(new)
    assert token.startswith(f"wv1.{fresh.current_id}.") and open_findings(fresh, token) == "门口堆放杂物，已提醒"
    again = CliRunner().invoke(app, ["visits", "reseal", "--json"], env=env)
    assert json.loads(again.stdout) == {"checked": 1, "resealed": 0}


def test_unstaffed_grids_and_reassignment_after_a_plan(area: dict) -> None:
    engine, world = area["engine"], area["world"]
    # In a fresh process too (the services load their own ORM module first there).
    fresh = subprocess.run([sys.executable, "-m", "gis.cli", "grids", "unstaffed", "--json"], capture_output=True,
                           text=True, env={**os.environ, "WANGGE_DATABASE_URL": area["url"]}, cwd=REPO)
    assert fresh.returncode == 0, fresh.stderr
    listed = json.loads(fresh.stdout)
    assert [i["grid_code"] for i in listed["items"]] == [C]
    assert "1 of 3 grids without a worker" in wangge(area, "grids", "unstaffed").stdout
    with transaction(engine) as session:
        plan = partition_service.suggest_grids(session, Settings(), community_code=town.NORTH, lo=150, hi=250,
                                               created_by=world["users"]["planner"])
        plan_service.adopt_plan(session, plan["plan_id"], reason="合并 merge", settings=Settings(),
                                user_id=world["users"]["planner"], allow_out_of_range=True)
    plan_id = str(plan["plan_id"])
    shown = wangge(area, "grids", "reassign", "--plan", plan_id)
    assert shown.exit_code == 0, shown.output
    assert f"{B} 北二网格 → {A} (60 of 60 households); staff 1" in shown.stdout
    assert f"worker_b (worker): {B} → {A}" in shown.stdout and "apply with --apply" in shown.stdout
    assert _one(engine, "SELECT count(*) FROM grid_assignment WHERE grid_code = :g AND valid_to IS NULL", g=A) == 2
    applied = ok_json(wangge(area, "grids", "reassign", "--plan", plan_id, "--apply", "--json"))
    assert [(m["username"], m["to_grid"]) for m in applied["applied"]] == [("worker_b", A)]
    assert _one(engine, "SELECT string_agg(grid_code || ':' || (valid_to IS NULL), ',' ORDER BY id) "
                        "FROM grid_assignment WHERE user_id = :u",
                u=world["users"]["worker_b"]) == f"{B}:false,{A}:true"
    again = wangge(area, "grids", "reassign", "--plan", plan_id, "--apply")
    assert again.exit_code == 0 and "0 assignment(s) moved" in again.stdout
    refused = wangge(area, "grids", "reassign", "--plan", str(world["plan"]))
    assert refused.exit_code == 1 and "draft: staff are reassigned after a plan is adopted" in said(refused)
