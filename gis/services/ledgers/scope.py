"""Who sees and writes which ledger rows: grid staff their grids, officers their street or community, units their own.

Personal fields reach only those who see a row's grid (:func:`sees`); every list starts from the reader's area
(:func:`area_filter`), and every write asks :func:`require_writer` first.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.filters import Where
from gis.errors import NotFound, PermissionDenied
from gis.services.users import Principal, require_district

GRID_STAFF = frozenset({"grid_leader", "grid_worker"})
# Roles that write the ledgers (grid staff within their grids); units write their own resources.
WRITERS = frozenset({"admin", "grid_leader", "grid_worker", "community_officer", "street_officer"})
OPEN_STATUSES = ("open", "matched", "in_progress")


def unit_of(session: Session, principal: Principal) -> int | None:
    """The resident unit (org_unit id) a unit_contact speaks for; None for other roles."""
    if principal.role != "unit_contact":
        return None
    unit = session.execute(text("SELECT org_unit_id FROM unit_contact WHERE user_id = :u"),
                           {"u": principal.user_id}).scalar()
    if unit is None:
        raise PermissionDenied(f"{principal.username} is a unit contact linked to no unit yet: an administrator "
                               "links them to their unit first", details={"reason": "unit_not_linked"})
    return int(unit)


def communities_of(session: Session, grids: frozenset[str]) -> list[str]:
    """The communities holding the current grids ``grids``."""
    return list(session.execute(text("SELECT DISTINCT community_code FROM grid WHERE valid_to IS NULL "
                                     "AND code = ANY(:g)"), {"g": sorted(grids)}).scalars())


def area_filter(session: Session, principal: Principal, alias: str, *, by_community: bool = False
                ) -> tuple[str, dict[str, Any]]:
    """Rows of ``alias`` (grid_code, community_code, district_code) the principal may list, for ``Where.scoped``.

    ``alias`` is a table alias written in code (``n``, ``r``, ``p``, ``v``), never a caller's value.
    """
    if principal.role in GRID_STAFF:
        if by_community:
            return f"{alias}.community_code = ANY(:scope_c)", {"scope_c": communities_of(session, principal.grid_codes)}
        return f"{alias}.grid_code = ANY(:scope_g)", {"scope_g": sorted(principal.grid_codes)}
    scope = officer_scope(session, principal)
    if scope is not None:
        column, code = scope
        if column == "community_code":
            return f"{alias}.community_code = :scope_o", {"scope_o": code}
        return f"left({alias}.community_code, 9) = :scope_o", {"scope_o": code}
    if principal.district_code:
        return f"{alias}.district_code = :scope_d", {"scope_d": principal.district_code}
    return "TRUE", {}


def listing_scope(session: Session, principal: Principal, alias: str, *, unit_rows: str,
                  by_community: bool = False) -> Where:
    """A Where starting from the rows ``principal`` may list.

    A unit contact gets the rows ``unit_rows`` picks (``:unit`` bound to their unit); everyone else their area.
    """
    unit = unit_of(session, principal)
    if unit is not None:
        return Where.scoped((unit_rows, {"unit": unit}))
    return Where.scoped(area_filter(session, principal, alias, by_community=by_community))


def sees(principal: Principal, grid_code: str | None, district_code: str | None) -> bool:
    """Whether personal fields of a row in ``grid_code`` reach this principal."""
    if principal.role == "admin":
        return principal.sees_district(district_code)
    return principal.role in GRID_STAFF and grid_code is not None and grid_code in principal.grid_codes


def officer_scope(session: Session, principal: Principal) -> tuple[str, str] | None:
    """A street or community officer's own street or community (app_user.street_code / community_code)."""
    column = {"street_officer": "street_code", "community_officer": "community_code"}.get(principal.role)
    if column is None:
        return None
    row = session.execute(text("SELECT street_code, community_code FROM app_user WHERE id = :u"),
                          {"u": principal.user_id}).mappings().first()
    code = row[column] if row is not None else None
    return (column, code) if code else None  # none set: the whole district, as for a planner


def in_officer_scope(scope: tuple[str, str] | None, community_code: str | None) -> bool:
    """Whether ``community_code`` lies in an officer's street or community (always, without an officer scope)."""
    if scope is None:
        return True
    if not community_code:
        return False
    column, code = scope
    # Codes nest: a community's 12 digits begin with its street's 9.
    return community_code == code if column == "community_code" else community_code[:9] == code


def in_area(session: Session, principal: Principal, row: Any) -> bool:
    """Whether a row (its district_code, grid_code and community_code) lies in the area ``principal`` reads."""
    return (principal.sees_district(row["district_code"])
            and not (principal.role in GRID_STAFF and row["grid_code"] not in principal.grid_codes)
            and in_officer_scope(officer_scope(session, principal), row["community_code"]))


def require_writer(session: Session, principal: Principal, place_grid: str | None, district_code: str | None,
                   what: str) -> None:
    """PermissionDenied unless ``principal`` may write ``what``, a row in grid ``place_grid``."""
    if principal.role not in WRITERS:
        raise PermissionDenied(f"{principal.role} 不能修改清单 · {principal.role} may not change {what}")
    require_district(principal, district_code, what)
    if principal.role in GRID_STAFF and place_grid not in principal.grid_codes:
        raise PermissionDenied(f"网格 {place_grid} 不在 {principal.username} 的管辖范围内 · {what} lies in grid "
                               f"{place_grid}, not one of {principal.username}'s", details={"grid_code": place_grid})
    scope = officer_scope(session, principal)
    if scope is not None and not in_officer_scope(scope, (place_grid or "")[:12] or None):
        raise PermissionDenied(f"{what} 不在 {principal.username} 的辖区 · {what} lies outside {principal.username}'s "
                               f"{scope[0].split('_')[0]} {scope[1]}", details={"grid_code": place_grid})


# The rows a ledger entry may point at, each with its own literal query: no table name is spliced into SQL.
_ROW_EXISTS = {
    "org_unit": ("单位", "SELECT 1 FROM org_unit WHERE id = :i"),
    "facility": ("设施", "SELECT 1 FROM facility WHERE id = :i"),
    "resident": ("居民", "SELECT 1 FROM resident WHERE id = :i"),
    "volunteer": ("志愿者", "SELECT 1 FROM volunteer WHERE id = :i"),
}


def require_row(session: Session, table: str, row_id: int | None, field: str) -> None:
    """NotFound naming ``field`` unless ``row_id`` (when given) is a row of ``table``."""
    if row_id is None:
        return
    what_zh, query = _ROW_EXISTS[table]
    if session.execute(text(query), {"i": row_id}).first() is None:
        raise NotFound(f"{what_zh} {row_id} 不存在 · {field}: {table} {row_id} does not exist",
                       details={"field": field})


def require_community_writer(session: Session, principal: Principal, community_code: str, district_code: str,
                             what: str) -> None:
    """PermissionDenied unless ``principal`` may add ``what`` (need kinds, volunteers) to ``community_code``."""
    if principal.role not in WRITERS:
        raise PermissionDenied(f"{principal.role} may not add {what}")
    require_district(principal, district_code, what)
    if (principal.role in GRID_STAFF and community_code not in communities_of(session, principal.grid_codes)) or \
            not in_officer_scope(officer_scope(session, principal), community_code):
        raise PermissionDenied(f"社区 {community_code} 不在管辖范围内 · community {community_code} is not one of "
                               f"{principal.username}'s")
