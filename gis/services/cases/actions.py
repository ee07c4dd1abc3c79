"""The case loop's steps on a case: dispatch, hand-over between levels, summons, report-in, urging, closing.

The workflow table (:mod:`gis.cases.workflow`) decides who may take which step from which
status; :mod:`gis.cases.routing` decides levels, departments, summons and urging.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.deadlines import (
    DeadlineRules,
    due_at,
)
from gis.cases.routing import (
    case_actions,
    check_case_rules,
    next_level,
    pick_department,
)
from gis.cases.workflow import STAYING_ACTIONS, CaseState, apply_action, replay
from gis.errors import Conflict, InvalidInput
from gis.services import departments as department_service
from gis.services import privacy
from gis.services.cases.log import _append_event, _case_view, _events, _record_urging, _refresh_due, _sla
from gis.services.cases.places import grid_staff
from gis.services.cases.rules import case_table, deadline_rules, incident_categories
from gis.services.cases.scope import CaseScope, IncidentRecord, _case_in_scope, _incident_record, _iso, _now, case_scope
from gis.services.residents import Reader
from gis.services.users import Principal
from gis.settings import Settings


def _check_handler(session: Session, handler_id: int, grid_code: str | None) -> None:
    staff = grid_staff(session, grid_code) if grid_code else []
    if handler_id not in {s["user_id"] for s in staff}:
        names = ", ".join(f"{s['username']} ({s['user_id']})" for s in staff) or "nobody is assigned"
        raise InvalidInput(f"handler_id {handler_id} is not staff of grid {grid_code}; its staff: {names}",
                           details={"field": "handler_id", "grid_staff": [s["user_id"] for s in staff]})


def _department_in(session: Session, department_id: int, district_code: str, *, field: str = "departments") -> Any:
    row = session.execute(text("SELECT id, name, kind, street_code, district_code, is_active FROM department "
                               "WHERE id = :id"), {"id": department_id}).first()
    if row is None or row.district_code != district_code or not row.is_active:
        raise InvalidInput(f"department {department_id} is not an active department of district {district_code}; "
                           "see GET /departments", details={"field": field, "department_id": department_id})
    return row


class ActionResult(TypedDict):
    """A step taken: the case after it (no contact), the event appended, the stage's deadline, what may follow."""

    incident: IncidentRecord
    event: dict[str, Any]
    sla: dict[str, Any]
    allowed_actions: list[str]


@dataclass
class _Step:
    """What an action changes beyond the workflow state.

    The level and department after it, the event's detail, and the rows to write once the event id
    is known (summons, a report-in, an urging).
    """

    level: str
    department: int | None
    detail: dict[str, Any] = field(default_factory=dict)
    after: list[tuple[str, Any, Any]] = field(default_factory=list)


def act_on_incident(session: Session, reader: Reader, incident_id: int, *, action: str,
                    expected_version: int | None, settings: Settings, note: str | None = None,
                    position: tuple[float, float] | None = None, satisfaction: int | None = None,
                    handler_id: int | None = None, department_id: int | None = None,
                    departments: list[int] | None = None, report_in_hours: float | None = None,
                    at: dt.datetime | None = None) -> ActionResult:
    """Apply a workflow action to a case in the actor's scope and append it to the log.

    The workflow table (gis.cases.workflow) decides role and state, gis.cases.routing the level,
    department, summons and urging rules; actors act only on cases in their scope (NotFound
    otherwise, so existence is not confirmed); a stale ``expected_version`` is a Conflict naming
    the current one. Returns the case, the event, the due time of its stage and the codes of what
    the actor may do next.

    ``hand_over`` takes ``department_id`` when it goes to the department level (default: the
    department the category table picks); ``summon`` takes ``departments`` and
    ``report_in_hours`` (counted on the case's clock: working hours for a normal case).
    """
    principal = reader.principal
    at = _now(at)
    if expected_version is None:
        raise InvalidInput("send the version you read, as If-Match or in the body, so no action is taken twice")
    scope = case_scope(session, principal)
    row = _case_in_scope(session, scope, incident_id, lock=True)
    if row.version != expected_version:
        raise Conflict(f"incident {incident_id} was changed by someone else (current version {row.version}, yours "
                       f"{expected_version}); reload and try again",
                       details={"current_version": row.version})
    if handler_id is not None and action == "dispatch":
        _check_handler(session, handler_id, row.grid_code)
    events = _events(session, incident_id)
    rules = deadline_rules(settings)
    table = case_table(settings)
    state = replay(events) if events else CaseState(status=row.status, handler_id=row.handler_id)
    transition = apply_action(state, action, actor=principal.user_id, actor_role=principal.role, at=at, note=note,
                              actor_position=position, case_position=(row.lon, row.lat), handler_id=handler_id,
                              satisfaction=satisfaction, verify_max_distance_m=settings.case_verify_max_distance_m,
                              table=table)
    sla_before = _sla(events, row, rules, at)
    check_case_rules(action, _case_view(session, row, events, sla_before), scope.actor)
    step = _step(session, scope, row, action=action, settings=settings, rules=rules, at=at, sla_before=sla_before,
                 department_id=department_id, departments=departments, report_in_hours=report_in_hours)
    event_id = _append_event(session, incident_id, row.district_code, transition.event, actor_id=principal.user_id,
                             detail=step.detail or None)
    _write_after(session, row, step, principal=principal, at=at, note=note, report_in_hours=report_in_hours,
                 handler_id=state.handler_id)
    new = transition.state
    # Finished cases keep when they finished; an evaluation keeps the closing time, a reopen clears it.
    session.execute(text("""
        UPDATE incident SET status = :status, handler_id = :handler, version = version + 1, level = :level,
               department_id = :department,
               closed_at = CASE WHEN CAST(:keep AS boolean) THEN closed_at ELSE CAST(:closed AS timestamptz) END,
               satisfaction = COALESCE(CAST(:score AS smallint), satisfaction)
        WHERE id = :id"""), {
        "status": new.status, "handler": new.handler_id if isinstance(new.handler_id, int) else None,
        "keep": new.status == "evaluated" or action in STAYING_ACTIONS,
        "closed": at if new.status in {"closed", "rejected"} else None, "level": step.level,
        "department": step.department, "score": transition.event.satisfaction, "id": incident_id})
    sla, fresh, events_now = _refresh_due(session, incident_id, settings=settings, now=at, row=row)
    privacy.record_change(session, principal, entity="incident", entity_id=incident_id, action=action,
                          reason=reader.reason, district_code=row.district_code, request_id=reader.request_id,
                          detail={"from": transition.event.from_status, "to": new.status, "event_id": event_id})
    record = _incident_record(fresh, scope, at)
    record.pop("reporter_contact", None)  # an action answer shows no contact, so it needs no read audit
    next_actions = case_actions(_case_view(session, fresh, events_now, sla), scope.actor, table=table)
    return {"incident": record, "event": {**transition.event.to_dict(), "id": event_id, "detail": step.detail or None},
            "sla": sla, "allowed_actions": next_actions}


def _step(session: Session, scope: CaseScope, row: Any, *, action: str, settings: Settings, rules: DeadlineRules,
          at: dt.datetime, sla_before: dict[str, Any], department_id: int | None, departments: list[int] | None,
          report_in_hours: float | None) -> _Step:
    """The level, department, detail and follow-up rows of ``action`` on the case ``row`` (checked here)."""
    if action == "hand_over":
        return _hand_over(session, row, settings=settings, department_id=department_id)
    if action == "return" and row.level != "grid":
        # Sent back one level: the level that handed it over decides again.
        level = {"community": "grid", "street": "community", "department": "street"}[row.level]
        return _Step(level, None, {"from_level": row.level, "to_level": level})
    step = _Step(row.level, row.department_id)
    if action == "summon":
        _summon(session, row, step, rules=rules, at=at, departments=departments, report_in_hours=report_in_hours)
    elif action == "report_in" and row.status != "escalated":
        _report_in(session, scope, row, step, at=at, departments=departments)
    elif action in {"urge", "supervise"}:
        step.detail = {"stage": sla_before["stage"], "overdue": sla_before["status"] == "overdue",
                       "due_at": sla_before["due_at"]}
        step.after = [("urging", action, sla_before)]
    return step


def _hand_over(session: Session, row: Any, *, settings: Settings, department_id: int | None) -> _Step:
    """One level up; at the department level, the named department or the one the category table picks."""
    level = next_level(row.level)
    step = _Step(level, row.department_id, {"from_level": row.level, "to_level": level})
    if level != "department":
        if department_id is not None:
            raise InvalidInput(f"department_id: the case goes to the {level} level, not yet to a department",
                               details={"field": "department_id"})
        return step
    if department_id is not None:
        chosen = _department_in(session, department_id, row.district_code, field="department_id")
        if chosen.street_code not in (None, row.street_code):
            raise InvalidInput(f"department_id: department {chosen.name} serves street {chosen.street_code}, not "
                               f"the case's street {row.street_code}", details={"field": "department_id"})
        step.department = chosen.id
    else:
        picked = pick_department(row.category_code, street_code=row.street_code,
                                 departments=department_service.routing_departments(session, row.district_code),
                                 categories=incident_categories(settings))
        if picked is None:
            raise InvalidInput(f"department_id: no department of district {row.district_code} handles category "
                               f"{row.category_code or row.category}; register one (POST /departments) or "
                               "name department_id", details={"field": "department_id", "reason": "no_department"})
        step.department = int(str(picked["id"]))
    step.detail["department_id"] = step.department
    return step


def _summon(session: Session, row: Any, step: _Step, *, rules: DeadlineRules, at: dt.datetime,
            departments: list[int] | None, report_in_hours: float | None) -> None:
    """吹哨: the departments summoned (active, of the district, not already waiting) and their report-in time."""
    wanted = sorted(set(departments or []))
    if not wanted:
        raise InvalidInput("departments: name the departments to summon (departments: [ids])",
                           details={"field": "departments"})
    if report_in_hours is None or not (0 < report_in_hours <= 24 * 30):
        raise InvalidInput(f"report_in_hours must be more than 0 and at most 720 to summon; got {report_in_hours!r}",
                           details={"field": "report_in_hours"})
    open_ones = set(session.execute(text("SELECT department_id FROM case_summons WHERE incident_id = :i "
                                         "AND reported_in_at IS NULL"), {"i": row.id}).scalars())
    for d in wanted:
        dept = _department_in(session, d, row.district_code)
        if d in open_ones:
            raise Conflict(f"departments: {dept.name} is already summoned on this case and has not reported in",
                           details={"field": "departments", "department_id": d})
    clock = rules.clocks[row.urgency]
    due = due_at(at, dt.timedelta(hours=report_in_hours), calendar=rules.calendar_for(clock)).at
    step.detail = {"departments": wanted, "report_in_hours": report_in_hours, "report_in_due_at": _iso(due)}
    step.after = [("summons", d, due) for d in wanted]


def _report_in(session: Session, scope: CaseScope, row: Any, step: _Step, *, at: dt.datetime,
               departments: list[int] | None) -> None:
    """报到: the acting department's (or, for an admin, the one named) open summons on the case is answered."""
    principal = scope.principal
    own = scope.department_id if principal.role == "department_staff" else \
        (departments[0] if departments and len(departments) == 1 else None)
    if own is None:
        raise InvalidInput("departments: an admin names the one department reporting in (departments: [id])",
                           details={"field": "departments"})
    summons = session.execute(text("""
        SELECT id, report_in_due_at FROM case_summons WHERE incident_id = :i AND department_id = :d
          AND reported_in_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE"""), {"i": row.id, "d": own}).first()
    if summons is None:
        raise Conflict(f"report_in: department {own} has no open summons on this case",
                       details={"field": "departments", "reason": "not_summoned", "department_id": own})
    step.detail = {"department_id": own, "summons_id": summons.id, "on_time": at <= summons.report_in_due_at}
    step.after = [("report_in", summons.id, None)]


def _write_after(session: Session, row: Any, step: _Step, *, principal: Principal, at: dt.datetime,
                 note: str | None, report_in_hours: float | None, handler_id: Any) -> None:
    """The rows an action leaves besides its event: summons, a report-in's time, an urging."""
    for kind, value, extra in step.after:
        if kind == "summons":
            session.execute(text("""
                INSERT INTO case_summons (incident_id, district_code, department_id, summoned_by, summoned_at,
                                          report_in_hours, report_in_due_at, note)
                VALUES (:i, :d, :dept, :by, :at, :hours, :due, :note)"""),
                {"i": row.id, "d": row.district_code, "dept": value, "by": principal.user_id or None, "at": at,
                 "hours": report_in_hours, "due": extra, "note": note})
        elif kind == "report_in":
            session.execute(text("UPDATE case_summons SET reported_in_at = :at, reported_in_by = :by WHERE id = :id"),
                            {"at": at, "by": principal.user_id or None, "id": value})
        else:
            _record_urging(session, row, kind=value, sla=extra, actor_id=principal.user_id or None,
                           actor_role=principal.role, at=at, note=note, handler_id=handler_id)
