"""Level-2 grids (二级网格, 微网格): suggested inside one level-1 grid, adopted as plans, with their heads.

A level-2 grid is a building or a few (tens to about a hundred households, configurable); it
tiles its parent grid and is checked against that parent only, never against the community
(``level_frames`` splits the current grids for ``check_boundaries``). Suggestions reuse the
partition engine with the parent grid as the region and ``1..max`` households, so whole
buildings are grouped and a building over the maximum becomes a micro grid of its own,
flagged. They are stored as ``micro_split`` plans (scope: the parent's 15-digit code) and
adopted through ``gis.services.plans.adopt_plan``, which hands them to :func:`adopt_micro_plan`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

import geopandas as gpd
import pandas as pd
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.checker import blocking, summarise
from gis.codes import assign_codes
from gis.db.frames import read_frame
from gis.db.models import Grid, GridContact, Plan
from gis.errors import Conflict, Infeasible, InvalidGeometry, InvalidInput, NotFound, PermissionDenied
from gis.jsonable import plain
from gis.services.boundaries import codes_ever_used
from gis.services.checks import check_stored
from gis.services.privacy import mask_phone, record_change, record_read
from gis.services.users import Principal, require_district
from gis.settings import Settings

MICRO_KIND = "micro_split"
STORAGE_CRS = "EPSG:4490"
# A parent whose outline differs from its level-2 grids' union by less than this still holds them.
_SAME_AREA_M2 = 1.0
CONTACT_ROLES = {"building_head": ("楼栋长", "building head"), "unit_head": ("单元长", "unit head")}


def level_frames(grids: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Current grids split into (level-1, level-2 with their parent grid as ``parent_code``, their parents)."""
    level = grids["grid_level"] if "grid_level" in grids else pd.Series(1, index=grids.index)
    first = grids[level.fillna(1).astype(int) != 2]
    second = grids[level.fillna(1).astype(int) == 2].copy()
    if "parent_grid_code" in second:
        second["parent_code"] = second["parent_grid_code"]
    parents = first[first["code"].isin(set(second["parent_code"]))][["code", "geometry"]]
    return first, second, gpd.GeoDataFrame(parents, geometry="geometry", crs=grids.crs)


def _grid(session: Session, code: str, *, lock: bool = False) -> dict[str, Any]:
    frame = read_frame(session, "SELECT id, code, name, community_code, district_code, level, version, "
                                "ST_AsBinary(geom) AS geom FROM grid WHERE code = :c AND valid_to IS NULL"
                       + (" FOR UPDATE" if lock else ""), {"c": code})
    if frame.empty:
        raise NotFound(f"网格 {code} 无现行边界 · grid {code} has no current boundary")
    row = frame.iloc[0]
    if int(row["level"]) != 1:
        raise InvalidInput(f"网格 {code} 已是二级网格，微网格须在一级网格内划分 · grid {code} is a level-2 grid; "
                           "micro grids are suggested inside a level-1 grid")
    return {"id": int(row["id"]), "code": code, "name": row["name"], "community_code": row["community_code"],
            "district_code": row["district_code"], "version": int(row["version"]), "geom": row.geometry}


def _children(session: Session, parent_code: str, *, lock: bool = False) -> gpd.GeoDataFrame:
    return read_frame(session, "SELECT id, code, version, valid_from, ST_AsBinary(geom) AS geom FROM grid "
                               "WHERE parent_grid_code = :p AND level = 2 AND valid_to IS NULL ORDER BY code"
                      + (" FOR UPDATE" if lock else ""), {"p": parent_code})


def _check(session: Session, settings: Settings, units: gpd.GeoDataFrame, parent: dict[str, Any]) -> list:
    children = gpd.GeoDataFrame({"code": units["label"], "parent_code": parent["code"]},
                                geometry=units.geometry.to_numpy(), crs=STORAGE_CRS)
    parents = gpd.GeoDataFrame({"code": [parent["code"]]}, geometry=[parent["geom"]], crs=STORAGE_CRS)
    return check_stored(session, settings, children, parents, child_level="grid", parent_level="grid")


def suggest_micro_grids(session: Session, settings: Settings, *, grid_code: str, hi: int | None = None,
                        seed: int = 0, created_by: int | None = None) -> dict[str, Any]:
    """Suggest the level-2 grids of one level-1 grid and store them as a draft ``micro_split`` plan.

    Whole buildings, at most ``hi`` households each.
    """
    from gis.partition.suggest import suggest_partition
    from gis.services.partition import _scope_frames

    hi = settings.micro_grid_max_households if hi is None else int(hi)
    if hi <= 0:
        raise InvalidInput(f"max 须为正整数户数 · max must be a positive number of households, got {hi}",
                           details={"field": "max"})
    parent = _grid(session, grid_code)
    frames = _scope_frames(session, "SELECT geom FROM grid WHERE code = :c AND valid_to IS NULL", {"c": grid_code})
    try:
        suggestion = suggest_partition(parent["geom"], frames["buildings"], frames["roads"], frames["barriers"],
                                       crs=STORAGE_CRS, lo=1, hi=hi, seed=seed, label_prefix="M",
                                       closing_m=settings.barrier_closing_m)
    except Infeasible as exc:
        raise Infeasible(f"网格 {grid_code} 无法划分微网格 · grid {grid_code}: {exc.message}",
                         details={"grid_code": grid_code}) from None
    units = suggestion.units
    findings = _check(session, settings, units, parent)
    faults = blocking(findings, allow_out_of_range=True, level="grid")
    if faults:
        raise Infeasible(f"网格 {grid_code} 的微网格方案未通过边界检查 · grid {grid_code}: the suggested level-2 grids "
                         "fail the boundary check ("
                         + "; ".join(f.message for f in faults[:5]) + "); nothing was stored",
                         details={"grid_code": grid_code, "findings": [f.message for f in faults]})
    per_building = suggestion.assignment.merge(frames["buildings"][["id", "households"]], left_on="building_id",
                                               right_on="id")
    biggest = per_building.groupby("label")["households"].max()
    flagged = [{"label": r.label, "households": int(r.households), "buildings": int(r.buildings),
                "reason": "building_too_large",
                "reason_text": f"one building of {int(r.households)} households, over the maximum of {hi}: "
                               f"a micro grid of its own",
                "reason_text_zh": f"单栋楼 {int(r.households)} 户，超过上限 {hi} 户，单独成为一个微网格"}
               for r in units.itertuples() if int(biggest.get(r.label, 0)) > hi]
    current = _children(session, grid_code)
    metrics = {"check": summarise(findings), "bounds": [1, hi], "flagged": flagged,
               "units": len(units), "households": int(units["households"].sum())}
    parameters = {"max": hi, "seed": seed, "scope_version": parent["version"],
                  "base_versions": {str(c): int(v) for c, v in zip(current["code"], current["version"], strict=True)}}
    plan = Plan(district_code=parent["district_code"], kind=MICRO_KIND, scope_code=grid_code, status="draft",
                parameters=parameters, metrics=plain(metrics), created_by=created_by)
    session.add(plan)
    session.flush()
    unit_ids: dict[str, int] = {}
    for r in units.itertuples():
        unit_ids[r.label] = session.execute(text("""
            INSERT INTO plan_unit (plan_id, district_code, label, parent_code, kind, locked, households, geom)
            VALUES (:p, :d, :l, :parent, 'general', false, :h, ST_Multi(ST_GeomFromText(:wkt, 4490)))
            RETURNING id"""), {"p": plan.id, "d": parent["district_code"], "l": r.label, "parent": grid_code,
                               "h": int(r.households), "wkt": r.geometry.wkt}).scalar_one()
    for building_id, label in zip(suggestion.assignment["building_id"], suggestion.assignment["label"], strict=True):
        session.execute(text("INSERT INTO plan_assignment (plan_id, building_id, plan_unit_id, district_code) "
                             "VALUES (:p, :b, :u, :d)"),
                        {"p": plan.id, "b": int(building_id), "u": unit_ids[label], "d": parent["district_code"]})
    return {"plan_id": plan.id, "kind": MICRO_KIND, "scope_code": grid_code, "scope_name": parent["name"],
            "metrics": plain(metrics),
            "units": [{"label": r.label, "households": int(r.households), "buildings": int(r.buildings),
                       "flagged": any(f["label"] == r.label for f in flagged)} for r in units.itertuples()]}


def adopt_micro_plan(session: Session, plan_id: int, *, reason: str, settings: Settings, user_id: int | None = None,
                     expected_version: int | None = None, **_ignored: Any) -> dict[str, Any]:
    """Adopt a ``micro_split`` plan.

    Check it against its parent grid, retire the parent's current level-2 grids and write the plan's
    units as level-2 grids with new codes in the community.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"采用方案 {plan_id} 须说明理由 · adopting plan {plan_id} needs a reason (it is kept in the "
                           "boundary history)")
    plan = session.execute(text("SELECT * FROM plan WHERE id = :id FOR UPDATE"), {"id": plan_id}).mappings().first()
    if plan is None or plan["kind"] != MICRO_KIND:
        raise NotFound(f"方案 {plan_id} 不是二级网格方案 · plan {plan_id} is not a level-2 grid plan")
    if plan["status"] != "draft":
        raise Conflict(f"方案 {plan_id} 不是草稿，只有草稿可以采用 · plan {plan_id} is {plan['status']}, not a draft; "
                       "only a draft can be adopted",
                       details={"plan_id": plan_id, "status": plan["status"]})
    if expected_version is not None and int(plan["version"]) != int(expected_version):
        raise Conflict(f"方案 {plan_id} 已被修改 · plan {plan_id} is at version {plan['version']}, "
                       f"not {expected_version}: it changed since you read it",
                       details={"plan_id": plan_id, "version": plan["version"]})
    parent = _grid(session, plan["scope_code"], lock=True)
    current = _children(session, parent["code"], lock=True)
    params = plan["parameters"] or {}
    now_versions = {str(c): int(v) for c, v in zip(current["code"], current["version"], strict=True)}
    if params.get("scope_version") != parent["version"] or params.get("base_versions", {}) != now_versions:
        raise Conflict(f"方案 {plan_id} 已过期：网格 {parent['code']} 或其二级网格已变更，请重新划分 · "
                       f"plan {plan_id} is stale: grid {parent['code']} or its level-2 grids changed since it was "
                       f"computed; compute a new suggestion", details={"plan_id": plan_id})
    units = read_frame(session, "SELECT id, label, households, ST_AsBinary(geom) AS geom FROM plan_unit "
                                "WHERE plan_id = :p ORDER BY label", {"p": plan_id})
    faults = blocking(_check(session, settings, units, parent), allow_out_of_range=True, level="grid")
    if faults:
        raise InvalidGeometry(f"方案 {plan_id} 的二级网格未通过边界检查，不能采用 · "
                              f"plan {plan_id} cannot be adopted: its level-2 grids fail the boundary check against "
                              f"grid {parent['code']}: " + "; ".join(f.message for f in faults[:5]),
                              details={"plan_id": plan_id, "findings": [f.message for f in faults]})
    community = parent["community_code"]
    codes = assign_codes(gpd.GeoDataFrame({"keep_code": [None] * len(units)}, geometry=units.geometry.to_numpy(),
                                          crs=STORAGE_CRS),
                         parent_code=community, existing_codes=codes_ever_used(session, "grid", community))
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    latest = [pd.Timestamp(v).to_pydatetime() for v in current["valid_from"]]
    if latest and max(latest) >= now:
        now = max(latest) + dt.timedelta(microseconds=1)
    if not current.empty:
        session.execute(text("UPDATE grid SET valid_to = :now WHERE id = ANY(:ids)"),
                        {"now": now, "ids": [int(i) for i in current["id"]]})
    written = []
    for n, (r, code) in enumerate(zip(units.itertuples(), codes, strict=True), start=1):
        session.add(Grid(code=code, district_code=code[:6], name=f"{parent['name']}第{n}微网格",
                         community_code=community, kind="general", level=2, parent_grid_code=parent["code"],
                         geom=f"SRID=4490;{r.geometry.wkt}", valid_from=now, reason=reason, plan_id=plan_id,
                         approved_by=user_id))
        written.append({"label": r.label, "code": code, "households": int(r.households)})
    session.flush()
    for r, code in zip(units.itertuples(), codes, strict=True):
        session.execute(text("UPDATE plan_unit SET code = :c WHERE id = :id"), {"c": code, "id": int(r.id)})
    session.execute(text("UPDATE plan SET status = 'adopted', adopted_by = :u, adopted_at = :now, reason = :r, "
                         "version = version + 1 WHERE id = :id"),
                    {"u": user_id, "now": now, "r": reason, "id": plan_id})
    # Shaped like gis.services.plans.adopt_plan's answer, which `wangge plan adopt` prints.
    return {"plan_id": plan_id, "kind": MICRO_KIND, "status": "adopted", "version": int(plan["version"]) + 1,
            "adopted_at": now.isoformat(), "reason": reason, "level": "level-2 grid",
            "scope_code": parent["code"], "parent_grid": parent["code"], "retired": list(current["code"]),
            "grids": written, "units": [{**g, "origin": "new", "version": 1} for g in written],
            "archived_plans": [], "four_limits": {}, "out_of_range": [], "needs_grid_split": []}


def show_micro_plan(session: Session, plan: Plan, *, settings: Settings | None = None) -> dict[str, Any]:
    """A ``micro_split`` plan shaped like ``gis.services.plans.show_plan``'s answer, bounds 1..its max."""
    hi = int((plan.parameters or {}).get("max") or (settings or Settings()).micro_grid_max_households)
    units = session.execute(text("SELECT label, code, parent_code, kind, locked, households FROM plan_unit "
                                 "WHERE plan_id = :p ORDER BY label"), {"p": plan.id}).mappings().all()
    buildings = session.execute(text("SELECT count(*) FROM plan_assignment WHERE plan_id = :p"),
                                {"p": plan.id}).scalar_one()
    rows = [{**u, "households": int(u["households"]), "in_range": 1 <= int(u["households"]) <= hi} for u in units]
    users: dict[int, str] = dict(session.execute(text("SELECT id, username FROM app_user WHERE id = ANY(:ids)"),
                                 {"ids": [i for i in (plan.created_by, plan.adopted_by) if i]}).all())
    return {
        "id": plan.id, "kind": plan.kind, "status": plan.status, "level": "level-2 grid",
        "scope_code": plan.scope_code, "district_code": plan.district_code, "version": plan.version,
        "base_plan_id": plan.base_plan_id, "created_at": plan.created_at.isoformat() if plan.created_at else None,
        "created_by": users.get(plan.created_by) if plan.created_by is not None else None,
        "adopted_at": plan.adopted_at.isoformat() if plan.adopted_at else None,
        "adopted_by": users.get(plan.adopted_by) if plan.adopted_by is not None else None,
        "reason": plan.reason, "parameters": plan.parameters, "metrics": plan.metrics, "approvals": [],
        "bounds": {"min": 1, "max": hi},
        "summary": {"units": len(rows), "households": sum(u["households"] for u in rows), "buildings": int(buildings),
                    "in_range": sum(1 for u in rows if u["in_range"]),
                    "out_of_range": sum(1 for u in rows if not u["in_range"]), "dedicated": 0},
        "units": rows,
    }


def retire_stale_micro_grids(session: Session, *, community_code: str, at: dt.datetime) -> list[str]:
    """Retire a community's level-2 grids whose parent grid is gone or no longer the area they tile.

    Called when a level-1 plan is adopted: a parent kept as it was keeps its level-2 grids.
    """
    return sorted(session.scalars(text("""
        WITH kids AS (SELECT parent_grid_code AS parent, ST_Union(geom) AS geom FROM grid
                      WHERE level = 2 AND valid_to IS NULL AND community_code = :c GROUP BY parent_grid_code),
        stale AS (SELECT k.parent FROM kids k
                  LEFT JOIN grid p ON p.code = k.parent AND p.valid_to IS NULL AND p.level = 1
                  WHERE p.id IS NULL OR ST_Area(ST_SymDifference(p.geom, k.geom)::geography) >= :tolerance)
        UPDATE grid m SET valid_to = GREATEST(:at, m.valid_from + interval '1 microsecond') FROM stale
        WHERE m.parent_grid_code = stale.parent AND m.level = 2 AND m.valid_to IS NULL
        RETURNING m.code"""), {"c": community_code, "at": at, "tolerance": _SAME_AREA_M2}))


# --- building heads ------------------------------------------------------------------------


def _require_micro_grid(session: Session, principal: Principal, grid_code: str, what: str) -> Any:
    grid = session.execute(text("SELECT code, district_code, level, parent_grid_code FROM grid "
                                "WHERE code = :c AND valid_to IS NULL"), {"c": grid_code}).first()
    if grid is None:
        raise NotFound(f"网格 {grid_code} 无现行边界 · grid {grid_code} has no current boundary")
    require_district(principal, grid.district_code, what)
    # Staff of the level-1 grid look after its level-2 grids too.
    if not principal.may_read_personal_data or (
            principal.is_grid_scoped and not ({grid.code, grid.parent_grid_code} & set(principal.grid_codes))):
        raise PermissionDenied(f"网格 {grid_code} 不在 {principal.username} 的管辖范围内 · "
                               f"{principal.username} may not see {what}: grid {grid_code} is not one of theirs",
                               details={"grid_code": grid_code})
    return grid


class GridContactResult(TypedDict):
    """A building or unit head of a level-2 grid; the phone only ever masked."""

    id: int
    grid_code: str
    role: str
    role_zh: str
    role_en: str
    name: str
    phone_masked: str | None
    building_id: int | None
    unit: str | None


def add_contact(session: Session, principal: Principal, *, grid_code: str, role: str, name: str,
                phone: str | None = None, building_id: int | None = None, unit: str | None = None) -> GridContactResult:
    """Record a building or unit head (楼栋长/单元长) of a level-2 grid."""
    if role not in CONTACT_ROLES:
        raise InvalidInput(f"角色须为楼栋长或单元长 · role: one of {', '.join(CONTACT_ROLES)}, got {role!r}",
                           details={"field": "role"})
    name = (name or "").strip()
    if not name:
        raise InvalidInput("须填写姓名 · name: the head's name, not empty", details={"field": "name"})
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if phone and not 7 <= len(digits) <= 15:
        raise InvalidInput(f"电话须为 7 到 15 位数字 · phone: 7 to 15 digits, got {len(digits)}",
                           details={"field": "phone"})
    grid = _require_micro_grid(session, principal, grid_code, f"the heads of grid {grid_code}")
    if int(grid.level) != 2:
        raise InvalidInput(f"网格 {grid_code} 是一级网格，楼栋长设在二级网格 · grid {grid_code} is a level-1 grid; "
                           "building heads belong to level-2 grids")
    row = GridContact(district_code=grid.district_code, grid_code=grid_code, role=role, name=name,
                      phone=digits or None, building_id=building_id, unit=(unit or "").strip() or None)
    session.add(row)
    session.flush()
    record_change(session, principal, entity="grid_contact", entity_id=row.id, action="create",
                  district_code=grid.district_code, detail={"grid_code": grid_code, "role": role})
    return _contact(row.id, grid_code, role, name, row.phone, building_id, row.unit)


def list_contacts(session: Session, principal: Principal, *, grid_code: str, reason: str | None = None
                  ) -> list[GridContactResult]:
    """The heads of one level-2 grid (or of every level-2 grid under a level-1 one), phones masked; audited."""
    grid = _require_micro_grid(session, principal, grid_code, f"the heads of grid {grid_code}")
    rows = session.execute(text("""
        SELECT c.id, c.grid_code, c.role, c.name, c.phone, c.building_id, c.unit FROM grid_contact c
        JOIN grid g ON g.code = c.grid_code AND g.valid_to IS NULL
        WHERE c.grid_code = :g OR g.parent_grid_code = :g ORDER BY c.grid_code, c.id"""), {"g": grid_code}).all()
    record_read(session, principal, entity="grid_contact", entity_ids=[r[0] for r in rows], reason=reason,
                district_code=grid.district_code)
    return [_contact(*r) for r in rows]


def _contact(cid: int, grid_code: str, role: str, name: str, phone: str | None, building_id: int | None,
             unit: str | None) -> GridContactResult:
    zh, en = CONTACT_ROLES[role]
    return {"id": int(cid), "grid_code": grid_code, "role": role, "role_zh": zh, "role_en": en, "name": name,
            "phone_masked": mask_phone(phone), "building_id": building_id, "unit": unit}


