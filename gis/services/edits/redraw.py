"""Redrawing a grid or community: a new boundary for one unit, clipped to its parent within a tolerance."""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from gis.errors import InvalidGeometry, InvalidInput
from gis.services.edits.findings import changes, topology
from gis.services.edits.geometry import (
    SLIVER_M2,
    Metric,
    area_text,
    clean,
    lonlat_text,
    parse_geometry,
    polygonal,
)
from gis.services.edits.units import (
    Unit,
    check_code,
    check_name,
    check_reason,
    check_versions,
    children,
    lock_parent,
    lock_unit,
)
from gis.services.edits.writing import Edit, EditResult, NewVersion, apply
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings

LEVELS = ("grid", "community")
# A unit may reach this far beyond its parent's boundary (digitising noise); the excess is clipped off.
PARENT_TOLERANCE_M = 0.5


def update_boundary(
    session: Session,
    *,
    level: str,
    code: str,
    geometry: Any,
    reason: str,
    expected_version: int | None,
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
    parent_tolerance_m: float = PARENT_TOLERANCE_M,
) -> EditResult:
    """Redraw a grid or community as a new version; returns it with household counts and the findings it created.

    Parameters
    ----------
    level
        ``"grid"`` (its parent is its community) or ``"community"`` (its street).
    geometry
        A GeoJSON Polygon or MultiPolygon in longitude/latitude (CGCS2000). It must be valid
        and lie inside the parent; up to ``parent_tolerance_m`` beyond the parent's boundary is
        digitising noise and is clipped off.
    expected_version
        The version the edit was based on; ``Conflict`` (with ``current_version``) if the
        unit has changed since.
    settings
        When given, each unit's household count is checked against the configured bounds.
    """
    if level not in LEVELS:
        raise InvalidInput(f"level must be grid or community; received {level!r}", details={"field": "level"})
    code = check_code(level, code)
    reason = check_reason(reason, f"redrawing {level} {code}")
    new_name = check_name(name)
    geom = parse_geometry(geometry, where="geometry", kinds=("Polygon", "MultiPolygon"))

    parent = lock_parent(session, level, code, principal)
    unit = lock_unit(session, level, code)
    check_versions([unit], {code: expected_version})
    metric = Metric(parent.geom)
    geom, clipped = _inside_parent(geom, parent, unit_label=f"{level} {code}", metric=metric,
                                   tolerance_m=parent_tolerance_m)
    siblings = children(session, level, parent.code)
    new = NewVersion(code=code, name=new_name or unit.name, geom=geom, previous=unit, kind=unit.kind,
                     grid_level=unit.grid_level, parent_grid_code=unit.parent_grid_code)
    child_before = children(session, "grid", code) if level == "community" else []
    edit = Edit("update", level, parent, [unit], [new], reason,
                {"codes": [code], "clipped_to_parent_m2": round(clipped, 2)})
    result = apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    if level == "community":
        # The community's grids were drawn for the old boundary: say what no longer fits.
        grids = [(g.code, code, g.geom) for g in child_before]
        result["grid_findings"] = changes(topology(grids, code, unit.geom, "grid"),
                                          topology(grids, code, geom, "grid"), metric, "grid")
    result.update({"code": code, "version": result["written"][0]["version"], "name": new.name,
                   "clipped_to_parent_m2": round(clipped, 2)})
    return result


def _inside_parent(geom: BaseGeometry, parent: Unit, *, unit_label: str, metric: Metric,
                   tolerance_m: float) -> tuple[MultiPolygon, float]:
    """``geom`` clipped to its parent, refusing it when it reaches more than ``tolerance_m`` beyond it."""
    g_m, p_m = metric.to_metric(geom), metric.to_metric(parent.geom)
    beyond = polygonal(shapely.difference(g_m, p_m.buffer(tolerance_m)))
    if not beyond.is_empty and beyond.area > 0:
        far = max(float(p_m.distance(shapely.Point(xy))) for xy in shapely.get_coordinates(beyond))
        where = metric.to_lonlat(beyond.representative_point())
        outside = float(polygonal(shapely.difference(g_m, p_m)).area)
        raise InvalidGeometry(
            f"{unit_label} must lie inside {parent.level} {parent.code}: {area_text(outside)} of it lies outside, "
            f"up to {far:,.1f} m beyond the {parent.level} boundary, near {lonlat_text(where)} "
            f"(tolerance {tolerance_m:g} m)",
            details={"parent_code": parent.code, "outside_m2": round(outside, 1), "max_distance_m": round(far, 2),
                     "location": [round(where.x, 6), round(where.y, 6)], "field": "geometry"})
    stray = polygonal(shapely.difference(geom, parent.geom))
    clipped = metric.area(stray)
    if clipped > 0:
        geom = shapely.intersection(geom, parent.geom)
    cleaned = clean(geom, metric)
    if cleaned.is_empty:
        raise InvalidGeometry(f"geometry: {unit_label}: the boundary encloses less than {SLIVER_M2:g} m²",
                              details={"field": "geometry"})
    return cleaned, clipped
