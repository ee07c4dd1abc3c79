"""Who holds a case beyond the grid (gis.cases.routing): levels, claims, summons, urging, the department a
category goes to, the city's limits as deadline keys, and the per-department figures."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gis.cases import load_categories
from gis.cases.deadlines import DeadlineRules
from gis.cases.routing import (
    Actor,
    CaseView,
    case_actions,
    category_limits,
    check_case_rules,
    next_level,
    pick_department,
)
from gis.cases.stats import department_stats
from gis.errors import Conflict, PermissionDenied

SH = ZoneInfo("Asia/Shanghai")
LEADER, WORKER, COMMUNITY, STREET, DEPT, OTHER_DEPT, SUPERVISOR, ADMIN = 1, 2, 3, 4, 5, 6, 7, 8
leader = Actor(LEADER, "grid_leader")
worker = Actor(WORKER, "grid_worker")
community = Actor(COMMUNITY, "community_officer")
street = Actor(STREET, "street_officer")
dept = Actor(DEPT, "department_staff", department_id=10)
other_dept = Actor(OTHER_DEPT, "department_staff", department_id=11)
supervisor = Actor(SUPERVISOR, "supervisor")
admin = Actor(ADMIN, "admin")


def reason(action: str, case: CaseView, actor: Actor) -> str | None:
    try:
        check_case_rules(action, case, actor)
    except (PermissionDenied, Conflict) as refused:
        return refused.details["reason"]
    return None


def test_levels_go_up_one_at_a_time_and_stop_at_the_department() -> None:
    assert [next_level(x) for x in ("grid", "community", "street")] == ["community", "street", "department"]
    with pytest.raises(Conflict, match="already with a department"):
        next_level("department")


def test_only_the_holder_of_a_level_hands_over_or_claims() -> None:
    at_grid = CaseView("registered", level="grid")
    assert reason("hand_over", at_grid, leader) is None
    assert reason("hand_over", at_grid, community) == "not_holder"
    at_community = CaseView("referred", level="community")
    assert [reason("claim", at_community, a) for a in (community, street, dept, admin)] == \
        [None, "not_offered", "not_offered", None]
    offered = CaseView("referred", level="department", department_id=10)
    assert reason("claim", offered, dept) is None
    assert reason("claim", offered, other_dept) == "not_offered"  # another department's staff
    assert reason("return", offered, dept) is None
    assert reason("dispatch", at_community, admin) == "not_at_grid"


def test_work_above_the_grid_is_for_its_holder_and_extensions_for_the_level_running_it() -> None:
    claimed = CaseView("handling", level="department", department_id=10, handler_id=DEPT)
    assert reason("feedback", claimed, dept) is None
    assert reason("feedback", claimed, Actor(99, "department_staff", department_id=10)) is None  # a colleague
    assert reason("feedback", claimed, other_dept) == "not_handler"
    assert reason("approve_extension", claimed, street) is None
    assert reason("approve_extension", claimed, leader) == "not_runner"
    in_grid = CaseView("handling", level="grid", handler_id=WORKER)
    assert reason("feedback", in_grid, community) == "not_handler"
    assert reason("park", in_grid, leader) is None


def test_report_in_is_for_a_summoned_department() -> None:
    summoned = CaseView("handling", summoned=frozenset({10}))
    assert reason("report_in", summoned, dept) is None
    assert reason("report_in", summoned, other_dept) == "not_summoned"


@pytest.mark.parametrize(("level", "sla", "actor", "action", "expected"), [
    ("grid", "overdue", leader, "urge", None),
    ("grid", "due_soon", leader, "urge", None),
    ("grid", "on_time", leader, "urge", "not_late"),
    ("grid", "due_soon", street, "supervise", "not_late"),  # 督办 is for overdue cases
    ("grid", "overdue", street, "supervise", None),
    ("grid", "overdue", leader, "supervise", "not_above"),
    ("community", "overdue", community, "urge", "not_above"),  # not by the level that is late
    ("community", "overdue", street, "urge", None),
    ("street", "overdue", street, "urge", "not_above"),
    ("street", "overdue", supervisor, "urge", None),
    ("department", "overdue", street, "urge", None),
    ("department", "overdue", community, "urge", "not_above"),
])
def test_urging_and_supervision_come_from_the_level_above_and_only_for_late_cases(
        level: str, sla: str, actor: Actor, action: str, expected: str | None) -> None:
    assert reason(action, CaseView("handling", level=level, sla_status=sla, handler_id=WORKER), actor) == expected


def test_a_grid_leader_handling_the_case_does_not_urge_themselves() -> None:
    assert reason("urge", CaseView("handling", sla_status="overdue", handler_id=LEADER), leader) == "not_above"
    # A case nobody holds yet is urged by its leader (the workbench) or the community above.
    waiting = CaseView("reported", sla_status="overdue")
    assert (reason("urge", waiting, leader), reason("urge", waiting, community)) == (None, None)


def test_case_actions_list_what_the_actor_may_do_now() -> None:
    offered = CaseView("referred", level="department", department_id=10, sla_status="on_time")
    assert set(case_actions(offered, dept)) == {"claim", "return"}
    assert case_actions(offered, other_dept) == []
    assert set(case_actions(offered, street)) == {"summon"}  # on time: nothing to urge
    fed_back = CaseView("feedback", level="department", department_id=10, handler_id=DEPT,
                        handled_by=frozenset({DEPT}), sla_status="on_time")
    assert "verify" in case_actions(fed_back, supervisor)
    handled_by_admin = CaseView("feedback", handler_id=ADMIN, handled_by=frozenset({ADMIN}), sla_status="on_time")
    assert "verify" not in case_actions(handled_by_admin, admin)


DEPARTMENTS = [
    {"id": 3, "name": "城管执法中队", "street_code": None, "categories": []},
    {"id": 5, "name": "城管执法中队(一街道)", "street_code": "320199001", "categories": ["E0201"]},
    {"id": 4, "name": "环卫所", "street_code": None, "categories": ["E0101"]},
    {"id": 7, "name": "环卫所二队", "street_code": "320199002", "categories": ["E0101"]},
]


def test_the_department_is_the_one_registered_for_the_code_then_the_one_the_table_names() -> None:
    categories = load_categories()
    # Registered for E0201 in the case's street: the street's own before the table's name.
    assert pick_department("E0201", street_code="320199001", departments=DEPARTMENTS,
                           categories=categories)["id"] == 5
    # In another street the street department does not serve: the table names 城管执法中队 for E0202.
    assert pick_department("E0202", street_code="320199003", departments=DEPARTMENTS,
                           categories=categories)["id"] == 3
    # 环卫所二队 serves street 002 only.
    assert pick_department("E0101", street_code="320199001", departments=DEPARTMENTS,
                           categories=categories)["id"] == 4
    assert pick_department("E0101", street_code="320199002", departments=DEPARTMENTS,
                           categories=categories)["id"] == 7
    assert pick_department("E0601", street_code="320199001", departments=DEPARTMENTS, categories=categories) is None


def test_the_city_table_becomes_deadline_keys_and_urgency_never_lengthens_a_limit() -> None:
    limits = category_limits(load_categories(), urgent={"dispatch": dt.timedelta(minutes=10),
                                                        "handling": dt.timedelta(hours=2),
                                                        "verification": dt.timedelta(hours=1)})
    assert limits[("E0101", "handling", "normal", None)] == dt.timedelta(hours=1)
    assert limits[("E0101", "handling", "urgent", None)] == dt.timedelta(hours=1)
    assert limits[("C0501", "handling", "normal", None)] == dt.timedelta(hours=120)
    assert limits[("C0501", "handling", "urgent", None)] == dt.timedelta(hours=2)
    rules = DeadlineRules(limits={**DeadlineRules().limits, **limits})
    assert rules.limit_for("handling", category="C0501").duration == dt.timedelta(hours=120)
    assert rules.limit_for("handling", category="C0501", urgency="urgent").duration == dt.timedelta(hours=2)
    assert rules.limit_for("handling", category="no such code").duration == dt.timedelta(hours=24)


def test_department_figures_count_offers_claims_closings_and_report_ins() -> None:
    mon = dt.datetime(2025, 11, 3, 9, 0, tzinfo=SH)
    as_of = dt.datetime(2025, 11, 7, 17, 0, tzinfo=SH)
    offers = [
        {"department_id": 10, "offered_at": mon, "claimed_at": mon + dt.timedelta(hours=1),
         "closed_at": mon + dt.timedelta(hours=5)},  # 09:00-14:00 is 3.5 working hours
        {"department_id": 10, "offered_at": mon, "claimed_at": mon + dt.timedelta(hours=3), "closed_at": None},
        {"department_id": 11, "offered_at": mon, "claimed_at": None, "closed_at": None},
    ]
    summons = [
        {"department_id": 10, "report_in_due_at": mon + dt.timedelta(hours=2), "reported_in_at": mon},
        {"department_id": 11, "report_in_due_at": mon + dt.timedelta(hours=2), "reported_in_at": None},
        {"department_id": 11, "report_in_due_at": mon + dt.timedelta(hours=2),
         "reported_in_at": mon + dt.timedelta(hours=4)},  # late: missed, though reported
    ]
    urgings = [{"department_id": 11, "kind": "urge"}, {"department_id": 11, "kind": "supervise"},
               {"department_id": None, "kind": "urge"}]
    ten, eleven = department_stats(offers, summons, urgings, as_of=as_of)
    assert (ten["offered"], ten["claimed"], ten["closed"]) == (2, 2, 1)
    assert ten["mean_response_hours"] == pytest.approx(2.0)  # 1 h and 3 h (09:00-12:00, all working time)
    assert ten["mean_closure_hours"] == pytest.approx(3.5)  # 09:00-14:00 less the 12:00-13:30 break
    assert (ten["summoned"], ten["reported_in_on_time"], ten["missed"]) == (1, 1, 0)
    assert (eleven["offered"], eleven["claimed"], eleven["mean_response_hours"]) == (1, 0, None)
    assert (eleven["summoned"], eleven["reported_in"], eleven["reported_in_on_time"], eleven["missed"]) == (2, 1, 0, 2)
    assert (eleven["urged"], eleven["supervised"]) == (1, 1)
