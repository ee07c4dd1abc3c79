"""Population registers (实有人口) into the database: residents, households, people registered here living away.

People are matched by their ID number's lookup hash (the number itself is stored sealed),
households by 户编号; moves between imports are kept, and the buildings' recorded household
counts are set from the register.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput
from gis.idnumbers import IdKeys
from gis.io import registers as reader
from gis.io.registers import Parsed, Problems, normalise_address
from gis.services import privacy
from gis.services.registers.addresses import MAX_LISTED, AddressBook, RegisterImport, _check_district

HEAD_RELATIONS = frozenset({"户主", "本人", "head", "self"})


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
                         f"(strict; import the addresses first); it is {live[record['row']]['match']}",
                         record["address"])
    problems.raise_if_any()
    return live, registered


class ResidentImport(RegisterImport):
    """What a population register changed: people living here or away, households, moves, recorded counts."""

    living_here: int
    registered_here_living_elsewhere: int
    living_here_registered_elsewhere: int
    unmatched: int
    unmatched_rows: list[dict[str, Any]]
    address_match: dict[str, int]
    households: int
    households_inserted: int
    households_updated: int
    moved: int
    buildings_recorded: int
    buildings_changed: int
    recorded_households: int
    derived_from_id: Any
    synthetic_dropped: int


def import_residents(session: Session, path: Path, *, district_code: str, keys: IdKeys, strict: bool = False,
                     encoding: str | None = None, drop_synthetic: bool = False) -> ResidentImport:
    """Load a population register: people matched by ID lookup hash, households by 户编号, recorded counts set.

    People living at an address of the district are residents; people registered (户籍) here but living
    elsewhere are kept in resident_away. Others (neither address known) are refused under ``strict`` and
    otherwise listed as unmatched and left out. Moves between imports are kept in resident_move.
    """
    _check_district(session, district_code)
    parsed = reader.parse_residents(reader.read_table(path, encoding=encoding))
    book = AddressBook(session, district_code)
    if book.size == 0:
        raise InvalidInput(f"district_code: district {district_code} has no standard addresses attached to "
                           "buildings: import them first (the addresses register)", details={"field": "district_code"})
    live, registered = _check_register_addresses(parsed, book, strict)
    synthetic = _drop_synthetic(session, district_code, drop=drop_synthetic)
    counts: Counter[str] = Counter()
    here, away, unmatched = _sort_records(parsed, live, registered, keys=keys, counts=counts)
    existing = {h: (rid, bid, addr) for h, rid, bid, addr in session.execute(text("""
        SELECT p.id_number_hash, r.id, r.building_id, COALESCE(d.address, b.address)
        FROM resident_private p JOIN resident r ON r.id = p.resident_id JOIN building b ON b.id = r.building_id
        LEFT JOIN household h ON h.id = r.household_id LEFT JOIN dwelling d ON d.id = h.dwelling_id
        WHERE r.district_code = :d AND p.id_number_hash IS NOT NULL"""), {"d": district_code}).all()}
    existing_away = {h: (aid, addr) for h, aid, addr in session.execute(text(
        "SELECT id_number_hash, id, address FROM resident_away WHERE district_code = :d"), {"d": district_code})}
    household_ids = _write_households(session, district_code, here, live, counts=counts)
    touched = _write_living_here(session, district_code, parsed, here, live, registered, household_ids=household_ids,
                                 existing=existing, existing_away=existing_away, keys=keys, counts=counts)
    touched |= _write_living_away(session, district_code, parsed, away, registered, existing=existing,
                                  existing_away=existing_away, keys=keys, counts=counts)
    recorded = _set_recorded_counts(session, touched, parsed.file)
    return {
        "file": parsed.file, "district_code": district_code, "encoding": parsed.encoding,
        "rows": len(parsed.records), "living_here": len(here),
        "registered_here_living_elsewhere": counts["registered_here_living_elsewhere"],
        "living_here_registered_elsewhere": counts["separated_living_here"],
        "unmatched": counts["unmatched"], "unmatched_rows": unmatched,
        "address_match": {k: counts[f"address_{k}"] for k in ("exact", "normalised", "building", "ambiguous",
                                                                 "unmatched")},
        "households": len(household_ids), "households_inserted": counts["households_inserted"],
        "households_updated": counts["households_updated"],
        "inserted": counts["inserted"], "updated": counts["updated"], "unchanged": counts["unchanged"],
        "moved": counts["moved"], "buildings_recorded": recorded["buildings"],
        "buildings_changed": recorded["changed"], "recorded_households": recorded["households"],
        "derived_from_id": parsed.derived, "synthetic_dropped": int(synthetic),
        "ignored_columns": parsed.ignored_columns,
    }


def _drop_synthetic(session: Session, district_code: str, *, drop: bool) -> int:
    """The count of synthetic residents a register replaces; deleted when ``drop``, else a Conflict.

    Their households and the dwellings left empty go with them.
    """
    synthetic = int(session.execute(text("SELECT count(*) FROM resident WHERE district_code = :d AND synthetic"),
                                    {"d": district_code}).scalar_one())
    if synthetic and not drop:
        raise Conflict(f"drop_synthetic: district {district_code} holds {synthetic} synthetic residents; a register "
                       "replaces them: ask to drop them in the same transaction", details={"field": "drop_synthetic"})
    if synthetic:
        session.execute(text("DELETE FROM resident WHERE district_code = :d AND synthetic"), {"d": district_code})
        session.execute(text("DELETE FROM household WHERE district_code = :d AND synthetic"), {"d": district_code})
        session.execute(text("DELETE FROM dwelling d WHERE district_code = :d AND NOT EXISTS "
                             "(SELECT 1 FROM household h WHERE h.dwelling_id = d.id)"), {"d": district_code})
    return synthetic


def _sort_records(parsed: Parsed, live: dict[int, Any], registered: dict[int, Any], *, keys: IdKeys,
                  counts: Counter[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(living here, registered here but living elsewhere, the first unmatched rows), each record hashed."""
    here: list[dict[str, Any]] = []
    away: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
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
    return here, away, unmatched


def _write_households(session: Session, district_code: str, here: list[dict[str, Any]], live: dict[int, Any], *,
                      counts: Counter[str]) -> dict[str, int]:
    """The households' ids by 户编号: one per 户编号 among the people living here.

    A household lies in the building of its head (else of its first member).
    """
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
    return household_ids


def _write_living_here(session: Session, district_code: str, parsed: Parsed, here: list[dict[str, Any]],
                       live: dict[int, Any], registered: dict[int, Any], *, household_ids: dict[str, int],
                       existing: dict[str, Any], existing_away: dict[str, Any], keys: IdKeys,
                       counts: Counter[str]) -> set[int]:
    """The people living here, inserted, updated or moved; the buildings whose recorded counts may change.

    A move is from another building of the district, or back from living away.
    """
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
    return touched_buildings


def _write_living_away(session: Session, district_code: str, parsed: Parsed, away: list[dict[str, Any]],
                       registered: dict[int, Any], *, existing: dict[str, Any], existing_away: dict[str, Any],
                       keys: IdKeys, counts: Counter[str]) -> set[int]:
    """The people registered here but living elsewhere (resident_away); the buildings they left.

    A resident who left the district's buildings is moved there.
    """
    touched_buildings: set[int] = set()
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
    return touched_buildings


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
