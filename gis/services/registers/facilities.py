"""Facilities (设施) and units (实有单位) from lists into the database, placed by lon/lat or standard address."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.io import registers as reader
from gis.io.registers import Parsed, Problems
from gis.services.registers.addresses import AddressBook, RegisterImport, _check_district, _place_points, _to_storage


class FacilityImport(RegisterImport):
    """What a facility list changed, and its facilities per catalogue type."""

    by_type: dict[str, int]


class UnitImport(RegisterImport):
    """What a unit list changed, and how many units lie in a building."""

    in_buildings: int


def _facility_types(session: Session) -> dict[str, str]:
    types = {}
    for code, name_zh, name_en in session.execute(text("SELECT code, name_zh, name_en FROM facility_type")):
        types[code] = code
        types[name_zh] = code
        types[name_en.lower()] = code
    if not types:
        raise InvalidInput("the facility catalogue is empty: migrate the database (the migration seeds it)")
    return types


def _place_records(session: Session, parsed: Parsed, *, district_code: str, source_crs: str,
                   max_distance_m: float, strict: bool) -> dict[int, dict[str, Any]]:
    """Point and building of each record: its lon/lat, else its address through the standard-address table."""
    records = parsed.records
    lons, lats = _to_storage([r["lon"] for r in records], [r["lat"] for r in records], source_crs)
    book = AddressBook(session, district_code)
    placed = _place_points(session, district_code, [r["row"] for r in records], lons, lats,
                           [None] * len(records), max_distance_m)
    problems = Problems(parsed.file)
    out = {}
    for record, lon, lat in zip(records, lons, lats, strict=True):
        if lon is not None:
            place = placed[record["row"]]
            out[record["row"]] = {"lon": lon, "lat": lat, "building_id": place["building_id"],
                                  "match": place["match"]}
            continue
        resolved = book.resolve(record["address"])
        if resolved["building_id"] is None:
            problems.add(record["row"], parsed.columns.get("address", "地址"), "an address of the standard-address "
                         f"table or lon/lat; the address is {resolved['match']}", record["address"])
            continue
        out[record["row"]] = {"lon": None, "lat": None, "building_id": resolved["building_id"],
                              "match": f"address_{resolved['match']}"}
    if strict:
        for record in records:
            if out.get(record["row"], {}).get("match") in {"ambiguous", "unmatched"}:
                problems.add(record["row"], parsed.columns.get("lon", "经度"), "a point in or near exactly one "
                             f"building (strict); it is {out[record['row']]['match']}", record["name"])
    problems.raise_if_any()
    return out


_POINT = """COALESCE(CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                          ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END,
                     (SELECT ST_PointOnSurface(geom) FROM building WHERE id = :bid))"""


def import_facilities(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                      max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None
                      ) -> FacilityImport:
    """Facilities from a list (name, catalogue type, address or lon/lat, capacity, floor area); atomic."""
    _check_district(session, district_code)
    parsed = reader.parse_facilities(reader.read_table(path, encoding=encoding), types=_facility_types(session))
    placed = _place_records(session, parsed, district_code=district_code, source_crs=source_crs,
                            max_distance_m=max_distance_m, strict=strict)
    counts: Counter[str] = Counter()
    for record in parsed.records:
        place = placed[record["row"]]
        params = {"d": district_code, "t": record["type_code"], "n": record["name"], "c": record["capacity"],
                  "a": record["floor_area_m2"], "addr": record["address"], "bid": place["building_id"],
                  "lon": None if place["lon"] is None else round(place["lon"], 8),
                  "lat": None if place["lat"] is None else round(place["lat"], 8)}
        found = session.execute(text("SELECT id FROM facility WHERE district_code = :d AND source = 'register' "
                                     "AND type_code = :t AND name = :n"), params).scalar()
        if found is None:
            session.execute(text(f"""
                INSERT INTO facility (district_code, type_code, name, capacity, floor_area_m2, address, source,
                                      classified_by, geom)
                VALUES (:d, :t, :n, :c, :a, :addr, 'register', 'register', {_POINT})"""), params)
            counts["inserted"] += 1
            continue
        changed = session.execute(text(f"""
            UPDATE facility SET capacity = :c, floor_area_m2 = :a, address = :addr, geom = {_POINT},
                                version = version + 1
            WHERE id = :id AND (capacity, floor_area_m2, address, ST_AsEWKB(geom)) IS DISTINCT FROM
                  (CAST(:c AS int), CAST(:a AS float8), CAST(:addr AS text), ST_AsEWKB({_POINT}))
            RETURNING id"""), {**params, "id": found}).first()
        counts["updated" if changed else "unchanged"] += 1
    return {"file": parsed.file, "district_code": district_code, "encoding": parsed.encoding,
            "rows": len(parsed.records), "inserted": counts["inserted"], "updated": counts["updated"],
            "unchanged": counts["unchanged"], "by_type": dict(Counter(r["type_code"] for r in parsed.records)),
            "ignored_columns": parsed.ignored_columns}


def import_units(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                 max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None) -> UnitImport:
    """实有单位 (organisations and shops, with a contact) from a list; matched on credit code or name+address."""
    _check_district(session, district_code)
    parsed = reader.parse_units(reader.read_table(path, encoding=encoding))
    placed = _place_records(session, parsed, district_code=district_code, source_crs=source_crs,
                            max_distance_m=max_distance_m, strict=strict)
    counts: Counter[str] = Counter()
    fields = ("name", "kind", "credit_code", "address", "contact_name", "contact_phone", "employees")
    for record in parsed.records:
        place = placed[record["row"]]
        params = {**{k: record[k] for k in fields}, "d": district_code, "key": record["unit_key"],
                  "bid": place["building_id"], "lon": None if place["lon"] is None else round(place["lon"], 8),
                  "lat": None if place["lat"] is None else round(place["lat"], 8)}
        written = session.execute(text(f"""
            INSERT INTO org_unit AS u (district_code, unit_key, {', '.join(fields)}, building_id, geom)
            VALUES (:d, :key, {', '.join(':' + k for k in fields)}, :bid, {_POINT})
            ON CONFLICT (district_code, unit_key) DO UPDATE SET
                {', '.join(f'{k} = EXCLUDED.{k}' for k in fields)}, building_id = EXCLUDED.building_id,
                geom = EXCLUDED.geom
            WHERE ({', '.join('u.' + k for k in fields)}, u.building_id, ST_AsEWKB(u.geom)) IS DISTINCT FROM
                  ({', '.join('EXCLUDED.' + k for k in fields)}, EXCLUDED.building_id, ST_AsEWKB(EXCLUDED.geom))
            RETURNING (xmax = 0) AS inserted"""), params).first()
        counts["inserted" if written is not None and written.inserted else
               "updated" if written is not None else "unchanged"] += 1
    return {"file": parsed.file, "district_code": district_code, "encoding": parsed.encoding,
            "rows": len(parsed.records), "inserted": counts["inserted"], "updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "in_buildings": sum(1 for p in placed.values() if p["building_id"] is not None),
            "ignored_columns": parsed.ignored_columns}
