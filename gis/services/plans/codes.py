"""Codes at adoption: which plan unit keeps which current code, and fresh codes that were never used.

A unit carrying ``code`` keeps it; a unit that is a current unit under a new boundary (shared
households, ``gis.partition.diff.match_by_share``) keeps that unit's code; every other unit gets a
fresh code after every code ever used under its parent, so a retired code is never given out again.
New community codes stay in their committee kind's range (居委会 001–199, 村委会 200–399).

A district imported from OSM has no streets; its communities then hang under one provisional street
(``district_street``) until street boundaries are imported.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import approvals as approval_rules
from gis.codes import assign_codes
from gis.db.levels import CODE_LENGTH
from gis.db.models import Plan, Street
from gis.errors import Infeasible, InvalidInput
from gis.layers import STORAGE_CRS
from gis.partition.diff import match_by_share
from gis.services.boundaries import codes_ever_used
from gis.services.plans.scope import Scope


class DistrictStreet(TypedDict):
    """The street a district-wide community plan's communities go under (``new``: it is to be written)."""

    code: str
    id: int | None
    new: bool


def parent_street(level: str, unit: Any, scope_code: str, plan_id: int) -> str:
    """The parent code of a plan unit: the plan's community (grids), else the unit's street."""
    if level == "grid":
        return scope_code
    if unit.code:
        return str(unit.code[:9])
    if len(unit.parent_code) == 9:
        return str(unit.parent_code)
    raise InvalidInput(f"plan {plan_id}: community {unit.label} lies in district {unit.parent_code} but not in a "
                       f"street; a community code needs its street (import street boundaries and re-suggest)",
                       details={"plan_id": plan_id})


def _committees(group: gpd.GeoDataFrame, keep: list[str | None], current: gpd.GeoDataFrame) -> list[str | None]:
    """The committee kind of each community: that of its kept code, else of the current community it overlaps most.

    A unit overlapping nothing current (or only codes outside both ranges) is a neighbourhood
    committee (居委会), the common case in a city; a kept code outside both ranges has None.
    """
    kinds: list[str | None] = []
    cur_geoms = current.geometry.to_numpy() if not current.empty else np.array([])
    for code, geom in zip(keep, group.geometry, strict=True):
        if code:
            kinds.append(approval_rules.committee_of(code))
            continue
        kind = None
        if len(cur_geoms):
            overlap = shapely.area(shapely.intersection(shapely.make_valid(cur_geoms), shapely.make_valid(geom)))
            if float(overlap.max()) > 0:
                kind = approval_rules.committee_of(str(current["code"].iloc[int(overlap.argmax())]))
        kinds.append(kind or "neighbourhood")
    return kinds


def _range_codes(plan: Plan, parent: str, frame: gpd.GeoDataFrame, keep: list[str | None],
                 kind: str | None, used: list[str]) -> pd.Series:
    """Codes for one committee kind's communities of a street, new ones numbered inside that kind's range."""
    if kind is None:
        return assign_codes(frame, parent_code=parent, existing_codes=used)
    lo, hi = approval_rules.COMMITTEE_RANGES[kind]
    existing = [c for c in used if approval_rules.in_range(c, kind)]
    if lo > 1:
        # Numbering starts after the largest code used, so the range's floor stands in as one.
        existing.append(f"{parent}{lo - 1:03d}")
    codes = assign_codes(frame, parent_code=parent, existing_codes=existing)
    over = [c for c, k in zip(codes, keep, strict=True) if not k and not approval_rules.in_range(c, kind)]
    if over:
        zh, en = approval_rules.COMMITTEE_NAMES[kind]
        raise Infeasible(f"方案 {plan.id}：街道 {parent} 的{zh}代码（{lo:03d}–{hi:03d}）已用尽，"
                         f"还需 {len(over)} 个 · plan {plan.id}: street {parent} has no {en} codes left in "
                         f"{lo:03d}-{hi:03d} for "
                         f"{len(over)} new {'community' if len(over) == 1 else 'communities'} (retired codes are "
                         f"never given out again)",
                         details={"plan_id": plan.id, "street_code": parent, "committee": kind})
    return codes


def _check_carried(session: Session, plan: Plan, level: str, carried: dict[str, str], current_codes: set[str]) -> None:
    """A code a unit carries must be a current unit of the scope (a retired one is never given out again)."""
    for label, code in carried.items():
        if code not in current_codes:
            parent = code[: CODE_LENGTH[level] - 3]
            if code in set(codes_ever_used(session, level, parent)):
                raise InvalidInput(f"plan {plan.id}: {level} {label} carries code {code}, which is retired; "
                                   f"a retired code is never given out again", details={"plan_id": plan.id})
            raise InvalidInput(f"plan {plan.id}: {level} {label} carries code {code}, which is not a current "
                               f"{level} of {plan.scope_code}", details={"plan_id": plan.id})


def assign_plan_codes(session: Session, plan: Plan, level: str, units: gpd.GeoDataFrame,
                      current: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> tuple[pd.Series, pd.Series]:
    """The code of every plan unit (with its ``parent`` street or community) and where it came from.

    Origins are ``carried``, ``matched`` or ``new``. New community codes stay in their committee
    kind's range (居委会 001–199, 村委会 200–399); the kind of each community is left in
    ``units["committee"]``.
    """
    carried = {r.label: r.code for r in units.itertuples() if r.code}
    _check_carried(session, plan, level, carried, set(current["code"]))
    matched: dict[str, str] = {}
    free_current = current[~current["code"].isin(set(carried.values()))]
    for parent, group in units[units["code"].isna()].groupby("parent"):
        cands = free_current[free_current["parent_code"] == parent]
        matched.update(match_by_share(group, cands, points))
    codes = pd.Series(index=units.index, dtype=object)
    origin = pd.Series(index=units.index, dtype=object)
    units["committee"] = None
    for parent, group in units.groupby("parent"):
        keep = [carried.get(lab) or matched.get(lab) for lab in group["label"]]
        frame = gpd.GeoDataFrame({"keep_code": keep}, geometry=group.geometry.to_numpy(), index=group.index,
                                 crs=STORAGE_CRS)
        used = list(codes_ever_used(session, level, str(parent)))
        if level != "community":
            codes.loc[group.index] = assign_codes(frame, parent_code=str(parent), existing_codes=used)
            continue
        kinds = _committees(group, keep, current)
        units.loc[group.index, "committee"] = pd.Series(kinds, index=group.index, dtype=object)
        for kind in set(kinds):
            mask = np.array([k == kind for k in kinds])
            codes.loc[group.index[mask]] = _range_codes(plan, str(parent), frame[mask],
                                                        [k for k, m in zip(keep, mask, strict=True) if m], kind, used)
    for i, lab in units["label"].items():
        origin[i] = "carried" if lab in carried else "matched" if lab in matched else "new"
    return codes, origin


def new_name(level: str, code: str, parent_name: str | None) -> str:
    """A placeholder name for a unit with a fresh code, e.g. 汉中社区第4网格 (a planner renames it)."""
    n = int(code[-3:])
    if level == "grid":
        return f"{parent_name or code[:12]}第{n}网格"[:100]
    return f"{parent_name or code[:9]}第{n}社区"[:100]


def parent_names(session: Session, level: str, scope: Scope, units: pd.DataFrame) -> dict[str, str]:
    """The names of the parents of a plan's units, by code."""
    if level == "grid":
        return {scope["code"]: scope["name"]}
    rows = session.execute(text("SELECT code, name FROM street WHERE valid_to IS NULL AND code = ANY(:c)"),
                           {"c": sorted(set(units["parent"]))}).all()
    return {c: n for c, n in rows}


def district_street(session: Session, plan: Plan, scope: Scope) -> DistrictStreet:
    """The street a district-wide community plan's communities belong to: the district's provisional street.

    A district imported from an OSM extract has no streets (街道), and a community code needs one.
    Until street boundaries are imported, the whole district stands as one provisional street
    (the first free code, ``provisional`` set), so that the new-district flow never stops here.
    A district with real streets is split per street instead.
    """
    rows = session.execute(text(
        "SELECT id, code, provisional FROM street WHERE district_code = :d AND valid_to IS NULL ORDER BY code"),
        {"d": scope["code"]}).all()
    real = [r.code for r in rows if not r.provisional]
    if real:
        raise InvalidInput(
            f"plan {plan.id}: district {scope['code']} has streets ({', '.join(real[:5])}), so its "
            f"communities are suggested per street: suggest them for a street code",
            details={"plan_id": plan.id, "streets": real})
    if rows:
        return {"code": rows[0].code, "id": int(rows[0].id), "new": False}
    used = set(codes_ever_used(session, "street", scope["code"]))
    code = next(f"{scope['code']}{n:03d}" for n in range(1, 1000) if f"{scope['code']}{n:03d}" not in used)
    return {"code": code, "id": None, "new": True}


def write_district_street(session: Session, street: DistrictStreet, plan: Plan, units: gpd.GeoDataFrame,
                          now: dt.datetime, user_id: int | None) -> int | None:
    """Write (or redraw) the provisional street as the union of the plan's communities; its id when new."""
    outline = shapely.union_all(units.geometry.to_numpy())
    geom = f"SRID=4490;{shapely.MultiPolygon(list(shapely.get_parts(outline))).wkt}"
    if not street["new"]:
        session.execute(text("UPDATE street SET geom = ST_GeomFromEWKT(:g) WHERE id = :id"),
                        {"g": geom, "id": street["id"]})
        return None
    district = street["code"][:6]
    name = session.execute(text("SELECT name FROM district WHERE code = :d"), {"d": district}).scalar()
    row = Street(code=street["code"], district_code=district, name=f"{name or district}（暂定街道）",
                 geom=geom, valid_from=now, version=1, provisional=True, plan_id=plan.id, approved_by=user_id,
                 reason=f"provisional street: the whole district until street boundaries are imported "
                        f"(plan {plan.id})")
    session.add(row)
    session.flush()
    return int(row.id)
