"""Plan adoption: a draft checked again and written as new boundary versions, the units it replaces retired.

Rules kept here
---------------
- A draft remembers the versions of the scope's current units it was computed against
  (``parameters["base_versions"]`` and ``parameters["scope_version"]``). If any of them
  changed since, adoption is refused with ``Conflict``: a stale plan never overwrites a
  newer boundary (optimistic concurrency).
- Adoption checks the tiling (no gaps, overlaps, multi-part units) and household bounds
  again, then retires the current units of the scope (``valid_to``) and writes the plan's
  units as new versions with the codes ``gis.services.plans.codes`` gives them.
- Communities whose boundary moved lose their grids (they need a new grid split); the plan
  that drew the replaced units is archived.

Households per building are counted where the building's point on surface falls, as in
``gis.services.boundaries.household_counts``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, cast

import geopandas as gpd
import shapely
from sqlalchemy import text, update
from sqlalchemy.orm import Session

from gis import approvals as approval_rules
from gis.checker import blocking
from gis.crs import metric_crs_for_frame
from gis.db.frames import read_frame
from gis.db.levels import PLURAL, level_table
from gis.db.models import Community, Grid, Plan
from gis.errors import Conflict, InvalidGeometry, InvalidInput, NotFound
from gis.layers import STORAGE_CRS
from gis.partition.diff import households_per_unit
from gis.services import approvals as approval_service
from gis.services.boundaries import describe_units
from gis.services.checks import check_stored
from gis.services.plans.codes import (
    DistrictStreet,
    assign_plan_codes,
    district_street,
    new_name,
    parent_names,
    parent_street,
    write_district_street,
)
from gis.services.plans.scope import (
    OutOfRange,
    Scope,
    building_points,
    check_user,
    count_text,
    current_units,
    db_now,
    household_bounds,
    iso,
    jsonable,
    lock_plan,
    out_of_range,
    plan_level,
    scope_level,
    scope_row,
    shown,
    total_bounds,
)
from gis.services.plans.storage import plan_units
from gis.settings import Settings

# A kept unit whose boundary moved less than this (symmetric difference) has not changed.
_UNCHANGED_M2 = 1.0


class AdoptedUnit(TypedDict):
    """A unit as adopted: its label, its code and where the code came from (carried, matched or new)."""

    label: str
    code: str
    origin: str
    version: int
    kind: str
    households: int


class RetiredGrids(TypedDict):
    """The grids retired with a community whose boundary changed."""

    community_code: str
    grids: list[str]


class AdoptionResult(TypedDict):
    """``adopt_plan``: what was written, retired and archived, and what needs doing next."""

    plan_id: int
    status: str
    kind: str
    level: str
    scope_code: str
    version: int
    adopted_at: str | None
    reason: str
    units: list[AdoptedUnit]
    retired: list[str]
    four_limits: dict[str, Any]
    out_of_range: list[OutOfRange]
    archived_plans: list[int]
    retired_grids: NotRequired[list[RetiredGrids]]
    needs_grid_split: list[Any]
    retired_level_2_grids: NotRequired[list[str]]
    provisional_street: NotRequired[str | None]
    staffing: NotRequired[Any]


def adopt_plan(
    session: Session,
    plan_id: int,
    *,
    reason: str,
    settings: Settings,
    user_id: int | None = None,
    expected_version: int | None = None,
    allow_out_of_range: bool = False,
) -> AdoptionResult:
    """Adopt a draft: check it again, write its units as new boundary versions, archive the plan it replaces.

    Refused with ``Conflict`` when the plan is not a draft, when ``expected_version`` is not
    the plan's version, or when the scope's boundaries changed since the plan was computed;
    with ``InvalidGeometry`` when the units do not tile their parent; with ``InvalidInput``
    when general units are outside the household bounds, unless ``allow_out_of_range`` (then
    the exception is recorded in the reason and the plan's metrics).
    """
    if session.scalar(text("SELECT kind FROM plan WHERE id = :id"), {"id": plan_id}) == "micro_split":
        # Level-2 grids tile a parent grid, not a community: their own adoption (gis.services.levels).
        from gis.services.levels import adopt_micro_plan

        return cast(AdoptionResult, adopt_micro_plan(session, plan_id, reason=reason, settings=settings,
                                                     user_id=user_id, expected_version=expected_version))
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"reason: adopting plan {plan_id} needs a reason (it is kept in the boundary history)",
                           details={"field": "reason"})
    plan = _locked_draft(session, plan_id, expected_version)
    check_user(session, user_id, f"adopting plan {plan.id}")
    level = plan_level(plan.kind, plan.scope_code)
    approval_service.check_adoption(session, plan, level=level, user_id=user_id, settings=settings)
    status_before = plan.status
    scope = scope_row(session, level, plan.scope_code, lock=True)
    current = current_units(session, level, plan.scope_code, lock=True)
    _check_base(plan, level, scope, current)

    units, points, outside = _checked_units(session, settings, plan, level, scope, current, allow_out_of_range)
    street = district_street(session, plan, scope) if level == "community" and scope["level"] == "district" else None
    if street is not None:
        units["parent"] = street["code"]
    else:
        units["parent"] = [parent_street(level, r, plan.scope_code, plan.id) for r in units.itertuples()]
    units["new_code"], units["origin"] = assign_plan_codes(session, plan, level, units, current, points)
    full_reason = reason
    if outside:
        full_reason += (f" (adopted with {count_text(len(outside), level)} out of range: "
                        + ", ".join(f"{o['label']} {o['households']}" for o in outside) + ")")

    now = db_now(session, current["valid_from"])
    street_id = write_district_street(session, street, plan, units, now, user_id) if street is not None else None
    written = _write_units(session, plan, level, scope, units, current, now=now, reason=full_reason, user_id=user_id)
    after = _retire_what_follows(session, plan, level, units, current, now)
    four_limits = describe_units(session, level=level, codes=[r.new_code for r, _ in written])
    if level == "community":
        approval_service.record_new_codes(session, plan_id=plan.id, codes={
            r.new_code: r.committee for r in units.itertuples() if r.origin == "new"})
    _mark_adopted(session, plan, status_before, now=now, reason=full_reason, user_id=user_id, adoption={
        "adopted_at": now, "retired_ids": [int(i) for i in current["id"]],
        "written_ids": [int(row.id) for _, row in written], "retired_grid_ids": after.retired_grid_ids,
        "archived_plan_ids": after.archived, "out_of_range": outside, "provisional_street_id": street_id})

    kept = set(units["new_code"])
    from gis.services.staffing import proposal_after_adoption  # issue 18: staff of retired grids follow households

    staffing = proposal_after_adoption(session, plan.id)
    return {
        "plan_id": plan.id, "status": plan.status, "kind": plan.kind, "level": level,
        "scope_code": plan.scope_code, "version": plan.version, "adopted_at": iso(now), "reason": full_reason,
        "units": [{"label": r.label, "code": r.new_code, "origin": r.origin, "version": row.version,
                   "kind": r.kind, "households": int(r.households_now)} for r, row in written],
        "retired": sorted(c for c in current["code"] if c not in kept),
        "four_limits": four_limits, "out_of_range": outside, "archived_plans": after.archived,
        "retired_grids": after.retired_grids, "needs_grid_split": after.needs_split,
        "retired_level_2_grids": after.retired_micro,
        "provisional_street": _new_street_code(street),
        "staffing": staffing,
    }


@dataclass
class _Followers:
    """What adoption retires besides the scope's units: grids and level-2 grids, and the plans replaced."""

    retired_micro: list[str] = field(default_factory=list)
    retired_grid_ids: list[int] = field(default_factory=list)
    retired_grids: list[RetiredGrids] = field(default_factory=list)
    needs_split: list[dict[str, Any]] = field(default_factory=list)
    archived: list[int] = field(default_factory=list)


def _retire_what_follows(session: Session, plan: Plan, level: str, units: gpd.GeoDataFrame,
                         current: gpd.GeoDataFrame, now: dt.datetime) -> _Followers:
    """Retire what hangs on the replaced units and archive the adopted plans this one replaces."""
    after = _Followers()
    changed_old: list[str] = []
    if level == "grid":
        from gis.services.levels import retire_stale_micro_grids  # level-2 grids of a changed parent go with it

        after.retired_micro = retire_stale_micro_grids(session, community_code=plan.scope_code, at=now)
    else:
        # Communities whose area changed lose their grids: they need a new grid split.
        after.retired_grid_ids, after.retired_grids, after.needs_split, changed_old = _retire_grids_of_changed(
            session, units, current, now)
    after.archived = sorted(session.execute(text(
        "UPDATE plan SET status = 'archived', version = version + 1 WHERE status = 'adopted' AND id <> :id "
        "AND (scope_code = :scope OR scope_code = ANY(:changed)) RETURNING id"),
        {"id": plan.id, "scope": plan.scope_code, "changed": changed_old}).scalars())
    return after


def _new_street_code(street: DistrictStreet | None) -> str | None:
    return street["code"] if street is not None and street["new"] else None


def _locked_draft(session: Session, plan_id: int, expected_version: int | None) -> Plan:
    """The plan, locked, if it is a draft (or in the approval chain) at the version the caller saw."""
    plan = lock_plan(session, plan_id)
    if plan.status not in ("draft", *approval_rules.IN_CHAIN):
        raise Conflict(f"plan {plan.id} is {plan.status}, not a draft; only a draft can be adopted",
                       details={"plan_id": plan.id, "status": plan.status})
    if expected_version is not None and plan.version != int(expected_version):
        raise Conflict(f"plan {plan.id} is at version {plan.version}, not {expected_version}: it changed since "
                       f"you read it", details={"plan_id": plan.id, "version": plan.version})
    return plan


def _checked_units(session: Session, settings: Settings, plan: Plan, level: str, scope: Scope,
                   current: gpd.GeoDataFrame, allow_out_of_range: bool
                   ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list[OutOfRange]]:
    """The plan's units checked again (tiling, household bounds), with ``households_now``.

    Also returns the buildings (points on surface) around them and the units out of range (when allowed).
    """
    units = plan_units(session, plan.id)
    if units.empty:
        raise InvalidInput(f"plan {plan.id} has no units", details={"plan_id": plan.id})
    _check_topology(session, settings, plan, level, units, _tiling_parents(session, plan, scope, units, current))
    points = building_points(session, total_bounds(units, current))
    per_unit = households_per_unit(points, units, "label")
    units["households_now"] = [int(per_unit.get(lab, 0)) for lab in units["label"]]
    return units, points, _checked_bounds(plan, level, units, settings, allow_out_of_range)


def _checked_bounds(plan: Plan, level: str, units: gpd.GeoDataFrame, settings: Settings,
                    allow_out_of_range: bool) -> list[OutOfRange]:
    """The units outside the household bounds; ``InvalidInput`` when there are any and they are not allowed."""
    outside = out_of_range(units, level, settings)
    if outside and not allow_out_of_range:
        lo, hi = household_bounds(settings, level)
        raise InvalidInput(
            f"plan {plan.id} cannot be adopted: {count_text(len(outside), level)} outside the household bounds "
            f"[{lo}, {hi}]: " + "; ".join(o["text"] for o in outside)
            + "; allow out-of-range units explicitly (allow_out_of_range) to adopt it anyway",
            details={"plan_id": plan.id, "out_of_range": outside, "field": "allow_out_of_range"})
    return outside


def _check_base(plan: Plan, level: str, scope: Scope, current: gpd.GeoDataFrame) -> None:
    """``Conflict`` when the scope or its units are not at the versions the plan was computed against."""
    base = {str(k): int(v) for k, v in (plan.parameters or {}).get("base_versions", {}).items()}
    now = {str(c): int(v) for c, v in zip(current["code"], current["version"], strict=True)}
    changes = []
    scope_version = (plan.parameters or {}).get("scope_version")
    if scope_version is not None and scope["version"] is not None and int(scope_version) != scope["version"]:
        changes.append(f"{scope['level']} {scope['code']} is at version {scope['version']}, "
                       f"the plan was computed against version {scope_version}")
    for code in sorted(set(base) | set(now)):
        if code not in now:
            changes.append(f"{level} {code} has been retired")
        elif code not in base:
            changes.append(f"{level} {code} is new (version {now[code]})")
        elif base[code] != now[code]:
            changes.append(f"{level} {code} is at version {now[code]}, the plan was computed against "
                           f"version {base[code]}")
    if changes:
        raise Conflict(f"plan {plan.id} is stale: the {PLURAL[level]} of {scope['level']} {scope['code']} changed "
                       f"since it was computed ({shown(changes)}); compute a new suggestion",
                       details={"plan_id": plan.id, "changes": changes})


def _tiling_parents(session: Session, plan: Plan, scope: Scope, units: gpd.GeoDataFrame,
                    current: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The parent polygons the plan's units must tile."""
    parents = sorted(set(units["parent_code"]))
    if scope["level"] != "district" or parents == [scope["code"]]:
        geom = scope["geom"]
        if geom is None:
            # A district without a stored polygon: its current communities, else the plan's own outline.
            geom = shapely.union_all((current if not current.empty else units).geometry.to_numpy())
        return gpd.GeoDataFrame({"code": [scope["code"]]}, geometry=[geom], crs=STORAGE_CRS)
    streets = read_frame(session, "SELECT code, ST_AsBinary(geom) AS geom FROM street "
                                  "WHERE valid_to IS NULL AND code = ANY(:codes)", {"codes": parents})
    missing = sorted(set(parents) - set(streets["code"]))
    if missing:
        raise NotFound(f"plan {plan.id}: street(s) {', '.join(missing)} named as parents have no current boundary",
                       details={"plan_id": plan.id})
    return streets


def _check_topology(session: Session, settings: Settings, plan: Plan, level: str, units: gpd.GeoDataFrame,
                    parents: gpd.GeoDataFrame) -> None:
    """Refuse a plan the checker faults on its stored geometry (household bounds are judged apart)."""
    children = gpd.GeoDataFrame({"code": units["label"], "parent_code": units["parent_code"]},
                                geometry=units.geometry.to_numpy(), crs=STORAGE_CRS)
    parent_level = scope_level(parents["code"].iloc[0])
    allowed = tuple((plan.parameters or {}).get("allow_crossing") or ())
    findings = blocking(check_stored(session, settings, children, parents, child_level=level,
                                     allow_crossing=allowed, parent_level=parent_level), allow_out_of_range=True,
                        level=level)
    if findings:
        messages = [f.message for f in findings]
        where = ", ".join(parents["code"])
        raise InvalidGeometry(f"plan {plan.id} cannot be adopted: its {PLURAL[level]} fail the boundary check "
                              f"against {parent_level} {where}: {shown(messages)}",
                              details={"plan_id": plan.id, "findings": messages,
                                       "kinds": sorted({f.kind for f in findings})})


def _write_units(session: Session, plan: Plan, level: str, scope: Scope, units: gpd.GeoDataFrame,
                 current: gpd.GeoDataFrame, *, now: dt.datetime, reason: str,
                 user_id: int | None) -> list[tuple[Any, Grid | Community]]:
    """Retire the scope's current units and write the plan's units as new versions under their new codes."""
    if not current.empty:
        t = level_table(level)
        session.execute(update(t).where(t.c.id.in_([int(i) for i in current["id"]])).values(valid_to=now))
    model: type[Grid] | type[Community] = Grid if level == "grid" else Community
    previous = {r.code: r for r in current.itertuples()}
    names = parent_names(session, level, scope, units)
    written: list[tuple[Any, Grid | Community]] = []
    for r in units.itertuples():
        prev = previous.get(r.new_code)
        values: dict[str, Any] = {
            "code": r.new_code, "district_code": r.new_code[:6],
            "name": prev.name if prev is not None else new_name(level, r.new_code, names.get(r.parent)),
            "geom": f"SRID=4490;{r.geometry.wkt}", "valid_from": now, "version": prev.version + 1 if prev else 1,
            "reason": reason, "plan_id": plan.id, "approved_by": user_id,
        }
        if level == "grid":
            values.update(community_code=plan.scope_code, kind=r.kind, level=1)
        else:
            values["street_code"] = r.parent
        row = model(**values)
        session.add(row)
        written.append((r, row))
    session.flush()
    for r, _row in written:
        session.execute(text("UPDATE plan_unit SET code = :c WHERE id = :id"), {"c": r.new_code, "id": int(r.id)})
    return written


def _mark_adopted(session: Session, plan: Plan, status_before: str, *, now: dt.datetime, reason: str,
                  user_id: int | None, adoption: dict[str, Any]) -> None:
    """The plan adopted, with its approval step and an adoption record a revert reads."""
    plan.status = "adopted"
    plan.adopted_at = now
    plan.adopted_by = user_id
    plan.reason = reason
    approval_service.record_adoption(session, plan, from_status=status_before, user_id=user_id, reason=reason)
    plan.version = plan.version + 1
    plan.metrics = {**(plan.metrics or {}), "adoption": jsonable(adoption)}
    session.flush()


def _retire_grids_of_changed(session: Session, units: gpd.GeoDataFrame, current: gpd.GeoDataFrame,
                             now: dt.datetime) -> tuple[list[int], list[RetiredGrids], list[dict[str, Any]], list[str]]:
    """Retire the grids of communities that were retired or whose boundary moved; say which need a grid split."""
    new_geom = dict(zip(units["new_code"], units.geometry, strict=True))
    metric = metric_crs_for_frame(units)
    changed: list[str] = []
    for r in current.itertuples():
        g = new_geom.get(r.code)
        if g is None:
            changed.append(r.code)
            continue
        diff = gpd.GeoSeries([shapely.symmetric_difference(g, r.geometry)], crs=STORAGE_CRS).to_crs(metric).area
        if float(diff.iloc[0]) >= _UNCHANGED_M2:
            changed.append(r.code)
    retired = session.execute(text(
        "UPDATE grid SET valid_to = :now WHERE valid_to IS NULL AND community_code = ANY(:c) "
        "RETURNING id, code, community_code"), {"now": now, "c": changed}).all() if changed else []
    by_community: dict[str, list[str]] = {}
    for _, code, community in retired:
        by_community.setdefault(community, []).append(code)
    retired_grids: list[RetiredGrids] = [{"community_code": c, "grids": sorted(g)}
                                         for c, g in sorted(by_community.items())]
    unchanged = set(current["code"]) - set(changed)
    needs = [{"code": r.new_code, "label": r.label, "households": int(r.households_now),
              "retired_grids": sorted(by_community.get(r.new_code, []))}
             for r in units.itertuples() if r.new_code not in unchanged]
    return sorted(int(i) for i, _, _ in retired), retired_grids, needs, changed
