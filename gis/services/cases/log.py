"""A case's log in the database: its events, deadline status, summons and urgings, read and appended.

Every step of the loop writes here, so the reports, actions and automatic urging share one way
to append an event and one way to recompute the due time from the log.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.deadlines import (
    DeadlineRules,
    sla_status,
)
from gis.cases.routing import (
    CaseView,
)
from gis.cases.workflow import CaseState, replay
from gis.errors import NotFound
from gis.services.cases.rules import deadline_rules
from gis.services.cases.scope import _INCIDENT_COLUMNS, _iso
from gis.settings import Settings


def _events(session: Session, incident_id: int) -> list[dict[str, Any]]:
    return [dict(e) for e in session.execute(text("""
        SELECT action, from_status, to_status, at, actor_id, actor_role, handler_id FROM incident_event
        WHERE incident_id = :i ORDER BY at, id"""), {"i": incident_id}).mappings()]


def _events_by_case(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    by_case: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if ids:
        for e in session.execute(text("""
                SELECT incident_id, action, from_status, to_status, at, actor_id, actor_role, handler_id
                FROM incident_event WHERE incident_id = ANY(:ids) ORDER BY at, id"""), {"ids": ids}).mappings():
            by_case[e["incident_id"]].append(dict(e))
    return by_case


def _sla(events: list[dict[str, Any]], row: Any, rules: DeadlineRules, now: dt.datetime) -> dict[str, Any]:
    # Limits are keyed by the category code of the city's table (the class name when a case has none).
    return sla_status(events, now=now, rules=rules, category=row.category_code or row.category,
                      urgency=row.urgency, area=row.area).to_dict()


def _append_event(session: Session, incident_id: int, district_code: str, event: Any, *, actor_id: int | None,
                  detail: dict[str, Any] | None = None) -> int:
    """Append one row to the case's log (who, when, from, to, note, GPS, handler, score)."""
    extra = dict(detail or {})
    if event.distance_m is not None:
        extra["distance_m"] = round(event.distance_m, 1)
    lon, lat = event.position if event.position else (None, None)
    return session.execute(text("""
        INSERT INTO incident_event (incident_id, district_code, actor_id, actor_role, at, action, from_status,
                                    to_status, note, handler_id, satisfaction, detail, geom)
        VALUES (:i, :d, :actor, :role, :at, :action, :frm, :to, :note, :handler, :score, CAST(:detail AS jsonb),
                CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                     ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END)
        RETURNING id"""), {
        "i": incident_id, "d": district_code, "actor": actor_id, "role": event.actor_role, "at": event.at,
        "action": event.action, "frm": event.from_status, "to": event.to_status, "note": event.note,
        "handler": event.handler_id if isinstance(event.handler_id, int) else None, "score": event.satisfaction,
        "detail": json.dumps(extra, ensure_ascii=False) if extra else None, "lon": lon, "lat": lat}).scalar_one()


def _locked(session: Session, incident_id: int, *, lock: bool = False) -> Any:
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS}, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat "
                               f"FROM incident i WHERE i.id = :id{' FOR UPDATE' if lock else ''}"),
                          {"id": incident_id}).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist")
    return row


class DueRefresh(NamedTuple):
    """A case after its due time was recomputed: its SLA status, its row as now stored, its log."""

    sla: dict[str, Any]
    row: Any
    events: list[dict[str, Any]]


def _refresh_due(session: Session, incident_id: int, *, settings: Settings, now: dt.datetime,
                 row: Any = None) -> DueRefresh:
    """Recompute the due time of the case's current stage from its log; store it, return the case as stored.

    ``row`` is the case as the caller read it (its category, urgency and area pick the limits, and
    no step changes them); without it the row is read here.
    """
    if row is None:
        row = _locked(session, incident_id)
    events = _events(session, incident_id)
    sla = _sla(events, row, deadline_rules(settings), now)
    due = dt.datetime.fromisoformat(sla["due_at"]) if sla["due_at"] else None
    # RETURNING hands back the row as stored, so the caller does not read it again.
    fresh = session.execute(text(f"UPDATE incident i SET due_at = :due WHERE i.id = :id "
                                 f"RETURNING {_INCIDENT_COLUMNS}, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat"),
                            {"due": due, "id": incident_id}).one()
    return DueRefresh(sla, fresh, events)


def _summons_of(session: Session, ids: list[int], now: dt.datetime) -> dict[int, list[dict[str, Any]]]:
    """Each case's summons: department, who summoned when, the report-in limit, the report-in, missed or not."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    for r in session.execute(text("""
            SELECT s.id, s.incident_id, s.department_id, d.name AS department, d.kind AS department_kind,
                   s.summoned_by, s.summoned_at, s.report_in_hours, s.report_in_due_at, s.reported_in_at,
                   s.reported_in_by
            FROM case_summons s JOIN department d ON d.id = s.department_id
            WHERE s.incident_id = ANY(:ids) ORDER BY s.summoned_at, s.id"""), {"ids": ids}).all():
        found[r.incident_id].append(_summons_record(r, now))
    return found


def _summons_record(r: Any, now: dt.datetime) -> dict[str, Any]:
    # Missed: no report-in by the limit (a late report-in stays missed, with its time shown).
    missed = (r.reported_in_at is None and r.report_in_due_at < now) or \
        (r.reported_in_at is not None and r.reported_in_at > r.report_in_due_at)
    return {"id": r.id, "incident_id": r.incident_id, "department_id": r.department_id,
            "department": r.department, "department_kind": r.department_kind, "summoned_by": r.summoned_by,
            "summoned_at": _iso(r.summoned_at), "report_in_hours": r.report_in_hours,
            "report_in_due_at": _iso(r.report_in_due_at), "reported_in_at": _iso(r.reported_in_at),
            "reported_in_by": r.reported_in_by, "missed": missed,
            "status": "reported_in" if r.reported_in_at is not None else ("missed" if missed else "waiting")}


def _case_view(session: Session, row: Any, events: list[dict[str, Any]], sla: dict[str, Any]) -> CaseView:
    state = replay(events) if events else CaseState(status=row.status, handler_id=row.handler_id)
    summoned = frozenset(session.execute(text(
        "SELECT department_id FROM case_summons WHERE incident_id = :i AND reported_in_at IS NULL"),
        {"i": row.id}).scalars())
    return CaseView(status=row.status, level=row.level, handler_id=state.handler_id, handled_by=state.handled_by,
                    department_id=row.department_id, summoned=summoned, sla_status=sla["status"])


def _record_urging(session: Session, row: Any, *, kind: str, sla: dict[str, Any], actor_id: int | None,
                   actor_role: str, at: dt.datetime, note: str | None, handler_id: Any) -> None:
    """One row per 催办/督办, naming the grid, level, department and person it was aimed at."""
    session.execute(text("""
        INSERT INTO incident_urging (incident_id, district_code, kind, actor_id, actor_role, at, grid_code, level,
                                     department_id, target_user_id, stage, due_at, overdue, note)
        VALUES (:i, :d, :kind, :actor, :role, :at, :grid, :level, :dept, :target, :stage, :due, :overdue, :note)"""),
        {"i": row.id, "d": row.district_code, "kind": kind, "actor": actor_id, "role": actor_role, "at": at,
         "grid": row.grid_code, "level": row.level, "dept": row.department_id,
         "target": handler_id if isinstance(handler_id, int) else None, "stage": sla["stage"],
         "due": dt.datetime.fromisoformat(sla["due_at"]) if sla["due_at"] else None,
         "overdue": sla["status"] == "overdue", "note": note})
