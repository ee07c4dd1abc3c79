"""Plans: suggested boundaries stored as drafts that can be listed, compared, adopted and reverted.

A plan holds proposed units (``plan_unit``: grids of one community, or communities of one
street or district) and the unit each building falls in (``plan_assignment``). The
suggestion engine stores its runs with ``store_plan``; a planner compares them with
``diff_plans`` and adopts one with ``adopt_plan``, which writes new boundary versions.

Rules kept here
---------------
- The scope of a plan is a community (grid plans) or a street or district (community plans).
- A draft remembers the versions of the scope's current units it was computed against
  (``parameters["base_versions"]`` and ``parameters["scope_version"]``). If any of them
  changed since, adoption is refused with ``Conflict``: a stale plan never overwrites a
  newer boundary (optimistic concurrency).
- Adoption checks the tiling (no gaps, overlaps, multi-part units) and household bounds
  again, then retires the current units of the scope (``valid_to``) and writes the plan's
  units as new versions. Codes: a unit carrying ``code`` keeps it; a unit matching a
  current unit (Hungarian assignment on shared households, sharing at least half of the
  households of both; by area for units without households) keeps that unit's code; every
  other unit gets a fresh code after every code ever used under its parent, so a retired
  code is never given out again.
- History is never rewritten: ``revert_plan`` restores the boundaries valid before a plan
  as new versions, and refuses if the scope changed again after that plan.

Households per building are counted where the building's point on surface falls, as in
``gis.services.boundaries.household_counts``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment
from shapely.geometry import mapping
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis import approvals as approval_rules
from gis.checker import blocking
from gis.codes import assign_codes
from gis.crs import metric_crs_for_frame
from gis.db.frames import allocate_ids, copy_rows, ewkb_hex, read_frame
from gis.db.models import AppUser, Community, Grid, Plan, Street
from gis.errors import Conflict, CRSMismatch, Infeasible, InvalidGeometry, InvalidInput, NotFound
from gis.layers import STORAGE_CRS
from gis.services import approvals as approval_service
from gis.services.boundaries import codes_ever_used, describe_units
from gis.services.checks import check_stored
from gis.settings import Settings

PLAN_KINDS = ("grid_split", "community_redraw", "manual_edit", "import")
PLAN_STATUSES = ("draft", "proposed", "reviewed", "approved", "adopted", "archived")
UNIT_KINDS = ("general", "dedicated")
CURRENT = "current"

_CODE_LENGTH = {"district": 6, "street": 9, "community": 12, "grid": 15}
_LEVEL_OF_LENGTH = {length: level for level, length in _CODE_LENGTH.items()}
_PLURAL = {"grid": "grids", "community": "communities", "street": "streets"}
_PARENT_COLUMN = {"grid": "community_code", "community": "street_code", "street": "district_code"}
_MODELS = {"grid": Grid, "community": Community}
# A kept unit whose boundary moved less than this (symmetric difference) has not changed.
_UNCHANGED_M2 = 1.0
# A unit keeps a current unit's code when they share at least this share of both.
_MATCH_SHARE = 0.5
_ACCEPTED_CRS = ("EPSG:4490", "EPSG:4326")


# --- levels and scopes --------------------------------------------------------------------


def plan_level(kind: str, scope_code: str) -> str:
    """The level of the units of a plan: ``"grid"`` (scope a community) or ``"community"`` (a street or district)."""
    if kind not in PLAN_KINDS:
        raise InvalidInput(f"plan kind must be one of {', '.join(PLAN_KINDS)}; received {kind!r}")
    code = str(scope_code or "").strip()
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise InvalidInput(
            f"scope_code must be a 12-digit community code (grid plans) or a 9-digit street or 6-digit district "
            f"code (community plans); received {scope_code!r}"
        )
    level = "grid" if len(code) == 12 else "community"
    if kind == "grid_split" and level != "grid":
        raise InvalidInput(f"a grid_split plan's scope is a 12-digit community code; received {code}")
    if kind == "community_redraw" and level != "community":
        raise InvalidInput(f"a community_redraw plan's scope is a 9-digit street or 6-digit district code; "
                           f"received {code}")
    return level


def _scope_level(scope_code: str) -> str:
    return _LEVEL_OF_LENGTH[len(scope_code)]


def _scope_row(session: Session, level: str, scope_code: str, *, lock: bool = False) -> dict[str, Any]:
    """The current parent of a plan's units (community, street or district), optionally locked."""
    scope_level = _scope_level(scope_code)
    if scope_level == "district":
        sql = "SELECT id, code, name, NULL::int AS version, ST_AsBinary(geom) AS geom FROM district WHERE code = :c"
    else:
        sql = (f"SELECT id, code, name, version, ST_AsBinary(geom) AS geom FROM {scope_level} "
               f"WHERE code = :c AND valid_to IS NULL")
    if lock:
        sql += " FOR UPDATE"
    frame = read_frame(session, sql, {"c": scope_code})
    if frame.empty:
        raise NotFound(f"{scope_level} {scope_code} has no current boundary; a plan for its {_PLURAL[level]} "
                       f"needs one")
    row = frame.iloc[0]
    version = row["version"]
    geom = row.geometry
    return {"level": scope_level, "code": scope_code, "name": row["name"], "id": int(row["id"]),
            "version": None if pd.isna(version) else int(version),
            "geom": None if geom is None or geom.is_empty else geom}


def _current_units(session: Session, level: str, scope_code: str, *, lock: bool = False) -> gpd.GeoDataFrame:
    """Current units of a plan's level inside its scope, optionally locked (``FOR UPDATE``)."""
    if level == "grid":
        # Level-1 grids: level-2 grids follow their parent (gis.services.levels).
        where, extra = "community_code = :s AND level = 1", "kind"
    elif len(scope_code) == 9:
        where, extra = "street_code = :s", "'general'::text AS kind"
    else:
        where, extra = "district_code = :s", "'general'::text AS kind"
    sql = (f"SELECT id, code, name, version, {_PARENT_COLUMN[level]} AS parent_code, {extra}, plan_id, valid_from, "
           f"ST_AsBinary(geom) AS geom FROM {level} WHERE {where} AND valid_to IS NULL ORDER BY code")
    if lock:
        sql += " FOR UPDATE"
    return read_frame(session, sql, {"s": scope_code})


def _lock_plan(session: Session, plan_id: int) -> Plan:
    plan = session.execute(
        select(Plan).where(Plan.id == int(plan_id)).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return plan


def _get_plan(session: Session, plan_id: int) -> Plan:
    plan = session.execute(
        select(Plan).where(Plan.id == int(plan_id)).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist")
    return plan


def find_user_id(session: Session, username: str) -> int | None:
    """The id of the app user with this username, or None when there is no such user."""
    return session.scalar(select(AppUser.id).where(AppUser.username == str(username).strip()))


def _check_user(session: Session, user_id: int | None, what: str) -> None:
    if user_id is not None and session.get(AppUser, int(user_id)) is None:
        raise NotFound(f"{what}: user {user_id} does not exist")


# --- storing ------------------------------------------------------------------------------


def store_plan(
    session: Session,
    *,
    kind: str,
    scope_code: str,
    district_code: str,
    units: gpd.GeoDataFrame,
    assignment: pd.DataFrame,
    parameters: dict,
    metrics: dict,
    base_plan_id: int | None = None,
    created_by: int | None = None,
    reason: str | None = None,
) -> int:
    """Store a suggestion as a draft plan; returns the new plan's id.

    Parameters
    ----------
    kind
        ``grid_split`` (scope: a community) or ``community_redraw`` (scope: a street or a
        district); ``manual_edit`` and ``import`` take their level from the scope code.
    units
        One row per proposed unit: ``label`` (unique), ``kind`` (general/dedicated), ``locked``,
        ``households``, ``parent_code``, ``code`` (a code the unit keeps, or null) and a
        polygon geometry in EPSG:4490.
    assignment
        ``building_id`` and the ``label`` of the unit each building falls in (written with COPY).
    parameters, metrics
        What the engine was asked and what it measured (JSON). Unless ``parameters`` already
        holds them, ``base_versions`` ({code: version} of the scope's current units) and
        ``scope_version`` are recorded now, for the staleness check at adoption.
    """
    level = plan_level(kind, scope_code)
    scope_code = str(scope_code).strip()
    district_code = str(district_code or "").strip()
    if scope_code[:6] != district_code:
        raise InvalidInput(f"scope {scope_code} is not in district {district_code!r}; "
                           f"a scope code starts with its 6-digit district code")
    frame = _checked_units(units, level=level, scope_code=scope_code)
    assign = _checked_assignment(assignment, labels=set(frame["label"]))
    scope = _scope_row(session, level, scope_code)
    _check_buildings_exist(session, assign["building_id"])
    if base_plan_id is not None and session.get(Plan, int(base_plan_id)) is None:
        raise NotFound(f"base plan {base_plan_id} does not exist")
    _check_user(session, created_by, "created_by")

    params = _jsonable(dict(parameters or {}))
    if "base_versions" not in params:
        current = _current_units(session, level, scope_code)
        params["base_versions"] = {str(c): int(v) for c, v in zip(current["code"], current["version"], strict=True)}
    params.setdefault("scope_version", scope["version"])

    plan = Plan(district_code=district_code, kind=kind, scope_code=scope_code, status="draft", parameters=params,
                metrics=_jsonable(dict(metrics or {})), base_plan_id=base_plan_id, created_by=created_by,
                reason=reason)
    session.add(plan)
    session.flush()

    ids = allocate_ids(session, "plan_unit", len(frame))
    geoms = ewkb_hex(frame.geometry)
    copy_rows(session, "plan_unit",
              ("id", "plan_id", "district_code", "label", "code", "parent_code", "kind", "locked", "households",
               "geom"),
              ((int(i), plan.id, district_code, r.label, r.code, r.parent_code, r.kind, bool(r.locked),
                int(r.households), g)
               for i, r, g in zip(ids, frame.itertuples(), geoms, strict=True)))
    unit_id = dict(zip(frame["label"], (int(i) for i in ids), strict=True))
    copy_rows(session, "plan_assignment", ("plan_id", "building_id", "plan_unit_id", "district_code"),
              ((plan.id, int(b), unit_id[lab], district_code)
               for b, lab in zip(assign["building_id"], assign["label"], strict=True)))
    return plan.id


def _checked_units(units: gpd.GeoDataFrame, *, level: str, scope_code: str) -> gpd.GeoDataFrame:
    """The units as store_plan writes them, or InvalidInput naming the unit and the column."""
    if not isinstance(units, gpd.GeoDataFrame):
        raise InvalidInput(f"units must be a GeoDataFrame; received {type(units).__name__}")
    if units.empty:
        raise InvalidInput(f"units is empty; a plan for {scope_code} needs at least one unit")
    missing = [c for c in ("label", "households", "parent_code") if c not in units.columns]
    if missing:
        raise InvalidInput(f"units lacks column(s) {', '.join(missing)}; received columns "
                           f"{', '.join(map(str, units.columns))}")
    if units.crs is None or not any(units.crs.equals(c) for c in _ACCEPTED_CRS):
        raise CRSMismatch(f"units must be in {STORAGE_CRS}; received {units.crs.to_string() if units.crs else None}")

    labels = [str(v).strip() if v is not None and not pd.isna(v) else "" for v in units["label"]]
    if any(not lab or len(lab) > 50 for lab in labels):
        raise InvalidInput("every unit needs a label of 1 to 50 characters; received "
                           + ", ".join(repr(lab) for lab in labels if not lab or len(lab) > 50))
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise InvalidInput(f"unit labels must be unique; repeated: {', '.join(dup)}")

    kinds = [str(v) if v is not None and not pd.isna(v) else "general"
             for v in (units["kind"] if "kind" in units.columns else ["general"] * len(units))]
    locked = [bool(v) if v is not None and not pd.isna(v) else False
              for v in (units["locked"] if "locked" in units.columns else [False] * len(units))]
    codes_in = units["code"] if "code" in units.columns else [None] * len(units)
    want = _CODE_LENGTH[level]
    rows = []
    for lab, kind, lock, hh, parent, code, geom in zip(labels, kinds, locked, units["households"],
                                                       units["parent_code"], codes_in, units.geometry,
                                                       strict=True):
        where = f"unit {lab}"
        if kind not in UNIT_KINDS:
            raise InvalidInput(f"{where}: kind must be general or dedicated; received {kind!r}")
        if level == "community" and kind != "general":
            raise InvalidInput(f"{where}: communities are general units; received kind {kind!r}")
        try:
            households = int(hh)
        except (TypeError, ValueError):
            households = -1
        if households < 0 or (isinstance(hh, float) and not float(hh).is_integer()):
            raise InvalidInput(f"{where}: households must be a whole number >= 0; received {hh!r}")
        parent = str(parent).strip() if parent is not None and not pd.isna(parent) else ""
        if level == "grid" and parent != scope_code:
            raise InvalidInput(f"{where}: parent_code must be the plan's community {scope_code}; received {parent!r}")
        if level == "community" and not (parent == scope_code or (len(parent) == 9 and parent.startswith(scope_code))):
            raise InvalidInput(f"{where}: parent_code must be street {scope_code}"
                               if len(scope_code) == 9 else
                               f"{where}: parent_code must be district {scope_code} or one of its 9-digit streets; "
                               f"received {parent!r}")
        if code is None or (not isinstance(code, str) and pd.isna(code)) or str(code).strip() == "":
            code = None
        else:
            code = str(code).strip()
            prefix = parent if len(parent) > 6 else scope_code
            if len(code) != want or not code.isdigit() or not code.startswith(prefix):
                raise InvalidInput(f"{where}: code {code!r} is not a {want}-digit {level} code under {prefix}")
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InvalidGeometry(f"{where}: geometry must be a non-empty Polygon or MultiPolygon; received "
                                  f"{'nothing' if geom is None or geom.is_empty else geom.geom_type}")
        if geom.geom_type == "Polygon":
            geom = shapely.MultiPolygon([geom])
        rows.append({"label": lab, "kind": kind, "locked": lock, "households": households, "parent_code": parent,
                     "code": code, "geometry": geom})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    kept = frame["code"].dropna()
    dup = sorted(set(kept[kept.duplicated()]))
    if dup:
        raise InvalidInput(f"units {', '.join(frame.loc[frame['code'].isin(dup), 'label'])} all keep code "
                           f"{dup[0]}; a code belongs to one unit")
    return frame


def _checked_assignment(assignment: pd.DataFrame, *, labels: set[str]) -> pd.DataFrame:
    if not isinstance(assignment, pd.DataFrame):
        raise InvalidInput(f"assignment must be a DataFrame; received {type(assignment).__name__}")
    missing = [c for c in ("building_id", "label") if c not in assignment.columns]
    if missing:
        raise InvalidInput(f"assignment lacks column(s) {', '.join(missing)}; received columns "
                           f"{', '.join(map(str, assignment.columns))}")
    try:
        ids = assignment["building_id"].astype("int64")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"assignment.building_id must be whole numbers ({exc})") from None
    out = pd.DataFrame({"building_id": ids.to_numpy(), "label": assignment["label"].astype(str).str.strip()})
    dup = sorted(set(out.loc[out["building_id"].duplicated(), "building_id"]))
    if dup:
        raise InvalidInput(f"assignment puts building(s) {', '.join(map(str, dup[:10]))} in more than one unit")
    unknown = sorted(set(out["label"]) - labels)
    if unknown:
        raise InvalidInput(f"assignment names unit label(s) {', '.join(unknown[:10])} that are not among the units")
    return out


def _check_buildings_exist(session: Session, ids: pd.Series) -> None:
    if ids.empty:
        return
    missing = session.execute(text(
        "SELECT i FROM unnest(CAST(:ids AS bigint[])) AS i WHERE NOT EXISTS (SELECT 1 FROM building b WHERE b.id = i) "
        "ORDER BY i LIMIT 10"), {"ids": [int(i) for i in ids]}).scalars().all()
    if missing:
        raise NotFound(f"assignment names building(s) {', '.join(map(str, missing))} that do not exist")


def _jsonable(value: Any) -> Any:
    """Plain JSON values for jsonb: numpy scalars and arrays, dates, sets and tuples converted; NaN and inf as null."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        return [_jsonable(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


# --- reading ------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def _bounds(settings: Settings, level: str) -> tuple[int, int]:
    if level == "grid":
        return settings.grid_min_households, settings.grid_max_households
    return settings.community_min_households, settings.community_max_households


def _in_range(households: int, kind: str, lo: int, hi: int) -> bool | None:
    """Whether a unit is within the bounds; None for a dedicated grid (exempt)."""
    return None if kind == "dedicated" else lo <= households <= hi


def list_plans(session: Session, *, scope_code: str | None = None, kind: str | None = None,
               status: str | None = None) -> list[dict[str, Any]]:
    """Plans, newest first, optionally of one scope, kind or status, with unit and household totals."""
    if kind is not None and kind not in PLAN_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PLAN_KINDS)}; received {kind!r}")
    if status is not None and status not in PLAN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(PLAN_STATUSES)}; received {status!r}")
    rows = session.execute(text("""
        SELECT p.id, p.kind, p.status, p.scope_code, p.district_code, p.created_at, p.adopted_at, p.reason,
               p.document_no, p.version, p.base_plan_id, p.metrics, cu.username AS created_by,
               au.username AS adopted_by,
               coalesce(u.units, 0) AS units, coalesce(u.households, 0) AS households
        FROM plan p
        LEFT JOIN app_user cu ON cu.id = p.created_by
        LEFT JOIN app_user au ON au.id = p.adopted_by
        LEFT JOIN (SELECT plan_id, count(*) AS units, sum(households) AS households FROM plan_unit GROUP BY plan_id)
            u ON u.plan_id = p.id
        WHERE (CAST(:scope AS text) IS NULL OR p.scope_code = :scope)
          AND (CAST(:kind AS text) IS NULL OR p.kind = :kind)
          AND (CAST(:status AS text) IS NULL OR p.status = :status)
        ORDER BY p.id DESC"""), {"scope": scope_code, "kind": kind, "status": status}).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        item["created_at"] = _iso(item["created_at"])
        item["adopted_at"] = _iso(item["adopted_at"])
        item["units"] = int(item["units"])
        item["households"] = int(item["households"])
        item["metrics"] = {k: v for k, v in (item["metrics"] or {}).items() if k != "adoption"}
        out.append(item)
    return out


def _plan_units(session: Session, plan_id: int) -> gpd.GeoDataFrame:
    units = read_frame(session, """
        SELECT id, label, code, parent_code, kind, locked, households, ST_AsBinary(geom) AS geom
        FROM plan_unit WHERE plan_id = :p ORDER BY label""", {"p": plan_id})
    units["code"] = units["code"].astype(object).where(units["code"].notna(), None)
    return units


def _username(session: Session, user_id: int | None) -> str | None:
    return None if user_id is None else session.scalar(select(AppUser.username).where(AppUser.id == user_id))


def show_plan(session: Session, plan_id: int, *, settings: Settings | None = None) -> dict[str, Any]:
    """A plan's fields, parameters, metrics and units, each unit with whether it is within the bounds."""
    plan = _get_plan(session, plan_id)
    if plan.kind == "micro_split":
        from gis.services.levels import show_micro_plan  # level-2 grids: bounds 1..max, parent a grid

        return show_micro_plan(session, plan, settings=settings)
    level = plan_level(plan.kind, plan.scope_code)
    lo, hi = _bounds(settings or Settings(), level)
    units = _plan_units(session, plan.id)
    buildings = session.execute(text("SELECT count(*) FROM plan_assignment WHERE plan_id = :p"),
                                {"p": plan.id}).scalar_one()
    unit_rows = []
    for r in units.itertuples():
        unit_rows.append({"label": r.label, "code": r.code, "parent_code": r.parent_code, "kind": r.kind,
                          "locked": bool(r.locked), "households": int(r.households),
                          "in_range": _in_range(int(r.households), r.kind, lo, hi)})
    checked = [u for u in unit_rows if u["in_range"] is not None]
    if level == "community":
        statuses = approval_service.code_statuses(session, [u["code"] for u in unit_rows if u["code"]])
        for u in unit_rows:
            u["code_status"] = statuses[u["code"]]["status"] if u["code"] else None
    return {
        "id": plan.id, "kind": plan.kind, "status": plan.status, "level": level, "scope_code": plan.scope_code,
        "district_code": plan.district_code, "version": plan.version, "base_plan_id": plan.base_plan_id,
        "created_at": _iso(plan.created_at), "created_by": _username(session, plan.created_by),
        "adopted_at": _iso(plan.adopted_at), "adopted_by": _username(session, plan.adopted_by),
        "reason": plan.reason, "parameters": plan.parameters, "metrics": plan.metrics,
        "document_no": plan.document_no, "approvals": approval_service.approval_history(session, plan.id),
        "bounds": {"min": lo, "max": hi},
        "summary": {"units": len(unit_rows), "households": sum(u["households"] for u in unit_rows),
                    "buildings": int(buildings), "in_range": sum(1 for u in checked if u["in_range"]),
                    "out_of_range": sum(1 for u in checked if not u["in_range"]),
                    "dedicated": len(unit_rows) - len(checked)},
        "units": unit_rows,
    }


def plan_geojson(session: Session, plan_id: int) -> dict[str, Any]:
    """The plan's units as a GeoJSON FeatureCollection (lon/lat) for maps."""
    plan = _get_plan(session, plan_id)
    units = _plan_units(session, plan.id)
    features = [{
        "type": "Feature",
        "properties": {"label": r.label, "code": r.code, "parent_code": r.parent_code, "kind": r.kind,
                       "locked": bool(r.locked), "households": int(r.households)},
        "geometry": mapping(r.geometry),
    } for r in units.itertuples()]
    return {"type": "FeatureCollection",
            "plan": {"id": plan.id, "kind": plan.kind, "status": plan.status, "scope_code": plan.scope_code},
            "features": _jsonable(features)}


# --- buildings in units -------------------------------------------------------------------


def _building_points(session: Session, bounds: Iterable[float]) -> gpd.GeoDataFrame:
    """Buildings whose footprint meets a bounding box, as their points on surface."""
    x0, y0, x1, y1 = (float(v) for v in bounds)
    return read_frame(session, """
        SELECT id AS building_id, households, name, address, ST_AsBinary(ST_PointOnSurface(geom)) AS geom
        FROM building WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)""",
                      {"x0": x0, "y0": y0, "x1": x1, "y1": y1})


def _locate(points: gpd.GeoDataFrame, units: gpd.GeoDataFrame, key: str) -> pd.Series:
    """The ``key`` of the unit each point falls in (points outside every unit are left out)."""
    if points.empty or units.empty:
        return pd.Series([], dtype=object, name=key)
    joined = gpd.sjoin(points[["building_id", "geometry"]], units[[key, "geometry"]].rename(columns={key: "_key"}),
                       predicate="intersects", how="inner")
    joined = joined.drop_duplicates("building_id")
    return pd.Series(joined["_key"].to_numpy(), index=joined["building_id"].to_numpy(), name=key)


def _total_bounds(*frames: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    boxes = [f.total_bounds for f in frames if not f.empty]
    if not boxes:
        return None
    arr = np.vstack(boxes)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


# --- moves: which buildings change unit ---------------------------------------------------


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
    for name, frame in (("before", before), ("after", after)):
        missing = [c for c in ("building_id", "unit") if c not in frame.columns]
        if missing:
            raise InvalidInput(f"{name} lacks column(s) {', '.join(missing)}; expected building_id, unit, households")
    hh = before if "households" in before.columns else after
    if "households" not in hh.columns:
        raise InvalidInput("before or after needs a households column")
    a = before[["building_id", "unit"]].rename(columns={"unit": "unit_a"})
    b = after[["building_id", "unit"]].rename(columns={"unit": "unit_b"})
    both = a.merge(b, on="building_id", how="inner")
    households = hh.drop_duplicates("building_id").set_index("building_id")["households"]
    both["households"] = both["building_id"].map(households).fillna(0).astype("int64")
    return both


def count_moves(before: pd.DataFrame, after: pd.DataFrame) -> dict[str, Any]:
    """Buildings and households that change unit between two assignments, once units are matched.

    Parameters
    ----------
    before, after
        Columns ``building_id``, ``unit`` (any hashable label or code) and, in at least one,
        ``households``. Only buildings present in both are compared; a unit relabelled but
        otherwise identical moves nothing (see ``match_units``).

    Returns
    -------
    dict
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


def moves_against_current(session: Session, *, scope_code: str, assignment: pd.DataFrame) -> dict[str, Any]:
    """Households and buildings an assignment (``building_id``, ``label``) moves against the current boundaries.

    The current units are the current grids of a 12-digit community scope, or the current
    communities of a street or district scope; a building belongs to the unit its point on
    surface falls in, households come from the building table.
    """
    scope_code = str(scope_code).strip()
    if not scope_code.isdigit() or len(scope_code) not in (6, 9, 12):
        raise InvalidInput(f"scope_code must be a 12-digit community or 9/6-digit street/district code; "
                           f"received {scope_code!r}")
    level = "grid" if len(scope_code) == 12 else "community"
    if not {"building_id", "label"} <= set(assignment.columns):
        raise InvalidInput("assignment needs columns building_id and label")
    current = _current_units(session, level, scope_code)
    if current.empty:
        return {"buildings_moved": 0, "households_moved": 0, "buildings_compared": 0, "current_units": 0}
    points = _building_points(session, current.total_bounds)
    located = _locate(points, current, "code")
    before = pd.DataFrame({"building_id": located.index.astype("int64"), "unit": located.to_numpy()})
    before["households"] = before["building_id"].map(points.set_index("building_id")["households"]).fillna(0)
    after = pd.DataFrame({"building_id": assignment["building_id"].astype("int64").to_numpy(),
                          "unit": assignment["label"].astype(str).to_numpy()})
    after = after.merge(points[["building_id", "households"]], on="building_id", how="left").fillna({"households": 0})
    result = count_moves(before, after)
    return {"buildings_moved": result["buildings_moved"], "households_moved": result["households_moved"],
            "buildings_compared": result["buildings_compared"], "current_units": int(len(current))}


@dataclass
class _Side:
    """One side of a diff: its units and the unit each building is in."""

    name: str
    plan_id: int | None
    scope_code: str
    level: str
    units: pd.DataFrame  # key, label, code, households
    buildings: pd.DataFrame  # building_id, unit (key)


def _plan_side(session: Session, plan: Plan) -> _Side:
    level = plan_level(plan.kind, plan.scope_code)
    units = session.execute(text("SELECT id, label, code, households FROM plan_unit WHERE plan_id = :p ORDER BY label"),
                            {"p": plan.id}).all()
    frame = pd.DataFrame([{"key": f"u{r.id}", "label": r.label, "code": r.code, "households": int(r.households)}
                          for r in units], columns=["key", "label", "code", "households"])
    rows = session.execute(text("SELECT building_id, plan_unit_id FROM plan_assignment WHERE plan_id = :p"),
                           {"p": plan.id}).all()
    buildings = pd.DataFrame([{"building_id": int(b), "unit": f"u{u}"} for b, u in rows],
                             columns=["building_id", "unit"])
    return _Side(f"plan {plan.id}", plan.id, plan.scope_code, level, frame, buildings)


def _current_side(session: Session, level: str, scope_code: str) -> _Side:
    current = _current_units(session, level, scope_code)
    bounds = _total_bounds(current)
    points = _building_points(session, bounds) if bounds else gpd.GeoDataFrame(
        {"building_id": [], "households": []}, geometry=[], crs=STORAGE_CRS)
    located = _locate(points, current, "code")
    buildings = pd.DataFrame({"building_id": located.index.astype("int64"), "unit": located.to_numpy()})
    hh = buildings.merge(points[["building_id", "households"]], on="building_id").groupby("unit")["households"].sum()
    units = pd.DataFrame({"key": current["code"], "label": current["name"], "code": current["code"],
                          "households": [int(hh.get(c, 0)) for c in current["code"]]})
    return _Side(CURRENT, None, scope_code, level, units, buildings)


def _parse_side(value: int | str) -> int | str:
    if isinstance(value, str):
        v = value.strip().lower()
        if v == CURRENT:
            return CURRENT
        if v.isdigit():
            return int(v)
        raise InvalidInput(f"a diff side is a plan id or 'current'; received {value!r}")
    return int(value)


def diff_plans(session: Session, a: int | str, b: int | str) -> dict[str, Any]:
    """Compare two plans of one scope, or a plan with the current boundaries (``"current"``).

    Units are paired by a Hungarian assignment on shared households, so a relabelled but
    identical unit moves nothing; every building that changes unit is named with its
    households and its from and to unit, with the totals of buildings and households moved.
    """
    sa, sb = _parse_side(a), _parse_side(b)
    if sa == CURRENT and sb == CURRENT:
        raise InvalidInput("diff needs at least one plan: both sides are 'current'")
    plans = {s: _get_plan(session, s) for s in (sa, sb) if s != CURRENT}
    sides: dict[str, _Side] = {}
    for key, s in (("a", sa), ("b", sb)):
        if s != CURRENT:
            sides[key] = _plan_side(session, plans[s])
    ref = sides.get("a") or sides["b"]
    for key, s in (("a", sa), ("b", sb)):
        if s == CURRENT:
            sides[key] = _current_side(session, ref.level, ref.scope_code)
    side_a, side_b = sides["a"], sides["b"]
    if (side_a.scope_code, side_a.level) != (side_b.scope_code, side_b.level):
        raise InvalidInput(f"{side_a.name} ({side_a.level}s of {side_a.scope_code}) and {side_b.name} "
                           f"({side_b.level}s of {side_b.scope_code}) cover different scopes; diff plans of one scope")

    ids = sorted(set(side_a.buildings["building_id"]) | set(side_b.buildings["building_id"]))
    info = _building_info(session, ids)
    before = side_a.buildings.assign(households=side_a.buildings["building_id"].map(info["households"]).fillna(0))
    after = side_b.buildings
    result = count_moves(before, after)
    moved = set(result["moved"])

    def unit_ref(side: _Side, key: Any) -> dict[str, Any] | None:
        if key is None or (not isinstance(key, str) and pd.isna(key)):
            return None
        row = side.units.loc[side.units["key"] == key]
        if row.empty:
            return {"label": str(key), "code": None}
        return {"label": row["label"].iloc[0], "code": row["code"].iloc[0]}

    unit_a = dict(zip(side_a.buildings["building_id"], side_a.buildings["unit"], strict=True))
    unit_b = dict(zip(side_b.buildings["building_id"], side_b.buildings["unit"], strict=True))
    moves = []
    for bid in sorted(moved):
        moves.append({"building_id": bid, "name": info["name"].get(bid), "address": info["address"].get(bid),
                      "households": int(info["households"].get(bid, 0)),
                      "from": unit_ref(side_a, unit_a[bid]), "to": unit_ref(side_b, unit_b[bid])})

    def only(side_units: dict, other: dict, side: _Side) -> list[dict[str, Any]]:
        return [{"building_id": bid, "households": int(info["households"].get(bid, 0)),
                 "unit": unit_ref(side, unit)} for bid, unit in sorted(side_units.items()) if bid not in other]

    only_a, only_b = only(unit_a, unit_b, side_a), only(unit_b, unit_a, side_b)
    matched_a = {m[0] for m in result["matches"]}
    matched_b = {m[1] for m in result["matches"]}

    def summary(side: _Side) -> dict[str, Any]:
        return {"name": side.name, "plan_id": side.plan_id, "units": int(len(side.units)),
                "households": int(side.units["households"].sum()) if len(side.units) else 0,
                "buildings": int(len(side.buildings))}

    return {
        "scope_code": side_a.scope_code, "level": side_a.level, "a": summary(side_a), "b": summary(side_b),
        "matches": [{"a": unit_ref(side_a, ka), "b": unit_ref(side_b, kb), "shared_households": s}
                    for ka, kb, s in result["matches"]],
        "unmatched_a": [unit_ref(side_a, k) for k in side_a.units["key"] if k not in matched_a],
        "unmatched_b": [unit_ref(side_b, k) for k in side_b.units["key"] if k not in matched_b],
        "buildings_compared": result["buildings_compared"],
        "buildings_moved": result["buildings_moved"], "households_moved": result["households_moved"],
        "moves": moves,
        "only_in_a": only_a, "only_in_b": only_b,
    }


def _building_info(session: Session, ids: list[int]) -> dict[str, dict[int, Any]]:
    rows = session.execute(text("SELECT id, name, address, households FROM building WHERE id = ANY(:ids)"),
                           {"ids": ids}).all() if ids else []
    return {"name": {r.id: r.name for r in rows}, "address": {r.id: r.address for r in rows},
            "households": {r.id: int(r.households) for r in rows}}


# --- adopting -----------------------------------------------------------------------------


def _count(n: int, level: str) -> str:
    return f"{n} {level if n == 1 else _PLURAL[level]}"


def _unit_name(level: str, label: str, code: str | None) -> str:
    return f"{level} {label}" + (f" ({code})" if code else "")


def _db_now(session: Session, *retiring: gpd.GeoDataFrame) -> dt.datetime:
    """The database clock, after every ``valid_from`` of the rows being retired (valid_to > valid_from)."""
    now = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    latest = [pd.Timestamp(v).to_pydatetime() for f in retiring if not f.empty for v in f["valid_from"]]
    if latest and max(latest) >= now:
        now = max(latest) + dt.timedelta(microseconds=1)
    return now


def _check_base(plan: Plan, level: str, scope: dict[str, Any], current: gpd.GeoDataFrame) -> None:
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
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        raise Conflict(f"plan {plan.id} is stale: the {_PLURAL[level]} of {scope['level']} {scope['code']} changed "
                       f"since it was computed ({shown}); compute a new suggestion",
                       details={"plan_id": plan.id, "changes": changes})


def _tiling_parents(session: Session, plan: Plan, level: str, scope: dict[str, Any],
                    units: gpd.GeoDataFrame, current: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The parent polygons the plan's units must tile."""
    parents = sorted(set(units["parent_code"]))
    if scope["level"] != "district" or parents == [scope["code"]]:
        geom = scope["geom"]
        if geom is None:
            # A district without a stored polygon: its current communities, else the plan's own outline.
            geom = shapely.union_all(current.geometry.to_numpy()) if not current.empty else \
                shapely.union_all(units.geometry.to_numpy())
        return gpd.GeoDataFrame({"code": [scope["code"]]}, geometry=[geom], crs=STORAGE_CRS)
    streets = read_frame(session, "SELECT code, ST_AsBinary(geom) AS geom FROM street "
                                  "WHERE valid_to IS NULL AND code = ANY(:codes)", {"codes": parents})
    missing = sorted(set(parents) - set(streets["code"]))
    if missing:
        raise NotFound(f"plan {plan.id}: street(s) {', '.join(missing)} named as parents have no current boundary")
    return streets


def _check_topology(session: Session, settings: Settings, plan: Plan, level: str, units: gpd.GeoDataFrame,
                    parents: gpd.GeoDataFrame) -> None:
    """Refuse a plan the checker faults on its stored geometry (household bounds are judged apart)."""
    children = gpd.GeoDataFrame({"code": units["label"], "parent_code": units["parent_code"]},
                                geometry=units.geometry.to_numpy(), crs=STORAGE_CRS)
    parent_level = _scope_level(parents["code"].iloc[0])
    allowed = tuple((plan.parameters or {}).get("allow_crossing") or ())
    findings = blocking(check_stored(session, settings, children, parents, child_level=level,
                                     allow_crossing=allowed, parent_level=parent_level), allow_out_of_range=True,
                        level=level)
    if findings:
        messages = [f.message for f in findings]
        shown = "; ".join(messages[:5]) + (f"; and {len(messages) - 5} more" if len(messages) > 5 else "")
        where = ", ".join(parents["code"])
        raise InvalidGeometry(f"plan {plan.id} cannot be adopted: its {_PLURAL[level]} fail the boundary check "
                              f"against {parent_level} {where}: {shown}",
                              details={"plan_id": plan.id, "findings": messages,
                                       "kinds": sorted({f.kind for f in findings})})


def _out_of_range(units: gpd.GeoDataFrame, level: str, settings: Settings) -> list[dict[str, Any]]:
    lo, hi = _bounds(settings, level)
    out = []
    for r in units.itertuples():
        n = int(r.households_now)
        if _in_range(n, r.kind, lo, hi) is False:
            out.append({"label": r.label, "code": r.code, "households": n, "min": lo, "max": hi,
                        "text": f"{_unit_name(level, r.label, r.code)} has {n} households, "
                                + (f"below the minimum of {lo}" if n < lo else f"above the maximum of {hi}")})
    return out


def _match_current(units: gpd.GeoDataFrame, current: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> dict[str, str]:
    """Label → current code for plan units that are a current unit under a new boundary.

    Hungarian assignment on shared households; a pair counts only when it shares at least
    half of the households of both (by area for a pair where either has no households).
    """
    if units.empty or current.empty:
        return {}
    in_plan = _locate(points, units, "label")
    in_current = _locate(points, current, "code")
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
                eligible = s > 0 and s >= _MATCH_SHARE * ph and s >= _MATCH_SHARE * ch
            else:
                eligible = overlap >= _MATCH_SHARE * u_area[i] and overlap >= _MATCH_SHARE * c_area[j]
            if eligible:
                # Households first; area (in km², always < 1e3 here) breaks ties between empty units.
                weight[i, j] = s + 1e-3 * overlap / 1e6 + 1e-9
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return {labels[r]: codes[c] for r, c in zip(rows, cols, strict=True) if weight[r, c] > 0}


def _parent_street(level: str, unit: Any, scope_code: str, plan_id: int) -> str:
    if level == "grid":
        return scope_code
    if unit.code:
        return unit.code[:9]
    if len(unit.parent_code) == 9:
        return unit.parent_code
    raise InvalidInput(f"plan {plan_id}: community {unit.label} lies in district {unit.parent_code} but not in a "
                       f"street; a community code needs its street (import street boundaries and re-suggest)")


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


def _range_codes(session: Session, plan: Plan, parent: str, frame: gpd.GeoDataFrame, keep: list[str | None],
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
        raise Infeasible(f"方案 {plan.id}：街道 {parent} 的{zh}代码（{lo:03d}–{hi:03d}）已用尽，还需 {len(over)} 个 · plan "
                         f"{plan.id}: street {parent} has no {en} codes left in {lo:03d}-{hi:03d} for "
                         f"{len(over)} new {'community' if len(over) == 1 else 'communities'} (retired codes are "
                         f"never given out again)",
                         details={"plan_id": plan.id, "street_code": parent, "committee": kind})
    return codes


def _assign_plan_codes(session: Session, plan: Plan, level: str, units: gpd.GeoDataFrame,
                       current: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> tuple[pd.Series, pd.Series]:
    """The code of every plan unit (with its ``parent`` street or community) and where it came from.

    New community codes stay in their committee kind's range (居委会 001–199, 村委会 200–399);
    the kind of each community is left in ``units["committee"]``.
    """
    current_codes = set(current["code"])
    carried = {r.label: r.code for r in units.itertuples() if r.code}
    for label, code in carried.items():
        if code not in current_codes:
            parent = code[: _CODE_LENGTH[level] - 3]
            if code in set(codes_ever_used(session, level, parent)):
                raise InvalidInput(f"plan {plan.id}: {level} {label} carries code {code}, which is retired; "
                                   f"a retired code is never given out again")
            raise InvalidInput(f"plan {plan.id}: {level} {label} carries code {code}, which is not a current "
                               f"{level} of {plan.scope_code}")
    matched: dict[str, str] = {}
    free_current = current[~current["code"].isin(set(carried.values()))]
    for parent, group in units[units["code"].isna()].groupby("parent"):
        cands = free_current[free_current["parent_code"] == parent]
        matched.update(_match_current(group, cands, points))
    codes = pd.Series(index=units.index, dtype=object)
    origin = pd.Series(index=units.index, dtype=object)
    units["committee"] = None
    for parent, group in units.groupby("parent"):
        keep = [carried.get(lab) or matched.get(lab) for lab in group["label"]]
        frame = gpd.GeoDataFrame({"keep_code": keep}, geometry=group.geometry.to_numpy(), index=group.index,
                                 crs=STORAGE_CRS)
        used = list(codes_ever_used(session, level, parent))
        if level != "community":
            codes.loc[group.index] = assign_codes(frame, parent_code=parent, existing_codes=used)
            continue
        kinds = _committees(group, keep, current)
        units.loc[group.index, "committee"] = pd.Series(kinds, index=group.index, dtype=object)
        for kind in set(kinds):
            mask = np.array([k == kind for k in kinds])
            codes.loc[group.index[mask]] = _range_codes(session, plan, parent, frame[mask],
                                                        [k for k, m in zip(keep, mask, strict=True) if m], kind, used)
    for i, lab in units["label"].items():
        origin[i] = "carried" if lab in carried else "matched" if lab in matched else "new"
    return codes, origin


def adopt_plan(
    session: Session,
    plan_id: int,
    *,
    reason: str,
    settings: Settings,
    user_id: int | None = None,
    expected_version: int | None = None,
    allow_out_of_range: bool = False,
) -> dict[str, Any]:
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

        return adopt_micro_plan(session, plan_id, reason=reason, settings=settings, user_id=user_id,
                                expected_version=expected_version)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"adopting plan {plan_id} needs a reason (it is kept in the boundary history)")
    plan = _lock_plan(session, plan_id)
    if plan.status not in ("draft", *approval_rules.IN_CHAIN):
        raise Conflict(f"plan {plan.id} is {plan.status}, not a draft; only a draft can be adopted",
                       details={"plan_id": plan.id, "status": plan.status})
    if expected_version is not None and plan.version != int(expected_version):
        raise Conflict(f"plan {plan.id} is at version {plan.version}, not {expected_version}: it changed since "
                       f"you read it", details={"plan_id": plan.id, "version": plan.version})
    _check_user(session, user_id, f"adopting plan {plan.id}")
    level = plan_level(plan.kind, plan.scope_code)
    approval_service.check_adoption(session, plan, level=level, user_id=user_id, settings=settings)
    status_before = plan.status
    scope = _scope_row(session, level, plan.scope_code, lock=True)
    current = _current_units(session, level, plan.scope_code, lock=True)
    _check_base(plan, level, scope, current)

    units = _plan_units(session, plan.id)
    if units.empty:
        raise InvalidInput(f"plan {plan.id} has no units")
    _check_topology(session, settings, plan, level, units, _tiling_parents(session, plan, level, scope, units, current))

    points = _building_points(session, _total_bounds(units, current))
    located = _locate(points, units, "label")
    hh = points.set_index("building_id")["households"]
    per_unit = pd.Series(located.index.map(hh).to_numpy(), index=located.to_numpy()).groupby(level=0).sum()
    units["households_now"] = [int(per_unit.get(lab, 0)) for lab in units["label"]]
    out_of_range = _out_of_range(units, level, settings)
    if out_of_range and not allow_out_of_range:
        lo, hi = _bounds(settings, level)
        raise InvalidInput(
            f"plan {plan.id} cannot be adopted: {_count(len(out_of_range), level)} outside the household bounds "
            f"[{lo}, {hi}]: " + "; ".join(o["text"] for o in out_of_range)
            + "; allow out-of-range units explicitly (--allow-out-of-range) to adopt it anyway",
            details={"plan_id": plan.id, "out_of_range": out_of_range})

    street = _district_street(session, plan, scope, units) if level == "community" and scope["level"] == "district" \
        else None
    if street is not None:
        units["parent"] = street["code"]
    else:
        units["parent"] = [_parent_street(level, r, plan.scope_code, plan.id) for r in units.itertuples()]
    codes, origin = _assign_plan_codes(session, plan, level, units, current, points)
    units["new_code"] = codes
    units["origin"] = origin
    full_reason = reason
    if out_of_range:
        full_reason += (f" (adopted with {_count(len(out_of_range), level)} out of range: "
                        + ", ".join(f"{o['label']} {o['households']}" for o in out_of_range) + ")")

    now = _db_now(session, current)
    model = _MODELS[level]
    street_id = _write_district_street(session, street, plan, units, now, user_id) if street is not None else None
    if not current.empty:
        session.execute(text(f"UPDATE {level} SET valid_to = :now WHERE id = ANY(:ids)"),
                        {"now": now, "ids": [int(i) for i in current["id"]]})
    previous = {r.code: r for r in current.itertuples()}
    parent_names = _parent_names(session, level, scope, units)
    written = []
    for r in units.itertuples():
        prev = previous.get(r.new_code)
        values: dict[str, Any] = {
            "code": r.new_code, "district_code": r.new_code[:6],
            "name": prev.name if prev is not None else _new_name(level, r.new_code, parent_names.get(r.parent)),
            "geom": f"SRID=4490;{r.geometry.wkt}", "valid_from": now, "version": prev.version + 1 if prev else 1,
            "reason": full_reason, "plan_id": plan.id, "approved_by": user_id,
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
    retired_micro: list[str] = []
    if level == "grid":
        from gis.services.levels import retire_stale_micro_grids  # level-2 grids of a changed parent go with it

        retired_micro = retire_stale_micro_grids(session, community_code=plan.scope_code, at=now)

    # Communities whose area changed lose their grids: they need a new grid split.
    retired_grids: list[dict[str, Any]] = []
    needs_split: list[dict[str, Any]] = []
    retired_grid_ids: list[int] = []
    changed_old: list[str] = []
    if level == "community":
        retired_grid_ids, retired_grids, needs_split, changed_old = _retire_grids_of_changed(
            session, units, current, now)

    four_limits = describe_units(session, level=level, codes=[r.new_code for r, _ in written])
    archived = list(session.execute(text(
        "UPDATE plan SET status = 'archived', version = version + 1 WHERE status = 'adopted' AND id <> :id "
        "AND (scope_code = :scope OR scope_code = ANY(:changed)) RETURNING id"),
        {"id": plan.id, "scope": plan.scope_code, "changed": changed_old}).scalars())

    if level == "community":
        approval_service.record_new_codes(session, plan_id=plan.id, codes={
            r.new_code: r.committee for r in units.itertuples() if r.origin == "new"})
    plan.status = "adopted"
    plan.adopted_at = now
    plan.adopted_by = user_id
    plan.reason = full_reason
    approval_service.record_adoption(session, plan, from_status=status_before, user_id=user_id, reason=full_reason)
    plan.version = plan.version + 1
    plan.metrics = {**(plan.metrics or {}), "adoption": _jsonable({
        "adopted_at": now, "retired_ids": [int(i) for i in current["id"]],
        "written_ids": [int(row.id) for _, row in written], "retired_grid_ids": retired_grid_ids,
        "archived_plan_ids": sorted(archived), "out_of_range": out_of_range,
        "provisional_street_id": street_id,
    })}
    session.flush()

    kept = set(units["new_code"])
    from gis.services.staffing import proposal_after_adoption  # issue 18: staff of retired grids follow households

    staffing = proposal_after_adoption(session, plan.id)
    return {
        "plan_id": plan.id, "status": plan.status, "kind": plan.kind, "level": level,
        "scope_code": plan.scope_code, "version": plan.version, "adopted_at": _iso(now), "reason": full_reason,
        "units": [{"label": r.label, "code": r.new_code, "origin": r.origin, "version": row.version,
                   "kind": r.kind, "households": int(r.households_now)} for r, row in written],
        "retired": sorted(c for c in current["code"] if c not in kept),
        "four_limits": four_limits, "out_of_range": out_of_range, "archived_plans": sorted(archived),
        "retired_grids": retired_grids, "needs_grid_split": needs_split, "retired_level_2_grids": retired_micro,
        "provisional_street": street["code"] if street is not None and street["new"] else None,
        "staffing": staffing,
    }


def _district_street(session: Session, plan: Plan, scope: dict[str, Any], units: gpd.GeoDataFrame) -> dict[str, Any]:
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
            f"plan {plan.id}: district {scope['code']} has streets ({', '.join(real[:5])}), so its communities are "
            f"suggested per street: use --street CODE", details={"plan_id": plan.id, "streets": real})
    if rows:
        return {"code": rows[0].code, "id": int(rows[0].id), "new": False}
    used = set(codes_ever_used(session, "street", scope["code"]))
    code = next(f"{scope['code']}{n:03d}" for n in range(1, 1000) if f"{scope['code']}{n:03d}" not in used)
    return {"code": code, "id": None, "new": True}


def _write_district_street(session: Session, street: dict[str, Any], plan: Plan, units: gpd.GeoDataFrame,
                           now: dt.datetime, user_id: int | None) -> int | None:
    """Write (or redraw) the provisional street as the union of the plan's communities; its id when new."""
    outline = shapely.union_all(units.geometry.to_numpy())
    geom = f"SRID=4490;{shapely.MultiPolygon(list(shapely.get_parts(outline))).wkt}"
    if not street["new"]:
        session.execute(text("UPDATE street SET geom = ST_GeomFromEWKT(:g) WHERE id = :id"),
                        {"g": geom, "id": street["id"]})
        return None
    name = session.execute(text("SELECT name FROM district WHERE code = :d"), {"d": street["code"][:6]}).scalar()
    row = Street(code=street["code"], district_code=street["code"][:6], name=f"{name or street['code'][:6]}（暂定街道）",
                 geom=geom, valid_from=now, version=1, provisional=True, plan_id=plan.id, approved_by=user_id,
                 reason=f"provisional street: the whole district until street boundaries are imported "
                        f"(plan {plan.id})")
    session.add(row)
    session.flush()
    return int(row.id)


def _parent_names(session: Session, level: str, scope: dict[str, Any], units: pd.DataFrame) -> dict[str, str]:
    if level == "grid":
        return {scope["code"]: scope["name"]}
    rows = session.execute(text("SELECT code, name FROM street WHERE valid_to IS NULL AND code = ANY(:c)"),
                           {"c": sorted(set(units["parent"]))}).all()
    return {c: n for c, n in rows}


def _new_name(level: str, code: str, parent_name: str | None) -> str:
    """A placeholder name for a unit with a fresh code, e.g. 汉中社区第4网格 (a planner renames it)."""
    n = int(code[-3:])
    if level == "grid":
        return f"{parent_name or code[:12]}第{n}网格"[:100]
    return f"{parent_name or code[:9]}第{n}社区"[:100]


def _retire_grids_of_changed(session: Session, units: gpd.GeoDataFrame, current: gpd.GeoDataFrame,
                             now: dt.datetime) -> tuple[list[int], list[dict], list[dict], list[str]]:
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
    retired_grids = [{"community_code": c, "grids": sorted(g)} for c, g in sorted(by_community.items())]
    unchanged = set(current["code"]) - set(changed)
    needs = [{"code": r.new_code, "label": r.label, "households": int(r.households_now),
              "retired_grids": sorted(by_community.get(r.new_code, []))}
             for r in units.itertuples() if r.new_code not in unchanged]
    return sorted(int(i) for i, _, _ in retired), retired_grids, needs, changed


# --- history and revert -------------------------------------------------------------------


def boundary_history(session: Session, code: str) -> dict[str, Any]:
    """Every version of a unit and of the units under it, oldest first, with who approved which change and why."""
    code = str(code or "").strip()
    if not code.isdigit() or len(code) not in _LEVEL_OF_LENGTH:
        raise InvalidInput(f"code must be a 6-, 9-, 12- or 15-digit district, street, community or grid code; "
                           f"received {code!r}")
    level = _LEVEL_OF_LENGTH[len(code)]
    order = ["street", "community", "grid"]
    tables = [t for t in order if _CODE_LENGTH[t] >= len(code)][:2]
    versions: list[dict[str, Any]] = []
    for table in tables:
        rows = session.execute(text(f"""
            SELECT t.code, t.name, t.version, t.valid_from, t.valid_to, t.reason, t.plan_id, u.username
            FROM {table} t LEFT JOIN app_user u ON u.id = t.approved_by
            WHERE t.code LIKE :p ORDER BY t.code, t.version, t.valid_from"""), {"p": code + "%"}).all()
        versions += [{"level": table, "code": c, "name": n, "version": v, "valid_from": _iso(f), "valid_to": _iso(t),
                      "current": t is None, "reason": r, "plan_id": p, "approved_by": u}
                     for c, n, v, f, t, r, p, u in rows]
    if not versions:
        raise NotFound(f"no boundary history for {level} {code}")
    return {"code": code, "level": level, "versions": versions}


def revert_plan(session: Session, plan_id: int, *, reason: str, settings: Settings,
                user_id: int | None = None) -> dict[str, Any]:
    """Undo an adopted plan: restore the boundaries valid just before it as new versions.

    Refused with ``Conflict`` when the plan is not the adopted one of its scope, or when the
    scope changed again after it (a later edit, or grids split in the communities it drew).
    Restored units outside the household bounds are reported, not refused: they were valid before.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"reverting plan {plan_id} needs a reason (it is kept in the boundary history)")
    plan = _lock_plan(session, plan_id)
    if plan.status != "adopted":
        hint = ("a draft changed nothing" if plan.status == "draft"
                else "it was replaced by a later plan or already reverted; revert the later plan first")
        raise Conflict(f"plan {plan.id} is {plan.status}, not adopted: {hint}",
                       details={"plan_id": plan.id, "status": plan.status})
    adoption = (plan.metrics or {}).get("adoption")
    if not adoption:
        raise Conflict(f"plan {plan.id} has no adoption record, so what it replaced is not known; "
                       f"edit the boundaries instead")
    _check_user(session, user_id, f"reverting plan {plan.id}")
    level = plan_level(plan.kind, plan.scope_code)
    _scope_row(session, level, plan.scope_code, lock=True)
    current = _current_units(session, level, plan.scope_code, lock=True)
    written = {int(i) for i in adoption["written_ids"]}
    changes = [f"{level} {r.code} version {r.version} came later" for r in current.itertuples()
               if int(r.id) not in written]
    still = set(int(i) for i in current["id"])
    gone = session.execute(text(f"SELECT code, version FROM {level} WHERE id = ANY(:ids) ORDER BY code"),
                           {"ids": sorted(written - still)}).all() if written - still else []
    changes += [f"{level} {c} version {v} written by plan {plan.id} has been replaced" for c, v in gone]
    adopted_at = pd.Timestamp(adoption["adopted_at"]).to_pydatetime()
    if level == "community":
        later = session.execute(text(
            "SELECT g.code, g.community_code FROM grid g WHERE g.valid_to IS NULL AND g.valid_from > :t "
            "AND g.community_code = ANY(:c) ORDER BY g.code"),
            {"t": adopted_at, "c": list(current["code"])}).all()
        changes += [f"grid {c} in community {cc} came later" for c, cc in later]
    if changes:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5 else "")
        raise Conflict(f"plan {plan.id} cannot be reverted: the {_PLURAL[level]} of {plan.scope_code} changed after "
                       f"it ({shown})", details={"plan_id": plan.id, "changes": changes})

    now = _db_now(session, current)
    full_reason = f"revert of plan {plan.id}: {reason}"
    session.execute(text(f"UPDATE {level} SET valid_to = :now WHERE id = ANY(:ids)"),
                    {"now": now, "ids": sorted(written)})
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

    # Restored units outside the bounds: reported (they were the boundaries before), not refused.
    now_units = _current_units(session, level, plan.scope_code)
    out_of_range: list[dict[str, Any]] = []
    if not now_units.empty:
        points = _building_points(session, now_units.total_bounds)
        located = _locate(points, now_units, "code")
        hh = points.set_index("building_id")["households"]
        per = pd.Series(located.index.map(hh).to_numpy(), index=located.to_numpy()).groupby(level=0).sum()
        frame = now_units.assign(label=now_units["code"], code=None,
                                 households_now=[int(per.get(c, 0)) for c in now_units["code"]])
        out_of_range = _out_of_range(frame, level, settings)

    plan.status = "archived"
    plan.version = plan.version + 1
    plan.reason = f"{plan.reason or ''} | reverted: {reason}".strip(" |")
    plan.metrics = {**(plan.metrics or {}), "reverted": _jsonable({
        "at": now, "by": user_id, "reason": reason, "restored_ids": [r["id"] for r in restored + restored_grids]})}
    session.flush()
    return {"plan_id": plan.id, "status": plan.status, "level": level, "scope_code": plan.scope_code,
            "reverted_at": _iso(now), "reason": full_reason,
            "restored": [{"code": r["code"], "version": r["version"]} for r in restored],
            "restored_grids": [{"code": r["code"], "version": r["version"]} for r in restored_grids],
            "retired": retired, "reinstated_plans": sorted(reinstated), "four_limits": described,
            "out_of_range": out_of_range}


def _rebind_reinstated(session: Session, plan_ids: list[int], restored: dict[str, list[dict[str, Any]]]) -> None:
    """Point a reinstated plan's adoption record at the restored copies of its rows, so it can be reverted in turn."""
    for pid in plan_ids:
        other = session.get(Plan, pid)
        adoption = dict((other.metrics or {}).get("adoption") or {})
        if not adoption:
            continue
        table = plan_level(other.kind, other.scope_code)
        new_id = {r["code"]: r["id"] for r in restored.get(table, [])}
        codes = dict(session.execute(text(f"SELECT id, code FROM {table} WHERE id = ANY(:ids)"),
                                     {"ids": [int(i) for i in adoption.get("written_ids", [])]}).all())
        adoption["written_ids"] = [new_id.get(codes.get(int(i)), int(i)) for i in adoption.get("written_ids", [])]
        other.metrics = {**other.metrics, "adoption": adoption}


def _restore_rows(session: Session, table: str, ids: list[int], now: dt.datetime, reason: str,
                  user_id: int | None) -> list[dict[str, Any]]:
    """Copy retired rows back as new current versions (geometry, name, four limits and plan as they were)."""
    ids = [int(i) for i in ids]
    if not ids:
        return []
    clash = session.execute(text(
        f"SELECT code FROM {table} WHERE valid_to IS NULL AND code IN (SELECT code FROM {table} WHERE id = ANY(:ids))"),
        {"ids": ids}).scalars().all()
    if clash:
        raise Conflict(f"cannot restore {table}(s) {', '.join(sorted(clash))}: a current {table} holds the code")
    columns = ["district_code", "name", "four_limits", "code", "geom", "plan_id",
               *{"grid": ["community_code", "kind", "level", "parent_grid_code"], "community": ["street_code"],
                 "street": []}[table]]
    rows = session.execute(text(f"""
        INSERT INTO {table} ({', '.join(columns)}, valid_from, version, reason, approved_by)
        SELECT {', '.join('o.' + c for c in columns)}, :now,
               (SELECT max(h.version) FROM {table} h WHERE h.code = o.code) + 1, :reason, :user
        FROM {table} o WHERE o.id = ANY(:ids)
        RETURNING id, code, version"""), {"now": now, "reason": reason, "user": user_id, "ids": ids}).all()
    return sorted(({"id": int(i), "code": c, "version": int(v)} for i, c, v in rows), key=lambda r: r["code"])


# --- for the API --------------------------------------------------------------------------


def check_plan_version(session: Session, plan_id: int, expected_version: int | None) -> int:
    """The plan's version; Conflict naming the current version when it is not ``expected_version``."""
    plan = _get_plan(session, plan_id)
    if expected_version is not None and plan.version != int(expected_version):
        raise Conflict(f"plan {plan.id} is at version {plan.version}, not {expected_version}: it changed since "
                       "you read it", details={"plan_id": plan.id, "current_version": plan.version,
                                               "status": plan.status})
    return plan.version
