"""Moving whole buildings to a bordering grid: the buildings' cells in the grid's tessellation change grid."""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.frames import read_frame
from gis.errors import InvalidGeometry, InvalidInput, NotFound
from gis.partition.cells import build_cells
from gis.services import privacy
from gis.services.edits.geometry import (
    Metric,
    area_text,
    clean,
    lonlat_text,
    parts,
)
from gis.services.edits.units import (
    Unit,
    check_code,
    check_reason,
    check_versions,
    children,
    lock_parent,
    lock_unit,
)
from gis.services.edits.writing import Edit, EditResult, NewVersion, apply
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings

# Grids "border" each other when they share at least this much boundary (a corner touch is not enough).
MIN_SHARED_BOUNDARY_M = 1.0
# The moved cells are widened by this before they are cut out of the source grid, so the cut reaches
# the grid's own edges exactly (the cells were computed in metres and reprojected).
_CUT_OVERLAP_M = 0.01
# Vertices this close (degrees, about a millimetre) are the same point computed twice.
_SNAP_DEG = 1e-8


def move_buildings(
    session: Session,
    *,
    from_grid: str,
    building_ids: list[int],
    to_grid: str,
    reason: str,
    versions: dict[str, int],
    principal: Principal = SYSTEM,
    request_id: str | None = None,
    settings: Settings | None = None,
) -> EditResult:
    """Move whole buildings to a bordering grid of the same community; both grids get new versions.

    The area that moves is the buildings' cells in the tessellation of the source grid
    (``gis.partition.cells.build_cells``: street blocks cut into one Voronoi cell per
    building), so the two grids still tile the community. Refused when a grid would fall
    into separate parts or the source grid would be left empty.
    """
    from_grid, to_grid = check_code("grid", from_grid), check_code("grid", to_grid, field="to_grid")
    reason = check_reason(reason, f"moving buildings from grid {from_grid} to grid {to_grid}")
    if from_grid == to_grid:
        raise InvalidInput(f"to_grid: the buildings are already in grid {from_grid}; name another grid",
                           details={"field": "to_grid"})
    if from_grid[:12] != to_grid[:12]:
        raise InvalidInput(f"grid {to_grid} is in community {to_grid[:12]} and grid {from_grid} in community "
                           f"{from_grid[:12]}; buildings move only between grids of one community (redraw the "
                           f"communities first)", details={"field": "to_grid"})
    try:
        ids = sorted({int(b) for b in building_ids})
    except (TypeError, ValueError):
        raise InvalidInput(f"building_ids: whole numbers expected; received {building_ids!r}",
                           details={"field": "building_ids"}) from None
    if not ids:
        raise InvalidInput("building_ids: name at least one building to move", details={"field": "building_ids"})

    parent = lock_parent(session, "grid", from_grid, principal)
    units = {c: lock_unit(session, "grid", c) for c in sorted((from_grid, to_grid))}
    check_versions(list(units.values()), {str(k): v for k, v in (versions or {}).items()}, field="versions")
    source, target = units[from_grid], units[to_grid]
    metric = Metric(parent.geom)

    shared = float(metric.to_metric(source.geom).boundary.intersection(metric.to_metric(target.geom).boundary).length)
    if shared < MIN_SHARED_BOUNDARY_M:
        raise InvalidInput(f"grid {to_grid} does not border grid {from_grid} (they share {shared:.1f} m of "
                           f"boundary); buildings move only to an adjacent grid", details={"field": "to_grid"})
    moved, kept = _transfer_area(session, source, ids, metric)
    # The moved area meets the target along the source's edge, but its new corners there were computed in
    # floating point: snap them into the target's edge first, or the union keeps a hair-thin seam.
    new_target = clean(shapely.union(shapely.snap(target.geom, moved, _SNAP_DEG), moved), metric)
    for grid, geom in ((from_grid, kept), (to_grid, new_target)):
        pieces = parts(geom, metric)
        if not pieces:
            raise InvalidInput(f"moving building(s) {', '.join(map(str, ids))} would leave grid {from_grid} "
                               f"without any area; merge grid {from_grid} into grid {to_grid} instead",
                               details={"field": "building_ids"})
        if len(pieces) > 1:
            detached = shapely.union_all(pieces[1:])
            raise InvalidGeometry(
                f"moving building(s) {', '.join(map(str, ids))} would leave grid {grid} in {len(pieces)} separate "
                f"parts (the detached part covers {area_text(metric.area(detached))} near "
                f"{lonlat_text(detached)}); move buildings along the border of grids {from_grid} and {to_grid}",
                details={"grid": grid, "parts": len(pieces), "field": "building_ids"})
    siblings = children(session, "grid", parent.code)
    write = [NewVersion(code=u.code, name=u.name, geom=g, previous=u, kind=u.kind, grid_level=u.grid_level,
                        parent_grid_code=u.parent_grid_code)
             for u, g in sorted(((source, kept), (target, new_target)), key=lambda p: p[0].code)]
    edit = Edit("move_buildings", "grid", parent, sorted(units.values(), key=lambda u: u.code), write, reason,
                {"codes": [from_grid, to_grid], "from_grid": from_grid, "to_grid": to_grid, "building_ids": ids})
    result = apply(session, edit, principal=principal, request_id=request_id, settings=settings, siblings=siblings)
    result.update({"from_grid": from_grid, "to_grid": to_grid, "building_ids": ids,
                   "moved_area_m2": round(metric.area(moved), 1)})
    return result


def _transfer_area(session: Session, source: Unit, ids: list[int], metric: Metric
                   ) -> tuple[BaseGeometry, MultiPolygon]:
    """The part of ``source`` that moves with buildings ``ids`` (their tessellation cells), and what stays."""
    found: dict[int, int] = dict(session.execute(text("SELECT id, households FROM building WHERE id = ANY(:ids)"),
                                 {"ids": ids}).all())
    missing = [b for b in ids if b not in found]
    if missing:
        raise NotFound(f"building_ids: building(s) {', '.join(map(str, missing))} do not exist",
                       details={"field": "building_ids"})
    buildings = read_frame(session, """
        SELECT b.id, b.households, b.compound_id AS compound, ST_AsBinary(b.geom) AS geom
        FROM building b, grid g WHERE g.id = :g AND ST_Intersects(g.geom, b.geom)
          AND ST_Contains(g.geom, ST_PointOnSurface(b.geom)) ORDER BY b.id""", {"g": source.id})
    elsewhere = [b for b in ids if b not in set(buildings["id"])]
    if elsewhere:
        located = privacy.grid_of_buildings(session, elsewhere)
        said = ", ".join(f"{b} (in {'grid ' + located[b] if b in located else 'no grid'})" for b in elsewhere)
        raise InvalidInput(f"building(s) {said} are not in grid {source.code}; only its own buildings move out of it",
                           details={"not_in_grid": elsewhere, "field": "building_ids"})
    region = shapely.union_all(shapely.get_parts(source.geom))
    envelope = f"SRID=4490;{region.envelope.wkt}"
    roads = read_frame(session, "SELECT is_main_road, name, ST_AsBinary(geom) AS geom FROM walk_edge "
                                "WHERE geom && ST_GeomFromEWKT(:e)", {"e": envelope})
    barriers = read_frame(session, "SELECT name, ST_AsBinary(geom) AS geom FROM barrier "
                                   "WHERE geom && ST_GeomFromEWKT(:e)", {"e": envelope})
    buildings["compound"] = buildings["compound"].astype(object).where(buildings["compound"].notna(), None)
    to_m = metric.crs
    # Compounds are not merged into one cell (max_households=0): only the named buildings move.
    graph = build_cells(metric.to_metric(region), buildings.to_crs(to_m), roads.to_crs(to_m),
                        barriers.to_crs(to_m), max_households=0)
    moving = buildings["id"].isin(ids).to_numpy()
    cells = set(int(c) for c in graph.building_cell[moving])
    also = [int(b) for b, c, m in zip(buildings["id"], graph.building_cell, moving, strict=True)
            if not m and int(c) in cells]
    if also:
        raise InvalidInput(f"building(s) {', '.join(map(str, also))} share a cell with the buildings to move; "
                           f"move them too", details={"share_cell": also, "field": "building_ids"})
    cut = shapely.union_all(graph.cells.geometry.to_numpy()[sorted(cells)]).buffer(_CUT_OVERLAP_M)
    cut = metric.to_lonlat(cut)
    moved = clean(shapely.intersection(source.geom, cut), metric)
    kept = clean(shapely.difference(source.geom, cut), metric)
    return moved, kept
