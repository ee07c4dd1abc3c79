"""Find a place on the map, and the card of one unit.

A grid or community by code or name, a building by its address or name, a standard address
(标准地址); the card of one unit holds its 四至, history, households and staff.

Nothing here is personal data: residents are searched through ``GET /residents`` (scoped, audited,
with the access reason), never here. Matching is plain ``ILIKE``/prefix SQL: a district holds a few
hundred units and some ten thousand buildings, which PostgreSQL scans in milliseconds, so no search
engine is worth running beside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from sqlalchemy import Select, and_, false, func, or_, select, text, true
from sqlalchemy.orm import Session

from gis.db.levels import PARENT_COLUMN, PARENT_LEVEL, level_table
from gis.db.units import unit_households
from gis.errors import InvalidInput, NotFound
from gis.services import plans as plan_service
from gis.services.plans.history import BoundaryVersion
from gis.services.users import Principal

MAX_QUERY = 100
DEFAULT_LIMIT = 20


@dataclass(frozen=True)
class SearchHit:
    """One place found: what it is (a code for the page to word), where, and how to show it."""

    kind: str  # grid, community, building, address
    code: str | None
    name: str
    detail: str | None  # the parent's name, the matched address
    lon: float
    lat: float
    bbox: list[float] | None
    building_id: int | None = None
    match: str = "name"  # code, name, address


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _unit_search(level: str, q: str, district: str | None, limit: int) -> Select[Any]:
    """Current units of ``level`` whose code starts with ``q`` (digits only) or whose name holds it."""
    u = level_table(level)
    p = level_table(PARENT_LEVEL[level]).alias("p")
    point = func.ST_PointOnSurface(u.c.geom)
    by_code = u.c.code.startswith(q, autoescape=True) if q.isdigit() else false()
    query = select(
        u.c.code, u.c.name, p.c.name.label("parent"), func.ST_X(point).label("lon"), func.ST_Y(point).label("lat"),
        func.ST_XMin(u.c.geom).label("x0"), func.ST_YMin(u.c.geom).label("y0"), func.ST_XMax(u.c.geom).label("x1"),
        func.ST_YMax(u.c.geom).label("y1"), by_code.label("by_code"),
    ).select_from(u.outerjoin(p, and_(p.c.code == u.c[PARENT_COLUMN[level]], p.c.valid_to.is_(None)))).where(
        u.c.valid_to.is_(None), or_(by_code, u.c.name.ilike(_like(q))))
    if district is not None:
        query = query.where(u.c.district_code == district)
    first = [by_code.desc()] if q.isdigit() else []  # code matches first; PostgreSQL refuses ORDER BY false
    return query.order_by(*first, func.length(u.c.name), u.c.code).limit(limit)


def search(session: Session, principal: Principal, q: str, *, district_code: str | None = None,
           limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
    """Units by code prefix or name, buildings and standard addresses by address (or name), in the caller's district."""
    q = (q or "").strip()
    if not q:
        raise InvalidInput("q: give a code, a name or an address to search for", details={"field": "q"})
    if len(q) > MAX_QUERY:
        raise InvalidInput(f"q: at most {MAX_QUERY} characters; got {len(q)}", details={"field": "q"})
    if not 1 <= limit <= 100:
        raise InvalidInput(f"limit: 1 to 100; got {limit}", details={"field": "limit"})
    district = district_code or principal.district_code
    if principal.district_code and district != principal.district_code:
        raise InvalidInput(f"district_code: you may search district {principal.district_code} only; got {district}",
                           details={"field": "district_code"})
    params: dict[str, Any] = {"like": _like(q), "district": district, "limit": limit}
    in_district = "(CAST(:district AS text) IS NULL OR u.district_code = :district)"
    hits: list[SearchHit] = []
    for level in ("community", "grid"):
        rows = session.execute(_unit_search(level, q, district, limit)).mappings().all()
        hits += [SearchHit(level, r["code"], r["name"], r["parent"], r["lon"], r["lat"],
                           [r["x0"], r["y0"], r["x1"], r["y1"]], match="code" if r["by_code"] else "name")
                 for r in rows]
    if not q.isdigit():
        rows = session.execute(text(f"""
            SELECT u.id, u.name, u.address, ST_X(ST_PointOnSurface(u.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(u.geom)) AS lat, ST_XMin(u.geom) x0, ST_YMin(u.geom) y0,
                   ST_XMax(u.geom) x1, ST_YMax(u.geom) y1, u.address ILIKE :like AS by_address
            FROM building u WHERE {in_district} AND (u.address ILIKE :like OR u.name ILIKE :like)
            ORDER BY (u.address ILIKE :like) DESC, length(coalesce(u.address, u.name)), u.id LIMIT :limit"""),
            params).mappings().all()
        hits += [SearchHit("building", None, r["name"] or r["address"], r["address"], r["lon"], r["lat"],
                           [r["x0"], r["y0"], r["x1"], r["y1"]], building_id=r["id"],
                           match="address" if r["by_address"] else "name") for r in rows]
        rows = session.execute(text(f"""
            SELECT u.id, u.address, u.building_id,
                   ST_X(coalesce(u.geom, ST_PointOnSurface(b.geom))) AS lon,
                   ST_Y(coalesce(u.geom, ST_PointOnSurface(b.geom))) AS lat
            FROM standard_address u LEFT JOIN building b ON b.id = u.building_id
            WHERE {in_district} AND u.address ILIKE :like AND coalesce(u.geom, b.geom) IS NOT NULL
            ORDER BY length(u.address), u.id LIMIT :limit"""), params).mappings().all()
        hits += [SearchHit("address", None, r["address"], None, r["lon"], r["lat"], None,
                           building_id=r["building_id"], match="address") for r in rows]
    return hits[:limit]


class SearchResults(TypedDict):
    """The API's answer to a search: the query as searched and each hit as a plain dict of a ``SearchHit``."""

    q: str
    items: list[dict[str, Any]]


class UnitCard(TypedDict):
    """A community's or grid's card (see :func:`unit_card`)."""

    level: str
    code: str
    name: str
    version: int
    valid_from: str | None
    four_limits: str | None
    parent_code: str | None
    parent_name: str | None
    bbox: list[float]
    households: int
    households_estimated: int
    buildings: int
    grids: int | None
    staff: list[dict[str, Any]]
    history: list[BoundaryVersion]


def search_results(session: Session, principal: Principal, q: str, *, district_code: str | None = None,
                   limit: int = DEFAULT_LIMIT) -> SearchResults:
    """The API's answer: the hits as plain dicts."""
    hits = search(session, principal, q, district_code=district_code, limit=limit)
    return {"q": q.strip(), "items": [asdict(h) for h in hits]}


def unit_card(session: Session, code: str) -> UnitCard:
    """A community's or grid's card.

    Name, parent, 四至, households and buildings, its staff (public phone only) and its boundary
    history (newest first).
    """
    code = (code or "").strip()
    if not code.isdigit() or len(code) not in (12, 15):
        raise InvalidInput(f"code: a 12-digit community or 15-digit grid code; got {code!r}", details={"field": "code"})
    level = "community" if len(code) == 12 else "grid"
    u = level_table(level)
    p = level_table(PARENT_LEVEL[level]).alias("p")
    hh = unit_households(u)
    row = session.execute(select(
        u.c.code, u.c.name, u.c.version, u.c.valid_from, u.c.four_limits["text"].astext.label("four_limits"),
        p.c.code.label("parent_code"), p.c.name.label("parent_name"), func.ST_XMin(u.c.geom).label("x0"),
        func.ST_YMin(u.c.geom).label("y0"), func.ST_XMax(u.c.geom).label("x1"), func.ST_YMax(u.c.geom).label("y1"),
        hh.c.households, hh.c.estimated, hh.c.buildings,
    ).select_from(
        u.outerjoin(p, and_(p.c.code == u.c[PARENT_COLUMN[level]], p.c.valid_to.is_(None))).outerjoin(hh, true())
    ).where(u.c.code == code, u.c.valid_to.is_(None))).mappings().first()
    if row is None:
        raise NotFound(f"{level} {code} has no current boundary", details={"code": code})
    grids_of = "ga.grid_code = :code" if level == "grid" else "ga.grid_code LIKE :code || '%'"
    staff = session.execute(text(f"""
        SELECT ga.grid_code, g.name AS grid_name, COALESCE(u.display_name, u.username) AS name, ga.duty,
               ga.public_phone
        FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
        LEFT JOIN grid g ON g.code = ga.grid_code AND g.valid_to IS NULL
        WHERE {grids_of} AND ga.valid_to IS NULL AND u.is_active
        ORDER BY ga.grid_code, ga.duty, u.username"""), {"code": code}).mappings().all()
    grids = None
    if level == "community":
        grids = session.scalar(text("SELECT count(*) FROM grid WHERE community_code = :code AND valid_to IS NULL"),
                               {"code": code})
    history = plan_service.boundary_history(session, code)["versions"]
    own = sorted((v for v in history if v["code"] == code), key=lambda v: (v["version"], v["valid_from"] or ""),
                 reverse=True)
    return {
        "level": level, "code": row["code"], "name": row["name"], "version": row["version"],
        "valid_from": row["valid_from"].isoformat() if row["valid_from"] else None,
        "four_limits": row["four_limits"], "parent_code": row["parent_code"], "parent_name": row["parent_name"],
        "bbox": [row["x0"], row["y0"], row["x1"], row["y1"]],
        "households": row["households"], "households_estimated": row["estimated"], "buildings": row["buildings"],
        "grids": int(grids) if grids is not None else None,
        "staff": [dict(s) for s in staff],
        "history": own,
    }
