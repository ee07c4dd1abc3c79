"""Resources (资源清单) and the units behind them: a unit contact linked to their unit adds and keeps its resources.

A party member's or volunteer's resource names a person, so its contact reaches only those who see its grid.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.db.filters import Where
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.ledgers.kinds import check_kind
from gis.services.ledgers.places import Place, locate, point_params
from gis.services.ledgers.scope import listing_scope, require_row, require_writer, sees, unit_of
from gis.services.privacy import mask_phone, record_change, record_read
from gis.services.users import Principal, require_district


class UnitContactLink(TypedDict):
    """A unit contact tied to their unit, and the community the unit lies in (None when it has no place)."""

    user_id: int
    org_unit_id: int
    community_code: str | None


class ResourceRecord(TypedDict):
    """A resource as its reader may see it: a person's contact only to those who see its grid (or its own unit)."""

    id: int
    district_code: str
    community_code: str | None
    grid_code: str | None
    provider_kind: str
    org_unit_id: int | None
    facility_id: int | None
    resident_id: int | None
    volunteer_id: int | None
    name: str
    description: str | None
    kind_codes: list[str]
    available: str | None
    capacity: int | None
    address: str | None
    contact_name: str | None
    contact_phone: str | None
    active: bool
    version: int
    lon: float
    lat: float
    unit_name: str | None


def link_unit_contact(session: Session, principal: Principal, *, user_id: int, org_unit_id: int
                      ) -> UnitContactLink:
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
        ON CONFLICT (user_id) DO UPDATE SET org_unit_id = EXCLUDED.org_unit_id,
            community_code = EXCLUDED.community_code,
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
    raise InvalidInput("资源须有位置：经纬度，或所属单位、设施、党员的位置 · lon: give lon and lat, or a unit, "
                       "facility or "
                       "party member whose place is known", details={"field": "lon"})


def add_resource(session: Session, principal: Principal, *, provider_kind: str, name: str,
                 org_unit_id: int | None = None, facility_id: int | None = None, resident_id: int | None = None,
                 volunteer_id: int | None = None, description: str | None = None,
                 kind_codes: list[str] | None = None, available: str | None = None, capacity: int | None = None,
                 address: str | None = None, lon: float | None = None, lat: float | None = None,
                 contact_name: str | None = None, contact_phone: str | None = None) -> ResourceRecord:
    """A resource offered by a unit, facility, party member or volunteer; a unit contact adds their unit's."""
    if provider_kind not in rules.PROVIDER_KINDS:
        raise InvalidInput(f"provider_kind: one of {', '.join(rules.PROVIDER_KINDS)}, got {provider_kind!r}",
                           details={"field": "provider_kind"})
    if not (name or "").strip():
        raise InvalidInput("资源须有名称 · name: empty", details={"field": "name"})
    unit = unit_of(session, principal)
    if unit is not None:
        if provider_kind != "unit" or org_unit_id not in (None, unit):
            raise PermissionDenied(f"单位联系人只能登记本单位的资源 · {principal.username} may add resources of "
                                   "their own "
                                   f"unit ({unit}) only")
        org_unit_id = unit
    for table, row_id, field in (("org_unit", org_unit_id, "org_unit_id"), ("facility", facility_id, "facility_id"),
                                 ("resident", resident_id, "resident_id"), ("volunteer", volunteer_id, "volunteer_id")):
        require_row(session, table, row_id, field)
    needed = {"unit": ("org_unit_id", org_unit_id), "facility": ("facility_id", facility_id),
              "party_member": ("resident_id", resident_id), "volunteer": ("volunteer_id", volunteer_id)}
    if provider_kind in needed and needed[provider_kind][1] is None:
        raise InvalidInput(f"{provider_kind} 资源须指定 {needed[provider_kind][0]} · {needed[provider_kind][0]}: "
                           "needed "
                           f"for a {provider_kind} resource", details={"field": needed[provider_kind][0]})
    if provider_kind == "party_member":
        member = session.execute(text("SELECT party_member FROM resident WHERE id = :r"), {"r": resident_id}).scalar()
        if not member:
            raise InvalidInput(f"居民 {resident_id} 不是党员 · resident_id: resident {resident_id} is not a party "
                               "member",
                               details={"field": "resident_id"})
    place = _resource_place(session, provider_kind, org_unit_id=org_unit_id, facility_id=facility_id,
                            resident_id=resident_id, volunteer_id=volunteer_id, lon=lon, lat=lat)
    if unit is None:
        require_writer(session, principal, place.grid_code, place.district_code, "a resource")
    for k in kind_codes or []:
        check_kind(session, k, place.community_code, field="kind_codes")
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
         "cn": contact_name, "cp": contact_phone, "by": principal.user_id or None, **point_params(place)}).scalar_one()
    record_change(session, principal, entity="ledger_resource", entity_id=rid, action="create",
                  district_code=place.district_code, detail={"provider_kind": provider_kind})
    return _resource_rows(session, principal, _by_id(rid))[0]


RESOURCE_COLUMNS = """r.id, r.district_code, r.community_code, r.grid_code, r.provider_kind, r.org_unit_id,
    r.facility_id, r.resident_id, r.volunteer_id, r.name, r.description, r.kind_codes, r.available, r.capacity,
    r.address, r.contact_name, r.contact_phone, r.active, r.version, ST_X(r.geom) AS lon, ST_Y(r.geom) AS lat,
    o.name AS unit_name"""


def _by_id(resource_id: int) -> Where:
    where = Where()
    where.require("r.id = :id", id=resource_id)
    return where


def _resource_rows(session: Session, principal: Principal, where: Where, *,
                   reason: str | None = None) -> list[ResourceRecord]:
    """The resources ``where`` picks as ``principal`` may see them (contacts masked or hidden); audited."""
    rows = session.execute(text(f"SELECT {RESOURCE_COLUMNS} FROM ledger_resource r LEFT JOIN org_unit o "
                                f"ON o.id = r.org_unit_id WHERE {where.sql} ORDER BY r.id"),
                           where.params).mappings().all()
    unit = unit_of(session, principal)
    out: list[ResourceRecord] = []
    personal = []
    for r in rows:
        own = unit is not None and r["org_unit_id"] == unit
        shown = own or sees(principal, r["grid_code"], r["district_code"])
        # A party member's or volunteer's resource names a person: who they are is personal data.
        person_hidden = r["provider_kind"] in ("party_member", "volunteer") and not shown
        out.append(ResourceRecord(
            id=r["id"], district_code=r["district_code"], community_code=r["community_code"],
            grid_code=r["grid_code"], provider_kind=r["provider_kind"], org_unit_id=r["org_unit_id"],
            facility_id=r["facility_id"], resident_id=None if person_hidden else r["resident_id"],
            volunteer_id=None if person_hidden else r["volunteer_id"], name=r["name"],
            description=r["description"], kind_codes=list(r["kind_codes"] or []), available=r["available"],
            capacity=r["capacity"], address=r["address"], contact_name=r["contact_name"] if shown else None,
            contact_phone=mask_phone(r["contact_phone"]) if shown else None, active=r["active"],
            version=r["version"], lon=round(float(r["lon"]), 6), lat=round(float(r["lat"]), 6),
            unit_name=r["unit_name"]))
        if shown and (r["contact_name"] or r["contact_phone"]):
            personal.append(r["id"])
    record_read(session, principal, entity="ledger_resource", entity_ids=personal, reason=reason,
                district_code=principal.district_code, detail={"fields": ["contact_name", "contact_phone"]})
    return out


def list_resources(session: Session, principal: Principal, *, community_code: str | None = None,
                   reason: str | None = None, include_inactive: bool = False) -> list[ResourceRecord]:
    """Resources in scope: a unit its own; grid staff their grids' communities; others their district."""
    where = listing_scope(session, principal, "r", unit_rows="r.org_unit_id = :unit", by_community=True)
    where.equal("r.community_code", "cc", community_code or None)
    if not include_inactive:
        where.require("r.active")
    return _resource_rows(session, principal, where, reason=reason)


EDITABLE_RESOURCE = ("name", "description", "kind_codes", "available", "capacity", "address", "contact_name",
                     "contact_phone", "active")


def update_resource(session: Session, principal: Principal, resource_id: int, *, expected_version: int | None,
                    changes: dict[str, Any]) -> ResourceRecord:
    """Keep a resource up to date (a unit its own, staff those of their grids); a stale version gets Conflict."""
    r = session.execute(text("SELECT id, org_unit_id, grid_code, district_code, community_code, version "
                             "FROM ledger_resource WHERE id = :i FOR UPDATE"), {"i": resource_id}).mappings().first()
    unit = unit_of(session, principal)
    if r is None or (unit is not None and r["org_unit_id"] != unit):
        raise NotFound(f"资源 {resource_id} 不存在 · resource {resource_id} does not exist")
    if unit is None:
        require_writer(session, principal, r["grid_code"], r["district_code"], f"resource {resource_id}")
    if expected_version is not None and expected_version != r["version"]:
        raise Conflict(f"资源 {resource_id} 已被他人修改 · resource {resource_id} changed since version "
                       f"{expected_version} "
                       f"(now {r['version']})", details={"version": r["version"]})
    unknown = sorted(set(changes) - set(EDITABLE_RESOURCE))
    if unknown:
        raise InvalidInput(f"不能修改 {', '.join(unknown)} · may change {', '.join(EDITABLE_RESOURCE)} only",
                           details={"fields": unknown})
    for field in ("name", "kind_codes", "active"):
        if field in changes and changes[field] is None:
            raise InvalidInput(f"{field} 不能为空 · {field}: may be changed, not cleared", details={"field": field})
    for k in changes.get("kind_codes") or []:
        check_kind(session, k, r["community_code"], field="kind_codes")
    if changes:
        sets = ", ".join(f"{k} = :{k}" for k in changes)
        session.execute(text(f"UPDATE ledger_resource SET {sets}, version = version + 1 WHERE id = :i"),
                        {**changes, "i": resource_id})
        record_change(session, principal, entity="ledger_resource", entity_id=resource_id, action="update",
                      district_code=r["district_code"], detail={"fields": sorted(changes)})
    return _resource_rows(session, principal, _by_id(resource_id))[0]
