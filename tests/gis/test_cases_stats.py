"""Case figures per grid, community, street and in total, checked against hand-computed numbers."""

from __future__ import annotations

import datetime as dt
import json
import math
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from gis.cases.stats import COLUMNS, case_figures, case_stats, period_bounds, stats_to_dict
from gis.errors import InvalidInput

SH = ZoneInfo("Asia/Shanghai")
A, B, C = "320199001001001", "320199001001002", "320199001002001"
NORTH, SOUTH, STREET = "320199001001", "320199001002", "320199001"
START, END = period_bounds("2025-11")


def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, month, day, hour, minute, tzinfo=SH)


# Every case as (id, grid, urgency, cases.satisfaction, [(action, to_status, time, event satisfaction)]).
CASES = [
    # 1: answered in 10 min, handled 09:20-11:20 (2 h), closed on time, scored 5 (in the event).
    (1, A, "normal", None, [("report", "reported", at(11, 3, 9)), ("register", "registered", at(11, 3, 9, 10)),
                            ("dispatch", "dispatched", at(11, 3, 9, 20)), ("accept", "handling", at(11, 3, 9, 30)),
                            ("feedback", "feedback", at(11, 3, 11, 20)), ("verify", "verification", at(11, 3, 11, 40)),
                            ("close", "closed", at(11, 3, 11, 50)), ("evaluate", "evaluated", at(11, 3, 14), 5)]),
    # 2: registered after 60 min (late), dispatched after 65 (the dispatch clock ran over), handled
    #    Mon 10:05 - Tue 10:05 = 7.5 working hours, closed but not on time, scored 3 (in the case row).
    (2, A, "normal", 3, [("report", "reported", at(11, 3, 9)), ("register", "registered", at(11, 3, 10)),
                         ("dispatch", "dispatched", at(11, 3, 10, 5)), ("accept", "handling", at(11, 3, 10, 10)),
                         ("feedback", "feedback", at(11, 4, 10, 5)), ("verify", "verification", at(11, 4, 10, 30)),
                         ("close", "closed", at(11, 4, 10, 40)), ("evaluate", "evaluated", at(11, 4, 15))]),
    # 8: an extension approved Mon 10:10 runs until the feedback on Wed 10:10: 1 h of handling counts.
    (8, A, "normal", None, [("report", "reported", at(11, 3, 9)), ("register", "registered", at(11, 3, 9, 5)),
                            ("dispatch", "dispatched", at(11, 3, 9, 10)), ("accept", "handling", at(11, 3, 9, 15)),
                            ("request_extension", "extension_requested", at(11, 3, 10)),
                            ("approve_extension", "extended", at(11, 3, 10, 10)),
                            ("feedback", "feedback", at(11, 5, 10, 10)), ("verify", "verification", at(11, 5, 10, 30)),
                            ("close", "closed", at(11, 5, 10, 40))]),
    # 3: rejected in 15 min: answered on time, never registered.
    (3, B, "normal", None, [("report", "reported", at(11, 3, 9)), ("reject", "rejected", at(11, 3, 9, 15))]),
    # 4: still in handling four weeks later: overdue, so due for closure and not closed.
    (4, B, "normal", None, [("report", "reported", at(11, 3, 9)), ("register", "registered", at(11, 3, 9, 5)),
                            ("dispatch", "dispatched", at(11, 3, 9, 10)), ("accept", "handling", at(11, 3, 9, 15))]),
    # 5: reported Fri 28 Nov 17:20, unanswered at the end of the month with 10 working minutes used: not judged.
    (5, C, "normal", None, [("report", "reported", at(11, 28, 17, 20))]),
    # 6: urgent, on a Saturday night, on the wall clock: every stage within its limit; no working hours spent.
    (6, C, "urgent", None, [("report", "reported", at(11, 8, 22)), ("register", "registered", at(11, 8, 22, 5)),
                            ("dispatch", "dispatched", at(11, 8, 22, 8)), ("accept", "handling", at(11, 8, 22, 10)),
                            ("feedback", "feedback", at(11, 8, 23, 30)), ("verify", "verification", at(11, 8, 23, 50)),
                            ("close", "closed", at(11, 8, 23, 55))]),
    # 7: reported in October: outside the period.
    (7, A, "normal", None, [("report", "reported", at(10, 31, 9))]),
]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    cases = pd.DataFrame({
        "id": [c[0] for c in CASES], "grid_code": [c[1] for c in CASES], "urgency": [c[2] for c in CASES],
        "satisfaction": [c[3] for c in CASES], "reported_at": [c[4][0][2] for c in CASES],
        "category": ["市容环境"] * len(CASES),
    })
    events = pd.DataFrame([
        {"incident_id": c[0], "action": e[0], "to_status": e[1], "at": e[2],
         "satisfaction": e[3] if len(e) > 3 else None}
        for c in CASES for e in c[4]
    ])
    return cases, events


def _row(frame: pd.DataFrame, level: str, code: str) -> dict:
    rows = frame[(frame["level"] == level) & (frame["code"] == code)].to_dict("records")
    assert len(rows) == 1, (level, code)
    return rows[0]


def _check(row: dict, **expected: float | None) -> None:
    for key, value in expected.items():
        if value is None:
            assert math.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(value), key


def test_figures_per_grid_match_the_hand_count() -> None:
    cases, events = _frames()
    stats = case_stats(cases, events, start=START, end=END)
    assert list(stats.columns) == COLUMNS
    assert set(stats[stats["level"] == "grid"]["code"]) == {A, B, C}
    _check(_row(stats, "grid", A), reports=3, response_due=3, responded_on_time=2, response_rate=2 / 3,
           registered=3, closed=3, resolution_rate=1.0, due_for_closure=3, closed_on_time=2,
           on_time_closure_rate=2 / 3, evaluated=2, satisfied=1, satisfaction_rate=0.5, satisfaction_mean=4.0,
           handled=3, mean_handling_hours=(2 + 7.5 + 1) / 3)
    _check(_row(stats, "grid", B), reports=2, response_due=2, responded_on_time=2, response_rate=1.0,
           registered=1, closed=0, resolution_rate=0.0, due_for_closure=1, closed_on_time=0,
           on_time_closure_rate=0.0, evaluated=0, satisfaction_rate=None, satisfaction_mean=None,
           handled=0, mean_handling_hours=None)
    _check(_row(stats, "grid", C), reports=2, response_due=1, responded_on_time=1, response_rate=1.0,
           registered=1, closed=1, due_for_closure=1, closed_on_time=1, on_time_closure_rate=1.0,
           handled=1, mean_handling_hours=0.0)


def test_figures_roll_up_to_community_street_and_total() -> None:
    cases, events = _frames()
    stats = case_stats(cases, events, start=START, end=END)
    _check(_row(stats, "community", NORTH), reports=5, response_rate=0.8, resolution_rate=0.75,
           on_time_closure_rate=0.5, satisfaction_rate=0.5, mean_handling_hours=3.5)
    _check(_row(stats, "community", SOUTH), reports=2, on_time_closure_rate=1.0)
    for level, code in (("street", STREET), ("total", "all")):
        _check(_row(stats, level, code), reports=7, response_due=6, responded_on_time=5, registered=5, closed=4,
               resolution_rate=0.8, due_for_closure=5, closed_on_time=3, on_time_closure_rate=0.6,
               evaluated=2, satisfaction_mean=4.0, handled=4, mean_handling_hours=(2 + 7.5 + 1 + 0) / 4)


def test_as_of_judges_the_period_as_it_stood_then() -> None:
    cases, events = _frames()
    # At Mon 3 Nov 12:00 case 2 was still in handling and within its limit, case 8 in its extension.
    figures = case_figures(cases, events, start=START, end=END, as_of=at(11, 3, 12)).set_index("case_id")
    assert figures.loc[2, "closed"] == 0 and figures.loc[2, "due_for_closure"] == 1  # its dispatch ran over
    assert figures.loc[8, "due_for_closure"] == 0
    assert figures.loc[1, "evaluated"] == 0


def test_the_dict_is_json_ready() -> None:
    cases, events = _frames()
    stats = case_stats(cases, events, start=START, end=END, levels=("grid", "total"))
    data = stats_to_dict(stats, start=START, end=END)
    text = json.dumps(data, allow_nan=False)
    assert data["period"] == {"start": "2025-11-01T00:00:00+08:00", "end": "2025-12-01T00:00:00+08:00",
                              "as_of": "2025-12-01T00:00:00+08:00"}
    assert set(data["levels"]) == {"grid", "total"}
    grid_b = next(r for r in data["levels"]["grid"] if r["code"] == B)
    assert grid_b["satisfaction_rate"] is None and grid_b["reports"] == 2
    assert "NaN" not in text


def test_periods_and_bad_input() -> None:
    assert period_bounds("2026-10") == (dt.datetime(2026, 10, 1, tzinfo=SH), dt.datetime(2026, 11, 1, tzinfo=SH))
    assert period_bounds("2026-Q4")[1] == dt.datetime(2027, 1, 1, tzinfo=SH)
    assert period_bounds("2026-Q1") == (dt.datetime(2026, 1, 1, tzinfo=SH), dt.datetime(2026, 4, 1, tzinfo=SH))
    assert period_bounds("2026") == (dt.datetime(2026, 1, 1, tzinfo=SH), dt.datetime(2027, 1, 1, tzinfo=SH))
    for bad in ("2026-13", "Oct 2026", "2026-Q5"):
        with pytest.raises(InvalidInput, match="expected a year"):
            period_bounds(bad)
    cases, events = _frames()
    with pytest.raises(InvalidInput, match="cases lacks column"):
        case_stats(cases.drop(columns="grid_code"), events, start=START, end=END)
    with pytest.raises(InvalidInput, match="levels"):
        case_stats(cases, events, start=START, end=END, levels=("province",))
    empty = case_stats(cases.iloc[0:0], events, start=START, end=END)
    assert list(empty.columns) == COLUMNS and empty.empty
