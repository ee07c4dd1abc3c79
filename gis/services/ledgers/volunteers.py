"""Volunteers registered with a community, their sign-ups for projects' posts, and the hours they served."""

from __future__ import annotations

import datetime as dt
from typing import NotRequired, TypedDict, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.db.filters import Where
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.ledgers.projects import load_project, require_project_visible
from gis.services.ledgers.scope import GRID_STAFF, area_filter, require_community_writer, require_row, require_writer
from gis.services.privacy import mask_phone, record_change, record_read
from gis.services.users import Principal


class VolunteerRecord(TypedDict):
    """A volunteer, phone masked; in a list also the hours they served."""

    id: int
    community_code: str
    name: str
    phone: str | None
    party_member: bool
    hours: NotRequired[float]


class ShiftResult(TypedDict):
    """A sign-up for a project's post, and the hours once served."""

    id: int
    project_id: int
    volunteer_id: int
    post: NotRequired[str | None]
    hours: float | None
    served_on: NotRequired[str]


def add_volunteer(session: Session, principal: Principal, *, community_code: str, name: str,
                  phone: str | None = None, resident_id: int | None = None, org_unit_id: int | None = None,
                  party_member: bool = False) -> VolunteerRecord:
    """A volunteer registered with a community (name and phone are personal: masked and audited when read)."""
    community = session.execute(text("SELECT district_code FROM community WHERE code = :c AND valid_to IS NULL"),
                                {"c": community_code}).scalar()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist",
                       details={"field": "community_code"})
    require_community_writer(session, principal, community_code, community, "volunteers")
    if not (name or "").strip():
        raise InvalidInput("志愿者姓名为空 · name: empty", details={"field": "name"})
    require_row(session, "resident", resident_id, "resident_id")
    require_row(session, "org_unit", org_unit_id, "org_unit_id")
    vid = session.execute(text("INSERT INTO volunteer (district_code, community_code, name, phone, resident_id, "
                               "org_unit_id, party_member) VALUES (:d, :c, :n, :p, :r, :o, :pm) RETURNING id"),
                          {"d": community, "c": community_code, "n": name.strip()[:100], "p": phone, "r": resident_id,
                           "o": org_unit_id, "pm": party_member}).scalar_one()
    record_change(session, principal, entity="volunteer", entity_id=vid, action="create", district_code=community)
    return {"id": int(vid), "community_code": community_code, "name": name.strip(), "phone": mask_phone(phone),
            "party_member": party_member}


def list_volunteers(session: Session, principal: Principal, *, community_code: str | None = None,
                    reason: str | None = None) -> list[VolunteerRecord]:
    """Volunteers of the communities in scope, phones masked, with their hours; the read is audited."""
    if principal.role not in ("admin", *GRID_STAFF, "community_officer", "street_officer"):
        raise PermissionDenied(f"{principal.role} may not read volunteers' names; figures are in /stats/ledgers")
    where = Where.scoped(area_filter(session, principal, "v", by_community=True))
    where.equal("v.community_code", "cc", community_code or None)
    rows = session.execute(text(f"""
        SELECT v.id, v.community_code, v.name, v.phone, v.party_member,
               coalesce((SELECT sum(hours) FROM volunteer_shift s WHERE s.volunteer_id = v.id), 0) AS hours
        FROM volunteer v WHERE {where.sql} ORDER BY v.id"""), where.params).mappings().all()
    record_read(session, principal, entity="volunteer", entity_ids=[r["id"] for r in rows], reason=reason,
                district_code=principal.district_code, detail={"fields": ["name", "phone"]})
    return [cast(VolunteerRecord, {**r, "phone": mask_phone(r["phone"]), "hours": float(r["hours"])}) for r in rows]


def sign_up(session: Session, principal: Principal, project_id: int, *, volunteer_id: int,
            post: str | None = None) -> ShiftResult:
    """A volunteer signs up for a project's post (hours are recorded on the sign-up once served)."""
    p = load_project(session, project_id)
    require_project_visible(session, principal, p)
    require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
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
                 served_on: dt.date | None = None) -> ShiftResult:
    """The hours a volunteer served on a sign-up (more than 0, at most a day)."""
    s = session.execute(text("SELECT s.id, s.project_id, s.volunteer_id, s.hours FROM volunteer_shift s "
                             "WHERE s.id = :i FOR UPDATE"), {"i": shift_id}).mappings().first()
    if s is None:
        raise NotFound(f"报名记录 {shift_id} 不存在 · sign-up {shift_id} does not exist")
    p = load_project(session, s["project_id"])
    require_project_visible(session, principal, p)
    require_writer(session, principal, p["grid_code"], p["district_code"], f"project {p['id']}")
    hours = rules.check_hours(hours)
    session.execute(text("UPDATE volunteer_shift SET hours = :h, served_on = :d, recorded_by = :by, "
                         "recorded_at = now() WHERE id = :i"),
                    {"h": hours, "d": served_on or dt.date.today(), "by": principal.user_id or None, "i": shift_id})
    record_change(session, principal, entity="volunteer_shift", entity_id=shift_id, action="hours",
                  district_code=p["district_code"], detail={"hours": hours, "before": s["hours"]})
    return {"id": shift_id, "project_id": int(s["project_id"]), "volunteer_id": int(s["volunteer_id"]),
            "hours": hours, "served_on": (served_on or dt.date.today()).isoformat()}
