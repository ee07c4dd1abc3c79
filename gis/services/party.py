"""Party organisation following the grid (网格党支部, 楼栋党小组): written, listed and checked.

Branches (``grid_branch``) belong to a level-1 grid, one per grid; groups (``building_group``)
to a building (counted in the level-1 grid holding it) or to a level-2 grid. Members are the
residents marked ``party_member`` in the grid's buildings; probationary members (预备党员) are
members but not full ones. The checks follow the seed practice (domain §6): a branch needs at
least ``Settings.party_branch_min_full_members`` full members; a grid with members but no
branch should set one up (or join a neighbour's in a joint branch when it has too few full
members); grids without a branch are reported.

Counts per grid are aggregates (as in ``/stats/grids``): no personal record is returned.
Writes are limited to the principal's district, and for grid staff to their own grids.
"""

from __future__ import annotations

from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.models import PartyOrg
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.privacy import record_change
from gis.services.users import Principal, require_district
from gis.settings import Settings

KINDS = {"grid_branch": ("网格党支部", "grid party branch"), "building_group": ("楼栋党小组", "building party group")}

# Each finding kind in Chinese and English; {..} from the finding's figures.
FINDINGS = {
    "branch_too_small": (
        "网格党支部正式党员{full}名，少于{min}名，不符合成立党支部的条件",
        "the grid's party branch has {full} full members, fewer than the {min} a branch needs"),
    "members_without_branch": (
        "网格有党员{members}名（正式党员{full}名）但未成立网格党支部，应成立党支部",
        "the grid has {members} party members ({full} full) but no party branch: set one up"),
    "members_without_branch_too_few": (
        "网格有党员{members}名但正式党员仅{full}名，不足{min}名，可与相邻网格成立联合党支部",
        "the grid has {members} party members but only {full} full, fewer than {min}: form a joint branch "
        "with a neighbouring grid"),
    "no_branch": (
        "网格无党员，也未成立网格党支部",
        "the grid has no party members and no party branch"),
}


class PartyOrgResult(TypedDict):
    """A party branch or group; ``secretary_id`` only for readers who may see the grid's people."""

    id: int
    kind: str
    kind_zh: str
    kind_en: str
    name: str
    grid_code: str | None
    building_id: int | None
    secretary_id: int | None


class DeletedOrg(TypedDict):
    id: int
    deleted: bool


class PartyFinding(TypedDict):
    """One grid the seed practice's checks flag, with the reason in English and Chinese."""

    grid_code: str
    grid_name: str
    kind: str
    members: int
    full_members: int
    reason_text: str
    reason_text_zh: str


class PartyCheck(TypedDict):
    """The seed practice's checks over a district's level-1 grids."""

    grids: int
    branches: int
    groups: int
    min_full_members: int
    clean: bool
    findings_by_kind: dict[str, int]
    findings: list[PartyFinding]


def _grid(session: Session, code: str) -> Any:
    row = session.execute(text("SELECT code, name, district_code, level, parent_grid_code FROM grid "
                               "WHERE code = :c AND valid_to IS NULL"), {"c": code}).first()
    if row is None:
        raise NotFound(f"网格 {code} 无现行边界 · grid {code} has no current boundary")
    return row


def _require_grid(principal: Principal, grid: Any, what: str) -> None:
    require_district(principal, grid.district_code, what)
    if principal.is_grid_scoped and not ({grid.code, grid.parent_grid_code} & set(principal.grid_codes)):
        raise PermissionDenied(f"网格 {grid.code} 不在 {principal.username} 的管辖范围内 · {principal.username} "
                               f"may not act on {what}: grid {grid.code} is not one of theirs",
                               details={"grid_code": grid.code})


def _building_grid(session: Session, building_id: int) -> str:
    """The level-1 grid holding a building's point on surface."""
    row = session.execute(text("""
        SELECT g.code FROM building b JOIN grid g ON g.valid_to IS NULL AND g.level = 1
          AND ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE b.id = :b"""), {"b": building_id}).first()
    if row is None:
        if session.execute(text("SELECT 1 FROM building WHERE id = :b"), {"b": building_id}).first() is None:
            raise NotFound(f"楼栋 {building_id} 不存在 · building {building_id} does not exist")
        raise InvalidInput(f"楼栋 {building_id} 不在任何现行网格内，党小组须随网格设置 · "
                           f"building {building_id} lies in no current grid; a party group follows the grid")
    return row[0]


def _check_secretary(session: Session, secretary_id: int | None, grid_code: str) -> None:
    if secretary_id is None:
        return
    row = session.execute(text("""
        SELECT r.party_member, r.party_probationary,
               EXISTS (SELECT 1 FROM grid g WHERE g.code = :g AND g.valid_to IS NULL
                         AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))) AS inside
        FROM resident r JOIN building b ON b.id = r.building_id WHERE r.id = :r"""),
        {"r": secretary_id, "g": grid_code}).first()
    if row is None:
        raise NotFound(f"居民 {secretary_id} 不存在 · resident {secretary_id} does not exist")
    if not row.party_member or row.party_probationary:
        raise InvalidInput(f"书记须为正式党员，居民 {secretary_id} 不是 · "
                           f"secretary_id: resident {secretary_id} is not a full party member",
                           details={"field": "secretary_id"})
    if not row.inside:
        raise InvalidInput(f"书记须居住在本网格，居民 {secretary_id} 不住在网格 {grid_code} · "
                           f"secretary_id: resident {secretary_id} does not live in grid {grid_code}",
                           details={"field": "secretary_id"})


def create_org(session: Session, principal: Principal, *, kind: str, grid_code: str | None = None,
               building_id: int | None = None, name: str | None = None,
               secretary_id: int | None = None) -> PartyOrgResult:
    """Set up a branch (``grid_code``: a level-1 grid) or a group (``building_id`` or a level-2 ``grid_code``)."""
    if kind not in KINDS:
        raise InvalidInput(f"类型须为 {'、'.join(KINDS)} 之一 · kind: one of {', '.join(KINDS)}, got {kind!r}",
                           details={"field": "kind"})
    if kind == "grid_branch":
        if not grid_code or building_id is not None:
            raise InvalidInput("网格党支部须指定一级网格，不指定楼栋 · grid_code: a grid branch needs a level-1 grid "
                               "code and no building", details={"field": "grid_code"})
        grid = _grid(session, grid_code)
        if int(grid.level) != 1:
            raise InvalidInput(f"网格 {grid_code} 是二级网格：党支部设在一级网格，二级网格设党小组 · "
                               f"grid_code: grid {grid_code} is a level-2 grid; a branch belongs to a level-1 grid, "
                               "a level-2 grid gets a group", details={"field": "grid_code"})
        if session.execute(text("SELECT 1 FROM party_org WHERE kind = 'grid_branch' AND grid_code = :g"),
                           {"g": grid_code}).first():
            raise Conflict(f"网格 {grid_code} 已有党支部 · grid {grid_code} already has a party branch",
                           details={"grid_code": grid_code})
    else:
        if bool(grid_code) == (building_id is not None):
            raise InvalidInput("党小组须指定楼栋或二级网格之一 · building_id: a party group needs exactly one of "
                               "building_id and grid_code (a level-2 grid)", details={"field": "building_id"})
        if grid_code:
            grid = _grid(session, grid_code)
            if int(grid.level) != 2:
                raise InvalidInput(f"网格 {grid_code} 是一级网格，应设党支部；党小组设在楼栋或二级网格 · "
                                   f"grid_code: grid {grid_code} is a level-1 grid: it gets a branch; groups "
                                   "belong to a building or a level-2 grid", details={"field": "grid_code"})
        else:
            grid = _grid(session, _building_grid(session, int(building_id)))  # type: ignore[arg-type]
    _require_grid(principal, grid, f"the party organisation of grid {grid.code}")
    _check_secretary(session, secretary_id, grid.code)
    zh = KINDS[kind][0]
    name = (name or "").strip() or f"{grid.name}{zh}" + (f"（楼栋{building_id}）" if building_id is not None else "")
    org = PartyOrg(district_code=grid.district_code, kind=kind, name=name[:200], grid_code=grid.code,
                   building_id=building_id, secretary_id=secretary_id)
    session.add(org)
    session.flush()
    record_change(session, principal, entity="party_org", entity_id=org.id, action="create",
                  district_code=grid.district_code, detail={"kind": kind, "grid_code": grid.code,
                                                            "building_id": building_id})
    return _org(org.id, kind, org.name, grid.code, building_id, secretary_id, principal)


def delete_org(session: Session, principal: Principal, org_id: int) -> DeletedOrg:
    """Dissolve a party organisation (kept in the audit log)."""
    row = session.execute(text("SELECT id, kind, grid_code FROM party_org WHERE id = :i"), {"i": org_id}).first()
    if row is None:
        raise NotFound(f"党组织 {org_id} 不存在 · party organisation {org_id} does not exist")
    _require_grid(principal, _grid(session, row.grid_code), f"party organisation {org_id}")
    session.execute(text("DELETE FROM party_org WHERE id = :i"), {"i": org_id})
    record_change(session, principal, entity="party_org", entity_id=org_id, action="delete",
                  detail={"kind": row.kind, "grid_code": row.grid_code})
    return {"id": org_id, "deleted": True}


def list_orgs(session: Session, principal: Principal, *, grid_code: str | None = None,
              district_code: str | None = None) -> list[PartyOrgResult]:
    """Party organisations of the principal's district (or ``district_code``), optionally of one grid."""
    district = district_code or principal.district_code
    if district_code:
        require_district(principal, district_code, "party organisations")
    where, params = ["TRUE"], {}
    if district:
        where.append("district_code = :d")
        params["d"] = district
    if grid_code:
        where.append("grid_code = :g")
        params["g"] = grid_code
    rows = session.execute(text(f"SELECT id, kind, name, grid_code, building_id, secretary_id FROM party_org "
                                f"WHERE {' AND '.join(where)} ORDER BY grid_code, kind DESC, id"), params).all()
    return [_org(r.id, r.kind, r.name, r.grid_code, r.building_id, r.secretary_id, principal) for r in rows]


def _org(oid: int, kind: str, name: str, grid_code: str | None, building_id: int | None, secretary_id: int | None,
         principal: Principal) -> PartyOrgResult:
    zh, en = KINDS[kind]
    # Who the secretary is tells a party membership: shown to those who may see the grid's people only.
    shown = principal.sees_grid(grid_code) or principal.role == "admin"
    return {"id": int(oid), "kind": kind, "kind_zh": zh, "kind_en": en, "name": name, "grid_code": grid_code,
            "building_id": building_id, "secretary_id": secretary_id if shown else None}


def check_party(session: Session, settings: Settings, principal: Principal, *,
                district_code: str | None = None) -> PartyCheck:
    """The seed practice's checks per current level-1 grid, each finding in Chinese and English."""
    district = district_code or principal.district_code
    if district_code:
        require_district(principal, district_code, "party checks")
    minimum = settings.party_branch_min_full_members
    rows = session.execute(text(f"""
        WITH g AS (SELECT code, name, geom FROM grid WHERE valid_to IS NULL AND level = 1
                   {"AND district_code = :d" if district else ""}),
        m AS (SELECT g.code, count(*) FILTER (WHERE r.party_member) AS members,
                     count(*) FILTER (WHERE r.party_member AND NOT r.party_probationary) AS full_members
              FROM g JOIN building b ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
              JOIN resident r ON r.building_id = b.id GROUP BY g.code),
        o AS (SELECT grid_code, count(*) FILTER (WHERE kind = 'grid_branch') AS branches,
                     count(*) FILTER (WHERE kind = 'building_group') AS groups FROM party_org GROUP BY grid_code)
        SELECT g.code, g.name, COALESCE(m.members, 0) AS members, COALESCE(m.full_members, 0) AS full_members,
               COALESCE(o.branches, 0) AS branches, COALESCE(o.groups, 0) AS groups
        FROM g LEFT JOIN m ON m.code = g.code LEFT JOIN o ON o.grid_code = g.code ORDER BY g.code"""),
        {"d": district}).mappings().all()
    findings: list[PartyFinding] = []
    for r in rows:
        figures = {"members": int(r["members"]), "full": int(r["full_members"]), "min": minimum}
        if r["branches"]:
            kind = "branch_too_small" if figures["full"] < minimum else None
        elif figures["members"]:
            kind = "members_without_branch" if figures["full"] >= minimum else "members_without_branch_too_few"
        else:
            kind = "no_branch"
        if kind:
            zh, en = FINDINGS[kind]
            findings.append({"grid_code": r["code"], "grid_name": r["name"], "kind": kind,
                             "members": figures["members"], "full_members": figures["full"],
                             "reason_text": en.format(**figures), "reason_text_zh": zh.format(**figures)})
    by_kind: dict[str, int] = {}
    for f in findings:
        by_kind[f["kind"]] = by_kind.get(f["kind"], 0) + 1
    return {"grids": len(rows), "branches": sum(int(r["branches"]) for r in rows),
            "groups": sum(int(r["groups"]) for r in rows), "min_full_members": minimum,
            "clean": not findings, "findings_by_kind": by_kind, "findings": findings}
