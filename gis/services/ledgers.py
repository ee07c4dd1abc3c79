"""The community ledgers (三张清单): needs, resources and projects, 双报到 claims and volunteers' hours.

The rules (statuses, files, walking distances) are in :mod:`gis.ledgers`; this module loads rows,
applies them and stores the outcome in one transaction. Scope follows residents': grid staff see
the needs and projects of their grids and the resources of their grids' communities; district
roles see their district; a resident unit's user (``unit_contact``) sees its own unit's resources
and the projects it claimed. Who is affected by a need is counted, never named. Personal fields
(a resident's contact on a need, free-text descriptions, a resource's contact, volunteers, party
members' claims) reach only those who see the row's grid (a unit its own contact), phones masked,
and every read that returns one writes an audit row.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.privacy import mask_phone, record_change, record_read
from gis.services.users import Principal, require_district

GRID_STAFF = frozenset({"grid_leader", "grid_worker"})
# Roles that write the ledgers (grid staff within their grids); units write their own resources.
WRITERS = frozenset({"admin", "grid_leader", "grid_worker", "community_officer", "street_officer"})
OPEN_STATUSES = ("open", "matched", "in_progress")


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


# --- scope -------------------------------------------------------------------------------------


def unit_of(session: Session, principal: Principal) -> int | None:
    """The resident unit (org_unit id) a unit_contact speaks for; None for other roles."""
    if principal.role != "unit_contact":
        return None
    unit = session.execute(text("SELECT org_unit_id FROM unit_contact WHERE user_id = :u"),
                           {"u": principal.user_id}).scalar()
    if unit is None:
        raise PermissionDenied(f"{principal.username} is a unit contact linked to no unit yet: an administrator "
                               "links them (wangge ledgers link-unit)", details={"reason": "unit_not_linked"})
    return int(unit)


def _communities_of(session: Session, grids: frozenset[str]) -> list[str]:
    return list(session.execute(text("SELECT DISTINCT community_code FROM grid WHERE valid_to IS NULL "
                                     "AND code = ANY(:g)"), {"g": sorted(grids)}).scalars())


def _area_filter(session: Session, principal: Principal, alias: str, *, by_community: bool = False
                 ) -> tuple[str, dict[str, Any]]:
    """Rows of ``alias`` (grid_code, community_code, district_code) the principal may list."""
    if principal.role in GRID_STAFF:
        if by_community:
            return f"{alias}.community_code = ANY(:scope_c)", {"scope_c": _communities_of(session, principal.grid_codes)}
        return f"{alias}.grid_code = ANY(:scope_g)", {"scope_g": sorted(principal.grid_codes)}
    scope = _officer_scope(session, principal)
    if scope is not None:
        column, code = scope
        if column == "community_code":
            return f"{alias}.community_code = :scope_o", {"scope_o": code}
        return f"left({alias}.community_code, 9) = :scope_o", {"scope_o": code}
    if principal.district_code:
        return f"{alias}.district_code = :scope_d", {"scope_d": principal.district_code}
    return "TRUE", {}


def _sees(principal: Principal, grid_code: str | None, district_code: str | None) -> bool:
    """Whether personal fields of a row in ``grid_code`` reach this principal."""
    if principal.role == "admin":
        return principal.sees_district(district_code)
    return principal.role in GRID_STAFF and grid_code is not None and grid_code in principal.grid_codes


def _officer_scope(session: Session, principal: Principal) -> tuple[str, str] | None:
    """A street or community officer's own street or community (app_user.street_code / community_code)."""
    column = {"street_officer": "street_code", "community_officer": "community_code"}.get(principal.role)
    if column is None:
        return None
    code = session.execute(text(f"SELECT {column} FROM app_user WHERE id = :u"), {"u": principal.user_id}).scalar()
    return (column, code) if code else None  # none set: the whole district, as for a planner


def _in_officer_scope(scope: tuple[str, str] | None, community_code: str | None) -> bool:
    if scope is None:
        return True
    column, code = scope
    # Codes nest: a community's 12 digits begin with its street's 9.
    return bool(community_code) and (community_code == code if column == "community_code"
                                     else community_code[:9] == code)


def _require_writer(session: Session, principal: Principal, place_grid: str | None, district_code: str | None,
                    what: str) -> None:
    if principal.role not in WRITERS:
        raise PermissionDenied(f"{principal.role} 不能修改清单 · {principal.role} may not change {what}")
    require_district(principal, district_code, what)
    if principal.role in GRID_STAFF and place_grid not in principal.grid_codes:
        raise PermissionDenied(f"网格 {place_grid} 不在 {principal.username} 的管辖范围内 · {what} lies in grid "
                               f"{place_grid}, not one of {principal.username}'s", details={"grid_code": place_grid})
    scope = _officer_scope(session, principal)
    if not _in_officer_scope(scope, (place_grid or "")[:12] or None):
        raise PermissionDenied(f"{what} 不在 {principal.username} 的辖区 · {what} lies outside {principal.username}'s "
                               f"{scope[0].split('_')[0]} {scope[1]}", details={"grid_code": place_grid})


def _require_row(session: Session, table: str, row_id: int | None, field: str, what_zh: str) -> None:
    """NotFound naming ``field`` unless ``row_id`` (when given) is a row of ``table``."""
    if row_id is None:
        return
    if session.execute(text(f"SELECT 1 FROM {table} WHERE id = :i"), {"i": row_id}).first() is None:
        raise NotFound(f"{what_zh} {row_id} 不存在 · {field}: {table} {row_id} does not exist", details={"field": field})


# --- places ------------------------------------------------------------------------------------


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
        raise InvalidInput(f"经纬度超出范围 · lon/lat out of range: {lon}, {lat}", details={"field": f"{field_prefix}lon"})
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


def _point(place: Place) -> dict[str, Any]:
    return {"x": place.lon, "y": place.lat}


# --- need kinds --------------------------------------------------------------------------------


def list_kinds(session: Session, *, community_code: str | None = None) -> list[dict[str, Any]]:
    """The shared kinds and, with ``community_code``, that community's own."""
    rows = session.execute(text("SELECT code, name_zh, name_en, community_code FROM need_kind WHERE "
                                "community_code IS NULL OR community_code = :c ORDER BY community_code NULLS FIRST, "
                                "code"), {"c": community_code}).mappings().all()
    return [dict(r) for r in rows]


def add_kind(session: Session, principal: Principal, *, code: str, name_zh: str, name_en: str,
             community_code: str) -> dict[str, Any]:
    """A community's own need kind (e.g. 加装电梯), beside the shared catalogue."""
    code = rules.check_kind_code(code)
    community = session.execute(text("SELECT code, district_code FROM community WHERE code = :c AND valid_to IS NULL"),
                                {"c": community_code}).first()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist",
                       details={"field": "community_code"})
    if principal.role not in WRITERS:
        raise PermissionDenied(f"{principal.role} may not add need kinds")
    require_district(principal, community.district_code, "need kinds")
    if (principal.role in GRID_STAFF and community_code not in _communities_of(session, principal.grid_codes)) or \
            not _in_officer_scope(_officer_scope(session, principal), community_code):
        raise PermissionDenied(f"社区 {community_code} 不在管辖范围内 · community {community_code} is not one of "
                               f"{principal.username}'s")
    if not name_zh.strip() or not name_en.strip():
        raise InvalidInput("需求类型须有中英文名称 · name_zh and name_en: both needed", details={"field": "name_zh"})
    if session.execute(text("SELECT 1 FROM need_kind WHERE code = :c"), {"c": code}).first():
        raise Conflict(f"需求类型 {code} 已存在 · need kind {code} already exists", details={"field": "code"})
    session.execute(text("INSERT INTO need_kind (code, district_code, community_code, name_zh, name_en) "
                         "VALUES (:c, :d, :cc, :zh, :en)"),
                    {"c": code, "d": community.district_code, "cc": community_code, "zh": name_zh.strip()[:100],
                     "en": name_en.strip()[:100]})
    record_change(session, principal, entity="need_kind", entity_id=code, action="create",
                  district_code=community.district_code, detail={"community_code": community_code})
    return {"code": code, "name_zh": name_zh.strip(), "name_en": name_en.strip(), "community_code": community_code}


def _kind_ok(session: Session, kind_code: str, community_code: str | None, field: str = "kind_code") -> str:
    row = session.execute(text("SELECT community_code FROM need_kind WHERE code = :k"), {"k": kind_code}).first()
    if row is None or (row.community_code is not None and row.community_code != community_code):
        known = [k["code"] for k in list_kinds(session, community_code=community_code)]
        raise InvalidInput(f"需求类型 {kind_code!r} 不存在 · {field}: {kind_code!r} is not a need kind of this "
                           f"community; known: {', '.join(known)}", details={"field": field})
    return kind_code


# --- needs -------------------------------------------------------------------------------------


def _event(session: Session, need_id: int, district: str, actor: int | None, action: str, before: str | None,
           after: str, note: str | None = None, detail: dict[str, Any] | None = None) -> None:
    session.execute(text("INSERT INTO need_event (need_id, district_code, actor_id, action, from_status, to_status, "
                         "note, detail) VALUES (:n, :d, :a, :act, :f, :t, :note, CAST(:detail AS jsonb))"),
                    {"n": need_id, "d": district, "a": actor or None, "act": action, "f": before, "t": after,
                     "note": note, "detail": None if detail is None else json.dumps(detail)})


def _insert_need(session: Session, place: Place, *, kind_code: str, title: str | None, description: str | None,
                 source: str, visit_id: int | None, address: str | None, affected_households: int,
                 affected_people: int, contact_phone: str | None, created_by: int | None) -> int:
    if affected_households < 0 or affected_people < 0:
        raise InvalidInput("涉及户数和人数须为0或更多 · affected_households and affected_people: 0 or more",
                           details={"field": "affected_people"})
    kinds = {k["code"]: k for k in list_kinds(session, community_code=place.community_code)}
    title = (title or "").strip() or kinds[kind_code]["name_zh"]
    need_id = session.execute(text("""
        INSERT INTO need (district_code, street_code, community_code, grid_code, kind_code, title, description, source,
                          visit_id, household_id, building_id, address, affected_households, affected_people,
                          contact_phone, created_by, geom)
        VALUES (:d, :s, :c, :g, :k, :t, :desc, :src, :v, :h, :b, :a, :ah, :ap, :phone, :by,
                ST_SetSRID(ST_MakePoint(:x, :y), 4490)) RETURNING id"""),
        {"d": place.district_code, "s": place.street_code, "c": place.community_code, "g": place.grid_code,
         "k": kind_code, "t": title[:200], "desc": description, "src": source, "v": visit_id,
         "h": place.household_id, "b": place.building_id, "a": address, "ah": affected_households,
         "ap": affected_people, "phone": contact_phone, "by": created_by or None, **_point(place)}).scalar_one()
    _event(session, need_id, place.district_code, created_by, "record", None, "open",
           detail={"source": source, "visit_id": visit_id})
    return int(need_id)


def record_need(session: Session, principal: Principal, *, kind_code: str, title: str | None = None,
                description: str | None = None, visit_id: int | None = None, household_id: int | None = None,
                building_id: int | None = None, lon: float | None = None, lat: float | None = None,
                address: str | None = None, affected_households: int = 1, affected_people: int = 1,
                source: str = "staff") -> dict[str, Any]:
    """A need recorded by staff, on a visit (``visit_id``: its household is the place) or on their own."""
    if visit_id is not None:
        visit = session.execute(text("SELECT household_id, grid_code, district_code FROM visit WHERE id = :v"),
                                {"v": visit_id}).first()
        if visit is None:
            raise NotFound(f"走访记录 {visit_id} 不存在 · visit_id: visit {visit_id} does not exist",
                           details={"field": "visit_id"})
        household_id, building_id, source = int(visit.household_id), None, "visit"
    place = locate(session, household_id=household_id, building_id=building_id, lon=lon, lat=lat)
    _require_writer(session, principal, place.grid_code, place.district_code, "a need")
    _kind_ok(session, kind_code, place.community_code)
    need_id = _insert_need(session, place, kind_code=kind_code, title=title, description=description, source=source,
                           visit_id=visit_id, address=address, affected_households=affected_households,
                           affected_people=affected_people, contact_phone=None, created_by=principal.user_id)
    record_change(session, principal, entity="need", entity_id=need_id, action="create",
                  district_code=place.district_code, detail={"source": source, "grid_code": place.grid_code})
    return get_need(session, principal, need_id)


def file_public_need(session: Session, *, kind_code: str, description: str | None, lon: float, lat: float,
                     address: str | None = None, affected_people: int = 1, contact_phone: str | None = None
                     ) -> dict[str, Any]:
    """A need a resident files through the public form: only its id, kind, status and community come back."""
    if contact_phone is not None and not (6 <= len([c for c in contact_phone if c.isdigit()]) <= 20):
        raise InvalidInput(f"联系电话格式不对 · contact_phone: a phone number, got {contact_phone!r}",
                           details={"field": "contact_phone"})
    place = locate(session, lon=lon, lat=lat)
    _kind_ok(session, kind_code, place.community_code)
    need_id = _insert_need(session, place, kind_code=kind_code, title=None, description=description,
                           source="public_form", visit_id=None, address=address, affected_households=1,
                           affected_people=affected_people, contact_phone=contact_phone, created_by=None)
    return {"id": need_id, "kind_code": kind_code, "status": "open", "community_code": place.community_code}


def import_needs(session: Session, principal: Principal, path: Path, *, encoding: str | None = None
                 ) -> dict[str, Any]:
    """Needs from a CSV or XLSX file: every row stored, or none (problems named by file, row and column)."""
    from gis.io.registers import Problems, map_columns, read_table

    table = read_table(Path(path), encoding=encoding)
    kinds = session.execute(text("SELECT code FROM need_kind")).scalars().all()
    records = rules.parse_needs(table, kinds=kinds)
    headers, _unused = map_columns(table, rules.NEED_COLUMNS)  # problems name the file's own headers
    problems = Problems(table.file)
    placed = []
    for r in records:
        try:
            place = locate(session, household_id=r["household_id"], building_id=r["building_id"], lon=r["lon"],
                           lat=r["lat"])
            _require_writer(session, principal, place.grid_code, place.district_code, "a need")
            _kind_ok(session, r["kind_code"], place.community_code)
        except (InvalidInput, NotFound, PermissionDenied) as exc:
            field = ("household_id" if r["household_id"] is not None else
                     "building_id" if r["building_id"] is not None else "lon")
            if (exc.details or {}).get("field") == "kind_code":
                field = "kind"
            problems.add(r["row"], headers.get(field, field), exc.message.split(" · ")[-1])
            continue
        placed.append((r, place))
    problems.raise_if_any()
    ids = []
    for r, place in placed:
        ids.append(_insert_need(session, place, kind_code=r["kind_code"], title=r["title"],
                                description=r["description"], source="import", visit_id=None, address=r["address"],
                                affected_households=r["affected_households"], affected_people=r["affected_people"],
                                contact_phone=None, created_by=principal.user_id))
    record_change(session, principal, entity="need", entity_id=table.file[:50], action="import",
                  district_code=placed[0][1].district_code if placed else principal.district_code,
                  detail={"file": table.file, "rows": len(ids), "first_id": ids[0] if ids else None})
    return {"file": table.file, "imported": len(ids), "ids": ids}


_NEED_COLUMNS = """n.id, n.district_code, n.street_code, n.community_code, n.grid_code, n.kind_code, k.name_zh AS kind_zh,
    k.name_en AS kind_en, n.title, n.description, n.source, n.visit_id, n.household_id, n.building_id, n.address,
    n.affected_households, n.affected_people, n.contact_phone, n.status, n.outcome, n.created_at, n.closed_at,
    n.version, ST_X(n.geom) AS lon, ST_Y(n.geom) AS lat"""


def _need_row(r: Any, principal: Principal) -> tuple[dict[str, Any], bool]:
    """A need as the principal may see it, and whether a personal field was shown."""
    shown = _sees(principal, r["grid_code"], r["district_code"])
    out = {k: r[k] for k in ("id", "district_code", "street_code", "community_code", "grid_code", "kind_code",
                             "kind_zh", "kind_en", "title", "source", "visit_id", "address", "affected_households",
                             "affected_people", "status", "outcome", "version")}
    out.update(lon=round(float(r["lon"]), 6), lat=round(float(r["lat"]), 6),
               created_at=r["created_at"].isoformat(), closed_at=r["closed_at"].isoformat() if r["closed_at"] else None,
               description=r["description"] if shown else None,
               contact_phone=mask_phone(r["contact_phone"]) if shown else None,
               household_id=r["household_id"] if shown else None, building_id=r["building_id"])
    if not shown:
        out["address"] = None
    return out, shown and bool(r["description"] or r["contact_phone"] or r["household_id"])


def list_needs(session: Session, principal: Principal, *, community_code: str | None = None,
               grid_code: str | None = None, status: str | None = None, kind_code: str | None = None,
               reason: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Needs in the principal's scope (a unit: the needs of projects it claimed), filtered."""
    where, params = ["TRUE"], {"limit": min(max(limit, 1), 5000)}
    unit = unit_of(session, principal)
    if unit is not None:
        where.append("n.id IN (SELECT p.need_id FROM ledger_project p JOIN project_claim c ON c.project_id = p.id "
                     "WHERE c.org_unit_id = :unit)")
        params["unit"] = unit
    else:
        scope, sp = _area_filter(session, principal, "n")
        where.append(scope)
        params.update(sp)
    for column, value in (("community_code", community_code), ("grid_code", grid_code), ("status", status),
                          ("kind_code", kind_code)):
        if value:
            where.append(f"n.{column} = :{column}")
            params[column] = value
    rows = session.execute(text(f"SELECT {_NEED_COLUMNS} FROM need n JOIN need_kind k ON k.code = n.kind_code "
                                f"WHERE {' AND '.join(where)} ORDER BY n.id LIMIT :limit"), params).mappings().all()
    out, personal = [], []
    for r in rows:
        row, shown = _need_row(r, principal)
        out.append(row)
        if shown:
            personal.append(r["id"])
    record_read(session, principal, entity="need", entity_ids=personal, reason=reason,
                district_code=principal.district_code, detail={"fields": ["description", "contact_phone"]})
    return out


def _need(session: Session, need_id: int, *, lock: bool = False) -> Any:
    row = session.execute(text(f"SELECT {_NEED_COLUMNS} FROM need n JOIN need_kind k ON k.code = n.kind_code "
                               f"WHERE n.id = :i{' FOR UPDATE OF n' if lock else ''}"), {"i": need_id}).mappings().first()
    if row is None:
        raise NotFound(f"需求 {need_id} 不存在 · need {need_id} does not exist")
    return row


def _require_need_visible(session: Session, principal: Principal, r: Any) -> None:
    unit = unit_of(session, principal)
    if unit is not None:
        claimed = session.execute(text("SELECT 1 FROM ledger_project p JOIN project_claim c ON c.project_id = p.id "
                                       "WHERE p.need_id = :n AND c.org_unit_id = :u"),
                                  {"n": r["id"], "u": unit}).first()
        if claimed is None:
            raise NotFound(f"需求 {r['id']} 不存在 · need {r['id']} does not exist")
        return
    if not principal.sees_district(r["district_code"]) or (
            principal.role in GRID_STAFF and r["grid_code"] not in principal.grid_codes) or \
            not _in_officer_scope(_officer_scope(session, principal), r["community_code"]):
        raise NotFound(f"需求 {r['id']} 不存在 · need {r['id']} does not exist")


def get_need(session: Session, principal: Principal, need_id: int, *, reason: str | None = None) -> dict[str, Any]:
    """One need with its history and the projects meeting it."""
    r = _need(session, need_id)
    _require_need_visible(session, principal, r)
    out, shown = _need_row(r, principal)
    events = session.execute(text("SELECT e.at, e.action, e.from_status, e.to_status, e.note, e.detail, "
                                  "u.username AS actor FROM need_event e LEFT JOIN app_user u ON u.id = e.actor_id "
                                  "WHERE e.need_id = :n ORDER BY e.id"), {"n": need_id}).mappings().all()
    out["history"] = [{**e, "at": e["at"].isoformat()} for e in events]
    out["projects"] = [dict(p) for p in session.execute(text(
        "SELECT id, title, status FROM ledger_project WHERE need_id = :n ORDER BY id"), {"n": need_id}).mappings()]
    if shown:
        record_read(session, principal, entity="need", entity_ids=[need_id], reason=reason,
                    district_code=r["district_code"], detail={"fields": ["description", "contact_phone"]})
    return out


def act_on_need(session: Session, principal: Principal, need_id: int, *, action: str, note: str | None = None,
                outcome: str | None = None, expected_version: int | None = None) -> dict[str, Any]:
    """Close (with an outcome), reject or reopen a need; match and start come from its projects."""
    r = _need(session, need_id, lock=True)
    _require_need_visible(session, principal, r)
    _require_writer(session, principal, r["grid_code"], r["district_code"], f"need {need_id}")
    if expected_version is not None and expected_version != r["version"]:
        raise Conflict(f"需求 {need_id} 已被他人修改（版本 {r['version']}） · need {need_id} changed since version "
                       f"{expected_version} (now {r['version']}): reload and retry",
                       details={"version": r["version"]})
    target = rules.need_transition(r["status"], action)
    if action == "close":
        if outcome not in rules.OUTCOMES:
            raise InvalidInput(f"结案须说明结果 · outcome: one of {', '.join(rules.OUTCOMES)} when closing, got "
                               f"{outcome!r}", details={"field": "outcome"})
    elif outcome is not None:
        raise InvalidInput("只有结案需要结果 · outcome: only closing takes one", details={"field": "outcome"})
    if action == "reject" and not (note or "").strip():
        raise InvalidInput("不受理须说明原因 · note: say why the need is rejected", details={"field": "note"})
    _move_need(session, r, action, target, principal.user_id, note=note, outcome=outcome)
    record_change(session, principal, entity="need", entity_id=need_id, action=action,
                  district_code=r["district_code"], detail={"from": r["status"], "to": target, "outcome": outcome})
    return get_need(session, principal, need_id)


def _move_need(session: Session, r: Any, action: str, target: str, actor: int | None, *, note: str | None = None,
               outcome: str | None = None, detail: dict[str, Any] | None = None) -> None:
    session.execute(text("""
        UPDATE need SET status = CAST(:t AS text), outcome = :o, version = version + 1, updated_at = now(),
               closed_at = CASE WHEN CAST(:t AS text) IN ('closed', 'rejected') THEN now() ELSE NULL END
        WHERE id = :i"""), {"t": target, "o": outcome if target == "closed" else None, "i": r["id"]})
    _event(session, r["id"], r["district_code"], actor, action, r["status"], target, note=note,
           detail={**(detail or {}), **({"outcome": outcome} if outcome else {})} or None)


# --- resources ---------------------------------------------------------------------------------


def link_unit_contact(session: Session, principal: Principal, *, user_id: int, org_unit_id: int) -> dict[str, Any]:
    """Tie a unit_contact user to their unit (双报到: the unit reports in to the community where it lies)."""
    user = session.execute(text("SELECT id, role_code, district_code FROM app_user WHERE id = :u"),
                           {"u": user_id}).first()
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在 · user {user_id} does not exist", details={"field": "user_id"})
    if user.role_code != "unit_contact":
        raise InvalidInput(f"用户 {user_id} 的角色不是单位联系人 · user {user_id} has role {user.role_code}, not "
                           "unit_contact", details={"field": "user_id"})
    unit = session.execute(text("SELECT id, district_code, ST_X(geom) AS x, ST_Y(geom) AS y, building_id "
                                "FROM org_unit WHERE id = :o"), {"o": org_unit_id}).first()
    if unit is None:
        raise NotFound(f"单位 {org_unit_id} 不存在 · org unit {org_unit_id} does not exist",
                       details={"field": "org_unit_id"})
    require_district(principal, unit.district_code, "a unit")
    community = None
    if unit.x is not None or unit.building_id is not None:
        try:
            community = locate(session, building_id=unit.building_id if unit.x is None else None,
                               lon=unit.x, lat=unit.y).community_code
        except InvalidInput:
            community = None
    session.execute(text("""
        INSERT INTO unit_contact (user_id, org_unit_id, district_code, community_code) VALUES (:u, :o, :d, :c)
        ON CONFLICT (user_id) DO UPDATE SET org_unit_id = EXCLUDED.org_unit_id, community_code = EXCLUDED.community_code,
            district_code = EXCLUDED.district_code, reported_in_at = now()"""),
        {"u": user_id, "o": org_unit_id, "d": unit.district_code, "c": community})
    record_change(session, principal, entity="unit_contact", entity_id=user_id, action="link",
                  district_code=unit.district_code, detail={"org_unit_id": org_unit_id})
    return {"user_id": user_id, "org_unit_id": org_unit_id, "community_code": community}


def _resource_place(session: Session, provider_kind: str, *, org_unit_id: int | None, facility_id: int | None,
                    resident_id: int | None, volunteer_id: int | None, lon: float | None, lat: float | None
                    ) -> Place:
    if lon is not None and lat is not None:
        return locate(session, lon=lon, lat=lat)
    if provider_kind == "unit" and org_unit_id is not None:
        u = session.execute(text("SELECT ST_X(geom) AS x, ST_Y(geom) AS y, building_id FROM org_unit WHERE id = :o"),
                            {"o": org_unit_id}).first()
        if u is not None and (u.x is not None or u.building_id is not None):
            return locate(session, building_id=u.building_id if u.x is None else None, lon=u.x, lat=u.y)
    if provider_kind == "facility" and facility_id is not None:
        f = session.execute(text("SELECT ST_X(geom) AS x, ST_Y(geom) AS y FROM facility WHERE id = :f"),
                            {"f": facility_id}).first()
        if f is not None:
            return locate(session, lon=f.x, lat=f.y)
    if provider_kind == "party_member" and resident_id is not None:
        b = session.execute(text("SELECT building_id FROM resident WHERE id = :r"), {"r": resident_id}).scalar()
        if b is not None:
            return locate(session, building_id=int(b))
    raise InvalidInput("资源须有位置：经纬度，或所属单位、设施、党员的位置 · where: give lon and lat, or a unit, facility or "
                       "party member whose place is known", details={"field": "lon"})


def add_resource(session: Session, principal: Principal, *, provider_kind: str, name: str,
                 org_unit_id: int | None = None, facility_id: int | None = None, resident_id: int | None = None,
                 volunteer_id: int | None = None, description: str | None = None,
                 kind_codes: list[str] | None = None, available: str | None = None, capacity: int | None = None,
                 address: str | None = None, lon: float | None = None, lat: float | None = None,
                 contact_name: str | None = None, contact_phone: str | None = None) -> dict[str, Any]:
    """A resource offered by a unit, facility, party member or volunteer; a unit contact adds their unit's."""
    if provider_kind not in rules.PROVIDER_KINDS:
        raise InvalidInput(f"provider_kind: one of {', '.join(rules.PROVIDER_KINDS)}, got {provider_kind!r}",
                           details={"field": "provider_kind"})
    if not (name or "").strip():
        raise InvalidInput("资源须有名称 · name: empty", details={"field": "name"})
    unit = unit_of(session, principal)
    if unit is not None:
        if provider_kind != "unit" or org_unit_id not in (None, unit):
            raise PermissionDenied(f"单位联系人只能登记本单位的资源 · {principal.username} may add resources of their own "
                                   f"unit ({unit}) only")
        org_unit_id = unit
    for table, row_id, field, zh in (("org_unit", org_unit_id, "org_unit_id", "单位"),
                                     ("facility", facility_id, "facility_id", "设施"),
                                     ("resident", resident_id, "resident_id", "居民"),
                                     ("volunteer", volunteer_id, "volunteer_id", "志愿者")):
        _require_row(session, table, row_id, field, zh)
    needed = {"unit": ("org_unit_id", org_unit_id), "facility": ("facility_id", facility_id),
              "party_member": ("resident_id", resident_id), "volunteer": ("volunteer_id", volunteer_id)}
    if provider_kind in needed and needed[provider_kind][1] is None:
        raise InvalidInput(f"{provider_kind} 资源须指定 {needed[provider_kind][0]} · {needed[provider_kind][0]}: needed "
                           f"for a {provider_kind} resource", details={"field": needed[provider_kind][0]})
    if provider_kind == "party_member":
        member = session.execute(text("SELECT party_member FROM resident WHERE id = :r"), {"r": resident_id}).scalar()
        if not member:
            raise InvalidInput(f"居民 {resident_id} 不是党员 · resident_id: resident {resident_id} is not a party member",
                               details={"field": "resident_id"})
    place = _resource_place(session, provider_kind, org_unit_id=org_unit_id, facility_id=facility_id,
                            resident_id=resident_id, volunteer_id=volunteer_id, lon=lon, lat=lat)
    if unit is None:
        _require_writer(session, principal, place.grid_code, place.district_code, "a resource")
    for k in kind_codes or []:
        _kind_ok(session, k, place.community_code, field="kind_codes")
    if capacity is not None and capacity < 0:
        raise InvalidInput("capacity: 0 or more", details={"field": "capacity"})
    rid = session.execute(text("""
        INSERT INTO ledger_resource (district_code, community_code, grid_code, provider_kind, org_unit_id, facility_id,
            resident_id, volunteer_id, name, description, kind_codes, available, capacity, address, contact_name,
            contact_phone, created_by, geom)
        VALUES (:d, :c, :g, :pk, :o, :f, :r, :v, :n, :desc, :kinds, :av, :cap, :a, :cn, :cp, :by,
                ST_SetSRID(ST_MakePoint(:x, :y), 4490)) RETURNING id"""),
        {"d": place.district_code, "c": place.community_code, "g": place.grid_code, "pk": provider_kind,
         "o": org_unit_id, "f": facility_id, "r": resident_id, "v": volunteer_id, "n": name.strip()[:200],
         "desc": description, "kinds": list(kind_codes or []), "av": available, "cap": capacity, "a": address,
         "cn": contact_name, "cp": contact_phone, "by": principal.user_id or None, **_point(place)}).scalar_one()
    record_change(session, principal, entity="ledger_resource", entity_id=rid, action="create",
                  district_code=place.district_code, detail={"provider_kind": provider_kind})
    return _resources(session, principal, where="r.id = :id", params={"id": rid})[0]


_RESOURCE_COLUMNS = """r.id, r.district_code, r.community_code, r.grid_code, r.provider_kind, r.org_unit_id,
    r.facility_id, r.resident_id, r.volunteer_id, r.name, r.description, r.kind_codes, r.available, r.capacity,
    r.address, r.contact_name, r.contact_phone, r.active, r.version, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
    o.name AS unit_name"""


def _resources(session: Session, principal: Principal, *, where: str, params: dict[str, Any],
               reason: str | None = None) -> list[dict[str, Any]]:
    rows = session.execute(text(f"SELECT {_RESOURCE_COLUMNS} FROM ledger_resource r LEFT JOIN org_unit o "
                                f"ON o.id = r.org_unit_id WHERE {where} ORDER BY r.id"), params).mappings().all()
    unit = unit_of(session, principal)
    out, personal = [], []
    for r in rows:
        own = unit is not None and r["org_unit_id"] == unit
        shown = own or _sees(principal, r["grid_code"], r["district_code"])
        # A party member's or volunteer's resource names a person: their contact is personal data.
        item = {k: r[k] for k in r.keys() if k not in ("contact_name", "contact_phone", "lon", "lat", "kind_codes")}
        item.update(kind_codes=list(r["kind_codes"] or []), lon=round(float(r["lon"]), 6),
                    lat=round(float(r["lat"]), 6), contact_name=r["contact_name"] if shown else None,
                    contact_phone=mask_phone(r["contact_phone"]) if shown else None)
        if r["provider_kind"] in ("party_member", "volunteer") and not shown:
            item["resident_id"] = item["volunteer_id"] = None
        out.append(item)
        if shown and (r["contact_name"] or r["contact_phone"]):
            personal.append(r["id"])
    record_read(session, principal, entity="ledger_resource", entity_ids=personal, reason=reason,
                district_code=principal.district_code, detail={"fields": ["contact_name", "contact_phone"]})
    return out


def list_resources(session: Session, principal: Principal, *, community_code: str | None = None,
                   reason: str | None = None, include_inactive: bool = False) -> list[dict[str, Any]]:
    """Resources in scope: a unit its own; grid staff their grids' communities; others their district."""
    unit = unit_of(session, principal)
    if unit is not None:
        where, params = "r.org_unit_id = :unit", {"unit": unit}
    else:
        where, params = _area_filter(session, principal, "r", by_community=True)
    if community_code:
        where += " AND r.community_code = :cc"
        params["cc"] = community_code
    if not include_inactive:
        where += " AND r.active"
    return _resources(session, principal, where=where, params=params, reason=reason)


EDITABLE_RESOURCE = ("name", "description", "kind_codes", "available", "capacity", "address", "contact_name",
                     "contact_phone", "active")


def update_resource(session: Session, principal: Principal, resource_id: int, *, expected_version: int | None,
                    changes: dict[str, Any]) -> dict[str, Any]:
    """Keep a resource up to date (a unit its own, staff those of their grids); a stale version gets Conflict."""
    r = session.execute(text("SELECT id, org_unit_id, grid_code, district_code, community_code, version "
                             "FROM ledger_resource WHERE id = :i FOR UPDATE"), {"i": resource_id}).mappings().first()
    unit = unit_of(session, principal)
    if r is None or (unit is not None and r["org_unit_id"] != unit):
        raise NotFound(f"资源 {resource_id} 不存在 · resource {resource_id} does not exist")
    if unit is None:
        _require_writer(session, principal, r["grid_code"], r["district_code"], f"resource {resource_id}")
    if expected_version is not None and expected_version != r["version"]:
        raise Conflict(f"资源 {resource_id} 已被他人修改 · resource {resource_id} changed since version {expected_version} "
                       f"(now {r['version']})", details={"version": r["version"]})
    unknown = sorted(set(changes) - set(EDITABLE_RESOURCE))
    if unknown:
        raise InvalidInput(f"不能修改 {', '.join(unknown)} · may change {', '.join(EDITABLE_RESOURCE)} only",
                           details={"fields": unknown})
    for field in ("name", "kind_codes", "active"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} 不能为空 · {field}: may be changed, not cleared", details={"field": field})
    for k in changes.get("kind_codes") or []:
        _kind_ok(session, k, r["community_code"], field="kind_codes")
    if changes:
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        session.execute(text(f"UPDATE ledger_resource SET {sets}, version = version + 1 WHERE id = :i"),
                        {**changes, "i": resource_id})
        record_change(session, principal, entity="ledger_resource", entity_id=resource_id, action="update",
                      district_code=r["district_code"], detail={"fields": sorted(changes)})
    return _resources(session, principal, where="r.id = :id", params={"id": resource_id})[0]


# --- walking reach -----------------------------------------------------------------------------


def needs_reach(session: Session, principal: Principal, *, community_code: str | None = None,
                district_code: str | None = None, radius_m: float = rules.DEFAULT_WALK_RADIUS_M,
                include_closed: bool = False) -> dict[str, Any]:
    """Per open need: the resources serving its kind within ``radius_m`` on foot, nearest first; the needs with none.

    Distances come from the coverage engine's network (``gis.services.coverage.prepare_district``,
    cached per network version); a district without a walk network is measured as the crow flies and
    labelled ``straight_line``.
    """
    import geopandas as gpd

    from gis.services import coverage as coverage_service

    if not (0 < radius_m <= 5000):
        raise InvalidInput(f"radius_m: more than 0 and at most 5000 m, got {radius_m:g}", details={"field": "radius_m"})
    district = district_code or principal.district_code
    if district is None and community_code:
        district = community_code[:6]
    if district is None:
        raise InvalidInput("district_code: needed (the user has no district)", details={"field": "district_code"})
    require_district(principal, district, "needs and resources")
    needs = list_needs(session, principal, community_code=community_code, limit=5000)
    needs = [n for n in needs if n["district_code"] == district and (include_closed or n["status"] in OPEN_STATUSES)]
    resources = session.execute(text(f"SELECT {_RESOURCE_COLUMNS} FROM ledger_resource r LEFT JOIN org_unit o "
                                     "ON o.id = r.org_unit_id WHERE r.district_code = :d AND r.active ORDER BY r.id"),
                                {"d": district}).mappings().all()
    walk = None
    mode = "network"
    if needs and resources:
        prepared = coverage_service.prepare_district(session, district)
        need_pts = gpd.GeoSeries(gpd.points_from_xy([n["lon"] for n in needs], [n["lat"] for n in needs]),
                                 crs="EPSG:4490").to_crs(prepared.crs).values
        res_pts = gpd.GeoSeries(gpd.points_from_xy([float(r["lon"]) for r in resources],
                                                   [float(r["lat"]) for r in resources]),
                                crs="EPSG:4490").to_crs(prepared.crs).values
        if prepared.graph is not None:
            walk = rules.walking_pairs(prepared.graph, need_pts, res_pts, limit_m=radius_m)
        else:
            walk = rules.straight_line_pairs(need_pts, res_pts, limit_m=radius_m)
            mode = "straight_line"
    near: dict[int, list[tuple[int, float]]] = {}
    if walk is not None:
        for k, r, d in zip(walk.need.tolist(), walk.resource.tolist(), walk.distance.tolist(), strict=True):
            if rules.serves(resources[r]["kind_codes"], needs[k]["kind_code"]):
                near.setdefault(k, []).append((r, d))
    items, unserved = [], []
    for k, n in enumerate(needs):
        found = sorted(near.get(k, []), key=lambda rd: rd[1])
        entry = {"need_id": n["id"], "kind_code": n["kind_code"], "grid_code": n["grid_code"],
                 "community_code": n["community_code"], "status": n["status"], "lon": n["lon"], "lat": n["lat"],
                 "resources": [{"resource_id": int(resources[r]["id"]), "name": resources[r]["name"],
                                "provider_kind": resources[r]["provider_kind"],
                                "unit_name": resources[r]["unit_name"], "distance_m": round(float(d), 1)}
                               for r, d in found]}
        entry["reason"] = ("resources_within_radius" if found else "no_resource_within_radius")
        items.append(entry)
        if not found:
            unserved.append(n["id"])
    return {"district_code": district, "community_code": community_code, "radius_m": radius_m, "mode": mode,
            "distance": ("walking distance along the street and path network (the coverage engine's)"
                         if mode == "network" else "straight line: the district has no walk network; it overstates "
                         "reach across main roads and rivers"),
            "needs": len(items), "needs_without_resource": len(unserved), "unserved_need_ids": unserved,
            "items": items}


# --- projects, claims, volunteers --------------------------------------------------------------


def _project(session: Session, project_id: int, *, lock: bool = False) -> Any:
    row = session.execute(text(f"SELECT * FROM ledger_project WHERE id = :i{' FOR UPDATE' if lock else ''}"),
                          {"i": project_id}).mappings().first()
    if row is None:
        raise NotFound(f"项目 {project_id} 不存在 · project {project_id} does not exist")
    return row


def _require_project_visible(session: Session, principal: Principal, p: Any) -> None:
    unit = unit_of(session, principal)
    if unit is not None:
        if session.execute(text("SELECT 1 FROM project_claim WHERE project_id = :p AND org_unit_id = :u"),
                           {"p": p["id"], "u": unit}).first() is None:
            raise NotFound(f"项目 {p['id']} 不存在 · project {p['id']} does not exist")
        return
    if not principal.sees_district(p["district_code"]) or (
            principal.role in GRID_STAFF and p["grid_code"] not in principal.grid_codes) or \
            not _in_officer_scope(_officer_scope(session, principal), p["community_code"]):
        raise NotFound(f"项目 {p['id']} 不存在 · project {p['id']} does not exist")


def create_project(session: Session, principal: Principal, *, need_id: int, title: str,
                   resource_ids: list[int] | None = None, owner_id: int | None = None,
                   starts_on: dt.date | None = None, ends_on: dt.date | None = None,
                   posts: list[str] | None = None) -> dict[str, Any]:
    """A project meeting a need with resources; the need moves to matched (its history says by which project)."""
    need = _need(session, need_id, lock=True)
    _require_need_visible(session, principal, need)
    _require_writer(session, principal, need["grid_code"], need["district_code"], f"a project for need {need_id}")
    if not (title or "").strip():
        raise InvalidInput("项目须有名称 · title: empty", details={"field": "title"})
    if starts_on and ends_on and ends_on < starts_on:
        raise InvalidInput(f"结束日期早于开始日期 · ends_on {ends_on} is before starts_on {starts_on}",
                           details={"field": "ends_on"})
    target = rules.need_transition(need["status"], "match")
    ids = sorted(set(resource_ids or []))
    found = session.execute(text("SELECT id, district_code FROM ledger_resource WHERE id = ANY(:ids)"),
                            {"ids": ids}).all()
    missing = sorted(set(ids) - {r.id for r in found})
    if missing or any(r.district_code != need["district_code"] for r in found):
        raise InvalidInput(f"资源 {missing or ids} 不存在或不在本区 · resource_ids: {missing or ids} do not exist in "
                           f"district {need['district_code']}", details={"field": "resource_ids"})
    if owner_id is not None and session.execute(text("SELECT 1 FROM app_user WHERE id = :u"),
                                                {"u": owner_id}).first() is None:
        raise InvalidInput(f"负责人 {owner_id} 不存在 · owner_id: user {owner_id} does not exist",
                           details={"field": "owner_id"})
    pid = session.execute(text("""
        INSERT INTO ledger_project (district_code, community_code, grid_code, need_id, title, owner_id, starts_on,
                                    ends_on, posts, created_by)
        VALUES (:d, :c, :g, :n, :t, :o, :s, :e, :posts, :by) RETURNING id"""),
        {"d": need["district_code"], "c": need["community_code"], "g": need["grid_code"], "n": need_id,
         "t": title.strip()[:200], "o": owner_id or principal.user_id or None, "s": starts_on, "e": ends_on,
         "posts": [p.strip()[:100] for p in posts or [] if p.strip()], "by": principal.user_id or None}).scalar_one()
    for rid in ids:
        session.execute(text("INSERT INTO project_resource (project_id, resource_id, district_code) "
                             "VALUES (:p, :r, :d)"), {"p": pid, "r": rid, "d": need["district_code"]})
    _move_need(session, need, "match", target, principal.user_id, detail={"project_id": int(pid)})
    record_change(session, principal, entity="ledger_project", entity_id=pid, action="create",
                  district_code=need["district_code"], detail={"need_id": need_id, "resource_ids": ids})
    return get_project(session, principal, int(pid))


def get_project(session: Session, principal: Principal, project_id: int, *, reason: str | None = None
                ) -> dict[str, Any]:
    """A project with its resources, claims (双报到), volunteers' shifts and hours."""
    p = _project(session, project_id)
    _require_project_visible(session, principal, p)
    shown = _sees(principal, p["grid_code"], p["district_code"])
    resources = [dict(r) for r in session.execute(text(
        "SELECT r.id, r.name, r.provider_kind, o.name AS unit_name FROM project_resource pr JOIN ledger_resource r "
        "ON r.id = pr.resource_id LEFT JOIN org_unit o ON o.id = r.org_unit_id WHERE pr.project_id = :p ORDER BY r.id"),
        {"p": project_id}).mappings()]
    claims = []
    # A party member reports in through the party organisation of the grid they live in (issue 19's
    # 网格党支部, gis.services.party): the branch is named beside the claim, the member only in scope.
    for c in session.execute(text("""
            SELECT c.id, c.claimant_kind, c.org_unit_id, o.name AS unit_name, c.resident_id, r.name AS member_name,
                   c.post, c.claimed_at, po.name AS party_branch
            FROM project_claim c LEFT JOIN org_unit o ON o.id = c.org_unit_id
            LEFT JOIN resident r ON r.id = c.resident_id
            LEFT JOIN building b ON b.id = r.building_id
            LEFT JOIN grid g ON g.valid_to IS NULL AND g.level = 1 AND b.id IS NOT NULL
                 AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
            LEFT JOIN party_org po ON po.kind = 'grid_branch' AND po.grid_code = g.code
            WHERE c.project_id = :p ORDER BY c.id"""), {"p": project_id}).mappings():
        claims.append({**c, "claimed_at": c["claimed_at"].isoformat(),
                       "resident_id": c["resident_id"] if shown else None,
                       "member_name": c["member_name"] if shown else None})
    shifts = []
    for s in session.execute(text(
            "SELECT s.id, s.volunteer_id, v.name, s.post, s.served_on, s.hours FROM volunteer_shift s "
            "JOIN volunteer v ON v.id = s.volunteer_id WHERE s.project_id = :p ORDER BY s.id"), {"p": project_id}
            ).mappings():
        shifts.append({"id": s["id"], "volunteer_id": s["volunteer_id"], "name": s["name"] if shown else None,
                       "post": s["post"], "served_on": s["served_on"].isoformat() if s["served_on"] else None,
                       "hours": s["hours"]})
    if shown and (shifts or any(c["resident_id"] for c in claims)):
        record_read(session, principal, entity="ledger_project", entity_ids=[project_id], reason=reason,
                    district_code=p["district_code"], detail={"fields": ["volunteer names", "party members"]})
    return {"id": p["id"], "district_code": p["district_code"], "community_code": p["community_code"],
            "grid_code": p["grid_code"], "need_id": p["need_id"], "title": p["title"], "owner_id": p["owner_id"],
            "starts_on": p["starts_on"].isoformat() if p["starts_on"] else None,
            "ends_on": p["ends_on"].isoformat() if p["ends_on"] else None, "status": p["status"],
            "outcome": p["outcome"], "posts": list(p["posts"] or []), "version": p["version"],
            "resources": resources, "claims": claims, "shifts": shifts,
            "volunteer_hours": round(sum(s["hours"] or 0 for s in shifts), 2)}


def list_projects(session: Session, principal: Principal, *, community_code: str | None = None,
                  status: str | None = None) -> list[dict[str, Any]]:
    """Projects in scope (a unit: those it claimed), with their claim counts and volunteer hours."""
    unit = unit_of(session, principal)
    if unit is not None:
        where, params = ("p.id IN (SELECT project_id FROM project_claim WHERE org_unit_id = :unit)", {"unit": unit})
    else:
        where, params = _area_filter(session, principal, "p")
    for column, value in (("community_code", community_code), ("status", status)):
        if value:
            where += f" AND p.{column} = :{column}"
            params[column] = value
    rows = session.execute(text(f"""
        SELECT p.id, p.community_code, p.grid_code, p.need_id, p.title, p.status, p.outcome, p.starts_on, p.ends_on,
               p.posts, n.kind_code,
               (SELECT count(*) FROM project_claim c WHERE c.project_id = p.id AND c.claimant_kind = 'unit') AS units,
               (SELECT count(*) FROM project_claim c WHERE c.project_id = p.id
                  AND c.claimant_kind = 'party_member') AS party_members,
               (SELECT count(DISTINCT volunteer_id) FROM volunteer_shift s WHERE s.project_id = p.id) AS volunteers,
               (SELECT coalesce(sum(hours), 0) FROM volunteer_shift s WHERE s.project_id = p.id) AS hours,
               (SELECT string_agg(r.name, '、' ORDER BY r.id) FROM project_resource pr
                  JOIN ledger_resource r ON r.id = pr.resource_id WHERE pr.project_id = p.id) AS resources
        FROM ledger_project p JOIN need n ON n.id = p.need_id WHERE {where} ORDER BY p.id"""), params).mappings().all()
    return [{**r, "posts": list(r["posts"] or []), "hours": float(r["hours"]),
             "starts_on": r["starts_on"].isoformat() if r["starts_on"] else None,
             "ends_on": r["ends_on"].isoformat() if r["ends_on"] else None} for r in rows]


def act_on_project(session: Session, principal: Principal, project_id: int, *, action: str,
                   outcome: str | None = None, need_outcome: str | None = None,
                   expected_version: int | None = None) -> dict[str, Any]:
    """Start, finish (with what came of it) or cancel a project; its need follows.

    Starting moves the need to in_progress; finishing with ``need_outcome`` closes the need with it.
    """
    p = _project(session, project_id, lock=True)
    _require_project_visible(session, principal, p)
    _require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
    if expected_version is not None and expected_version != p["version"]:
        raise Conflict(f"项目 {project_id} 已被他人修改 · project {project_id} changed since version {expected_version} "
                       f"(now {p['version']})", details={"version": p["version"]})
    target = rules.project_transition(p["status"], action)
    if action == "finish" and not (outcome or "").strip():
        raise InvalidInput("完成项目须写明成效 · outcome: say what came of the project", details={"field": "outcome"})
    if need_outcome is not None and (action != "finish" or need_outcome not in rules.OUTCOMES):
        raise InvalidInput(f"need_outcome: one of {', '.join(rules.OUTCOMES)}, when finishing only",
                           details={"field": "need_outcome"})
    session.execute(text("UPDATE ledger_project SET status = :s, outcome = COALESCE(:o, outcome), "
                         "version = version + 1 WHERE id = :i"), {"s": target, "o": outcome, "i": project_id})
    need = _need(session, p["need_id"], lock=True)
    if action == "start" and need["status"] == "matched":
        _move_need(session, need, "start", "in_progress", principal.user_id, detail={"project_id": project_id})
    if need_outcome is not None and need["status"] in OPEN_STATUSES:
        _move_need(session, need, "close", "closed", principal.user_id, outcome=need_outcome, note=outcome,
                   detail={"project_id": project_id})
    record_change(session, principal, entity="ledger_project", entity_id=project_id, action=action,
                  district_code=p["district_code"], detail={"from": p["status"], "to": target})
    return get_project(session, principal, project_id)


def claim_project(session: Session, principal: Principal, project_id: int, *, org_unit_id: int | None = None,
                  resident_id: int | None = None, post: str | None = None) -> dict[str, Any]:
    """双报到: a unit (its contact, or staff for it) or a party member (recorded by staff) claims a project."""
    p = _project(session, project_id, lock=True)
    if p["status"] not in ("planned", "active"):
        raise Conflict(f"项目 {project_id} 已{p['status']}，不能认领 · project {project_id} is {p['status']}: only planned "
                       "or active projects are claimed", details={"status": p["status"]})
    unit = unit_of(session, principal)
    if unit is not None:
        if resident_id is not None or org_unit_id not in (None, unit):
            raise PermissionDenied(f"单位联系人只能为本单位认领 · {principal.username} claims for their own unit only")
        require_district(principal, p["district_code"], "a project")
        if principal.district_code is None:
            own = session.execute(text("SELECT district_code FROM org_unit WHERE id = :o"), {"o": unit}).scalar()
            if own != p["district_code"]:
                raise NotFound(f"项目 {project_id} 不存在 · project {project_id} does not exist")
        org_unit_id = unit
    else:
        _require_project_visible(session, principal, p)
        _require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
    if (org_unit_id is None) == (resident_id is None):
        raise InvalidInput("认领方须为单位或党员之一 · give exactly one of org_unit_id (a unit) or resident_id (a party "
                           "member)", details={"field": "org_unit_id"})
    if post is not None and p["posts"] and post not in p["posts"]:
        raise InvalidInput(f"岗位 {post!r} 不在项目岗位中 · post: one of {', '.join(p['posts'])}, got {post!r}",
                           details={"field": "post"})
    if org_unit_id is not None:
        d = session.execute(text("SELECT district_code FROM org_unit WHERE id = :o"), {"o": org_unit_id}).scalar()
        if d is None:
            raise NotFound(f"单位 {org_unit_id} 不存在 · org unit {org_unit_id} does not exist",
                           details={"field": "org_unit_id"})
        kind = "unit"
    else:
        member = session.execute(text("SELECT party_member, district_code FROM resident WHERE id = :r"),
                                 {"r": resident_id}).first()
        if member is None:
            raise NotFound(f"居民 {resident_id} 不存在 · resident {resident_id} does not exist",
                           details={"field": "resident_id"})
        if not member.party_member:
            raise InvalidInput(f"居民 {resident_id} 不是党员，不能以党员身份报到 · resident_id: resident {resident_id} is not a "
                               "party member", details={"field": "resident_id"})
        kind = "party_member"
    exists = session.execute(text("SELECT 1 FROM project_claim WHERE project_id = :p AND (org_unit_id = :o OR "
                                  "resident_id = :r)"), {"p": project_id, "o": org_unit_id, "r": resident_id}).first()
    if exists:
        raise Conflict(f"已认领项目 {project_id} · the claimant already claimed project {project_id}")
    cid = session.execute(text("INSERT INTO project_claim (project_id, district_code, claimant_kind, org_unit_id, "
                               "resident_id, post, claimed_by) VALUES (:p, :d, :k, :o, :r, :post, :by) RETURNING id"),
                          {"p": project_id, "d": p["district_code"], "k": kind, "o": org_unit_id, "r": resident_id,
                           "post": post, "by": principal.user_id or None}).scalar_one()
    record_change(session, principal, entity="project_claim", entity_id=cid, action="claim",
                  district_code=p["district_code"], detail={"project_id": project_id, "claimant_kind": kind})
    return {"id": int(cid), "project_id": project_id, "claimant_kind": kind, "org_unit_id": org_unit_id,
            "resident_id": resident_id, "post": post}


def add_volunteer(session: Session, principal: Principal, *, community_code: str, name: str,
                  phone: str | None = None, resident_id: int | None = None, org_unit_id: int | None = None,
                  party_member: bool = False) -> dict[str, Any]:
    """A volunteer registered with a community (name and phone are personal: masked and audited when read)."""
    community = session.execute(text("SELECT district_code FROM community WHERE code = :c AND valid_to IS NULL"),
                                {"c": community_code}).scalar()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist",
                       details={"field": "community_code"})
    if principal.role not in WRITERS:
        raise PermissionDenied(f"{principal.role} may not register volunteers")
    require_district(principal, community, "volunteers")
    if (principal.role in GRID_STAFF and community_code not in _communities_of(session, principal.grid_codes)) or \
            not _in_officer_scope(_officer_scope(session, principal), community_code):
        raise PermissionDenied(f"社区 {community_code} 不在管辖范围内 · community {community_code} is not one of "
                               f"{principal.username}'s")
    if not (name or "").strip():
        raise InvalidInput("志愿者姓名为空 · name: empty", details={"field": "name"})
    _require_row(session, "resident", resident_id, "resident_id", "居民")
    _require_row(session, "org_unit", org_unit_id, "org_unit_id", "单位")
    vid = session.execute(text("INSERT INTO volunteer (district_code, community_code, name, phone, resident_id, "
                               "org_unit_id, party_member) VALUES (:d, :c, :n, :p, :r, :o, :pm) RETURNING id"),
                          {"d": community, "c": community_code, "n": name.strip()[:100], "p": phone, "r": resident_id,
                           "o": org_unit_id, "pm": party_member}).scalar_one()
    record_change(session, principal, entity="volunteer", entity_id=vid, action="create", district_code=community)
    return {"id": int(vid), "community_code": community_code, "name": name.strip(), "phone": mask_phone(phone),
            "party_member": party_member}


def list_volunteers(session: Session, principal: Principal, *, community_code: str | None = None,
                    reason: str | None = None) -> list[dict[str, Any]]:
    """Volunteers of the communities in scope, phones masked, with their hours; the read is audited."""
    if principal.role not in ("admin", *GRID_STAFF, "community_officer", "street_officer"):
        raise PermissionDenied(f"{principal.role} may not read volunteers' names; figures are in /stats/ledgers")
    where, params = _area_filter(session, principal, "v", by_community=True)
    if community_code:
        where += " AND v.community_code = :cc"
        params["cc"] = community_code
    rows = session.execute(text(f"""
        SELECT v.id, v.community_code, v.name, v.phone, v.party_member,
               coalesce((SELECT sum(hours) FROM volunteer_shift s WHERE s.volunteer_id = v.id), 0) AS hours
        FROM volunteer v WHERE {where} ORDER BY v.id"""), params).mappings().all()
    record_read(session, principal, entity="volunteer", entity_ids=[r["id"] for r in rows], reason=reason,
                district_code=principal.district_code, detail={"fields": ["name", "phone"]})
    return [{**r, "phone": mask_phone(r["phone"]), "hours": float(r["hours"])} for r in rows]


def sign_up(session: Session, principal: Principal, project_id: int, *, volunteer_id: int,
            post: str | None = None) -> dict[str, Any]:
    """A volunteer signs up for a project's post (hours are recorded on the sign-up once served)."""
    p = _project(session, project_id)
    _require_project_visible(session, principal, p)
    _require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
    if p["status"] not in ("planned", "active"):
        raise Conflict(f"项目 {project_id} 已{p['status']} · project {project_id} is {p['status']}: sign-ups closed",
                       details={"status": p["status"]})
    v = session.execute(text("SELECT district_code FROM volunteer WHERE id = :v"), {"v": volunteer_id}).scalar()
    if v is None or v != p["district_code"]:
        raise NotFound(f"志愿者 {volunteer_id} 不存在 · volunteer {volunteer_id} does not exist in district "
                       f"{p['district_code']}", details={"field": "volunteer_id"})
    if post is not None and p["posts"] and post not in p["posts"]:
        raise InvalidInput(f"岗位 {post!r} 不在项目岗位中 · post: one of {', '.join(p['posts'])}, got {post!r}",
                           details={"field": "post"})
    sid = session.execute(text("INSERT INTO volunteer_shift (project_id, volunteer_id, district_code, post) "
                               "VALUES (:p, :v, :d, :post) RETURNING id"),
                          {"p": project_id, "v": volunteer_id, "d": p["district_code"], "post": post}).scalar_one()
    record_change(session, principal, entity="volunteer_shift", entity_id=sid, action="sign_up",
                  district_code=p["district_code"], detail={"project_id": project_id, "volunteer_id": volunteer_id})
    return {"id": int(sid), "project_id": project_id, "volunteer_id": volunteer_id, "post": post, "hours": None}


def record_hours(session: Session, principal: Principal, shift_id: int, *, hours: float,
                 served_on: dt.date | None = None) -> dict[str, Any]:
    """The hours a volunteer served on a sign-up (more than 0, at most a day)."""
    s = session.execute(text("SELECT s.id, s.project_id, s.volunteer_id, s.hours FROM volunteer_shift s "
                             "WHERE s.id = :i FOR UPDATE"), {"i": shift_id}).mappings().first()
    if s is None:
        raise NotFound(f"报名记录 {shift_id} 不存在 · sign-up {shift_id} does not exist")
    p = _project(session, s["project_id"])
    _require_project_visible(session, principal, p)
    _require_writer(session, principal, p["grid_code"], p["district_code"], f"project {p['id']}")
    hours = rules.check_hours(hours)
    session.execute(text("UPDATE volunteer_shift SET hours = :h, served_on = :d, recorded_by = :by, "
                         "recorded_at = now() WHERE id = :i"),
                    {"h": hours, "d": served_on or dt.date.today(), "by": principal.user_id or None, "i": shift_id})
    record_change(session, principal, entity="volunteer_shift", entity_id=shift_id, action="hours",
                  district_code=p["district_code"], detail={"hours": hours, "before": s["hours"]})
    return {"id": shift_id, "project_id": int(s["project_id"]), "volunteer_id": int(s["volunteer_id"]),
            "hours": hours, "served_on": (served_on or dt.date.today()).isoformat()}


# --- figures, map layer, lists -----------------------------------------------------------------


def ledger_stats(session: Session, principal: Principal, *, district_code: str | None = None) -> dict[str, Any]:
    """Per community: needs by status and kind, needs met, projects by status, claims, volunteer hours."""
    district = district_code or principal.district_code
    if district_code:
        require_district(principal, district_code, "ledger figures")
    where = "district_code = :d" if district else "TRUE"
    p = {"d": district}
    communities: dict[str, dict[str, Any]] = {}

    def row(code: str | None) -> dict[str, Any]:
        return communities.setdefault(code or "", {
            "community_code": code, "needs": 0, "needs_open": 0, "needs_closed": 0, "needs_met": 0,
            "needs_by_kind": {}, "needs_by_status": {}, "affected_people": 0, "resources": 0,
            "projects_by_status": {}, "unit_claims": 0, "party_member_claims": 0, "volunteers": 0,
            "volunteer_hours": 0.0})

    for r in session.execute(text(f"SELECT community_code, kind_code, status, outcome, count(*) AS n, "
                                  f"sum(affected_people) AS people FROM need WHERE {where} "
                                  "GROUP BY 1, 2, 3, 4"), p).mappings():
        c = row(r["community_code"])
        n = int(r["n"])
        c["needs"] += n
        c["needs_by_kind"][r["kind_code"]] = c["needs_by_kind"].get(r["kind_code"], 0) + n
        c["needs_by_status"][r["status"]] = c["needs_by_status"].get(r["status"], 0) + n
        c["affected_people"] += int(r["people"] or 0)
        if r["status"] in OPEN_STATUSES:
            c["needs_open"] += n
        if r["status"] == "closed":
            c["needs_closed"] += n
            if r["outcome"] == "met":
                c["needs_met"] += n
    for r in session.execute(text(f"SELECT community_code, count(*) AS n FROM ledger_resource WHERE {where} "
                                  "AND active GROUP BY 1"), p).mappings():
        row(r["community_code"])["resources"] = int(r["n"])
    for r in session.execute(text(f"SELECT community_code, status, count(*) AS n FROM ledger_project WHERE {where} "
                                  "GROUP BY 1, 2"), p).mappings():
        row(r["community_code"])["projects_by_status"][r["status"]] = int(r["n"])
    for r in session.execute(text(f"""
            SELECT p.community_code, c.claimant_kind, count(*) AS n FROM project_claim c
            JOIN ledger_project p ON p.id = c.project_id WHERE p.{where} GROUP BY 1, 2"""), p).mappings():
        key = "unit_claims" if r["claimant_kind"] == "unit" else "party_member_claims"
        row(r["community_code"])[key] = int(r["n"])
    for r in session.execute(text(f"""
            SELECT p.community_code, count(DISTINCT s.volunteer_id) AS v, coalesce(sum(s.hours), 0) AS h
            FROM volunteer_shift s JOIN ledger_project p ON p.id = s.project_id WHERE p.{where} GROUP BY 1"""),
            p).mappings():
        c = row(r["community_code"])
        c["volunteers"], c["volunteer_hours"] = int(r["v"]), round(float(r["h"]), 2)
    names = dict(session.execute(text("SELECT code, name FROM community WHERE valid_to IS NULL AND code = ANY(:c)"),
                                 {"c": [k for k in communities if k]}).all())
    items = sorted(communities.values(), key=lambda c: c["community_code"] or "")
    for c in items:
        c["name"] = names.get(c["community_code"])
        c["met_share"] = round(c["needs_met"] / c["needs"], 4) if c["needs"] else None
    total = {k: sum(c[k] for c in items) for k in ("needs", "needs_open", "needs_closed", "needs_met", "resources",
                                                  "unit_claims", "party_member_claims", "volunteers")}
    total["volunteer_hours"] = round(sum(c["volunteer_hours"] for c in items), 2)
    return {"district_code": district, "communities": items, "total": total,
            "note": "needs met: closed with outcome met; volunteer hours: recorded on sign-ups of the community's "
                    "projects; counts only, no person named"}


def needs_by_grid(session: Session, principal: Principal, *, district_code: str | None = None,
                  level: str = "grid") -> list[dict[str, Any]]:
    """Needs per grid (or community) and kind, with each unit's outline centre for the map."""
    if level not in ("grid", "community"):
        raise InvalidInput(f"level: grid or community, got {level!r}", details={"field": "level"})
    district = district_code or principal.district_code
    column = "grid_code" if level == "grid" else "community_code"
    rows = session.execute(text(f"""
        SELECT n.{column} AS code, n.kind_code, n.status, count(*) AS n FROM need n
        WHERE {'n.district_code = :d' if district else 'TRUE'} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""),
        {"d": district}).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = out.setdefault(r["code"] or "", {level + "_code": r["code"], "needs": 0, "open": 0, "by_kind": {}})
        e["needs"] += int(r["n"])
        e["open"] += int(r["n"]) if r["status"] in OPEN_STATUSES else 0
        e["by_kind"][r["kind_code"]] = e["by_kind"].get(r["kind_code"], 0) + int(r["n"])
    return list(out.values())


def needs_geojson(session: Session, principal: Principal, *, community_code: str | None = None,
                  kind_code: str | None = None, status: str | None = None) -> dict[str, Any]:
    """The needs map layer: one point per need (kind, status, counts; nobody named), for markers and heat."""
    district = principal.district_code
    where, params = ["TRUE"], {}
    if district:
        where.append("n.district_code = :d")
        params["d"] = district
    for column, value in (("community_code", community_code), ("kind_code", kind_code), ("status", status)):
        if value:
            where.append(f"n.{column} = :{column}")
            params[column] = value
    rows = session.execute(text(f"""
        SELECT n.id, n.kind_code, k.name_zh, k.name_en, n.status, n.outcome, n.grid_code, n.community_code,
               n.affected_households, n.affected_people,
               round(ST_X(n.geom)::numeric, 5) AS lon, round(ST_Y(n.geom)::numeric, 5) AS lat
        FROM need n JOIN need_kind k ON k.code = n.kind_code WHERE {' AND '.join(where)} ORDER BY n.id"""),
        params).mappings().all()
    # Rounded to about a metre: a need is placed at its building, which counts people without naming them.
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
                 "properties": {k: r[k] for k in ("id", "kind_code", "name_zh", "name_en", "status", "outcome",
                                                  "grid_code", "community_code", "affected_households",
                                                  "affected_people")}} for r in rows]
    return {"type": "FeatureCollection", "features": features,
            "properties": {"layer": "needs", "district_code": district, "count": len(features)}}


def community_lists(session: Session, principal: Principal, community_code: str, *,
                    reason: str | None = None) -> dict[str, Any]:
    """A community's three lists (needs, resources, projects), as the printable page and the export show them."""
    community = session.execute(text(
        "SELECT c.code, c.name, c.district_code, c.street_code, s.name AS street_name, d.name AS district_name "
        "FROM community c LEFT JOIN street s ON s.code = c.street_code AND s.valid_to IS NULL "
        "LEFT JOIN district d ON d.code = c.district_code WHERE c.code = :c AND c.valid_to IS NULL"),
        {"c": community_code}).mappings().first()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist")
    require_district(principal, community["district_code"], f"community {community_code}")
    needs = list_needs(session, principal, community_code=community_code, reason=reason)
    resources = list_resources(session, principal, community_code=community_code, reason=reason)
    projects = list_projects(session, principal, community_code=community_code)
    stats = next((c for c in ledger_stats(session, principal, district_code=community["district_code"])["communities"]
                  if c["community_code"] == community_code), None)
    return {"community": dict(community), "needs": needs, "resources": resources, "projects": projects,
            "figures": stats, "generated_at": dt.datetime.now(dt.UTC).isoformat()}


NEED_EXPORT = (("编号", "id"), ("类型", "kind_zh"), ("需求", "title"), ("网格", "grid_code"), ("涉及户数", "affected_households"),
               ("涉及人数", "affected_people"), ("来源", "source"), ("状态", "status"), ("结果", "outcome"),
               ("登记时间", "created_at"))
RESOURCE_EXPORT = (("编号", "id"), ("名称", "name"), ("提供方", "provider_kind"), ("单位", "unit_name"),
                   ("可服务类型", "kind_codes"), ("开放时间", "available"), ("容量", "capacity"), ("地址", "address"),
                   ("联系人", "contact_name"), ("联系电话(脱敏)", "contact_phone"))
PROJECT_EXPORT = (("编号", "id"), ("项目", "title"), ("需求编号", "need_id"), ("类型", "kind_code"), ("状态", "status"),
                  ("开始", "starts_on"), ("结束", "ends_on"), ("认领单位数", "units"), ("报到党员数", "party_members"),
                  ("志愿者", "volunteers"), ("志愿服务时长", "hours"), ("资源", "resources"), ("成效", "outcome"))
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "、".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value  # a cell starting like a formula would run in Excel
    return value


def export_lists(lists: dict[str, Any], *, fmt: str, which: str = "needs") -> tuple[bytes, str, str]:
    """The lists as XLSX (three sheets) or one list as CSV (UTF-8 with BOM, for Excel): bytes, type, file name."""
    tables = {"needs": ("需求清单", NEED_EXPORT), "resources": ("资源清单", RESOURCE_EXPORT),
              "projects": ("项目清单", PROJECT_EXPORT)}
    code = lists["community"]["code"]
    if fmt == "csv":
        if which not in tables:
            raise InvalidInput(f"list: one of {', '.join(tables)}, got {which!r}", details={"field": "list"})
        out = io.StringIO()
        writer = csv.writer(out)
        columns = tables[which][1]
        writer.writerow([h for h, _ in columns])
        for r in lists[which]:
            writer.writerow([_cell(r.get(k)) for _, k in columns])
        return ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", f"ledgers-{code}-{which}.csv"
    if fmt != "xlsx":
        raise InvalidInput(f"format: csv or xlsx, got {fmt!r}", details={"field": "format"})
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for key, (title, columns) in tables.items():
        sheet = book.create_sheet(title)
        sheet.append([h for h, _ in columns])
        for r in lists[key]:
            sheet.append([_cell(r.get(k)) for _, k in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return (buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"ledgers-{code}.xlsx")
