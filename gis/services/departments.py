"""Departments (职能部门, 成员单位, 驻区单位): who they are, what they handle, who works for them.

A department belongs to a district, optionally to one street of it (``street_code``: a street's
own office or unit; None: it serves the whole district). It handles the case categories listed
for it (``department_category``); when none are given at creation, the categories the city's
table (``incident_categories.csv``, column ``department``) gives to a department of that name.
Its users have the role ``department_staff`` and ``app_user.department_id``; they see the cases
offered to or claimed by their department and those it is summoned to (gis.services.cases).

Community officers (``community_officer``) are scoped to one community by
``app_user.community_code``, set here too (:func:`set_community`). Both are read from the user row
on every case request, so a change takes effect at once without signing anyone out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases import DEPARTMENT_KINDS
from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services.users import Principal
from gis.settings import Settings

__all__ = ["CommunityScope", "DepartmentRecord", "create_department", "get_department", "list_departments",
           "routing_departments", "set_community", "set_staff"]

KIND_NAMES = {"functional": "职能部门", "member": "成员单位", "stationed": "驻区单位"}


@dataclass(frozen=True)
class DepartmentRecord:
    """A department as the API and CLI show it (``kind`` a code; pages word it)."""

    id: int
    district_code: str
    name: str
    kind: str
    street_code: str | None
    is_active: bool
    categories: list[str]
    staff: list[dict[str, Any]] | None  # admins and the department's own staff see who; others None
    staff_count: int

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return asdict(self)


def _district(principal: Principal, district_code: str | None) -> str:
    district = principal.district_code or district_code
    if district is None:
        raise InvalidInput("district_code is required (a user without a district creates departments for one "
                           "named district)", details={"field": "district_code"})
    if principal.district_code and district_code and district_code != principal.district_code:
        raise PermissionDenied(f"district_code: {principal.username} works in district {principal.district_code} "
                               f"and may not create departments in district {district_code}",
                               details={"field": "district_code", "district_code": district_code})
    return district


def _record(session: Session, row: Any, principal: Principal, own_department: int | None) -> DepartmentRecord:
    categories = list(session.execute(text(
        "SELECT category_code FROM department_category WHERE department_id = :d ORDER BY category_code"),
        {"d": row.id}).scalars())
    staff_rows = session.execute(text("""
        SELECT id, username, display_name, is_active FROM app_user WHERE department_id = :d ORDER BY username"""),
        {"d": row.id}).all()
    shown = principal.role == "admin" or own_department == row.id
    staff = [{"user_id": s.id, "username": s.username, "display_name": s.display_name, "is_active": s.is_active}
             for s in staff_rows] if shown else None
    return DepartmentRecord(id=row.id, district_code=row.district_code, name=row.name, kind=row.kind,
                            street_code=row.street_code, is_active=row.is_active, categories=categories,
                            staff=staff, staff_count=len(staff_rows))


def _own_department(session: Session, principal: Principal) -> int | None:
    if principal.role != "department_staff":
        return None
    return session.execute(text("SELECT department_id FROM app_user WHERE id = :u"),
                           {"u": principal.user_id}).scalar()


def list_departments(session: Session, principal: Principal, *, category_code: str | None = None,
                     include_inactive: bool = False) -> list[DepartmentRecord]:
    """The departments of the principal's district (every district without one), by name."""
    rows = session.execute(text("""
        SELECT d.* FROM department d
        WHERE (CAST(:district AS text) IS NULL OR d.district_code = :district)
          AND (CAST(:all AS boolean) OR d.is_active)
          AND (CAST(:code AS text) IS NULL OR EXISTS (SELECT 1 FROM department_category c
                                                      WHERE c.department_id = d.id AND c.category_code = :code))
        ORDER BY d.district_code, d.name"""),
        {"district": principal.district_code, "all": include_inactive, "code": category_code}).all()
    own = _own_department(session, principal)
    return [_record(session, r, principal, own) for r in rows]


def get_department(session: Session, principal: Principal, department_id: int) -> DepartmentRecord:
    """One department of the principal's district; NotFound otherwise."""
    row = session.execute(text("SELECT * FROM department WHERE id = :id"), {"id": department_id}).first()
    if row is None or not principal.sees_district(row.district_code):
        raise NotFound(f"department {department_id} does not exist"
                       + (f" in district {principal.district_code}" if principal.district_code else ""))
    return _record(session, row, principal, _own_department(session, principal))


def _check_codes(settings: Settings, codes: list[str]) -> list[str]:
    from gis.services.cases import incident_categories

    known = {c.code for c in incident_categories(settings)}
    cleaned = sorted({c.strip() for c in codes if c and c.strip()})
    unknown = [c for c in cleaned if c not in known]
    if unknown:
        raise InvalidInput(f"categories: {', '.join(unknown)} not in the category table; see GET "
                           "/open311/v2/services.json for the codes", details={"field": "categories",
                                                                               "unknown": unknown})
    return cleaned


def create_department(session: Session, principal: Principal, *, settings: Settings, name: str, kind: str,
                      district_code: str | None = None, street_code: str | None = None,
                      categories: list[str] | None = None, staff: list[int] | None = None) -> DepartmentRecord:
    """A new department; its categories default to those the city's table gives to its name."""
    from gis.services.cases import incident_categories

    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name: 1 to 100 characters", details={"field": "name"})
    if kind not in DEPARTMENT_KINDS:
        raise InvalidInput(f"kind {kind!r}: choose one of {', '.join(DEPARTMENT_KINDS)} "
                           "(职能部门, 成员单位, 驻区单位)", details={"field": "kind"})
    district = _district(principal, district_code)
    street = (street_code or "").strip() or None
    if street is not None and not (len(street) == 9 and street.isdigit() and street[:6] == district):
        raise InvalidInput(f"street_code {street_code!r}: a 9-digit street of district {district}",
                           details={"field": "street_code"})
    if session.execute(text("SELECT 1 FROM department WHERE district_code = :d AND name = :n"),
                       {"d": district, "n": name}).first():
        raise Conflict(f"district {district} already has a department named {name!r}",
                       details={"field": "name"})
    if categories is None:
        codes = [c.code for c in incident_categories(settings) if c.department == name]
    else:
        codes = _check_codes(settings, categories)
    department_id = session.execute(text("""
        INSERT INTO department (district_code, name, kind, street_code) VALUES (:d, :n, :k, :s) RETURNING id"""),
        {"d": district, "n": name, "k": kind, "s": street}).scalar_one()
    for code in codes:
        session.execute(text("INSERT INTO department_category (department_id, category_code, district_code) "
                             "VALUES (:id, :c, :d)"), {"id": department_id, "c": code, "d": district})
    if staff:
        set_staff(session, principal, department_id, staff)
    return get_department(session, principal, department_id)


def set_staff(session: Session, principal: Principal, department_id: int, user_ids: list[int]) -> DepartmentRecord:
    """Make ``user_ids`` (department_staff users of the district) this department's staff; others leave it."""
    department = get_department(session, principal, department_id)
    ids = sorted(set(user_ids))
    rows = session.execute(text("SELECT id, username, role_code, district_code FROM app_user WHERE id = ANY(:ids)"),
                           {"ids": ids}).all()
    missing = sorted(set(ids) - {r.id for r in rows})
    if missing:
        raise NotFound(f"staff: user {', '.join(map(str, missing))} does not exist",
                       details={"field": "staff", "user_ids": missing})
    for r in rows:
        if r.role_code != "department_staff":
            raise InvalidInput(f"staff: user {r.username} is a {r.role_code}; only department_staff users work for a "
                               "department", details={"field": "staff", "user_id": r.id})
        if r.district_code != department.district_code:
            raise InvalidInput(f"staff: user {r.username} works in district {r.district_code or '(none)'}, the "
                               f"department in {department.district_code}", details={"field": "staff", "user_id": r.id})
    session.execute(text("UPDATE app_user SET department_id = NULL "
                         "WHERE department_id = :d AND id <> ALL(:ids)"), {"d": department_id, "ids": ids})
    session.execute(text("UPDATE app_user SET department_id = :d "
                         "WHERE id = ANY(:ids) AND department_id IS DISTINCT FROM :d"),
                    {"d": department_id, "ids": ids})
    return get_department(session, principal, department_id)


class CommunityScope(TypedDict):
    """A community officer's community after :func:`set_community` (None: cleared)."""

    user_id: int
    username: str
    community_code: str | None


def set_community(session: Session, user_id: int, community_code: str | None) -> CommunityScope:
    """Scope a community officer to one community of their district (None clears it)."""
    user = session.execute(text("SELECT id, username, role_code, district_code FROM app_user WHERE id = :u"),
                           {"u": user_id}).first()
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    code = (community_code or "").strip() or None
    if code is not None:
        if user.role_code != "community_officer":
            raise InvalidInput(f"community_code: user {user.username} is a {user.role_code}; only community "
                               "officers have a community", details={"field": "community_code"})
        if not (len(code) == 12 and code.isdigit()) or user.district_code is None or code[:6] != user.district_code:
            raise InvalidInput(f"community_code {community_code!r}: a 12-digit community of the user's district "
                               f"({user.district_code or 'none'})", details={"field": "community_code"})
    session.execute(text("UPDATE app_user SET community_code = :c WHERE id = :u"),
                    {"c": code, "u": user_id})
    return {"user_id": user.id, "username": user.username, "community_code": code}


def routing_departments(session: Session, district_code: str) -> list[dict[str, Any]]:
    """The district's active departments with their category codes, as gis.cases.routing.pick_department takes them."""
    rows = session.execute(text("""
        SELECT d.id, d.name, d.kind, d.street_code,
               COALESCE(array_agg(c.category_code) FILTER (WHERE c.category_code IS NOT NULL), '{}') AS categories
        FROM department d LEFT JOIN department_category c ON c.department_id = d.id
        WHERE d.district_code = :d AND d.is_active GROUP BY d.id ORDER BY d.id"""), {"d": district_code}).mappings()
    return [dict(r) for r in rows]
