"""What every plan use case shares: plan kinds and scopes, the plan and scope rows, buildings and bounds.

A plan's scope is a community (its units are grids) or a street or district (its units are
communities). The queries here are built from ``gis.db.levels`` (SQLAlchemy Core), so no level
name reaches SQL as text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Integer, Select, cast, func, literal_column, null, select, text
from sqlalchemy.orm import Session

from gis.db.frames import read_frame
from gis.db.levels import CODE_LENGTH, PARENT_COLUMN, PLURAL, level_table
from gis.db.models import AppUser, District, Plan
from gis.errors import InvalidInput, NotFound
from gis.settings import Settings

PLAN_KINDS = ("grid_split", "community_redraw", "manual_edit", "import")
PLAN_STATUSES = ("draft", "proposed", "reviewed", "approved", "adopted", "archived")
UNIT_KINDS = ("general", "dedicated")
CURRENT = "current"

LEVEL_OF_LENGTH = {6: "district", **{length: level for level, length in CODE_LENGTH.items()}}


class Scope(TypedDict):
    """The current parent of a plan's units: a community, street or district."""

    level: str
    code: str
    name: str
    id: int
    version: int | None
    geom: BaseGeometry | None


class OutOfRange(TypedDict):
    """A general unit whose households are outside the bounds, with a sentence saying so."""

    label: str
    code: str | None
    households: int
    min: int
    max: int
    text: str


# --- levels and scopes --------------------------------------------------------------------


def plan_level(kind: str, scope_code: str) -> str:
    """The level of the units of a plan: ``"grid"`` (scope a community) or ``"community"`` (a street or district)."""
    if kind not in PLAN_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PLAN_KINDS)}; received {kind!r}", details={"field": "kind"})
    code = str(scope_code or "").strip()
    if not code.isdigit() or len(code) not in (6, 9, 12):
        raise InvalidInput(
            f"scope_code must be a 12-digit community code (grid plans) or a 9-digit street or 6-digit district "
            f"code (community plans); received {scope_code!r}", details={"field": "scope_code"})
    level = "grid" if len(code) == 12 else "community"
    if kind == "grid_split" and level != "grid":
        raise InvalidInput(f"scope_code: a grid_split plan's scope is a 12-digit community code; received {code}",
                           details={"field": "scope_code"})
    if kind == "community_redraw" and level != "community":
        raise InvalidInput(f"scope_code: a community_redraw plan's scope is a 9-digit street or 6-digit district "
                           f"code; received {code}", details={"field": "scope_code"})
    return level


def scope_level(scope_code: str) -> str:
    """The level of a scope by its code's length: district, street or community."""
    return LEVEL_OF_LENGTH[len(scope_code)]


def _locked(query: Select[Any], lock: bool) -> Select[Any]:
    return query.with_for_update() if lock else query


def scope_row(session: Session, level: str, scope_code: str, *, lock: bool = False) -> Scope:
    """The current parent of a plan's units (community, street or district), optionally locked."""
    parent_level = scope_level(scope_code)
    if parent_level == "district":
        d = District.__table__.c
        query = select(d.id, d.code, d.name, cast(null(), Integer).label("version"),
                       func.ST_AsBinary(d.geom).label("geom")).where(d.code == scope_code)
    else:
        t = level_table(parent_level).c
        query = select(t.id, t.code, t.name, t.version, func.ST_AsBinary(t.geom).label("geom")).where(
            t.code == scope_code, t.valid_to.is_(None))
    frame = read_frame(session, _locked(query, lock))
    if frame.empty:
        raise NotFound(f"{parent_level} {scope_code} has no current boundary; a plan for its {PLURAL[level]} "
                       f"needs one", details={"scope_code": scope_code})
    row = frame.iloc[0]
    version = row["version"]
    geom = row.geometry
    return {"level": parent_level, "code": scope_code, "name": row["name"], "id": int(row["id"]),
            "version": None if pd.isna(version) else int(version),
            "geom": None if geom is None or geom.is_empty else geom}


def current_units(session: Session, level: str, scope_code: str, *, lock: bool = False) -> gpd.GeoDataFrame:
    """Current units of a plan's level inside its scope, optionally locked (``FOR UPDATE``).

    Columns ``id, code, name, version, parent_code, kind, plan_id, valid_from`` and the geometry.
    """
    t = level_table(level).c
    if level == "grid":
        # Level-1 grids: level-2 grids follow their parent (gis.services.levels).
        where, kind = [t.community_code == scope_code, t.level == 1], t.kind.label("kind")
    else:
        column = "street_code" if len(scope_code) == 9 else "district_code"
        where, kind = [t[column] == scope_code], literal_column("'general'::text").label("kind")
    query = select(t.id, t.code, t.name, t.version, t[PARENT_COLUMN[level]].label("parent_code"),
                   kind, t.plan_id, t.valid_from, func.ST_AsBinary(t.geom).label("geom")).where(
        *where, t.valid_to.is_(None)).order_by(t.code)
    return read_frame(session, _locked(query, lock))


def _plan_query(plan_id: int) -> Select[Any]:
    return select(Plan).where(Plan.id == int(plan_id)).execution_options(populate_existing=True)


def lock_plan(session: Session, plan_id: int) -> Plan:
    """The plan, locked for update; ``NotFound`` when there is none."""
    plan: Plan | None = session.execute(_plan_query(plan_id).with_for_update()).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist", details={"plan_id": plan_id})
    return plan


def get_plan(session: Session, plan_id: int) -> Plan:
    """The plan as stored now; ``NotFound`` when there is none."""
    plan: Plan | None = session.execute(_plan_query(plan_id)).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"plan {plan_id} does not exist", details={"plan_id": plan_id})
    return plan


def find_user_id(session: Session, username: str) -> int | None:
    """The id of the app user with this username, or None when there is no such user."""
    return session.scalar(select(AppUser.id).where(AppUser.username == str(username).strip()))


def check_user(session: Session, user_id: int | None, what: str) -> None:
    """``NotFound`` when ``user_id`` names no user (``what`` says which use of it)."""
    if user_id is not None and session.get(AppUser, int(user_id)) is None:
        raise NotFound(f"{what}: user {user_id} does not exist", details={"user_id": user_id})


# --- values -------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Plain JSON values for jsonb: numpy scalars and arrays, dates, sets and tuples converted; NaN and inf as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray | pd.Series):
        return [jsonable(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def iso(value: Any) -> str | None:
    """A timestamp as ISO 8601 text (anything else as it is)."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


def shown(items: list[str], first: int = 5) -> str:
    """The first few of ``items`` joined, and how many more there are."""
    return "; ".join(items[:first]) + (f"; and {len(items) - first} more" if len(items) > first else "")


def count_text(n: int, level: str) -> str:
    """``1 grid``, ``3 grids``."""
    return f"{n} {level if n == 1 else PLURAL[level]}"


def db_now(session: Session, after: Iterable[dt.datetime]) -> dt.datetime:
    """The database clock, after every ``valid_from`` of the rows being retired (valid_to > valid_from)."""
    now: dt.datetime = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    latest = max((pd.Timestamp(v).to_pydatetime() for v in after), default=None)
    if latest is not None and latest >= now:
        now = latest + dt.timedelta(microseconds=1)
    return now


# --- households and bounds ----------------------------------------------------------------


def household_bounds(settings: Settings, level: str) -> tuple[int, int]:
    """The configured (min, max) households of a general unit of ``level``."""
    if level == "grid":
        return settings.grid_min_households, settings.grid_max_households
    return settings.community_min_households, settings.community_max_households


def in_range(households: int, kind: str, lo: int, hi: int) -> bool | None:
    """Whether a unit is within the bounds; None for a dedicated grid (exempt)."""
    return None if kind == "dedicated" else lo <= households <= hi


def out_of_range(units: gpd.GeoDataFrame, level: str, settings: Settings) -> list[OutOfRange]:
    """The general units (``label, code, kind, households_now``) outside the household bounds."""
    lo, hi = household_bounds(settings, level)
    out: list[OutOfRange] = []
    for r in units.itertuples():
        n = int(r.households_now)
        if in_range(n, r.kind, lo, hi) is False:
            name = f"{level} {r.label}" + (f" ({r.code})" if r.code else "")
            out.append({"label": r.label, "code": r.code, "households": n, "min": lo, "max": hi,
                        "text": f"{name} has {n} households, "
                                + (f"below the minimum of {lo}" if n < lo else f"above the maximum of {hi}")})
    return out


def building_points(session: Session, bounds: Iterable[float] | None) -> gpd.GeoDataFrame:
    """Buildings whose footprint meets a bounding box, as their points on surface (none without a box)."""
    if bounds is None:
        return gpd.GeoDataFrame({"building_id": [], "households": []}, geometry=[], crs="EPSG:4490")
    x0, y0, x1, y1 = (float(v) for v in bounds)
    return read_frame(session, """
        SELECT id AS building_id, households, name, address, ST_AsBinary(ST_PointOnSurface(geom)) AS geom
        FROM building WHERE geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)""",
                      {"x0": x0, "y0": y0, "x1": x1, "y1": y1})


def total_bounds(*frames: gpd.GeoDataFrame) -> tuple[float, float, float, float] | None:
    """The box around every non-empty frame, or None when all are empty."""
    boxes = [f.total_bounds for f in frames if not f.empty]
    if not boxes:
        return None
    arr = np.vstack(boxes)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())
