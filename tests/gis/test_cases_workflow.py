"""The case state machine: the whole loop driven by the roles allowed, every refusal with a clear message; the
city's category table with its rules."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gis.cases import DEFAULT_CATEGORIES, check_category, load_categories
from gis.cases.workflow import (
    ACTIONS,
    ROLES,
    STATUSES,
    STAYING_ACTIONS,
    TRANSITIONS,
    CaseState,
    Event,
    allowed_actions,
    apply_action,
    distance_m,
    replay,
    transitions,
)
from gis.errors import Conflict, InvalidInput, PermissionDenied

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)
CASE = (118.7800, 32.0400)  # lon/lat near Nanjing Xinjiekou

# Staff of one grid: two workers, a leader; plus an admin.
WORKER_1, WORKER_2, LEADER, ADMIN = 11, 12, 21, 1
# Beyond the grid: a community officer, a street officer, a department's staff member, a supervisor.
COMMUNITY, STREET, DEPT, SUPERVISOR = 31, 41, 51, 61


class Case:
    """A case driven step by step, remembering its events and every status it passed."""

    def __init__(self) -> None:
        self.state: CaseState = CaseState(status=None)
        self.events: list[Event] = []
        self.at = T0

    def do(self, action: str, actor: int | None, role: str, **kwargs) -> str:
        self.at += dt.timedelta(minutes=5)
        done = apply_action(self.state, action, actor=actor, actor_role=role, at=self.at, case_position=CASE,
                            **kwargs)
        assert done.event.from_status == self.state.status
        assert done.event.to_status == done.status
        self.state = done.state
        self.events.append(done.event)
        return done.status


def test_a_case_passes_through_every_state_by_the_roles_allowed() -> None:
    case = Case()
    steps = [
        ("report", WORKER_1, "grid_worker", {}, "reported"),
        ("register", LEADER, "grid_leader", {}, "registered"),
        ("dispatch", LEADER, "grid_leader", {"handler_id": WORKER_1}, "dispatched"),
        ("accept", WORKER_1, "grid_worker", {}, "handling"),
        ("request_extension", WORKER_1, "grid_worker", {"note": "需要采购配件"}, "extension_requested"),
        ("approve_extension", LEADER, "grid_leader", {}, "extended"),
        ("resume", WORKER_1, "grid_worker", {}, "handling"),
        ("request_extension", WORKER_1, "grid_worker", {}, "extension_requested"),
        ("deny_extension", LEADER, "grid_leader", {}, "handling"),
        ("park", LEADER, "grid_leader", {"note": "待列入年度维修计划"}, "parked"),
        ("unpark", LEADER, "grid_leader", {}, "handling"),
        ("return", WORKER_1, "grid_worker", {"note": "不属于本网格"}, "returned"),
        ("dispatch", LEADER, "grid_leader", {"handler_id": WORKER_2}, "dispatched"),
        ("accept", WORKER_2, "grid_worker", {}, "handling"),
        # Summons, report-in, urging and supervision leave the status (and the clock) as they are.
        ("summon", STREET, "street_officer", {"note": "请城管、水务到场"}, "handling"),
        ("report_in", DEPT, "department_staff", {}, "handling"),
        ("urge", LEADER, "grid_leader", {"note": "请尽快处置"}, "handling"),
        ("urge", None, "system", {"note": "自动催办"}, "handling"),
        ("supervise", SUPERVISOR, "supervisor", {}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", LEADER, "grid_leader", {"actor_position": (118.7801, 32.0401)}, "verification"),
        ("reopen", LEADER, "grid_leader", {"note": "现场仍有积水"}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("reopen", ADMIN, "admin", {}, "handling"),
        ("request_extension", WORKER_2, "grid_worker", {}, "extension_requested"),
        ("approve_extension", ADMIN, "admin", {}, "extended"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", SUPERVISOR, "supervisor", {}, "verification"),
        ("close", SUPERVISOR, "supervisor", {}, "closed"),
        ("reopen", ADMIN, "admin", {"note": "市民投诉复发"}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", ADMIN, "admin", {}, "verification"),
        ("close", ADMIN, "admin", {}, "closed"),
        ("evaluate", None, "citizen", {"satisfaction": 4}, "evaluated"),
    ]
    for action, actor, role, kwargs, expected in steps:
        assert case.do(action, actor, role, **kwargs) == expected, action

    # Shorter cases take the remaining transitions: rejection, hand-overs up to a department and its
    # claim, a return of a referred case, 随手办 closed by the automatic check, verified or reopened.
    report = ("report", None, "citizen", {})
    register = ("register", LEADER, "grid_leader", {})
    dispatch = ("dispatch", LEADER, "grid_leader", {"handler_id": WORKER_1})
    accept = ("accept", WORKER_1, "grid_worker", {})
    hand_over = ("hand_over", LEADER, "grid_leader", {})
    quick_fix = ("quick_fix", WORKER_1, "grid_worker", {})
    others = [
        [report, ("reject", ADMIN, "admin", {"note": "重复上报"})],
        [report, register, hand_over, ("hand_over", COMMUNITY, "community_officer", {}),
         ("hand_over", STREET, "street_officer", {}), ("claim", DEPT, "department_staff", {}),
         ("feedback", DEPT, "department_staff", {})],
        [report, register, hand_over, ("return", COMMUNITY, "community_officer", {}), hand_over,
         ("claim", COMMUNITY, "community_officer", {})],
        [report, register, dispatch, ("return", WORKER_1, "grid_worker", {}), hand_over],
        [report, register, dispatch, accept, hand_over],
        [quick_fix, ("close", None, "system", {})],
        [quick_fix, ("verify", SUPERVISOR, "supervisor", {})],
        [quick_fix, ("reopen", LEADER, "grid_leader", {})],
    ]
    events = list(case.events)
    for steps in others:
        short = Case()
        for action, actor, role, kwargs in steps:
            expected = TRANSITIONS[(short.state.status, action)][0]
            assert short.do(action, actor, role, **kwargs) == expected
        events += short.events

    # Every status but the old "escalated" (nothing enters it any more), every action, every transition
    # that moves a case (summons, report-in and urging are taken from every open status by the table test).
    assert {e.to_status for e in events} == set(STATUSES) - {"escalated"}
    assert {e.action for e in events} == set(ACTIONS)
    assert {(e.from_status, e.action) for e in events if e.action not in STAYING_ACTIONS} == \
        {k for k in TRANSITIONS if k[1] not in STAYING_ACTIONS and k[0] != "escalated"}
    # The event log rebuilds the state the steps arrived at.
    assert replay(case.events) == case.state
    assert case.events[-1].satisfaction == 4
    (measured,) = [e for e in case.events if e.distance_m is not None]
    assert measured.distance_m == pytest.approx(distance_m((118.7801, 32.0401), CASE))


def test_staying_acts_keep_status_and_handler_from_every_open_status() -> None:
    for (status, action), (to, roles) in TRANSITIONS.items():
        if action not in STAYING_ACTIONS or status == "escalated":
            continue
        assert to == status
        role = sorted(roles - {"system"})[0]
        done = apply_action(CaseState(status, handler_id=WORKER_1), action, actor=99, actor_role=role, at=T0)
        assert (done.status, done.state.handler_id) == (status, WORKER_1)


def test_a_case_escalated_before_issue_18_still_reports_in_to_handling() -> None:
    done = apply_action(CaseState("escalated"), "report_in", actor=LEADER, actor_role="grid_leader", at=T0,
                        handler_id=WORKER_2)
    assert (done.status, done.state.handler_id) == ("handling", WORKER_2)
    with pytest.raises(InvalidInput, match="action 'escalate' does not exist"):
        apply_action("handling", "escalate", actor=LEADER, actor_role="grid_leader", at=T0)


def test_claim_and_quick_fix_make_the_actor_a_handler_who_may_not_verify() -> None:
    claimed = apply_action(CaseState("referred"), "claim", actor=DEPT, actor_role="department_staff", at=T0)
    assert claimed.state.handler_id == DEPT and DEPT in claimed.state.handled_by
    fixed = apply_action(None, "quick_fix", actor=WORKER_1, actor_role="grid_worker", at=T0)
    assert (fixed.status, fixed.state.handler_id) == ("quick_fixed", WORKER_1)
    with pytest.raises(PermissionDenied) as refused:
        apply_action(fixed.state, "verify", actor=WORKER_1, actor_role="grid_leader", at=T0)
    assert refused.value.details["reason"] == "verifier_is_handler"
    # The log rebuilds who holds it.
    assert replay([fixed.event]).handler_id == WORKER_1
    assert replay([claimed.event]).handler_id == DEPT


def test_the_verifying_roles_are_a_setting() -> None:
    only_supervisors = transitions({"supervisor"})
    with pytest.raises(PermissionDenied, match="may not verify"):
        apply_action(CaseState("feedback", handler_id=WORKER_1), "verify", actor=LEADER, actor_role="grid_leader",
                     at=T0, table=only_supervisors)
    assert apply_action(CaseState("feedback", handler_id=WORKER_1), "verify", actor=SUPERVISOR,
                        actor_role="supervisor", at=T0, table=only_supervisors).status == "verification"
    with pytest.raises(InvalidInput, match="unknown: mayor"):
        transitions({"mayor"})


def _refusal(status: str | None, action: str, role: str) -> type[Exception] | None:
    """What the table says should happen: None (allowed), PermissionDenied or Conflict."""
    anywhere = {r for (_, a), (_, roles) in TRANSITIONS.items() if a == action for r in roles}
    if role not in anywhere:
        return PermissionDenied
    entry = TRANSITIONS.get((status, action))
    if entry is None:
        return Conflict
    return None if role in entry[1] else PermissionDenied


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("status", [None, *STATUSES])
def test_every_role_may_take_every_action_exactly_when_the_table_says(status: str | None, action: str) -> None:
    for role in ROLES:
        _check_one(status, action, role)


def _check_one(status: str | None, action: str, role: str) -> None:
    state = CaseState(status=status, handler_id=WORKER_1)
    kwargs = {"actor": 99, "actor_role": role, "at": T0, "handler_id": WORKER_2, "satisfaction": 5}
    expected = _refusal(status, action, role)
    if expected is None:
        done = apply_action(state, action, **kwargs)
        assert done.status == TRANSITIONS[(status, action)][0], role
        assert done.event.actor == 99 and done.event.actor_role == role and done.event.at == T0
        return
    with pytest.raises(expected) as refused:
        apply_action(state, action, **kwargs)
    message = str(refused.value)
    if expected is Conflict:
        # Names the state, the action and what is allowed from here.
        assert (f"in status {status!r}" if status else "before it is reported") in message
        assert f"cannot {action}" in message
        allowed = allowed_actions(status)
        assert refused.value.details["allowed_actions"] == sorted(allowed)
        for other in allowed:
            assert other in message
        if not allowed:
            assert "nothing" in message
    else:
        assert f"role {role!r} may not {action}" in message
        assert "allowed:" in message


def test_a_role_allowed_elsewhere_is_refused_in_the_wrong_state_by_name() -> None:
    # With the default table each action has the same roles in every state; a city table may differ.
    table = dict(TRANSITIONS)
    table[("handling", "park")] = ("parked", frozenset({"admin"}))
    table[("dispatched", "park")] = ("parked", frozenset({"admin", "grid_leader"}))
    with pytest.raises(PermissionDenied, match=r"role 'grid_leader' may not park a case in status 'handling'; "
                                               r"allowed: admin"):
        apply_action("handling", "park", actor=LEADER, actor_role="grid_leader", at=T0, table=table)
    assert apply_action("dispatched", "park", actor=LEADER, actor_role="grid_leader", at=T0,
                        table=table).status == "parked"


def test_refusal_messages_read_well() -> None:
    with pytest.raises(Conflict, match=r"cannot close a case in status 'handling'; allowed from here: .*feedback "
                                       r"\(admin, community_officer, department_staff, grid_leader, grid_worker, "
                                       r"street_officer\)"):
        apply_action("handling", "close", actor=LEADER, actor_role="grid_leader", at=T0)
    with pytest.raises(PermissionDenied, match=r"role 'viewer' may not register a case; allowed: admin, grid_leader"):
        apply_action("reported", "register", actor=5, actor_role="viewer", at=T0)
    with pytest.raises(PermissionDenied, match=r"role 'grid_worker' may not summon a case; allowed: admin, "
                                               r"community_officer, street_officer"):
        apply_action("handling", "summon", actor=WORKER_1, actor_role="grid_worker", at=T0)
    with pytest.raises(Conflict, match=r"allowed from here: nothing \(the case is finished\)"):
        apply_action("evaluated", "reopen", actor=ADMIN, actor_role="admin", at=T0)


def test_the_handler_may_not_verify_their_own_work() -> None:
    state = replay([
        Event("report", None, "reported", WORKER_1, "grid_worker", T0),
        Event("dispatch", "registered", "dispatched", LEADER, "grid_leader", T0, handler_id=LEADER),
        Event("accept", "dispatched", "handling", LEADER, "grid_leader", T0),
        Event("feedback", "handling", "feedback", LEADER, "grid_leader", T0),
    ])
    with pytest.raises(PermissionDenied, match="different person than the handler"):
        apply_action(state, "verify", actor=LEADER, actor_role="grid_leader", at=T0)
    # Someone who took the case up is a handler too, even when it was dispatched to another.
    state = CaseState("feedback", handler_id=WORKER_2, handled_by=frozenset({ADMIN}))
    with pytest.raises(PermissionDenied):
        apply_action(state, "verify", actor=ADMIN, actor_role="admin", at=T0)
    # The handler may be named by the caller when the state does not carry it.
    with pytest.raises(PermissionDenied):
        apply_action("feedback", "verify", actor=LEADER, actor_role="grid_leader", at=T0, handler_id=LEADER)
    assert apply_action(state, "verify", actor=LEADER, actor_role="grid_leader", at=T0).status == "verification"


@pytest.mark.parametrize(("offset", "ok"), [
    ((0.0, 0.00089), True),   # 98.7 m due north
    ((0.0, 0.00092), False),  # 102.0 m due north
    ((0.00105, 0.0), True),   # 99.2 m due east: 0.00105 degrees would be 117 m if degrees were taken as metres
    ((0.0011, 0.0), False),   # 103.9 m due east
])
def test_verification_gps_must_be_within_100_m_of_the_case(offset: tuple[float, float], ok: bool) -> None:
    where = (CASE[0] + offset[0], CASE[1] + offset[1])
    state = CaseState("feedback", handler_id=WORKER_1)
    kwargs = {"actor": LEADER, "actor_role": "grid_leader", "at": T0, "actor_position": where, "case_position": CASE}
    if ok:
        done = apply_action(state, "verify", **kwargs)
        assert done.event.position == where
        assert done.event.distance_m < 100
    else:
        with pytest.raises(InvalidInput, match=r"verifier is 10\d m from the case; .* within 100 m") as refused:
            apply_action(state, "verify", **kwargs)
        assert refused.value.details["max_distance_m"] == 100
    # The distance is configurable.
    assert apply_action(state, "verify", verify_max_distance_m=150, **kwargs).status == "verification"


def test_distance_is_geodesic_metres() -> None:
    # One minute of latitude at 32°N is about 1,848 m; one of longitude about 1,573 m.
    assert distance_m((118.78, 32.0), (118.78, 32.0 + 1 / 60)) == pytest.approx(1848.0, abs=2)
    assert distance_m((118.78, 32.0), (118.78 + 1 / 60, 32.0)) == pytest.approx(1573.0, abs=2)


def test_bad_input_is_named() -> None:
    with pytest.raises(InvalidInput, match="action 'close_now' does not exist"):
        apply_action("handling", "close_now", actor=1, actor_role="admin", at=T0)
    with pytest.raises(InvalidInput, match="case status 'lost' does not exist"):
        apply_action("lost", "close", actor=1, actor_role="admin", at=T0)
    with pytest.raises(InvalidInput, match="role 'mayor' does not exist"):
        apply_action("verification", "close", actor=1, actor_role="mayor", at=T0)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        apply_action("verification", "close", actor=1, actor_role="admin", at=dt.datetime(2026, 10, 12, 9))
    with pytest.raises(InvalidInput, match="handler_id is required"):
        apply_action("registered", "dispatch", actor=1, actor_role="admin", at=T0)
    for score in (None, 0, 6, 4.5, True):
        with pytest.raises(InvalidInput, match="satisfaction must be a whole number from 1 to 5"):
            apply_action("closed", "evaluate", actor=None, actor_role="citizen", at=T0, satisfaction=score)
    with pytest.raises(InvalidInput, match="case_position is required"):
        apply_action("feedback", "verify", actor=1, actor_role="admin", at=T0, actor_position=CASE)
    with pytest.raises(InvalidInput, match="actor_position"):
        apply_action("feedback", "verify", actor=1, actor_role="admin", at=T0, actor_position=(32.0, 218.7))


def test_event_record_and_reassignment() -> None:
    done = apply_action("registered", "dispatch", actor=LEADER, actor_role="grid_leader", at=T0,
                        handler_id=WORKER_1, note="请今日处理", actor_position=CASE)
    assert done.event.to_dict() == {
        "action": "dispatch", "from_status": "registered", "to_status": "dispatched", "actor": LEADER,
        "actor_role": "grid_leader", "at": "2026-10-12T09:00:00+08:00", "note": "请今日处理",
        "position": [118.78, 32.04], "handler_id": WORKER_1, "satisfaction": None, "distance_m": None,
    }
    returned = apply_action(done.state, "return", actor=WORKER_1, actor_role="grid_worker", at=T0)
    assert returned.state.handler_id is None  # back with the dispatcher
    assert allowed_actions("returned", "grid_leader") == {"dispatch": "dispatched", "hand_over": "referred",
                                                          "urge": "returned"}
    assert allowed_actions("returned", "grid_worker") == {}


def test_a_custom_table_changes_who_may_do_what() -> None:
    table = dict(TRANSITIONS)
    table[("feedback", "verify")] = ("verification", frozenset({"grid_worker"}))  # peers verify each other
    done = apply_action(CaseState("feedback", handler_id=WORKER_1), "verify", actor=WORKER_2,
                        actor_role="grid_worker", at=T0, table=table)
    assert done.status == "verification"
    with pytest.raises(PermissionDenied):
        apply_action(CaseState("feedback", handler_id=WORKER_1), "verify", actor=LEADER, actor_role="grid_leader",
                     at=T0, table=table)


def test_the_shipped_categories_hold_the_six_event_and_seven_component_classes() -> None:
    categories = load_categories()
    events = list(dict.fromkeys(c.category for c in categories if c.category_class == "event"))
    components = list(dict.fromkeys(c.category for c in categories if c.category_class == "component"))
    assert events == ["市容环境", "宣传广告", "施工管理", "突发事件", "街面秩序", "扩展",
                      "矛盾纠纷", "物业", "消防隐患", "供暖", "特殊人群服务需求", "治安隐患"]
    assert components == ["公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施", "扩展"]
    check_category("component", "公用设施", "雨水井盖")
    with pytest.raises(InvalidInput, match="subcategory '路灯' is not under event category '市容环境'"):
        check_category("event", "市容环境", "路灯")
    with pytest.raises(InvalidInput, match="category '公用设施' is not among the event categories"):
        check_category("event", "公用设施")


def test_a_city_extends_the_categories_with_its_own_file(tmp_path) -> None:
    own = tmp_path / "categories.csv"
    own.write_text(DEFAULT_CATEGORIES.read_text(encoding="utf-8")
                   + "E0701,event,垃圾分类,Waste sorting,混投混运,Mixed collection,20,6,,functional,分类办,yes\n",
                   encoding="utf-8")
    mine = load_categories(own)
    check_category("event", "垃圾分类", "混投混运", categories=mine)
    (sorting,) = [c for c in mine if c.code == "E0701"]
    assert (sorting.dispatch_minutes, sorting.handling_hours, sorting.verification_hours) == (20, 6, None)
    assert (sorting.department_kind, sorting.department, sorting.quick_fix) == ("functional", "分类办", True)
    # A file with the six basic columns only still loads: no rules, the general limits.
    plain = tmp_path / "plain.csv"
    plain.write_text("code,category_class,category,category_en,subcategory,subcategory_en\n"
                     "X1,event,A,A,B,B\n", encoding="utf-8")
    assert load_categories(plain)[0].handling_hours is None


HEADER = "code,category_class,category,category_en,subcategory,subcategory_en,dispatch_minutes,handling_hours," \
         "verification_hours,department_kind,department,quick_fix\n"


@pytest.mark.parametrize(("row", "column", "words"), [
    ("X1,incident,A,A,B,B,30,24,1,,,no", "category_class", "'incident' is not one of event, component"),
    ("X1,event,A,A,B,B,thirty,24,1,,,no", "dispatch_minutes", "'thirty' is not a number"),
    ("X1,event,A,A,B,B,30,-2,1,,,no", "handling_hours", "a limit must be a positive number"),
    ("X1,event,A,A,B,B,30,24,1,bureau,城管,no", "department_kind", "'bureau' is not one of"),
    ("X1,event,A,A,B,B,30,24,1,functional,,no", "department", "give both or neither"),
    ("X1,event,A,A,B,B,30,24,1,,,maybe", "quick_fix", "write yes or no"),
    ("X1,event,,A,B,B,30,24,1,,,no", "category", "empty"),
    ("X1,event,A,A,B,B,30,24", "*", "expected 12 cells"),
])
def test_a_bad_category_file_is_refused_naming_file_row_and_column(tmp_path, row: str, column: str,
                                                                    words: str) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "E1,event,A,A,B,B,30,24,1,,,no\n" + row + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        load_categories(bad)
    assert f"bad.csv: row 3, column {column}: " in str(refused.value) and words in str(refused.value)
    assert (refused.value.details["row"], refused.value.details["column"]) == (3, column)


def test_a_repeated_code_or_a_missing_column_is_named(tmp_path) -> None:
    twice = tmp_path / "twice.csv"
    twice.write_text(HEADER + "E1,event,A,A,B,B,30,24,1,,,no\nE1,event,A,A,C,C,30,24,1,,,no\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="twice.csv: row 3, column code: 'E1' is used twice"):
        load_categories(twice)
    short = tmp_path / "short.csv"
    short.write_text("code,category_class,category\nE1,event,A\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="short.csv: row 1, column category_en: the header lacks"):
        load_categories(short)


def test_the_shipped_table_gives_every_category_its_rules() -> None:
    categories = load_categories()
    assert all(c.handling_hours and c.dispatch_minutes and c.verification_hours for c in categories)
    by_code = {c.code: c for c in categories}
    assert by_code["E0101"].handling_hours == 1 and by_code["E0101"].quick_fix  # 暴露垃圾: an hour, 随手办
    assert by_code["C0501"].handling_hours == 120 and not by_code["C0501"].quick_fix  # 违章建筑: days
    assert (by_code["S0101"].subcategory, by_code["S0101"].department) == ("邻里纠纷", "司法所")
    assert {c.department_kind for c in categories} == {"functional", "member", "stationed", None}
