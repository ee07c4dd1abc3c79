"""Boundary history and plan revert: every version of a unit, and an adopted plan undone as new versions.

History is never rewritten: ``revert_plan`` restores the boundaries valid before a plan as new
versions, and refuses if the scope changed again after that plan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

import pandas as pd
from sqlalchemy import DateTime, Integer, Text, bindparam, cast, func, insert, select, text, update
from sqlalchemy.orm import Session

from gis.db.levels import CODE_LENGTH, PLURAL, level_table
from gis.db.models import AppUser, Plan
from gis.errors import Conflict, InvalidInput, NotFound
from gis.partition.diff import households_per_unit
from gis.services.boundaries import describe_units
from gis.services.plans.scope import (
    LEVEL_OF_LENGTH,
    OutOfRange,
    building_points,
    check_user,
    current_units,
    db_now,
    iso,
    jsonable,
    lock_plan,
    out_of_range,
    plan_level,
    scope_row,
    shown,
)
from gis.settings import Settings

# The columns a restored row copies from the retired one, besides those every boundary level has.
_RESTORED_COLUMNS = {"grid": ["community_code", "kind", "level", "parent_grid_code"], "community": ["street_code"],
                     "street": []}


class BoundaryVersion(TypedDict):
    """One version of a boundary: when it held, who approved it, why and by which plan."""

    level: str
    code: str
    name: str
    version: int
    valid_from: str | None
    valid_to: str | None
    current: bool
    reason: str | None
    plan_id: int | None
    approved_by: str | None


class BoundaryHistory(TypedDict):
    """``boundary_history``: a unit's versions and those of the units under it, oldest first."""

    code: str
    level: str
    versions: list[BoundaryVersion]


class CodeVersion(TypedDict):
    """A code and the version written for it."""

    code: str
    version: int


class RevertResult(TypedDict):
    """``revert_plan``: what was restored and retired, the plans reinstated and units now out of range."""

    plan_id: int
    status: str
    level: str
    scope_code: str
    reverted_at: str | None
    reason: str
    restored: list[CodeVersion]
    restored_grids: list[CodeVersion]
    retired: list[str]
    reinstated_plans: list[int]
    four_limits: dict[str, Any]
    out_of_range: list[OutOfRange]


class _Restored(TypedDict):
    id: int
    code: str
    version: int


def boundary_history(session: Session, code: str) -> BoundaryHistory:
    """Every version of a unit and of the units under it, oldest first, with who approved which change and why."""
    code = str(code or "").strip()
    if not code.isdigit() or len(code) not in LEVEL_OF_LENGTH:
        raise InvalidInput(f"code must be a 6-, 9-, 12- or 15-digit district, street, community or grid code; "
                           f"received {code!r}", details={"field": "code"})
    level = LEVEL_OF_LENGTH[len(code)]
    tables = [t for t in ("street", "community", "grid") if CODE_LENGTH[t] >= len(code)][:2]
    users = AppUser.__table__.c
    versions: list[BoundaryVersion] = []
    for table in tables:
        t = level_table(table)
        rows = session.execute(
            select(t.c.code, t.c.name, t.c.version, t.c.valid_from, t.c.valid_to, t.c.reason, t.c.plan_id,
                   users.username)
            .select_from(t.outerjoin(AppUser.__table__, users.id == t.c.approved_by))
            .where(t.c.code.like(code + "%")).order_by(t.c.code, t.c.version, t.c.valid_from)).all()
        versions += [{"level": table, "code": c, "name": n, "version": v, "valid_from": iso(f), "valid_to": iso(to),
                      "current": to is None, "reason": r, "plan_id": p, "approved_by": u}
                     for c, n, v, f, to, r, p, u in rows]
    if not versions:
        raise NotFound(f"no boundary history for {level} {code}", details={"code": code})
    return {"code": code, "level": level, "versions": versions}


def revert_plan(session: Session, plan_id: int, *, reason: str, settings: Settings,
                user_id: int | None = None) -> RevertResult:
    """Undo an adopted plan: restore the boundaries valid just before it as new versions.

    Refused with ``Conflict`` when the plan is not the adopted one of its scope, or when the
    scope changed again after it (a later edit, or grids split in the communities it drew).
    Restored units outside the household bounds are reported, not refused: they were valid before.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"reason: reverting plan {plan_id} needs a reason (it is kept in the boundary history)",
                           details={"field": "reason"})
    plan = lock_plan(session, plan_id)
    adoption = _adoption_record(plan)
    check_user(session, user_id, f"reverting plan {plan.id}")
    level = plan_level(plan.kind, plan.scope_code)
    scope_row(session, level, plan.scope_code, lock=True)
    current = current_units(session, level, plan.scope_code, lock=True)
    written = {int(i) for i in adoption["written_ids"]}
    changes = _changes_since(session, plan, level, current, written, pd.Timestamp(adoption["adopted_at"]))
    if changes:
        raise Conflict(f"plan {plan.id} cannot be reverted: the {PLURAL[level]} of {plan.scope_code} changed after "
                       f"it ({shown(changes)})", details={"plan_id": plan.id, "changes": changes})

    now = db_now(session, current["valid_from"])
    full_reason = f"revert of plan {plan.id}: {reason}"
    t = level_table(level)
    session.execute(update(t).where(t.c.id.in_(sorted(written))).values(valid_to=now))
    restored = _restore_rows(session, level, adoption.get("retired_ids", []), now, full_reason, user_id)
    if adoption.get("provisional_street_id"):
        session.execute(text("UPDATE street SET valid_to = :now WHERE id = :id AND valid_to IS NULL"),
                        {"now": now, "id": int(adoption["provisional_street_id"])})
    restored_grids = (_restore_rows(session, "grid", adoption.get("retired_grid_ids", []), now, full_reason, user_id)
                      if level == "community" else [])
    reinstated = list(session.execute(text(
        "UPDATE plan SET status = 'adopted', version = version + 1 WHERE status = 'archived' AND id = ANY(:ids) "
        "RETURNING id"), {"ids": [int(i) for i in adoption.get("archived_plan_ids", [])]}).scalars())
    _rebind_reinstated(session, reinstated, {level: restored, "grid": restored_grids if level == "community"
                                             else restored})

    restored_codes = {r["code"] for r in restored}
    retired = sorted(c for c in current["code"] if c not in restored_codes)
    described = describe_units(session, level=level, codes=sorted(restored_codes)) if restored_codes else {}
    outside = _out_of_range_now(session, level, plan.scope_code, settings)

    plan.status = "archived"
    plan.version = plan.version + 1
    plan.reason = f"{plan.reason or ''} | reverted: {reason}".strip(" |")
    plan.metrics = {**(plan.metrics or {}), "reverted": jsonable({
        "at": now, "by": user_id, "reason": reason, "restored_ids": [r["id"] for r in restored + restored_grids]})}
    session.flush()
    return {"plan_id": plan.id, "status": plan.status, "level": level, "scope_code": plan.scope_code,
            "reverted_at": iso(now), "reason": full_reason,
            "restored": [{"code": r["code"], "version": r["version"]} for r in restored],
            "restored_grids": [{"code": r["code"], "version": r["version"]} for r in restored_grids],
            "retired": retired, "reinstated_plans": sorted(reinstated), "four_limits": described,
            "out_of_range": outside}


def _adoption_record(plan: Plan) -> dict[str, Any]:
    """What adopting the plan replaced; ``Conflict`` when the plan is not adopted or the record is missing."""
    if plan.status != "adopted":
        hint = ("a draft changed nothing" if plan.status == "draft"
                else "it was replaced by a later plan or already reverted; revert the later plan first")
        raise Conflict(f"plan {plan.id} is {plan.status}, not adopted: {hint}",
                       details={"plan_id": plan.id, "status": plan.status})
    adoption = (plan.metrics or {}).get("adoption")
    if not adoption:
        raise Conflict(f"plan {plan.id} has no adoption record, so what it replaced is not known; "
                       f"edit the boundaries instead", details={"plan_id": plan.id})
    return dict(adoption)


def _changes_since(session: Session, plan: Plan, level: str, current: Any, written: set[int],
                   adopted_at: pd.Timestamp) -> list[str]:
    """What changed in the plan's scope after it was adopted (a revert would overwrite it)."""
    changes = [f"{level} {r.code} version {r.version} came later" for r in current.itertuples()
               if int(r.id) not in written]
    gone_ids = written - {int(i) for i in current["id"]}
    if gone_ids:
        t = level_table(level)
        gone = session.execute(select(t.c.code, t.c.version).where(t.c.id.in_(sorted(gone_ids)))
                               .order_by(t.c.code)).all()
        changes += [f"{level} {c} version {v} written by plan {plan.id} has been replaced" for c, v in gone]
    if level == "community":
        later = session.execute(text(
            "SELECT g.code, g.community_code FROM grid g WHERE g.valid_to IS NULL AND g.valid_from > :t "
            "AND g.community_code = ANY(:c) ORDER BY g.code"),
            {"t": adopted_at.to_pydatetime(), "c": list(current["code"])}).all()
        changes += [f"grid {c} in community {cc} came later" for c, cc in later]
    return changes


def _out_of_range_now(session: Session, level: str, scope_code: str, settings: Settings) -> list[OutOfRange]:
    """The scope's current general units outside the household bounds (reported after a revert, not refused)."""
    now_units = current_units(session, level, scope_code)
    if now_units.empty:
        return []
    points = building_points(session, now_units.total_bounds)
    per = households_per_unit(points, now_units, "code")
    frame = now_units.assign(label=now_units["code"], code=None,
                             households_now=[int(per.get(c, 0)) for c in now_units["code"]])
    return out_of_range(frame, level, settings)


def _rebind_reinstated(session: Session, plan_ids: list[int], restored: dict[str, list[_Restored]]) -> None:
    """Point a reinstated plan's adoption record at the restored copies of its rows, so it can be reverted in turn."""
    for pid in plan_ids:
        other = session.get(Plan, pid)
        if other is None:
            continue
        adoption = dict((other.metrics or {}).get("adoption") or {})
        if not adoption:
            continue
        table = plan_level(other.kind, other.scope_code)
        new_id = {r["code"]: r["id"] for r in restored.get(table, [])}
        t = level_table(table)
        codes: dict[int, str] = {int(i): c for i, c in session.execute(select(t.c.id, t.c.code).where(
            t.c.id.in_([int(i) for i in adoption.get("written_ids", [])]))).all()}
        adoption["written_ids"] = [new_id.get(codes.get(int(i), ""), int(i)) for i in adoption.get("written_ids", [])]
        other.metrics = {**other.metrics, "adoption": adoption}


def _restore_rows(session: Session, table: str, ids: list[int], now: dt.datetime, reason: str,
                  user_id: int | None) -> list[_Restored]:
    """Copy retired rows back as new current versions (geometry, name, four limits and plan as they were)."""
    ids = [int(i) for i in ids]
    if not ids:
        return []
    t = level_table(table)
    old = t.alias("o")
    history = t.alias("h")
    clash = session.execute(select(t.c.code).where(
        t.c.valid_to.is_(None), t.c.code.in_(select(old.c.code).where(old.c.id.in_(ids))))).scalars().all()
    if clash:
        raise Conflict(f"cannot restore {table}(s) {', '.join(sorted(clash))}: a current {table} holds the code",
                       details={"codes": sorted(clash)})
    columns = ["district_code", "name", "four_limits", "code", "geom", "plan_id", *_RESTORED_COLUMNS[table]]
    next_version = select(func.max(history.c.version) + 1).where(history.c.code == old.c.code).scalar_subquery()
    rows = session.execute(
        insert(t).from_select(
            [*columns, "valid_from", "version", "reason", "approved_by"],
            select(*(old.c[c] for c in columns), cast(bindparam("now", now), DateTime(timezone=True)), next_version,
                   cast(bindparam("reason", reason), Text), cast(bindparam("user", user_id), Integer))
            .where(old.c.id.in_(ids)))
        .returning(t.c.id, t.c.code, t.c.version)).all()
    return sorted(({"id": int(i), "code": c, "version": int(v)} for i, c, v in rows), key=lambda r: r["code"])
