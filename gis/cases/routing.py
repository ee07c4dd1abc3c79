"""Who holds a case beyond the grid, and the rules of level, department, summons and urging.

The workflow table (:mod:`gis.cases.workflow`) says which *role* may take an action from a
*status*. Grid work adds who holds the case: its **level** — ``grid`` (the grid leader dispatches
to grid staff), ``community`` (社区), ``street`` (街道) or ``department`` (a 职能部门, 成员单位 or
驻区单位) — and, at the department level, *which* department. The rules here, checked on top of
the table (pure: plain values in, an error or a list out):

- **hand_over** (移交) goes one level up: grid → community → street → department, by whoever holds
  the current level (the grid leader, the community officer of that community, the street
  officer); an admin may hand over at any level. The department is the one the city's category
  table names for the category (:func:`pick_department`), or one named in the request.
- **claim** (认领) and **return** of a referred case: by the level it was handed to (a
  department's own staff for a department).
- Working a case held above the grid (feedback, extension, return) is for its holder: the
  claimant, or staff of the claiming department. Extensions and parking are decided by whoever
  runs the level: the grid leader at the grid, the community or the street above it, the street
  for a department.
- **summon** (吹哨) by the community or street officer (their scope is checked in SQL) or an
  admin; **report_in** (报到) by the staff of a department with an open summons on the case.
- **urge** (催办) and **supervise** (督办) by the level above the one that is late: a grid case
  by its grid leader (the workbench's to-do list; never by the person handling it) or anyone
  higher, a community case by
  the street, a street case by a supervisor or admin, a department case by the street. Only
  late cases are urged: the running stage overdue, or due soon for urging; 督办 is for overdue
  cases and starts at the street.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from gis.cases import IncidentCategory
from gis.cases.workflow import TRANSITIONS, allowed_actions
from gis.errors import Conflict, InvalidInput, PermissionDenied

__all__ = ["CASE_LEVELS", "LEVEL_HOLDERS", "Actor", "CaseView", "case_actions", "category_limits",
           "check_case_rules", "next_level", "pick_department"]

CASE_LEVELS = ("grid", "community", "street", "department")
# The role that holds each level (admins hold every level).
LEVEL_HOLDERS = {"grid": "grid_leader", "community": "community_officer", "street": "street_officer",
                 "department": "department_staff"}
# Who runs a level: decides extensions and parking there.
_RUNNERS = {"grid": {"grid_leader"}, "community": {"community_officer", "street_officer"},
            "street": {"street_officer"}, "department": {"street_officer"}}
# Rank in the chain, for urging "by the level above".
_RANK = {"grid_worker": 0, "grid_leader": 1, "community_officer": 2, "street_officer": 3, "supervisor": 4,
         "admin": 5, "system": 5}
# The lowest rank that may urge a case held at each level.
_URGE_FROM = {"grid": 1, "community": 3, "street": 4, "department": 3}
_SUPERVISE_FROM = 3


@dataclass(frozen=True)
class Actor:
    """Who acts, with the scope the rules need (the SQL scope is the service's)."""

    user_id: Hashable | None
    role: str
    department_id: int | None = None


@dataclass(frozen=True)
class CaseView:
    """What the rules need to know of a case beyond its workflow state."""

    status: str | None
    level: str = "grid"
    handler_id: Hashable | None = None
    handled_by: frozenset[Hashable] = field(default_factory=frozenset)
    department_id: int | None = None
    # Departments summoned on the case that have not reported in yet.
    summoned: frozenset[int] = field(default_factory=frozenset)
    sla_status: str | None = None  # of the running stage: on_time, due_soon, overdue, paused, no_clock


def next_level(level: str) -> str:
    """The level a hand-over goes to; Conflict at the department (nowhere further)."""
    if level not in CASE_LEVELS:
        raise InvalidInput(f"level {level!r} does not exist; choose one of {', '.join(CASE_LEVELS)}",
                           details={"field": "level"})
    if level == "department":
        raise Conflict("the case is already with a department: there is no level above it to hand it to; the "
                       "street may summon (吹哨) further departments instead",
                       details={"reason": "no_level_above", "level": level})
    return CASE_LEVELS[CASE_LEVELS.index(level) + 1]


def _refuse(action: str, reason: str, message: str, **details: object) -> PermissionDenied:
    return PermissionDenied(f"{action}: {message}", details={"reason": reason, "action": action, **details})


def _holds(actor: Actor, case: CaseView) -> bool:
    """The actor holds the case's level (for a department: is of that department)."""
    if actor.role == "admin":
        return True
    if LEVEL_HOLDERS.get(case.level) != actor.role:
        return False
    return case.level != "department" or (actor.department_id is not None
                                          and actor.department_id == case.department_id)


def check_case_rules(action: str, case: CaseView, actor: Actor) -> None:
    """Raise PermissionDenied or Conflict (``details["reason"]`` a code) when the level rules refuse ``action``.

    Call after the workflow table has accepted role and status; scope (which cases the actor
    sees at all) is the caller's.
    """
    role = actor.role
    if role == "system":
        return
    level = case.level
    if action in {"register", "reject", "dispatch"} and level != "grid":
        raise Conflict(f"{action}: the case is held by the {level} level, not the grid",
                       details={"reason": "not_at_grid", "action": action, "level": level})
    if action == "hand_over":
        next_level(level)
        if not _holds(actor, case):
            raise _refuse(action, "not_holder", f"the case is held at the {level} level; only its "
                                                f"{LEVEL_HOLDERS[level]} (or an admin) hands it over", level=level)
    elif action in {"claim"} or (action == "return" and case.status == "referred"):
        if not _holds(actor, case):
            raise _refuse(action, "not_offered", f"the case is offered to the {level} level"
                                                 + (f" (department {case.department_id})" if level == "department"
                                                    else "") + f"; {LEVEL_HOLDERS[level]} claims it there",
                          level=level, department_id=case.department_id)
    elif action in {"feedback", "request_extension", "resume", "return"} and level != "grid" \
            and role != "admin":
        mine = case.handler_id is not None and case.handler_id == actor.user_id
        my_department = level == "department" and role == "department_staff" and \
            actor.department_id is not None and actor.department_id == case.department_id
        if not (mine or my_department):
            raise _refuse(action, "not_handler", f"the case is handled at the {level} level by someone else",
                          level=level, handler_id=case.handler_id)
    elif action in {"feedback", "request_extension", "resume", "return"} and role not in {"grid_leader",
                                                                                       "grid_worker", "admin"}:
        raise _refuse(action, "not_handler", "the case is handled in its grid", level=level)
    elif action in {"approve_extension", "deny_extension", "park", "unpark"}:
        if role != "admin" and role not in _RUNNERS[level]:
            raise _refuse(action, "not_runner", f"at the {level} level this is for "
                                                f"{' or '.join(sorted(_RUNNERS[level]))}", level=level)
    elif action == "report_in":
        if case.status != "escalated" and role != "admin" and (actor.department_id is None
                                                             or actor.department_id not in case.summoned):
            raise _refuse(action, "not_summoned", "your department has no open summons (吹哨) on this case",
                          summoned=sorted(case.summoned))
    elif action in {"urge", "supervise"}:
        if case.sla_status not in ({"overdue", "due_soon"} if action == "urge" else {"overdue"}):
            raise Conflict(f"{action}: the case is not late (its running stage is "
                           f"{case.sla_status or 'without a clock'}); {action} is for late cases",
                           details={"reason": "not_late", "action": action, "sla_status": case.sla_status})
        least = max(_URGE_FROM[level], _SUPERVISE_FROM) if action == "supervise" else _URGE_FROM[level]
        if _RANK.get(role, -1) < least or (case.handler_id is not None and case.handler_id == actor.user_id):
            raise _refuse(action, "not_above", f"a case held at the {level} level is {action}d by the level "
                                               "above the one that is late", level=level)


def case_actions(case: CaseView, actor: Actor, *,
                 table: Mapping[tuple[str | None, str], tuple[str, frozenset[str]]] = TRANSITIONS) -> list[str]:
    """The action codes ``actor`` may take on ``case`` now (table and level rules), sorted.

    ``verify`` is left out for anyone who handled the case; the closing of a checked 随手办 is the
    system's.
    """
    found = []
    for action in allowed_actions(case.status, actor.role, table=table):
        if action == "verify" and actor.user_id is not None and (
                actor.user_id in case.handled_by or actor.user_id == case.handler_id):
            continue
        try:
            check_case_rules(action, case, actor)
        except (PermissionDenied, Conflict):
            continue
        found.append(action)
    return sorted(found)


def _codes(department: Mapping[str, object]) -> tuple[str, ...]:
    """The category codes registered for a department (none when the key is missing or empty)."""
    codes = department.get("categories") or ()
    return tuple(str(c) for c in codes) if isinstance(codes, Iterable) else ()


def pick_department(category_code: str | None, *, street_code: str | None,
                    departments: Iterable[Mapping[str, object]],
                    categories: Iterable[IncidentCategory] = ()) -> Mapping[str, object] | None:
    """The department a hand-over offers a case to, or None when the table names none.

    ``departments``: the district's active departments with ``id``, ``name``, ``street_code``
    and ``categories`` (codes registered for it). A department registered for the code wins;
    otherwise the one whose name the category table gives; among several, the one of the case's
    own street before a district-wide one, then the lowest id.
    """
    known = list(departments)
    named = next((c.department for c in categories if c.code == category_code), None)
    matches = [d for d in known if category_code and category_code in _codes(d)]
    if not matches and named:
        matches = [d for d in known if d.get("name") == named]
    matches = [d for d in matches if d.get("street_code") in (None, street_code)]
    if not matches:
        return None
    return sorted(matches, key=lambda d: (d.get("street_code") is None, d["id"]))[0]


def category_limits(categories: Iterable[IncidentCategory], *, urgent: Mapping[str, dt.timedelta]
                    ) -> dict[tuple[str | None, str, str | None, str | None], dt.timedelta]:
    """Deadline keys (code, stage, urgency, None) for the limits of the city's category table.

    A category's limit is its normal-urgency limit; an urgent case of it gets the shorter of that
    and the general urgent limit of the stage (``urgent``), so urgency never lengthens a limit.
    """
    limits: dict[tuple[str | None, str, str | None, str | None], dt.timedelta] = {}
    for c in categories:
        for stage, value in (("dispatch", dt.timedelta(minutes=c.dispatch_minutes) if c.dispatch_minutes else None),
                             ("handling", dt.timedelta(hours=c.handling_hours) if c.handling_hours else None),
                             ("verification",
                              dt.timedelta(hours=c.verification_hours) if c.verification_hours else None)):
            if value is None:
                continue
            limits[(c.code, stage, "normal", None)] = value
            general = urgent.get(stage)
            limits[(c.code, stage, "urgent", None)] = min(value, general) if general is not None else value
    return limits
