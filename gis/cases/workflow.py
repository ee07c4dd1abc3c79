"""The case loop (事件闭环) as one table of allowed transitions, and the function that applies them.

Main loop::

    report → reported ─register→ registered ─dispatch→ dispatched ─accept→ handling ─feedback→ feedback
           ─verify→ verification ─close→ closed ─evaluate→ evaluated
           └reject→ rejected

Side states: ``returned`` (退回: the assignee sends the case back to the dispatcher, who dispatches
again), ``extension_requested`` → ``extended`` (延期: the clock stops while an approved extension
runs) or back to ``handling`` when denied, ``parked`` (挂账: shelved with the clock stopped until
``unpark``), ``reopen`` (返工: from feedback, verification or closed back to handling) and
``referred`` (移交: the grid leader hands the case to the community, the community to the street,
the street to a department; each hand-over restarts the dispatch clock, and the level it went to
``claim``s it, 认领) and ``quick_fixed`` (随手办: a grid worker reports a minor case already fixed,
with before/after photos; the system closes it after the automatic check, or a verifier checks
a sampled one).

Acts that do not move the case (its status and its clock stay as they are): ``summon`` (吹哨: the
street or community calls in named departments), ``report_in`` (报到: a summoned department's user
answers), ``urge`` (催办) and ``supervise`` (督办) of a late case. The old automatic ``escalate``
(which stopped the clock) is gone; cases escalated before keep their ``report_in`` back to handling.

Roles are those of the user table plus two pseudo-roles: ``system`` (the automatic check of a
随手办, automatic urging of overdue cases) and ``citizen`` (Open311 reports and evaluations). Which
cases an actor may act on is the caller's business (the service checks scope, level and
department with :mod:`gis.cases.routing`); this module checks role, state and the verification
rules. Who verifies is configurable (:func:`transitions`); never the case's handler.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pyproj import Geod

from gis.errors import Conflict, InvalidInput, PermissionDenied

__all__ = [
    "ACTIONS",
    "CLOSED_STATUSES",
    "DEFAULT_VERIFIERS",
    "LEGACY_ACTIONS",
    "OPEN_STATUSES",
    "PSEUDO_ROLES",
    "ROLES",
    "STATUSES",
    "STAYING_ACTIONS",
    "TRANSITIONS",
    "USER_ROLES",
    "CaseState",
    "Event",
    "Transition",
    "allowed_actions",
    "apply_action",
    "distance_m",
    "replay",
    "transitions",
]

USER_ROLES = ("admin", "district_planner", "facility_planner", "grid_leader", "grid_worker", "viewer",
              "supervisor", "department_staff", "street_officer", "community_officer")
PSEUDO_ROLES = ("system", "citizen")
ROLES = USER_ROLES + PSEUDO_ROLES

# Status codes fit incident.status (20 characters); Chinese labels for display.
STATUSES: dict[str, str] = {
    "reported": "已上报",
    "registered": "已立案",
    "rejected": "不予立案",
    "dispatched": "已派遣",
    "handling": "处置中",
    "feedback": "已反馈",
    "verification": "已核查",
    "closed": "已结案",
    "evaluated": "已评价",
    "returned": "已退回",
    "extension_requested": "延期申请中",
    "extended": "延期中",
    "parked": "挂账",
    "escalated": "已吹哨",  # only cases escalated before issue 18; nothing enters it any more
    "referred": "已移交待认领",
    "quick_fixed": "随手办待核查",
}
# Actions found in old logs only (issue 18 removed automatic escalation, which stopped the clock).
LEGACY_ACTIONS: dict[str, str] = {"escalate": "吹哨（旧）"}
# Statuses in which nothing is left to do; every other status is open (counts for duplicates, lists).
CLOSED_STATUSES = frozenset({"rejected", "closed", "evaluated"})
OPEN_STATUSES = frozenset(STATUSES) - CLOSED_STATUSES

ACTIONS: dict[str, str] = {
    "report": "上报",
    "register": "立案",
    "reject": "不予立案",
    "dispatch": "派遣",
    "accept": "接单处置",
    "return": "退回",
    "request_extension": "申请延期",
    "approve_extension": "批准延期",
    "deny_extension": "驳回延期",
    "resume": "恢复处置",
    "park": "挂账",
    "unpark": "解除挂账",
    "report_in": "报到",
    "hand_over": "移交",
    "claim": "认领",
    "summon": "吹哨",
    "urge": "催办",
    "supervise": "督办",
    "quick_fix": "随手办",
    "feedback": "处置反馈",
    "verify": "核查",
    "reopen": "返工",
    "close": "结案",
    "evaluate": "评价",
}

_ADMIN = frozenset({"admin"})
_LEADERS = _ADMIN | {"grid_leader"}
_STAFF = _LEADERS | {"grid_worker"}
_OFFICERS = frozenset({"community_officer", "street_officer"})
# Whoever may hold a case and work on it: grid staff, the community and street, a department.
_HANDLERS = _STAFF | _OFFICERS | {"department_staff"}
# Who runs a case at its level (extensions, parking): the grid leader, the community or the street.
_MANAGERS = _LEADERS | _OFFICERS
DEFAULT_VERIFIERS = frozenset({"admin", "grid_leader", "supervisor"})
_CLAIMERS = _ADMIN | _OFFICERS | {"department_staff"}
_SUMMONERS = _ADMIN | _OFFICERS
_URGERS = _MANAGERS | {"supervisor", "system"}
_SUPERVISORS = _ADMIN | {"street_officer", "supervisor"}


def transitions(verifiers: frozenset[str] | set[str] | tuple[str, ...] = DEFAULT_VERIFIERS
                ) -> dict[tuple[str | None, str], tuple[str, frozenset[str]]]:
    """THE table: (from status, action) -> (to status, roles allowed); ``None`` is "no case yet".

    ``verifiers`` are the roles that verify (核查), reopen and close (a city's setting,
    ``WANGGE_CASE_VERIFIER_ROLES``); grid leaders and admins also close and reopen. Grid workers
    report, take up, hand back and finish cases; grid leaders register, dispatch or hand over;
    community and street officers hand over further, claim, summon departments and decide
    extensions at their level; departments claim, handle and report in. Planners and viewers
    do nothing. ``system`` closes a checked 随手办 and urges overdue cases; ``citizen`` reports
    and evaluates.
    """
    verify = frozenset(verifiers)
    unknown = sorted(verify - set(USER_ROLES))
    if unknown or not verify:
        raise InvalidInput(f"verifier roles {sorted(verify)}: each must be one of {', '.join(USER_ROLES)}"
                           + (f"; unknown: {', '.join(unknown)}" if unknown else "; name at least one"))
    closers = verify | _LEADERS
    table: dict[tuple[str | None, str], tuple[str, frozenset[str]]] = {
        (None, "report"): ("reported", _STAFF | {"citizen"}),
        (None, "quick_fix"): ("quick_fixed", _STAFF),
        ("reported", "register"): ("registered", _LEADERS),
        ("reported", "reject"): ("rejected", _LEADERS),
        ("registered", "dispatch"): ("dispatched", _LEADERS),
        ("returned", "dispatch"): ("dispatched", _LEADERS),
        ("registered", "hand_over"): ("referred", _MANAGERS),
        ("returned", "hand_over"): ("referred", _MANAGERS),
        ("referred", "hand_over"): ("referred", _MANAGERS),
        ("handling", "hand_over"): ("referred", _MANAGERS),
        ("referred", "claim"): ("handling", _CLAIMERS),
        ("referred", "return"): ("returned", _CLAIMERS),
        ("dispatched", "accept"): ("handling", _STAFF),
        ("dispatched", "return"): ("returned", _STAFF),
        ("handling", "return"): ("returned", _HANDLERS),
        ("handling", "request_extension"): ("extension_requested", _HANDLERS),
        ("extension_requested", "approve_extension"): ("extended", _MANAGERS),
        ("extension_requested", "deny_extension"): ("handling", _MANAGERS),
        ("extended", "resume"): ("handling", _HANDLERS),
        ("handling", "park"): ("parked", _MANAGERS),
        ("parked", "unpark"): ("handling", _MANAGERS),
        ("escalated", "report_in"): ("handling", _LEADERS),  # cases escalated before issue 18
        ("handling", "feedback"): ("feedback", _HANDLERS),
        ("extended", "feedback"): ("feedback", _HANDLERS),
        ("feedback", "verify"): ("verification", verify),
        ("quick_fixed", "verify"): ("verification", verify),
        ("feedback", "reopen"): ("handling", closers),
        ("verification", "reopen"): ("handling", closers),
        ("quick_fixed", "reopen"): ("handling", closers),
        ("closed", "reopen"): ("handling", closers),
        ("verification", "close"): ("closed", closers),
        ("quick_fixed", "close"): ("closed", frozenset({"system"})),
        ("closed", "evaluate"): ("evaluated", _LEADERS | {"citizen"}),
    }
    # Acts that leave status and clock as they are, from every open status.
    for status in STATUSES:
        if status in CLOSED_STATUSES:
            continue
        table[(status, "summon")] = (status, _SUMMONERS)
        table[(status, "urge")] = (status, _URGERS)
        table[(status, "supervise")] = (status, _SUPERVISORS)
        table.setdefault((status, "report_in"), (status, _ADMIN | {"department_staff"}))
    return table


TRANSITIONS = transitions()
# Acts that change nothing but the log (and the summons/urging tables).
STAYING_ACTIONS = frozenset({"summon", "report_in", "urge", "supervise"})

# Actions that assign the case to a handler (``handler_id`` required or kept).
_ASSIGNING = frozenset({"dispatch"})
# Actions that give the case to whoever takes them.
_TAKING = frozenset({"claim", "quick_fix"})
# Actions after which nobody holds the case any more.
_UNASSIGNING = frozenset({"return", "escalate", "hand_over"})

_GEOD = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid to well under a millimetre over 100 m


@dataclass(frozen=True)
class CaseState:
    """What the workflow needs to know about a case: its status and who handles it."""

    status: str | None
    handler_id: Hashable | None = None
    # Everyone who fed back or took the case up: none of them may verify it.
    handled_by: frozenset[Hashable] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Event:
    """One transition, as it goes into the append-only event log."""

    action: str
    from_status: str | None
    to_status: str
    actor: Hashable | None
    actor_role: str
    at: dt.datetime
    note: str | None = None
    position: tuple[float, float] | None = None  # the actor's lon/lat (EPSG:4490) when given
    handler_id: Hashable | None = None
    satisfaction: int | None = None
    distance_m: float | None = None  # verifier's distance from the case, when measured

    def to_dict(self) -> dict[str, Any]:
        """The event as plain JSON-ready values (``at`` in ISO 8601)."""
        return {
            "action": self.action, "from_status": self.from_status, "to_status": self.to_status,
            "actor": self.actor, "actor_role": self.actor_role, "at": self.at.isoformat(), "note": self.note,
            "position": list(self.position) if self.position else None, "handler_id": self.handler_id,
            "satisfaction": self.satisfaction, "distance_m": self.distance_m,
        }


@dataclass(frozen=True)
class Transition:
    """The outcome of a valid action: the new status and state, and the event to append."""

    status: str
    state: CaseState
    event: Event


def _check_point(value: Any, name: str, field: str | None = None) -> tuple[float, float] | None:
    """``value`` as (lon, lat) in degrees, None for None; ``field``: the request field it came in (default ``name``)."""
    if value is None:
        return None
    try:
        lon, lat = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected (lon, lat) in degrees; got {value!r}",
                           details={"field": field or name}) from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"{name}: ({lon}, {lat}) is not a lon/lat position; expected lon -180..180, lat -90..90",
                           details={"field": field or name})
    return lon, lat


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two lon/lat points (CGCS2000 ellipsoid)."""
    _, _, d = _GEOD.inv(a[0], a[1], b[0], b[1])
    return float(d)


def _roles_text(roles: frozenset[str]) -> str:
    return ", ".join(sorted(roles)) or "nobody"


def allowed_actions(status: str | None, role: str | None = None, *,
                    table: Mapping[tuple[str | None, str], tuple[str, frozenset[str]]] = TRANSITIONS
                    ) -> dict[str, str]:
    """The actions allowed from ``status`` (for ``role`` when given), mapped to the status they lead to."""
    return {action: to for (frm, action), (to, roles) in table.items()
            if frm == status and (role is None or role in roles)}


def _allowed_text(status: str | None, table: Mapping) -> str:
    allowed = [f"{action} ({_roles_text(roles)})" for (frm, action), (_, roles) in table.items() if frm == status]
    return "; ".join(allowed) if allowed else "nothing (the case is finished)"


def apply_action(case_state: CaseState | str | None, action: str, *, actor: Hashable | None, actor_role: str,
                 at: dt.datetime, note: str | None = None, actor_position: tuple[float, float] | None = None,
                 case_position: tuple[float, float] | None = None, handler_id: Hashable | None = None,
                 satisfaction: int | None = None, verify_max_distance_m: float = 100.0,
                 satisfaction_scale: tuple[int, int] = (1, 5),
                 table: Mapping[tuple[str | None, str], tuple[str, frozenset[str]]] = TRANSITIONS) -> Transition:
    """Check ``action`` by ``actor`` on a case and return the new state and the event to append.

    Parameters
    ----------
    case_state
        The case as it is (a :class:`CaseState`, or just its status; ``None`` for a new report).
    action
        One of :data:`ACTIONS`.
    actor, actor_role
        Who acts (a user id, or None for an anonymous citizen) and in which role (:data:`ROLES`).
    at
        When, timezone-aware.
    actor_position, case_position
        lon/lat in EPSG:4490. For ``verify`` with ``actor_position`` the verifier must be within
        ``verify_max_distance_m`` of ``case_position`` (geodesic metres).
    handler_id
        For ``dispatch`` (required) and ``report_in``: who is to handle the case. For other
        actions the current handler when ``case_state`` does not know it.
    satisfaction
        For ``evaluate`` (required): a score within ``satisfaction_scale``.

    Raises
    ------
    InvalidInput
        Unknown action, status or role, naive ``at``, a missing or bad argument, a verifier too far away.
    PermissionDenied
        The role may not take this action, or the verifier is the case's handler.
    Conflict
        The action is not allowed from the case's current status; the message lists what is.
    """
    state = case_state if isinstance(case_state, CaseState) else CaseState(status=case_state)
    status = state.status
    to_status = _check_step(status, action, actor_role=actor_role, at=at, table=table)
    position = _check_point(actor_position, "actor_position", field="position")
    handler = state.handler_id if state.handler_id is not None else handler_id
    handled_by = state.handled_by
    distance = None
    score = None

    if action in _ASSIGNING or (action == "report_in" and status == "escalated"):
        if action == "dispatch" and handler_id is None:
            raise InvalidInput("handler_id is required to dispatch (who is to handle the case)",
                               details={"field": "handler_id"})
        handler = handler_id
    elif action in _TAKING:
        handler = actor
        if actor is not None:
            handled_by = handled_by | {actor}
    elif action in _UNASSIGNING:
        handler = None
    elif action in {"accept", "feedback"}:
        if actor is not None:
            handled_by = handled_by | {actor}
    elif action == "verify":
        distance = _check_verifier(state, actor, handler_id=handler_id, handler=handler, position=position,
                                   case_position=case_position, max_distance_m=verify_max_distance_m)
    elif action == "evaluate":
        low, high = satisfaction_scale
        if satisfaction is None or isinstance(satisfaction, bool) or not isinstance(satisfaction, int) \
                or not low <= satisfaction <= high:
            raise InvalidInput(f"satisfaction must be a whole number from {low} to {high} to evaluate; "
                               f"got {satisfaction!r}", details={"field": "satisfaction"})
        score = satisfaction

    event = Event(action=action, from_status=status, to_status=to_status, actor=actor, actor_role=actor_role,
                  at=at, note=note, position=position, handler_id=handler, satisfaction=score, distance_m=distance)
    return Transition(status=to_status, state=replace(state, status=to_status, handler_id=handler,
                                                      handled_by=handled_by), event=event)


def _check_step(status: str | None, action: str, *, actor_role: str, at: dt.datetime,
                table: Mapping[tuple[str | None, str], tuple[str, frozenset[str]]]) -> str:
    """The status ``action`` leads to from ``status``, once action, status, role and time are known and allowed."""
    if action not in {a for _, a in table}:
        raise InvalidInput(f"action {action!r} does not exist; choose one of {', '.join(ACTIONS)}",
                           details={"field": "action"})
    if status is not None and status not in {f for f, _ in table} | {to for to, _ in table.values()}:
        raise InvalidInput(f"case status {status!r} does not exist; known statuses: {', '.join(STATUSES)}",
                           details={"field": "status"})
    if actor_role not in ROLES:
        raise InvalidInput(f"role {actor_role!r} does not exist; choose one of {', '.join(ROLES)}",
                           details={"field": "role"})
    if not isinstance(at, dt.datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"at: a timezone-aware datetime is required for {action!r}; got {at!r}",
                           details={"field": "at"})
    # A role that may never take this action is refused whatever the state: 403, not 409.
    roles_anywhere = frozenset().union(*(roles for (_, a), (_, roles) in table.items() if a == action))
    if actor_role not in roles_anywhere:
        raise PermissionDenied(f"role {actor_role!r} may not {action} a case; allowed: {_roles_text(roles_anywhere)}",
                               details={"action": action, "role": actor_role, "allowed_roles": sorted(roles_anywhere)})
    entry = table.get((status, action))
    where = "before it is reported" if status is None else f"in status {status!r}"
    if entry is None:
        raise Conflict(f"cannot {action} a case {where}; allowed from here: {_allowed_text(status, table)}",
                       details={"status": status, "action": action,
                                "allowed_actions": sorted(allowed_actions(status, table=table))})
    to_status, roles = entry
    if actor_role not in roles:
        raise PermissionDenied(f"role {actor_role!r} may not {action} a case {where}; allowed: "
                               f"{_roles_text(roles)}",
                               details={"action": action, "role": actor_role, "allowed_roles": sorted(roles)})
    return to_status


def _check_verifier(state: CaseState, actor: Hashable | None, *, handler_id: Hashable | None,
                    handler: Hashable | None, position: tuple[float, float] | None,
                    case_position: tuple[float, float] | None, max_distance_m: float) -> float | None:
    """A verifier (核查) is named, did not handle the case, and stands near it; the distance when known."""
    if actor is None:
        raise InvalidInput("verify: the verifier (actor) must be named", details={"field": "actor"})
    handlers = {h for h in (state.handler_id, handler_id) if h is not None} | state.handled_by
    if actor in handlers:
        raise PermissionDenied(f"verify: {actor!r} handled this case and may not verify it; "
                               "verification (核查) must be done by a different person than the handler",
                               details={"reason": "verifier_is_handler", "actor": actor, "handler_id": handler})
    if position is None:
        return None
    target = _check_point(case_position, "case_position")
    if target is None:
        raise InvalidInput("verify: case_position is required to check the verifier's GPS position",
                           details={"field": "case_position"})
    distance = distance_m(position, target)
    if distance > max_distance_m:
        raise InvalidInput(f"position: the verifier is {distance:.0f} m from the case; verification must be "
                           f"done within {max_distance_m:g} m",
                           details={"field": "position", "distance_m": round(distance, 1),
                                    "max_distance_m": max_distance_m})
    return distance


def _field(event: Any, key: str) -> Any:
    return event.get(key) if isinstance(event, Mapping) else getattr(event, key, None)


def replay(events: list[Any]) -> CaseState:
    """Rebuild a case's :class:`CaseState` from its event log (Event objects, rows or mappings), oldest first.

    Uses ``action``, ``to_status``, ``actor`` (or ``actor_id``) and ``handler_id`` when present; the
    events are trusted (they were checked when written).
    """
    state = CaseState(status=None)
    for event in events:
        action = _field(event, "action")
        actor = _field(event, "actor")
        if actor is None:
            actor = _field(event, "actor_id")
        handler = _field(event, "handler_id")
        handled_by = state.handled_by
        if action in _ASSIGNING or (action == "report_in" and _field(event, "from_status") == "escalated"):
            current = handler
        elif action in _TAKING:
            current = actor
        elif action in _UNASSIGNING:
            current = None
        else:
            current = state.handler_id if handler is None else handler
        if action in {"accept", "feedback"} | _TAKING and actor is not None:
            handled_by = handled_by | {actor}
        state = CaseState(status=_field(event, "to_status"), handler_id=current, handled_by=handled_by)
    return state
