"""Household visits recorded, listed, due and counted: grid-scoped, sealed, audited.

A visit is personal data (who was seen at home, and what was found), so it follows the residents'
rules (gis.services.residents): the reader's scope is part of every query, a household outside
one's grids is "not found" exactly like one that does not exist, and every read that returns
visits or households writes one audit row naming them. Findings are sealed at rest
(gis.visits.seal_findings) and opened only for a reader who may see the visit.

The due list and the monthly coverage follow the cadence of the household's groups
(``visit_cadence``, per district; the shipped defaults until a district sets its own). The
coverage figure stands beside the patrol figure of the same month, which counts households in
buildings a patrol walked past, not households visited.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import visits as rules
from gis.db.models_visits import Visit
from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.idnumbers import IdKeys
from gis.services import privacy
from gis.services.residents import Reader, Where, check_grid_code, check_paging
from gis.services.users import Principal
from gis.settings import Settings

MAX_DUE_PAGE = 5000
_LOCAL = zoneinfo.ZoneInfo(rules.TIMEZONE)

# The households a query may see, each with its building, when recorded, its members' tags, the
# name of its head and its last visit (before :before when given).
_HOUSEHOLD_FACTS = """
    SELECT h.id, h.district_code, h.building_id, h.created_at,
           COALESCE((SELECT array_agg(DISTINCT t) FROM resident r JOIN resident_private p ON p.resident_id = r.id,
                     unnest(p.tags) AS t WHERE r.household_id = h.id), '{}') AS tags,
           (SELECT r.name FROM resident r WHERE r.household_id = h.id
             ORDER BY (r.relation = ANY(CAST(:head_relations AS text[]))) DESC NULLS LAST, r.id LIMIT 1) AS head_name,
           (SELECT max(v.visited_at) FROM visit v WHERE v.household_id = h.id AND v.visited_at < :before) AS last_visit
    FROM household h
"""


@dataclass(frozen=True)
class FollowUp:
    """The case a visit gives rise to: a category code of the case catalogue and what to do."""

    category: str
    description: str


# --- cadence ------------------------------------------------------------------------------------


def _district_of(session: Session, principal: Principal, district_code: str | None) -> str:
    """The district meant: given, the principal's, or the only one stored."""
    code = district_code or principal.district_code
    if code is None:
        codes = list(session.execute(text("SELECT code FROM district ORDER BY code")).scalars())
        if len(codes) != 1:
            raise InvalidInput(f"district_code: give the 6-digit district code "
                               f"({', '.join(codes) or 'none stored yet'})",
                               details={"field": "district_code"})
        code = codes[0]
    if not principal.sees_district(code):
        raise PermissionDenied(f"{principal.username} works in district {principal.district_code}, not {code}")
    if session.execute(text("SELECT 1 FROM district WHERE code = :c"), {"c": code}).first() is None:
        raise NotFound(f"district_code: no district {code}", details={"field": "district_code"})
    return code


class CadenceRule(TypedDict):
    tag: str
    days: int


class CadenceTable(TypedDict):
    """A district's days between visits per resident group, and whether they are its own or the shipped ones."""

    district_code: str
    source: str
    rules: list[CadenceRule]


class VisitRecord(TypedDict):
    """One visit; ``findings`` opened only for readers who may see them."""

    id: int
    household_id: int
    grid_code: str
    district_code: str
    worker_id: int | None
    worker: str | None
    visited_at: str
    purpose: str
    findings: str | None
    case_id: int | None
    created_at: str | None


class VisitPage(TypedDict):
    items: list[VisitRecord]
    total: int
    limit: int
    offset: int


class DueVisits(TypedDict):
    """Households due a visit by ``until``, most overdue first, one page of them."""

    today: str
    until: str
    grid: str | None
    households: int
    total: int
    limit: int
    offset: int
    items: list[dict[str, Any]]


class VisitStats(TypedDict):
    """Visit coverage of one month per current grid (``items``) and over them all (``summary``)."""

    month: str
    district_code: str | None
    period: dict[str, str]
    summary: dict[str, Any]
    items: list[dict[str, Any]]


def cadence_rules(session: Session, district_code: str) -> dict[str, int]:
    """The district's cadence (days per tag, ``other`` for the rest); the shipped defaults until it has its own."""
    rows: dict[str, int] = dict(session.execute(text("SELECT tag, days FROM visit_cadence WHERE district_code = :d"),
                                {"d": district_code}).all())
    return {t: int(d) for t, d in rows.items()} if rows else dict(rules.DEFAULT_CADENCE)


def show_cadence(session: Session, principal: Principal, *, district_code: str | None = None) -> CadenceTable:
    """The cadence of a district, shortest first, and whether it is the district's own or the shipped one."""
    code = _district_of(session, principal, district_code)
    own = session.execute(text("SELECT count(*) FROM visit_cadence WHERE district_code = :d"),
                          {"d": code}).scalar_one()
    table = cadence_rules(session, code)
    return {"district_code": code, "source": "district" if own else "default",
            "rules": [{"tag": t, "days": d} for t, d in sorted(table.items(), key=lambda kv: (kv[1], kv[0]))]}


def set_cadence(session: Session, principal: Principal, *, district_code: str | None = None,
                changes: Mapping[str, int]) -> CadenceTable:
    """Set days per tag for a district (its rows start from the shipped ones); one audit row; atomic."""
    if principal.role != "admin":
        raise PermissionDenied(f"{principal.role} may not change the visit cadence; an admin may")
    checked = dict(rules.check_cadence_days(t, d) for t, d in changes.items())
    if not checked:
        raise InvalidInput("changes: nothing to set; give days per tag, e.g. elderly_alone=7",
                           details={"field": "changes"})
    code = _district_of(session, principal, district_code)
    before = cadence_rules(session, code)
    with session.begin_nested():
        for tag, days in {**before, **checked}.items():
            session.execute(text("""
                INSERT INTO visit_cadence (district_code, tag, days, updated_by) VALUES (:d, :t, :n, :u)
                ON CONFLICT (district_code, tag) DO UPDATE SET days = EXCLUDED.days,
                    updated_by = CASE WHEN visit_cadence.days = EXCLUDED.days THEN visit_cadence.updated_by
                                      ELSE EXCLUDED.updated_by END,
                    updated_at = CASE WHEN visit_cadence.days = EXCLUDED.days THEN visit_cadence.updated_at
                                      ELSE now() END"""),
                {"d": code, "t": tag, "n": days, "u": principal.user_id or None})
        privacy.record_change(session, principal, entity="visit_cadence", entity_id=code, action="update",
                              district_code=code, detail={"set": checked,
                                                          "before": {t: before.get(t) for t in checked}})
    return show_cadence(session, principal, district_code=code)


# --- recording ----------------------------------------------------------------------------------


def _household_in_scope(session: Session, principal: Principal, household_id: int) -> Any:
    where = Where.scoped(privacy.scope_filter(principal, building_column="h.building_id",
                                              district_column="h.district_code"))
    where.equal("h.id", "household_id", household_id, audit=False)
    row = session.execute(text(f"SELECT h.id, h.district_code, h.building_id, h.created_at FROM household h "
                               f"WHERE {where.sql}"), where.params).first()
    if row is None:
        # The same answer whether the household is missing or outside one's grids.
        within = " within your grids" if principal.is_grid_scoped else ""
        raise NotFound(f"household_id: no household {household_id}{within}", details={"field": "household_id"})
    return row


def _check_follow_up(follow_up: FollowUp | Mapping[str, Any] | None) -> FollowUp | None:
    if follow_up is None:
        return None
    if isinstance(follow_up, Mapping):
        unknown = sorted(set(follow_up) - {"category", "description"})
        if unknown:
            raise InvalidInput(f"follow_up: unknown field {', '.join(unknown)}; send category and description",
                               details={"field": "follow_up"})
        follow_up = FollowUp(category=str(follow_up.get("category") or ""),
                             description=str(follow_up.get("description") or ""))
    if not follow_up.category.strip():
        raise InvalidInput("follow_up.category: a case category code is required (e.g. E0101)",
                           details={"field": "follow_up.category"})
    if not follow_up.description.strip():
        raise InvalidInput("follow_up.description: say what is to be done", details={"field": "follow_up.description"})
    return FollowUp(category=follow_up.category.strip(), description=follow_up.description.strip())


def _file_case(session: Session, principal: Principal, settings: Settings, *, follow_up: FollowUp,
               building_id: int) -> int:
    """File the follow-up through the cases service; its refusals name the visit's field."""
    from gis.services import cases as case_service

    try:
        case_service.resolve_category(settings, category_code=follow_up.category)
    except InvalidInput as exc:
        raise InvalidInput(f"follow_up.category: {exc.message}", details={"field": "follow_up.category"}) from None
    filed = case_service.report_incident(session, principal, settings=settings, building_id=building_id,
                                         category_code=follow_up.category, description=follow_up.description,
                                         source="patrol")
    return int(filed["incident"]["id"])


def _visit_record(row: Any, findings: str | None, *, worker: str | None = None) -> VisitRecord:
    return {"id": int(row.id), "household_id": int(row.household_id), "grid_code": row.grid_code,
            "district_code": row.district_code, "worker_id": row.worker_id, "worker": worker,
            "visited_at": row.visited_at.isoformat(), "purpose": row.purpose, "findings": findings,
            "case_id": row.case_id, "created_at": row.created_at.isoformat() if row.created_at else None}


def record_visit(session: Session, reader: Reader, *, settings: Settings, household_id: int,
                 visited_at: dt.datetime, purpose: str, findings: str | None = None,
                 follow_up: FollowUp | Mapping[str, Any] | None = None,
                 now: dt.datetime | None = None) -> VisitRecord:
    """Record a visit by the signed-in worker; with a follow-up, file its case; one audit row; atomic.

    ``visited_at`` is when the visit happened (an offline phone sends it later); refused in the
    future or before the household was recorded. A household outside the worker's grids is not found.
    """
    principal = reader.principal
    privacy.require_personal_access(principal, "households")
    if not principal.user_id:
        raise PermissionDenied("a visit is recorded by the worker who made it: sign in as that worker")
    purpose = rules.check_purpose(purpose)
    clean = rules.check_findings(findings)
    wanted = _check_follow_up(follow_up)
    if isinstance(household_id, bool) or not isinstance(household_id, int):
        raise InvalidInput(f"household_id: an integer id, got {household_id!r}", details={"field": "household_id"})
    household = _household_in_scope(session, principal, household_id)
    now = now or session.execute(text("SELECT now()")).scalar_one()
    rules.check_visit_time(visited_at, now=now, household_since=household.created_at)
    grid_code = privacy.grid_of_buildings(session, [household.building_id]).get(household.building_id)
    if grid_code is None:
        raise InvalidInput(f"household_id: household {household_id} lies in no current grid; adopt the grids of "
                           "its community first", details={"field": "household_id"})
    sealed = rules.seal_findings(privacy.id_keys(settings), clean) if clean is not None else None
    with session.begin_nested():
        case_id = _file_case(session, principal, settings, follow_up=wanted,
                             building_id=household.building_id) if wanted is not None else None
        visit = Visit(district_code=household.district_code, household_id=household_id, grid_code=grid_code,
                      worker_id=principal.user_id, visited_at=visited_at, purpose=purpose, findings=sealed,
                      case_id=case_id)
        session.add(visit)
        session.flush()
        session.refresh(visit)
        privacy.record_change(session, principal, entity="visit", entity_id=visit.id, action="create",
                              reason=reader.reason, district_code=household.district_code,
                              request_id=reader.request_id,
                              detail={"household_id": household_id, "grid_code": grid_code, "purpose": purpose,
                                      "case_id": case_id, "visited_at": visited_at.isoformat()})
    return _visit_record(visit, clean, worker=principal.username)


def reseal_findings(session: Session, keys: IdKeys) -> dict[str, int]:
    """Seal again under the current ID key every visit's findings sealed under an older one; atomic.

    Run after ``wangge keys rotate`` (which re-encrypts ID numbers), before an old key leaves
    WANGGE_ID_KEYS_PREVIOUS: findings under a key no longer held could not be read.
    """
    counts = {"checked": 0, "resealed": 0}
    prefix = f"{rules.FINDINGS_PREFIX}.{keys.current_id}."
    with session.begin_nested():
        rows = session.execute(text("SELECT id, findings FROM visit WHERE findings IS NOT NULL ORDER BY id")).all()
        for visit_id, token in rows:
            counts["checked"] += 1
            if token.startswith(prefix):
                continue
            session.execute(text("UPDATE visit SET findings = :f WHERE id = :id"),
                            {"f": rules.seal_findings(keys, rules.open_findings(keys, token) or ""), "id": visit_id})
            counts["resealed"] += 1
    return counts


# --- reading ------------------------------------------------------------------------------------


def _audit(session: Session, reader: Reader, *, entity: str, ids: list[Any], action: str,
           detail: dict[str, Any] | None = None, total: int | None = None) -> None:
    privacy.record_read(session, reader.principal, entity=entity, entity_ids=ids, action=action,
                        reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip, detail=detail, total=total)


def _as_aware(value: str | dt.datetime | dt.date | None, name: str) -> dt.datetime | None:
    """A date (its local midnight) or a time with its offset; InvalidInput naming ``name`` otherwise."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value.strip()) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"{name}: a date (2026-12-01) or a time with its offset (2026-12-01T08:00:00+08:00); "
                               f"got {value!r}", details={"field": name}) from None
    if not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(), tzinfo=_LOCAL)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name}: a time with its UTC offset, or a date; got {value!r}", details={"field": name})
    return value


def list_visits(session: Session, reader: Reader, *, settings: Settings, grid_code: str | None = None,
                since: str | dt.datetime | dt.date | None = None, household_id: int | None = None, limit: int = 100,
                offset: int = 0) -> VisitPage:
    """Visits within the reader's grids, newest first, findings opened; one audit row naming them."""
    principal = reader.principal
    privacy.require_personal_access(principal, "visits")
    check_paging(limit, offset)
    where = Where.scoped(privacy.scope_filter(principal, grid_column="v.grid_code", district_column="v.district_code"))
    where.equal("v.grid_code", "grid_code", None if grid_code is None else check_grid_code(grid_code, where="grid"))
    where.equal("v.household_id", "household_id", household_id)
    where.add("v.visited_at >= :since", "since", _as_aware(since, "since"))
    total = session.execute(text(f"SELECT count(*) FROM visit v WHERE {where.sql}"), where.params).scalar_one()
    rows = session.execute(text(f"""
        SELECT v.*, u.username FROM visit v LEFT JOIN app_user u ON u.id = v.worker_id WHERE {where.sql}
        ORDER BY v.visited_at DESC, v.id DESC LIMIT :limit OFFSET :offset"""),
        {**where.params, "limit": limit, "offset": offset}).all()
    keys = privacy.id_keys(settings) if any(r.findings for r in rows) else None
    items = [_visit_record(r, rules.open_findings(keys, r.findings) if keys else None, worker=r.username)
             for r in rows]
    _audit(session, reader, entity="visit", ids=[v["id"] for v in items], action="list",
           detail={"filters": where.given}, total=total)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def _facts(session: Session, principal: Principal, *, grid_code: str | None, before: dt.datetime,
           district_code: str | None = None) -> list[Any]:
    where = Where.scoped(privacy.scope_filter(principal, building_column="h.building_id",
                                              district_column="h.district_code"))
    where.in_grid("h.building_id", grid_code)
    where.equal("h.district_code", "district_code", district_code)
    return list(session.execute(text(f"{_HOUSEHOLD_FACTS} WHERE {where.sql} ORDER BY h.id"),
                           {**where.params, "before": before,
                            "head_relations": sorted(rules.HEAD_RELATIONS)}).all())


def due_visits(session: Session, reader: Reader, *, grid_code: str | None = None, within_days: int = 0,
               today: dt.date | None = None, limit: int = 500, offset: int = 0) -> DueVisits:
    """Households within the reader's grids due a visit by ``today`` (+ ``within_days``), most overdue first.

    Each: household id, its head's name masked, the group (tag) whose cadence applies, the last
    visit, the due date and days overdue. One audit row naming the households listed.
    """
    principal = reader.principal
    privacy.require_personal_access(principal, "households")
    if not 1 <= limit <= MAX_DUE_PAGE:
        raise InvalidInput(f"limit: between 1 and {MAX_DUE_PAGE}, got {limit}", details={"field": "limit"})
    if offset < 0:
        raise InvalidInput(f"offset: 0 or more, got {offset}", details={"field": "offset"})
    if not 0 <= within_days <= rules.MAX_CADENCE_DAYS:
        raise InvalidInput(f"within_days: between 0 and {rules.MAX_CADENCE_DAYS}, got {within_days}",
                           details={"field": "within_days"})
    if grid_code is not None:
        check_grid_code(grid_code, where="grid")
    now = session.execute(text("SELECT now()")).scalar_one()
    today = today or rules.local_date(now)
    until = today + dt.timedelta(days=within_days)
    rows = _facts(session, principal, grid_code=grid_code, before=now + rules.CLOCK_SKEW)
    grids = privacy.grid_of_buildings(session, {r.building_id for r in rows})
    cadences: dict[str, dict[str, int]] = {}
    due = []
    for r in rows:
        cadence = cadences.get(r.district_code) or cadences.setdefault(r.district_code,
                                                                       cadence_rules(session, r.district_code))
        item = rules.due_visit(household_id=int(r.id), grid_code=grids.get(r.building_id), head_name=r.head_name,
                               tags=r.tags, last_visit=r.last_visit, recorded_at=r.created_at, cadence=cadence,
                               today=today)
        if rules.is_due_in(item, until=until):
            due.append(item)
    due.sort(key=lambda d: (-d.overdue_days, d.grid_code or "", d.household_id))
    page = [d.to_dict() for d in due[offset:offset + limit]]
    _audit(session, reader, entity="household", ids=[d["household_id"] for d in page], action="due_list",
           detail={"filters": {k: v for k, v in (("grid", grid_code), ("within_days", within_days)) if v}},
           total=len(due))
    return {"today": today.isoformat(), "until": until.isoformat(), "grid": grid_code, "households": len(rows),
            "total": len(due), "limit": limit, "offset": offset, "items": page}


# --- monthly coverage ---------------------------------------------------------------------------


def _patrol_walked_past(session: Session, codes: list[str], lo: dt.datetime, hi: dt.datetime,
                        retention_days: int | None) -> dict[str, dict[str, Any]]:
    """Per grid with patrols in the month: households in buildings its patrols walked past (gis.services.patrols)."""
    from gis.services import patrols as patrol_service

    patrolled = list(session.execute(text(
        "SELECT DISTINCT grid_code FROM patrol WHERE grid_code = ANY(CAST(:codes AS text[])) "
        "AND started_at >= :lo AND started_at < :hi ORDER BY grid_code"),
        {"codes": codes, "lo": lo, "hi": hi}).scalars())
    last_day = (hi - dt.timedelta(days=1)).date()
    out = {}
    for code in patrolled:
        cov = patrol_service.patrol_coverage(session, grid_code=code, start=lo.date(), end=last_day,
                                             retention_days=retention_days)
        out[code] = {"patrols": cov["patrols"], "households_walked_past": cov["summary"]["households_walked_past"]}
    return out


def visit_stats(session: Session, principal: Principal, *, month: str, settings: Settings,
                district_code: str | None = None, grid_code: str | None = None) -> VisitStats:
    """Per current grid, one month (Asia/Shanghai): households due a visit, visited of them, the share.

    Beside it the patrol figure of the month (households in buildings walked past). Aggregates: no
    audit row.

    Due in the month: the household's due date (from its last visit before the month) falls in or
    before the month. Visited (``visited``, also ``households_visited``): due and visited in the
    month; ``visited_not_due`` counts early visits apart, so the share never passes 1. Households
    never visited are due from the day they were recorded.
    """
    lo, hi = rules.month_period(month)
    district = _district_of(session, principal, district_code) if grid_code is None else None
    if grid_code is not None:
        check_grid_code(grid_code, where="grid")
    params: dict[str, Any] = {"g": grid_code, "d": district}
    grids = session.execute(text("""
        SELECT code, name, community_code, district_code FROM grid
        WHERE valid_to IS NULL AND level = 1 AND (CAST(:g AS text) IS NULL OR code = :g)
          AND (CAST(:d AS text) IS NULL OR district_code = :d) ORDER BY code"""), params).all()
    if grid_code is not None:
        if not grids:
            raise NotFound(f"grid: no current grid {grid_code}", details={"field": "grid"})
        if not principal.sees_district(grids[0].district_code):
            raise PermissionDenied(f"grid {grid_code} lies outside your district")
    codes = [g.code for g in grids]
    # Every household of the grids: the figures are counts, whoever asks.
    rows = session.execute(text("""
        SELECT h.id, h.district_code, g.code AS grid_code, h.created_at,
               COALESCE((SELECT array_agg(DISTINCT t) FROM resident r JOIN resident_private p ON p.resident_id = r.id,
                         unnest(p.tags) AS t WHERE r.household_id = h.id), '{}') AS tags,
               (SELECT max(v.visited_at) FROM visit v WHERE v.household_id = h.id AND v.visited_at < :lo) AS last_visit,
               EXISTS (SELECT 1 FROM visit v WHERE v.household_id = h.id AND v.visited_at >= :lo
                       AND v.visited_at < :hi) AS visited
        FROM household h JOIN building b ON b.id = h.building_id
        JOIN grid g ON g.valid_to IS NULL AND g.level = 1 AND g.code = ANY(CAST(:codes AS text[]))
         AND ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE h.created_at < :hi"""), {"lo": lo, "hi": hi, "codes": codes}).all()
    visits: dict[str, int] = dict(session.execute(text("""
        SELECT grid_code, count(*) FROM visit WHERE grid_code = ANY(CAST(:codes AS text[]))
          AND visited_at >= :lo AND visited_at < :hi GROUP BY grid_code"""),
        {"codes": codes, "lo": lo, "hi": hi}).all())
    last_day = (hi - dt.timedelta(days=1)).date()
    per: dict[str, dict[str, int]] = {c: {"households": 0, "due": 0, "visited_due": 0, "visited": 0} for c in codes}
    cadences: dict[str, dict[str, int]] = {}
    for r in rows:
        code = r.grid_code
        cadence = cadences.get(r.district_code) or cadences.setdefault(r.district_code,
                                                                       cadence_rules(session, r.district_code))
        rule = rules.household_cadence(r.tags, cadence)
        due = rules.due_date(last_visit=r.last_visit, recorded_at=r.created_at, days=rule.days) <= last_day
        figures = per[code]
        figures["households"] += 1
        figures["due"] += due
        figures["visited"] += bool(r.visited)
        figures["visited_due"] += due and bool(r.visited)
    walked = _patrol_walked_past(session, codes, lo, hi, settings.patrol_retention_days)
    # The patrol figure counts a building's households of record (recorded or estimated), as patrols do;
    # visits count the households registered in it. Each share is over its own total.
    of_record: dict[str, int] = dict(session.execute(text("""
        SELECT g.code, sum(COALESCE(b.households, 0))::int FROM grid g JOIN building b
          ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.valid_to IS NULL AND g.code = ANY(CAST(:codes AS text[])) GROUP BY g.code"""), {"codes": codes}).all())
    items = []
    for g in grids:
        f = per[g.code]
        p = walked.get(g.code, {"patrols": 0, "households_walked_past": 0})
        items.append({"grid_code": g.code, "grid_name": g.name, "community_code": g.community_code,
                      "households": f["households"], "households_due": f["due"], "visited": f["visited_due"],
                      "coverage_share": rules.coverage_share(f["visited_due"], f["due"]),
                      "households_visited": f["visited_due"], "visited_not_due": f["visited"] - f["visited_due"],
                      "visits": int(visits.get(g.code, 0)),
                      "patrols": p["patrols"], "households_walked_past": p["households_walked_past"],
                      "households_of_record": int(of_record.get(g.code, 0)),
                      "walked_past_share": rules.coverage_share(p["households_walked_past"],
                                                                int(of_record.get(g.code, 0)))})
    due_total = sum(i["households_due"] for i in items)
    visited_total = sum(i["visited"] for i in items)
    return {"month": month, "district_code": district or (grids[0].district_code if grids else None),
            "period": {"start": lo.isoformat(), "end": hi.isoformat(), "timezone": rules.TIMEZONE},
            "summary": {"grids": len(items), "households": sum(i["households"] for i in items),
                        "households_due": due_total, "visited": visited_total, "households_visited": visited_total,
                        "visited_not_due": sum(i["visited_not_due"] for i in items),
                        "coverage_share": rules.coverage_share(visited_total, due_total),
                        "visits": sum(i["visits"] for i in items),
                        "households_walked_past": sum(i["households_walked_past"] for i in items),
                        "households_of_record": sum(i["households_of_record"] for i in items)},
            "items": items}
