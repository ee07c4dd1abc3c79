"""Resources as the API and CLI list them: filtered, paged queries that return GeoJSON features.

Districts, streets, communities and grids (current, or the version valid at a moment),
buildings, compounds and facilities. Geometry is written by PostGIS (``ST_AsGeoJSON``) in
EPSG:4490, whose coordinates GeoJSON readers take as lon/lat (RFC 7946 order). Households
per unit are counted as everywhere else: a building belongs to the unit holding its point on
surface, and estimated households are reported apart from recorded ones.

Facility writes live here too: a facility is a GeoJSON Point in lon/lat, inside China and
inside its district, of a type in the catalogue, edited with optimistic concurrency; every
change marks the district's stored coverage runs stale.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.orm import Session

from gis.db.filters import Bbox, Where
from gis.db.levels import CODE_LENGTH as LEVEL_CODE_LENGTH
from gis.db.levels import check_level
from gis.errors import Conflict, InvalidGeometry, InvalidInput, NotFound
from gis.services.coverage import mark_facilities_changed

CODE_LENGTH = {"district": 6, **LEVEL_CODE_LENGTH}
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000
# Mainland China with its islands, lon/lat; a point outside is a typo or swapped coordinates.
CHINA_BOUNDS = (73.4, 3.8, 135.1, 53.6)
# Seven decimals of a degree are about a centimetre: the precision the data has.
PRECISION = 7


@dataclass(frozen=True)
class Page:
    """One page of a list: its items (features or rows), the total matching, and where it starts."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        nxt = self.offset + self.limit
        return nxt if nxt < self.total else None


# --- parameters -----------------------------------------------------------------------------


def parse_bbox(value: str | None) -> Bbox | None:
    """``minlon,minlat,maxlon,maxlat`` as four floats, or InvalidInput naming what is wrong with it."""
    if value is None or not value.strip():
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 4:
        raise InvalidInput(f"bbox: expected four numbers minlon,minlat,maxlon,maxlat; got {value!r}",
                           details={"field": "bbox"})
    try:
        x0, y0, x1, y1 = (float(p) for p in parts)
    except ValueError:
        raise InvalidInput(f"bbox: expected four numbers minlon,minlat,maxlon,maxlat; got {value!r}",
                           details={"field": "bbox"}) from None
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        raise InvalidInput(f"bbox: numbers must be finite; got {value!r}", details={"field": "bbox"})
    if not (-180 <= x0 <= 180 and -180 <= x1 <= 180 and -90 <= y0 <= 90 and -90 <= y1 <= 90):
        raise InvalidInput(f"bbox: longitudes must lie in [-180, 180] and latitudes in [-90, 90]; got {value!r} "
                           "(lon first, then lat)", details={"field": "bbox"})
    if not (x0 < x1 and y0 < y1):
        raise InvalidInput(f"bbox: minlon must be below maxlon and minlat below maxlat; got {value!r}",
                           details={"field": "bbox"})
    return x0, y0, x1, y1


def check_page(limit: int, offset: int) -> None:
    """Refuse a page size or offset the server will not serve."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit: between 1 and {MAX_LIMIT}; got {limit}", details={"field": "limit"})
    if offset < 0:
        raise InvalidInput(f"offset: 0 or more; got {offset}", details={"field": "offset"})


def check_as_of(at: dt.datetime | None) -> dt.datetime | None:
    """A moment with its time zone (a boundary's validity is an instant, not a local wall time)."""
    if at is not None and at.tzinfo is None:
        raise InvalidInput(f"at: give a time zone, e.g. 2026-03-01T00:00:00+08:00; got {at.isoformat()}",
                           details={"field": "at"})
    return at


def _check_code(value: str | None, field: str, level: str, *, prefix: bool = False) -> str | None:
    if value is None:
        return None
    value = value.strip()
    n = CODE_LENGTH[level]
    ok = value.isdigit() and (1 <= len(value) <= 15 if prefix else len(value) == n)
    if not ok:
        want = "1 to 15 digits" if prefix else f"a {n}-digit {level} code"
        raise InvalidInput(f"{field}: expected {want}; got {value!r}", details={"field": field})
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _page(session: Session, *, select: str, from_: str, where: Where, order: str, limit: int,
          offset: int) -> tuple[list[RowMapping], int]:
    check_page(limit, offset)
    total = int(session.execute(text(f"SELECT count(*) FROM {from_} WHERE {where.sql}"), where.params).scalar_one())
    rows = session.execute(text(f"SELECT {select} FROM {from_} WHERE {where.sql} ORDER BY {order} "
                                "LIMIT :limit OFFSET :offset"),
                           {**where.params, "limit": limit, "offset": offset}).mappings().all()
    return list(rows), total


def to_feature(row: Mapping[Any, Any], *, id_key: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A GeoJSON Feature from a row holding ``geometry`` (parsed GeoJSON) and plain columns."""
    props = {k: _plain(v) for k, v in row.items() if k not in ("geometry", *skip)}
    return {"type": "Feature", "id": row[id_key], "geometry": row["geometry"], "properties": props}


# --- districts ------------------------------------------------------------------------------


def list_districts(session: Session, *, limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page:
    """Districts with their extent and how many units, buildings and households they hold."""
    where = Where()
    rows, total = _page(session, select="""
        d.code, d.name, d.network_version, d.source, d.attribution,
        (SELECT count(*) FROM street s WHERE s.district_code = d.code AND s.valid_to IS NULL) AS streets,
        (SELECT count(*) FROM community c WHERE c.district_code = d.code AND c.valid_to IS NULL) AS communities,
        (SELECT count(*) FROM grid g WHERE g.district_code = d.code AND g.valid_to IS NULL) AS grids,
        (SELECT count(*) FROM building b WHERE b.district_code = d.code) AS buildings,
        (SELECT coalesce(sum(households), 0) FROM building b WHERE b.district_code = d.code) AS households,
        (SELECT count(*) FROM facility f WHERE f.district_code = d.code) AS facilities,
        (SELECT ST_Extent(b.geom) FROM building b WHERE b.district_code = d.code) AS extent""",
        from_="district d", where=where, order="d.code", limit=limit, offset=offset)
    items = []
    for r in rows:
        item = {k: _plain(v) for k, v in r.items() if k != "extent"}
        item["households"] = int(item["households"])
        item["bbox"] = _box(r["extent"])
        items.append(item)
    return Page(items, total, limit, offset)


def _box(extent: str | None) -> list[float] | None:
    """``BOX(x0 y0,x1 y1)`` as [x0, y0, x1, y1]."""
    if not extent:
        return None
    inner = extent[extent.index("(") + 1:extent.rindex(")")]
    (x0, y0), (x1, y1) = (map(float, corner.split()) for corner in inner.split(","))
    return [x0, y0, x1, y1]


# --- boundaries -----------------------------------------------------------------------------


def _unit_select(level: str) -> str:
    extra = {"street": "", "community": "u.street_code,",
             "grid": "u.community_code, u.kind, u.level, u.parent_grid_code,"}[level]
    return f"""
        u.code, u.name, u.district_code, {extra} u.version, u.valid_from, u.valid_to, u.reason, u.plan_id,
        u.four_limits->>'text' AS four_limits, hh.households, hh.households_estimated, hh.buildings,
        ST_AsGeoJSON(u.geom, {PRECISION}, 0)::json AS geometry"""


# Households of the buildings whose point on surface lies in the unit (as household_counts counts them).
_UNIT_HOUSEHOLDS = """
    LEFT JOIN LATERAL (
        SELECT coalesce(sum(b.households), 0)::int AS households,
               coalesce(sum(b.households) FILTER (WHERE b.households_source = 'estimated'), 0)::int
                   AS households_estimated,
               count(b.id)::int AS buildings
        FROM building b WHERE ST_Intersects(u.geom, b.geom) AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))
    ) hh ON TRUE"""
# Each level's table with its households, one literal per level: no level name is spliced into SQL.
_UNIT_FROM = {"street": "street u" + _UNIT_HOUSEHOLDS, "community": "community u" + _UNIT_HOUSEHOLDS,
              "grid": "grid u" + _UNIT_HOUSEHOLDS}


def _when(where: Where, at: dt.datetime | None) -> None:
    if at is None:
        where.require("u.valid_to IS NULL")
    else:
        where.require("u.valid_from <= :at AND (u.valid_to IS NULL OR u.valid_to > :at)", at=check_as_of(at))


def list_units(
    session: Session,
    level: str,
    *,
    bbox: Bbox | None = None,
    code: str | None = None,
    district_code: str | None = None,
    street_code: str | None = None,
    community_code: str | None = None,
    kind: str | None = None,
    grid_level: int | None = None,
    at: dt.datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page:
    """Streets, communities or grids valid now (or at ``at``) as features with household counts.

    Households are those of today's buildings inside the unit's outline, also for an old version.

    ``code`` is a code prefix; ``district_code``, ``street_code`` and ``community_code`` name
    a parent; ``kind`` (general/dedicated) and ``grid_level`` (1/2) filter grids.
    """
    check_level(level)
    where = Where()
    _when(where, at)
    where.bbox("u.geom", bbox)
    if (prefix := _check_code(code, "code", level, prefix=True)) is not None:
        where.require("u.code LIKE :prefix", prefix=prefix + "%")
    if (d := _check_code(district_code, "district_code", "district")) is not None:
        where.require("u.district_code = :district", district=d)
    if (s := _check_code(street_code, "street_code", "street")) is not None:
        if level == "street":
            raise InvalidInput("street_code: streets are filtered by district_code or a code prefix",
                               details={"field": "street_code"})
        where.require("u.street_code = :street" if level == "community" else "u.community_code LIKE :street",
                  street=s if level == "community" else s + "%")
    if (c := _check_code(community_code, "community_code", "community")) is not None:
        if level != "grid":
            raise InvalidInput(f"community_code: only grids lie in a community, not {level}s",
                               details={"field": "community_code"})
        where.require("u.community_code = :community", community=c)
    if kind is not None or grid_level is not None:
        if level != "grid":
            raise InvalidInput(f"kind and level filter grids, not {level}s", details={"field": "kind"})
        if kind is not None:
            if kind not in ("general", "dedicated"):
                raise InvalidInput(f"kind: general or dedicated; got {kind!r}", details={"field": "kind"})
            where.require("u.kind = :kind", kind=kind)
        if grid_level is not None:
            if grid_level not in (1, 2):
                raise InvalidInput(f"level: 1 or 2; got {grid_level}", details={"field": "level"})
            where.require("u.level = :glevel", glevel=grid_level)
    rows, total = _page(session, select=_unit_select(level), from_=_UNIT_FROM[level], where=where,
                        order="u.code", limit=limit, offset=offset)
    return Page([to_feature(r, id_key="code") for r in rows], total, limit, offset)


def get_unit(session: Session, level: str, code: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """One street, community or grid (its current version, or the one valid at ``at``) as a feature."""
    check_level(level)
    code = _check_code(code, "code", level) or ""
    where = Where()
    _when(where, at)
    where.require("u.code = :code", code=code)
    row = session.execute(text(f"SELECT {_unit_select(level)} FROM {_UNIT_FROM[level]} "
                               f"WHERE {where.sql} ORDER BY u.valid_from DESC LIMIT 1"),
                          where.params).mappings().first()
    if row is None:
        when = f"valid at {at.isoformat()}" if at is not None else "current"
        raise NotFound(f"{level} {code} has no {when} version", details={"code": code})
    return to_feature(row, id_key="code")


# --- buildings and compounds ---------------------------------------------------------------


_BUILDING_SELECT = f"""
    b.id, b.name, b.kind, b.levels, b.floors, b.floors_estimated, b.area_m2, b.households, b.households_source,
    b.compound_id, b.address, b.district_code, b.synthetic,
    (SELECT g.code FROM grid g WHERE g.valid_to IS NULL AND ST_Intersects(g.geom, b.geom)
       AND ST_Contains(g.geom, ST_PointOnSurface(b.geom)) ORDER BY g.level, g.code LIMIT 1) AS grid_code,
    ST_AsGeoJSON(b.geom, {PRECISION}, 0)::json AS geometry"""
HOUSEHOLD_SOURCES = ("recorded", "estimated")


def list_buildings(
    session: Session,
    *,
    bbox: Bbox | None = None,
    district_code: str | None = None,
    street_code: str | None = None,
    community_code: str | None = None,
    grid_code: str | None = None,
    compound_id: int | None = None,
    households_source: str | None = None,
    kind: str | None = None,
    min_households: int | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page:
    """Building footprints with households (recorded or estimated) and the current grid each lies in."""
    where = Where()
    where.bbox("b.geom", bbox)
    if (d := _check_code(district_code, "district_code", "district")) is not None:
        where.require("b.district_code = :district", district=d)
    where.within_unit("street", _check_code(street_code, "street_code", "street"), "b.geom")
    where.within_unit("community", _check_code(community_code, "community_code", "community"), "b.geom")
    where.within_unit("grid", _check_code(grid_code, "grid_code", "grid"), "b.geom")
    if compound_id is not None:
        where.require("b.compound_id = :compound", compound=compound_id)
    if households_source is not None:
        if households_source not in HOUSEHOLD_SOURCES:
            raise InvalidInput(f"households_source: recorded or estimated; got {households_source!r}",
                               details={"field": "households_source"})
        where.require("b.households_source = :hs", hs=households_source)
    if kind is not None:
        where.require("b.kind = :bkind", bkind=kind)
    if min_households is not None:
        where.require("b.households >= :min_hh", min_hh=min_households)
    rows, total = _page(session, select=_BUILDING_SELECT, from_="building b", where=where, order="b.id",
                        limit=limit, offset=offset)
    return Page([to_feature(r, id_key="id") for r in rows], total, limit, offset)


def get_building(session: Session, building_id: int) -> dict[str, Any]:
    """One building as a feature."""
    row = session.execute(text(f"SELECT {_BUILDING_SELECT} FROM building b WHERE b.id = :id"),
                          {"id": building_id}).mappings().first()
    if row is None:
        raise NotFound(f"building {building_id} does not exist", details={"building_id": building_id})
    return to_feature(row, id_key="id")


def list_compounds(session: Session, *, bbox: Bbox | None = None, district_code: str | None = None,
                   name: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0) -> Page:
    """Residential compounds (小区/院落) with their buildings, households and gates."""
    where = Where()
    where.bbox("c.geom", bbox)
    if (d := _check_code(district_code, "district_code", "district")) is not None:
        where.require("c.district_code = :district", district=d)
    if name:
        where.require("c.name LIKE :name", name=f"%{name}%")
    rows, total = _page(session, select=f"""
        c.id, c.name, c.district_code,
        (SELECT count(*) FROM building b WHERE b.compound_id = c.id)::int AS buildings,
        (SELECT coalesce(sum(households), 0) FROM building b WHERE b.compound_id = c.id)::int AS households,
        (SELECT count(*) FROM compound_gate g WHERE g.compound_id = c.id)::int AS gates,
        ST_AsGeoJSON(c.geom, {PRECISION}, 0)::json AS geometry""",
        from_="compound c", where=where, order="c.id", limit=limit, offset=offset)
    return Page([to_feature(r, id_key="id") for r in rows], total, limit, offset)


# --- facilities ------------------------------------------------------------------------------


_FACILITY_SELECT = f"""
    f.id, f.type_code, t.name_zh AS type_name, t.level AS life_circle, t.radius_m, f.name, f.capacity,
    f.floor_area_m2, f.address, f.source, f.classified_by, f.district_code, f.version, f.created_at,
    ST_AsGeoJSON(f.geom, {PRECISION}, 0)::json AS geometry"""
_FACILITY_FROM = "facility f JOIN facility_type t ON t.code = f.type_code"
FACILITY_FIELDS = ("name", "type_code", "geometry", "capacity", "floor_area_m2", "address")


def list_facilities(
    session: Session,
    *,
    bbox: Bbox | None = None,
    district_code: str | None = None,
    community_code: str | None = None,
    grid_code: str | None = None,
    types: list[str] | None = None,
    life_circle: str | None = None,
    source: str | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page:
    """Facilities as point features with their type's life circle and walking radius."""
    where = Where()
    where.bbox("f.geom", bbox)
    if (d := _check_code(district_code, "district_code", "district")) is not None:
        where.require("f.district_code = :district", district=d)
    where.within_unit("community", _check_code(community_code, "community_code", "community"), "f.geom")
    where.within_unit("grid", _check_code(grid_code, "grid_code", "grid"), "f.geom")
    if types:
        known = set(session.scalars(text("SELECT code FROM facility_type")))
        unknown = sorted(set(types) - known)
        if unknown:
            raise InvalidInput(f"type: unknown facility type {', '.join(unknown)}; see /facility-types",
                               details={"field": "type", "unknown": unknown})
        where.require("f.type_code = ANY(:types)", types=list(types))
    if life_circle is not None:
        where.require("t.level = :lc", lc=life_circle)
    if source is not None:
        where.require("f.source = :source", source=source)
    rows, total = _page(session, select=_FACILITY_SELECT, from_=_FACILITY_FROM, where=where, order="f.id",
                        limit=limit, offset=offset)
    return Page([to_feature(r, id_key="id") for r in rows], total, limit, offset)


def get_facility(session: Session, facility_id: int) -> dict[str, Any]:
    """One facility as a point feature (its ``version`` is what an edit must send back)."""
    row = session.execute(text(f"SELECT {_FACILITY_SELECT} FROM {_FACILITY_FROM} WHERE f.id = :id"),
                          {"id": facility_id}).mappings().first()
    if row is None:
        raise NotFound(f"facility {facility_id} does not exist", details={"facility_id": facility_id})
    return to_feature(row, id_key="id")


def check_point(geometry: Any, *, field: str = "geometry") -> tuple[float, float]:
    """(lon, lat) of a GeoJSON Point inside China, or InvalidGeometry naming the field and the problem."""
    if not isinstance(geometry, Mapping):
        raise InvalidGeometry(f"{field}: expected a GeoJSON Point object; got {type(geometry).__name__}",
                              details={"field": field})
    kind = geometry.get("type")
    if kind != "Point":
        raise InvalidGeometry(f"{field}: a facility is located at a Point; got a {kind or 'geometry without type'}",
                              details={"field": field, "type": kind})
    coords = geometry.get("coordinates")
    if (not isinstance(coords, list | tuple) or len(coords) not in (2, 3)
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)):
        raise InvalidGeometry(f"{field}: coordinates must be [lon, lat]; got {coords!r}", details={"field": field})
    lon, lat = float(coords[0]), float(coords[1])
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise InvalidGeometry(f"{field}: coordinates must be finite numbers; got {coords!r}", details={"field": field})
    x0, y0, x1, y1 = CHINA_BOUNDS
    if not (x0 <= lon <= x1 and y0 <= lat <= y1):
        hint = " (lon and lat look swapped: GeoJSON is [lon, lat])" if x0 <= lat <= x1 and y0 <= lon <= y1 else ""
        raise InvalidGeometry(f"{field}: point {lon}, {lat} lies outside China "
                              f"(lon {x0}–{x1}, lat {y0}–{y1}){hint}",
                              details={"field": field, "lon": lon, "lat": lat})
    return lon, lat


# The area a district's facilities must lie in: its polygon, else its streets, else its communities,
# else (an imported district without boundaries) 200 m around its buildings.
_DISTRICT_AREA = """
    SELECT coalesce(
        (SELECT geom FROM district WHERE code = :d AND geom IS NOT NULL),
        (SELECT ST_Union(geom) FROM street WHERE district_code = :d AND valid_to IS NULL),
        (SELECT ST_Union(geom) FROM community WHERE district_code = :d AND valid_to IS NULL),
        (SELECT ST_Buffer(ST_ConvexHull(ST_Collect(geom))::geography, 200)::geometry FROM building
         WHERE district_code = :d))"""


def _check_in_district(session: Session, district_code: str, lon: float, lat: float, *, field: str) -> None:
    if session.execute(text("SELECT 1 FROM district WHERE code = :d"), {"d": district_code}).first() is None:
        raise NotFound(f"district_code: district {district_code} does not exist", details={"field": "district_code"})
    inside = session.execute(text(f"SELECT ST_Intersects(({_DISTRICT_AREA}), ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
                             {"d": district_code, "x": lon, "y": lat}).scalar()
    if inside is None:
        raise InvalidInput(f"district {district_code} has no boundary, streets, communities or buildings to place "
                           "a facility in", details={"field": "district_code"})
    if not inside:
        raise InvalidGeometry(f"{field}: point {lon}, {lat} lies outside district {district_code}",
                              details={"field": field, "lon": lon, "lat": lat, "district_code": district_code})


def _district_of_point(session: Session, lon: float, lat: float, *, field: str) -> str:
    codes = list(session.scalars(text("SELECT code FROM district ORDER BY code")))
    for code in codes:
        inside = session.execute(text(f"SELECT ST_Intersects(({_DISTRICT_AREA}), "
                                      "ST_SetSRID(ST_MakePoint(:x, :y), 4490))"),
                                 {"d": code, "x": lon, "y": lat}).scalar()
        if inside:
            return code
    raise InvalidGeometry(f"{field}: point {lon}, {lat} lies outside every district", details={"field": field})


def _check_type(session: Session, type_code: Any) -> str:
    known = list(session.scalars(text("SELECT code FROM facility_type ORDER BY code")))
    if not isinstance(type_code, str) or type_code not in known:
        raise InvalidInput(f"type_code: {type_code!r} is not in the facility catalogue; known: {', '.join(known)}",
                           details={"field": "type_code", "known": known})
    return type_code


def _check_amounts(values: Mapping[str, Any]) -> None:
    for key in ("capacity", "floor_area_m2"):
        v = values.get(key)
        if v is not None and v < 0:
            raise InvalidInput(f"{key}: must not be negative; got {v}", details={"field": key})


def create_facility(session: Session, *, type_code: str, geometry: Any, name: str | None = None,
                    district_code: str | None = None, capacity: int | None = None,
                    floor_area_m2: float | None = None, address: str | None = None) -> dict[str, Any]:
    """Add a facility at a lon/lat point inside its district; the district's coverage runs become stale."""
    type_code = _check_type(session, type_code)
    lon, lat = check_point(geometry)
    checked = _check_code(district_code, "district_code", "district")
    if checked is not None:
        _check_in_district(session, checked, lon, lat, field="geometry")
        district_code = checked
    else:
        district_code = _district_of_point(session, lon, lat, field="geometry")
    _check_amounts({"capacity": capacity, "floor_area_m2": floor_area_m2})
    new_id = session.execute(text("""
        INSERT INTO facility (district_code, type_code, name, capacity, floor_area_m2, address, source,
                              classified_by, version, geom)
        VALUES (:d, :t, :n, :cap, :area, :addr, 'manual', 'manual', 1, ST_SetSRID(ST_MakePoint(:x, :y), 4490))
        RETURNING id"""), {"d": district_code, "t": type_code, "n": name, "cap": capacity, "area": floor_area_m2,
                           "addr": address, "x": lon, "y": lat}).scalar_one()
    mark_facilities_changed(session, district_code)
    return get_facility(session, int(new_id))


def update_facility(session: Session, facility_id: int, *, expected_version: int,
                    changes: Mapping[str, Any]) -> dict[str, Any]:
    """Change a facility's fields if it is still at ``expected_version``; Conflict naming the current version otherwise.

    ``changes`` holds the fields sent; None clears an optional one.
    """
    unknown = sorted(set(changes) - set(FACILITY_FIELDS))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}; editable: {', '.join(FACILITY_FIELDS)}",
                           details={"field": unknown[0]})
    current = session.execute(text("SELECT district_code, version FROM facility WHERE id = :id"),
                              {"id": facility_id}).first()
    if current is None:
        raise NotFound(f"facility {facility_id} does not exist", details={"facility_id": facility_id})
    district_code = current[0]
    values: dict[str, Any] = {}
    sets: list[str] = []
    for key in ("name", "capacity", "floor_area_m2", "address"):
        if key in changes:
            values[key] = changes[key]
            sets.append(f"{key} = :{key}")
    _check_amounts(values)
    if "type_code" in changes:
        values["type_code"] = _check_type(session, changes["type_code"])
        sets.append("type_code = :type_code")
    if "geometry" in changes:
        lon, lat = check_point(changes["geometry"])
        _check_in_district(session, district_code, lon, lat, field="geometry")
        values.update(x=lon, y=lat)
        sets.append("geom = ST_SetSRID(ST_MakePoint(:x, :y), 4490)")
    if not sets:
        raise InvalidInput(f"nothing to change: give one of {', '.join(FACILITY_FIELDS)}")
    updated = session.execute(text(
        f"UPDATE facility SET {', '.join(sets)}, version = version + 1 WHERE id = :id AND version = :v RETURNING id"),
        {**values, "id": facility_id, "v": expected_version}).first()
    if updated is None:
        version = session.execute(text("SELECT version FROM facility WHERE id = :id"), {"id": facility_id}).scalar()
        raise Conflict(f"facility {facility_id} is at version {version}, not {expected_version}: it changed since "
                       "you read it; reload it and apply your change again",
                       details={"facility_id": facility_id, "current_version": version})
    if {"type_code", "geometry"} & set(changes) or "capacity" in changes:
        mark_facilities_changed(session, district_code)
    return get_facility(session, facility_id)
