"""`wangge cases overdue | stats | urge-overdue | summons` and `wangge departments` against a throw-away database.

The database holds the API world and three
cases filed at fixed times in September/October 2025 (the commands commit, so not the rolled-back one)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import api_world
import coverage_town as town
import pytest
from helpers import fresh_database
from sqlalchemy import text
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import make_engine, transaction
from gis.services import cases as case_service
from gis.services.users import Principal
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SH = ZoneInfo("Asia/Shanghai")


def point(x: float, y: float) -> tuple[float, float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return pt.x, pt.y


@pytest.fixture(scope="module")
def cases_db(template_database_url: str) -> Iterator[dict]:
    with fresh_database(template_database_url, prefix="wangge_cases_cli") as url:
        engine = make_engine(url)
        with transaction(engine) as s:
            world = api_world.build_world(s)
            worker = Principal(user_id=world["users"]["worker_a"], username="worker_a", role="grid_worker",
                               district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
            ids = {}
            for name, when, xy in (("late", dt.datetime(2025, 9, 30, 17, 20, tzinfo=SH), (300, 60)),
                                   ("early", dt.datetime(2025, 10, 9, 9, 0, tzinfo=SH), (100, 60)),
                                   ("b", dt.datetime(2025, 9, 29, 9, 0, tzinfo=SH), (500, 60))):
                ids[name] = case_service.report_incident(s, worker, settings=Settings(database_url=None),
                                                         point=point(*xy), category_code="E0101",
                                                         at=when)["incident"]["id"]
        engine.dispose()
        yield {"url": url, **ids}


def wangge(db: dict, *args: str) -> Result:
    return CliRunner().invoke(app, ["cases", *args], env={"WANGGE_DATABASE_URL": db["url"], "COLUMNS": "200"})


def ok_json(done: Result) -> dict:
    assert done.exit_code == 0, done.output + repr(done.exception)
    return json.loads(done.stdout)


def test_overdue_stats_and_urge_overdue(cases_db: dict) -> None:
    now = "2025-10-09T09:25+08:00"
    listed = ok_json(wangge(cases_db, "overdue", "--now", now, "--json"))
    assert {c["id"] for c in listed["overdue"]} == {cases_db["late"], cases_db["b"]}
    assert [c["id"] for c in listed["due_soon"]] == [cases_db["early"]]  # 25 of its 30 minutes used
    human = wangge(cases_db, "overdue", "--now", now)
    assert human.exit_code == 0 and "overdue: 2" in human.stdout and "暴露垃圾" in human.stdout

    figures = ok_json(wangge(cases_db, "stats", "--period", "2025-09", "--json"))
    assert {r["code"]: r["reports"] for r in figures["levels"]["grid"]} == {api_world.GRID_A: 1,
                                                                            api_world.GRID_B: 1}
    community = ok_json(wangge(cases_db, "stats", "--period", "2025-09", "--level", "community", "--json"))
    assert [(r["code"], r["reports"]) for r in community["levels"]["community"]] == [(town.NORTH, 2)]
    october = wangge(cases_db, "stats", "--period", "2025-10").stdout
    assert "on-time closure" in october and "随手办 (quick fix, counted apart): 0 reported" in october

    done = ok_json(wangge(cases_db, "urge-overdue", "--now", now, "--json"))
    assert sorted(c["id"] for c in done["urged"]) == sorted([cases_db["late"], cases_db["b"]])
    assert ok_json(wangge(cases_db, "urge-overdue", "--now", now, "--json")) == {"urged": []}
    engine = make_engine(cases_db["url"])
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT id, status FROM incident")).all())
            urged = conn.execute(text("SELECT count(*) FROM incident_urging WHERE actor_role = 'system'")).scalar()
    finally:
        engine.dispose()
    # Urged, not escalated: the statuses (and clocks) are as they were, and the cases stay overdue.
    assert statuses == {cases_db["late"]: "reported", cases_db["b"]: "reported", cases_db["early"]: "reported"}
    assert urged == 2
    again = ok_json(wangge(cases_db, "overdue", "--now", now, "--json"))
    assert {c["id"] for c in again["overdue"]} == {cases_db["late"], cases_db["b"]}


def test_departments_and_summons_from_the_command_line(cases_db: dict) -> None:
    env = {"WANGGE_DATABASE_URL": cases_db["url"], "COLUMNS": "200"}
    added = CliRunner().invoke(app, ["departments", "add", "环卫所", "--kind", "functional", "--district",
                                     town.DISTRICT, "--json"], env=env)
    assert added.exit_code == 0, added.output + repr(added.exception)
    (record,) = json.loads(added.stdout)
    assert record["name"] == "环卫所" and "E0101" in record["categories"]  # from the city's category table
    bad = CliRunner().invoke(app, ["departments", "add", "某办", "--kind", "bureau", "--district", town.DISTRICT],
                             env=env)
    assert bad.exit_code == 1 and "kind 'bureau'" in str(bad.exception)
    listed = CliRunner().invoke(app, ["departments", "list", "--category", "E0101"], env=env)
    assert listed.exit_code == 0 and "环卫所" in listed.stdout
    summons = ok_json(wangge(cases_db, "summons", "--missed", "--json"))
    assert summons["items"] == [] and summons["missed"] == 0
    # Department staff and a community officer, as a user would set them up.
    for name, role in (("zhang_hw", "department_staff"), ("li_sq", "community_officer")):
        made = CliRunner().invoke(app, ["user", "add", name, "--role", role, "--district", town.DISTRICT,
                                        "--password", "long-enough-1"], env=env)
        assert made.exit_code == 0, made.output + repr(made.exception)
    staffed = CliRunner().invoke(app, ["departments", "staff", str(record["id"]), "zhang_hw", "--json"], env=env)
    assert staffed.exit_code == 0 and json.loads(staffed.stdout)[0]["staff_count"] == 1
    scoped = wangge(cases_db, "officer", "li_sq", "--community", town.NORTH)
    assert scoped.exit_code == 0 and town.NORTH in scoped.stdout
    engine = make_engine(cases_db["url"])
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT username, COALESCE(community_code, CAST(department_id AS text)) "
                                          "FROM app_user WHERE username IN ('zhang_hw', 'li_sq')")).all())
    finally:
        engine.dispose()
    assert rows == {"zhang_hw": str(record["id"]), "li_sq": town.NORTH}


def test_bad_options_are_one_line_errors(cases_db: dict) -> None:
    bad = wangge(cases_db, "stats", "--period", "October")
    assert bad.exit_code == 1 and "period 'October'" in str(bad.exception)
    naive = wangge(cases_db, "overdue", "--now", "2025-10-09T09:00")
    assert naive.exit_code == 1 and "time zone" in str(naive.exception)
