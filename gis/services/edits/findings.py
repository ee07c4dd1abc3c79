"""What an edit changes in the tiling and the counts: topology findings before and after, households per unit.

Topology findings (overlaps with siblings, gaps in the parent, parts sticking out, multi-part
units) are compared with those that existed before the edit, and only the area that is new is
reported as created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import geopandas as gpd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from gis.db.levels import PARENT_COLUMN, PARENT_LEVEL, PLURAL, level_table
from gis.db.models import Building
from gis.layers import STORAGE_CRS
from gis.services.edits.geometry import SLIVER_M2, Metric, area_text, lonlat_text, polygonal
from gis.topology import Finding, check_tiling

_TOPOLOGY_KINDS = ("overlap", "gap", "outside_parent", "multipart")


def _frame(units: Sequence[tuple[str, str | None, BaseGeometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [u[0] for u in units], "parent_code": [u[1] for u in units]},
                            geometry=[u[2] for u in units], crs=STORAGE_CRS)


def topology(units: Sequence[tuple[str, str | None, BaseGeometry]], parent_code: str, parent_geom: BaseGeometry,
             level: str) -> list[Finding]:
    """The tiling faults of ``units`` (code, parent code, geometry) in their parent, slivers left out."""
    if not units:
        return []
    found = check_tiling(_frame(units), _frame([(parent_code, None, parent_geom)]), child_level=level,
                         tolerance_m2=SLIVER_M2)
    return [f for f in found if f.kind in _TOPOLOGY_KINDS]


def _same(a: Finding, b: Finding) -> bool:
    """Whether two findings are about the same thing (gaps are matched by place only)."""
    return a.kind == b.kind and (a.kind == "gap" or a.units == b.units)


def _finding_text(kind: str, units: tuple[str, ...], parent_code: str | None, area: float, where: str,
                  level: str) -> str:
    parent_level = PARENT_LEVEL[level]
    if kind == "overlap":
        return f"{PLURAL[level]} {units[0]} and {units[1]} overlap by {area_text(area)} near {where}"
    if kind == "gap":
        nextto = f" (next to {', '.join(units)})" if units else ""
        return (f"gap of {area_text(area)} in {parent_level} {parent_code} not covered by any {level}, "
                f"near {where}{nextto}")
    if kind == "outside_parent":
        return f"{level} {units[0]} sticks out of {parent_level} {parent_code} by {area_text(area)} near {where}"
    return f"{level} {units[0]} is in separate parts; a detached part covers {area_text(area)} near {where}"


def changes(before: list[Finding], after: list[Finding], metric: Metric, level: str) -> dict[str, list[dict[str, Any]]]:
    """Findings after the edit that were not there before (only their new area), and those the edit resolved."""

    def newer(these: list[Finding], than: list[Finding]) -> list[dict[str, Any]]:
        out = []
        for f in these:
            same = [g for g in than if _same(f, g)]
            if f.location is None or f.location.is_empty:
                continue
            old = shapely.union_all([g.location for g in same if g.location is not None]) if same else None
            fresh = polygonal(f.location if old is None or old.is_empty else shapely.difference(f.location, old))
            area = metric.area(fresh)
            if area < SLIVER_M2:
                continue
            where = lonlat_text(fresh)
            out.append({"kind": f.kind, "units": list(f.units), "parent_code": f.parent_code,
                        "area_m2": round(area, 1), "location": [round(v, 6) for v in
                                                               fresh.representative_point().coords[0]],
                        "message": _finding_text(f.kind, f.units, f.parent_code, area, where, level)})
        return out

    return {"created": newer(after, before), "resolved": newer(before, after)}


class UnitHouseholds(TypedDict):
    """Households in a unit (by the point on surface of its buildings), how many are estimates, and buildings."""

    households: int
    estimated_households: int
    buildings: int


def unit_households(session: Session, level: str, parent_code: str) -> dict[str, UnitHouseholds]:
    """Households (and how many of them are estimates) per current unit under a parent."""
    u = level_table(level).c
    b = Building.__table__.c
    inside = and_(func.ST_Intersects(u.geom, b.geom), func.ST_Contains(u.geom, func.ST_PointOnSurface(b.geom)))
    query = (select(u.code, func.coalesce(func.sum(b.households), 0),
                    func.coalesce(func.sum(b.households).filter(b.households_source == "estimated"), 0),
                    func.count(b.id))
             .select_from(level_table(level).outerjoin(Building.__table__, inside))
             .where(u.valid_to.is_(None), u[PARENT_COLUMN[level]] == parent_code).group_by(u.code))
    return {c: {"households": int(h), "estimated_households": int(e), "buildings": int(n)}
            for c, h, e, n in session.execute(query).all()}
