"""A district planner's session with the real command: suggest, look, adopt, grow, re-suggest, diff.

The commands commit, so the module gets its own scratch database with the Nanjing extract and
the demo streets and communities.
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
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMMUNITY = "320102003010"


@pytest.fixture(scope="module")
def planner_env(template_database_url: str) -> Iterator[dict[str, str]]:
    settings = Settings(database_url=None, home=REPO / ".wangge")
    with fresh_database(template_database_url, prefix="wangge_cli_partition") as url:
        engine = make_engine(url)
        with transaction(engine) as session:
            district_service.import_osm(session, REPO / "data/osm/cn_nanjing_xinjiekou_2021.osm",
                                        district_code="320102", name="玄武区", settings=settings)
            boundary_service.import_boundaries(session, REPO / "data/boundaries/xinjiekou_streets.geojson",
                                               level="street")
            boundary_service.import_boundaries(session, REPO / "data/boundaries/xinjiekou_communities.geojson",
                                               level="community")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
        env["WANGGE_DATABASE_URL"] = url
        env["WANGGE_HOME"] = str(REPO / ".wangge")
        yield env
        engine.dispose()


def wangge(env: dict[str, str], *args: str) -> cli_run.Done:
    return cli_run.wangge(env, *args)


def test_suggest_adopt_grow_and_keep_current(planner_env: dict[str, str]) -> None:
    done = wangge(planner_env, "partition", "grids", "--community", COMMUNITY, "--json")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["kind"] == "grid_split" and first["scope_code"] == COMMUNITY
    assert first["metrics"]["in_range_share"] == 1.0
    assert first["metrics"]["multipart_units"] == 0 and first["metrics"]["gap_m2"] == 0

    human = wangge(planner_env, "plan", "show", str(first["plan_id"]))
    assert human.returncode == 0, human.stderr
    adopted = wangge(planner_env, "plan", "adopt", str(first["plan_id"]), "--reason", "first grid plan", "--json")
    assert adopted.returncode == 0, adopted.stderr

    engine = make_engine(planner_env["WANGGE_DATABASE_URL"])
    with transaction(engine) as session:
        grids = session.execute(text("SELECT count(*) FROM grid WHERE community_code = :c AND valid_to IS NULL"),
                                {"c": COMMUNITY}).scalar_one()
        assert grids == len(first["units"])
        # New towers: 40% more households in the community's north-west quarter.
        session.execute(text("""
            WITH c AS (SELECT geom, ST_Centroid(geom) AS mid FROM community WHERE code = :c AND valid_to IS NULL)
            UPDATE building b SET households = round(b.households * 1.4)
            FROM c WHERE ST_Intersects(c.geom, ST_PointOnSurface(b.geom))
              AND ST_X(ST_Centroid(b.geom)) < ST_X(c.mid) AND ST_Y(ST_Centroid(b.geom)) > ST_Y(c.mid)"""),
                        {"c": COMMUNITY})
    engine.dispose()

    fresh = json.loads(wangge(planner_env, "partition", "grids", "--community", COMMUNITY, "--seed", "1",
                              "--json").stdout)
    kept_run = wangge(planner_env, "partition", "grids", "--community", COMMUNITY, "--seed", "1", "--keep-current")
    assert kept_run.returncode == 0, kept_run.stderr
    assert "moved against current" in kept_run.stdout
    listing = json.loads(wangge(planner_env, "plan", "list", "--scope", COMMUNITY, "--json").stdout)
    kept_id = max(p["id"] if "id" in p else p["plan_id"] for p in listing if (p.get("status") == "draft"))
    diff = wangge(planner_env, "plan", "diff", "current", str(kept_id), "--json")
    assert diff.returncode == 0, diff.stderr
    moved_fresh = fresh["metrics"]["households_moved"]
    with transaction(make_engine(planner_env["WANGGE_DATABASE_URL"])) as session:
        moved_kept = session.execute(text("SELECT (metrics->>'households_moved')::int FROM plan WHERE id = :p"),
                                     {"p": kept_id}).scalar_one()
    assert moved_kept < moved_fresh


def test_bad_arguments_give_one_line(planner_env: dict[str, str]) -> None:
    done = wangge(planner_env, "partition", "grids", "--community", "320102009999")
    assert done.returncode == 1
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and "suggesting" not in ln]
    assert lines[-1].startswith("error: community 320102009999 has no current boundary")
    both = wangge(planner_env, "partition", "grids")
    assert both.returncode == 1 and "--community CODE or --all" in both.stderr
