"""Projects (项目清单) meeting needs with resources, and 双报到 claims: units and party members reporting in.

A project's statuses move by :func:`gis.ledgers.project_transition`, and its need follows (matched when
created, in progress when started, closed with an outcome when finished).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.ledgers.needs import load_need, move_need, require_need_visible
from gis.services.ledgers.scope import (
    OPEN_STATUSES,
    in_area,
    listing_scope,
    require_writer,
    sees,
    unit_of,
)
from gis.services.privacy import record_change, record_read
from gis.services.users import Principal, require_district


class ProjectDetail(TypedDict):
    """A project with its resources, claims (双报到) and volunteers' shifts; people named only to those in scope."""

    id: int
    district_code: str
    community_code: str | None
    grid_code: str | None
    need_id: int
    title: str
    owner_id: int | None
    starts_on: str | None
    ends_on: str | None
    status: str
    outcome: str | None
    posts: list[str]
    version: int
    resources: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    shifts: list[dict[str, Any]]
    volunteer_hours: float


class ProjectSummary(TypedDict):
    """A project in a list: its need's kind, how many claimed it, volunteers and hours, its resources' names."""

    id: int
    community_code: str | None
    grid_code: str | None
    need_id: int
    title: str
    status: str
    outcome: str | None
    starts_on: str | None
    ends_on: str | None
    posts: list[str]
    kind_code: str
    units: int
    party_members: int
    volunteers: int
    hours: float
    resources: str | None


class ClaimResult(TypedDict):
    """A claim stored: who claimed (a unit or a party member) and for which post."""

    id: int
    project_id: int
    claimant_kind: str
    org_unit_id: int | None
    resident_id: int | None
    post: str | None


def load_project(session: Session, project_id: int, *, lock: bool = False) -> Any:
    """Project ``project_id``'s row (locked for update with ``lock``), or NotFound."""
    row = session.execute(text(f"SELECT * FROM ledger_project WHERE id = :i{' FOR UPDATE' if lock else ''}"),
                          {"i": project_id}).mappings().first()
    if row is None:
        raise NotFound(f"项目 {project_id} 不存在 · project {project_id} does not exist")
    return row


def require_project_visible(session: Session, principal: Principal, p: Any) -> None:
    """NotFound unless ``principal`` may read project ``p``: a unit contact one it claimed, others their area's."""
    unit = unit_of(session, principal)
    if unit is None:
        visible = in_area(session, principal, p)
    else:
        visible = session.execute(text("SELECT 1 FROM project_claim WHERE project_id = :p AND org_unit_id = :u"),
                                  {"p": p["id"], "u": unit}).first() is not None
    if not visible:
        raise NotFound(f"项目 {p['id']} 不存在 · project {p['id']} does not exist")


def create_project(session: Session, principal: Principal, *, need_id: int, title: str,
                   resource_ids: list[int] | None = None, owner_id: int | None = None,
                   starts_on: dt.date | None = None, ends_on: dt.date | None = None,
                   posts: list[str] | None = None) -> ProjectDetail:
    """A project meeting a need with resources; the need moves to matched (its history says by which project)."""
    need = load_need(session, need_id, lock=True)
    require_need_visible(session, principal, need)
    require_writer(session, principal, need["grid_code"], need["district_code"], f"a project for need {need_id}")
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
    move_need(session, need, "match", target, principal.user_id, detail={"project_id": int(pid)})
    record_change(session, principal, entity="ledger_project", entity_id=pid, action="create",
                  district_code=need["district_code"], detail={"need_id": need_id, "resource_ids": ids})
    return get_project(session, principal, int(pid))


def get_project(session: Session, principal: Principal, project_id: int, *, reason: str | None = None
                ) -> ProjectDetail:
    """A project with its resources, claims (双报到), volunteers' shifts and hours."""
    p = load_project(session, project_id)
    require_project_visible(session, principal, p)
    shown = sees(principal, p["grid_code"], p["district_code"])
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
                  status: str | None = None) -> list[ProjectSummary]:
    """Projects in scope (a unit: those it claimed), with their claim counts and volunteer hours."""
    where = listing_scope(session, principal, "p", unit_rows=(
        "p.id IN (SELECT project_id FROM project_claim WHERE org_unit_id = :unit)"))
    where.equal("p.community_code", "community_code", community_code or None)
    where.equal("p.status", "status", status or None)
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
        FROM ledger_project p JOIN need n ON n.id = p.need_id WHERE {where.sql} ORDER BY p.id"""),
        where.params).mappings().all()
    return [cast(ProjectSummary, {**r, "posts": list(r["posts"] or []), "hours": float(r["hours"]),
                                  "starts_on": r["starts_on"].isoformat() if r["starts_on"] else None,
                                  "ends_on": r["ends_on"].isoformat() if r["ends_on"] else None}) for r in rows]


def act_on_project(session: Session, principal: Principal, project_id: int, *, action: str,
                   outcome: str | None = None, need_outcome: str | None = None,
                   expected_version: int | None = None) -> ProjectDetail:
    """Start, finish (with what came of it) or cancel a project; its need follows.

    Starting moves the need to in_progress; finishing with ``need_outcome`` closes the need with it.
    """
    p = load_project(session, project_id, lock=True)
    require_project_visible(session, principal, p)
    require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
    if expected_version is not None and expected_version != p["version"]:
        raise Conflict(f"项目 {project_id} 已被他人修改 · project {project_id} changed since version "
                       f"{expected_version} "
                       f"(now {p['version']})", details={"version": p["version"]})
    target = rules.project_transition(p["status"], action)
    if action == "finish" and not (outcome or "").strip():
        raise InvalidInput("完成项目须写明成效 · outcome: say what came of the project", details={"field": "outcome"})
    if need_outcome is not None and (action != "finish" or need_outcome not in rules.OUTCOMES):
        raise InvalidInput(f"need_outcome: one of {', '.join(rules.OUTCOMES)}, when finishing only",
                           details={"field": "need_outcome"})
    session.execute(text("UPDATE ledger_project SET status = :s, outcome = COALESCE(:o, outcome), "
                         "version = version + 1 WHERE id = :i"), {"s": target, "o": outcome, "i": project_id})
    need = load_need(session, p["need_id"], lock=True)
    if action == "start" and need["status"] == "matched":
        move_need(session, need, "start", "in_progress", principal.user_id, detail={"project_id": project_id})
    if need_outcome is not None and need["status"] in OPEN_STATUSES:
        move_need(session, need, "close", "closed", principal.user_id, outcome=need_outcome, note=outcome,
                   detail={"project_id": project_id})
    record_change(session, principal, entity="ledger_project", entity_id=project_id, action=action,
                  district_code=p["district_code"], detail={"from": p["status"], "to": target})
    return get_project(session, principal, project_id)


def claim_project(session: Session, principal: Principal, project_id: int, *, org_unit_id: int | None = None,
                  resident_id: int | None = None, post: str | None = None) -> ClaimResult:
    """双报到: a unit (its contact, or staff for it) or a party member (recorded by staff) claims a project."""
    p = load_project(session, project_id, lock=True)
    if p["status"] not in ("planned", "active"):
        raise Conflict(f"项目 {project_id} 已{p['status']}，不能认领 · project {project_id} is {p['status']}: "
                       "only planned "
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
        require_project_visible(session, principal, p)
        require_writer(session, principal, p["grid_code"], p["district_code"], f"project {project_id}")
    if (org_unit_id is None) == (resident_id is None):
        raise InvalidInput("认领方须为单位或党员之一 · org_unit_id: give exactly one of org_unit_id (a unit) "
                           "or resident_id (a party "
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
            raise InvalidInput(f"居民 {resident_id} 不是党员，不能以党员身份报到 · resident_id: resident {resident_id} "
                               "is not a "
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
