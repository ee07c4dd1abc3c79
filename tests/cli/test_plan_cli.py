"""`wangge plan ...` end to end against a throw-away database: commands through typer's runner, and
the error paths through the console script's entry point (one line on stderr, exit status 1).

The commands commit, so they get their own scratch database (not the rolled-back test one); each
test starts from the same small area: one community with a west and an east grid of 400 households,
and two draft plans, an east/west relabelling and a north/south split that moves two buildings.
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
G1, G2 = f"{C1}001", f"{C1}002"
X0, XM, X1, Y0, YM, Y1 = 118.780, 118.785, 118.790, 32.040, 32.0445, 32.049
BUILDINGS = {101: (118.7815, 32.0465, 250), 102: (118.7815, 32.0425, 150),
             103: (118.7885, 32.0465, 150), 104: (118.7885, 32.0425, 250)}


@pytest.fixture(scope="module")
def cli_database(template_database_url: str) -> Iterator[tuple[str, Engine]]:
    with fresh_database(template_database_url, prefix="wangge_plan_cli") as url:
        engine = make_engine(url)
        yield url, engine
        engine.dispose()


def multi(geom: shapely.Geometry) -> str:
    return f"SRID=4490;{shapely.MultiPolygon([geom]).wkt}"


def store(session, units: dict[str, shapely.Geometry]) -> int:
    rows, assignment = [], []
    for label, geom in units.items():
        inside = [b for b, (x, y, _) in BUILDINGS.items() if geom.contains(shapely.Point(x, y))]
        assignment += [{"building_id": b, "label": label} for b in inside]
        rows.append({"label": label, "kind": "general", "locked": False, "parent_code": C1, "code": None,
                     "households": sum(BUILDINGS[b][2] for b in inside), "geometry": geom})
    return plans.store_plan(session, kind="grid_split", scope_code=C1, district_code=DISTRICT,
                            units=gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4490"),
                            assignment=pd.DataFrame(assignment), parameters={}, metrics={"in_range_share": 1.0})


@pytest.fixture
def area(cli_database: tuple[str, Engine]) -> dict:
    url, engine = cli_database
    with transaction(engine) as s:
        s.execute(text("TRUNCATE plan, plan_unit, plan_assignment, grid, community, street, district, building, "
                       "app_user CASCADE"))
        s.execute(text("INSERT INTO district (code, name) VALUES (:d, '玄武区')"), {"d": DISTRICT})
        s.execute(text("INSERT INTO street (code, name, district_code, geom) VALUES (:c, '新街口街道', :d, "
                       "ST_GeomFromEWKT(:g))"), {"c": STREET, "d": DISTRICT, "g": multi(box(X0, Y0, X1, Y1))})
        s.execute(text("INSERT INTO community (code, name, district_code, street_code, geom) VALUES "
                       "(:c, '汉中社区', :d, :s, ST_GeomFromEWKT(:g))"),
                  {"c": C1, "d": DISTRICT, "s": STREET, "g": multi(box(X0, Y0, X1, Y1))})
        for code, geom in ((G1, box(X0, Y0, XM, Y1)), (G2, box(XM, Y0, X1, Y1))):
            s.execute(text("INSERT INTO grid (code, name, district_code, community_code, geom) VALUES "
                           "(:c, :c, :d, :cc, ST_GeomFromEWKT(:g))"),
                      {"c": code, "d": DISTRICT, "cc": C1, "g": multi(geom)})
        for bid, (x, y, hh) in BUILDINGS.items():
            s.execute(text("INSERT INTO building (id, district_code, name, households, geom) VALUES "
                           "(:id, :d, :n, :h, ST_GeomFromEWKT(:g))"),
                      {"id": bid, "d": DISTRICT, "n": f"{bid - 100}号楼", "h": hh,
                       "g": multi(box(x - 0.0001, y - 0.0001, x + 0.0001, y + 0.0001))})
        s.execute(text("INSERT INTO app_user (username, display_name, password_hash, role_code) VALUES "
                       "('wang', '王规划', 'x', 'district_planner')"))
        same = store(s, {"东": box(XM, Y0, X1, Y1), "西": box(X0, Y0, XM, Y1)})
        split = store(s, {"北": box(X0, YM, X1, Y1), "南": box(X0, Y0, X1, YM)})
        small = store(s, {"小": box(X0, YM, XM, Y1), "大": shapely.difference(box(X0, Y0, X1, Y1),
                                                                           box(X0, YM, XM, Y1))})
    return {"url": url, "engine": engine, "same": same, "split": split, "small": small}


def wangge(area: dict, *args: str) -> Result:
    """Run ``wangge plan ARGS`` in this process (the command reads its settings from the environment)."""
    return CliRunner().invoke(app, ["plan", *args], env={"WANGGE_DATABASE_URL": area["url"], "COLUMNS": "200"})


def ok_json(done: Result) -> dict | list:
    assert done.exit_code == 0, done.output + repr(done.exception)
    return json.loads(done.stdout)


def one_error_line(area: dict, *args: str) -> str:
    """Run the real ``wangge plan ARGS`` through the console script's entry point and return its one error line."""
    env = {**os.environ, "WANGGE_DATABASE_URL": area["url"]}
    done = cli_run.wangge(env, "plan", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_list_show_and_diff(area: dict) -> None:
    listed = ok_json(wangge(area, "list", "--scope", C1, "--status", "draft", "--json"))
    assert [p["id"] for p in listed] == [area["small"], area["split"], area["same"]]
    human = wangge(area, "list")
    assert human.exit_code == 0 and "grid_split" in human.stdout and str(area["split"]) in human.stdout

    shown = ok_json(wangge(area, "show", str(area["small"]), "--json"))
    assert {u["label"]: (u["households"], u["in_range"]) for u in shown["units"]} == {"小": (250, False),
                                                                                      "大": (550, False)}
    assert "out of range" in wangge(area, "show", str(area["small"])).stdout

    diff = ok_json(wangge(area, "diff", "current", str(area["split"]), "--json"))
    assert (diff["buildings_moved"], diff["households_moved"]) == (2, 300)
    assert sorted(m["building_id"] for m in diff["moves"]) == [102, 103]
    assert ok_json(wangge(area, "diff", str(area["same"]), "current", "--json"))["households_moved"] == 0
    human = wangge(area, "diff", "current", str(area["split"]))
    assert "2 buildings and 300 households" in human.stdout and "2号楼" in human.stdout


def test_adopt_history_and_revert(area: dict) -> None:
    adopted = ok_json(wangge(area, "adopt", str(area["split"]), "--reason", "annual review", "--by", "wang",
                             "--json"))
    assert {u["code"] for u in adopted["units"]} == {G1, G2} and adopted["status"] == "adopted"
    with area["engine"].connect() as conn:
        row = conn.execute(text("SELECT p.status, u.username, p.reason FROM plan p JOIN app_user u "
                                "ON u.id = p.adopted_by WHERE p.id = :p"), {"p": area["split"]}).one()
        assert tuple(row) == ("adopted", "wang", "annual review")
        current = conn.execute(text("SELECT count(*) FROM grid WHERE valid_to IS NULL AND plan_id = :p"),
                               {"p": area["split"]}).scalar_one()
        assert current == 2

    # The relabelling was computed against the grids just replaced: stale.
    line = one_error_line(area, "adopt", str(area["same"]), "--reason", "late")
    assert line.startswith(f"error: plan {area['same']} is stale")

    history = ok_json(wangge(area, "history", G1, "--json"))
    assert [(v["version"], v["approved_by"], v["current"]) for v in history["versions"]] == [
        (1, None, False), (2, "wang", True)]
    assert "annual review" in wangge(area, "history", C1).stdout

    reverted = ok_json(wangge(area, "revert", str(area["split"]), "--reason", "withdrawn", "--by", "李四", "--json"))
    assert reverted["restored"] == [{"code": G1, "version": 3}, {"code": G2, "version": 3}]
    assert reverted["reason"] == f"revert of plan {area['split']}: withdrawn (by 李四)"
    line = one_error_line(area, "revert", str(area["split"]), "--reason", "again")
    assert "archived, not adopted" in line


def test_out_of_range_adoption_needs_the_flag(area: dict) -> None:
    line = one_error_line(area, "adopt", str(area["small"]), "--reason", "try")
    assert "grid 小 has 250 households, below the minimum of 300" in line
    assert "grid 大 has 550 households, above the maximum of 500" in line
    done = wangge(area, "adopt", str(area["small"]), "--reason", "school catchment", "--by", "李四",
                  "--allow-out-of-range")
    assert done.exit_code == 0, done.output
    assert "out of range" in done.stdout and G1 in done.stdout
    with area["engine"].connect() as conn:
        reason = conn.execute(text("SELECT reason FROM plan WHERE id = :p"), {"p": area["small"]}).scalar_one()
    assert reason == "school catchment (by 李四) (adopted with 2 grids out of range: 大 550, 小 250)"
    assert one_error_line(area, "show", "999999") == "error: plan 999999 does not exist"
