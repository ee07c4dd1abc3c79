"""Where a need or resource is: a household, building or point placed in its current grid, community and street."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class Place:
    """Where a need or resource is: the point (lon/lat) and the units it falls in."""

    lon: float
    lat: float
    district_code: str
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    building_id: int | None = None
    household_id: int | None = None


def locate(session: Session, *, household_id: int | None = None, building_id: int | None = None,
           lon: float | None = None, lat: float | None = None, field_prefix: str = "") -> Place:
    """A household, building or point placed in its current grid, community and street."""
    if household_id is not None:
        building_id = session.execute(text("SELECT building_id FROM household WHERE id = :h"),
                                      {"h": household_id}).scalar()
        if building_id is None:
            raise NotFound(f"户 {household_id} 不存在 · {field_prefix}household_id: household {household_id} does not "
                           "exist", details={"field": f"{field_prefix}household_id"})
    if building_id is not None:
        row = session.execute(text("SELECT ST_X(p) AS x, ST_Y(p) AS y, district_code FROM (SELECT "
                                   "ST_PointOnSurface(geom) AS p, district_code FROM building WHERE id = :b) s"),
                              {"b": building_id}).first()
        if row is None:
            raise NotFound(f"楼栋 {building_id} 不存在 · {field_prefix}building_id: building {building_id} does not "
                           "exist", details={"field": f"{field_prefix}building_id"})
        lon, lat = float(row.x), float(row.y)
    if lon is None or lat is None:
        raise InvalidInput("位置须为户、楼栋或经纬度之一 · where: give a household_id, a building_id or lon and lat",
                           details={"field": f"{field_prefix}lon"})
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"经纬度超出范围 · {field_prefix}lon: lon/lat out of range: {lon}, {lat}",
                           details={"field": f"{field_prefix}lon"})
    row = session.execute(text("""
        SELECT g.code, g.community_code, g.district_code, c.street_code FROM grid g
        LEFT JOIN community c ON c.code = g.community_code AND c.valid_to IS NULL
        WHERE g.valid_to IS NULL AND g.level = 1 AND ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4490))
        ORDER BY g.code LIMIT 1"""), {"x": lon, "y": lat}).first()
    if row is None:
        raise InvalidInput(f"位置 ({lon:.6f}, {lat:.6f}) 不在任何现行网格内 · the place ({lon:.6f}, {lat:.6f}) lies in "
                           "no current grid", details={"field": f"{field_prefix}lon", "lon": lon, "lat": lat})
    return Place(lon=lon, lat=lat, district_code=row.district_code, street_code=row.street_code,
                 community_code=row.community_code, grid_code=row.code, building_id=building_id,
                 household_id=household_id)


def point_params(place: Place) -> dict[str, Any]:
    return {"x": place.lon, "y": place.lat}
