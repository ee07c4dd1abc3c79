"""The pure rules of visits and staffing (gis.visits, gis.staffing): cadence, due dates, months, sealing, targets."""

from __future__ import annotations

import datetime as dt

import pytest

from gis import visits
from gis.errors import InvalidInput, SetupError
from gis.idnumbers import IdKeys, new_key
from gis.staffing import follow_households

UTC = dt.UTC
CADENCE = dict(visits.DEFAULT_CADENCE)


def test_a_household_follows_the_shortest_cadence_of_its_groups() -> None:
    assert visits.household_cadence(["low_income", "elderly_alone"], CADENCE) == visits.Cadence(7, "elderly_alone")
    assert visits.household_cadence(["key_person"], CADENCE) == visits.Cadence(30, "key_person")
    assert visits.household_cadence(["veteran", "party_member_unknown"], CADENCE) == visits.Cadence(90, "veteran")
    assert visits.household_cadence([], CADENCE) == visits.Cadence(90, "other")
    assert visits.household_cadence(["other"], {"other": 60}) == visits.Cadence(60, "other")


def test_due_dates_count_local_days_from_the_last_visit_or_the_recording() -> None:
    # 23:30 UTC on 1 Dec is 07:30 on 2 Dec in Shanghai: the visit's day is the 2nd.
    last = dt.datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    item = visits.due_visit(household_id=5, grid_code="320199001001002", head_name="王秀英", tags=["elderly_alone"],
                            last_visit=last, recorded_at=last - dt.timedelta(days=300), cadence=CADENCE,
                            today=dt.date(2026, 12, 12))
    assert (item.due_date, item.overdue_days, item.head_name, item.tag) == (dt.date(2026, 12, 9), 3, "王**",
                                                                            "elderly_alone")
    never = visits.due_visit(household_id=6, grid_code=None, head_name=None, tags=[], last_visit=None,
                             recorded_at=dt.datetime(2026, 12, 10, 1, 0, tzinfo=UTC), cadence=CADENCE,
                             today=dt.date(2026, 12, 12))
    assert (never.due_date, never.overdue_days, never.to_dict()["last_visit"]) == (dt.date(2026, 12, 10), 2, None)
    assert visits.is_due_in(never, until=dt.date(2026, 12, 10))
    assert not visits.is_due_in(never, until=dt.date(2026, 12, 9))


def test_a_month_is_local_and_bad_months_name_the_field() -> None:
    lo, hi = visits.month_period("2026-12")
    assert (lo.astimezone(UTC), hi.astimezone(UTC)) == (dt.datetime(2026, 11, 30, 16, tzinfo=UTC),
                                                        dt.datetime(2026, 12, 31, 16, tzinfo=UTC))
    for bad in ("2026-13", "2026-1", "December"):
        with pytest.raises(InvalidInput, match="month: YYYY-MM"):
            visits.month_period(bad)


def test_visit_times_in_the_future_or_before_the_household_are_refused() -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    since = dt.datetime(2026, 1, 1, tzinfo=UTC)
    late = now - dt.timedelta(hours=20)  # an offline phone's visit, sent the next day
    assert visits.check_visit_time(late, now=now, household_since=since) == late
    assert visits.check_visit_time(now + dt.timedelta(minutes=4), now=now, household_since=since)  # a fast clock
    with pytest.raises(InvalidInput, match="is in the future") as future:
        visits.check_visit_time(now + dt.timedelta(hours=1), now=now, household_since=since)
    assert future.value.details == {"field": "visited_at"}
    with pytest.raises(InvalidInput, match="before the household was recorded"):
        visits.check_visit_time(since - dt.timedelta(days=1), now=now, household_since=since)
    with pytest.raises(InvalidInput, match="with its UTC offset"):
        visits.check_visit_time(dt.datetime(2026, 12, 6, 9, 0), now=now, household_since=since)
    with pytest.raises(InvalidInput, match="purpose: one of routine, care"):
        visits.check_purpose("chat")


def test_findings_are_sealed_under_a_key_derived_from_the_id_key() -> None:
    old, new = new_key(), new_key()
    keys = IdKeys.from_text(old)
    token = visits.seal_findings(keys, "独居，腿脚不便，需送餐")
    assert token.startswith(f"wv1.{keys.current_id}.") and "送餐" not in token
    assert token != visits.seal_findings(keys, "独居，腿脚不便，需送餐")  # a fresh nonce each time
    assert visits.open_findings(keys, token) == "独居，腿脚不便，需送餐"
    rotated = IdKeys.from_text(new, previous=[old])
    assert visits.open_findings(rotated, token) == "独居，腿脚不便，需送餐"
    with pytest.raises(SetupError, match="neither WANGGE_ID_KEY"):
        visits.open_findings(IdKeys.from_text(new), token)
    # An ID-number token is not findings, and findings do not open as an ID number.
    with pytest.raises(InvalidInput):
        visits.open_findings(keys, keys.encrypt("32010219800101001X"))
    with pytest.raises(InvalidInput):
        keys.decrypt("wg1" + token[3:])


def test_cadence_settings_are_checked() -> None:
    assert visits.parse_cadence_setting("elderly_alone=3") == ("elderly_alone", 3)
    for bad, words in (("elderly_alone=0", "between 1 and 366"), ("x", "TAG=DAYS"), ("老人=7", "lower-case")):
        with pytest.raises(InvalidInput, match=words):
            visits.parse_cadence_setting(bad)


def test_staff_follow_most_of_their_households() -> None:
    target = follow_households({"A": 40, "B": 60, None: 5})
    assert (target.grid_code, target.households, target.households_total, target.share) == ("B", 60, 105, 0.5714)
    assert follow_households({"B": 50, "A": 50}).grid_code == "A"  # a tie goes to the lowest code
    assert follow_households({}, {"A": 10.0, "B": 900.0}).grid_code == "B"  # no households: the land
    assert follow_households({None: 30}).grid_code is None  # a redrawn community not yet split
