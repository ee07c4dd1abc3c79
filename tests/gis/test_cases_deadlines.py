"""Time limits on the working calendar: holidays, make-up workdays, pauses, urgent wall-clock time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from gis.cases.deadlines import (
    DEFAULT_RULES,
    CaseClock,
    DeadlineRules,
    Limit,
    WallClock,
    WorkingCalendar,
    due_at,
    sla_status,
    stage_clocks,
    urgings_due,
)
from gis.cases.deadlines import (
    elapsed_working as working_time_between,
)
from gis.cases.workflow import Event
from gis.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()
H = dt.timedelta(hours=1)
MIN = dt.timedelta(minutes=1)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


def ev(action: str, frm: str | None, to: str, when: dt.datetime) -> Event:
    return Event(action=action, from_status=frm, to_status=to, actor=1, actor_role="admin", at=when)


def test_a_deadline_skips_the_national_day_holiday_and_counts_the_make_up_saturday() -> None:
    # 24 working hours from Tue 2025-09-30 16:00: 1.5 h that day, nothing 1-8 October (国庆+中秋),
    # 7.5 h on Thu 9 and Fri 10, and the last 7.5 h on Sat 11 October, a make-up workday.
    deadline = due_at(at(2025, 9, 30, 16, 0), 24 * H, calendar=CAL)
    assert deadline.at == at(2025, 10, 11, 17, 30)  # ends with the working day, not at 08:30 next morning
    assert not deadline.calendar_fallback
    assert working_time_between(at(2025, 9, 30, 16, 0), at(2025, 10, 11, 17, 30), calendar=CAL).counted == 24 * H
    assert working_time_between(at(2025, 10, 1, 0, 0), at(2025, 10, 8, 23, 59), calendar=CAL).counted == dt.timedelta(0)
    # A weekends-only calendar would have counted the holiday week and finished on Fri 3 October.
    plain = WorkingCalendar(public_holidays=False)
    assert due_at(at(2025, 9, 30, 16, 0), 24 * H, calendar=plain).at == at(2025, 10, 3, 17, 30)


def test_a_make_up_sunday_is_a_working_day() -> None:
    # Reported Sat 2025-09-27 at 20:00; Sun 28 September 2025 was a make-up workday (调休上班).
    assert due_at(at(2025, 9, 27, 20, 0), 30 * MIN, calendar=CAL).at == at(2025, 9, 28, 9, 0)
    assert CAL.is_workday(dt.date(2025, 9, 28)) == (True, True)
    plain = WorkingCalendar(public_holidays=False)
    assert due_at(at(2025, 9, 27, 20, 0), 30 * MIN, calendar=plain).at == at(2025, 9, 29, 9, 0)


def test_lunch_break_and_evening_do_not_count() -> None:
    assert due_at(at(2025, 11, 3, 11, 30), 1 * H, calendar=CAL).at == at(2025, 11, 3, 14, 0)
    assert due_at(at(2025, 11, 3, 17, 0), 1 * H, calendar=CAL).at == at(2025, 11, 4, 9, 0)
    assert working_time_between(at(2025, 11, 3, 8, 0), at(2025, 11, 3, 20, 0), calendar=CAL).counted == 7.5 * H
    assert CAL.hours_per_day() == 7.5
    # Times in another zone are the same instants.
    utc = dt.datetime(2025, 11, 3, 3, 30, tzinfo=dt.UTC)  # 11:30 in Shanghai
    assert due_at(utc, 1 * H, calendar=CAL).at == at(2025, 11, 3, 14, 0)


def test_urgent_cases_run_on_the_wall_clock_normal_ones_on_working_time() -> None:
    # Reported on a holiday night, Sat 2025-10-04 22:00.
    reported = at(2025, 10, 4, 22, 0)
    urgent = DEFAULT_RULES.limit_for("dispatch", urgency="urgent")
    normal = DEFAULT_RULES.limit_for("dispatch", urgency="normal")
    assert urgent == Limit(10 * MIN, "wall") and normal == Limit(30 * MIN, "working")
    urgent_due = due_at(reported, urgent.duration, calendar=DEFAULT_RULES.calendar_for(urgent.clock))
    normal_due = due_at(reported, normal.duration, calendar=DEFAULT_RULES.calendar_for(normal.clock))
    assert urgent_due.at == at(2025, 10, 4, 22, 10)  # ten minutes later, holiday night or not
    assert normal_due.at == at(2025, 10, 9, 9, 0)  # 30 working minutes: the first working morning after the holiday
    assert DEFAULT_RULES.limit_for("handling", urgency="urgent") == Limit(2 * H, "wall")
    assert DEFAULT_RULES.limit_for("handling", urgency="normal") == Limit(24 * H, "working")

    events = [ev("report", None, "reported", reported)]
    assert sla_status(events, now=at(2025, 10, 4, 22, 11), urgency="urgent").status == "overdue"
    normal_sla = sla_status(events, now=at(2025, 10, 8, 12, 0), urgency="normal")
    assert normal_sla.status == "on_time" and normal_sla.due_at == at(2025, 10, 9, 9, 0)
    assert sla_status(events, now=at(2025, 10, 9, 8, 55), urgency="normal").status == "due_soon"
    assert sla_status(events, now=at(2025, 10, 9, 9, 1), urgency="normal").status == "overdue"


def test_an_approved_extension_pauses_the_handling_clock() -> None:
    # Dispatched Mon 2025-11-03 09:00 with 24 working hours; extension approved 10:30 Monday and
    # ended 10:30 Tuesday: one working day (7.5 h) does not count, so the due time moves from
    # Thu 10:30 to Fri 10:30.
    events = [
        ev("report", None, "reported", at(2025, 11, 3, 8, 40)),
        ev("register", "reported", "registered", at(2025, 11, 3, 8, 50)),
        ev("dispatch", "registered", "dispatched", at(2025, 11, 3, 9, 0)),
        ev("accept", "dispatched", "handling", at(2025, 11, 3, 9, 10)),
        ev("request_extension", "handling", "extension_requested", at(2025, 11, 3, 10, 0)),
        ev("approve_extension", "extension_requested", "extended", at(2025, 11, 3, 10, 30)),
    ]
    during = sla_status(events, now=at(2025, 11, 3, 16, 0))
    assert during.status == "paused" and during.stage == "handling" and during.due_at is None
    assert during.elapsed == 1.5 * H  # 09:00-10:30; the time awaiting approval still counted

    resumed = [*events, ev("resume", "extended", "handling", at(2025, 11, 4, 10, 30))]
    clock = stage_clocks(resumed, now=at(2025, 11, 6, 12, 0))[-1]
    assert clock.pauses == ((at(2025, 11, 3, 10, 30), at(2025, 11, 4, 10, 30)),)
    assert clock.due_at == at(2025, 11, 7, 10, 30)
    without = due_at(at(2025, 11, 3, 9, 0), 24 * H, calendar=CAL)
    assert without.at == at(2025, 11, 6, 10, 30)
    assert sla_status(resumed, now=at(2025, 11, 6, 9, 0)).status == "on_time"  # 15 h of 24 used
    assert sla_status(resumed, now=at(2025, 11, 6, 12, 0)).status == "due_soon"  # 18 h used: a quarter left
    assert sla_status(resumed, now=at(2025, 11, 7, 10, 31)).status == "overdue"
    spent = working_time_between(at(2025, 11, 3, 9, 0), at(2025, 11, 4, 17, 30), calendar=CAL,
                            pauses=clock.pauses)
    assert spent.counted == 7 * H and spent.paused == 7.5 * H  # 14.5 working hours less the pause


def test_parking_pauses_and_an_open_pause_runs_to_the_end() -> None:
    pauses = [(at(2025, 11, 3, 13, 30), None)]
    assert due_at(at(2025, 11, 3, 9, 0), 4 * H, calendar=CAL, pauses=pauses).at is None
    assert due_at(at(2025, 11, 3, 9, 0), 2 * H, calendar=CAL, pauses=pauses).at == at(2025, 11, 3, 11, 0)
    spent = working_time_between(at(2025, 11, 3, 9, 0), at(2025, 11, 5, 9, 0), calendar=CAL, pauses=pauses)
    assert spent.counted == 3 * H
    # Overlapping pauses are merged, not subtracted twice.
    twice = [(at(2025, 11, 3, 9, 0), at(2025, 11, 3, 10, 0)), (at(2025, 11, 3, 9, 30), at(2025, 11, 3, 11, 0))]
    assert working_time_between(at(2025, 11, 3, 9, 0), at(2025, 11, 3, 12, 0), calendar=CAL,
                           pauses=twice).counted == 1 * H


def test_verification_limits_depend_on_urban_or_rural_and_categories_override() -> None:
    assert DEFAULT_RULES.limit_for("verification", area="urban").duration == 1 * H
    assert DEFAULT_RULES.limit_for("verification", area="rural").duration == 2 * H
    rules = DeadlineRules(limits={**DEFAULT_RULES.limits, ("突发事件", "handling", "normal", None): 4 * H})
    assert rules.limit_for("handling", category="突发事件").duration == 4 * H
    assert rules.limit_for("handling", category="市容环境").duration == 24 * H
    with pytest.raises(InvalidInput, match="no time limit for stage 'verification', urgency 'normal', area 'forest'"):
        DEFAULT_RULES.limit_for("verification", area="forest")
    with pytest.raises(InvalidInput, match="stage 'patrol' does not exist"):
        DEFAULT_RULES.limit_for("patrol")
    with pytest.raises(InvalidInput, match="a positive timedelta"):
        DeadlineRules(limits={(None, "handling", None, None): dt.timedelta(0)})
    with pytest.raises(InvalidInput, match="'sundial' is not one of"):
        DeadlineRules(clocks={"normal": "sundial"})
    with pytest.raises(InvalidInput, match="working periods must be ordered"):
        WorkingCalendar(periods=((dt.time(13, 0), dt.time(12, 0)),))
    with pytest.raises(InvalidInput, match="timezone: 'Mars/Base'"):
        WorkingCalendar(timezone="Mars/Base")
    with pytest.raises(InvalidInput, match="timezone-aware"):
        due_at(dt.datetime(2025, 11, 3, 9, 0), H, calendar=CAL)


def test_a_year_without_a_published_schedule_falls_back_to_weekends_and_says_so() -> None:
    # chinese_calendar 1.11 knows 2004-2026; 1 January 2031 is a Wednesday.
    deadline = due_at(at(2030, 12, 31, 17, 0), 1 * H, calendar=CAL)
    assert deadline.at == at(2031, 1, 1, 9, 0)
    assert deadline.calendar_fallback and 2031 in deadline.fallback_years
    sla = sla_status([ev("report", None, "reported", at(2031, 3, 3, 9, 0))], now=at(2031, 3, 3, 9, 10))
    assert sla.calendar_fallback and sla.to_dict()["fallback_years"] == [2031]
    # Wall-clock counting needs no calendar.
    assert not due_at(at(2031, 3, 3, 9, 0), H, calendar=WallClock()).calendar_fallback


def test_each_stage_gets_its_own_clock_and_a_return_restarts_dispatch() -> None:
    events = [
        ev("report", None, "reported", at(2025, 11, 3, 9, 0)),
        ev("register", "reported", "registered", at(2025, 11, 3, 9, 10)),
        ev("dispatch", "registered", "dispatched", at(2025, 11, 3, 9, 20)),
        ev("return", "dispatched", "returned", at(2025, 11, 3, 10, 0)),
        ev("dispatch", "returned", "dispatched", at(2025, 11, 3, 11, 0)),
        ev("accept", "dispatched", "handling", at(2025, 11, 3, 11, 5)),
        ev("feedback", "handling", "feedback", at(2025, 11, 3, 15, 0)),
        ev("verify", "feedback", "verification", at(2025, 11, 3, 15, 40)),
        ev("close", "verification", "closed", at(2025, 11, 3, 15, 50)),
    ]
    clocks = stage_clocks(events, now=at(2025, 11, 10, 9, 0))
    assert [(c.stage, c.started_at.hour, c.started_at.minute, c.overdue) for c in clocks] == [
        ("dispatch", 9, 0, False),      # 20 min of 30
        ("handling", 9, 20, False),
        ("dispatch", 10, 0, True),      # the returned case waited an hour for a new dispatch
        ("handling", 11, 0, False),     # 11:00-15:00 less lunch: 2.5 h
        ("verification", 15, 0, False), # 50 min of 1 h
    ]
    assert clocks[3].elapsed == 2.5 * H
    assert sla_status(events, now=at(2025, 11, 10, 9, 0)).status == "no_clock"


def sys_ev(action: str, status: str, when: dt.datetime) -> Event:
    return Event(action=action, from_status=status, to_status=status, actor=None, actor_role="system", at=when)


def test_urgings_due_lists_every_overdue_case_once_per_late_stage_most_overdue_first() -> None:
    now = at(2025, 11, 6, 12, 0)
    start = at(2025, 11, 3, 9, 0)
    base = [ev("report", None, "reported", start - 20 * MIN),
            ev("register", "reported", "registered", start - 10 * MIN),
            ev("dispatch", "registered", "dispatched", start)]
    handling_late = base + [ev("accept", "dispatched", "handling", start + MIN)]  # 24 h due Thu 10:30
    awaiting_verification = base + [ev("accept", "dispatched", "handling", start + MIN),
                                    ev("feedback", "handling", "feedback", at(2025, 11, 4, 9, 0))]
    urgent = [ev("report", None, "reported", at(2025, 11, 6, 11, 0))]  # 10-min urgent dispatch: 50 min late
    escalated = base + [ev("escalate", "dispatched", "escalated", at(2025, 11, 5, 9, 0))]  # an old log
    fresh = [ev("report", None, "reported", at(2025, 11, 6, 11, 50))]
    urged_already = handling_late + [sys_ev("urge", "handling", at(2025, 11, 6, 11, 0))]
    urged_by_a_person = handling_late + [Event(action="urge", from_status="handling", to_status="handling",
                                               actor=7, actor_role="grid_leader", at=at(2025, 11, 6, 11, 0))]
    cases = [
        CaseClock(1, handling_late), CaseClock(2, awaiting_verification), CaseClock(3, urgent, urgency="urgent"),
        CaseClock(4, escalated), CaseClock(5, fresh), CaseClock(6, []), CaseClock(7, urged_already),
        CaseClock(8, urged_by_a_person),
    ]
    breaches = urgings_due(cases, now=now)
    # An old escalated case (4) keeps the handling clock that started at its dispatch: escalating no
    # longer takes a case off the lists. A system urging in this run (7) is not repeated; a person's (8) is no reason.
    assert [(b.case_id, b.stage, b.status) for b in breaches] == [
        (2, "verification", "feedback"), (1, "handling", "handling"), (4, "handling", "escalated"),
        (8, "handling", "handling"), (3, "dispatch", "reported")]
    assert breaches[1].due_at == at(2025, 11, 6, 10, 30)
    assert breaches[1].overdue_by == 1.5 * H  # 10:30-12:00 working time
    assert breaches[0].overdue_by == 17 * H  # verification due Tue 10:00: 6 h + 7.5 h + 3.5 h
    assert breaches[4].overdue_by == 50 * MIN
    # Urging leaves the clock alone: the urged case is as overdue as before.
    assert sla_status(urged_already, now=now).status == "overdue"
    assert sla_status(urged_already, now=now).due_at == sla_status(handling_late, now=now).due_at


def test_each_hand_over_starts_its_own_dispatch_clock_and_a_summons_stops_nothing() -> None:
    report = ev("report", None, "reported", at(2025, 11, 3, 9, 0))
    register = ev("register", "reported", "registered", at(2025, 11, 3, 9, 10))
    to_community = ev("hand_over", "registered", "referred", at(2025, 11, 3, 9, 20))
    to_street = ev("hand_over", "referred", "referred", at(2025, 11, 3, 10, 0))
    summon = ev("summon", "referred", "referred", at(2025, 11, 3, 10, 5))
    clocks = stage_clocks([report, register, to_community, to_street, summon], now=at(2025, 11, 3, 10, 40))
    assert [(c.stage, c.started_at) for c in clocks] == [("dispatch", at(2025, 11, 3, 9, 0)),
                                                         ("dispatch", at(2025, 11, 3, 9, 20)),
                                                         ("dispatch", at(2025, 11, 3, 10, 0))]
    assert clocks[-1].due_at == at(2025, 11, 3, 10, 30)  # 30 min from the street's hand-over, not the summons
    assert sla_status([report, register, to_community, to_street, summon], now=at(2025, 11, 3, 10, 40)).status \
        == "overdue"
