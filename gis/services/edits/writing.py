"""Writing an edit: the manual_edit plan, retired and new boundary rows, plan units, four limits and audit.

Every edit writes new versions and never overwrites a boundary: the rows it replaces get a
``valid_to``, the new rows carry the code (or a fresh code, never a retired one), the reason
and who approved them. The partial unique index on each table's current code is the last line
of defence against two edits at once; its violation is reported as ``Conflict``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import CursorResult, Table, and_, false, func, insert, literal, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gis.db.levels import PARENT_COLUMN, level_table
from gis.db.models import Building, Plan, PlanAssignment, PlanUnit
from gis.errors import Conflict
from gis.services import privacy
from gis.services.boundaries import describe_units
from gis.services.edits.findings import UnitHouseholds, changes, topology, unit_households
from gis.services.edits.geometry import Metric
from gis.services.edits.units import Unit
from gis.services.plans.scope import db_now, household_bounds, in_range
from gis.services.users import Principal
from gis.settings import Settings


@dataclass
class NewVersion:
    """A boundary row to write: a new version of ``code`` (``previous`` set) or a unit with a fresh code."""

    code: str
    name: str
    geom: BaseGeometry
    previous: Unit | None = None
    kind: str = "general"
    grid_level: int = 1
    parent_grid_code: str | None = None


class WrittenUnit(TypedDict):
    """A boundary row an edit wrote, with its households and four limits (四至)."""

    code: str
    name: str
    version: int
    previous_version: int | None
    households: int
    four_limits: Any


class UnitReport(TypedDict):
    """A unit under the edited parent after the edit, its households before and whether it is in range."""

    code: str
    name: str | None
    version: int | None
    households: int
    estimated_households: int
    buildings: int
    households_before: int | None
    changed: bool
    in_range: bool | None


class EditResult(TypedDict):
    """What an edit wrote and retired, the units of the parent after it and the findings it created or resolved.

    Each edit adds its own keys (the codes it names, ``new_codes``, ``retired_grids`` ...).
    """

    operation: str
    level: str
    parent_code: str
    plan_id: int
    reason: str
    valid_from: str
    approved_by: str | None
    written: list[WrittenUnit]
    retired: list[str]
    units: list[UnitReport]
    findings: dict[str, list[dict[str, Any]]]
    staff_to_reassign: list[dict[str, Any]]
    retired_level_2_grids: list[str]
    code: NotRequired[str]
    version: NotRequired[int]
    name: NotRequired[str]
    new_codes: NotRequired[list[str]]
    merged: NotRequired[list[str]]
    code_status: NotRequired[dict[str, str]]
    retired_grids: NotRequired[list[dict[str, Any]]]
    needs_grid_split: NotRequired[list[str]]
    grid_findings: NotRequired[dict[str, list[dict[str, Any]]]]
    clipped_to_parent_m2: NotRequired[float]
    from_grid: NotRequired[str]
    to_grid: NotRequired[str]
    building_ids: NotRequired[list[int]]
    moved_area_m2: NotRequired[float]


def _retire(session: Session, units: list[Unit], now: dt.datetime) -> None:
    for u in units:
        t = level_table(u.level)
        done = cast(CursorResult[Any], session.execute(
            update(t).where(t.c.id == u.id, t.c.valid_to.is_(None), t.c.version == u.version).values(valid_to=now)
        )).rowcount
        if done != 1:  # cannot happen while we hold the row lock; kept as a guard for callers that do not lock
            raise Conflict(f"{u.level} {u.code} changed while it was being edited; reload it and redo the edit",
                           details={"code": u.code})


def _insert(session: Session, level: str, parent_code: str, new: NewVersion, *, now: dt.datetime, reason: str,
            plan_id: int, user_id: int | None) -> tuple[int, int]:
    """Write one boundary row; a second current row for the code is reported as Conflict."""
    t = level_table(level)
    version = new.previous.version + 1 if new.previous is not None else 1
    columns: dict[str, Any] = {
        "code": new.code, "district_code": new.code[:6], "name": new.name, "valid_from": now, "version": version,
        "reason": reason, "plan_id": plan_id, "approved_by": user_id,
        "geom": func.ST_GeomFromEWKT(f"SRID=4490;{MultiPolygon(list(shapely.get_parts(new.geom))).wkt}"),
        PARENT_COLUMN[level]: parent_code}
    if level == "grid":
        columns.update(kind=new.kind, level=new.grid_level, parent_grid_code=new.parent_grid_code)
    try:
        with session.begin_nested():
            row_id = session.execute(insert(t).values(columns).returning(t.c.id)).scalar_one()
    except IntegrityError as exc:
        if f"uq_{level}_current_code" not in str(exc.orig):
            raise
        current = session.execute(select(t.c.version).where(t.c.code == new.code, t.c.valid_to.is_(None))).scalar()
        raise Conflict(f"{level} {new.code} was changed by another edit at the same time; reload it and redo "
                       f"the edit", details={"code": new.code, "current_version": current}) from None
    return int(row_id), version


@dataclass
class Edit:
    """Everything an edit has decided, to be written by ``apply``."""

    operation: str
    level: str
    parent: Unit
    retire: list[Unit]
    write: list[NewVersion]
    reason: str
    parameters: dict[str, Any]


def apply(session: Session, edit: Edit, *, principal: Principal, request_id: str | None,
          settings: Settings | None, siblings: list[Unit]) -> EditResult:
    """Write an edit: plan, retired and new rows, four limits, audit; report counts and new findings."""
    level, parent = edit.level, edit.parent
    user_id = principal.user_id or None
    counts_before = unit_households(session, level, parent.code)

    retired_codes = {u.code for u in edit.retire}
    before_units = [(u.code, parent.code, u.geom) for u in siblings]
    after_units = ([(u.code, parent.code, u.geom) for u in siblings if u.code not in retired_codes]
                   + [(n.code, parent.code, n.geom) for n in edit.write])
    findings = changes(topology(before_units, parent.code, parent.geom, level),
                       topology(after_units, parent.code, parent.geom, level), Metric(parent.geom), level)

    now = db_now(session, (u.valid_from for u in edit.retire))
    plan = Plan(district_code=parent.district_code, kind="manual_edit", scope_code=parent.code, status="adopted",
                parameters={"operation": edit.operation, **edit.parameters,
                            "base_versions": {u.code: u.version for u in edit.retire}},
                metrics={}, created_by=user_id, adopted_by=user_id, adopted_at=now, reason=edit.reason)
    session.add(plan)
    session.flush()
    _retire(session, edit.retire, now)
    written = []
    for new in edit.write:
        row_id, version = _insert(session, level, parent.code, new, now=now, reason=edit.reason, plan_id=plan.id,
                                  user_id=user_id)
        written.append((new, row_id, version))
    _store_plan_units(session, plan.id, level, parent.code, [(n, i) for n, i, _ in written])
    retired_micro: list[str] = []
    if level == "grid" and all(u.grid_level == 1 for u in edit.retire):
        from gis.services.levels import retire_stale_micro_grids  # level-2 grids of a changed parent go with it

        retired_micro = retire_stale_micro_grids(session, community_code=parent.code, at=now)
    four_limits = describe_units(session, level=level, codes=[n.code for n, _, _ in written])

    counts = unit_households(session, level, parent.code)
    written_codes = {n.code: v for n, _, v in written}
    units = _unit_reports(edit, siblings, written, counts, counts_before, settings)
    gone = sorted(retired_codes - set(written_codes))
    result: EditResult = {
        "operation": edit.operation, "level": level, "parent_code": parent.code, "plan_id": plan.id,
        "reason": edit.reason, "valid_from": now.isoformat(), "approved_by": principal.username,
        "written": [{"code": n.code, "name": n.name, "version": v, "previous_version":
                     n.previous.version if n.previous is not None else None,
                     "households": counts[n.code]["households"] if n.code in counts else 0,
                     "four_limits": four_limits.get(n.code)} for n, _, v in written],
        "retired": gone,
        "units": units,
        "findings": findings,
        "staff_to_reassign": staff_of(session, gone) if level == "grid" else [],
        "retired_level_2_grids": retired_micro,
    }
    plan.metrics = {
        "adoption": {"adopted_at": now.isoformat(), "retired_ids": [u.id for u in edit.retire],
                     "written_ids": [i for _, i, _ in written], "retired_grid_ids": [], "archived_plan_ids": [],
                     "out_of_range": []},
        "findings": findings,
        "households": {u["code"]: u["households"] for u in units},
    }
    privacy.record_change(session, principal, entity=level, entity_id=edit.write[0].code if edit.write
                          else edit.retire[0].code, action=edit.operation, reason=edit.reason,
                          district_code=parent.district_code, request_id=request_id,
                          detail={"plan_id": plan.id, "written": written_codes,
                                  "retired": {u.code: u.version for u in edit.retire}})
    session.flush()
    return result


def _unit_reports(edit: Edit, siblings: list[Unit], written: list[tuple[NewVersion, int, int]],
                  counts: dict[str, UnitHouseholds], counts_before: dict[str, UnitHouseholds],
                  settings: Settings | None) -> list[UnitReport]:
    """Every unit under the parent after the edit: households now and before, and whether it is in range."""
    written_codes = {n.code: v for n, _, v in written}
    kinds = {u.code: u.kind for u in siblings} | {n.code: n.kind for n, _, _ in written}
    names = {u.code: u.name for u in siblings} | {n.code: n.name for n, _, _ in written}
    versions = {u.code: u.version for u in siblings} | written_codes
    bounds = household_bounds(settings, edit.level) if settings is not None else None
    units: list[UnitReport] = []
    for code in sorted(counts):
        c = counts[code]
        units.append({"code": code, "name": names.get(code), "version": versions.get(code),
                      "households": c["households"], "estimated_households": c["estimated_households"],
                      "buildings": c["buildings"],
                      "households_before": counts_before[code]["households"] if code in counts_before else None,
                      "changed": code in written_codes,
                      "in_range": None if bounds is None else in_range(c["households"], kinds.get(code, "general"),
                                                                       *bounds)})
    return units


def _store_plan_units(session: Session, plan_id: int, level: str, parent_code: str,
                      written: list[tuple[NewVersion, int]]) -> None:
    """The written units as the plan's units, with the buildings in them, so show_plan and diffs see the edit."""
    u = level_table(level)
    b = Building.__table__
    # A building is in a unit where its point on surface falls, as everywhere else.
    inside = and_(func.ST_Intersects(u.c.geom, b.c.geom), func.ST_Contains(u.c.geom, func.ST_PointOnSurface(b.c.geom)))
    households = select(func.sum(b.c.households)).where(inside).scalar_subquery()
    units, assignment = cast(Table, PlanUnit.__table__), cast(Table, PlanAssignment.__table__)
    for new, row_id in written:
        unit_id = session.execute(insert(units).from_select(
            ["plan_id", "district_code", "label", "code", "parent_code", "kind", "locked", "households", "geom"],
            select(literal(plan_id), u.c.district_code, u.c.code, u.c.code, literal(parent_code), literal(new.kind),
                   false(), func.coalesce(households, 0), u.c.geom).where(u.c.id == row_id),
        ).returning(units.c.id)).scalar_one()
        session.execute(insert(assignment).from_select(
            ["plan_id", "building_id", "plan_unit_id", "district_code"],
            select(literal(plan_id), b.c.id, literal(unit_id), b.c.district_code).select_from(u.join(b, inside))
            .where(u.c.id == row_id)))


def staff_of(session: Session, codes: list[str]) -> list[dict[str, Any]]:
    """Grid leaders and workers still assigned to retired grids: they need a new assignment."""
    if not codes:
        return []
    rows = session.execute(text("""
        SELECT a.grid_code, u.username, a.duty FROM grid_assignment a JOIN app_user u ON u.id = a.user_id
        WHERE a.valid_to IS NULL AND a.grid_code = ANY(:c) ORDER BY a.grid_code, u.username"""),
                           {"c": codes}).all()
    return [{"grid_code": g, "username": n, "duty": d} for g, n, d in rows]


def retire_grids_of(session: Session, plan_id: int, communities: list[str]) -> list[dict[str, Any]]:
    """Retire the current grids of communities whose boundary an edit changed; the plan remembers them for a revert.

    A grid code starts with its community's code and a community's grids must tile it, so grids drawn
    for the old boundary cannot stay: the community needs a new grid split.
    """
    plan = session.get_one(Plan, plan_id)
    now = plan.adopted_at
    rows = session.execute(text(
        "UPDATE grid SET valid_to = GREATEST(:now, valid_from + interval '1 microsecond') "
        "WHERE valid_to IS NULL AND community_code = ANY(:c) RETURNING id, code, community_code"),
        {"now": now, "c": communities}).all()
    adoption = dict((plan.metrics or {}).get("adoption") or {})
    adoption["retired_grid_ids"] = sorted(int(i) for i, _, _ in rows)
    plan.metrics = {**(plan.metrics or {}), "adoption": adoption}
    by_community: dict[str, list[str]] = {}
    for _, code, community in rows:
        by_community.setdefault(community, []).append(code)
    session.flush()
    return [{"community_code": c, "grids": sorted(g)} for c, g in sorted(by_community.items())]
