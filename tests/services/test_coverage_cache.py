"""The coverage network cache: keyed by layer versions of every table the network reads, shared between
processes through coverage_network_cache, and giving the same answers from every layer."""

from __future__ import annotations

from collections.abc import Iterator

import coverage_town as town
import numpy as np
import pytest
from helpers import rolled_back_session
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import make_engine
from gis.services import coverage as coverage_service
from gis.services.coverage import cache as coverage_cache


@pytest.fixture
def ids(db: Session) -> dict:
    coverage_service.clear_cache()
    return town.store_town(db)


def distances(db: Session, **kwargs: object) -> tuple[dict[int, float | None], dict]:
    """Each building's kindergarten distance in a stored run (search out to five radii), and the report."""
    report = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"],
                                               limit_factor=5.0, **kwargs)
    rows = db.execute(text("SELECT building_id, distance_m FROM building_coverage WHERE run_id = :r"),
                      {"r": report["run_id"]}).all()
    return {int(b): d for b, d in rows}, report


def on_own_connection(db: Session, sql: str, params: tuple) -> None:
    """Run ``sql`` committed at once, as another process would (the cache writes its rows so)."""
    import psycopg

    from gis.db.engine import libpq_url

    url = db.connection().engine.url.render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql, params)


def forget_shared(db: Session, district_code: str) -> None:
    """Nothing cached anywhere: not in this process, not in the shared table."""
    coverage_service.clear_cache()
    on_own_connection(db, "DELETE FROM coverage_network_cache WHERE district_code = %s", (district_code,))


def fresh_distances(db: Session) -> dict[int, float | None]:
    """The same, prepared from the tables with nothing cached anywhere (what the cached answer must equal)."""
    forget_shared(db, town.DISTRICT)
    found, report = distances(db)
    assert report["network_source"] == "prepared"
    return found


def test_an_in_place_edit_of_a_road_cost_changes_the_key_and_the_next_run_walks_it(db: Session, ids: dict) -> None:
    before, first = distances(db)
    assert before[ids["Q"]] == pytest.approx(437.0, abs=0.1)
    key = coverage_cache.network_key(db, town.DISTRICT)
    again, second = distances(db)
    assert (first["network_source"], second["network_source"]) == ("prepared", "memory") and again == before
    # D-B (Q's gate joins it 150 m from B) made 100 m dearer end to end, edited in place: same row, same id.
    db.execute(text("UPDATE walk_edge SET cost = length_m + 100, reverse_cost = length_m + 100 "
                    "WHERE source = :d AND target = :b"), {"d": ids["nodes"][town.D], "b": ids["nodes"][town.B]})
    assert coverage_cache.network_key(db, town.DISTRICT) != key
    after, third = distances(db)
    assert third["network_source"] == "prepared"
    assert after[ids["Q"]] == pytest.approx(55 + 40 + 150 * 300 / 200 + 180 + 12, abs=0.1)  # 512 m
    assert after == fresh_distances(db)


def test_a_stored_run_is_stale_once_what_it_walked_is_edited_in_place(db: Session, ids: dict) -> None:
    """The planner's figures say so when a road changed under them, not only after a re-import or a facility change."""
    from gis.progress import noop_progress
    from gis.services.coverage import compute, runs

    _, first = distances(db)
    run_id = first["run_id"]
    latest = runs.latest_run(db, town.DISTRICT)
    assert latest is not None and latest["run_id"] == run_id and latest["stale"] is False
    assert runs.run_report(db, run_id)["stale"] is False
    db.execute(text("UPDATE walk_edge SET cost = length_m + 100, reverse_cost = length_m + 100 "
                    "WHERE source = :d AND target = :b"), {"d": ids["nodes"][town.D], "b": ids["nodes"][town.B]})
    latest = runs.latest_run(db, town.DISTRICT)
    assert latest is not None and latest["run_id"] == run_id and latest["stale"] is True
    assert runs.run_report(db, run_id)["stale"] is True
    assert runs.coverage_summary(db, run_id=run_id)["stale"] is True
    listed, _ = runs.list_runs(db, district_code=town.DISTRICT)
    assert [r["stale"] for r in listed if r["id"] == run_id] == [True]
    # The next question computes anew instead of answering from the stale run.
    new_id, computed = compute.run_for(db, town.DISTRICT, "kindergarten", noop_progress)
    assert computed and new_id != run_id
    fresh = runs.latest_run(db, town.DISTRICT)
    assert fresh is not None and fresh["run_id"] == new_id and fresh["stale"] is False
    # A run stored before migration 0020 kept no key: judged by the district's version alone, as before.
    db.execute(text("UPDATE coverage_run SET network_key = NULL WHERE id = :r"), {"r": run_id})
    assert runs.run_report(db, run_id)["stale"] is False


def test_an_in_place_edit_of_a_road_geometry_is_walked(db: Session, ids: dict) -> None:
    before, _ = distances(db)
    # D-B moved about 28 m east in place: Q's gate (40 m from it before) now joins C-D, 50 m north,
    # and walks C-D to D and D-B down to B: 55 + 50 + 40 + 200 + 180 + 12.
    db.execute(text("UPDATE walk_edge SET geom = ST_Translate(geom, 0.0003, 0) WHERE source = :d AND target = :b"),
               {"d": ids["nodes"][town.D], "b": ids["nodes"][town.B]})
    after, report = distances(db)
    assert report["network_source"] == "prepared"
    assert before[ids["Q"]] == pytest.approx(437.0, abs=0.1) and after[ids["Q"]] == pytest.approx(537.0, abs=0.1)
    assert after == fresh_distances(db)


def test_an_in_place_edit_of_a_barrier_is_walked(db: Session, ids: dict) -> None:
    before, _ = distances(db)
    # The river moved about 144 m south, past the footway: R now joins G-H (8 m) on its own bank:
    # 8 + 300 to H + 150 up to B + 180 along the main road + 12 to F2 (F1, round by A, is 783 m).
    db.execute(text("UPDATE barrier SET geom = ST_Translate(geom, 0, -0.0013) WHERE district_code = :d"),
               {"d": town.DISTRICT})
    after, report = distances(db)
    assert report["network_source"] == "prepared"
    assert before[ids["R"]] == pytest.approx(843.0, abs=0.1) and after[ids["R"]] == pytest.approx(650.0, abs=0.1)
    assert after == fresh_distances(db)


def test_an_in_place_edit_of_a_gate_is_walked(db: Session, ids: dict) -> None:
    before, _ = distances(db)
    # The compound's gate moved in place from its east side (560, 150) to its north side (500, 190):
    # Q now leaves north onto C-D and walks round by D.
    gate = town._lonlat([town.p(500, 190)])[0]
    db.execute(text("UPDATE compound_gate SET geom = ST_GeomFromEWKT(:g) WHERE district_code = :d"),
               {"g": f"SRID=4490;{gate.wkt}", "d": town.DISTRICT})
    after, report = distances(db)
    assert report["network_source"] == "prepared"
    # 35 m inside to the gate, 10 m to C-D, 100 m to D, 200 m down D-B, 180 + 12 to F2.
    assert before[ids["Q"]] == pytest.approx(437.0, abs=0.1) and after[ids["Q"]] == pytest.approx(537.0, abs=0.1)
    assert after == fresh_distances(db)


def test_an_in_place_edit_of_a_node_is_seen(db: Session, ids: dict) -> None:
    before, _ = distances(db)
    key = coverage_cache.network_key(db, town.DISTRICT)
    # Nodes D and B swap positions in place: D-B is then read from B's end, so Q's gate, 150 m from
    # the real B, sits 50 m from what the network now calls B.
    d, b = ids["nodes"][town.D], ids["nodes"][town.B]
    db.execute(text("UPDATE walk_node n SET geom = o.geom FROM walk_node o WHERE (n.id, o.id) IN ((:d, :b), (:b, :d))"),
               {"d": d, "b": b})
    assert coverage_cache.network_key(db, town.DISTRICT) != key
    after, report = distances(db)
    assert report["network_source"] == "prepared"
    assert after[ids["Q"]] == pytest.approx(55 + 40 + 50 + 180 + 12, abs=0.1)  # 337 m, was 437
    assert before[ids["Q"]] == pytest.approx(437.0, abs=0.1)
    assert after == fresh_distances(db)


def test_households_edited_in_place_change_the_covered_count(db: Session, ids: dict) -> None:
    first = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    assert first["types"]["kindergarten"]["district"]["households_covered"] == 120
    db.execute(text("UPDATE building SET households = 150 WHERE id = :n"), {"n": ids["N"]})
    second = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    assert second["network_source"] == "prepared"
    assert second["types"]["kindergarten"]["district"]["households_covered"] == 150


def test_a_resident_moving_into_an_empty_building_makes_it_residential(db: Session, ids: dict) -> None:
    empty = db.execute(text(
        "INSERT INTO building (district_code, name, households, households_source, geom) VALUES "
        "(:d, 'S', 0, 'recorded', ST_GeomFromEWKT(:g)) RETURNING id"),
        {"d": town.DISTRICT, "g": town._ewkt(town._lonlat([town.diamond(100, 60, 5)])[0], True)}).scalar_one()
    first = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    assert first["buildings"] == 3  # S has neither households nor residents
    key = coverage_cache.network_key(db, town.DISTRICT)
    # Editing a resident's name leaves the network alone; moving them to S does not.
    db.execute(text("UPDATE resident SET name = '改名' WHERE building_id = :q"), {"q": ids["Q"]})
    assert coverage_cache.network_key(db, town.DISTRICT) == key
    db.execute(text("UPDATE resident SET building_id = :s WHERE id = (SELECT min(id) FROM resident "
                    "WHERE building_id = :q)"), {"s": empty, "q": ids["Q"]})
    assert coverage_cache.network_key(db, town.DISTRICT) != key
    second = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"], store=False)
    assert second["network_source"] == "prepared" and second["buildings"] == 4


def test_a_new_process_reads_the_shared_network_and_answers_the_same(db: Session, ids: dict) -> None:
    first, report = distances(db)
    assert report["network_source"] == "prepared"
    key = coverage_cache.network_key(db, town.DISTRICT)
    stored = coverage_cache.shared_networks(db, town.DISTRICT)
    assert stored[0]["network_key"] == key and stored[0]["bytes"] > 1000  # the newest; an older test's may follow
    coverage_service.clear_cache()  # as a second server process finds it: nothing in memory
    second, report = distances(db)
    assert report["network_source"] == "shared" and second == first
    # Straight-line mode needs the footprints, which the shared archive decodes on demand.
    coverage_service.clear_cache()
    straight = coverage_service.compute_coverage(db, district_code=town.DISTRICT, types=["kindergarten"],
                                                 mode="straight_line", store=False)
    assert straight["network_source"] == "shared"
    assert straight["types"]["kindergarten"]["district"]["households_covered"] == 220


@pytest.fixture
def demo(demo_database_url: str) -> Iterator[Session]:
    engine = make_engine(demo_database_url)
    try:
        with rolled_back_session(engine) as session:
            yield session
    finally:
        engine.dispose()


def demo_answers(session: Session) -> tuple[dict, dict, str]:
    """Per type: covered households and every building's distance; the gap list of kindergartens; the source."""
    report = coverage_service.compute_coverage(session, district_code="320102")
    covered = {code: entry["district"]["households_covered"] for code, entry in report["types"].items()}
    rows = session.execute(text("SELECT type_code, building_id, distance_m, facility_id FROM building_coverage "
                                "WHERE run_id = :r ORDER BY type_code, building_id"), {"r": report["run_id"]}).all()
    gaps = coverage_service.coverage_gaps(session, district_code="320102", type_code="kindergarten",
                                          run_id=report["run_id"])
    gap_list = [(g["rank"], g["households"], g["target_population"], g["building_ids"]) for g in gaps["gaps"]]
    return {"covered": covered, "rows": [tuple(r) for r in rows]}, {"gaps": gap_list}, report["network_source"]


def test_the_demo_gives_the_same_coverage_and_gaps_prepared_shared_and_in_memory(demo: Session) -> None:
    forget_shared(demo, "320102")
    prepared, prepared_gaps, source = demo_answers(demo)
    assert source == "prepared"
    assert sum(prepared["covered"].values()) > 0 and len(prepared_gaps["gaps"]) > 0
    memory, memory_gaps, source = demo_answers(demo)
    assert source == "memory"
    coverage_service.clear_cache()
    shared, shared_gaps, source = demo_answers(demo)
    assert source == "shared"
    assert prepared == memory == shared
    assert prepared_gaps == memory_gaps == shared_gaps


def test_a_damaged_shared_archive_is_prepared_again(db: Session, ids: dict) -> None:
    first, _ = distances(db)
    key = coverage_cache.network_key(db, town.DISTRICT)
    # The shared row damaged (as by a disk fault or a foreign writer), committed at once.
    on_own_connection(db, "UPDATE coverage_network_cache SET payload = %s WHERE district_code = %s AND "
                          "network_key = %s", (b"not an archive", town.DISTRICT, key))
    coverage_service.clear_cache()
    second, report = distances(db)
    assert report["network_source"] == "prepared" and second == first
    shared = coverage_cache.shared_networks(db, town.DISTRICT)
    assert shared[0]["network_key"] == key and shared[0]["bytes"] > 1000  # written again, whole


def test_the_archive_round_trips_every_array_exactly(db: Session, ids: dict) -> None:
    from gis.coverage import network_arrays

    prepared = coverage_cache.prepare_district(db, town.DISTRICT, reload=True)
    graph = prepared.graph
    back = network_arrays.unpack_network(network_arrays.from_bytes(network_arrays.to_bytes(
        network_arrays.pack_network(graph))))
    assert (back.graph != graph.graph).nnz == 0
    for name in ("access_node", "access_offset", "point_key", "seg_edge", "node_xy"):
        assert np.array_equal(getattr(back, name), getattr(graph, name)), name
    assert all(a.equals_exact(b, 0.0) for a, b in zip(back.network.edge_geom, graph.network.edge_geom, strict=True))
    assert all(a.equals_exact(b, 0.0) for a, b in zip(back.building_entrance, graph.building_entrance, strict=True))
    assert back.network.crs == graph.network.crs and back.network.components == graph.network.components


# A second Python process asks the demo district's kindergarten coverage, storing nothing (later tests
# copy the demo database and read its runs), and prints where its network came from and the figures.
ASK = """
import json, sys
from gis.db.engine import make_engine, transaction
from gis.services import coverage
engine = make_engine(sys.argv[1])
with transaction(engine) as session:
    report = coverage.compute_coverage(session, district_code="320102", types=["kindergarten"], store=False)
    session.rollback()
kg = report["types"]["kindergarten"]
print(json.dumps({"source": report["network_source"], "district": kg["district"], "communities": kg["communities"]}))
"""


def test_two_processes_prepare_the_demo_network_once(demo_database_url: str) -> None:
    """Two processes in a row, nothing stored: the second reads the network the first prepared."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    engine = make_engine(demo_database_url)
    try:
        with rolled_back_session(engine) as session:
            forget_shared(session, "320102")
    finally:
        engine.dispose()
    answers = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", ASK, demo_database_url], capture_output=True, text=True,
                              timeout=600, cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    assert [a["source"] for a in answers] == ["prepared", "shared"]
    assert answers[0]["district"] == answers[1]["district"] and answers[0]["communities"] == answers[1]["communities"]
    assert answers[0]["district"]["households_covered"] > 0
