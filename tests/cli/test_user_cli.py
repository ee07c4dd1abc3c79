"""`wangge user ...` against a throw-away database: accounts, grids, passwords that really sign in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fresh_database
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import make_engine
from gis.errors import NotAuthenticated
from gis.roles import ROLES
from gis.services import users as user_service

REPO = Path(__file__).resolve().parents[2]
GRID_WKT = "SRID=4490;MULTIPOLYGON(((118.78 32.04, 118.785 32.04, 118.785 32.049, 118.78 32.049, 118.78 32.04)))"


@pytest.fixture(scope="module")
def url(template_database_url: str) -> Iterator[str]:
    with fresh_database(template_database_url, prefix="wangge_user_cli") as found:
        engine = make_engine(found)
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO grid (code, community_code, district_code, name, geom) VALUES "
                              "('320102001001001', '320102001001', '320102', '一网格', ST_GeomFromEWKT(:g))"),
                         {"g": GRID_WKT})
        engine.dispose()
        yield found


def wangge(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, ["user", *args], env={"WANGGE_DATABASE_URL": url, "COLUMNS": "200"})


def test_add_list_grids_passwd_deactivate(url: str) -> None:
    added = wangge(url, "add", "li_si", "--role", "grid_worker", "--grid", "320102001001001", "--json")
    assert added.exit_code == 0, added.output
    body = json.loads(added.stdout)
    assert body["grids"] == ["320102001001001"] and body["role"] == "grid_worker"
    generated = body["password"]
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            assert user_service.authenticate(session, "li_si", generated).role_code == "grid_worker"
        listed = json.loads(wangge(url, "list", "--json").stdout)
        assert [u["username"] for u in listed] == ["li_si"]
        assert wangge(url, "passwd", "li_si", "--password", "a-new-password").exit_code == 0
        assert wangge(url, "deactivate", "li_si").exit_code == 0
        with Session(engine) as session:
            with pytest.raises(NotAuthenticated):
                user_service.authenticate(session, "li_si", "a-new-password")
            actions = session.scalars(text("SELECT action FROM audit_log WHERE entity = 'app_user' ORDER BY id")).all()
        assert actions == ["create", "password", "deactivate"]
    finally:
        engine.dispose()


def test_errors_are_one_line(url: str) -> None:
    env = {**os.environ, "WANGGE_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "gis.cli", "user", "add", "x_y", "--role", "mayor"],
                          capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: role 'mayor' does not exist; choose one of {', '.join(ROLES)}"]
    planner = wangge(url, "add", "planner_1", "--role", "district_planner", "--grid", "320102001001001")
    assert planner.exit_code != 0
    assert "only grid leaders and workers have grids" in str(planner.exception)
