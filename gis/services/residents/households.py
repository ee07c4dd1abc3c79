"""Households within the reader's scope: a page of them, or one with its members (masked); audited."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.filters import Where
from gis.services import privacy
from gis.services.residents.records import (
    RESIDENT_COLUMNS,
    RESIDENT_FROM,
    Reader,
    ResidentRecord,
    audit_read,
    building_scope,
    check_paging,
    not_found,
    resident_record,
)
from gis.services.users import Principal


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
    where = building_scope(principal, "h", grid_code=grid_code, building_id=building_id)
    where.equal("h.id", "household_id", household_id, audit=False)
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
    audit_read(session, reader, entity="household", ids=[h["id"] for h in items], action="list",
                detail={"filters": where.given})
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def get_household(session: Session, reader: Reader, household_id: int) -> HouseholdRecord:
    """One household within the reader's scope with its members (masked); NotFound otherwise; audited."""
    principal = reader.principal
    privacy.require_personal_access(principal, "households")
    where = _household_where(principal, household_id=household_id)
    row = session.execute(text(f"{_HOUSEHOLD_SELECT} WHERE {where.sql}"), where.params).first()
    if row is None:
        raise not_found(principal, "household", household_id)
    grid_code = privacy.grid_of_buildings(session, [row.building_id]).get(row.building_id)
    # Members share the household's building, so the scope already checked covers them.
    members = session.execute(text(f"SELECT {RESIDENT_COLUMNS} {RESIDENT_FROM} WHERE r.household_id = :h "
                                   "ORDER BY r.id"), {"h": household_id}).all()
    record = _household_record(row, grid_code)
    record["residents"] = [resident_record(m, grid_code) for m in members]
    audit_read(session, reader, entity="household", ids=[household_id],
                detail={"resident_ids": [m.id for m in members]})
    return record
