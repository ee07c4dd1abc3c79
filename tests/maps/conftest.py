"""Report-map tests: the demo district copied into a database of their own, maps rendered by the real CLI.

The copy (``CREATE DATABASE … TEMPLATE`` of the shared demo) gets what the views need and the
demo lacks: a kindergarten coverage run, a few dozen incidents and two patrols from yesterday. The
CLI opens its own connections, so it must see committed rows: hence a copy, dropped afterwards,
rather than a rolled-back transaction in the shared demo.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator

import api_world
import pytest
from helpers import copy_database
from map_exports import CLOSED_EVERY, INCIDENTS
from sqlalchemy import text

from gis.db.engine import drop_database, make_engine, transaction
from gis.services import coverage as coverage_service
from gis.services.demo import DEMO_DISTRICT, ensure_demo_users

# Yesterday, 09:00 Beijing time: inside every retention period and within the cases view's 30 days.
PATROL_START = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(hour=1, minute=0, second=0, microsecond=0)


def _add_incidents(session) -> None:  # type: ignore[no-untyped-def]
    """INCIDENTS incidents at residential buildings (demo_worker's grid first), one every 4 hours back."""
    session.execute(text("""
        WITH worker_grid AS (
            SELECT min(a.grid_code) AS code FROM grid_assignment a JOIN app_user u ON u.id = a.user_id
            WHERE u.username = 'demo_worker'),
        spots AS (
            SELECT g.code AS grid_code, ST_PointOnSurface(b.geom) AS pt,
                   row_number() OVER (ORDER BY (g.code = w.code) IS TRUE DESC, b.id) AS n
            FROM building b CROSS JOIN worker_grid w
            LEFT JOIN grid g ON g.valid_to IS NULL AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
            WHERE b.district_code = :d AND b.households > 0)
        INSERT INTO incident (district_code, grid_code, category_class, category, source, status, reported_at, geom)
        SELECT :d, grid_code, 'event', '环境卫生', 'patrol',
               CASE WHEN n % :every = 0 THEN 'closed' ELSE 'reported' END, now() - n * interval '4 hours', pt
        FROM spots WHERE n <= :n"""),
        {"d": DEMO_DISTRICT[0], "n": INCIDENTS, "every": CLOSED_EVERY})


def _add_patrols(session) -> None:  # type: ignore[no-untyped-def]
    """Two patrols of demo_worker in their grid: one with timed points, one stored as a line only."""
    worker, grid = session.execute(text("""
        SELECT u.id, a.grid_code FROM app_user u JOIN grid_assignment a ON a.user_id = u.id
        WHERE u.username = 'demo_worker' ORDER BY a.grid_code LIMIT 1""")).one()
    ring = session.execute(text("""
        SELECT ST_X(p.geom), ST_Y(p.geom) FROM grid g,
               ST_DumpPoints(ST_Segmentize(ST_ExteriorRing(ST_GeometryN(ST_Buffer(g.geom, -0.0003), 1)), 0.0002)) p
        WHERE g.code = :g AND g.valid_to IS NULL ORDER BY p.path"""), {"g": grid}).all()
    assert len(ring) >= 8, "the demo grid is too small to walk around"
    for k, points in enumerate((ring, ring[::-1])):
        start = PATROL_START + dt.timedelta(hours=3 * k)
        end = start + dt.timedelta(minutes=len(points))
        line = "LINESTRING(" + ", ".join(f"{x} {y}" for x, y in points) + ")"
        patrol_id = session.execute(text("""
            INSERT INTO patrol (district_code, worker_id, grid_code, started_at, ended_at, point_count, geom)
            VALUES (:d, :w, :g, :s, :e, :n, ST_GeomFromText(:line, 4490)) RETURNING id"""),
            {"d": DEMO_DISTRICT[0], "w": worker, "g": grid, "s": start, "e": end,
             "n": len(points) if k == 0 else 0, "line": line}).scalar_one()
        if k == 0:
            session.execute(text("""
                INSERT INTO patrol_point (patrol_id, district_code, at, geom)
                VALUES (:p, :d, :at, ST_SetSRID(ST_MakePoint(:x, :y), 4490))"""),
                [{"p": patrol_id, "d": DEMO_DISTRICT[0], "at": start + dt.timedelta(minutes=i), "x": x, "y": y}
                 for i, (x, y) in enumerate(points)])


@pytest.fixture(scope="session")
def maps_database_url(demo_database_url: str) -> Iterator[str]:
    """A copy of the demo with a kindergarten coverage run, incidents and two patrols; dropped afterwards."""
    url = copy_database(demo_database_url, prefix="wangge_maps")
    try:
        engine = make_engine(url)
        try:
            with transaction(engine) as session:
                with api_world.password_hashed_once():  # argon2 by design takes long: once per password
                    ensure_demo_users(session)
                _add_incidents(session)
                _add_patrols(session)
            with transaction(engine) as session:
                coverage_service.compute_coverage(session, district_code=DEMO_DISTRICT[0], types=["kindergarten"])
        finally:
            engine.dispose()
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def maps_env(maps_database_url: str) -> dict[str, str]:
    """The environment of a `wangge` command on the maps database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env["WANGGE_DATABASE_URL"] = maps_database_url
    return env

