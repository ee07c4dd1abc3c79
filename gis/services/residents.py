"""Residents and households: grid-scoped reads (masked, audited), a grid worker's edits, aggregates per grid.

Scope is part of every query (:func:`gis.services.privacy.scope_filter`), so a grid worker's
query cannot return a resident of another grid whatever filter the caller sends. ID and phone
numbers leave this module masked only. Every read that returns personal records writes one
audit row naming them; a read that returns nothing writes nothing. Planners and viewers are
refused here too (not only by the API's access table), so the CLI is just as safe.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

# Where and check_grid_code are re-exported: visits, cases and patrols import them from here.
from gis.db.filters import Where as Where
from gis.db.filters import check_grid_code as check_grid_code
from gis.errors import Conflict, InvalidInput, NotFound
from gis.services import privacy
from gis.services.users import Principal

if TYPE_CHECKING:  # the registers package is loaded only when grid_stats reads data quality
    from gis.services.registers.quality import Quality

RESIDENCIES = ("permanent", "floating", "overseas")
# Welfare tags are counted per grid for every role. Any other tag (key-population and security-side
# categories) is sensitive under PIPL art. 28: counted only in grids the reader may see.
WELFARE_TAGS = frozenset({"elderly_alone", "disabled", "low_income", "left_behind_child"})
MAX_PAGE = 1000
ELDERLY_AGE = 60
CHILD_MAX_AGE = 14
_TAG = re.compile(r"^[a-z][a-z0-9_:.-]{0,39}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
# Fields a grid worker keeps up to date; the rest of a resident comes from registration imports.
EDITABLE = ("phone", "tags", "residency", "relation", "party_member", "health_notes")
_PRIVATE_FIELDS = frozenset({"phone", "tags", "health_notes"})

_RESIDENT_COLUMNS = """
    r.id, r.district_code, r.household_id, r.building_id, b.name AS building_name,
    COALESCE(d.address, b.address) AS address, r.name, r.sex,
    date_part('year', age(current_date, r.birth_date))::int AS age, r.relation, r.residency, r.party_member,
    r.synthetic, r.version, p.id_number_masked AS id_number, p.phone, COALESCE(p.tags, '{}') AS tags, p.health_notes
"""
_RESIDENT_FROM = """
    FROM resident r JOIN building b ON b.id = r.building_id
    LEFT JOIN household h ON h.id = r.household_id LEFT JOIN dwelling d ON d.id = h.dwelling_id
    LEFT JOIN resident_private p ON p.resident_id = r.id
"""

# Export columns: (header, record key). Chinese headers: the file is for grid staff and Excel.
EXPORT_COLUMNS = (
    ("编号", "id"), ("姓名", "name"), ("性别", "sex"), ("年龄", "age"), ("年龄段", "age_band"),
    ("与户主关系", "relation"), ("户籍类型", "residency"), ("党员", "party_member"), ("网格", "grid_code"),
    ("楼栋", "building_name"), ("户号", "household_id"), ("地址", "address"), ("身份证号(脱敏)", "id_number"),
    ("手机号(脱敏)", "phone"), ("标签", "tags"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ResidentRecord(TypedDict):
    """A resident as staff see one: ID and phone masked, an age band instead of a birth date."""

    id: int
    name: str
    sex: str | None
    age: int | None
    age_band: str | None
    relation: str | None
    residency: str
    party_member: bool
    household_id: int | None
    building_id: int
    building_name: str | None
    address: str | None
    grid_code: str | None
    district_code: str
    id_number: str | None
    phone: str | None
    tags: list[str]
    synthetic: bool
    version: int
    health_notes: NotRequired[str | None]


class ResidentPage(TypedDict):
    """One page of residents and the total matching."""

    items: list[ResidentRecord]
    total: int
    limit: int
    offset: int


class ResidentFeatures(TypedDict):
    """One page of residents as GeoJSON points (each building's point on surface), and the total matching."""

    type: str
    features: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class HouseholdRecord(TypedDict):
    """A household: where it lives and how many; in the detail view also its members (masked)."""

    id: int
    district_code: str
    building_id: int
    building_name: str | None
    grid_code: str | None
    dwelling_id: int | None
    address: str | None
    unit: str | None
    floor: str | None
    room: str | None
    size: int | None
    members: int
    synthetic: bool
    residents: NotRequired[list[ResidentRecord]]


class HouseholdPage(TypedDict):
    """One page of households and the total matching."""

    items: list[HouseholdRecord]
    total: int
    limit: int
    offset: int


class GridStats(TypedDict):
    """One current grid's counts (nobody named); sensitive tags only where the reader sees the grid."""

    grid_code: str
    name: str | None
    community_code: str
    district_code: str
    kind: str
    level: int
    parent_grid_code: str | None
    buildings: int
    building_households: int
    households: int
    residents: int
    elderly_60_plus: int
    children_0_14: int
    party_members: int
    floating: int
    party_orgs: int
    tags: dict[str, int]
    sensitive_tags_shown: bool
    data_quality: Quality | None


@dataclass(frozen=True)
class Reader:
    """Who reads personal records, and the request facts their audit row keeps."""

    principal: Principal
    reason: str | None = None
    request_id: str | None = None
    client_ip: str | None = None


# --- validation ---------------------------------------------------------------------------


def check_paging(limit: int, offset: int) -> None:
    """Refuse pages the database should not be asked for."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit: between 1 and {MAX_PAGE}, got {limit}", details={"field": "limit"})
    if offset < 0:
        raise InvalidInput(f"offset: 0 or more, got {offset}", details={"field": "offset"})


def check_tag(tag: str, *, where: str = "tag") -> str:
    """A tag such as ``elderly_alone``: lower-case letters, digits, ``_:.-``, at most 40 characters."""
    tag = tag.strip()
    if not _TAG.match(tag):
        raise InvalidInput(f"{where}: a tag is lower-case letters, digits and _:.- (at most 40), got {tag!r}",
                           details={"field": where})
    return tag


def _check_residency(value: str, *, where: str = "residency") -> str:
    if value not in RESIDENCIES:
        raise InvalidInput(f"{where}: one of {', '.join(RESIDENCIES)}, got {value!r}", details={"field": where})
    return value


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- queries ------------------------------------------------------------------------------


def _resident_where(principal: Principal, *, resident_id: int | None = None, grid_code: str | None = None,
                    building_id: int | None = None, household_id: int | None = None, tag: str | None = None,
                    q: str | None = None, residency: str | None = None, min_age: int | None = None,
                    max_age: int | None = None) -> Where:
    """The WHERE clause of a resident query: the reader's scope first, then the filters."""
    where = Where.scoped(privacy.scope_filter(principal, building_column="r.building_id",
                                              district_column="r.district_code"))
    where.equal("r.id", "resident_id", resident_id, audit=False)
    where.in_grid("r.building_id", grid_code)
    where.equal("r.building_id", "building_id", building_id)
    where.equal("r.household_id", "household_id", household_id)
    where.add("p.tags @> ARRAY[CAST(:tag AS varchar)]", "tag", None if tag is None else check_tag(tag))
    if q is not None and q.strip():
        if len(q.strip()) > 100:
            raise InvalidInput(f"q: at most 100 characters, got {len(q.strip())}", details={"field": "q"})
        where.add("r.name ILIKE :q", "q", _like_pattern(q.strip()), audit=False)
        where.given["q"] = q.strip()
    where.equal("r.residency", "residency", None if residency is None else _check_residency(residency))
    for name, value in (("min_age", min_age), ("max_age", max_age)):
        if value is not None and not 0 <= value <= 150:
            raise InvalidInput(f"{name}: between 0 and 150, got {value}", details={"field": name})
    if min_age is not None and max_age is not None and min_age > max_age:
        raise InvalidInput(f"min_age {min_age} is above max_age {max_age}", details={"field": "min_age"})
    where.add("r.birth_date <= current_date - make_interval(years => :min_age)", "min_age", min_age)
    # Younger than max_age + 1 full years: born after that many years ago.
    where.add("r.birth_date > current_date - make_interval(years => :max_age + 1)", "max_age", max_age)
    return where


def _resident_record(row: Any, grid_code: str | None, *, detail: bool = False) -> ResidentRecord:
    """The public view of a resident: ID and phone numbers masked; health notes only in the detail view.

    No birth date: the mask hides exactly the 8 birth-date digits, so a birth date beside it would
    give the whole number back (first 6 + date + last 4). Age and an age band say what staff need.
    """
    record = ResidentRecord(
        id=row.id, name=row.name, sex=row.sex, age=row.age, age_band=privacy.age_band(row.age),
        relation=row.relation, residency=row.residency, party_member=row.party_member,
        household_id=row.household_id, building_id=row.building_id, building_name=row.building_name,
        address=row.address, grid_code=grid_code, district_code=row.district_code,
        id_number=privacy.mask_id_number(row.id_number), phone=privacy.mask_phone(row.phone),
        tags=sorted(row.tags or []), synthetic=row.synthetic, version=row.version,
    )
    if detail:
        record["health_notes"] = row.health_notes
    return record


def _audit_read(session: Session, reader: Reader, *, entity: str, ids: list[Any], action: str = "read",
                detail: dict[str, Any] | None = None, total: int | None = None) -> None:
    privacy.record_read(session, reader.principal, entity=entity, entity_ids=ids, action=action,
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip, detail=detail, total=total)


def _select_residents(session: Session, reader: Reader, *, limit: int | None, offset: int, points: bool = False,
                      **filters: Any) -> tuple[list[ResidentRecord], list[Any], int, dict[str, Any]]:
    """One page of scoped residents (all of them when ``limit`` is None), their points, the total, the filters.

    The points (GeoJSON, each building's point on surface) are there with ``points`` only.
    """
    privacy.require_personal_access(reader.principal, "residents")
    where = _resident_where(reader.principal, **filters)
    params = where.params
    # The count needs only the tables filters name (PostgreSQL drops the unused LEFT JOIN on its key).
    total = session.execute(text(f"SELECT count(*) FROM resident r LEFT JOIN resident_private p "
                                 f"ON p.resident_id = r.id WHERE {where.sql}"), params).scalar_one()
    point = ", ST_AsGeoJSON(ST_PointOnSurface(b.geom), 7) AS point" if points else ""
    page = "" if limit is None else " LIMIT :limit OFFSET :offset"
    rows = session.execute(text(f"SELECT {_RESIDENT_COLUMNS}{point} {_RESIDENT_FROM} WHERE {where.sql} "
                                f"ORDER BY r.id{page}"), {**params, "limit": limit, "offset": offset}).all()
    grids = privacy.grid_of_buildings(session, (r.building_id for r in rows))
    records = [_resident_record(row, grids.get(row.building_id)) for row in rows]
    shown = [json.loads(row.point) for row in rows] if points else []
    return records, shown, total, where.given


def list_residents(session: Session, reader: Reader, *, grid_code: str | None = None,
                   building_id: int | None = None, household_id: int | None = None, tag: str | None = None,
                   q: str | None = None, residency: str | None = None, min_age: int | None = None,
                   max_age: int | None = None, limit: int = 100, offset: int = 0) -> ResidentPage:
    """One page of the residents within the reader's scope that match the filters, with the total; audited."""
    check_paging(limit, offset)
    records, _points, total, given = _select_residents(
        session, reader, limit=limit, offset=offset, grid_code=grid_code, building_id=building_id,
        household_id=household_id, tag=tag, q=q, residency=residency, min_age=min_age, max_age=max_age)
    _audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="list",
                detail={"filters": given}, total=total)
    return {"items": records, "total": total, "limit": limit, "offset": offset}


def residents_geojson(session: Session, reader: Reader, *, grid_code: str | None = None,
                      building_id: int | None = None, household_id: int | None = None, tag: str | None = None,
                      q: str | None = None, residency: str | None = None, min_age: int | None = None,
                      max_age: int | None = None, limit: int = 100, offset: int = 0) -> ResidentFeatures:
    """The same page as :func:`list_residents`, as a FeatureCollection at each building's point on surface."""
    check_paging(limit, offset)
    records, points, total, given = _select_residents(
        session, reader, limit=limit, offset=offset, points=True, grid_code=grid_code, building_id=building_id,
        household_id=household_id, tag=tag, q=q, residency=residency, min_age=min_age, max_age=max_age)
    _audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="list",
                detail={"filters": given, "format": "geojson"}, total=total)
    features = [{"type": "Feature", "id": r["id"], "geometry": point, "properties": r}
                for r, point in zip(records, points, strict=True)]
    return {"type": "FeatureCollection", "features": features, "total": total, "limit": limit, "offset": offset}


def defuse_formula(value: Any) -> Any:
    """A text cell that Excel would run as a formula, quoted with a leading apostrophe (CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_cell(value: Any) -> Any:
    if isinstance(value, list):
        value = ";".join(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    return defuse_formula(value)


def export_residents_csv(session: Session, reader: Reader, *, grid_code: str | None = None,
                         building_id: int | None = None, household_id: int | None = None, tag: str | None = None,
                         q: str | None = None, residency: str | None = None, min_age: int | None = None,
                         max_age: int | None = None) -> tuple[str, int]:
    """Every scoped resident matching the filters as CSV (masked, UTF-8 BOM for Excel) and the row count; audited."""
    records, _points, _total, given = _select_residents(
        session, reader, limit=None, offset=0, grid_code=grid_code, building_id=building_id,
        household_id=household_id, tag=tag, q=q, residency=residency, min_age=min_age, max_age=max_age)
    out = io.StringIO()
    out.write("\ufeff")  # Excel reads a BOM-less CSV as the local code page and garbles Chinese
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for header, _key in EXPORT_COLUMNS])
    for record in records:
        writer.writerow([_csv_cell(record.get(key)) for _header, key in EXPORT_COLUMNS])
    _audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="export",
                detail={"filters": given, "format": "csv"})
    return out.getvalue(), len(records)


def _not_found(principal: Principal, what: str, ident: Any) -> NotFound:
    # The same answer whether the row is missing or outside the grids: existence is not confirmed.
    if principal.is_grid_scoped:
        return NotFound(f"no {what} {ident} within your grids")
    return NotFound(f"{what} {ident} does not exist")


def _one_resident(session: Session, principal: Principal, resident_id: int) -> ResidentRecord:
    where = _resident_where(principal, resident_id=resident_id)
    row = session.execute(text(f"SELECT {_RESIDENT_COLUMNS} {_RESIDENT_FROM} WHERE {where.sql}"),
                          where.params).first()
    if row is None:
        raise _not_found(principal, "resident", resident_id)
    return _resident_record(row, privacy.grid_of_buildings(session, [row.building_id]).get(row.building_id),
                            detail=True)


def get_resident(session: Session, reader: Reader, resident_id: int) -> ResidentRecord:
    """One resident within the reader's scope (masked, with health notes); NotFound otherwise; audited."""
    privacy.require_personal_access(reader.principal, "residents")
    record = _one_resident(session, reader.principal, resident_id)
    _audit_read(session, reader, entity="resident", ids=[resident_id])
    return record


def _check_changes(changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"{unknown[0]}: resident fields {', '.join(unknown)} cannot be changed here; "
                           f"editable: {', '.join(EDITABLE)}", details={"field": unknown[0]})
    clean = dict(changes)
    if clean.get("phone") is not None:
        phone = str(clean["phone"]).strip()
        if not _PHONE.match(phone):
            raise InvalidInput(f"phone: digits, spaces, '-' and a leading '+', 6 to 20 characters; got {phone!r}",
                               details={"field": "phone"})
        clean["phone"] = phone
    if "tags" in clean:
        clean["tags"] = sorted({check_tag(t, where="tags") for t in (clean["tags"] or [])})
    if "residency" in clean:
        if clean["residency"] is None:
            raise InvalidInput("residency: cannot be empty; one of permanent, floating", details={"field": "residency"})
        _check_residency(clean["residency"])
    if "party_member" in clean and clean["party_member"] is None:
        raise InvalidInput("party_member: true or false, not empty", details={"field": "party_member"})
    if clean.get("relation") is not None and len(clean["relation"]) > 20:
        raise InvalidInput(f"relation: at most 20 characters, got {len(clean['relation'])}",
                           details={"field": "relation"})
    return clean


def update_resident(session: Session, reader: Reader, resident_id: int, *, expected_version: int,
                    changes: dict[str, Any]) -> ResidentRecord:
    """Apply a grid worker's changes to a resident in scope; a stale ``expected_version`` gets Conflict.

    ``changes`` holds only the fields sent (a None clears phone, relation or health notes).
    The audit row names the fields changed, never their values.
    """
    principal = reader.principal
    privacy.require_personal_access(principal, "residents")
    clean = _check_changes(changes)
    current = _one_resident(session, principal, resident_id)  # scope first: out of scope is NotFound
    public = {k: v for k, v in clean.items() if k not in _PRIVATE_FIELDS}
    assignments = "".join(f", {k} = :{k}" for k in public)
    # The version check and the bump are one statement, so of two writers with one version exactly one wins.
    bumped = session.execute(text(f"""
        UPDATE resident SET version = version + 1, updated_at = now(){assignments}
        WHERE id = :id AND version = :expected RETURNING version"""),
        {**public, "id": resident_id, "expected": expected_version}).first()
    if bumped is None:
        now = session.execute(text("SELECT version FROM resident WHERE id = :id"), {"id": resident_id}).scalar_one()
        raise Conflict(f"resident {resident_id} was changed by someone else (current version {now}, yours "
                       f"{expected_version}); reload and try again", details={"current_version": now})
    private = {k: v for k, v in clean.items() if k in _PRIVATE_FIELDS}
    if private:
        columns = ", ".join(private)
        values = ", ".join(f":{k}" for k in private)
        updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in private)
        session.execute(text(f"""
            INSERT INTO resident_private (resident_id, district_code, {columns})
            VALUES (:id, :district, {values}) ON CONFLICT (resident_id) DO UPDATE SET {updates}"""),
            {**private, "id": resident_id, "district": current["district_code"]})
    privacy.record_change(session, principal, entity="resident", entity_id=resident_id, action="update",
                          reason=reader.reason, district_code=current["district_code"],
                          request_id=reader.request_id,
                          detail={"fields": sorted(clean), "version": bumped.version})
    return _one_resident(session, principal, resident_id)


def building_residents(session: Session, reader: Reader, building_id: int, *, limit: int = 100,
                       offset: int = 0) -> ResidentPage:
    """The residents of one building within the reader's scope (none when it lies in another grid); audited."""
    privacy.require_personal_access(reader.principal, "residents")
    # Buildings are public map features, so saying one does not exist leaks nothing.
    if session.execute(text("SELECT 1 FROM building WHERE id = :id"), {"id": building_id}).first() is None:
        raise NotFound(f"building {building_id} does not exist", details={"field": "building_id"})
    return list_residents(session, reader, building_id=building_id, limit=limit, offset=offset)


# --- households ---------------------------------------------------------------------------

_HOUSEHOLD_SELECT = """
    SELECT h.id, h.district_code, h.building_id, b.name AS building_name, h.dwelling_id,
           COALESCE(d.address, b.address) AS address, d.unit, d.floor, d.room, h.size, h.synthetic,
           (SELECT count(*) FROM resident m WHERE m.household_id = h.id) AS members
    FROM household h JOIN building b ON b.id = h.building_id LEFT JOIN dwelling d ON d.id = h.dwelling_id
"""


def _household_record(row: Any, grid_code: str | None) -> HouseholdRecord:
    return HouseholdRecord(id=row.id, district_code=row.district_code, building_id=row.building_id,
                           building_name=row.building_name, grid_code=grid_code, dwelling_id=row.dwelling_id,
                           address=row.address, unit=row.unit, floor=row.floor, room=row.room, size=row.size,
                           members=row.members, synthetic=row.synthetic)


def _household_where(principal: Principal, *, household_id: int | None = None, grid_code: str | None = None,
                     building_id: int | None = None) -> Where:
    where = Where.scoped(privacy.scope_filter(principal, building_column="h.building_id",
                                              district_column="h.district_code"))
    where.equal("h.id", "household_id", household_id, audit=False)
    where.in_grid("h.building_id", grid_code)
    where.equal("h.building_id", "building_id", building_id)
    return where


def list_households(session: Session, reader: Reader, *, grid_code: str | None = None,
                    building_id: int | None = None, limit: int = 100, offset: int = 0) -> HouseholdPage:
    """One page of the households within the reader's scope, with the total; audited."""
    privacy.require_personal_access(reader.principal, "households")
    check_paging(limit, offset)
    where = _household_where(reader.principal, grid_code=grid_code, building_id=building_id)
    total = session.execute(text(f"SELECT count(*) FROM household h WHERE {where.sql}"), where.params).scalar_one()
    rows = session.execute(text(f"{_HOUSEHOLD_SELECT} WHERE {where.sql} ORDER BY h.id LIMIT :limit OFFSET :offset"),
                           {**where.params, "limit": limit, "offset": offset}).all()
    grids = privacy.grid_of_buildings(session, (r.building_id for r in rows))
    items = [_household_record(r, grids.get(r.building_id)) for r in rows]
    _audit_read(session, reader, entity="household", ids=[h["id"] for h in items], action="list",
                detail={"filters": where.given})
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def get_household(session: Session, reader: Reader, household_id: int) -> HouseholdRecord:
    """One household within the reader's scope with its members (masked); NotFound otherwise; audited."""
    principal = reader.principal
    privacy.require_personal_access(principal, "households")
    where = _household_where(principal, household_id=household_id)
    row = session.execute(text(f"{_HOUSEHOLD_SELECT} WHERE {where.sql}"), where.params).first()
    if row is None:
        raise _not_found(principal, "household", household_id)
    grid_code = privacy.grid_of_buildings(session, [row.building_id]).get(row.building_id)
    # Members share the household's building, so the scope already checked covers them.
    members = session.execute(text(f"SELECT {_RESIDENT_COLUMNS} {_RESIDENT_FROM} WHERE r.household_id = :h "
                                   "ORDER BY r.id"), {"h": household_id}).all()
    record = _household_record(row, grid_code)
    record["residents"] = [_resident_record(m, grid_code) for m in members]
    _audit_read(session, reader, entity="household", ids=[household_id],
                detail={"resident_ids": [m.id for m in members]})
    return record


# --- aggregates ---------------------------------------------------------------------------


def grid_stats(session: Session, principal: Principal, *, district_code: str | None = None,
               code_prefix: str | None = None) -> list[GridStats]:
    """Per current grid: people and households counted, never named, so no audit row.

    Buildings, households, residents, elderly 60+, children 0-14, party members, floating residents,
    party organisations and residents per tag.

    Welfare tags are counted for everyone; other (sensitive) tags only in grids ``principal`` may see.
    """
    district = district_code or principal.district_code
    if code_prefix is not None and not re.fullmatch(r"[0-9]{1,15}", code_prefix):
        raise InvalidInput(f"code_prefix: 1 to 15 digits, got {code_prefix!r}", details={"field": "code_prefix"})
    where = Where()
    where.require("g.valid_to IS NULL")
    where.equal("g.district_code", "district", district or None)
    where.prefix("g.code", "prefix", code_prefix or None)
    rows = session.execute(text(f"""
        WITH g AS (SELECT g.code, g.name, g.community_code, g.district_code, g.kind, g.level, g.parent_grid_code,
                          g.geom FROM grid g
                   WHERE {where.sql}),
        bg AS (SELECT g.code AS grid_code, b.id AS building_id, b.households
               FROM g JOIN building b ON ST_Intersects(g.geom, b.geom)
                AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))),
        bs AS (SELECT grid_code, count(*) AS buildings, sum(households) AS building_households
               FROM bg GROUP BY grid_code),
        hh AS (SELECT bg.grid_code, count(*) AS households FROM household h JOIN bg ON bg.building_id = h.building_id
               GROUP BY bg.grid_code),
        rs AS (SELECT bg.grid_code, count(*) AS residents,
                      count(*) FILTER (WHERE r.age >= :elderly) AS elderly_60_plus,
                      count(*) FILTER (WHERE r.age BETWEEN 0 AND :child) AS children_0_14,
                      count(*) FILTER (WHERE r.party_member) AS party_members,
                      count(*) FILTER (WHERE r.residency = 'floating') AS floating
               FROM (SELECT building_id, party_member, residency,
                            date_part('year', age(current_date, birth_date))::int AS age FROM resident) r
               JOIN bg ON bg.building_id = r.building_id GROUP BY bg.grid_code),
        tg AS (SELECT grid_code, jsonb_object_agg(tag, n) AS tags
               FROM (SELECT bg.grid_code, t.tag, count(*) AS n
                     FROM resident_private p JOIN resident r ON r.id = p.resident_id
                     JOIN bg ON bg.building_id = r.building_id CROSS JOIN LATERAL unnest(p.tags) AS t(tag)
                     GROUP BY bg.grid_code, t.tag) x GROUP BY grid_code),
        po AS (SELECT grid_code, count(*) AS party_orgs FROM party_org WHERE grid_code IS NOT NULL GROUP BY grid_code)
        SELECT g.code, g.name, g.community_code, g.district_code, g.kind, g.level, g.parent_grid_code,
               COALESCE(bs.buildings, 0) AS buildings, COALESCE(bs.building_households, 0) AS building_households,
               COALESCE(hh.households, 0) AS households, COALESCE(rs.residents, 0) AS residents,
               COALESCE(rs.elderly_60_plus, 0) AS elderly_60_plus, COALESCE(rs.children_0_14, 0) AS children_0_14,
               COALESCE(rs.party_members, 0) AS party_members, COALESCE(rs.floating, 0) AS floating,
               COALESCE(po.party_orgs, 0) AS party_orgs, COALESCE(tg.tags, '{{}}'::jsonb) AS tags
        FROM g LEFT JOIN bs ON bs.grid_code = g.code LEFT JOIN hh ON hh.grid_code = g.code
        LEFT JOIN rs ON rs.grid_code = g.code LEFT JOIN tg ON tg.grid_code = g.code
        LEFT JOIN po ON po.grid_code = g.code
        ORDER BY g.code"""), {**where.params, "elderly": ELDERLY_AGE, "child": CHILD_MAX_AGE}).mappings().all()
    # Data quality (registers): households recorded vs estimated, residents per household, unplaced addresses.
    from gis.services.registers import data_quality

    quality = data_quality(session, district_code=district)["grids"] if rows else {}
    out = []
    for row in rows:
        shown = principal.sees_grid(row["code"])
        out.append(GridStats(
            grid_code=row["code"], name=row["name"], community_code=row["community_code"],
            district_code=row["district_code"], kind=row["kind"],
            # A level-2 grid's people are also counted in its parent grid's row.
            level=int(row["level"]), parent_grid_code=row["parent_grid_code"],
            buildings=int(row["buildings"]), building_households=int(row["building_households"]),
            households=int(row["households"]), residents=int(row["residents"]),
            elderly_60_plus=int(row["elderly_60_plus"]), children_0_14=int(row["children_0_14"]),
            party_members=int(row["party_members"]), floating=int(row["floating"]), party_orgs=int(row["party_orgs"]),
            tags={t: int(n) for t, n in sorted(row["tags"].items()) if t in WELFARE_TAGS or shown},
            sensitive_tags_shown=shown, data_quality=quality.get(row["code"])))
    return out


def community_quality(grid_items: Sequence[GridStats]) -> dict[str, Quality]:
    """Data quality per community, summed from :func:`grid_stats` items."""
    sums: dict[str, dict[str, int]] = {}
    for item in grid_items:
        q = item.get("data_quality")
        # A level-2 grid's buildings are already in its parent's row.
        if q is None or item.get("level") == 2:
            continue
        s = sums.setdefault(item["community_code"], {"recorded": 0, "estimated": 0, "residents": 0,
                                                     "households": 0, "unmatched": 0})
        s["recorded"] += q["households_recorded"]
        s["estimated"] += q["households_estimated"]
        s["residents"] += item["residents"]
        s["households"] += item["households"]
        s["unmatched"] += q["unmatched_addresses"]
    out: dict[str, Quality] = {}
    for code, s in sorted(sums.items()):
        total = s["recorded"] + s["estimated"]
        out[code] = {
            "households_recorded": s["recorded"], "households_estimated": s["estimated"],
            "recorded_share": round(s["recorded"] / total, 3) if total else None,
            "residents_per_household": round(s["residents"] / s["households"], 2) if s["households"] else None,
            "unmatched_addresses": s["unmatched"]}
    return out

