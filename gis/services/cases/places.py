"""Where a reported case belongs: the grid, community and street of a point, and the grid's staff.

Routing rule: the current level-1 grids (a level-2 grid lies inside one; its cases go to the
level-1 grid's staff) within ``Settings.case_boundary_tolerance_m`` (1 cm) of the point are its
candidates, found in SQL; a point inside one grid and clear of its boundary has one candidate.
A point on a boundary shared by several grids (within the tolerance) goes to the grid with the
**lowest code**, so the same point always lands in the same grid. Community and street are
those of the chosen grid's current community. A point outside every grid is refused, naming
the nearest current community and its distance in metres.
"""

from __future__ import annotations

import math
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound


class Location(TypedDict):
    """Where a point belongs by the routing rule: the grid picked, its community and street, and the candidates."""

    grid_code: str
    grid_name: str
    community_code: str
    street_code: str
    district_code: str
    rule: str
    candidates: list[str]


class StaffMember(TypedDict):
    """One active leader or worker assigned to a grid."""

    user_id: int
    username: str
    display_name: str | None
    role: str
    duty: str
    public_phone: str | None


def _check_lonlat(lon: Any, lat: Any, name: str = "point") -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: expected lon and lat in degrees; got {lon!r}, {lat!r}",
                           details={"field": name}) from None
    if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidInput(f"{name}: ({x}, {y}) is not lon/lat (lon -180..180, lat -90..90; EPSG:4490)",
                           details={"field": name})
    return x, y


def locate_point(session: Session, *, lon: float, lat: float, tolerance_m: float = 0.01) -> Location:
    """The grid, community and street of a point by the routing rule (module doc); InvalidInput outside every grid."""
    lon, lat = _check_lonlat(lon, lat)
    rows = session.execute(text("""
        WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g)
        SELECT gr.code, gr.name, gr.district_code, gr.community_code,
               COALESCE(c.street_code, left(gr.community_code, 9)) AS street_code,
               ST_Intersects(gr.geom, pt.g) AS touches
        FROM grid gr CROSS JOIN pt
        LEFT JOIN community c ON c.code = gr.community_code AND c.valid_to IS NULL
        WHERE gr.valid_to IS NULL AND gr.level = 1 AND gr.geom && ST_Expand(pt.g, :deg)
          AND ST_DWithin(gr.geom::geography, pt.g::geography, :tol)
        ORDER BY gr.code"""), {"lon": lon, "lat": lat, "tol": tolerance_m, "deg": tolerance_m / 50_000 + 1e-9}).all()
    if not rows:
        nearest = session.execute(text("""
            WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) AS g),
                 near AS (SELECT c.code, c.name, c.geom FROM community c, pt WHERE c.valid_to IS NULL
                          ORDER BY c.geom <-> pt.g LIMIT 5)
            SELECT near.code, near.name, ST_Distance(near.geom::geography, pt.g::geography) AS distance_m
            FROM near, pt ORDER BY distance_m, near.code LIMIT 1"""), {"lon": lon, "lat": lat}).first()
        if nearest is None:
            raise InvalidInput(f"the point ({lon:.6f}, {lat:.6f}) lies outside every grid, and no community is "
                               "stored yet", details={"field": "point", "lon": lon, "lat": lat})
        raise InvalidInput(f"the point ({lon:.6f}, {lat:.6f}) lies outside every grid; the nearest community is "
                           f"{nearest.name} ({nearest.code}), {nearest.distance_m:.0f} m away",
                           details={"field": "point", "lon": lon, "lat": lat, "nearest_community": nearest.code,
                                    "nearest_community_name": nearest.name,
                                    "distance_m": round(float(nearest.distance_m), 1)})
    chosen = rows[0]
    return {"grid_code": chosen.code, "grid_name": chosen.name, "community_code": chosen.community_code,
            "street_code": chosen.street_code, "district_code": chosen.district_code,
            "rule": "shared_boundary_lowest_code" if len(rows) > 1 else "inside",
            "candidates": [r.code for r in rows]}


def grid_staff(session: Session, grid_code: str) -> list[StaffMember]:
    """The active leaders and workers currently assigned to a grid (whom its cases are routed to)."""
    rows = session.execute(text("""
        SELECT u.id, u.username, u.display_name, u.role_code, ga.duty, ga.public_phone
        FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
        WHERE ga.grid_code = :g AND ga.valid_to IS NULL AND u.is_active
        ORDER BY ga.duty, u.username"""), {"g": grid_code}).all()
    return [{"user_id": r.id, "username": r.username, "display_name": r.display_name, "role": r.role_code,
             "duty": r.duty, "public_phone": r.public_phone} for r in rows]


def _resolve_place(session: Session, *, point: tuple[float, float] | None, building_id: int | None,
                   address: str | None) -> tuple[tuple[float, float], int | None, str | None]:
    """(lon, lat, building id, address) of a report: the point as given, or a building's point on surface."""
    given = [name for name, value in (("point", point), ("building_id", building_id), ("address", address))
             if value is not None]
    if not given:
        raise InvalidInput("point: send a point (lon, lat), a building_id or an address", details={"field": "point"})
    if point is not None:
        if len(point) != 2:
            raise InvalidInput(f"point: expected [lon, lat]; got {point!r}", details={"field": "point"})
        return _check_lonlat(*point), building_id, address
    sql = """SELECT b.id, b.address, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat
             FROM building b WHERE """
    if building_id is not None:
        row = session.execute(text(sql + "b.id = :id"), {"id": building_id}).first()
        if row is None:
            raise NotFound(f"building_id: building {building_id} does not exist", details={"field": "building_id"})
        return (row.lon, row.lat), row.id, address or row.address
    wanted = (address or "").strip()
    rows = session.execute(text(sql + """b.address = :a OR b.id IN (
        SELECT d.building_id FROM dwelling d WHERE d.address = :a) ORDER BY b.id LIMIT 5"""), {"a": wanted}).all()
    if not rows:
        raise InvalidInput(f"address {wanted!r} matches no building; send a point or a building_id instead",
                           details={"field": "address"})
    if len({r.id for r in rows}) > 1:
        raise InvalidInput(f"address {wanted!r} matches {len(rows)} buildings ({', '.join(str(r.id) for r in rows)}); "
                           "send the building_id", details={"field": "address", "building_ids": [r.id for r in rows]})
    return (rows[0].lon, rows[0].lat), rows[0].id, wanted
