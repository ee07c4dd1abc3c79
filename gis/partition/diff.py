"""Comparing two partitions of the same buildings: which units are the same, and which buildings move.

Pure: frames in, frames and plain results out (no database). ``gis.services.plans`` reads the sides from
the database (a stored plan, or the current boundaries) and calls these to diff plans, to count what a
suggestion moves and to decide which plan unit keeps which current code at adoption.

Why a hand-written matching: "the same unit under a new boundary" is a maximum-weight bipartite matching
of old and new units on shared households, which ``scipy.optimize.linear_sum_assignment`` solves; what is
ours is only the weights (households first, then buildings or area to break ties) and the rule that a pair
must share something, or at least half of both, to count.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

from gis.crs import metric_crs_for_frame
from gis.errors import InvalidInput

MATCH_SHARE = 0.5
"""A plan unit keeps a current unit's code when they share at least this share of the households of both."""


class MoveCount(TypedDict):
    """What ``count_moves`` finds: the totals, the buildings that move and the unit pairs."""

    buildings_moved: int
    households_moved: int
    buildings_compared: int
    moved: list[int]
    matches: list[list[Any]]


class UnitRef(TypedDict):
    """A unit as a diff names it: its label (or name) and code (None for a plan unit without one)."""

    label: Any
    code: Any


Move = TypedDict("Move", {"building_id": int, "name": "str | None", "address": "str | None", "households": int,
                          "from": "UnitRef | None", "to": "UnitRef | None"})
"""A building that changes unit, with its households and its from and to unit."""


class OnlyOnOneSide(TypedDict):
    """A building that one side places in a unit and the other does not."""

    building_id: int
    households: int
    unit: UnitRef | None


class SideSummary(TypedDict):
    """One side of a diff in totals."""

    name: str
    plan_id: int | None
    units: int
    households: int
    buildings: int


class UnitMatch(TypedDict):
    """Two units found to be the same, with the households they share."""

    a: UnitRef | None
    b: UnitRef | None
    shared_households: int


class PartitionDiff(TypedDict):
    """``diff_sides``: the pairs of units, the unpaired units and every building that moves."""

    scope_code: str
    level: str
    a: SideSummary
    b: SideSummary
    matches: list[UnitMatch]
    unmatched_a: list[UnitRef | None]
    unmatched_b: list[UnitRef | None]
    buildings_compared: int
    buildings_moved: int
    households_moved: int
    moves: list[Move]
    only_in_a: list[OnlyOnOneSide]
    only_in_b: list[OnlyOnOneSide]


class BuildingInfo(TypedDict):
    """What a diff says about a building, by building id."""

    name: dict[int, Any]
    address: dict[int, Any]
    households: dict[int, int]


@dataclass
class DiffSide:
    """One side of a diff: its units and the unit each building is in."""

    name: str
    plan_id: int | None
    scope_code: str
    level: str
    units: pd.DataFrame
    """Columns ``key`` (what ``buildings.unit`` names), ``label``, ``code``, ``households``."""
    buildings: pd.DataFrame
    """Columns ``building_id`` and ``unit`` (a ``key`` of ``units``)."""


# --- buildings in units ---------------------------------------------------------------------


def locate(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, key: str) -> pd.Series:
    """The ``key`` of the unit each point (``building_id``) falls in; points outside every unit are left out."""
    if points.empty or units.empty:
        return pd.Series([], dtype=object, name=key)
    joined = gpd.sjoin(points[["building_id", "geometry"]], units[[key, "geometry"]].rename(columns={key: "_key"}),
                       predicate="intersects", how="inner")
    joined = joined.drop_duplicates("building_id")
    return pd.Series(joined["_key"].to_numpy(), index=joined["building_id"].to_numpy(), name=key)


def households_per_unit(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, key: str) -> pd.Series:
    """Households of the points (``building_id``, ``households``) in each unit, by the unit's ``key``."""
    located = locate(points, units, key)
    hh = points.set_index("building_id")["households"]
    return pd.Series(located.index.map(hh).to_numpy(), index=located.to_numpy()).groupby(level=0).sum()


# --- matching units and counting moves ------------------------------------------------------


def match_units(before: pd.DataFrame, after: pd.DataFrame) -> list[tuple[Any, Any, int]]:
    """Pairs (before unit, after unit, shared households) that are the same unit, maximising shared households.

    ``before`` and ``after`` have columns ``building_id``, ``unit`` and ``households``
    (households are taken from ``before``). The pairing is a Hungarian assignment
    (``scipy.optimize.linear_sum_assignment``) on shared households, ties broken by shared
    buildings; units that share nothing are not paired.
    """
    both = _joined(before, after)
    if both.empty:
        return []
    weights = both.groupby(["unit_a", "unit_b"], sort=True).agg(hh=("households", "sum"), n=("building_id", "size"))
    a_units = sorted(set(both["unit_a"]), key=str)
    b_units = sorted(set(both["unit_b"]), key=str)
    ai = {u: i for i, u in enumerate(a_units)}
    bi = {u: i for i, u in enumerate(b_units)}
    matrix = np.zeros((len(a_units), len(b_units)))
    shared = np.zeros_like(matrix)
    for (ua, ub), row in weights.iterrows():
        matrix[ai[ua], bi[ub]] = float(row["hh"]) + 1e-3 * float(row["n"])
        shared[ai[ua], bi[ub]] = float(row["hh"])
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    return [(a_units[r], b_units[c], int(shared[r, c])) for r, c in zip(rows, cols, strict=True) if matrix[r, c] > 0]


def _joined(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Buildings present on both sides: ``building_id``, ``unit_a``, ``unit_b``, ``households``."""
    for name, frame in (("before", before), ("after", after)):
        missing = [c for c in ("building_id", "unit") if c not in frame.columns]
        if missing:
            raise InvalidInput(f"{name} lacks column(s) {', '.join(missing)}; expected building_id, unit, households",
                               details={"field": name})
    hh = before if "households" in before.columns else after
    if "households" not in hh.columns:
        raise InvalidInput("before or after needs a households column", details={"field": "households"})
    a = before[["building_id", "unit"]].rename(columns={"unit": "unit_a"})
    b = after[["building_id", "unit"]].rename(columns={"unit": "unit_b"})
    both = a.merge(b, on="building_id", how="inner")
    households = hh.drop_duplicates("building_id").set_index("building_id")["households"]
    both["households"] = both["building_id"].map(households).fillna(0).astype("int64")
    return both


def count_moves(before: pd.DataFrame, after: pd.DataFrame) -> MoveCount:
    """Buildings and households that change unit between two assignments, once units are matched.

    Parameters
    ----------
    before, after
        Columns ``building_id``, ``unit`` (any hashable label or code) and, in at least one,
        ``households``. Only buildings present in both are compared; a unit relabelled but
        otherwise identical moves nothing (see ``match_units``).

    Returns
    -------
    MoveCount
        ``buildings_moved``, ``households_moved``, ``buildings_compared``, ``moved`` (the
        building ids that change unit) and ``matches`` ([before unit, after unit, shared households]).
    """
    both = _joined(before, after)
    matches = match_units(before, after)
    paired = {(a, b) for a, b, _ in matches}
    moved_mask = np.array([(a, b) not in paired for a, b in zip(both["unit_a"], both["unit_b"], strict=True)],
                          dtype=bool)
    moved = both[moved_mask]
    return {"buildings_moved": int(len(moved)), "households_moved": int(moved["households"].sum()),
            "buildings_compared": int(len(both)), "moved": sorted(int(b) for b in moved["building_id"]),
            "matches": [[a, b, s] for a, b, s in matches]}


def match_by_share(units: gpd.GeoDataFrame, current: gpd.GeoDataFrame, points: gpd.GeoDataFrame,
                   *, share: float = MATCH_SHARE) -> dict[str, str]:
    """Label → current code for new units (``label``) that are a current unit (``code``) under a new boundary.

    Hungarian assignment on shared households of the points (``building_id``, ``households``);
    a pair counts only when it shares at least ``share`` of the households of both (by area for a
    pair where either has no households).
    """
    if units.empty or current.empty:
        return {}
    in_plan = locate(points, units, "label")
    in_current = locate(points, current, "code")
    hh = points.set_index("building_id")["households"]
    both = pd.DataFrame({"label": in_plan}).join(pd.DataFrame({"code": in_current}), how="inner")
    both["households"] = hh.reindex(both.index).fillna(0).to_numpy()
    shared_hh = both.groupby(["label", "code"])["households"].sum()
    plan_hh = pd.Series(in_plan.index.map(hh).fillna(0).to_numpy(), index=in_plan.to_numpy()).groupby(level=0).sum()
    cur_hh = pd.Series(in_current.index.map(hh).fillna(0).to_numpy(),
                       index=in_current.to_numpy()).groupby(level=0).sum()

    metric = metric_crs_for_frame(units)
    # Projection can leave a hair-thin spike of a valid unit crossing itself: repair before overlaying.
    ug = shapely.make_valid(units.to_crs(metric).geometry.to_numpy())
    cg = shapely.make_valid(current.to_crs(metric).geometry.to_numpy())
    u_area, c_area = shapely.area(ug), shapely.area(cg)
    labels, codes = list(units["label"]), list(current["code"])
    weight = np.zeros((len(labels), len(codes)))
    for i, lab in enumerate(labels):
        for j, code in enumerate(codes):
            overlap = float(shapely.area(shapely.intersection(ug[i], cg[j])))
            if overlap <= 0:
                continue
            s = float(shared_hh.get((lab, code), 0))
            ph, ch = float(plan_hh.get(lab, 0)), float(cur_hh.get(code, 0))
            if ph > 0 and ch > 0:
                eligible = s > 0 and s >= share * ph and s >= share * ch
            else:
                eligible = overlap >= share * u_area[i] and overlap >= share * c_area[j]
            if eligible:
                # Households first; area (in km², always < 1e3 here) breaks ties between empty units.
                weight[i, j] = s + 1e-3 * overlap / 1e6 + 1e-9
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return {labels[r]: codes[c] for r, c in zip(rows, cols, strict=True) if weight[r, c] > 0}


# --- the from→to tables of a diff -----------------------------------------------------------


def _unit_ref(side: DiffSide, key: Hashable | None) -> UnitRef | None:
    """The label and code of unit ``key`` of a side (the key itself as label when the side lacks it)."""
    if key is None or (not isinstance(key, str) and pd.isna(key)):
        return None
    row = side.units.loc[side.units["key"] == key]
    if row.empty:
        return {"label": str(key), "code": None}
    return {"label": row["label"].iloc[0], "code": row["code"].iloc[0]}


def _summary(side: DiffSide) -> SideSummary:
    return {"name": side.name, "plan_id": side.plan_id, "units": int(len(side.units)),
            "households": int(side.units["households"].sum()) if len(side.units) else 0,
            "buildings": int(len(side.buildings))}


def diff_sides(side_a: DiffSide, side_b: DiffSide, info: BuildingInfo) -> PartitionDiff:
    """Pair the units of two sides of one scope and name every building that changes unit (``info`` describes them).

    The caller makes sure both sides cover one scope at one level. Households come from ``info``; a
    relabelled but identical unit moves nothing (``count_moves``).
    """
    before = side_a.buildings.assign(households=side_a.buildings["building_id"].map(info["households"]).fillna(0))
    result = count_moves(before, side_b.buildings)

    unit_a = dict(zip(side_a.buildings["building_id"], side_a.buildings["unit"], strict=True))
    unit_b = dict(zip(side_b.buildings["building_id"], side_b.buildings["unit"], strict=True))
    moves: list[Move] = [
        {"building_id": bid, "name": info["name"].get(bid), "address": info["address"].get(bid),
         "households": int(info["households"].get(bid, 0)),
         "from": _unit_ref(side_a, unit_a[bid]), "to": _unit_ref(side_b, unit_b[bid])}
        for bid in sorted(set(result["moved"]))]

    def only(side_units: dict[int, Any], other: dict[int, Any], side: DiffSide) -> list[OnlyOnOneSide]:
        return [{"building_id": bid, "households": int(info["households"].get(bid, 0)),
                 "unit": _unit_ref(side, unit)} for bid, unit in sorted(side_units.items()) if bid not in other]

    matched_a = {m[0] for m in result["matches"]}
    matched_b = {m[1] for m in result["matches"]}
    return {
        "scope_code": side_a.scope_code, "level": side_a.level, "a": _summary(side_a), "b": _summary(side_b),
        "matches": [{"a": _unit_ref(side_a, ka), "b": _unit_ref(side_b, kb), "shared_households": s}
                    for ka, kb, s in result["matches"]],
        "unmatched_a": [_unit_ref(side_a, k) for k in side_a.units["key"] if k not in matched_a],
        "unmatched_b": [_unit_ref(side_b, k) for k in side_b.units["key"] if k not in matched_b],
        "buildings_compared": result["buildings_compared"],
        "buildings_moved": result["buildings_moved"], "households_moved": result["households_moved"],
        "moves": moves,
        "only_in_a": only(unit_a, unit_b, side_a), "only_in_b": only(unit_b, unit_a, side_b),
    }
