"""Staffing after a plan: staff of retired grids follow their households; grids without a worker (一格一员).

Adopting a plan retires grids (a grid split retires the codes it does not keep; a community
redraw retires the grids of every community it changes). Their staff stay assigned to codes
that no longer exist, which scope them to nothing. This module proposes, for each retired
grid, the current grid holding most of its households (gis.staffing.follow_households) and
moves its staff there when an admin applies the proposal (ending the old assignment, keeping
its history). Adoption calls :func:`proposal_after_adoption` and returns the proposal with the
plan; nothing is moved until it is applied.

A building belongs to the grid containing its point on surface, as everywhere else; its
households are the building's count of record (recorded or estimated), as plans count them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services import privacy
from gis.services.users import Principal
from gis.staffing import follow_households

PLANNING_ROLES = frozenset({"admin", "district_planner"})

# Current level-1 grids, with how many active workers and leaders each has now.
_STAFF_COUNTS = """
    SELECT g.code, g.name, g.community_code, g.district_code,
           count(DISTINCT a.user_id) FILTER (WHERE a.duty = 'worker') AS workers,
           count(DISTINCT a.user_id) FILTER (WHERE a.duty = 'leader') AS leaders
    FROM grid g
    LEFT JOIN grid_assignment a ON a.grid_code = g.code AND a.valid_from <= clock_timestamp()
     AND (a.valid_to IS NULL OR a.valid_to > clock_timestamp())
     AND EXISTS (SELECT 1 FROM app_user u WHERE u.id = a.user_id AND u.is_active)
    WHERE g.valid_to IS NULL AND g.level = 1
"""


def _check_district(principal: Principal, district_code: str | None) -> str | None:
    if district_code is not None and (len(district_code) != 6 or not district_code.isdigit()):
        raise InvalidInput(f"district_code: 6 digits, got {district_code!r}", details={"field": "district_code"})
    code = district_code or principal.district_code
    if code is not None and not principal.sees_district(code):
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code}, not {code}")
    return code


class UnstaffedGrid(TypedDict):
    grid_code: str
    grid_name: str
    community_code: str
    district_code: str
    workers: int
    leaders: int


class UnstaffedGrids(TypedDict):
    """Current grids without an active worker (``items``), out of ``grids`` looked at."""

    district_code: str | None
    grids: int
    unstaffed: int
    items: list[UnstaffedGrid]


class StaffingProposal(TypedDict):
    """Where the staff of an adopted plan's retired grids should go: per retired grid, and per person."""

    plan_id: int
    adopted_at: str
    retired_grids: list[dict[str, Any]]
    reassignments: list[dict[str, Any]]
    without_target: list[str]
    unstaffed: UnstaffedGrids


class Reassigned(TypedDict):
    """The moves applied (user, duty, from and to grid), those left without a target, grids still unstaffed."""

    plan_id: int
    applied: list[dict[str, Any]]
    without_target: list[str]
    unstaffed: UnstaffedGrids


def unstaffed_grids(session: Session, principal: Principal, *, district_code: str | None = None,
                    code_prefix: str | None = None) -> UnstaffedGrids:
    """Current grids without an active worker (一格一员), with how many leaders they have; counts only."""
    district = _check_district(principal, district_code)
    if code_prefix is not None and not (code_prefix.isdigit() and 1 <= len(code_prefix) <= 15):
        raise InvalidInput(f"code_prefix: 1 to 15 digits, got {code_prefix!r}", details={"field": "code_prefix"})
    rows = session.execute(text(f"""
        {_STAFF_COUNTS} AND (CAST(:d AS text) IS NULL OR g.district_code = :d)
          AND (CAST(:p AS text) IS NULL OR g.code LIKE :p || '%')
        GROUP BY g.code, g.name, g.community_code, g.district_code ORDER BY g.code"""),
        {"d": district, "p": code_prefix}).all()
    items: list[UnstaffedGrid] = [{"grid_code": r.code, "grid_name": r.name, "community_code": r.community_code,
              "district_code": r.district_code, "workers": 0, "leaders": int(r.leaders)}
             for r in rows if not r.workers]
    return {"district_code": district, "grids": len(rows), "unstaffed": len(items), "items": items}


def _plan(session: Session, principal: Principal, plan_id: int) -> Any:
    plan = session.execute(text("SELECT id, kind, scope_code, district_code, status, adopted_at, metrics FROM plan "
                                "WHERE id = :id"), {"id": plan_id}).first()
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist")
    if not principal.sees_district(plan.district_code):
        raise PermissionDenied(f"plan {plan_id} belongs to district {plan.district_code}, outside yours")
    return plan


def _retired_grid_ids(plan: Any) -> list[int]:
    """The grid rows the plan's adoption retired (a grid split: the scope's grids; a redraw: changed communities')."""
    adoption = (plan.metrics or {}).get("adoption") or {}
    if plan.kind == "micro_split":
        return []  # level-2 grids are kept by building and unit heads, not by grid workers
    if len(str(plan.scope_code)) == 12:
        return [int(i) for i in adoption.get("retired_ids", [])]
    return [int(i) for i in adoption.get("retired_grid_ids", [])]


def propose_reassignments(session: Session, principal: Principal, plan_id: int) -> StaffingProposal:
    """For an adopted plan: each retired grid's households by current grid, where its staff should go, who.

    Codes the plan kept are not retired (their staff stay). A retired grid whose staff have
    already moved lists no one.
    """
    if principal.role not in PLANNING_ROLES:
        raise PermissionDenied(f"{principal.role} may not see staffing proposals; planners and admins may")
    plan = _plan(session, principal, plan_id)
    if plan.status not in ("adopted", "archived") or plan.adopted_at is None:
        raise Conflict(f"plan {plan_id} is {plan.status}: staff are reassigned after a plan is adopted",
                       details={"plan_id": plan_id, "status": plan.status})
    ids = _retired_grid_ids(plan)
    retired = session.execute(text("""
        SELECT o.id, o.code, o.name FROM grid o
        WHERE o.id = ANY(:ids) AND o.valid_to IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM grid c WHERE c.code = o.code AND c.valid_to IS NULL)
        ORDER BY o.code"""), {"ids": ids}).all() if ids else []
    split_rows = session.execute(text("""
        SELECT o.code AS old_code, n.code AS new_code, sum(COALESCE(b.households, 0))::int AS households
        FROM grid o JOIN building b ON ST_Intersects(o.geom, b.geom) AND ST_Contains(o.geom, ST_PointOnSurface(b.geom))
        LEFT JOIN grid n ON n.valid_to IS NULL AND n.level = 1 AND ST_Intersects(n.geom, b.geom)
         AND ST_Contains(n.geom, ST_PointOnSurface(b.geom))
        WHERE o.id = ANY(:ids) GROUP BY o.code, n.code"""), {"ids": [r.id for r in retired]}).all() if retired else []
    overlap_rows = session.execute(text("""
        SELECT o.code AS old_code, n.code AS new_code,
               ST_Area(ST_Intersection(o.geom, n.geom)::geography) AS area_m2
        FROM grid o JOIN grid n ON n.valid_to IS NULL AND n.level = 1 AND ST_Intersects(o.geom, n.geom)
        WHERE o.id = ANY(:ids)"""), {"ids": [r.id for r in retired]}).all() if retired else []
    staff_rows = session.execute(text("""
        SELECT a.id AS assignment_id, a.grid_code, a.duty, a.public_phone, u.id AS user_id, u.username,
               u.display_name
        FROM grid_assignment a JOIN app_user u ON u.id = a.user_id
        WHERE a.grid_code = ANY(CAST(:codes AS text[])) AND u.is_active AND a.valid_from <= clock_timestamp()
          AND (a.valid_to IS NULL OR a.valid_to > clock_timestamp())
        ORDER BY a.grid_code, a.duty, u.username"""), {"codes": [r.code for r in retired]}).all() if retired else []
    current = {(r.user_id, r.grid_code) for r in session.execute(text("""
        SELECT user_id, grid_code FROM grid_assignment WHERE valid_from <= clock_timestamp()
          AND (valid_to IS NULL OR valid_to > clock_timestamp())""")).all()}

    grids, moves = [], []
    for old in retired:
        split = {r.new_code: int(r.households) for r in split_rows if r.old_code == old.code}
        overlap = {r.new_code: float(r.area_m2) for r in overlap_rows if r.old_code == old.code}
        target = follow_households(split, overlap)
        staff = [s for s in staff_rows if s.grid_code == old.code]
        grids.append({"grid_code": old.code, "grid_name": old.name, "households": target.households_total,
                      "to_grid": target.grid_code, "households_following": target.households,
                      "share": target.share, "by": target.by,
                      "split": [{"grid_code": c, "households": n} for c, n in
                                sorted(split.items(), key=lambda kv: (-kv[1], kv[0] or "~"))],
                      "staff": len(staff)})
        for s in staff:
            moves.append({"assignment_id": s.assignment_id, "user_id": s.user_id, "username": s.username,
                          "display_name": s.display_name, "duty": s.duty, "from_grid": old.code,
                          "to_grid": target.grid_code, "households_following": target.households,
                          "share": target.share,
                          "already_assigned": target.grid_code is not None
                          and (s.user_id, target.grid_code) in current})
    scope = str(plan.scope_code)
    unstaffed = unstaffed_grids(session, principal, district_code=plan.district_code,
                                code_prefix=scope if len(scope) in (9, 12) else None)
    return {"plan_id": plan.id, "adopted_at": plan.adopted_at.isoformat(), "retired_grids": grids,
            "reassignments": moves, "without_target": sorted({m["from_grid"] for m in moves if m["to_grid"] is None}),
            "unstaffed": unstaffed}


def proposal_after_adoption(session: Session, plan_id: int) -> StaffingProposal:
    """What adoption reports: the proposal as the system sees it (gis.services.plans.adopt_plan calls this)."""
    from gis.services.users import SYSTEM

    return propose_reassignments(session, SYSTEM, plan_id)


def apply_reassignments(session: Session, principal: Principal, plan_id: int, *,
                        now: dt.datetime | None = None) -> Reassigned:
    """Move the staff of the plan's retired grids to their proposed grids (same duty); one audit row; atomic.

    The old assignment ends (its history kept); one already in place is left as it is. Staff of a
    grid with no target stay where they are and are named in ``without_target``.
    """
    if principal.role != "admin":
        raise PermissionDenied(f"{principal.role} may not reassign staff; "
                               "an admin may (as with PUT /users/{id}/grids)")
    proposal = propose_reassignments(session, principal, plan_id)
    now = now or session.execute(text("SELECT now()")).scalar_one()
    applied = []
    with session.begin_nested():
        for move in proposal["reassignments"]:
            if move["to_grid"] is None:
                continue
            session.execute(text("UPDATE grid_assignment SET valid_to = :now WHERE id = :id"),
                            {"now": now, "id": move["assignment_id"]})
            if not move["already_assigned"]:
                session.execute(text("""
                    INSERT INTO grid_assignment (user_id, grid_code, duty, public_phone, valid_from)
                    SELECT user_id, :to, duty, public_phone, :now FROM grid_assignment WHERE id = :id"""),
                    {"to": move["to_grid"], "now": now, "id": move["assignment_id"]})
            applied.append({k: move[k] for k in ("user_id", "username", "duty", "from_grid", "to_grid")})
        if applied:
            privacy.record_change(session, principal, entity="plan", entity_id=plan_id, action="reassign_staff",
                                  district_code=principal.district_code, detail={"moves": applied})
    after = propose_reassignments(session, principal, plan_id) if applied else proposal
    return {"plan_id": plan_id, "applied": applied, "without_target": proposal["without_target"],
            "unstaffed": after["unstaffed"]}
