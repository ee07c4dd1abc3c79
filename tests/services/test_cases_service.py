"""The case loop as services (what the API and the CLI call), with fixed times: deadlines across the
National Day holiday and make-up workdays, automatic urging (the clock keeps running), routing in SQL, figures.

Each test builds the API world (tests/support/api_world.py) in its rolled-back transaction.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import api_world
import coverage_town as town
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.services import cases as case_service
from gis.services.residents import Reader
from gis.services.users import Principal
from gis.settings import Settings

SH = ZoneInfo("Asia/Shanghai")
SETTINGS = Settings(database_url=None)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def point(x: float, y: float) -> tuple[float, float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return pt.x, pt.y


@pytest.fixture
def world(db: Session) -> dict:
    ids = api_world.build_world(db)
    users = ids["users"]
    ids["leader"] = Principal(user_id=users["leader_a"], username="leader_a", role="grid_leader",
                              district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    ids["worker"] = Principal(user_id=users["worker_a"], username="worker_a", role="grid_worker",
                              district_code=town.DISTRICT, grid_codes=frozenset({api_world.GRID_A}))
    return ids


def file(db: Session, world: dict, when: dt.datetime, **kw) -> dict:
    # 路灯 (C0106): 30 min to dispatch, 24 working hours to handle, 1 h to verify in the city's table.
    args = {"point": point(300, 60), "category_code": "C0106", **kw}
    return case_service.report_incident(db, world["worker"], settings=SETTINGS, at=when, **args)


def step(db: Session, world: dict, case: dict, who: str, action: str, when: dt.datetime, **kw) -> dict:
    done = case_service.act_on_incident(db, Reader(world[who]), case["id"], action=action,
                                        expected_version=case["version"], settings=SETTINGS, at=when, **kw)
    case["version"] = done["incident"]["version"]
    return done


def test_deadlines_cross_a_make_up_workday_and_the_national_day_holiday(db: Session, world: dict) -> None:
    # Reported Sat 27 Sep 2025 at 20:00; Sun 28 Sep was a make-up workday (调休上班): the 30 working
    # minutes to dispatch run 08:30-09:00 that Sunday, not on Monday.
    report = file(db, world, at(2025, 9, 27, 20, 0))
    case = report["incident"]
    assert dt.datetime.fromisoformat(case["due_at"]) == at(2025, 9, 28, 9, 0)
    step(db, world, case, "leader", "register", at(2025, 9, 30, 16, 50))
    # Dispatched Tue 30 Sep 17:00: 24 working hours are 0.5 h that day, nothing over the holiday of
    # 1-8 October, 7.5 h on Thu 9, Fri 10 and the make-up Saturday 11 October, 1 h on Mon 13 October.
    done = step(db, world, case, "leader", "dispatch", at(2025, 9, 30, 17, 0), handler_id=world["users"]["worker_a"])
    assert done["sla"]["stage"] == "handling" and done["sla"]["clock"] == "working"
    assert dt.datetime.fromisoformat(done["sla"]["due_at"]) == at(2025, 10, 13, 9, 30)
    stored = db.execute(text("SELECT due_at FROM incident WHERE id = :i"), {"i": case["id"]}).scalar_one()
    assert stored == at(2025, 10, 13, 9, 30)
    # An approved extension stops the clock: no due time while it runs.
    step(db, world, case, "worker", "accept", at(2025, 10, 9, 9, 0))
    step(db, world, case, "worker", "request_extension", at(2025, 10, 9, 10, 0))
    paused = step(db, world, case, "leader", "approve_extension", at(2025, 10, 9, 10, 30))
    assert paused["sla"]["status"] == "paused" and paused["incident"]["due_at"] is None


def test_an_urgent_case_counts_every_hour_even_on_a_holiday(db: Session, world: dict) -> None:
    case = file(db, world, at(2025, 10, 2, 22, 0), urgency="urgent")["incident"]
    assert dt.datetime.fromisoformat(case["due_at"]) == at(2025, 10, 2, 22, 10)


def test_automatic_urging_waits_for_the_holiday_to_end_acts_once_and_keeps_the_clock(db: Session,
                                                                                      world: dict) -> None:
    late = file(db, world, at(2025, 9, 30, 17, 20))["incident"]  # 10 working minutes left that day
    feedback = file(db, world, at(2025, 9, 29, 9, 0), point=point(100, 60), category_code="C0202")["incident"]
    for who, action, kw in [("leader", "register", {}), ("leader", "dispatch", {"handler_id":
                                                                                 world["users"]["worker_a"]}),
                            ("worker", "accept", {}), ("worker", "feedback", {})]:
        step(db, world, feedback, who, action, at(2025, 9, 29, 9, 5), **kw)
    # Wed 8 October is still the holiday: the 30 minutes are not used up; the verification is.
    early = case_service.urge_overdue(db, settings=SETTINGS, now=at(2025, 10, 8, 12, 0))
    assert [c["id"] for c in early] == [feedback["id"]]
    done = case_service.urge_overdue(db, settings=SETTINGS, now=at(2025, 10, 9, 9, 0))
    assert [(c["id"], c["status"], c["stage"]) for c in done] == [(late["id"], "reported", "dispatch")]
    assert dt.datetime.fromisoformat(done[0]["due_at"]) == at(2025, 10, 9, 8, 50)
    # Urging changes nothing of the case: status, version and due time stay, so it stays late.
    row = db.execute(text("SELECT status, version, due_at FROM incident WHERE id = :i"), {"i": late["id"]}).one()
    assert (row.status, row.version, row.due_at) == ("reported", 1, at(2025, 10, 9, 8, 50))
    event = db.execute(text("SELECT actor_id, actor_role, action, from_status, to_status, detail FROM incident_event "
                            "WHERE incident_id = :i ORDER BY id DESC LIMIT 1"), {"i": late["id"]}).one()
    assert (event.actor_id, event.actor_role, event.action, event.from_status, event.to_status) == \
        (None, "system", "urge", "reported", "reported")
    assert event.detail["automatic"] is True
    urging = db.execute(text("SELECT kind, actor_role, grid_code, level, stage, overdue FROM incident_urging "
                             "WHERE incident_id = :i"), {"i": late["id"]}).one()
    assert tuple(urging) == ("urge", "system", api_world.GRID_A, "grid", "dispatch", True)
    # Once per late stage run, however often the scheduler runs.
    assert case_service.urge_overdue(db, settings=SETTINGS, now=at(2025, 10, 9, 9, 0)) == []
    listed = case_service.overdue_incidents(db, None, settings=SETTINGS, now=at(2025, 10, 9, 9, 0))
    assert sorted((c["id"], c["sla"]["stage"], c["urged"]) for c in listed["overdue"]) == \
        sorted([(feedback["id"], "verification", 1), (late["id"], "dispatch", 1)])


def test_routing_in_sql(db: Session, world: dict) -> None:
    assert case_service.locate_point(db, lon=point(300, 60)[0], lat=point(300, 60)[1])["grid_code"] == \
        api_world.GRID_A
    edge = case_service.locate_point(db, lon=point(400, 100)[0], lat=point(400, 100)[1])
    assert (edge["grid_code"], edge["candidates"]) == (api_world.GRID_A, [api_world.GRID_A, api_world.GRID_B])
    corner = case_service.locate_point(db, lon=point(400, -100)[0], lat=point(400, -100)[1])  # A, B and C meet
    assert corner["grid_code"] == api_world.GRID_A and len(corner["candidates"]) == 3
    south = case_service.locate_point(db, lon=point(300, -200)[0], lat=point(300, -200)[1])
    assert (south["grid_code"], south["community_code"], south["street_code"]) == \
        (api_world.GRID_C, town.SOUTH, town.STREET)
    with pytest.raises(InvalidInput, match=r"nearest community is 南社区 \(320199001002\), 50 m away"):
        case_service.locate_point(db, lon=point(300, -350)[0], lat=point(300, -350)[1])


def test_figures_over_a_period(db: Session, world: dict) -> None:
    on_time = file(db, world, at(2025, 9, 29, 9, 0))["incident"]
    step(db, world, on_time, "leader", "register", at(2025, 9, 29, 9, 10))
    step(db, world, on_time, "leader", "dispatch", at(2025, 9, 29, 9, 15), handler_id=world["users"]["worker_a"])
    step(db, world, on_time, "worker", "accept", at(2025, 9, 29, 9, 20))
    step(db, world, on_time, "worker", "feedback", at(2025, 9, 29, 11, 15))
    step(db, world, on_time, "leader", "verify", at(2025, 9, 29, 11, 45))
    step(db, world, on_time, "leader", "close", at(2025, 9, 29, 11, 50))
    step(db, world, on_time, "leader", "evaluate", at(2025, 9, 29, 12, 0), satisfaction=4)
    slow = file(db, world, at(2025, 9, 29, 9, 30), point=point(100, 60))["incident"]
    step(db, world, slow, "leader", "register", at(2025, 9, 29, 14, 0))  # 30 min limit: 1 h late
    file(db, world, at(2025, 10, 9, 9, 0))  # October: not in the period
    figures = case_service.case_statistics(db, period="2025-09", level="grid", settings=SETTINGS)
    (grid,) = figures["levels"]["grid"]
    assert grid["code"] == api_world.GRID_A
    assert (grid["reports"], grid["response_due"], grid["responded_on_time"], grid["registered"], grid["closed"]) == \
        (2, 2, 1, 2, 1)
    assert (grid["response_rate"], grid["resolution_rate"], grid["satisfaction_rate"]) == (0.5, 0.5, 1.0)
    assert grid["on_time_closure_rate"] == 0.5  # the slow one is over its dispatch limit: due, not closed
    assert grid["mean_handling_hours"] == pytest.approx(2.0)  # 09:15 to 11:15 working time
    assert figures["levels"]["total"][0]["reports"] == 2
    with pytest.raises(InvalidInput, match="level"):
        case_service.case_statistics(db, period="2025-09", level="building", settings=SETTINGS)
