"""Needs: recorded by staff (on a visit or on their own), filed by residents, imported from a file; read and moved.

A need's statuses move by :func:`gis.ledgers.need_transition`; every move writes a need_event row, so a
need's history says who moved it, when and by which project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.ledgers.kinds import check_kind, list_kinds
from gis.services.ledgers.places import Place, locate, point_params
from gis.services.ledgers.scope import (
    in_area,
    listing_scope,
    require_writer,
    sees,
    unit_of,
)
from gis.services.privacy import mask_phone, record_change, record_read
from gis.services.users import Principal


class NeedRecord(TypedDict):
    """A need as its reader may see it: description, contact and household only to those who see its grid."""

    id: int
    district_code: str
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    kind_code: str
    kind_zh: str
    kind_en: str
    title: str
    source: str
    visit_id: int | None
    address: str | None
    affected_households: int
    affected_people: int
    status: str
    outcome: str | None
    version: int
    lon: float
    lat: float
    created_at: str
    closed_at: str | None
    description: str | None
    contact_phone: str | None
    household_id: int | None
    building_id: int | None
    history: NotRequired[list[dict[str, Any]]]
    projects: NotRequired[list[dict[str, Any]]]


class PublicNeedReceipt(TypedDict):
    """What a resident filing a need gets back: no one else's data."""

    id: int
    kind_code: str
    status: str
    community_code: str | None


class NeedsImport(TypedDict):
    """A needs file imported: its name, how many rows and their new ids."""

    file: str
    imported: int
    ids: list[int]


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
         "ap": affected_people, "phone": contact_phone, "by": created_by or None, **point_params(place)}).scalar_one()
    _event(session, need_id, place.district_code, created_by, "record", None, "open",
           detail={"source": source, "visit_id": visit_id})
    return int(need_id)


def record_need(session: Session, principal: Principal, *, kind_code: str, title: str | None = None,
                description: str | None = None, visit_id: int | None = None, household_id: int | None = None,
                building_id: int | None = None, lon: float | None = None, lat: float | None = None,
                address: str | None = None, affected_households: int = 1, affected_people: int = 1,
                source: str = "staff") -> NeedRecord:
    """A need recorded by staff, on a visit (``visit_id``: its household is the place) or on their own."""
    if visit_id is not None:
        visit = session.execute(text("SELECT household_id, grid_code, district_code FROM visit WHERE id = :v"),
                                {"v": visit_id}).first()
        if visit is None:
            raise NotFound(f"走访记录 {visit_id} 不存在 · visit_id: visit {visit_id} does not exist",
                           details={"field": "visit_id"})
        household_id, building_id, source = int(visit.household_id), None, "visit"
    place = locate(session, household_id=household_id, building_id=building_id, lon=lon, lat=lat)
    require_writer(session, principal, place.grid_code, place.district_code, "a need")
    check_kind(session, kind_code, place.community_code)
    need_id = _insert_need(session, place, kind_code=kind_code, title=title, description=description, source=source,
                           visit_id=visit_id, address=address, affected_households=affected_households,
                           affected_people=affected_people, contact_phone=None, created_by=principal.user_id)
    record_change(session, principal, entity="need", entity_id=need_id, action="create",
                  district_code=place.district_code, detail={"source": source, "grid_code": place.grid_code})
    return get_need(session, principal, need_id)


def file_public_need(session: Session, *, kind_code: str, description: str | None, lon: float, lat: float,
                     address: str | None = None, affected_people: int = 1, contact_phone: str | None = None
                     ) -> PublicNeedReceipt:
    """A need a resident files through the public form: only its id, kind, status and community come back."""
    if contact_phone is not None and not (6 <= len([c for c in contact_phone if c.isdigit()]) <= 20):
        raise InvalidInput(f"联系电话格式不对 · contact_phone: a phone number, got {contact_phone!r}",
                           details={"field": "contact_phone"})
    place = locate(session, lon=lon, lat=lat)
    check_kind(session, kind_code, place.community_code)
    need_id = _insert_need(session, place, kind_code=kind_code, title=None, description=description,
                           source="public_form", visit_id=None, address=address, affected_households=1,
                           affected_people=affected_people, contact_phone=contact_phone, created_by=None)
    return {"id": need_id, "kind_code": kind_code, "status": "open", "community_code": place.community_code}


def import_needs(session: Session, principal: Principal, path: Path, *, encoding: str | None = None
                 ) -> NeedsImport:
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
            require_writer(session, principal, place.grid_code, place.district_code, "a need")
            check_kind(session, r["kind_code"], place.community_code)
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


_NEED_COLUMNS = """n.id, n.district_code, n.street_code, n.community_code, n.grid_code, n.kind_code,
    k.name_zh AS kind_zh, k.name_en AS kind_en, n.title, n.description, n.source, n.visit_id, n.household_id,
    n.building_id, n.address,
    n.affected_households, n.affected_people, n.contact_phone, n.status, n.outcome, n.created_at, n.closed_at,
    n.version, ST_X(n.geom) AS lon, ST_Y(n.geom) AS lat"""


def _need_row(r: Any, principal: Principal) -> tuple[NeedRecord, bool]:
    """A need as the principal may see it, and whether a personal field was shown."""
    shown = sees(principal, r["grid_code"], r["district_code"])
    out = NeedRecord(
        id=r["id"], district_code=r["district_code"], street_code=r["street_code"],
        community_code=r["community_code"], grid_code=r["grid_code"], kind_code=r["kind_code"], kind_zh=r["kind_zh"],
        kind_en=r["kind_en"], title=r["title"], source=r["source"], visit_id=r["visit_id"],
        address=r["address"] if shown else None, affected_households=r["affected_households"],
        affected_people=r["affected_people"], status=r["status"], outcome=r["outcome"], version=r["version"],
        lon=round(float(r["lon"]), 6), lat=round(float(r["lat"]), 6), created_at=r["created_at"].isoformat(),
        closed_at=r["closed_at"].isoformat() if r["closed_at"] else None,
        description=r["description"] if shown else None,
        contact_phone=mask_phone(r["contact_phone"]) if shown else None,
        household_id=r["household_id"] if shown else None, building_id=r["building_id"])
    return out, shown and bool(r["description"] or r["contact_phone"] or r["household_id"])


def list_needs(session: Session, principal: Principal, *, community_code: str | None = None,
               grid_code: str | None = None, status: str | None = None, kind_code: str | None = None,
               reason: str | None = None, limit: int = 1000) -> list[NeedRecord]:
    """Needs in the principal's scope (a unit: the needs of projects it claimed), filtered."""
    where = listing_scope(session, principal, "n", unit_rows=(
        "n.id IN (SELECT p.need_id FROM ledger_project p JOIN project_claim c ON c.project_id = p.id "
        "WHERE c.org_unit_id = :unit)"))
    where.equal("n.community_code", "community_code", community_code or None)
    where.equal("n.grid_code", "grid_code", grid_code or None)
    where.equal("n.status", "status", status or None)
    where.equal("n.kind_code", "kind_code", kind_code or None)
    rows = session.execute(text(f"SELECT {_NEED_COLUMNS} FROM need n JOIN need_kind k ON k.code = n.kind_code "
                                f"WHERE {where.sql} ORDER BY n.id LIMIT :limit"),
                           {**where.params, "limit": min(max(limit, 1), 5000)}).mappings().all()
    out, personal = [], []
    for r in rows:
        row, shown = _need_row(r, principal)
        out.append(row)
        if shown:
            personal.append(r["id"])
    record_read(session, principal, entity="need", entity_ids=personal, reason=reason,
                district_code=principal.district_code, detail={"fields": ["description", "contact_phone"]})
    return out


def load_need(session: Session, need_id: int, *, lock: bool = False) -> Any:
    """Need ``need_id``'s row (locked for update with ``lock``), or NotFound."""
    row = session.execute(text(f"SELECT {_NEED_COLUMNS} FROM need n JOIN need_kind k ON k.code = n.kind_code "
                               f"WHERE n.id = :i{' FOR UPDATE OF n' if lock else ''}"),
                          {"i": need_id}).mappings().first()
    if row is None:
        raise NotFound(f"需求 {need_id} 不存在 · need {need_id} does not exist")
    return row


def require_need_visible(session: Session, principal: Principal, r: Any) -> None:
    """NotFound (not a refusal: existence is not confirmed) unless ``principal`` may read need ``r``.

    A unit contact reads the needs of projects their unit claimed; others the needs in their area.
    """
    unit = unit_of(session, principal)
    if unit is None:
        visible = in_area(session, principal, r)
    else:
        visible = session.execute(text("SELECT 1 FROM ledger_project p JOIN project_claim c ON c.project_id = p.id "
                                       "WHERE p.need_id = :n AND c.org_unit_id = :u"),
                                  {"n": r["id"], "u": unit}).first() is not None
    if not visible:
        raise NotFound(f"需求 {r['id']} 不存在 · need {r['id']} does not exist")


def get_need(session: Session, principal: Principal, need_id: int, *, reason: str | None = None) -> NeedRecord:
    """One need with its history and the projects meeting it."""
    r = load_need(session, need_id)
    require_need_visible(session, principal, r)
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
                outcome: str | None = None, expected_version: int | None = None) -> NeedRecord:
    """Close (with an outcome), reject or reopen a need; match and start come from its projects."""
    r = load_need(session, need_id, lock=True)
    require_need_visible(session, principal, r)
    require_writer(session, principal, r["grid_code"], r["district_code"], f"need {need_id}")
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
    move_need(session, r, action, target, principal.user_id, note=note, outcome=outcome)
    record_change(session, principal, entity="need", entity_id=need_id, action=action,
                  district_code=r["district_code"], detail={"from": r["status"], "to": target, "outcome": outcome})
    return get_need(session, principal, need_id)


def move_need(session: Session, r: Any, action: str, target: str, actor: int | None, *, note: str | None = None,
              outcome: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Move need ``r`` by ``action`` to ``target`` and write the event that says who moved it and why."""
    session.execute(text("""
        UPDATE need SET status = CAST(:t AS text), outcome = :o, version = version + 1, updated_at = now(),
               closed_at = CASE WHEN CAST(:t AS text) IN ('closed', 'rejected') THEN now() ELSE NULL END
        WHERE id = :i"""), {"t": target, "o": outcome if target == "closed" else None, "i": r["id"]})
    _event(session, r["id"], r["district_code"], actor, action, r["status"], target, note=note,
           detail={**(detail or {}), **({"outcome": outcome} if outcome else {})} or None)
