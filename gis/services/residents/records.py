"""How a resident is read: the reader, the scoped WHERE clause, the masked record, the audit row.

Scope is part of every query (:func:`gis.services.privacy.scope_filter`), so a grid worker's query cannot
return a resident of another grid whatever filter the caller sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from sqlalchemy.orm import Session

from gis.db.filters import Where
from gis.errors import InvalidInput, NotFound
from gis.services import privacy
from gis.services.users import Principal

RESIDENCIES = ("permanent", "floating", "overseas")
# Welfare tags are counted per grid for every role. Any other tag (key-population and security-side
# categories) is sensitive under PIPL art. 28: counted only in grids the reader may see.
WELFARE_TAGS = frozenset({"elderly_alone", "disabled", "low_income", "left_behind_child"})
MAX_PAGE = 1000
_TAG = re.compile(r"^[a-z][a-z0-9_:.-]{0,39}$")

# A resident's columns and tables, as every read selects them (masked in resident_record).
RESIDENT_COLUMNS = """
    r.id, r.district_code, r.household_id, r.building_id, b.name AS building_name,
    COALESCE(d.address, b.address) AS address, r.name, r.sex,
    date_part('year', age(current_date, r.birth_date))::int AS age, r.relation, r.residency, r.party_member,
    r.synthetic, r.version, p.id_number_masked AS id_number, p.phone, COALESCE(p.tags, '{}') AS tags, p.health_notes
"""
RESIDENT_FROM = """
    FROM resident r JOIN building b ON b.id = r.building_id
    LEFT JOIN household h ON h.id = r.household_id LEFT JOIN dwelling d ON d.id = h.dwelling_id
    LEFT JOIN resident_private p ON p.resident_id = r.id
"""


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


@dataclass(frozen=True)
class Reader:
    """Who reads personal records, and the request facts their audit row keeps."""

    principal: Principal
    reason: str | None = None
    request_id: str | None = None
    client_ip: str | None = None


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


def check_residency(value: str, *, where: str = "residency") -> str:
    if value not in RESIDENCIES:
        raise InvalidInput(f"{where}: one of {', '.join(RESIDENCIES)}, got {value!r}", details={"field": where})
    return value


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def building_scope(principal: Principal, alias: str, *, grid_code: str | None, building_id: int | None) -> Where:
    """The reader's scope over rows of ``alias`` that belong to a building, narrowed to a grid and a building."""
    where = Where.scoped(privacy.scope_filter(principal, building_column=f"{alias}.building_id",
                                              district_column=f"{alias}.district_code"))
    where.in_grid(f"{alias}.building_id", grid_code)
    where.equal(f"{alias}.building_id", "building_id", building_id)
    return where


def resident_where(principal: Principal, *, resident_id: int | None = None, grid_code: str | None = None,
                   building_id: int | None = None, household_id: int | None = None, tag: str | None = None,
                   q: str | None = None, residency: str | None = None, min_age: int | None = None,
                   max_age: int | None = None) -> Where:
    """The WHERE clause of a resident query: the reader's scope first, then the filters."""
    where = building_scope(principal, "r", grid_code=grid_code, building_id=building_id)
    where.equal("r.id", "resident_id", resident_id, audit=False)
    where.equal("r.household_id", "household_id", household_id)
    where.add("p.tags @> ARRAY[CAST(:tag AS varchar)]", "tag", None if tag is None else check_tag(tag))
    if q is not None and q.strip():
        if len(q.strip()) > 100:
            raise InvalidInput(f"q: at most 100 characters, got {len(q.strip())}", details={"field": "q"})
        where.add("r.name ILIKE :q", "q", _like_pattern(q.strip()), audit=False)
        where.given["q"] = q.strip()
    where.equal("r.residency", "residency", None if residency is None else check_residency(residency))
    for name, value in (("min_age", min_age), ("max_age", max_age)):
        if value is not None and not 0 <= value <= 150:
            raise InvalidInput(f"{name}: between 0 and 150, got {value}", details={"field": name})
    if min_age is not None and max_age is not None and min_age > max_age:
        raise InvalidInput(f"min_age {min_age} is above max_age {max_age}", details={"field": "min_age"})
    where.add("r.birth_date <= current_date - make_interval(years => :min_age)", "min_age", min_age)
    # Younger than max_age + 1 full years: born after that many years ago.
    where.add("r.birth_date > current_date - make_interval(years => :max_age + 1)", "max_age", max_age)
    return where


def resident_record(row: Any, grid_code: str | None, *, detail: bool = False) -> ResidentRecord:
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


def audit_read(session: Session, reader: Reader, *, entity: str, ids: list[Any], action: str = "read",
               detail: dict[str, Any] | None = None, total: int | None = None) -> None:
    """Write the audit row of a read that returned the personal records ``ids``."""
    privacy.record_read(session, reader.principal, entity=entity, entity_ids=ids, action=action,
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip, detail=detail, total=total)


def not_found(principal: Principal, what: str, ident: Any) -> NotFound:
    # The same answer whether the row is missing or outside the grids: existence is not confirmed.
    if principal.is_grid_scoped:
        return NotFound(f"no {what} {ident} within your grids")
    return NotFound(f"{what} {ident} does not exist")
