"""gis.services.patrols on the API world: uploads stored atomically with a report, who may upload for whom,
coverage of grid A against hand-computed figures, the weekly table of missed grids, and the purge.

The world (tests/support/api_world.py) is built once for the module in a transaction that is
rolled back at the end; each test runs in a savepoint of its own. Figures: see patrol_tracks.py.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import api_world
import pytest
from helpers import count_rows, rolled_back_session
from patrol_tracks import GRID_A_COVERED_M, GRID_A_STREET_M, MAIN_ROAD_WALK, MONDAY, WEEK, town_geojson, town_gpx
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import CRSMismatch, InvalidInput, NotFound, PermissionDenied
from gis.services import patrols
from gis.services.users import SYSTEM, Principal

BAD = Path(__file__).resolve().parents[1] / "data" / "patrols"
A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C


@pytest.fixture(scope="module")
def world_db(engine) -> Iterator[tuple[Session, dict]]:
    with rolled_back_session(engine) as session:
        yield session, api_world.build_world(session)


@pytest.fixture
def s(world_db) -> Iterator[Session]:
    session, _ = world_db
    savepoint = session.begin_nested()
    try:
        yield session
    finally:
        savepoint.rollback()


@pytest.fixture
def world(world_db) -> dict:
    return world_db[1]


def who(world: dict, username: str) -> Principal:
    role, grids = api_world.USERS[username]
    return Principal(user_id=world["users"][username], username=username, role=role, district_code="320199",
                     grid_codes=frozenset(grids))


# --- upload -------------------------------------------------------------------------------


def test_a_worker_uploads_a_gpx_for_their_grid_stored_with_points_in_utc(s: Session, world: dict) -> None:
    result = patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK), uploader=who(world, "worker_a"),
                                   source_name="monday.gpx")
    patrol, report = result["patrol"], result["report"]
    assert patrol["grid_code"] == A and patrol["worker"] == "worker_a" and patrol["week"] == WEEK
    assert report["input_points"] == report["kept_points"] == 36 and report["removed_points"] == 0
    assert report["share_in_grid"] == 1.0 and report["format"] == "gpx"
    row = s.execute(text("""SELECT point_count, length_m, started_at, ended_at, ST_NPoints(geom), source_name,
                                   (SELECT count(*) FROM patrol_point WHERE patrol_id = p.id)
                            FROM patrol p WHERE id = :i"""), {"i": patrol["id"]}).one()
    assert row[0] == row[4] == row[6] == 36 and row[5] == "monday.gpx"
    assert row[1] == pytest.approx(350.0, abs=0.5)
    assert row[2] == MONDAY and row[3] == MONDAY + dt.timedelta(seconds=350)
    audit = s.execute(text("SELECT username, action, detail FROM audit_log WHERE entity = 'patrol' "
                           "AND entity_id = :i"), {"i": str(patrol["id"])}).one()
    assert audit[:2] == ("worker_a", "upload") and audit[2]["kept_points"] == 36


def test_geojson_and_a_cleaning_report_naming_dropped_points(s: Session, world: dict) -> None:
    data = town_geojson(MAIN_ROAD_WALK).replace(b'"coordTimes": ["2026-10-05T01:00:00Z"',
                                                b'"coordTimes": ["2026-10-05T01:00:10Z"')
    result = patrols.import_patrol(s, data, uploader=who(world, "leader_a"), worker="worker_a", grid_code=A,
                                   source_name="walk.geojson")
    report = result["report"]
    assert report["format"] == "geojson" and report["removed_points"] == 1
    assert report["removals"][0]["reason"] == "duplicate_time" and report["removals"][0]["points"] == [2]
    assert result["patrol"]["point_count"] == 35


@pytest.mark.parametrize(("name", "error", "words"), [
    ("bad_no_times.gpx", InvalidInput, "no timestamps"),
    ("bad_truncated.gpx", InvalidInput, "line"),
    ("bad_truncated.geojson", InvalidInput, "bad_truncated.geojson"),
    ("bad_projected.geojson", CRSMismatch, "bad_projected.geojson"),
    ("bad_swapped.gpx", CRSMismatch, "bad_swapped.gpx"),
    ("bad_kml.gpx", InvalidInput, "bad_kml.gpx"),
])
def test_bad_tracks_are_refused_naming_the_file_and_leave_nothing(s: Session, world: dict, name: str, error: type,
                                                                   words: str) -> None:
    before = (count_rows(s, "patrol"), count_rows(s, "patrol_point"), count_rows(s, "audit_log"))
    with pytest.raises(error) as caught:
        patrols.import_patrol(s, (BAD / name).read_bytes(), uploader=who(world, "worker_a"), source_name=name)
    assert words in str(caught.value) and name in str(caught.value)
    assert (count_rows(s, "patrol"), count_rows(s, "patrol_point"), count_rows(s, "audit_log")) == before


def test_teleporting_points_are_cleaned_and_reported(s: Session, world: dict) -> None:
    lines = town_gpx(MAIN_ROAD_WALK).decode().splitlines()
    tenth = [i for i, ln in enumerate(lines) if "<trkpt" in ln][9]
    # Point 10 jumps 0.01 degrees (~1.1 km) north for one fix: a GPS glitch.
    lines[tenth] = re.sub(r'lat="([0-9.]+)"', lambda m: f'lat="{float(m.group(1)) + 0.01:.7f}"', lines[tenth])
    result = patrols.import_patrol(s, "\n".join(lines).encode(), uploader=who(world, "worker_a"),
                                   source_name="glitch.gpx")
    assert [r["reason"] for r in result["report"]["removals"]] == ["teleport"]
    assert result["report"]["removals"][0]["points"] == [10]


def test_a_file_over_the_size_cap_is_refused_before_reading(s: Session, world: dict) -> None:
    with pytest.raises(InvalidInput, match=r"big.gpx: 2,001 bytes; tracks up to 2,000 bytes"):
        patrols.import_patrol(s, b"<" * 2001, uploader=who(world, "worker_a"), source_name="big.gpx",
                              max_bytes=2000)
    with pytest.raises(InvalidInput, match="empty"):
        patrols.import_patrol(s, b"", uploader=who(world, "worker_a"), source_name="none.gpx")


def test_who_may_upload_for_whom(s: Session, world: dict) -> None:
    track = town_gpx(MAIN_ROAD_WALK)
    # Another worker, or a worker outside the leader's grids, reads as no such worker (issue 23).
    with pytest.raises(NotFound, match="grid workers upload their own"):
        patrols.import_patrol(s, track, uploader=who(world, "worker_a"), worker="worker_b")
    with pytest.raises(PermissionDenied, match="grid 320199001001002"):
        patrols.import_patrol(s, track, uploader=who(world, "worker_a"), grid_code=B)
    for grid in (A, B):
        with pytest.raises(NotFound, match="leaders their grids' workers"):
            patrols.import_patrol(s, track, uploader=who(world, "leader_a"), worker="worker_b", grid_code=grid)
    with pytest.raises(PermissionDenied, match="their grids are 320199001001001"):
        patrols.import_patrol(s, track, uploader=who(world, "leader_a"), worker="leader_a", grid_code=B)
    with pytest.raises(InvalidInput, match="name the worker"):
        patrols.import_patrol(s, track, uploader=who(world, "admin"))
    with pytest.raises(InvalidInput, match="patrol tracks belong to grid workers"):
        patrols.import_patrol(s, track, uploader=SYSTEM, worker="viewer", grid_code=A)
    with pytest.raises(NotFound, match="no such user"):
        patrols.import_patrol(s, track, uploader=SYSTEM, worker="nobody")
    with pytest.raises(NotFound, match="no current grid 320199001001009"):
        patrols.import_patrol(s, track, uploader=SYSTEM, worker="worker_a", grid_code="320199001001009")
    # The admin (or the CLI's system principal) names the worker; the grid defaults to their only one.
    done = patrols.import_patrol(s, track, uploader=SYSTEM, worker=world["users"]["worker_a"])
    assert done["patrol"]["grid_code"] == A
    # A track walked in another grid is stored, with a warning in the report.
    elsewhere = patrols.import_patrol(s, town_gpx([(450, 50), (650, 50)]), uploader=SYSTEM, worker="worker_a")
    assert elsewhere["report"]["share_in_grid"] == 0.0
    assert "check that the patrol was for this grid" in elsewhere["report"]["messages"][-1]


# --- coverage -----------------------------------------------------------------------------


def test_grid_coverage_matches_the_hand_computed_figures(s: Session, world: dict) -> None:
    empty = patrols.patrol_coverage(s, grid_code=A, week=WEEK)
    assert empty["patrols"] == 0 and empty["missed"] and empty["summary"]["households_covered"] == 0
    patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK), uploader=who(world, "worker_a"))
    # A patrol of grid A the week after and one of grid B the same week do not count.
    patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK, start=MONDAY + dt.timedelta(days=7)),
                          uploader=who(world, "worker_a"))
    patrols.import_patrol(s, town_gpx([(450, 140), (650, 140)]), uploader=who(world, "worker_b"))

    cov = patrols.patrol_coverage(s, grid_code=A, week=WEEK)
    summary = cov["summary"]
    assert cov["patrols"] == 1 and not cov["missed"]
    assert [(b["name"], b["households"], b["covered"], b["nearest_m"]) for b in cov["buildings"]] == \
        [("N", 120, True, pytest.approx(20.0, abs=0.05))]
    assert summary["household_share"] == 1.0
    assert summary["street_length_m"] == pytest.approx(GRID_A_STREET_M, abs=0.5)
    assert summary["street_covered_m"] == pytest.approx(GRID_A_COVERED_M, abs=0.5)
    assert summary["segments_total"] == 4 and summary["segments_covered"] == 1
    covered = [seg for seg in cov["segments"] if seg["covered"]]
    assert len(covered) == 1 and covered[0]["highway"] == "primary"
    assert covered[0]["length_m"] == pytest.approx(401, abs=0.5)
    assert cov["period"]["start"] == "2026-10-04T16:00:00+00:00"  # Monday 00:00 in Beijing

    # The same figures from start and end dates (local days, the end day included).
    by_dates = patrols.patrol_coverage(s, grid_code=A, start=dt.date(2026, 10, 5), end=dt.date(2026, 10, 11))
    assert by_dates["summary"] == summary and by_dates["period"]["week"] is None
    # N's nearest pass is 20 m away: a 19 m radius leaves it uncovered.
    tight = patrols.patrol_coverage(s, grid_code=A, week=WEEK, building_radius_m=19.0)
    assert tight["summary"]["households_covered"] == 0


def test_period_and_grid_errors_name_what_is_wrong(s: Session) -> None:
    with pytest.raises(InvalidInput, match="2026-W60"):
        patrols.patrol_coverage(s, grid_code=A, week="2026-W60")
    with pytest.raises(InvalidInput, match="not both"):
        patrols.patrol_coverage(s, grid_code=A, week=WEEK, start=dt.date(2026, 10, 5))
    with pytest.raises(InvalidInput, match="both start and end"):
        patrols.patrol_coverage(s, grid_code=A, start=dt.date(2026, 10, 5))
    with pytest.raises(InvalidInput, match="15 digits"):
        patrols.patrol_coverage(s, grid_code="12", week=WEEK)
    with pytest.raises(NotFound, match="no current grid"):
        patrols.patrol_coverage(s, grid_code="320199001001009", week=WEEK)
    with pytest.raises(NotFound, match="no current grids in 999999"):
        patrols.weekly_coverage(s, district_code="999999", week=WEEK)


def test_weekly_table_lists_the_grids_that_missed_the_patrol(s: Session, world: dict) -> None:
    patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK), uploader=who(world, "worker_a"))
    # Sunday 23:30 UTC is Monday 07:30 in Beijing: the next week, so grid B misses this one.
    sunday_late = MONDAY + dt.timedelta(days=6, hours=22, minutes=30)
    patrols.import_patrol(s, town_gpx([(450, 140), (650, 140)], start=sunday_late), uploader=who(world, "worker_b"))
    weekly = patrols.weekly_coverage(s, district_code="320199", week=WEEK)
    assert weekly["missed"] == [B, C]
    rows = {r["grid_code"]: r for r in weekly["grids"]}
    assert (rows[A]["patrols"], rows[A]["households_covered"], rows[A]["household_share"]) == (1, 120, 1.0)
    assert (rows[B]["households_total"], rows[B]["households_covered"], rows[B]["missed"]) == (60, 0, True)
    assert rows[C]["households_total"] == 40
    # Households in buildings walked past (issue 18's name); the old keys stay one release, deprecated.
    assert weekly["summary"] == {"grids": 3, "patrolled": 1, "missed": 2, "patrols": 1, "households_total": 220,
                                 "households_walked_past": 120, "household_walked_past_share": round(120 / 220, 4),
                                 "households_covered": 120, "household_share": round(120 / 220, 4)}
    nxt = patrols.weekly_coverage(s, community_code="320199001001", week="2026-W42")
    assert nxt["missed"] == [A] and [r["grid_code"] for r in nxt["grids"]] == [A, B]


# --- retention ----------------------------------------------------------------------------


def test_purge_deletes_old_patrols_and_their_points_keeps_younger_ones_and_audits(s: Session, world: dict) -> None:
    old = patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK), uploader=who(world, "worker_a"))["patrol"]["id"]
    young = patrols.import_patrol(s, town_gpx(MAIN_ROAD_WALK, start=MONDAY + dt.timedelta(days=20)),
                                  uploader=who(world, "worker_a"))["patrol"]["id"]
    now = MONDAY + dt.timedelta(days=30)  # old is 30 days old, young 10; the world's own patrols are younger
    dry = patrols.purge_patrols(s, retention_days=15, now=now, dry_run=True)
    assert (dry["patrols"], dry["points"], dry["audit_id"]) == (1, 36, None)
    assert s.execute(text("SELECT count(*) FROM patrol WHERE id = :i"), {"i": old}).scalar_one() == 1

    done = patrols.purge_patrols(s, retention_days=15, now=now)
    assert (done["patrols"], done["points"]) == (1, 36)
    assert s.execute(text("SELECT id FROM patrol WHERE id IN (:o, :y)"), {"o": old, "y": young}).scalars().all() \
        == [young]
    assert s.execute(text("SELECT count(*) FROM patrol_point WHERE patrol_id = :i"), {"i": old}).scalar_one() == 0
    assert s.execute(text("SELECT count(*) FROM patrol_point WHERE patrol_id = :i"), {"i": young}).scalar_one() == 36
    audit = s.execute(text("SELECT username, action, entity, district_code, detail FROM audit_log WHERE id = :i"),
                      {"i": done["audit_id"]}).one()
    assert audit[:4] == ("system", "purge", "patrol", "320199")
    assert audit[4]["patrols"] == 1 and audit[4]["retention_days"] == 15
    with pytest.raises(InvalidInput, match="1 or more"):
        patrols.purge_patrols(s, retention_days=0)


# --- the demo patrol ----------------------------------------------------------------------


def test_the_demo_patrol_coverage_equals_a_direct_postgis_count(demo_database_url: str) -> None:
    """Done when: a demo track on the demo district gives a coverage figure checked against one computed apart.

    The independent figure: households of the grid's buildings (point on surface in the grid)
    that PostGIS finds within 30 m of the stored track line, measured in the Gauss-Krüger zone
    (EPSG:4549) and, as a cross-check bracket, on the ellipsoid (geography, 29.9 to 30.1 m).
    """
    from gis.db.engine import make_engine
    from gis.services.demo import demo_patrol, ensure_demo_users

    engine = make_engine(demo_database_url)
    try:
        with rolled_back_session(engine) as s:
            ensure_demo_users(s)
            result = demo_patrol(s, start=MONDAY)
            assert result["created"] and result["week"] == WEEK and result["patrols_that_week"] == 1
            by_hand = s.execute(text("""
                WITH b AS (SELECT b.households, b.geom FROM building b JOIN grid g
                             ON g.code = :g AND g.valid_to IS NULL AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))),
                     p AS (SELECT geom FROM patrol WHERE id = :p)
                SELECT count(*), sum(b.households),
                       count(*) FILTER (WHERE ST_DWithin(ST_Transform(b.geom, 4549), ST_Transform(p.geom, 4549), 30)),
                       sum(b.households) FILTER (WHERE ST_DWithin(ST_Transform(b.geom, 4549),
                                                                  ST_Transform(p.geom, 4549), 30)),
                       sum(b.households) FILTER (WHERE ST_DWithin(b.geom::geography, p.geom::geography, 29.9)),
                       sum(b.households) FILTER (WHERE ST_DWithin(b.geom::geography, p.geom::geography, 30.1))
                FROM b, p"""), {"g": result["grid_code"], "p": result["patrol_id"]}).one()
            buildings, households, buildings_near, households_near, inner, outer = by_hand
            summary = result["summary"]
            assert (summary["buildings_total"], summary["households_total"]) == (buildings, households)
            assert (summary["buildings_covered"], summary["households_covered"]) == (buildings_near, households_near)
            assert inner <= summary["households_covered"] <= outer
            # An hour's walk covers some of the grid, not all of it: the figure says what is left.
            assert 0 < summary["household_share"] < 1
            assert summary["household_share"] == pytest.approx(households_near / households)
            # Street length within 20 m of the track, clipped to the grid (widened 1 m: boundary streets count),
            # by PostGIS buffers.
            street = s.execute(text("""
                WITH g AS (SELECT ST_Buffer(ST_Transform(geom, 4549), 1) AS geom FROM grid
                           WHERE code = :g AND valid_to IS NULL),
                     zone AS (SELECT ST_Buffer(ST_Transform(geom, 4549), 20) AS geom FROM patrol WHERE id = :p)
                SELECT sum(ST_Length(ST_Intersection(ST_Intersection(ST_Transform(e.geom, 4549), g.geom), zone.geom)))
                FROM walk_edge e, g, zone WHERE ST_Intersects(ST_Transform(e.geom, 4549), g.geom)"""),
                {"g": result["grid_code"], "p": result["patrol_id"]}).scalar_one()
            assert summary["street_covered_m"] == pytest.approx(street, rel=0.005)
            # A second run reports the stored patrol instead of walking again.
            again = demo_patrol(s, start=MONDAY)
            assert (again["created"], again["patrol_id"]) == (False, result["patrol_id"])
    finally:
        engine.dispose()
