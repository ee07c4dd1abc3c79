"""Ledger figures: counts per community and per grid, and the needs map layer. Nobody is named, so no audit row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.filters import Where
from gis.errors import InvalidInput
from gis.services.ledgers.scope import OPEN_STATUSES
from gis.services.users import Principal, require_district


class CommunityFigures(TypedDict):
    """One community's ledger figures: counts only, nobody named."""

    community_code: str | None
    name: NotRequired[str | None]
    needs: int
    needs_open: int
    needs_closed: int
    needs_met: int
    met_share: NotRequired[float | None]
    needs_by_kind: dict[str, int]
    needs_by_status: dict[str, int]
    affected_people: int
    resources: int
    projects_by_status: dict[str, int]
    unit_claims: int
    party_member_claims: int
    volunteers: int
    volunteer_hours: float


class LedgerFigures(TypedDict):
    """Ledger figures per community of a district (or all), their totals and what they count."""

    district_code: str | None
    communities: list[CommunityFigures]
    total: dict[str, int | float]
    note: str
    by_grid: NotRequired[list[dict[str, Any]]]


class NeedsLayer(TypedDict):
    """The needs map layer: a GeoJSON FeatureCollection of points, and what the layer is."""

    type: str
    features: list[dict[str, Any]]
    properties: dict[str, Any]


def _in_district(alias: str, district: str | None) -> Where:
    where = Where()
    where.equal(f"{alias}.district_code", "d", district)
    return where


def _count_needs(session: Session, district: str | None, row: Callable[[str | None], CommunityFigures]) -> None:
    where = _in_district("n", district)
    for r in session.execute(text(f"SELECT community_code, kind_code, status, outcome, count(*) AS n, "
                                  f"sum(affected_people) AS people FROM need n WHERE {where.sql} "
                                  "GROUP BY 1, 2, 3, 4"), where.params).mappings():
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


def _count_projects(session: Session, district: str | None,
                    row: Callable[[str | None], CommunityFigures]) -> None:
    """Resources, projects by status, claims, volunteers and their hours per community."""
    where = _in_district("r", district)
    for r in session.execute(text(f"SELECT community_code, count(*) AS n FROM ledger_resource r WHERE {where.sql} "
                                  "AND active GROUP BY 1"), where.params).mappings():
        row(r["community_code"])["resources"] = int(r["n"])
    where = _in_district("p", district)
    for r in session.execute(text(f"SELECT community_code, status, count(*) AS n FROM ledger_project p "
                                  f"WHERE {where.sql} GROUP BY 1, 2"), where.params).mappings():
        row(r["community_code"])["projects_by_status"][r["status"]] = int(r["n"])
    for r in session.execute(text(f"""
            SELECT p.community_code, c.claimant_kind, count(*) AS n FROM project_claim c
            JOIN ledger_project p ON p.id = c.project_id WHERE {where.sql} GROUP BY 1, 2"""), where.params).mappings():
        key: Literal["unit_claims", "party_member_claims"] = (
            "unit_claims" if r["claimant_kind"] == "unit" else "party_member_claims")
        row(r["community_code"])[key] = int(r["n"])
    for r in session.execute(text(f"""
            SELECT p.community_code, count(DISTINCT s.volunteer_id) AS v, coalesce(sum(s.hours), 0) AS h
            FROM volunteer_shift s JOIN ledger_project p ON p.id = s.project_id WHERE {where.sql} GROUP BY 1"""),
            where.params).mappings():
        c = row(r["community_code"])
        c["volunteers"], c["volunteer_hours"] = int(r["v"]), round(float(r["h"]), 2)


def ledger_stats(session: Session, principal: Principal, *, district_code: str | None = None) -> LedgerFigures:
    """Per community: needs by status and kind, needs met, projects by status, claims, volunteer hours."""
    district = district_code or principal.district_code
    if district_code:
        require_district(principal, district_code, "ledger figures")
    communities: dict[str, CommunityFigures] = {}

    def row(code: str | None) -> CommunityFigures:
        return communities.setdefault(code or "", {
            "community_code": code, "needs": 0, "needs_open": 0, "needs_closed": 0, "needs_met": 0,
            "needs_by_kind": {}, "needs_by_status": {}, "affected_people": 0, "resources": 0,
            "projects_by_status": {}, "unit_claims": 0, "party_member_claims": 0, "volunteers": 0,
            "volunteer_hours": 0.0})

    _count_needs(session, district, row)
    _count_projects(session, district, row)
    names: dict[str, str] = {str(code): name for code, name in session.execute(text(
        "SELECT code, name FROM community WHERE valid_to IS NULL AND code = ANY(:c)"),
        {"c": [k for k in communities if k]})}
    items = sorted(communities.values(), key=lambda c: c["community_code"] or "")
    for c in items:
        c["name"] = names.get(c["community_code"] or "")
        c["met_share"] = round(c["needs_met"] / c["needs"], 4) if c["needs"] else None
    total: dict[str, int | float] = {
        k: sum(int(c[k]) for c in items)
        for k in ("needs", "needs_open", "needs_closed", "needs_met", "resources", "unit_claims",
                  "party_member_claims", "volunteers")}
    total["volunteer_hours"] = round(sum(c["volunteer_hours"] for c in items), 2)
    return {"district_code": district, "communities": items, "total": total,
            "note": "needs met: closed with outcome met; volunteer hours: recorded on sign-ups of the community's "
                    "projects; counts only, no person named"}


# The column placing a need in a unit of each level needs are counted by.
_UNIT_COLUMN = {"grid": "n.grid_code", "community": "n.community_code"}


def needs_by_grid(session: Session, principal: Principal, *, district_code: str | None = None,
                  level: str = "grid") -> list[dict[str, Any]]:
    """Needs per grid (or community) and kind, with each unit's outline centre for the map."""
    if level not in ("grid", "community"):
        raise InvalidInput(f"level: grid or community, got {level!r}", details={"field": "level"})
    district = district_code or principal.district_code
    where = _in_district("n", district or None)
    rows = session.execute(text(f"""
        SELECT {_UNIT_COLUMN[level]} AS code, n.kind_code, n.status, count(*) AS n FROM need n
        WHERE {where.sql} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""), where.params).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        e = out.setdefault(r["code"] or "", {level + "_code": r["code"], "needs": 0, "open": 0, "by_kind": {}})
        e["needs"] += int(r["n"])
        e["open"] += int(r["n"]) if r["status"] in OPEN_STATUSES else 0
        e["by_kind"][r["kind_code"]] = e["by_kind"].get(r["kind_code"], 0) + int(r["n"])
    return list(out.values())


def needs_geojson(session: Session, principal: Principal, *, community_code: str | None = None,
                  kind_code: str | None = None, status: str | None = None) -> NeedsLayer:
    """The needs map layer: one point per need (kind, status, counts; nobody named), for markers and heat."""
    district = principal.district_code
    where = _in_district("n", district or None)
    where.equal("n.community_code", "community_code", community_code or None)
    where.equal("n.kind_code", "kind_code", kind_code or None)
    where.equal("n.status", "status", status or None)
    rows = session.execute(text(f"""
        SELECT n.id, n.kind_code, k.name_zh, k.name_en, n.status, n.outcome, n.grid_code, n.community_code,
               n.affected_households, n.affected_people,
               round(ST_X(n.geom)::numeric, 5) AS lon, round(ST_Y(n.geom)::numeric, 5) AS lat
        FROM need n JOIN need_kind k ON k.code = n.kind_code WHERE {where.sql} ORDER BY n.id"""),
        where.params).mappings().all()
    # Rounded to about a metre: a need is placed at its building, which counts people without naming them.
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(r["lon"]), float(r["lat"])]},
                 "properties": {k: r[k] for k in ("id", "kind_code", "name_zh", "name_en", "status", "outcome",
                                                  "grid_code", "community_code", "affected_households",
                                                  "affected_people")}} for r in rows]
    return {"type": "FeatureCollection", "features": features,
            "properties": {"layer": "needs", "district_code": district, "count": len(features)}}
