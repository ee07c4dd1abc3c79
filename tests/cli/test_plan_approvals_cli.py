"""`wangge plan propose | review | approve | return | confirm-code` and `wangge user add --street` end to end on a
scratch database: a grid plan of one community taken through the chain by a street-scoped and a
district-scoped planner, the refusals as the real command prints them (one line, both languages, exit 1).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cli_run
import geopandas as gpd
import pandas as pd
import pytest
import shapely
from helpers import fresh_database
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import make_engine, transaction
from gis.services import plans

REPO = Path(__file__).resolve().parents[2]
DISTRICT, STREET, C1 = "320102", "320102001", "320102001001"
X0, XM, X1, Y0, YM, Y1 = 118.780, 118.785, 118.790, 32.040, 32.0445, 32.049
BUILDINGS = {101: (118.7815, 32.0465, 250), 102: (118.7815, 32.0425, 150),
             103: (118.7885, 32.0465, 150), 104: (118.7885, 32.0425, 250)}
DOC = "鼓政复[2026]7号"


@pytest.fixture(scope="module")
def cli_database(template_database_url: str) -> Iterator[tuple[str, Engine]]:
    with fresh_database(template_database_url, prefix="wangge_approval_cli") as url:
        engine = make_engine(url)
        yield url, engine
        engine.dispose()


def multi(geom: shapely.Geometry) -> str:
    return f"SRID=4490;{shapely.MultiPolygon([geom]).wkt}"


@pytest.fixture
def area(cli_database: tuple[str, Engine]) -> dict:
    url, engine = cli_database
    with transaction(engine) as s:
        s.execute(text("TRUNCATE plan, plan_unit, plan_assignment, plan_approval, community_code, grid, community, "
                       "street, district, building, app_user CASCADE"))
        s.execute(text("INSERT INTO district (code, name) VALUES (:d, '鼓楼区')"), {"d": DISTRICT})
        s.execute(text("INSERT INTO street (code, name, district_code, geom) VALUES (:c, '新街口街道', :d, "
                       "ST_GeomFromEWKT(:g))"), {"c": STREET, "d": DISTRICT, "g": multi(box(X0, Y0, X1, Y1))})
        s.execute(text("INSERT INTO community (code, name, district_code, street_code, geom) VALUES "
                       "(:c, '汉中社区', :d, :s, ST_GeomFromEWKT(:g))"),
                  {"c": C1, "d": DISTRICT, "s": STREET, "g": multi(box(X0, Y0, X1, Y1))})
        for bid, (x, y, hh) in BUILDINGS.items():
            s.execute(text("INSERT INTO building (id, district_code, households, geom) VALUES "
                           "(:id, :d, :h, ST_GeomFromEWKT(:g))"),
                      {"id": bid, "d": DISTRICT, "h": hh, "g": multi(box(x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4))})
        rows, assignment = [], []
        for label, geom in (("北", box(X0, YM, X1, Y1)), ("南", box(X0, Y0, X1, YM))):
            inside = [b for b, (x, y, _) in BUILDINGS.items() if geom.contains(shapely.Point(x, y))]
            assignment += [{"building_id": b, "label": label} for b in inside]
            rows.append({"label": label, "kind": "general", "households": sum(BUILDINGS[b][2] for b in inside),
                         "parent_code": C1, "code": None, "geometry": geom})
        plan = plans.store_plan(s, kind="grid_split", scope_code=C1, district_code=DISTRICT,
                                units=gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490"),
                                assignment=pd.DataFrame(assignment), parameters={}, metrics={})
    return {"url": url, "plan": str(plan)}


def wangge(area: dict, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"WANGGE_DATABASE_URL": area["url"], "COLUMNS": "200"})


def ok_json(done: Result) -> dict:
    assert done.exit_code == 0, done.output + repr(done.exception)
    return json.loads(done.stdout)


def one_error_line(area: dict, *args: str) -> str:
    env = {**os.environ, "WANGGE_DATABASE_URL": area["url"]}
    done = cli_run.wangge(env, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_a_grid_plan_through_the_chain_from_the_command_line(area: dict) -> None:
    plan = area["plan"]
    street = ok_json(wangge(area, "user", "add", "jiedao", "--role", "district_planner", "--district", DISTRICT,
                            "--street", STREET, "--password", "password-1", "--json"))
    assert street["street_code"] == STREET
    ok_json(wangge(area, "user", "add", "qu", "--role", "district_planner", "--district", DISTRICT,
                   "--password", "password-1", "--json"))

    line = one_error_line(area, "plan", "review", plan, "--by", "qu")
    assert "不能区级审核" in line and f"plan {plan} is draft: review is allowed only from proposed" in line
    line = one_error_line(area, "plan", "propose", plan, "--by", "qu")
    assert "街道级账号" in line and "propose is taken by a street-scoped user of district 320102" in line

    proposed = ok_json(wangge(area, "plan", "propose", plan, "--by", "jiedao", "--note", "街道报送", "--json"))
    assert proposed["status"] == "proposed"
    human = wangge(area, "plan", "review", plan, "--by", "qu", "--note", "同意")
    assert human.exit_code == 0 and "区级审核 review by qu" in human.stdout and "→ reviewed" in human.stdout
    line = one_error_line(area, "plan", "approve", plan, "--by", "qu", "--document-no", "  ")
    assert "批复文号" in line and "approving needs the document number" in line
    approved = wangge(area, "plan", "approve", plan, "--by", "qu", "--document-no", DOC)
    assert approved.exit_code == 0 and f"批复文号 {DOC}" in approved.stdout

    no_user = wangge(area, "plan", "adopt", plan, "--reason", "实施")
    assert no_user.exit_code == 1
    adopted = ok_json(wangge(area, "plan", "adopt", plan, "--reason", "实施", "--by", "qu", "--json"))
    assert adopted["status"] == "adopted"

    shown = ok_json(wangge(area, "plan", "show", plan, "--json"))
    assert shown["document_no"] == DOC
    assert [(a["step"], a["by"]) for a in shown["approvals"]] == [
        ("propose", "jiedao"), ("review", "qu"), ("approve", "qu"), ("adopt", "qu")]
    human = wangge(area, "plan", "show", plan)
    assert "approvals 审批记录" in human.stdout and DOC in human.stdout and "Asia/Shanghai" in human.stdout

    line = one_error_line(area, "plan", "confirm-code", C1, "--by", "qu")
    assert "imported codes count as confirmed" in line


def test_a_returned_plan_names_why(area: dict) -> None:
    plan = area["plan"]
    for name, extra in (("jiedao", ["--street", STREET]), ("qu", [])):
        ok_json(wangge(area, "user", "add", name, "--role", "district_planner", "--district", DISTRICT,
                       "--password", "password-1", *extra, "--json"))
    ok_json(wangge(area, "plan", "propose", plan, "--by", "jiedao", "--json"))
    returned = ok_json(wangge(area, "plan", "return", plan, "--by", "qu", "--note", "四至不清", "--json"))
    assert returned["status"] == "draft" and returned["approvals"][-1]["note"] == "四至不清"
    bad_street = wangge(area, "user", "add", "x", "--role", "district_planner", "--district", DISTRICT,
                        "--street", "320105001", "--password", "password-1")
    assert bad_street.exit_code == 1
