"""Case figures (三率 and more) per grid, community and street over a period.

Which cases count: those **reported** in the period ``[start, end)``; their events are taken as
they stood at ``as_of`` (default ``end``), so a report is judged by what had happened by then.
Stage clocks, limits and pauses are those of :mod:`gis.cases.deadlines` (working time for normal
cases, wall-clock time for urgent ones; approved extensions and parking do not count).

The figures, as a report may cite them:

- **response rate (响应率)** = cases answered on time ÷ cases due an answer. A case is *answered*
  by its first ``register`` (立案), ``reject`` (不予立案), ``hand_over`` (移交) or — in logs from
  before issue 18 — ``escalate``; *on time* when
  the counted time from the report to that answer is within the dispatch limit (10 min urgent /
  30 min normal by default). A case is *due an answer* once answered or once that limit has run
  out unanswered by ``as_of``; unanswered cases still within their limit are not judged yet.
- **resolution rate (结案率)** = closed cases ÷ registered cases, where *registered* means a
  ``register`` event and *closed* means the status at ``as_of`` is ``closed`` or ``evaluated``.
- **on-time closure rate (按期结案率)** = cases closed on time ÷ registered cases due for closure.
  *Closed on time*: closed, and no stage clock of the case (dispatch, every handling round,
  verification) used more than its limit. *Due for closure*: closed, or with a stage clock over
  its limit at ``as_of``; open cases still within every limit are not judged yet.
- **satisfaction rate (满意率)** = evaluations scoring at least ``satisfied_from`` (default 4 of 5)
  ÷ evaluations; **satisfaction mean** is the mean score. Evaluations are of cases whose status
  at ``as_of`` is ``evaluated``.
- **mean handling time** = the mean, over cases with at least one finished handling round, of
  the working hours (the working calendar for every case, urgent ones included, so the figure
  compares like with like) from each round's start (dispatch, report-in or reopen) to its
  feedback, summed over rounds, pauses excluded.

A rate with a zero denominator is missing (NaN in the frame, null in the dict), never 0 or 100 %.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any, TypedDict, TypeGuard

import pandas as pd

from gis.cases.deadlines import DEFAULT_RULES, DeadlineRules, elapsed_working, stage_clocks
from gis.errors import InvalidInput
from gis.periods import zone

__all__ = ["COLUMNS", "DEPARTMENT_COLUMNS", "LEVELS", "case_figures", "case_stats", "department_stats",
           "period_bounds", "stats_to_dict"]

LEVELS = ("grid", "community", "street", "total")
# Width of each level's code: a 15-digit grid code starts with its community's 12 and its street's 9.
_CODE_WIDTH = {"grid": 15, "community": 12, "street": 9}
_ANSWERS = frozenset({"register", "reject", "escalate", "hand_over"})
_CLOSED = frozenset({"closed", "evaluated"})

COLUMNS = [
    "level", "code", "reports", "response_due", "responded_on_time", "response_rate", "registered", "closed",
    "resolution_rate", "due_for_closure", "closed_on_time", "on_time_closure_rate", "evaluated", "satisfied",
    "satisfaction_rate", "satisfaction_mean", "handled", "mean_handling_hours",
]
_COUNTS = ["reports", "response_due", "responded_on_time", "registered", "closed", "due_for_closure",
           "closed_on_time", "evaluated", "satisfied", "handled"]


def period_bounds(period: str, *, timezone: str = "Asia/Shanghai") -> tuple[dt.datetime, dt.datetime]:
    """``"2026"``, ``"2026-10"`` or ``"2026-Q4"`` as ``[start, end)`` at local midnight."""
    tz = zone(timezone)
    text = period.strip()
    if m := re.fullmatch(r"(\d{4})", text):
        year = int(m[1])
        return dt.datetime(year, 1, 1, tzinfo=tz), dt.datetime(year + 1, 1, 1, tzinfo=tz)
    if (m := re.fullmatch(r"(\d{4})-(\d{1,2})", text)) and 1 <= int(m[2]) <= 12:
        year, month = int(m[1]), int(m[2])
        days = _calendar.monthrange(year, month)[1]
        start = dt.datetime(year, month, 1, tzinfo=tz)
        return start, start + dt.timedelta(days=days)
    if (m := re.fullmatch(r"(\d{4})-[Qq]([1-4])", text)):
        year, quarter = int(m[1]), int(m[2])
        start = dt.datetime(year, 3 * quarter - 2, 1, tzinfo=tz)
        end = dt.datetime(year + 1, 1, 1, tzinfo=tz) if quarter == 4 else dt.datetime(year, 3 * quarter + 1, 1,
                                                                                      tzinfo=tz)
        return start, end
    raise InvalidInput(f"period {period!r}: expected a year (2026), a month (2026-10) or a quarter (2026-Q4)",
                       details={"field": "period"})


def _column(frame: pd.DataFrame, name: str, default: Any) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index, dtype=object)


def _present(value: Any) -> TypeGuard[float]:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def case_figures(cases: pd.DataFrame, events: pd.DataFrame, *, start: dt.datetime, end: dt.datetime,
                 as_of: dt.datetime | None = None, rules: DeadlineRules = DEFAULT_RULES,
                 satisfied_from: int = 4) -> pd.DataFrame:
    """One row per case reported in ``[start, end)`` with the 0/1 facts the rates count (see the module doc).

    ``cases``: ``id``, ``grid_code``, ``reported_at`` and optionally ``urgency`` (normal),
    ``category``, ``area`` (urban), ``community_code``, ``street_code``, ``satisfaction``.
    ``events``: ``case_id`` (or ``incident_id``), ``action``, ``to_status``, ``at`` and optionally
    ``satisfaction``. Times are timezone-aware.
    """
    for name, value in (("start", start), ("end", end), ("as_of", as_of)):
        if value is not None and (value.tzinfo is None or value.utcoffset() is None):
            raise InvalidInput(f"{name}: a timezone-aware datetime is required; got {value!r}", details={"field": name})
    if end <= start:
        raise InvalidInput(f"the period ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    as_of = as_of or end
    missing = [c for c in ("id", "grid_code", "reported_at") if c not in cases.columns]
    if missing:
        raise InvalidInput(f"cases lacks column(s) {', '.join(missing)}")
    events = events.rename(columns={"incident_id": "case_id"})
    missing = [c for c in ("case_id", "action", "to_status", "at") if c not in events.columns]
    if missing:
        raise InvalidInput(f"events lacks column(s) {', '.join(missing)}")

    reported = pd.to_datetime(cases["reported_at"], utc=True)
    chosen = cases[(reported >= pd.Timestamp(start)) & (reported < pd.Timestamp(end))]
    by_case = _events_by_case(events, as_of)
    rows = [_case_row(case, by_case.get(case["id"], []), as_of=as_of, rules=rules, satisfied_from=satisfied_from)
            for case in chosen.to_dict("records")]
    columns = ["case_id", "grid", "community", "street", *_COUNTS, "score", "handling_hours"]
    return pd.DataFrame(rows, columns=columns)


def _events_by_case(events: pd.DataFrame, as_of: dt.datetime) -> dict[Any, list[dict[str, Any]]]:
    """The events up to ``as_of`` per case id, in time order, with plain datetimes."""
    events = events[pd.to_datetime(events["at"], utc=True) <= pd.Timestamp(as_of)]
    # One sort and one conversion for all events: per-case frame slicing costs more than the clocks.
    by_case: dict[Any, list[dict[str, Any]]] = {}
    ordered = events.assign(_t=pd.to_datetime(events["at"], utc=True)).sort_values("_t", kind="stable")
    for record in ordered.drop(columns="_t").to_dict("records"):
        # Plain datetimes: calendar arithmetic on pandas Timestamps is several times slower.
        record["at"] = pd.Timestamp(record["at"]).to_pydatetime()
        by_case.setdefault(record["case_id"], []).append(record)
    return by_case


def _case_row(case: dict[str, Any], case_events: list[dict[str, Any]], *, as_of: dt.datetime, rules: DeadlineRules,
              satisfied_from: int) -> dict[str, Any]:
    """One case's 0/1 facts (response, closure, satisfaction) and its handling hours, as of ``as_of``."""
    urgency = str(case["urgency"]) if _present(case.get("urgency")) else "normal"
    category = case.get("category") if _present(case.get("category")) else None
    area = str(case["area"]) if _present(case.get("area")) else "urban"
    grid = case.get("grid_code") if _present(case.get("grid_code")) else None
    row = {"case_id": case["id"], "grid": grid}
    for level in ("community", "street"):
        own = case.get(f"{level}_code")
        row[level] = own if _present(own) else (grid[:_CODE_WIDTH[level]] if grid else None)

    clocks = stage_clocks(case_events, now=as_of, rules=rules, category=category, urgency=urgency, area=area)
    status = case_events[-1]["to_status"] if case_events else None
    report_at = pd.Timestamp(case["reported_at"]).to_pydatetime()
    dispatch = rules.limit_for("dispatch", category=category, urgency=urgency, area=area)
    dispatch_calendar = rules.calendar_for(dispatch.clock)
    answer = next((e for e in case_events if e["action"] in _ANSWERS), None)
    if answer is not None:
        spent = elapsed_working(report_at, max(report_at, pd.Timestamp(answer["at"]).to_pydatetime()),
                                calendar=dispatch_calendar).counted
        row["response_due"], row["responded_on_time"] = 1, int(spent <= dispatch.duration)
    else:
        spent = elapsed_working(report_at, max(report_at, as_of), calendar=dispatch_calendar).counted
        row["response_due"], row["responded_on_time"] = int(spent > dispatch.duration), 0

    registered = any(e["action"] == "register" for e in case_events)
    closed = status in _CLOSED
    late = any(c.overdue for c in clocks)
    row.update(reports=1, registered=int(registered), closed=int(registered and closed),
               due_for_closure=int(registered and (closed or late)),
               closed_on_time=int(registered and closed and not late))

    score = None
    if status == "evaluated":
        score = case.get("satisfaction")
        if not _present(score):
            scored = [e.get("satisfaction") for e in case_events
                      if e["action"] == "evaluate" and _present(e.get("satisfaction"))]
            score = scored[-1] if scored else None
    row["evaluated"] = int(_present(score))
    row["satisfied"] = int(_present(score) and score >= satisfied_from)
    row["score"] = float(score) if _present(score) else math.nan

    rounds = [(c, c.ended_at) for c in clocks if c.stage == "handling" and c.ended_at is not None]
    if rounds:
        hours = sum((elapsed_working(c.started_at, ended, pauses=c.pauses, calendar=rules.calendar).counted
                     for c, ended in rounds), dt.timedelta(0))
        row["handled"], row["handling_hours"] = 1, hours / dt.timedelta(hours=1)
    else:
        row["handled"], row["handling_hours"] = 0, math.nan
    return row


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return (num / den.where(den > 0)).astype("float64")


def case_stats(cases: pd.DataFrame, events: pd.DataFrame, *, start: dt.datetime, end: dt.datetime,
               as_of: dt.datetime | None = None, rules: DeadlineRules = DEFAULT_RULES,
               levels: Sequence[str] = LEVELS, satisfied_from: int = 4) -> pd.DataFrame:
    """The figures per grid, community, street and in total (columns :data:`COLUMNS`), rates as shares 0..1."""
    unknown = [level for level in levels if level not in LEVELS]
    if unknown:
        raise InvalidInput(f"levels {unknown}: choose from {', '.join(LEVELS)}")
    figures = case_figures(cases, events, start=start, end=end, as_of=as_of, rules=rules,
                           satisfied_from=satisfied_from)
    parts = []
    for level in levels:
        frame = figures.assign(total="all") if level == "total" else figures
        keyed = frame.dropna(subset=[level])
        grouped = keyed.groupby(level, sort=True)
        part = grouped[_COUNTS].sum()
        part["satisfaction_mean"] = grouped["score"].mean()
        part["mean_handling_hours"] = grouped["handling_hours"].mean()
        part = part.reset_index().rename(columns={level: "code"})
        part.insert(0, "level", level)
        parts.append(part)
    if not parts or all(p.empty for p in parts):
        return pd.DataFrame(columns=COLUMNS)
    out = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    out["response_rate"] = _ratio(out["responded_on_time"], out["response_due"])
    out["resolution_rate"] = _ratio(out["closed"], out["registered"])
    out["on_time_closure_rate"] = _ratio(out["closed_on_time"], out["due_for_closure"])
    out["satisfaction_rate"] = _ratio(out["satisfied"], out["evaluated"])
    out[_COUNTS] = out[_COUNTS].astype("int64")
    return out[COLUMNS]


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


class Period(TypedDict):
    """A period's bounds and the moment its figures were judged at, as ISO text."""

    start: str
    end: str
    as_of: str


class StatsDict(TypedDict):
    """The rates of :func:`case_stats` as JSON-ready data: the period, and the rows of each level."""

    period: Period
    levels: dict[str, list[dict[str, Any]]]


def stats_to_dict(frame: pd.DataFrame, *, start: dt.datetime, end: dt.datetime,
                  as_of: dt.datetime | None = None) -> StatsDict:
    """The frame of :func:`case_stats` as JSON-ready data: the period, then the rows of each level."""
    by_level: dict[str, list[dict[str, Any]]] = {}
    for record in frame.to_dict("records"):
        row = {k: _json_value(v) for k, v in record.items() if k != "level"}
        by_level.setdefault(record["level"], []).append(row)
    return {
        "period": {"start": start.isoformat(), "end": end.isoformat(), "as_of": (as_of or end).isoformat()},
        "levels": by_level,
    }


# --- per department ------------------------------------------------------------------------------

DEPARTMENT_COLUMNS = [
    "department_id", "offered", "claimed", "mean_response_hours", "closed", "mean_closure_hours", "summoned",
    "reported_in", "reported_in_on_time", "missed", "urged", "supervised",
]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def department_stats(offers: Sequence[dict[str, Any]], summons: Sequence[dict[str, Any]],
                     urgings: Sequence[dict[str, Any]], *, as_of: dt.datetime,
                     rules: DeadlineRules = DEFAULT_RULES) -> list[dict[str, Any]]:
    """Per department: how fast it answered the cases offered to it, and how it answered summons.

    - ``offers``: one per hand-over of a case to a department (``department_id``, ``offered_at``,
      ``claimed_at`` and ``closed_at``, None when not (yet) by ``as_of``). **Response time** is the
      working hours from the offer to the department's claim (认领), **closure time** those from
      the offer to the case's closing; both on the working calendar for every case, like mean
      handling time, so departments compare like with like.
    - ``summons``: ``department_id``, ``report_in_due_at``, ``reported_in_at``. **Missed**: no
      report-in by the limit at ``as_of``, or one after it; **on time**: a report-in by the limit.
    - ``urgings``: ``department_id`` and ``kind`` (urge/supervise) of those aimed at a department.
    """
    calendar = rules.calendar
    rows: dict[Any, dict[str, Any]] = {}

    def row(dept: Any) -> dict[str, Any]:
        return rows.setdefault(dept, {"department_id": dept, "offered": 0, "claimed": 0, "_response": [],
                                      "closed": 0, "_closure": [], "summoned": 0, "reported_in": 0,
                                      "reported_in_on_time": 0, "missed": 0, "urged": 0, "supervised": 0})

    for offer in offers:
        r = row(offer["department_id"])
        r["offered"] += 1
        start = offer["offered_at"]
        for key, count, times in (("claimed_at", "claimed", "_response"), ("closed_at", "closed", "_closure")):
            end = offer.get(key)
            if end is not None and start <= end <= as_of:
                r[count] += 1
                r[times].append(elapsed_working(start, end, calendar=calendar).counted / dt.timedelta(hours=1))
    for s in summons:
        r = row(s["department_id"])
        r["summoned"] += 1
        reported, due = s.get("reported_in_at"), s["report_in_due_at"]
        if reported is not None and reported <= as_of:
            r["reported_in"] += 1
            if reported <= due:
                r["reported_in_on_time"] += 1
            else:
                r["missed"] += 1
        elif due < as_of:
            r["missed"] += 1
    for u in urgings:
        if u.get("department_id") is not None:
            row(u["department_id"])["urged" if u["kind"] == "urge" else "supervised"] += 1
    out = []
    for dept in sorted(rows, key=str):
        r = rows[dept]
        r["mean_response_hours"] = _mean(r.pop("_response"))
        r["mean_closure_hours"] = _mean(r.pop("_closure"))
        out.append({c: r[c] for c in DEPARTMENT_COLUMNS})
    return out
