"""Level-2 grids, their heads and party organisation through the real command, on a scratch database.

The commands commit, so the module gets its own database with the Nanjing extract, the demo
streets and communities, and one community's grids adopted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import cli_run
import pytest
from helpers import fresh_database
from sqlalchemy import text

from gis.db.engine import make_engine, transaction
from gis.services import boundaries as boundary_service
from gis.services import districts as district_service
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = "320102001005"


@pytest.fixture(scope="module")
def env_grid(template_database_url: str) -> Iterator[tuple[dict[str, str], str, str]]:
    settings = Settings(database_url=None, home=REPO / ".wangge")
    with fresh_database(template_database_url, prefix="wangge_cli_levels") as url:
        engine = make_engine(url)
        with transaction(engine) as session:
            district_service.import_osm(session, REPO / "data/osm/cn_nanjing_xinjiekou_2021.osm",
                                        district_code="320102", name="玄武区", settings=settings)
            boundary_service.import_boundaries(session, REPO / "data/boundaries/xinjiekou_streets.geojson",
                                               level="street")
            boundary_service.import_boundaries(session, REPO / "data/boundaries/xinjiekou_communities.geojson",
                                               level="community")
            plan = partition_service.suggest_grids(session, settings, community_code=COMMUNITY)["plan_id"]
            plan_service.adopt_plan(session, plan, reason="grids", settings=settings, allow_out_of_range=True)
            grid = session.scalar(text("SELECT min(code) FROM grid WHERE community_code = :c AND valid_to IS NULL"),
                                  {"c": COMMUNITY})
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
        env["WANGGE_DATABASE_URL"] = url
        env["WANGGE_HOME"] = str(REPO / ".wangge")
        yield env, grid, url
        engine.dispose()


def wangge(env: dict[str, str], *args: str) -> cli_run.Done:
    return cli_run.wangge(env, *args)


def test_micro_grids_heads_and_party_from_the_command_line(env_grid: tuple[dict[str, str], str, str]) -> None:
    env, grid, url = env_grid
    before = json.loads(wangge(env, "check", "boundaries", "--json").stdout)
    done = wangge(env, "partition", "micro", "--grid", grid, "--max", "100", "--json")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["kind"] == "micro_split" and len(plan["units"]) >= 2
    adopted = wangge(env, "plan", "adopt", str(plan["plan_id"]), "--reason", "微网格")
    assert adopted.returncode == 0, adopted.stderr
    assert f"level-2 grids of {grid}" in adopted.stdout
    after = json.loads(wangge(env, "check", "boundaries", "--json").stdout)
    assert after["level_2_grids"] == len(plan["units"])
    assert after["findings_by_kind"].get("overlap", 0) == before["findings_by_kind"].get("overlap", 0) == 0
    # Nothing new but the buildings over the maximum, each a flagged micro grid of its own.
    new = [f for f in after["findings"] if f not in before["findings"]]
    flagged = plan["metrics"]["flagged"]
    assert len(new) == len(flagged) and all("above the maximum of 100" in f for f in new), new
    assert all(u["buildings"] == 1 for u in plan["units"] if u["flagged"])

    engine = make_engine(url)
    with engine.connect() as conn:
        micro = conn.scalar(text("SELECT min(code) FROM grid WHERE parent_grid_code = :g AND valid_to IS NULL"),
                            {"g": grid})
    engine.dispose()
    head = wangge(env, "heads", "add", "--grid", micro, "--name", "王芳", "--phone", "13812345678")
    assert head.returncode == 0, head.stderr
    listed = wangge(env, "heads", "list", "--grid", grid)
    assert "王芳" in listed.stdout and "138****5678" in listed.stdout and "13812345678" not in listed.stdout
    refused = wangge(env, "heads", "add", "--grid", grid, "--name", "李四")
    assert refused.returncode == 1 and "level-1" in refused.stderr

    assert wangge(env, "party", "add-branch", "--grid", grid).returncode == 0
    assert wangge(env, "party", "add-group", "--grid", micro).returncode == 0
    check = json.loads(wangge(env, "party", "check", "--district", "320102", "--json").stdout)
    mine = [f for f in check["findings"] if f["grid_code"] == grid]
    # No resident is recorded here, so the new branch has no full member.
    assert [(f["kind"], f["full_members"]) for f in mine] == [("branch_too_small", 0)]
    assert check["branches"] == 1 and check["groups"] == 0  # the group counts in its level-2 grid
    human = wangge(env, "party", "check", "--district", "320102")
    assert "网格党支部正式党员0名" in human.stdout and "fewer than the 3 a branch needs" in human.stdout
    again = wangge(env, "party", "add-branch", "--grid", grid)
    assert again.returncode == 1 and "already has a party branch" in again.stderr
