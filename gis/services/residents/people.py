"""Residents: a page of them (or a GeoJSON page, or every one as CSV), one of them, a grid worker's edits."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound
from gis.services import privacy
from gis.services.residents.records import (
    RESIDENT_COLUMNS,
    RESIDENT_FROM,
    Reader,
    ResidentFeatures,
    ResidentPage,
    ResidentRecord,
    audit_read,
    check_paging,
    check_residency,
    check_tag,
    not_found,
    resident_record,
    resident_where,
)
from gis.services.users import Principal

_PHONE = re.compile(r"^\+?[0-9][0-9 -]{5,19}$")
# Fields a grid worker keeps up to date; the rest of a resident comes from registration imports.
EDITABLE = ("phone", "tags", "residency", "relation", "party_member", "health_notes")
_PRIVATE_FIELDS = frozenset({"phone", "tags", "health_notes"})
# Export columns: (header, record key). Chinese headers: the file is for grid staff and Excel.
EXPORT_COLUMNS = (
    ("编号", "id"), ("姓名", "name"), ("性别", "sex"), ("年龄", "age"), ("年龄段", "age_band"),
    ("与户主关系", "relation"), ("户籍类型", "residency"), ("党员", "party_member"), ("网格", "grid_code"),
    ("楼栋", "building_name"), ("户号", "household_id"), ("地址", "address"), ("身份证号(脱敏)", "id_number"),
    ("手机号(脱敏)", "phone"), ("标签", "tags"),
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _select_residents(session: Session, reader: Reader, *, limit: int | None, offset: int, points: bool = False,
                      **filters: Any) -> tuple[list[ResidentRecord], list[Any], int, dict[str, Any]]:
    """One page of scoped residents (all of them when ``limit`` is None), their points, the total, the filters.

    The points (GeoJSON, each building's point on surface) are there with ``points`` only.
    """
    privacy.require_personal_access(reader.principal, "residents")
    where = resident_where(reader.principal, **filters)
    params = where.params
    # The count needs only the tables filters name (PostgreSQL drops the unused LEFT JOIN on its key).
    total = session.execute(text(f"SELECT count(*) FROM resident r LEFT JOIN resident_private p "
                                 f"ON p.resident_id = r.id WHERE {where.sql}"), params).scalar_one()
    point = ", ST_AsGeoJSON(ST_PointOnSurface(b.geom), 7) AS point" if points else ""
    page = "" if limit is None else " LIMIT :limit OFFSET :offset"
    rows = session.execute(text(f"SELECT {RESIDENT_COLUMNS}{point} {RESIDENT_FROM} WHERE {where.sql} "
                                f"ORDER BY r.id{page}"), {**params, "limit": limit, "offset": offset}).all()
    grids = privacy.grid_of_buildings(session, (r.building_id for r in rows))
    records = [resident_record(row, grids.get(row.building_id)) for row in rows]
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
    audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="list",
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
    audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="list",
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
    audit_read(session, reader, entity="resident", ids=[r["id"] for r in records], action="export",
                detail={"filters": given, "format": "csv"})
    return out.getvalue(), len(records)


def _one_resident(session: Session, principal: Principal, resident_id: int) -> ResidentRecord:
    where = resident_where(principal, resident_id=resident_id)
    row = session.execute(text(f"SELECT {RESIDENT_COLUMNS} {RESIDENT_FROM} WHERE {where.sql}"),
                          where.params).first()
    if row is None:
        raise not_found(principal, "resident", resident_id)
    return resident_record(row, privacy.grid_of_buildings(session, [row.building_id]).get(row.building_id),
                            detail=True)


def get_resident(session: Session, reader: Reader, resident_id: int) -> ResidentRecord:
    """One resident within the reader's scope (masked, with health notes); NotFound otherwise; audited."""
    privacy.require_personal_access(reader.principal, "residents")
    record = _one_resident(session, reader.principal, resident_id)
    audit_read(session, reader, entity="resident", ids=[resident_id])
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
        check_residency(clean["residency"])
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
