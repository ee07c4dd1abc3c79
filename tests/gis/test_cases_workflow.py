"""The case state machine: the whole loop driven by the roles allowed, every refusal with a clear message."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gis.cases import DEFAULT_CATEGORIES, check_category, load_categories
from gis.cases.workflow import (
    ACTIONS,
    ROLES,
    STATUSES,
    TRANSITIONS,
    CaseState,
    Event,
    allowed_actions,
    apply_action,
    distance_m,
    replay,
)
from gis.errors import Conflict, InvalidInput, PermissionDenied

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)
CASE = (118.7800, 32.0400)  # lon/lat near Nanjing Xinjiekou

# Staff of one grid: two workers, a leader; plus an admin.
WORKER_1, WORKER_2, LEADER, ADMIN = 11, 12, 21, 1


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
        ("escalate", None, "system", {"note": "处置超时，自动吹哨"}, "escalated"),
        ("report_in", LEADER, "grid_leader", {"handler_id": WORKER_2}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", LEADER, "grid_leader", {"actor_position": (118.7801, 32.0401)}, "verification"),
        ("reopen", LEADER, "grid_leader", {"note": "现场仍有积水"}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("reopen", ADMIN, "admin", {}, "handling"),
        ("request_extension", WORKER_2, "grid_worker", {}, "extension_requested"),
        ("approve_extension", ADMIN, "admin", {}, "extended"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", LEADER, "grid_leader", {}, "verification"),
        ("close", LEADER, "grid_leader", {}, "closed"),
        ("reopen", ADMIN, "admin", {"note": "市民投诉复发"}, "handling"),
        ("feedback", WORKER_2, "grid_worker", {}, "feedback"),
        ("verify", ADMIN, "admin", {}, "verification"),
        ("close", ADMIN, "admin", {}, "closed"),
        ("evaluate", None, "citizen", {"satisfaction": 4}, "evaluated"),
    ]
    for action, actor, role, kwargs, expected in steps:
        assert case.do(action, actor, role, **kwargs) == expected, action

    # Shorter cases take the remaining transitions: rejection, a return before work starts, and
    # escalation from every state that allows it.
    report = ("report", None, "citizen", {})
    register = ("register", LEADER, "grid_leader", {})
    dispatch = ("dispatch", LEADER, "grid_leader", {"handler_id": WORKER_1})
    accept = ("accept", WORKER_1, "grid_worker", {})
    others = [
        [report, ("reject", ADMIN, "admin", {"note": "重复上报"})],
        [report, ("escalate", LEADER, "grid_leader", {})],
        [report, register, ("escalate", ADMIN, "admin", {})],
        [report, register, dispatch, ("return", WORKER_1, "grid_worker", {}), ("escalate", None, "system", {})],
        [report, register, dispatch, accept, ("escalate", None, "system", {})],
        [report, register, dispatch, accept, ("request_extension", WORKER_1, "grid_worker", {}),
         ("escalate", LEADER, "grid_leader", {})],
    ]
    events = list(case.events)
    for steps in others:
        short = Case()
        for action, actor, role, kwargs in steps:
            expected = TRANSITIONS[(short.state.status, action)][0]
            assert short.do(action, actor, role, **kwargs) == expected
        events += short.events

    assert {e.to_status for e in events} == set(STATUSES)
    assert {e.action for e in events} == set(ACTIONS)
    assert {(e.from_status, e.action) for e in events} == set(TRANSITIONS)
    # The event log rebuilds the state the steps arrived at.
    assert replay(case.events) == case.state
    assert case.events[-1].satisfaction == 4
    assert case.events[16].distance_m == pytest.approx(distance_m((118.7801, 32.0401), CASE))


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
                                       r"\(admin, grid_leader, grid_worker\)"):
        apply_action("handling", "close", actor=LEADER, actor_role="grid_leader", at=T0)
    with pytest.raises(PermissionDenied, match=r"role 'viewer' may not register a case; allowed: admin, grid_leader"):
        apply_action("reported", "register", actor=5, actor_role="viewer", at=T0)
    with pytest.raises(PermissionDenied, match=r"role 'grid_worker' may not escalate a case; allowed: admin, "
                                               r"grid_leader, system"):
        apply_action("handling", "escalate", actor=WORKER_1, actor_role="grid_worker", at=T0)
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
    assert allowed_actions("returned", "grid_leader") == {"dispatch": "dispatched", "escalate": "escalated"}
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
    assert events == ["市容环境", "宣传广告", "施工管理", "突发事件", "街面秩序", "扩展"]
    assert components == ["公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施", "扩展"]
    check_category("component", "公用设施", "雨水井盖")
    with pytest.raises(InvalidInput, match="subcategory '路灯' is not under event category '市容环境'"):
        check_category("event", "市容环境", "路灯")
    with pytest.raises(InvalidInput, match="category '公用设施' is not among the event categories"):
        check_category("event", "公用设施")


def test_a_city_extends_the_categories_with_its_own_file(tmp_path) -> None:
    own = tmp_path / "categories.csv"
    own.write_text(DEFAULT_CATEGORIES.read_text(encoding="utf-8")
                   + "E0701,event,垃圾分类,Waste sorting,混投混运,Mixed collection\n", encoding="utf-8")
    check_category("event", "垃圾分类", "混投混运", categories=load_categories(own))
    bad = tmp_path / "bad.csv"
    bad.write_text("code,category_class,category,category_en,subcategory,subcategory_en\n"
                   "X1,incident,A,A,B,B\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="bad.csv:2: category_class 'incident'"):
        load_categories(bad)
