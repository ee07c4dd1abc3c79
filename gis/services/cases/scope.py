"""Who sees which incidents: the case scope of each role, the incident filter and record, and the read audit.

Grid staff see their grids' incidents, admins all of their district, planners and viewers the
incidents of their district without the reporter's contact. A contact leaves masked, and a read
that shows one is audited.

Beyond the grid (issue 18): a community officer sees the cases of their community, a street
officer those of their street, a supervisor those of the district, a department's staff the
cases offered to or claimed by their department and those it is summoned to (吹哨); all of them
see the description and the masked contact (audited) of what is in their scope, like grid staff.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.routing import (
    CASE_LEVELS,
    Actor,
)
from gis.cases.workflow import CLOSED_STATUSES
from gis.errors import InvalidInput, NotFound, PermissionDenied
from gis.services import privacy
from gis.services.residents import Reader, Where, check_grid_code
from gis.services.users import Principal

_INCIDENT_COLUMNS = """
    i.id, i.district_code, i.street_code, i.community_code, i.grid_code, i.category_class, i.category,
    i.subcategory, i.description, i.source, i.urgency, i.status, i.address, i.building_id, i.reported_by,
    i.reporter_contact, i.reported_at, i.due_at, i.closed_at, i.satisfaction, i.duplicate_of, i.version,
    i.category_code, i.area, i.handler_id, i.level, i.department_id, i.quick_fix, ST_AsGeoJSON(i.geom, 7) AS point
"""


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _now(at: dt.datetime | None) -> dt.datetime:
    if at is None:
        return dt.datetime.now(dt.UTC)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInput(f"at: a timezone-aware time is required; got {at!r}", details={"field": "at"})
    return at


# Roles of the case loop beyond the grid: they see the personal fields of the cases in their scope.
CASE_ROLES = frozenset({"supervisor", "department_staff", "street_officer", "community_officer"})


@dataclass(frozen=True)
class CaseScope:
    """The principal with the case scope of their user row (street, community, department)."""

    principal: Principal
    street_code: str | None = None
    community_code: str | None = None
    department_id: int | None = None

    @property
    def personal(self) -> bool:
        """Whether they see descriptions, notes and masked contacts of the cases in scope."""
        return self.principal.may_read_personal_data or self.principal.role in CASE_ROLES

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.principal.user_id, role=self.principal.role, department_id=self.department_id)


def case_scope(session: Session, principal: Principal | CaseScope) -> CaseScope:
    """The principal's case scope; roles beyond the grid have it on their user row."""
    if isinstance(principal, CaseScope):
        return principal
    if principal.role not in CASE_ROLES or not principal.user_id:
        return CaseScope(principal)
    row = session.execute(text("SELECT street_code, community_code, department_id FROM app_user WHERE id = :u"),
                          {"u": principal.user_id}).first()
    if row is None:
        return CaseScope(principal)
    return CaseScope(principal, street_code=row.street_code, community_code=row.community_code,
                     department_id=row.department_id)


def _incident_scope(scope: CaseScope) -> tuple[str, dict[str, Any]]:
    """The SQL filter (and its parameters) of the incidents a role sees.

    Grid staff: their grids; admins and supervisors: their district; a street or community officer:
    theirs; department staff: what is offered to, claimed by or summoned to their department;
    planners and viewers: their district (no contacts).
    """
    principal = scope.principal
    district, params = ("i.district_code = :scope_district", {"scope_district": principal.district_code}) \
        if principal.district_code else ("TRUE", {})
    role = principal.role
    if role == "supervisor":
        return district, params
    if role == "street_officer":
        if scope.street_code is None:
            return district, params
        return f"{district} AND i.street_code = :scope_street", {**params, "scope_street": scope.street_code}
    if role == "community_officer":
        if scope.community_code is None:
            return "FALSE", {}
        return f"{district} AND i.community_code = :scope_community", {**params,
                                                                        "scope_community": scope.community_code}
    if role == "department_staff":
        if scope.department_id is None:
            return "FALSE", {}
        return (f"{district} AND (i.department_id = :scope_department OR EXISTS (SELECT 1 FROM case_summons cs "
                "WHERE cs.incident_id = i.id AND cs.department_id = :scope_department))",
                {**params, "scope_department": scope.department_id})
    if principal.may_read_personal_data:
        return privacy.scope_filter(principal, grid_column="i.grid_code", district_column="i.district_code")
    return district, params


def _incident_where(scope: CaseScope, *, incident_id: int | None = None, grid_code: str | None = None,
                    status: str | None = None, category: str | None = None, source: str | None = None,
                    since: dt.datetime | None = None, until: dt.datetime | None = None, level: str | None = None,
                    department_id: int | None = None) -> Where:
    if level is not None and level not in CASE_LEVELS:
        raise InvalidInput(f"level {level!r}: choose one of {', '.join(CASE_LEVELS)}", details={"field": "level"})
    where = Where.scoped(_incident_scope(scope))
    where.equal("i.id", "incident_id", incident_id, audit=False)
    where.equal("i.grid_code", "grid_code", None if grid_code is None else check_grid_code(grid_code))
    for column, value in (("status", status), ("category", category), ("source", source), ("level", level),
                          ("department_id", department_id)):
        where.equal(f"i.{column}", column, value)
    where.period("i.reported_at", since, until)
    return where


class IncidentRecord(TypedDict):
    """An incident as its readers see it.

    ``reporter_contact`` (masked) is there only for those who see personal fields; for the others
    ``description`` is None.
    """

    id: int
    district_code: str
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    category_class: str
    category: str
    subcategory: str | None
    description: str | None
    source: str
    urgency: str
    status: str
    address: str | None
    building_id: int | None
    reported_by: int | None
    reported_at: str | None
    due_at: str | None
    closed_at: str | None
    satisfaction: int | None
    duplicate_of: int | None
    version: int
    category_code: str | None
    area: str
    handler_id: int | None
    level: str
    department_id: int | None
    quick_fix: bool
    overdue: bool
    geometry: dict[str, Any]
    reporter_contact: NotRequired[str | None]


def _incident_record(row: Any, scope: CaseScope | Principal, now: dt.datetime | None = None) -> IncidentRecord:
    personal = scope.personal if isinstance(scope, CaseScope) else scope.may_read_personal_data
    now = now or dt.datetime.now(dt.UTC)
    record: IncidentRecord = {
        "id": row.id, "district_code": row.district_code, "street_code": row.street_code,
        "community_code": row.community_code, "grid_code": row.grid_code, "category_class": row.category_class,
        "category": row.category, "subcategory": row.subcategory, "description": row.description,
        "source": row.source, "urgency": row.urgency, "status": row.status, "address": row.address,
        "building_id": row.building_id, "reported_by": row.reported_by, "reported_at": _iso(row.reported_at),
        "due_at": _iso(row.due_at), "closed_at": _iso(row.closed_at), "satisfaction": row.satisfaction,
        "duplicate_of": row.duplicate_of, "version": row.version, "category_code": row.category_code,
        "area": row.area, "handler_id": row.handler_id, "level": row.level, "department_id": row.department_id,
        "quick_fix": row.quick_fix,
        # Late now: the stored due time of the running stage has passed (paused and finished cases have none).
        "overdue": row.due_at is not None and row.status not in CLOSED_STATUSES and row.due_at < now,
        "geometry": json.loads(row.point),
    }
    # Planners and viewers never get the key at all; within scope the contact is masked. A
    # description (and an event's note) may name residents: theirs to read who may read personal
    # data (and audited), never a planner's or viewer's, who work with counts.
    if personal:
        record["reporter_contact"] = privacy.mask_phone(row.reporter_contact)
    else:
        record["description"] = None
    return record


def _audit_contacts(session: Session, reader: Reader, records: Sequence[Mapping[str, Any]], *, action: str,
                    detail: dict[str, Any] | None = None) -> None:
    """One audit row naming the incidents whose contact, description or notes were shown (none: no row)."""
    shown = [r for r in records if r.get("reporter_contact") or r.get("description")
             or any(e.get("note") for e in r.get("events", []))]
    fields = sorted({f for r in shown for f in ("reporter_contact", "description") if r.get(f)}
                    | ({"notes"} if any(e.get("note") for r in shown for e in r.get("events", [])) else set()))
    main = "reporter_contact" if "reporter_contact" in fields else (fields[0] if fields else None)
    privacy.record_read(session, reader.principal, entity="incident", entity_ids=[r["id"] for r in shown],
                        action=action, reason=reader.reason, district_code=reader.principal.district_code,
                        request_id=reader.request_id, client_ip=reader.client_ip,
                        detail={"field": main, "fields": fields, **(detail or {})})


def _not_found(principal: Principal, what: str, ident: Any, extra: str = "") -> NotFound:
    # One answer for missing and out of scope alike, so existence is not confirmed.
    if principal.is_grid_scoped or principal.role in CASE_ROLES:
        return NotFound(f"no {what} {ident} within your {'grids' if principal.is_grid_scoped else 'scope'}{extra}")
    return NotFound(f"{what} {ident} does not exist{extra}")


def _acting_scope(scope: CaseScope, incident_id: int) -> tuple[str, dict[str, Any]]:
    if not scope.personal:
        raise PermissionDenied(f"{scope.principal.role} may not act on cases; grid staff, community, street, "
                               "department staff, supervisors and admins do")
    sql, params = _incident_scope(scope)
    return sql, {**params, "id": incident_id}


def _case_in_scope(session: Session, principal: Principal | CaseScope, incident_id: int, *, lock: bool) -> Any:
    scope = case_scope(session, principal)
    sql, params = _acting_scope(scope, incident_id)
    row = session.execute(text(f"SELECT {_INCIDENT_COLUMNS}, ST_X(i.geom) AS lon, ST_Y(i.geom) AS lat "
                               f"FROM incident i WHERE i.id = :id AND {sql}{' FOR UPDATE OF i' if lock else ''}"),
                          params).first()
    if row is None:
        raise _not_found(scope.principal, "incident", incident_id)
    return row
