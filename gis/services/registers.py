"""Registers in (一标三实): standard addresses, population registers, facilities and units, into the database.

Each import reads and checks the whole file first (gis.io.registers), then writes in the caller's
transaction: any bad row refuses the file and nothing is written. Re-importing the same file changes
nothing: rows are matched on a stable key (normalised address, ID lookup hash, 户编号, credit code) and
written only when a value differs. ID numbers are stored sealed (gis.services.privacy.seal_id_number).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.crs import bd09_to_wgs84, gcj02_to_wgs84
from gis.errors import Conflict, InvalidInput, NotFound
from gis.idnumbers import IdKeys
from gis.io import registers as reader
from gis.io.registers import Parsed, Problems, normalise_address, split_address
from gis.services import privacy

SOURCE_CRS = ("wgs84", "gcj02", "bd09")
MAX_LISTED = 50
HEAD_RELATIONS = frozenset({"户主", "本人", "head", "self"})


def _check_district(session: Session, district_code: str) -> None:
    if session.execute(text("SELECT 1 FROM district WHERE code = :d"), {"d": district_code}).first() is None:
        raise NotFound(f"district {district_code} does not exist: import it first (wangge import osm ... "
                       f"--district-code {district_code})")


def _to_storage(lons: list[float | None], lats: list[float | None], source_crs: str
                ) -> tuple[list[float | None], list[float | None]]:
    """WGS-84 lon/lat as stored (CGCS2000 within centimetres); GCJ-02 and BD-09 converted first."""
    if source_crs not in SOURCE_CRS:
        raise InvalidInput(f"--source-crs: one of {', '.join(SOURCE_CRS)}, got {source_crs!r}")
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


# --- standard addresses ---------------------------------------------------------------------------


def import_addresses(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                     max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None
                     ) -> dict[str, Any]:
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
                         f"a point in or within {max_distance_m:g} m of exactly one building (--strict); "
                         f"this address is {what}", record["address"])
    problems.raise_if_any()
    counts = Counter()
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


# --- resolving addresses through the standard-address table --------------------------------------


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


# --- population registers ----------------------------------------------------------------------

_RESIDENT_FIELDS = ("household_id", "building_id", "name", "sex", "birth_date", "relation", "residency",
                    "party_member", "registered_address", "registered_building_id", "separated")


def _dwelling(session: Session, district_code: str, building_id: int, resolved: dict[str, Any],
              address: str, cache: dict[tuple[int, str], int]) -> int:
    """The dwelling at an address (found, or made once): 楼栋-单元-楼层-房号."""
    parts = resolved["parts"]
    label = resolved.get("standard") if resolved["match"] in {"exact", "normalised"} else None
    label = label or address
    key = (building_id, parts.key)
    if key in cache:
        return cache[key]
    found = session.execute(text("SELECT id FROM dwelling WHERE district_code = :d AND building_id = :b "
                                 "AND address = :a ORDER BY id LIMIT 1"),
                            {"d": district_code, "b": building_id, "a": label}).scalar()
    if found is None:
        found = session.execute(text("""
            INSERT INTO dwelling (district_code, building_id, unit, floor, room, address, geom)
            SELECT :d, :b, :u, :f, :r, :a, ST_PointOnSurface(geom) FROM building WHERE id = :b RETURNING id"""),
            {"d": district_code, "b": building_id, "u": parts.unit, "f": parts.floor, "r": parts.room,
             "a": label}).scalar_one()
    cache[key] = found
    return found


def _check_register_addresses(parsed: Parsed, book: AddressBook, strict: bool) -> tuple[dict[int, Any], dict[int, Any]]:
    live, registered = {}, {}
    problems = Problems(parsed.file)
    for record in parsed.records:
        live[record["row"]] = book.resolve(record["address"])
        registered[record["row"]] = book.resolve(record["registered_address"])
        if strict and live[record["row"]]["building_id"] is None:
            problems.add(record["row"], parsed.columns["address"], "an address of the standard-address table "
                         f"(--strict; import the addresses first); it is {live[record['row']]['match']}",
                         record["address"])
    problems.raise_if_any()
    return live, registered


def import_residents(session: Session, path: Path, *, district_code: str, keys: IdKeys, strict: bool = False,
                     encoding: str | None = None, drop_synthetic: bool = False) -> dict[str, Any]:
    """Load a population register: people matched by ID lookup hash, households by 户编号, recorded counts set.

    People living at an address of the district are residents; people registered (户籍) here but living
    elsewhere are kept in resident_away. Others (neither address known) are refused under ``strict`` and
    otherwise listed as unmatched and left out. Moves between imports are kept in resident_move.
    """
    _check_district(session, district_code)
    parsed = reader.parse_residents(reader.read_table(path, encoding=encoding))
    book = AddressBook(session, district_code)
    if book.size == 0:
        raise InvalidInput(f"district {district_code} has no standard addresses attached to buildings: import "
                           "them first (wangge import addresses FILE --district-code ...)")
    live, registered = _check_register_addresses(parsed, book, strict)
    synthetic = session.execute(text("SELECT count(*) FROM resident WHERE district_code = :d AND synthetic"),
                                {"d": district_code}).scalar_one()
    if synthetic and not drop_synthetic:
        raise Conflict(f"district {district_code} holds {synthetic} synthetic residents; a register replaces them: "
                       "pass --drop-synthetic to delete them in the same transaction")
    if synthetic:
        for table, where in (("resident", "synthetic"), ("household", "synthetic")):
            session.execute(text(f"DELETE FROM {table} WHERE district_code = :d AND {where}"), {"d": district_code})
        session.execute(text("DELETE FROM dwelling d WHERE district_code = :d AND NOT EXISTS "
                             "(SELECT 1 FROM household h WHERE h.dwelling_id = d.id)"), {"d": district_code})

    counts: Counter[str] = Counter()
    unmatched: list[dict[str, Any]] = []
    here, away = [], []
    for record in parsed.records:
        r_live, r_reg = live[record["row"]], registered[record["row"]]
        counts[f"address_{r_live['match']}"] += 1
        record["hash"] = keys.lookup_hash(record["id_number"])
        if r_live["building_id"] is not None:
            here.append(record)
        elif r_reg["building_id"] is not None:
            away.append(record)
        else:
            if len(unmatched) < MAX_LISTED:
                unmatched.append({"row": record["row"], "address": record["address"], "match": r_live["match"]})
            counts["unmatched"] += 1

    existing = {h: (rid, bid, addr) for h, rid, bid, addr in session.execute(text("""
        SELECT p.id_number_hash, r.id, r.building_id, COALESCE(d.address, b.address)
        FROM resident_private p JOIN resident r ON r.id = p.resident_id JOIN building b ON b.id = r.building_id
        LEFT JOIN household h ON h.id = r.household_id LEFT JOIN dwelling d ON d.id = h.dwelling_id
        WHERE r.district_code = :d AND p.id_number_hash IS NOT NULL"""), {"d": district_code}).all()}
    existing_away = {h: (aid, addr) for h, aid, addr in session.execute(text(
        "SELECT id_number_hash, id, address FROM resident_away WHERE district_code = :d"), {"d": district_code})}

    # Households: one per 户编号 among the people living here, in the building of its head (else its first member).
    members: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in here:
        members[record["household_no"]].append(record)
    dwellings: dict[tuple[int, str], int] = {}
    household_ids: dict[str, int] = {}
    for number, people in members.items():
        head = next((p for p in people if (p["relation"] or "") in HEAD_RELATIONS), people[0])
        resolved = live[head["row"]]
        building = resolved["building_id"]
        dwelling = _dwelling(session, district_code, building, resolved, head["address"], dwellings)
        row = session.execute(text("SELECT id, building_id, dwelling_id, size FROM household "
                                   "WHERE district_code = :d AND household_no = :n"),
                              {"d": district_code, "n": number}).first()
        if row is None:
            household_ids[number] = session.execute(text("""
                INSERT INTO household (district_code, building_id, dwelling_id, household_no, size, synthetic)
                VALUES (:d, :b, :w, :n, :s, false) RETURNING id"""),
                {"d": district_code, "b": building, "w": dwelling, "n": number, "s": len(people)}).scalar_one()
            counts["households_inserted"] += 1
        else:
            household_ids[number] = row.id
            if (row.building_id, row.dwelling_id, row.size) != (building, dwelling, len(people)):
                session.execute(text("UPDATE household SET building_id = :b, dwelling_id = :w, size = :s "
                                     "WHERE id = :id"), {"b": building, "w": dwelling, "s": len(people), "id": row.id})
                counts["households_updated"] += 1

    touched_buildings: set[int] = set()
    for record in here:
        r_live, r_reg = live[record["row"]], registered[record["row"]]
        building = r_live["building_id"]
        touched_buildings.add(building)
        separated = (record["registered_address"] is not None
                     and normalise_address(record["registered_address"]) != r_live["parts"].key)
        counts["separated_living_here"] += separated
        values = {"household_id": household_ids[record["household_no"]], "building_id": building,
                  "name": record["name"], "sex": record["sex"], "birth_date": record["birth_date"],
                  "relation": record["relation"], "residency": record["residency"],
                  "party_member": record["party_member"], "registered_address": record["registered_address"],
                  "registered_building_id": r_reg["building_id"], "separated": separated}
        private = {"phone": record["phone"], "tags": record["tags"]}
        address = r_live.get("standard") or record["address"]
        if record["hash"] in existing:
            rid, old_building, old_address = existing[record["hash"]]
            changed = _update_resident(session, rid, values, private,
                                       tags_given="tags" in parsed.columns)
            counts["updated" if changed else "unchanged"] += 1
            if old_building != building:
                touched_buildings.add(old_building)
                _record_move(session, district_code, record["hash"], rid, old_building, building, old_address,
                             address, parsed.file)
                counts["moved"] += 1
            continue
        rid = _insert_resident(session, district_code, values, private, keys, record["id_number"])
        counts["inserted"] += 1
        if record["hash"] in existing_away:
            aid, old_address = existing_away[record["hash"]]
            session.execute(text("DELETE FROM resident_away WHERE id = :a"), {"a": aid})
            _record_move(session, district_code, record["hash"], rid, None, building, old_address, address,
                         parsed.file)
            counts["moved"] += 1

    for record in away:
        r_reg = registered[record["row"]]
        counts["registered_here_living_elsewhere"] += 1
        values = {"household_no": record["household_no"], "name": record["name"], "sex": record["sex"],
                  "birth_date": record["birth_date"], "registered_address": record["registered_address"],
                  "registered_building_id": r_reg["building_id"], "address": record["address"]}
        if record["hash"] in existing:
            rid, old_building, old_address = existing[record["hash"]]
            touched_buildings.add(old_building)
            _record_move(session, district_code, record["hash"], None, old_building, None, old_address,
                         record["address"], parsed.file)
            session.execute(text("DELETE FROM resident WHERE id = :r"), {"r": rid})
            counts["moved"] += 1
        if record["hash"] in existing_away:
            aid = existing_away[record["hash"]][0]
            sets = ", ".join(f"{k} = :{k}" for k in values)
            changed = session.execute(text(
                f"UPDATE resident_away SET {sets} WHERE id = :a AND "
                f"({', '.join(values)}) IS DISTINCT FROM ({', '.join(':' + k for k in values)}) RETURNING id"),
                {**values, "a": aid}).first()
            counts["updated" if changed else "unchanged"] += 1
        else:
            token, digest, masked = privacy.seal_id_number(keys, record["id_number"])
            session.execute(text(f"""
                INSERT INTO resident_away (district_code, id_number, id_number_hash, id_number_masked,
                                           {', '.join(values)})
                VALUES (:d, :token, :digest, :masked, {', '.join(':' + k for k in values)})"""),
                {**values, "d": district_code, "token": token, "digest": digest, "masked": masked})
            counts["inserted"] += 1

    recorded = _set_recorded_counts(session, touched_buildings, parsed.file)
    households_here = len(members)
    return {
        "file": parsed.file, "district_code": district_code, "encoding": parsed.encoding,
        "rows": len(parsed.records), "living_here": len(here),
        "registered_here_living_elsewhere": counts["registered_here_living_elsewhere"],
        "living_here_registered_elsewhere": counts["separated_living_here"],
        "unmatched": counts["unmatched"], "unmatched_rows": unmatched,
        "address_match": {k: counts[f"address_{k}"] for k in ("exact", "normalised", "building", "ambiguous",
                                                                 "unmatched")},
        "households": households_here, "households_inserted": counts["households_inserted"],
        "households_updated": counts["households_updated"],
        "inserted": counts["inserted"], "updated": counts["updated"], "unchanged": counts["unchanged"],
        "moved": counts["moved"], "buildings_recorded": recorded["buildings"],
        "buildings_changed": recorded["changed"], "recorded_households": recorded["households"],
        "derived_from_id": parsed.derived, "synthetic_dropped": int(synthetic),
        "ignored_columns": parsed.ignored_columns,
    }


def _insert_resident(session: Session, district_code: str, values: dict[str, Any], private: dict[str, Any],
                     keys: IdKeys, id_number: str) -> int:
    columns = ", ".join(values)
    rid = session.execute(text(f"INSERT INTO resident (district_code, synthetic, {columns}) VALUES "
                               f"(:d, false, {', '.join(':' + k for k in values)}) RETURNING id"),
                          {**values, "d": district_code}).scalar_one()
    token, digest, masked = privacy.seal_id_number(keys, id_number)
    session.execute(text("""
        INSERT INTO resident_private (resident_id, district_code, id_number, id_number_hash, id_number_masked, phone,
                                      tags)
        VALUES (:r, :d, :token, :digest, :masked, :phone, CAST(:tags AS varchar(40)[]))"""),
        {"r": rid, "d": district_code, "token": token, "digest": digest, "masked": masked, **private})
    return rid


def _update_resident(session: Session, rid: int, values: dict[str, Any], private: dict[str, Any], *,
                     tags_given: bool) -> bool:
    """Write what differs (version and updated_at only then); True when anything changed."""
    sets = ", ".join(f"{k} = :{k}" for k in values)
    changed = session.execute(text(
        f"UPDATE resident SET {sets}, version = version + 1, updated_at = now() WHERE id = :rid AND "
        f"({', '.join(values)}) IS DISTINCT FROM ({', '.join(f'CAST(:{k} AS {_SQL_TYPES[k]})' for k in values)}) "
        "RETURNING id"), {**values, "rid": rid}).first() is not None
    # A register cell left empty keeps what a grid worker recorded; a given one replaces it.
    updates = {"phone": private["phone"]} if private["phone"] is not None else {}
    if tags_given:
        updates["tags"] = private["tags"]
    if updates:
        sets = ", ".join(f"{k} = :{k}" if k != "tags" else "tags = CAST(:tags AS varchar(40)[])" for k in updates)
        cmp_cols = ", ".join(updates)
        cmp_vals = ", ".join(f":{k}" if k != "tags" else "CAST(:tags AS varchar(40)[])" for k in updates)
        changed |= session.execute(text(
            f"UPDATE resident_private SET {sets} WHERE resident_id = :rid AND ({cmp_cols}) IS DISTINCT FROM "
            f"({cmp_vals}) RETURNING resident_id"), {**updates, "rid": rid}).first() is not None
    return changed


_SQL_TYPES = {"household_id": "bigint", "building_id": "bigint", "name": "varchar", "sex": "varchar",
              "birth_date": "date", "relation": "varchar", "residency": "varchar", "party_member": "boolean",
              "registered_address": "text", "registered_building_id": "bigint", "separated": "boolean"}


def _record_move(session: Session, district_code: str, digest: str, resident_id: int | None,
                 from_building: int | None, to_building: int | None, from_address: str | None,
                 to_address: str | None, source_file: str) -> None:
    session.execute(text("""
        INSERT INTO resident_move (district_code, id_number_hash, resident_id, from_building_id, to_building_id,
                                   from_address, to_address, source_file)
        VALUES (:d, :h, :r, :fb, :tb, :fa, :ta, :f)"""),
        {"d": district_code, "h": digest, "r": resident_id, "fb": from_building, "tb": to_building,
         "fa": from_address, "ta": to_address, "f": source_file})


def _set_recorded_counts(session: Session, buildings: set[int], source_file: str) -> dict[str, int]:
    """Recorded households per building: distinct 户编号 of the register's residents living there.

    Written as a recorded count is (gis.services.households.set_households): reason ``recorded``, the
    estimate it replaces kept in the detail, who (the register import) and why (the file).
    """
    rows = session.execute(text("""
        WITH n AS (SELECT r.building_id, count(DISTINCT h.household_no) AS households
                   FROM resident r JOIN household h ON h.id = r.household_id
                   WHERE r.building_id = ANY(:ids) AND h.household_no IS NOT NULL AND NOT r.synthetic
                   GROUP BY r.building_id)
        UPDATE building b SET households = n.households, households_source = 'recorded',
               households_reason = 'recorded',
               households_reason_detail = COALESCE(b.households_reason_detail, '{}'::jsonb)
                   || CASE WHEN b.households_source = 'estimated' AND b.households_reason IS NOT NULL
                           THEN jsonb_build_object('estimate', b.households, 'estimate_reason', b.households_reason)
                           ELSE '{}'::jsonb END
                   || jsonb_build_object('by', 'register import', 'why', CAST(:why AS text)),
               households_recorded_by = 'register import', households_recorded_at = now(),
               households_recorded_reason = :why
        FROM n WHERE b.id = n.building_id
          AND (b.households, b.households_source) IS DISTINCT FROM (n.households::int, 'recorded')
        RETURNING b.id"""), {"ids": sorted(b for b in buildings if b is not None),
                             "why": f"population register {source_file}"}).all()
    totals = session.execute(text("""
        SELECT count(DISTINCT r.building_id), count(DISTINCT h.id) FROM resident r JOIN household h
          ON h.id = r.household_id WHERE r.building_id = ANY(:ids) AND h.household_no IS NOT NULL"""),
        {"ids": sorted(b for b in buildings if b is not None)}).one()
    return {"buildings": int(totals[0]), "households": int(totals[1]), "changed": len(rows)}


# --- facilities and units -----------------------------------------------------------------------


def _facility_types(session: Session) -> dict[str, str]:
    types = {}
    for code, name_zh, name_en in session.execute(text("SELECT code, name_zh, name_en FROM facility_type")):
        types[code] = code
        types[name_zh] = code
        types[name_en.lower()] = code
    if not types:
        raise InvalidInput("the facility catalogue is empty: run `wangge db migrate` (it seeds the catalogue)")
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
                             f"building (--strict); it is {out[record['row']]['match']}", record["name"])
    problems.raise_if_any()
    return out


_POINT = """COALESCE(CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
                          ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4490) END,
                     (SELECT ST_PointOnSurface(geom) FROM building WHERE id = :bid))"""


def import_facilities(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                      max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None
                      ) -> dict[str, Any]:
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
            "rows": len(parsed.records), **{k: counts[k] for k in ("inserted", "updated", "unchanged")},
            "by_type": dict(Counter(r["type_code"] for r in parsed.records)),
            "ignored_columns": parsed.ignored_columns}


def import_units(session: Session, path: Path, *, district_code: str, source_crs: str = "wgs84",
                 max_distance_m: float = 30.0, strict: bool = False, encoding: str | None = None) -> dict[str, Any]:
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
            "rows": len(parsed.records), **{k: counts[k] for k in ("inserted", "updated", "unchanged")},
            "in_buildings": sum(1 for p in placed.values() if p["building_id"] is not None),
            "ignored_columns": parsed.ignored_columns}


# --- data quality --------------------------------------------------------------------------------


def data_quality(session: Session, *, district_code: str | None = None) -> dict[str, Any]:
    """Per current grid and community: households recorded vs estimated, residents per household, addresses
    not attached to a building. Aggregates only.
    """
    params = {"d": district_code}
    where = "g.valid_to IS NULL" + (" AND g.district_code = :d" if district_code else "")
    grids = session.execute(text(f"""
        WITH g AS (SELECT code, community_code, level, geom FROM grid g WHERE {where}),
        bg AS (SELECT g.code, g.community_code, b.id, b.households, b.households_source FROM g JOIN building b
               ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))),
        hh AS (SELECT bg.code, sum(bg.households) FILTER (WHERE bg.households_source = 'recorded') AS recorded,
                      sum(bg.households) FILTER (WHERE bg.households_source <> 'recorded') AS estimated
               FROM bg GROUP BY bg.code),
        rs AS (SELECT bg.code, count(r.id) AS residents, count(DISTINCT r.household_id) AS households
               FROM bg JOIN resident r ON r.building_id = bg.id GROUP BY bg.code),
        ad AS (SELECT g.code, count(*) FILTER (WHERE s.building_id IS NULL) AS unmatched, count(*) AS addresses
               FROM g JOIN standard_address s ON ST_Contains(g.geom, s.geom) GROUP BY g.code)
        SELECT g.code, g.community_code, g.level, COALESCE(hh.recorded, 0) AS recorded, COALESCE(hh.estimated, 0) AS estimated,
               COALESCE(rs.residents, 0) AS residents, COALESCE(rs.households, 0) AS resident_households,
               COALESCE(ad.unmatched, 0) AS unmatched_addresses, COALESCE(ad.addresses, 0) AS addresses
        FROM g LEFT JOIN hh ON hh.code = g.code LEFT JOIN rs ON rs.code = g.code LEFT JOIN ad ON ad.code = g.code
        ORDER BY g.code"""), params).mappings().all()
    per_grid = {row["code"]: _quality(row) for row in grids}
    by_community: dict[str, Counter[str]] = defaultdict(Counter)
    for row in grids:
        if row["level"] == 2:
            continue  # its buildings are already in its parent grid's row
        for key in ("recorded", "estimated", "residents", "resident_households", "unmatched_addresses", "addresses"):
            by_community[row["community_code"]][key] += int(row[key])
    per_community = {code: _quality(values) for code, values in sorted(by_community.items())}
    unplaced = session.execute(text("SELECT count(*) FROM standard_address WHERE building_id IS NULL"
                                    + (" AND district_code = :d" if district_code else "")), params).scalar_one()
    return {"grids": per_grid, "communities": per_community, "unmatched_addresses_total": int(unplaced)}


def _quality(row: Any) -> dict[str, Any]:
    recorded, estimated = int(row["recorded"]), int(row["estimated"])
    total = recorded + estimated
    households = int(row["resident_households"])
    return {"households_recorded": recorded, "households_estimated": estimated,
            "recorded_share": round(recorded / total, 3) if total else None,
            "residents_per_household": round(int(row["residents"]) / households, 2) if households else None,
            "unmatched_addresses": int(row["unmatched_addresses"])}

