"""Splitting a grid or a community in two along a line drawn across it; new parts get fresh codes."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import split as split_geometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.codes import assign_codes
from gis.errors import InvalidGeometry, InvalidInput
from gis.layers import STORAGE_CRS
from gis.services import approvals as approval_service
from gis.services.boundaries import codes_ever_used
from gis.services.edits.geometry import (
    Metric,
    extend,
    lonlat_text,
    parse_geometry,
    parts,
)
from gis.services.edits.redraw import PARENT_TOLERANCE_M
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
from gis.services.edits.writing import Edit, EditResult, NewVersion, apply, retire_grids_of, staff_of
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings


def split_grid(
    session: Session,
    *,
    code: str,
    line: Any,
    reason: str,
    expected_version: int | None,
    names: list[str] | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> EditResult:
    """Cut a grid in two along a line: the grid is retired and two grids with new codes tile it.

    ``line`` is a GeoJSON LineString (lon/lat) crossing the grid from edge to edge; its ends
    are extended by ``PARENT_TOLERANCE_M`` so a line drawn to the boundary reaches it. New codes
    follow every code ever used in the community (reading order, north-west first); ``names``
    (two, in the order of the new codes) default to placeholders a planner renames.
    """
    code = check_code("grid", code)
    reason = check_reason(reason, f"splitting grid {code}")
    cut = parse_geometry(line, where="line", kinds=("LineString",))
    if names is not None:
        names = [str(n).strip() for n in names]
        if len(names) != 2 or not all(1 <= len(n) <= 100 for n in names):
            raise InvalidInput(f"names: two names of 1 to 100 characters, one per new grid; received {names!r}",
                               details={"field": "names"})

    # Exclusive on the community: new codes are given out, so two splits must not pick the same one.
    parent = lock_parent(session, "grid", code, principal, exclusive=True)
    unit = lock_unit(session, "grid", code)
    check_versions([unit], {code: expected_version})
    metric = Metric(parent.geom)
    pieces = _cut(unit, cut, metric)
    if len(pieces) < 2:
        inside = [p for p in (cut.coords[0], cut.coords[-1]) if unit.geom.contains(shapely.Point(p))]
        hint = (f"; it ends inside the grid near {lonlat_text(shapely.Point(inside[0]))}" if inside
                else "; it does not cross it")
        raise InvalidGeometry(f"the line does not cut grid {code} in two: draw it across the grid from one edge to "
                              f"another{hint}", details={"pieces": len(pieces), "field": "line"})
    if len(pieces) > 2:
        raise InvalidGeometry(f"the line cuts grid {code} into {len(pieces)} pieces; draw a line that crosses it "
                              f"once, so that it falls in two", details={"pieces": len(pieces), "field": "line"})
    frame = gpd.GeoDataFrame(geometry=[MultiPolygon([p]) for p in pieces], crs=STORAGE_CRS)
    codes = assign_codes(frame, parent_code=parent.code, existing_codes=codes_ever_used(session, "grid", parent.code))
    order = sorted(frame.index, key=lambda i: codes[i])
    if names is None:
        names = [f"{parent.name}第{int(codes[i][-3:])}网格"[:100] for i in order]
    write = [NewVersion(code=codes[i], name=n, geom=frame.geometry[i], kind=unit.kind, grid_level=unit.grid_level,
                        parent_grid_code=unit.parent_grid_code) for i, n in zip(order, names, strict=True)]
    siblings = children(session, "grid", parent.code)
    edit = Edit("split", "grid", parent, [unit], write, reason,
                {"codes": [code], "new_codes": [w.code for w in write], "line": mapping(cut)})
    result = apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update({"code": code, "new_codes": [w.code for w in write]})
    return result


def _cut(unit: Unit, line: BaseGeometry, metric: Metric) -> list[Polygon]:
    """The pieces (larger than a sliver, largest first) of ``unit`` cut along ``line``, its ends extended a little.

    The ends reach ``PARENT_TOLERANCE_M`` further, so a line drawn to the boundary crosses it.
    """
    blade = metric.to_lonlat(extend(metric.to_metric(line), PARENT_TOLERANCE_M))
    return parts(split_geometry(unit.geom, blade), metric)


def _households_in(session: Session, geom: BaseGeometry) -> int:
    """Households of the buildings whose point on surface falls in ``geom``."""
    return int(session.execute(text(
        "SELECT COALESCE(SUM(households), 0) FROM building WHERE geom && ST_GeomFromEWKT(:g) "
        "AND ST_Contains(ST_GeomFromEWKT(:g), ST_PointOnSurface(geom))"),
        {"g": f"SRID=4490;{geom.wkt}"}).scalar_one())


def split_community(
    session: Session,
    *,
    code: str,
    line: Any,
    reason: str,
    expected_version: int | None,
    name: str | None = None,
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> EditResult:
    """Cut a community in two along a line: the part with more households keeps the code, the other is new.

    The new community's code follows every code ever used in the street inside the committee range
    of the old one (居委会 001–199, 村委会 200–399) and is provisional until confirmed
    (``wangge plan confirm-code``). The community's grids are retired: both parts need a grid split.
    """
    code = check_code("community", code)
    reason = check_reason(reason, f"splitting community {code}")
    cut = parse_geometry(line, where="line", kinds=("LineString",))
    new_name = check_name(name)

    # Exclusive on the street: a new code is given out, so two splits must not pick the same one.
    parent = lock_parent(session, "community", code, principal, exclusive=True)
    unit = lock_unit(session, "community", code)
    check_versions([unit], {code: expected_version})
    metric = Metric(parent.geom)
    pieces = _cut(unit, cut, metric)
    if len(pieces) != 2:
        raise InvalidGeometry(f"the line cuts community {code} into {len(pieces)} piece(s); draw a line across the "
                              f"community from one edge to another, crossing it once",
                              details={"pieces": len(pieces), "field": "line"})
    households = [_households_in(session, p) for p in pieces]
    keep = max(range(2), key=lambda i: (households[i], metric.area(pieces[i])))
    committee = approval_service.committee_of(code) or "neighbourhood"
    new_code = approval_service.next_code_in_range(codes_ever_used(session, "community", parent.code),
                                                   street_code=parent.code, committee=committee,
                                                   what=f"splitting community {code}")
    write = [NewVersion(code=code, name=unit.name, geom=MultiPolygon([pieces[keep]]), previous=unit),
             NewVersion(code=new_code, name=new_name or f"{parent.name}第{int(new_code[-3:])}社区"[:100],
                        geom=MultiPolygon([pieces[1 - keep]]))]
    siblings = children(session, "community", parent.code)
    edit = Edit("split", "community", parent, [unit], write, reason,
                {"codes": [code], "new_codes": [new_code], "line": mapping(cut)})
    result = apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    approval_service.record_new_codes(session, codes={new_code: committee}, plan_id=result["plan_id"])
    retired_grids = retire_grids_of(session, result["plan_id"], [code])
    result.update({"code": code, "new_codes": [new_code], "code_status": {new_code: "provisional"},
                   "retired_grids": retired_grids, "needs_grid_split": [code, new_code],
                   "staff_to_reassign": staff_of(session, [g for r in retired_grids for g in r["grids"]])})
    return result
