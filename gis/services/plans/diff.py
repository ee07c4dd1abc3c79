"""Plan diffs: two plans of one scope, or a plan and the current boundaries, read as sides and compared.

The comparison itself (matching units, the from→to tables) is pure and lives in ``gis.partition.diff``;
this module reads the sides from the database: a stored plan's units and assignment, or the current
units with the buildings whose point on surface falls in each.
"""

from __future__ import annotations

from typing import TypedDict

import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.models import Plan
from gis.errors import InvalidInput
from gis.partition.diff import BuildingInfo, DiffSide, PartitionDiff, count_moves, diff_sides, locate
from gis.services.plans.scope import (
    CURRENT,
    building_points,
    current_units,
    get_plan,
    plan_level,
    total_bounds,
)

PlanDiff = PartitionDiff
"""``diff_plans``: the pairs of units, the unpaired units and every building that moves."""


class MovesAgainstCurrent(TypedDict):
    """What an engine's assignment moves against the current boundaries."""

    buildings_moved: int
    households_moved: int
    buildings_compared: int
    current_units: int


def moves_against_current(session: Session, *, scope_code: str, assignment: pd.DataFrame) -> MovesAgainstCurrent:
    """Households and buildings an assignment (``building_id``, ``label``) moves against the current boundaries.

    The current units are the current grids of a 12-digit community scope, or the current
    communities of a street or district scope; a building belongs to the unit its point on
    surface falls in, households come from the building table.
    """
    scope_code = str(scope_code).strip()
    if not scope_code.isdigit() or len(scope_code) not in (6, 9, 12):
        raise InvalidInput(f"scope_code must be a 12-digit community or 9/6-digit street/district code; "
                           f"received {scope_code!r}", details={"field": "scope_code"})
    level = "grid" if len(scope_code) == 12 else "community"
    if not {"building_id", "label"} <= set(assignment.columns):
        raise InvalidInput("assignment needs columns building_id and label", details={"field": "assignment"})
    current = current_units(session, level, scope_code)
    if current.empty:
        return {"buildings_moved": 0, "households_moved": 0, "buildings_compared": 0, "current_units": 0}
    points = building_points(session, current.total_bounds)
    located = locate(points, current, "code")
    before = pd.DataFrame({"building_id": located.index.astype("int64"), "unit": located.to_numpy()})
    before["households"] = before["building_id"].map(points.set_index("building_id")["households"]).fillna(0)
    after = pd.DataFrame({"building_id": assignment["building_id"].astype("int64").to_numpy(),
                          "unit": assignment["label"].astype(str).to_numpy()})
    after = after.merge(points[["building_id", "households"]], on="building_id", how="left").fillna({"households": 0})
    result = count_moves(before, after)
    return {"buildings_moved": result["buildings_moved"], "households_moved": result["households_moved"],
            "buildings_compared": result["buildings_compared"], "current_units": int(len(current))}


def _plan_side(session: Session, plan: Plan) -> DiffSide:
    """A stored plan as a side: its units (keyed ``u<id>``) and its building assignment."""
    level = plan_level(plan.kind, plan.scope_code)
    units = session.execute(text("SELECT id, label, code, households FROM plan_unit WHERE plan_id = :p ORDER BY label"),
                            {"p": plan.id}).all()
    frame = pd.DataFrame([{"key": f"u{r.id}", "label": r.label, "code": r.code, "households": int(r.households)}
                          for r in units], columns=["key", "label", "code", "households"])
    rows = session.execute(text("SELECT building_id, plan_unit_id FROM plan_assignment WHERE plan_id = :p"),
                           {"p": plan.id}).all()
    buildings = pd.DataFrame([{"building_id": int(b), "unit": f"u{u}"} for b, u in rows],
                             columns=["building_id", "unit"])
    return DiffSide(f"plan {plan.id}", plan.id, plan.scope_code, level, frame, buildings)


def _current_side(session: Session, level: str, scope_code: str) -> DiffSide:
    """The current units of a scope as a side (keyed by code), buildings placed by their point on surface."""
    current = current_units(session, level, scope_code)
    points = building_points(session, total_bounds(current))
    located = locate(points, current, "code")
    buildings = pd.DataFrame({"building_id": located.index.astype("int64"), "unit": located.to_numpy()})
    hh = buildings.merge(points[["building_id", "households"]], on="building_id").groupby("unit")["households"].sum()
    units = pd.DataFrame({"key": current["code"], "label": current["name"], "code": current["code"],
                          "households": [int(hh.get(c, 0)) for c in current["code"]]})
    return DiffSide(CURRENT, None, scope_code, level, units, buildings)


def _parse_side(value: int | str) -> int | str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v == CURRENT:
            return CURRENT
        if v.isdigit():
            return int(v)
        raise InvalidInput(f"other_id: a diff side is a plan id or 'current'; received {value!r}",
                           details={"field": "other_id"})
    return int(value)


def diff_plans(session: Session, a: int | str, b: int | str) -> PlanDiff:
    """Compare two plans of one scope, or a plan with the current boundaries (``"current"``).

    Units are paired by a Hungarian assignment on shared households, so a relabelled but
    identical unit moves nothing; every building that changes unit is named with its
    households and its from and to unit, with the totals of buildings and households moved.
    """
    sa, sb = _parse_side(a), _parse_side(b)
    if sa == CURRENT and sb == CURRENT:
        raise InvalidInput("other_id: diff needs at least one plan: both sides are 'current'",
                           details={"field": "other_id"})
    plans = {s: get_plan(session, s) for s in (sa, sb) if isinstance(s, int)}
    sides = {key: _plan_side(session, plans[s]) for key, s in (("a", sa), ("b", sb)) if isinstance(s, int)}
    ref = sides.get("a") or sides["b"]
    for key, s in (("a", sa), ("b", sb)):
        if s == CURRENT:
            sides[key] = _current_side(session, ref.level, ref.scope_code)
    side_a, side_b = sides["a"], sides["b"]
    if (side_a.scope_code, side_a.level) != (side_b.scope_code, side_b.level):
        raise InvalidInput(f"{side_a.name} ({side_a.level}s of {side_a.scope_code}) and {side_b.name} "
                           f"({side_b.level}s of {side_b.scope_code}) cover different scopes; diff plans of one scope",
                           details={"field": "other_id"})
    ids = sorted(set(side_a.buildings["building_id"]) | set(side_b.buildings["building_id"]))
    return diff_sides(side_a, side_b, _building_info(session, ids))


def _building_info(session: Session, ids: list[int]) -> BuildingInfo:
    rows = session.execute(text("SELECT id, name, address, households FROM building WHERE id = ANY(:ids)"),
                           {"ids": ids}).all() if ids else []
    return {"name": {r.id: r.name for r in rows}, "address": {r.id: r.address for r in rows},
            "households": {r.id: int(r.households) for r in rows}}
