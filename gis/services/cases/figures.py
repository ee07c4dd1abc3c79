"""Case figures per grid, community, street, person and department for a period (rates from gis.cases.stats)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.deadlines import (
    DeadlineRules,
)
from gis.cases.stats import LEVELS, Period, case_stats, department_stats, period_bounds, stats_to_dict
from gis.cases.workflow import CLOSED_STATUSES
from gis.errors import InvalidInput
from gis.services.cases.rules import deadline_rules
from gis.settings import Settings


class CaseFigures(TypedDict):
    """The figures of a period: rates per level, 随手办 counts, and figures per grid, person and department."""

    district_code: str | None
    level: str
    period: Period
    levels: dict[str, list[dict[str, Any]]]
    quick_fix: dict[str, int]
    by_grid: list[dict[str, Any]]
    by_person: list[dict[str, Any]]
    by_department: list[dict[str, Any]]


def case_statistics(session: Session, *, period: str, level: str = "grid", settings: Settings,
                    district_code: str | None = None, as_of: dt.datetime | None = None) -> CaseFigures:
    """Rates per grid, community or street (and in total), and the figures per grid, person and department.

    - ``levels``: response, resolution, on-time closure and satisfaction rates (gis.cases.stats) of
      the cases reported in the period; 随手办 cases are left out and counted apart (``quick_fix``).
    - ``by_grid``: per grid, cases reported, 随手办 reported and how they were checked, urgings
      (催办) and supervisions (督办) in the period, and cases late now (open, due time passed).
    - ``by_person``: urgings and supervisions in the period per person they were aimed at.
    - ``by_department``: per department, cases offered (hand-overs in the period), claimed and the
      mean response time, closed and the mean closure time (working hours from the offer), summons,
      report-ins on time and missed, urgings and supervisions (gis.cases.stats.department_stats).
    """
    if level not in LEVELS:
        raise InvalidInput(f"level {level!r}: choose one of {', '.join(LEVELS)}", details={"field": "level"})
    rules = deadline_rules(settings)
    start, end = period_bounds(period, timezone=settings.case_timezone)
    judged = min(as_of or end, end)
    params = {"start": start, "end": end, "d": district_code, "as_of": judged}
    cases = _cases(session, params)
    events = _case_events(session, [int(i) for i in cases["id"]])
    levels = [level] if level == "total" else [level, "total"]
    frame = case_stats(cases, events, start=start, end=end, as_of=as_of, rules=rules, levels=levels)
    rates = stats_to_dict(frame, start=start, end=end, as_of=as_of)
    quick = _quick_fix_by_grid(session, params)
    urgings = _urgings(session, params)
    return {
        "district_code": district_code, "level": level, "period": rates["period"], "levels": rates["levels"],
        "quick_fix": {k: sum(r[k] for r in quick) for k in ("reported", "closed_automatically", "sampled",
                                                            "verified", "reopened")},
        "by_grid": _by_grid(session, params, cases=cases, quick=quick, urgings=urgings),
        "by_person": _by_person(urgings),
        "by_department": _by_department(session, params, urgings=urgings, as_of=judged, rules=rules),
    }


def _cases(session: Session, params: dict[str, Any]) -> pd.DataFrame:
    """The cases reported in the period (随手办 left out), one row each, as gis.cases.stats reads them."""
    return pd.DataFrame([dict(r) for r in session.execute(text("""
        SELECT i.id, i.grid_code, i.community_code, i.street_code, i.reported_at, i.urgency,
               COALESCE(i.category_code, i.category) AS category, i.area, i.satisfaction
        FROM incident i WHERE i.reported_at >= :start AND i.reported_at < :end AND NOT i.quick_fix
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d)"""), params).mappings()],
        columns=["id", "grid_code", "community_code", "street_code", "reported_at", "urgency", "category", "area",
                 "satisfaction"])


def _case_events(session: Session, ids: list[int]) -> pd.DataFrame:
    """The log of those cases, in order."""
    return pd.DataFrame([dict(r) for r in session.execute(text("""
        SELECT incident_id, action, to_status, at, satisfaction FROM incident_event WHERE incident_id = ANY(:ids)
        ORDER BY at, id"""), {"ids": ids}).mappings()], columns=["incident_id", "action", "to_status", "at",
                                                                 "satisfaction"])


def _quick_fix_by_grid(session: Session, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Per grid, the 随手办 reported in the period and how they were checked by ``as_of``."""
    return [dict(r) for r in session.execute(text("""
        SELECT i.grid_code,
               count(*) AS reported,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'close' AND e.actor_role = 'system' AND e.at <= :as_of))
                   AS closed_automatically,
               count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'close' AND e.actor_role = 'system')) AS sampled,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'verify' AND e.at <= :as_of)) AS verified,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM incident_event e WHERE e.incident_id = i.id
                                 AND e.action = 'reopen' AND e.at <= :as_of)) AS reopened
        FROM incident i WHERE i.quick_fix AND i.reported_at >= :start AND i.reported_at < :end
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d)
        GROUP BY i.grid_code ORDER BY i.grid_code"""), params).mappings()]


def _urgings(session: Session, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The urgings (催办) and supervisions (督办) of the period up to ``as_of``, with whom they were aimed at."""
    return [dict(r) for r in session.execute(text("""
        SELECT u.kind, u.grid_code, u.target_user_id, au.username AS target, u.department_id, u.level, u.overdue
        FROM incident_urging u LEFT JOIN app_user au ON au.id = u.target_user_id
        WHERE u.at >= :start AND u.at < :end AND u.at <= :as_of
          AND (CAST(:d AS text) IS NULL OR u.district_code = :d)"""), params).mappings()]


def _by_grid(session: Session, params: dict[str, Any], *, cases: pd.DataFrame, quick: list[dict[str, Any]],
             urgings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per grid: reports, 随手办, urgings, supervisions, and the cases late at ``as_of``."""
    late = {r.grid_code: r.n for r in session.execute(text("""
        SELECT i.grid_code, count(*) AS n FROM incident i
        WHERE i.status <> ALL(CAST(:closed AS text[])) AND i.due_at IS NOT NULL AND i.due_at < :as_of
          AND (CAST(:d AS text) IS NULL OR i.district_code = :d) GROUP BY i.grid_code"""),
        {**params, "closed": sorted(CLOSED_STATUSES)}).all()}
    reports = cases.groupby("grid_code").size().to_dict() if len(cases) else {}
    grids = sorted({*reports, *(r["grid_code"] for r in quick), *(u["grid_code"] for u in urgings), *late} - {None})
    quick_by_grid = {r["grid_code"]: r for r in quick}
    return [{
        "grid_code": g, "reports": int(reports.get(g, 0)),
        "quick_fix": int(quick_by_grid[g]["reported"]) if g in quick_by_grid else 0,
        "quick_fix_closed_automatically": int(quick_by_grid[g]["closed_automatically"]) if g in quick_by_grid else 0,
        "urged": sum(1 for u in urgings if u["grid_code"] == g and u["kind"] == "urge"),
        "supervised": sum(1 for u in urgings if u["grid_code"] == g and u["kind"] == "supervise"),
        "late_now": int(late.get(g, 0))} for g in grids]


def _by_person(urgings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Urgings and supervisions per person they were aimed at (those aimed at nobody left out)."""
    people: dict[int, dict[str, Any]] = {}
    for u in urgings:
        if u["target_user_id"] is None:
            continue
        p = people.setdefault(u["target_user_id"], {"user_id": u["target_user_id"], "username": u["target"],
                                                    "urged": 0, "supervised": 0})
        p["urged" if u["kind"] == "urge" else "supervised"] += 1
    return sorted(people.values(), key=lambda p: p["user_id"])


def _by_department(session: Session, params: dict[str, Any], *, urgings: list[dict[str, Any]], as_of: dt.datetime,
                   rules: DeadlineRules) -> list[dict[str, Any]]:
    """Per department: offers, claims, closures, summons and report-ins (gis.cases.stats.department_stats)."""
    offers = [dict(r) for r in session.execute(text("""
        SELECT CAST(e.detail->>'department_id' AS integer) AS department_id, e.at AS offered_at,
               (SELECT min(c.at) FROM incident_event c WHERE c.incident_id = e.incident_id AND c.action = 'claim'
                  AND c.at >= e.at AND c.from_status = 'referred'
                  AND NOT EXISTS (SELECT 1 FROM incident_event h WHERE h.incident_id = e.incident_id
                                  AND h.action IN ('hand_over', 'return') AND h.at > e.at AND h.at <= c.at
                                  AND h.id <> e.id)) AS claimed_at,
               (SELECT min(c.at) FROM incident_event c WHERE c.incident_id = e.incident_id AND c.action = 'close'
                  AND c.at >= e.at) AS closed_at
        FROM incident_event e WHERE e.action = 'hand_over' AND e.detail ? 'department_id'
          AND e.at >= :start AND e.at < :end AND (CAST(:d AS text) IS NULL OR e.district_code = :d)"""),
        params).mappings()]
    summons = [dict(r) for r in session.execute(text("""
        SELECT department_id, report_in_due_at, reported_in_at FROM case_summons
        WHERE summoned_at >= :start AND summoned_at < :end AND (CAST(:d AS text) IS NULL OR district_code = :d)"""),
        params).mappings()]
    figures = department_stats(offers, summons, urgings, as_of=as_of, rules=rules)
    names = {r.id: (r.name, r.kind) for r in session.execute(text(
        "SELECT id, name, kind FROM department WHERE (CAST(:d AS text) IS NULL OR district_code = :d)"), params)}
    return [{**f, "department": names.get(f["department_id"], (None, None))[0],
             "kind": names.get(f["department_id"], (None, None))[1]} for f in figures]
