"""Standard addresses (标准地址) into the database, attached to buildings; the book register rows resolve through.

Shared by every register: the district check, the source CRS (GCJ-02 and BD-09 converted to
WGS-84 first) and placing points on buildings (the footprint holding the point, else the nearest
within a distance).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import bd09_to_wgs84, gcj02_to_wgs84
from gis.errors import InvalidInput, NotFound
from gis.io import registers as reader
from gis.io.registers import Problems, split_address

SOURCE_CRS = ("wgs84", "gcj02", "bd09")


MAX_LISTED = 50


def _check_district(session: Session, district_code: str) -> None:
    if session.execute(text("SELECT 1 FROM district WHERE code = :d"), {"d": district_code}).first() is None:
        raise NotFound(f"district_code: district {district_code} does not exist: import its boundaries first",
                       details={"field": "district_code"})


def _to_storage(lons: list[float | None], lats: list[float | None], source_crs: str
                ) -> tuple[list[float | None], list[float | None]]:
    """WGS-84 lon/lat as stored (CGCS2000 within centimetres); GCJ-02 and BD-09 converted first."""
    if source_crs not in SOURCE_CRS:
        raise InvalidInput(f"source_crs: one of {', '.join(SOURCE_CRS)}, got {source_crs!r}",
                           details={"field": "source_crs"})
    idx = [i for i, v in enumerate(lons) if v is not None]
    if not idx or source_crs == "wgs84":
        return list(lons), list(lats)
    x = np.array([lons[i] for i in idx], dtype=float)
    y = np.array([lats[i] for i in idx], dtype=float)
    x, y = (gcj02_to_wgs84 if source_crs == "gcj02" else bd09_to_wgs84)(x, y)
    out_x, out_y = list(lons), list(lats)
    for j, i in enumerate(idx):
        out_x[i], out_y[i] = float(x[j]), float(y[j])
    return out_x, out_y


def _place_points(session: Session, district_code: str, rows: list[int], lons: list[float | None],
                  lats: list[float | None], buildings: list[int | None], max_distance_m: float
                  ) -> dict[int, dict[str, Any]]:
    """For each row: the building (given id, footprint containing the point, or nearest within the distance)."""
    result = session.execute(text("""
        WITH a AS (SELECT * FROM unnest(CAST(:rows AS int[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]),
                                        CAST(:bids AS bigint[])) AS a(row, lon, lat, bid)),
        p AS (SELECT a.*, CASE WHEN a.lon IS NULL THEN NULL
                               ELSE ST_SetSRID(ST_MakePoint(a.lon, a.lat), 4490) END AS pt FROM a)
        SELECT p.row,
               (SELECT b.id FROM building b WHERE b.id = p.bid AND b.district_code = :d) AS given,
               (SELECT array_agg(b.id ORDER BY b.id) FROM building b
                 WHERE p.pt IS NOT NULL AND b.district_code = :d AND ST_Intersects(b.geom, p.pt)) AS inside,
               (SELECT array_agg(n.id ORDER BY n.dist) FROM (
                    SELECT b.id, ST_Distance(b.geom::geography, p.pt::geography) AS dist FROM building b
                    WHERE p.pt IS NOT NULL AND b.district_code = :d
                      AND ST_DWithin(b.geom::geography, p.pt::geography, :maxd)
                    ORDER BY b.geom <-> p.pt LIMIT 2) n) AS near_ids,
               (SELECT array_agg(round(n.dist::numeric, 1)::float8 ORDER BY n.dist) FROM (
                    SELECT ST_Distance(b.geom::geography, p.pt::geography) AS dist FROM building b
                    WHERE p.pt IS NOT NULL AND b.district_code = :d
                      AND ST_DWithin(b.geom::geography, p.pt::geography, :maxd)
                    ORDER BY b.geom <-> p.pt LIMIT 2) n) AS near_dist
        FROM p"""), {"rows": rows, "lons": lons, "lats": lats, "bids": buildings, "d": district_code,
                     "maxd": max_distance_m}).all()
    out = {}
    for row, given, inside, near_ids, near_dist in result:
        if given is not None:
            out[row] = {"building_id": given, "match": "building_id", "distance_m": None}
        elif inside:
            out[row] = ({"building_id": inside[0], "match": "inside", "distance_m": 0.0} if len(inside) == 1 else
                        {"building_id": None, "match": "ambiguous", "distance_m": 0.0, "candidates": sorted(inside)})
        elif near_ids:
            # Two footprints about equally near (within a metre): which one is a guess, so it is not made.
            if len(near_ids) > 1 and near_dist[1] - near_dist[0] < 1.0:
                out[row] = {"building_id": None, "match": "ambiguous", "distance_m": near_dist[0],
                            "candidates": sorted(near_ids)}
            else:
                out[row] = {"building_id": near_ids[0], "match": "nearest", "distance_m": near_dist[0]}
        else:
            out[row] = {"building_id": None, "match": "unmatched", "distance_m": None}
    return out


class RegisterImport(TypedDict):
    """What every register import answers: the file, how it was read, and the rows it wrote or left."""

    file: str
    district_code: str
    encoding: str | None
    rows: int
    inserted: int
    updated: int
    unchanged: int
    ignored_columns: list[str]


class AddressImport(RegisterImport):
    """What a standard-address list changed, and how its addresses were placed on buildings."""

    source_crs: str
    matched: int
    matched_by: dict[str, int]
    ambiguous: int
    unmatched: int
    ambiguous_rows: list[dict[str, Any]]
    unmatched_rows: list[dict[str, Any]]
    max_distance_m: float


def import_addresses(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                     max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None
                     ) -> AddressImport:
    """Attach a standard-address list to the district's buildings; a report of matched, ambiguous, unmatched."""
    _check_district(session, district_code)
    parsed = reader.parse_addresses(reader.read_table(path, encoding=encoding))
    records = parsed.records
    lons, lats = _to_storage([r["lon"] for r in records], [r["lat"] for r in records], source_crs)
    placed = _place_points(session, district_code, [r["row"] for r in records], lons, lats,
                           [r["building_id"] for r in records], max_distance_m)
    problems = Problems(parsed.file)
    for record in records:
        if record["building_id"] is not None and placed[record["row"]]["match"] != "building_id":
            problems.add(record["row"], parsed.columns["building_id"],
                         f"the id of a building of district {district_code}", record["building_id"])
        elif strict and placed[record["row"]]["match"] in {"ambiguous", "unmatched"}:
            what = placed[record["row"]]["match"]
            problems.add(record["row"], parsed.columns.get("lon", "经度"),
                         f"a point in or within {max_distance_m:g} m of exactly one building (strict); "
                         f"this address is {what}", record["address"])
    problems.raise_if_any()
    counts: Counter[str] = Counter()
    listed: dict[str, list[dict[str, Any]]] = {"ambiguous": [], "unmatched": []}
    for record, lon, lat in zip(records, lons, lats, strict=True):
        place = placed[record["row"]]
        counts[place["match"]] += 1
        if place["match"] in listed and len(listed[place["match"]]) < MAX_LISTED:
            listed[place["match"]].append({"row": record["row"], "address": record["address"],
                                           **({"candidates": place["candidates"]} if "candidates" in place else {})})
        written = session.execute(text("""
            INSERT INTO standard_address AS s (district_code, address, address_key, building_id, match, distance_m,
                                               geom)
            VALUES (:d, :address, :key, :bid, :match, :dist,
                    CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END)
            ON CONFLICT (district_code, address_key) DO UPDATE SET
                address = EXCLUDED.address, building_id = EXCLUDED.building_id, match = EXCLUDED.match,
                distance_m = EXCLUDED.distance_m, geom = EXCLUDED.geom
            WHERE (s.address, s.building_id, s.match, s.distance_m, ST_AsEWKB(s.geom))
                  IS DISTINCT FROM (EXCLUDED.address, EXCLUDED.building_id, EXCLUDED.match, EXCLUDED.distance_m,
                                    ST_AsEWKB(EXCLUDED.geom))
            RETURNING (xmax = 0) AS inserted"""),
            {"d": district_code, "address": record["address"], "key": record["address_key"],
             "bid": place["building_id"], "match": place["match"], "dist": place["distance_m"],
             "lon": None if lon is None else round(lon, 8), "lat": None if lat is None else round(lat, 8)}).first()
        counts["inserted" if written is not None and written.inserted else
               "updated" if written is not None else "unchanged"] += 1
    matched = counts["building_id"] + counts["inside"] + counts["nearest"]
    return {
        "file": parsed.file, "district_code": district_code, "encoding": parsed.encoding, "source_crs": source_crs,
        "rows": len(records), "matched": matched,
        "matched_by": {k: counts[k] for k in ("building_id", "inside", "nearest")},
        "ambiguous": counts["ambiguous"], "unmatched": counts["unmatched"],
        "ambiguous_rows": listed["ambiguous"], "unmatched_rows": listed["unmatched"],
        "inserted": counts["inserted"], "updated": counts["updated"], "unchanged": counts["unchanged"],
        "max_distance_m": max_distance_m, "ignored_columns": parsed.ignored_columns,
    }


class AddressBook:
    """The district's standard addresses, to resolve register addresses: exact, normalised, then by building."""

    def __init__(self, session: Session, district_code: str) -> None:
        rows = session.execute(text("SELECT address, address_key, building_id FROM standard_address "
                                    "WHERE district_code = :d AND building_id IS NOT NULL"),
                               {"d": district_code}).all()
        self.exact = {a: (a, b) for a, _k, b in rows}
        self.by_key = {k: (a, b) for a, k, b in rows}
        by_building: dict[str, set[int]] = defaultdict(set)
        canonical: dict[str, str] = {}
        for address, _key, building in rows:
            part = split_address(address).building_key
            by_building[part].add(building)
            canonical.setdefault(part, address)
        self.by_building = dict(by_building)
        self.canonical = canonical
        self.size = len(rows)

    def resolve(self, address: str | None) -> dict[str, Any]:
        """How ``address`` resolves: match kind, building id, the standard address, and the dwelling parts."""
        if not address:
            return {"match": "none", "building_id": None}
        parts = split_address(address)
        if address in self.exact:
            standard, building = self.exact[address]
            return {"match": "exact", "building_id": building, "standard": standard, "parts": parts}
        if parts.key in self.by_key:
            standard, building = self.by_key[parts.key]
            return {"match": "normalised", "building_id": building, "standard": standard, "parts": parts}
        buildings = self.by_building.get(parts.building_key)
        if buildings and len(buildings) == 1:
            return {"match": "building", "building_id": next(iter(buildings)), "standard": None, "parts": parts}
        if buildings:
            return {"match": "ambiguous", "building_id": None, "candidates": sorted(buildings), "parts": parts}
        return {"match": "unmatched", "building_id": None, "parts": parts}
