"""Plan storage: a suggestion stored as a draft (its units and building assignment), and plans read back.

``store_plan`` checks every unit and assignment row before anything is written and records the
versions of the scope's current units the draft was computed against (for the staleness check at
adoption). ``list_plans``, ``show_plan`` and ``plan_geojson`` read plans for the API, CLI and pages.
"""

from __future__ import annotations

from typing import Any, NamedTuple, NotRequired, TypedDict, cast

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis.db.frames import allocate_ids, copy_rows, ewkb_hex, read_frame
from gis.db.levels import CODE_LENGTH
from gis.db.models import AppUser, Plan
from gis.errors import Conflict, CRSMismatch, InvalidGeometry, InvalidInput, NotFound
from gis.layers import STORAGE_CRS
from gis.services import approvals as approval_service
from gis.services.plans.scope import (
    PLAN_KINDS,
    PLAN_STATUSES,
    UNIT_KINDS,
    check_user,
    current_units,
    get_plan,
    household_bounds,
    in_range,
    iso,
    jsonable,
    plan_level,
    scope_row,
)
from gis.settings import Settings

_ACCEPTED_CRS = ("EPSG:4490", "EPSG:4326")


class PlanSummary(TypedDict):
    """A plan in the list: its fields, who made and adopted it, and its unit and household totals."""

    id: int
    kind: str
    status: str
    scope_code: str
    district_code: str
    created_at: str | None
    adopted_at: str | None
    reason: str | None
    document_no: str | None
    version: int
    base_plan_id: int | None
    metrics: dict[str, Any]
    created_by: str | None
    adopted_by: str | None
    units: int
    households: int


class PlanUnitRow(TypedDict):
    """A unit of a plan, with whether it is within the household bounds (None: a dedicated grid)."""

    label: str
    code: str | None
    parent_code: str
    kind: str
    locked: bool
    households: int
    in_range: bool | None
    code_status: NotRequired[str | None]


class PlanDetail(TypedDict):
    """``show_plan``: a plan's fields, parameters, metrics, approvals and units."""

    id: int
    kind: str
    status: str
    level: str
    scope_code: str
    district_code: str
    version: int
    base_plan_id: int | None
    created_at: str | None
    created_by: str | None
    adopted_at: str | None
    adopted_by: str | None
    reason: str | None
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    document_no: NotRequired[str | None]
    approvals: list[Any]
    bounds: dict[str, int]
    summary: dict[str, int]
    units: list[PlanUnitRow]


class PlanGeoJSON(TypedDict):
    """``plan_geojson``: the plan's units as a FeatureCollection, with the plan's id, kind, status and scope."""

    type: str
    plan: dict[str, Any]
    features: list[dict[str, Any]]


# --- storing ------------------------------------------------------------------------------


def store_plan(
    session: Session,
    *,
    kind: str,
    scope_code: str,
    district_code: str,
    units: gpd.GeoDataFrame,
    assignment: pd.DataFrame,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
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
        raise InvalidInput(f"district_code: scope {scope_code} is not in district {district_code!r}; "
                           f"a scope code starts with its 6-digit district code", details={"field": "district_code"})
    frame = _checked_units(units, level=level, scope_code=scope_code)
    assign = _checked_assignment(assignment, labels=set(frame["label"]))
    scope = scope_row(session, level, scope_code)
    _check_buildings_exist(session, assign["building_id"])
    if base_plan_id is not None and session.get(Plan, int(base_plan_id)) is None:
        raise NotFound(f"base plan {base_plan_id} does not exist", details={"field": "base_plan_id"})
    check_user(session, created_by, "created_by")

    params = jsonable(dict(parameters or {}))
    if "base_versions" not in params:
        current = current_units(session, level, scope_code)
        params["base_versions"] = {str(c): int(v) for c, v in zip(current["code"], current["version"], strict=True)}
    params.setdefault("scope_version", scope["version"])

    plan = Plan(district_code=district_code, kind=kind, scope_code=scope_code, status="draft", parameters=params,
                metrics=jsonable(dict(metrics or {})), base_plan_id=base_plan_id, created_by=created_by,
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


def _units_error(message: str) -> InvalidInput:
    return InvalidInput(message, details={"field": "units"})


def _checked_units(units: gpd.GeoDataFrame, *, level: str, scope_code: str) -> gpd.GeoDataFrame:
    """The units as store_plan writes them, or InvalidInput naming the unit and the column."""
    if not isinstance(units, gpd.GeoDataFrame):
        raise _units_error(f"units must be a GeoDataFrame; received {type(units).__name__}")
    if units.empty:
        raise _units_error(f"units is empty; a plan for {scope_code} needs at least one unit")
    missing = [c for c in ("label", "households", "parent_code") if c not in units.columns]
    if missing:
        raise _units_error(f"units lacks column(s) {', '.join(missing)}; received columns "
                           f"{', '.join(map(str, units.columns))}")
    if units.crs is None or not any(units.crs.equals(c) for c in _ACCEPTED_CRS):
        raise CRSMismatch(f"units must be in {STORAGE_CRS}; received {units.crs.to_string() if units.crs else None}",
                          details={"field": "units"})

    labels = [str(v).strip() if v is not None and not pd.isna(v) else "" for v in units["label"]]
    if any(not lab or len(lab) > 50 for lab in labels):
        raise _units_error("units: every unit needs a label of 1 to 50 characters; received "
                           + ", ".join(repr(lab) for lab in labels if not lab or len(lab) > 50))
    dup = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dup:
        raise _units_error(f"units: unit labels must be unique; repeated: {', '.join(dup)}")

    def column(name: str, default: Any) -> list[Any]:
        values = units[name] if name in units.columns else [default] * len(units)
        return [v if v is not None and not pd.isna(v) else default for v in values]

    rows = [_checked_unit(_UnitIn(lab, str(kind), bool(lock), hh, parent, code, geom), level=level,
                          scope_code=scope_code)
            for lab, kind, lock, hh, parent, code, geom in zip(
                labels, column("kind", "general"), column("locked", False), units["households"],
                units["parent_code"], units["code"] if "code" in units.columns else [None] * len(units),
                units.geometry, strict=True)]
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)
    kept = frame["code"].dropna()
    dup = sorted(set(kept[kept.duplicated()]))
    if dup:
        raise _units_error(f"units {', '.join(frame.loc[frame['code'].isin(dup), 'label'])} all keep code "
                           f"{dup[0]}; a code belongs to one unit")
    return frame


class _UnitIn(NamedTuple):
    """One unit row as the caller gave it."""

    label: str
    kind: str
    locked: bool
    households: Any
    parent_code: Any
    code: Any
    geometry: BaseGeometry | None


def _checked_unit(unit: _UnitIn, *, level: str, scope_code: str) -> dict[str, Any]:
    """One unit as store_plan writes it (a MultiPolygon, a whole number of households), else InvalidInput."""
    where = f"units: unit {unit.label}"
    if unit.kind not in UNIT_KINDS:
        raise _units_error(f"{where}: kind must be general or dedicated; received {unit.kind!r}")
    if level == "community" and unit.kind != "general":
        raise _units_error(f"{where}: communities are general units; received kind {unit.kind!r}")
    hh = unit.households
    try:
        households = int(hh)
    except (TypeError, ValueError):
        households = -1
    if households < 0 or (isinstance(hh, float) and not float(hh).is_integer()):
        raise _units_error(f"{where}: households must be a whole number >= 0; received {hh!r}")
    parent = str(unit.parent_code).strip() if unit.parent_code is not None and not pd.isna(unit.parent_code) else ""
    if level == "grid" and parent != scope_code:
        raise _units_error(f"{where}: parent_code must be the plan's community {scope_code}; received {parent!r}")
    if level == "community" and not (parent == scope_code or (len(parent) == 9 and parent.startswith(scope_code))):
        raise _units_error(f"{where}: parent_code must be street {scope_code}"
                           if len(scope_code) == 9 else
                           f"{where}: parent_code must be district {scope_code} or one of its 9-digit streets; "
                           f"received {parent!r}")
    code = unit.code
    if code is None or (not isinstance(code, str) and pd.isna(code)) or str(code).strip() == "":
        code = None
    else:
        code = str(code).strip()
        prefix = parent if len(parent) > 6 else scope_code
        want = CODE_LENGTH[level]
        if len(code) != want or not code.isdigit() or not code.startswith(prefix):
            raise _units_error(f"{where}: code {code!r} is not a {want}-digit {level} code under {prefix}")
    geom = unit.geometry
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidGeometry(f"{where}: geometry must be a non-empty Polygon or MultiPolygon; received "
                              f"{'nothing' if geom is None or geom.is_empty else geom.geom_type}",
                              details={"field": "units"})
    if geom.geom_type == "Polygon":
        geom = shapely.MultiPolygon([geom])
    return {"label": unit.label, "kind": unit.kind, "locked": unit.locked, "households": households,
            "parent_code": parent, "code": code, "geometry": geom}


def _checked_assignment(assignment: pd.DataFrame, *, labels: set[str]) -> pd.DataFrame:
    """``building_id`` (whole, each once) and ``label`` (one of ``labels``), else InvalidInput."""
    def error(message: str) -> InvalidInput:
        return InvalidInput(message, details={"field": "assignment"})

    if not isinstance(assignment, pd.DataFrame):
        raise error(f"assignment must be a DataFrame; received {type(assignment).__name__}")
    missing = [c for c in ("building_id", "label") if c not in assignment.columns]
    if missing:
        raise error(f"assignment lacks column(s) {', '.join(missing)}; received columns "
                    f"{', '.join(map(str, assignment.columns))}")
    try:
        ids = assignment["building_id"].astype("int64")
    except (TypeError, ValueError) as exc:
        raise error(f"assignment.building_id must be whole numbers ({exc})") from None
    out = pd.DataFrame({"building_id": ids.to_numpy(), "label": assignment["label"].astype(str).str.strip()})
    dup = sorted(set(out.loc[out["building_id"].duplicated(), "building_id"]))
    if dup:
        raise error(f"assignment puts building(s) {', '.join(map(str, dup[:10]))} in more than one unit")
    unknown = sorted(set(out["label"]) - labels)
    if unknown:
        raise error(f"assignment names unit label(s) {', '.join(unknown[:10])} that are not among the units")
    return out


def _check_buildings_exist(session: Session, ids: pd.Series) -> None:
    if ids.empty:
        return
    missing = session.execute(text(
        "SELECT i FROM unnest(CAST(:ids AS bigint[])) AS i WHERE NOT EXISTS (SELECT 1 FROM building b WHERE b.id = i) "
        "ORDER BY i LIMIT 10"), {"ids": [int(i) for i in ids]}).scalars().all()
    if missing:
        raise NotFound(f"assignment names building(s) {', '.join(map(str, missing))} that do not exist",
                       details={"field": "assignment"})


# --- reading ------------------------------------------------------------------------------


def list_plans(session: Session, *, scope_code: str | None = None, kind: str | None = None,
               status: str | None = None) -> list[PlanSummary]:
    """Plans, newest first, optionally of one scope, kind or status, with unit and household totals."""
    if kind is not None and kind not in PLAN_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PLAN_KINDS)}; received {kind!r}", details={"field": "kind"})
    if status is not None and status not in PLAN_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(PLAN_STATUSES)}; received {status!r}",
                           details={"field": "status"})
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
    out: list[PlanSummary] = []
    for r in rows:
        item: dict[str, Any] = dict(r)
        item["created_at"] = iso(item["created_at"])
        item["adopted_at"] = iso(item["adopted_at"])
        item["units"] = int(item["units"])
        item["households"] = int(item["households"])
        item["metrics"] = {k: v for k, v in (item["metrics"] or {}).items() if k != "adoption"}
        out.append(cast(PlanSummary, item))
    return out


def plan_units(session: Session, plan_id: int) -> gpd.GeoDataFrame:
    """The stored units of a plan (``id, label, code, parent_code, kind, locked, households``), by label."""
    units = read_frame(session, """
        SELECT id, label, code, parent_code, kind, locked, households, ST_AsBinary(geom) AS geom
        FROM plan_unit WHERE plan_id = :p ORDER BY label""", {"p": plan_id})
    units["code"] = units["code"].astype(object).where(units["code"].notna(), None)
    return units


def _username(session: Session, user_id: int | None) -> str | None:
    return None if user_id is None else session.scalar(select(AppUser.username).where(AppUser.id == user_id))


def show_plan(session: Session, plan_id: int, *, settings: Settings | None = None) -> PlanDetail:
    """A plan's fields, parameters, metrics and units, each unit with whether it is within the bounds."""
    plan = get_plan(session, plan_id)
    if plan.kind == "micro_split":
        from gis.services.levels import show_micro_plan  # level-2 grids: bounds 1..max, parent a grid

        return cast(PlanDetail, show_micro_plan(session, plan, settings=settings))
    level = plan_level(plan.kind, plan.scope_code)
    lo, hi = household_bounds(settings or Settings(), level)
    units = plan_units(session, plan.id)
    buildings = session.execute(text("SELECT count(*) FROM plan_assignment WHERE plan_id = :p"),
                                {"p": plan.id}).scalar_one()
    unit_rows: list[PlanUnitRow] = [
        {"label": r.label, "code": r.code, "parent_code": r.parent_code, "kind": r.kind, "locked": bool(r.locked),
         "households": int(r.households), "in_range": in_range(int(r.households), r.kind, lo, hi)}
        for r in units.itertuples()]
    checked = [u for u in unit_rows if u["in_range"] is not None]
    if level == "community":
        statuses = approval_service.code_statuses(session, [u["code"] for u in unit_rows if u["code"]])
        for u in unit_rows:
            u["code_status"] = statuses[u["code"]]["status"] if u["code"] else None
    return {
        "id": plan.id, "kind": plan.kind, "status": plan.status, "level": level, "scope_code": plan.scope_code,
        "district_code": plan.district_code, "version": plan.version, "base_plan_id": plan.base_plan_id,
        "created_at": iso(plan.created_at), "created_by": _username(session, plan.created_by),
        "adopted_at": iso(plan.adopted_at), "adopted_by": _username(session, plan.adopted_by),
        "reason": plan.reason, "parameters": plan.parameters, "metrics": plan.metrics,
        "document_no": plan.document_no, "approvals": approval_service.approval_history(session, plan.id),
        "bounds": {"min": lo, "max": hi},
        "summary": {"units": len(unit_rows), "households": sum(u["households"] for u in unit_rows),
                    "buildings": int(buildings), "in_range": sum(1 for u in checked if u["in_range"]),
                    "out_of_range": sum(1 for u in checked if not u["in_range"]),
                    "dedicated": len(unit_rows) - len(checked)},
        "units": unit_rows,
    }


def plan_geojson(session: Session, plan_id: int) -> PlanGeoJSON:
    """The plan's units as a GeoJSON FeatureCollection (lon/lat) for maps."""
    plan = get_plan(session, plan_id)
    units = plan_units(session, plan.id)
    features = [{
        "type": "Feature",
        "properties": {"label": r.label, "code": r.code, "parent_code": r.parent_code, "kind": r.kind,
                       "locked": bool(r.locked), "households": int(r.households)},
        "geometry": mapping(r.geometry),
    } for r in units.itertuples()]
    return {"type": "FeatureCollection",
            "plan": {"id": plan.id, "kind": plan.kind, "status": plan.status, "scope_code": plan.scope_code},
            "features": jsonable(features)}


def check_plan_version(session: Session, plan_id: int, expected_version: int | None) -> int:
    """The plan's version; Conflict naming the current version when it is not ``expected_version``."""
    plan = get_plan(session, plan_id)
    if expected_version is not None and plan.version != int(expected_version):
        raise Conflict(f"plan {plan.id} is at version {plan.version}, not {expected_version}: it changed since "
                       "you read it", details={"plan_id": plan.id, "current_version": plan.version,
                                               "status": plan.status})
    return plan.version
