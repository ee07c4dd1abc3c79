"""The database restarted in the middle of an import, a suggestion and a case transition.

Each operation is first run once and rolled back to learn which statements it sends; then it is
run for real with the server stopped right before one of them (the middle write, the last write,
or the commit), by a clean shutdown or a crash. Every time the operation must fail with a clear
error and the database, once back, must hold exactly what it held before; a retry then succeeds.
"""

from __future__ import annotations

import re
from pathlib import Path

import api_world
import coverage_town as town
import pytest
from faults import changed, count_statements, fault_settings, snapshot
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from gis.db.engine import make_engine
from gis.services import boundaries as boundary_service
from gis.services import cases as case_service
from gis.services import districts as district_service
from gis.services import partition as partition_service
from gis.services.residents import Reader
from gis.services.users import Principal

REPO = Path(__file__).resolve().parents[2]
NANJING = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
STREETS = REPO / "data" / "boundaries" / "xinjiekou_streets.geojson"
WRITES = r"^\s*(INSERT|UPDATE|DELETE|COPY)\b"


def run_committed(engine: Engine, operation) -> object:
    with Session(engine) as session, session.begin():
        return operation(session)


def interrupt(engine: Engine, outage, operation, *, where: str, mode: str) -> str:
    """Run ``operation`` with the server stopped before its ``where`` write ("middle", "last" or "commit")."""
    if where == "commit":
        fault = outage(engine, at_commit=True, mode=mode)
        with pytest.raises(OperationalError):
            run_committed(engine, operation)
        assert fault.fired_on == "COMMIT"
        return fault.fired_on
    sent = count_statements(engine, operation)
    writes = [i for i, statement in enumerate(sent, start=1) if re.search(WRITES, statement, re.IGNORECASE)]
    assert writes, sent
    # "middle": halfway through the write phase (first write to last statement; rows written with
    # COPY are not statements here, but the statements between them are); "last": the last write.
    at = writes[-1] if where == "last" else writes[0] + (len(sent) - writes[0] + 1) // 2
    assert where == "last" or at > writes[0] or len(sent) == writes[0], "no statement after the first write"
    fault = outage(engine, at=at, mode=mode)
    with pytest.raises(OperationalError):
        run_committed(engine, operation)
    assert fault.fired_on is not None
    return fault.fired_on


def check_clean_failure_then_retry(engine: Engine, running, outage, operation, *, where: str, mode: str):
    before = snapshot(engine)
    fired_on = interrupt(engine, outage, operation, where=where, mode=mode)
    running.start()
    engine.dispose()  # the old pool's connections died with the server; pre-ping would also catch them
    assert changed(before, snapshot(engine)) == {}, f"half-written after an outage at: {fired_on}"
    return run_committed(engine, operation)


@pytest.mark.parametrize(("where", "mode"), [("middle", "fast"), ("last", "immediate"), ("commit", "immediate")])
def test_a_boundary_import_interrupted_leaves_nothing_and_can_be_rerun(fault_db, running, outage, where, mode):
    engine = make_engine(fault_db)
    try:
        report = check_clean_failure_then_retry(
            engine, running, outage,
            lambda s: boundary_service.import_boundaries(s, STREETS, level="street", reason="fault test"),
            where=where, mode=mode)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM street WHERE valid_to IS NULL")).scalar_one() == \
                report["imported"] > 0
    finally:
        engine.dispose()


def test_an_osm_import_crashed_in_the_middle_leaves_no_district(fault_db, running, outage):
    engine = make_engine(fault_db)
    settings = fault_settings()
    try:
        report = check_clean_failure_then_retry(
            engine, running, outage,
            lambda s: district_service.import_osm(s, NANJING, district_code="320102", name="玄武区",
                                                  settings=settings),
            where="middle", mode="immediate")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM building WHERE district_code = '320102'")).scalar_one() \
                == report["buildings"] > 1000
    finally:
        engine.dispose()


@pytest.mark.parametrize(("where", "mode"), [("middle", "fast"), ("commit", "immediate")])
def test_a_grid_suggestion_interrupted_stores_no_plan(world_db, running, outage, where, mode):
    url, _world = world_db
    engine = make_engine(url)
    settings = fault_settings()
    plans = text("SELECT id FROM plan WHERE scope_code = :c ORDER BY id")
    try:
        with engine.connect() as conn:
            before = conn.scalars(plans, {"c": town.NORTH}).all()
        result = check_clean_failure_then_retry(
            engine, running, outage,
            lambda s: partition_service.suggest_grids(s, settings, community_code=town.NORTH, lo=1, hi=400),
            where=where, mode=mode)
        with engine.connect() as conn:
            assert conn.scalars(plans, {"c": town.NORTH}).all() == [*before, result["plan_id"]]
            assert conn.execute(text("SELECT count(*) FROM plan_unit WHERE plan_id = :p"),
                                {"p": result["plan_id"]}).scalar_one() == len(result["units"]) > 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(("where", "mode"), [("middle", "fast"), ("last", "immediate"), ("commit", "fast")])
def test_a_case_transition_interrupted_keeps_the_case_and_its_history(world_db, running, outage, where, mode):
    url, world = world_db
    engine = make_engine(url)
    settings = fault_settings()
    users = world["users"]
    worker = Principal(user_id=users["worker_a"], username="worker_a", role="grid_worker",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    leader = Principal(user_id=users["leader_a"], username="leader_a", role="grid_leader",
                       district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    try:
        case = run_committed(engine, lambda s: case_service.report_incident(
            s, worker, settings=settings, point=_lonlat(300, 60), category_code="E0101", description="路边垃圾"))
        incident_id, version = case["incident"]["id"], case["incident"]["version"]
        answer = check_clean_failure_then_retry(
            engine, running, outage,
            lambda s: case_service.act_on_incident(s, Reader(leader), incident_id, action="register",
                                                   expected_version=version, settings=settings),
            where=where, mode=mode)
        assert answer["incident"]["status"] == "registered"
        with engine.connect() as conn:
            events = conn.scalars(text("SELECT action FROM incident_event WHERE incident_id = :i ORDER BY id"),
                                  {"i": incident_id}).all()
        assert events == ["report", "register"]
    finally:
        engine.dispose()


def _lonlat(x: float, y: float) -> tuple[float, float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return (pt.x, pt.y)


def test_the_digest_sees_a_changed_row(fault_db):
    """The snapshot the tests above rely on notices a single changed value, not just a changed count."""
    engine = make_engine(fault_db)
    try:
        before = snapshot(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE facility_type SET radius_m = radius_m + 1 "
                              "WHERE code = (SELECT min(code) FROM facility_type)"))
        assert set(changed(before, snapshot(engine))) == {"facility_type"}
    finally:
        engine.dispose()
