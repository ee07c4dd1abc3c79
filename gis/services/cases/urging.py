"""Deadlines in the case loop: the overdue and due-soon lists, automatic urging (催办), and summons (吹哨) lists."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.deadlines import (
    CaseClock,
    urgings_due,
)
from gis.cases.workflow import CLOSED_STATUSES, apply_action, replay
from gis.services.cases.log import _append_event, _events_by_case, _record_urging, _sla, _summons_record
from gis.services.cases.rules import case_table, deadline_rules
from gis.services.cases.scope import _incident_scope, _iso, _now, case_scope
from gis.services.users import Principal
from gis.settings import Settings


class OverdueList(TypedDict):
    """The cases in scope whose running stage is overdue or due soon, as of ``now``."""

    now: str
    overdue: list[dict[str, Any]]
    due_soon: list[dict[str, Any]]


class Urging(TypedDict):
    """One automatic urging (催办) and the event it appended."""

    id: int
    status: str
    stage: str
    due_at: str | None
    overdue_hours: float
    event_id: int


class SummonsList(TypedDict):
    """Summons (吹哨) in scope, the count of missed report-ins, and the figures per department."""

    now: str
    items: list[dict[str, Any]]
    total: int
    missed: int
    by_department: list[dict[str, Any]]


def overdue_incidents(session: Session, principal: Principal | None, *, settings: Settings,
                      now: dt.datetime | None = None, grid_code: str | None = None) -> OverdueList:
    """Cases in scope whose running stage is overdue or due soon, most urgent first (no contacts).

    Every case with a running clock counts, whatever its status: urging, supervision or a summons
    never takes a late case off the list. Each item says how often it was urged and supervised.
    ``principal`` None (the command line) sees every district.
    """
    now = _now(now)
    rules = deadline_rules(settings)
    scope, params = _incident_scope(case_scope(session, principal)) if principal is not None else ("TRUE", {})
    rows = session.execute(text(f"""
        SELECT i.id, i.grid_code, i.community_code, i.category_code, i.category, i.subcategory, i.status,
               i.urgency, i.area, i.handler_id, i.reported_at, i.version, i.due_at, i.level, i.department_id,
               (SELECT count(*) FROM incident_urging u WHERE u.incident_id = i.id AND u.kind = 'urge') AS urged,
               (SELECT count(*) FROM incident_urging u WHERE u.incident_id = i.id AND u.kind = 'supervise')
                   AS supervised
        FROM incident i WHERE {scope} AND i.status <> ALL(CAST(:closed AS text[]))
          AND (CAST(:grid AS text) IS NULL OR i.grid_code = :grid)
        ORDER BY i.id"""), {**params, "closed": sorted(CLOSED_STATUSES), "grid": grid_code}).all()
    events = _events_by_case(session, [r.id for r in rows])
    lists: dict[str, list[dict[str, Any]]] = {"overdue": [], "due_soon": []}
    for r in rows:
        sla = _sla(events[r.id], r, rules, now)
        if sla["status"] in lists:
            lists[sla["status"]].append({
                "id": r.id, "grid_code": r.grid_code, "community_code": r.community_code,
                "category_code": r.category_code, "category": r.category, "subcategory": r.subcategory,
                "status": r.status, "urgency": r.urgency, "handler_id": r.handler_id, "level": r.level,
                "department_id": r.department_id, "reported_at": _iso(r.reported_at), "version": r.version,
                "due_at": sla["due_at"], "overdue": sla["status"] == "overdue", "urged": r.urged,
                "supervised": r.supervised, "sla": sla})
    for items in lists.values():
        items.sort(key=lambda c: c["sla"]["remaining_seconds"] if c["sla"]["remaining_seconds"] is not None else 0)
    return {"now": now.isoformat(), "overdue": lists["overdue"], "due_soon": lists["due_soon"]}


def urge_overdue(session: Session, *, settings: Settings, now: dt.datetime | None = None,
                 district_code: str | None = None) -> list[Urging]:
    """Urge (催办, as role ``system``) every case whose running stage is over its limit, once per late stage run.

    Status, handler and due time stay as they are: the case stays late and on the overdue list
    until someone acts. Cases another transaction holds are skipped this round (SKIP LOCKED), so
    two schedulers never urge one case twice; the next run sees the urging and leaves it.
    """
    now = _now(now)
    rules = deadline_rules(settings)
    table = case_table(settings)
    rows = session.execute(text("""
        SELECT i.id, i.district_code, i.category, i.category_code, i.urgency, i.area, i.grid_code, i.level,
               i.department_id, i.status FROM incident i
        WHERE i.status <> ALL(CAST(:closed AS text[])) AND (CAST(:d AS text) IS NULL OR i.district_code = :d)
        ORDER BY i.id FOR UPDATE SKIP LOCKED"""), {"closed": sorted(CLOSED_STATUSES), "d": district_code}).all()
    events = _events_by_case(session, [r.id for r in rows])
    clocks = [CaseClock(case_id=r.id, events=events[r.id], category=r.category_code or r.category, urgency=r.urgency,
                        area=r.area) for r in rows]
    by_id = {r.id: r for r in rows}
    done: list[Urging] = []
    for breach in urgings_due(clocks, now=now, rules=rules):
        case_id = cast("int", breach.case_id)  # the ids given to CaseClock above
        row = by_id[case_id]
        hours = breach.overdue_by / dt.timedelta(hours=1)
        state = replay(events[case_id])
        transition = apply_action(state, "urge", actor=None, actor_role="system", at=now, table=table,
                                  note=f"自动催办: {breach.stage} stage overdue by {hours:.2f} counted hours")
        sla = {"stage": breach.stage, "status": "overdue", "due_at": _iso(breach.due_at)}
        event_id = _append_event(session, case_id, row.district_code, transition.event, actor_id=None,
                                 detail={"automatic": True, "stage": breach.stage, "due_at": _iso(breach.due_at),
                                         "overdue": True, "overdue_hours": round(hours, 3)})
        _record_urging(session, row, kind="urge", sla=sla, actor_id=None, actor_role="system", at=now,
                       note=transition.event.note, handler_id=state.handler_id)
        done.append({"id": case_id, "status": breach.status, "stage": breach.stage,
                     "due_at": _iso(breach.due_at), "overdue_hours": round(hours, 3), "event_id": event_id})
    return done


def list_summons(session: Session, principal: Principal, *, missed: bool | None = None,
                 department_id: int | None = None, now: dt.datetime | None = None) -> SummonsList:
    """Summons (吹哨) on the cases in scope, newest first, with the count of missed report-ins (报到).

    ``missed`` True: only those not reported in by their limit (a late report-in counts as
    missed); False: only the others. A department's staff see their own department's.
    """
    now = _now(now)
    scope = case_scope(session, principal)
    sql, params = _incident_scope(scope)
    if principal.role == "department_staff":
        department_id = scope.department_id
    rows = session.execute(text(f"""
        SELECT s.id, s.incident_id, s.department_id, d.name AS department, d.kind AS department_kind,
               s.summoned_by, s.summoned_at, s.report_in_hours, s.report_in_due_at, s.reported_in_at, s.reported_in_by,
               i.grid_code, i.status AS incident_status
        FROM case_summons s JOIN department d ON d.id = s.department_id JOIN incident i ON i.id = s.incident_id
        WHERE {sql} AND (CAST(:dept AS integer) IS NULL OR s.department_id = :dept)
        ORDER BY s.summoned_at DESC, s.id DESC"""), {**params, "dept": department_id}).all()
    items = []
    for r in rows:
        record = {**_summons_record(r, now), "grid_code": r.grid_code, "incident_status": r.incident_status}
        if missed is None or record["missed"] == missed:
            items.append(record)
    counts: dict[int, dict[str, Any]] = {}
    for r in rows:
        rec = _summons_record(r, now)
        c = counts.setdefault(r.department_id, {"department_id": r.department_id, "department": r.department,
                                                "summoned": 0, "reported_in": 0, "reported_in_on_time": 0,
                                                "missed": 0, "waiting": 0})
        c["summoned"] += 1
        c["reported_in"] += rec["reported_in_at"] is not None
        c["reported_in_on_time"] += rec["reported_in_at"] is not None and not rec["missed"]
        c["missed"] += rec["missed"]
        c["waiting"] += rec["status"] == "waiting"
    return {"now": now.isoformat(), "items": items, "total": len(items),
            "missed": sum(c["missed"] for c in counts.values()),
            "by_department": sorted(counts.values(), key=lambda c: c["department_id"])}
