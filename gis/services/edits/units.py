"""The boundary rows an edit reads and locks: a unit, its parent and siblings, checked codes and versions.

An edit names the version it was based on. The rows it replaces are locked
(``SELECT ... FOR UPDATE``, in code order so two edits never wait on each other in a
circle) and their version compared with the expected one: a stale edit gets ``Conflict``
with ``details["current_version"]``. A transaction that waited for the lock while another
edit replaced the row finds no current row in its first look (PostgreSQL re-checks the
locked row, which is no longer current) and looks again, now seeing the new version.
The parent boundary is locked too (shared for reshaping, exclusive when new codes are
given out), so a grid is checked against the community it is really in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gis.db.frames import read_frame
from gis.db.levels import CODE_LENGTH, PARENT_COLUMN, PARENT_LEVEL, level_table
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.users import Principal


@dataclass
class Unit:
    """One current boundary row (grid, community or street)."""

    level: str
    id: int
    code: str
    name: str
    version: int
    parent_code: str | None
    district_code: str
    valid_from: dt.datetime
    geom: BaseGeometry
    kind: str = "general"
    grid_level: int = 1
    parent_grid_code: str | None = None


def _select_units(level: str) -> Select[Any]:
    """The current rows of ``level`` with what ``Unit`` holds (level-1/2 and kind for grids)."""
    t = level_table(level).c
    extra = [t.kind, t.level.label("grid_level"), t.parent_grid_code] if level == "grid" else []
    return select(t.id, t.code, t.name, t.version, t[PARENT_COLUMN[level]].label("parent_code"), t.district_code,
                  t.valid_from, *extra, func.ST_AsBinary(t.geom).label("geom")).where(t.valid_to.is_(None))


def _units_from(frame: gpd.GeoDataFrame, level: str) -> list[Unit]:
    out = []
    for r in frame.itertuples():
        unit = Unit(level=level, id=int(r.id), code=r.code, name=r.name, version=int(r.version),
                    parent_code=r.parent_code, district_code=r.district_code,
                    valid_from=pd.Timestamp(r.valid_from).to_pydatetime(), geom=r.geometry)
        if level == "grid":
            unit.kind, unit.grid_level = r.kind, int(r.grid_level)
            unit.parent_grid_code = None if pd.isna(r.parent_grid_code) else r.parent_grid_code
        out.append(unit)
    return out


def lock_unit(session: Session, level: str, code: str, *, mode: str = "UPDATE") -> Unit:
    """The current row of ``code``, locked (``FOR UPDATE``, or ``FOR SHARE`` with ``mode="SHARE"``)."""
    query = _select_units(level).where(level_table(level).c.code == code).with_for_update(read=mode == "SHARE")
    frame = read_frame(session, query)
    if frame.empty:
        # A concurrent edit may have replaced the row while we waited for its lock: the row we
        # waited for is no longer current and the new one was not in our snapshot. Look again.
        frame = read_frame(session, query)
    if frame.empty:
        raise NotFound(f"{level} {code} has no current boundary", details={"code": code})
    return _units_from(frame, level)[0]


def children(session: Session, level: str, parent_code: str) -> list[Unit]:
    """The current units of ``level`` under a parent (not locked)."""
    t = level_table(level).c
    frame = read_frame(session, _select_units(level).where(t[PARENT_COLUMN[level]] == parent_code).order_by(t.code))
    return _units_from(frame, level)


def check_code(level: str, code: str, *, field: str = "code") -> str:
    """``code`` stripped if it has the digits of a ``level`` code; else ``InvalidInput`` on ``field``."""
    code = str(code or "").strip()
    if not code.isdigit() or len(code) != CODE_LENGTH[level]:
        raise InvalidInput(f"{field}: a {level} code has {CODE_LENGTH[level]} digits; received {code!r}",
                           details={"field": field})
    return code


def check_name(name: str | None, *, field: str = "name") -> str | None:
    """A new name stripped, 1 to 100 characters (None: keep the name or a placeholder)."""
    new_name = None if name is None else str(name).strip()
    if new_name is not None and not 1 <= len(new_name) <= 100:
        raise InvalidInput(f"{field}: 1 to 100 characters; received {name!r}", details={"field": field})
    return new_name


def check_reason(reason: str | None, what: str) -> str:
    """The reason stripped; ``InvalidInput`` when there is none (history keeps it)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(f"reason: {what} needs a reason (it is kept in the boundary history)",
                           details={"field": "reason"})
    return reason


def check_versions(units: list[Unit], expected: dict[str, int | None], *, field: str = "version") -> None:
    """Conflict unless every unit is at the version the edit was based on (``field`` names where it is sent)."""
    missing = [u.code for u in units if expected.get(u.code) is None]
    if missing:
        raise InvalidInput(f"{field}: send the version you read of {units[0].level} {', '.join(missing)} (If-Match "
                           f"or version/versions in the body), so that no change is overwritten unseen",
                           details={"missing_versions": missing, "field": field})
    stale = [u for u in units if int(expected[u.code] or 0) != u.version]
    if stale:
        first = stale[0]
        said = "; ".join(f"{u.level} {u.code} is at version {u.version}, not {expected[u.code]}" for u in stale)
        raise Conflict(f"{said}: it changed since you read it; reload it and redo the edit",
                       details={"code": first.code, "current_version": first.version,
                                "current_versions": {u.code: u.version for u in units}})


def lock_parent(session: Session, level: str, code: str, principal: Principal, *,
                exclusive: bool = False) -> Unit:
    """The parent of ``code`` (by its code prefix), locked, after checking the editor's district."""
    parent_level = PARENT_LEVEL[level]
    parent_code = code[:CODE_LENGTH[parent_level]]
    if principal.district_code and parent_code[:6] != principal.district_code:
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code} and may not edit "
                               f"{level} {code} of district {parent_code[:6]}")
    return lock_unit(session, parent_level, parent_code, mode="UPDATE" if exclusive else "SHARE")
