"""Personal data under PIPL: grid scope in the query, masking, and an audit row for every read.

Every service that returns residents, households, incidents' reporters or patrol tracks
filters with :func:`scope_filter` (a SQL condition on a building id or a grid code), so a grid
worker's query cannot return a row of another grid whatever the client asks for. A building
belongs to the current grid that contains its point on surface, as household counts do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.models import AuditLog
from gis.errors import PermissionDenied
from gis.services.users import Principal

_DIGITS = re.compile(r"\D")


def mask_id_number(value: str | None) -> str | None:
    """ID-card number with only the first 6 and last 4 characters shown (GB 11643: 18 characters)."""
    if not value:
        return value
    value = value.strip()
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """Phone number with the first 3 and last 4 digits shown (138****5678)."""
    if not value:
        return value
    digits = _DIGITS.sub("", value)
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def require_personal_access(principal: Principal, what: str = "personal records") -> None:
    """Planners and viewers work with aggregates: refuse them any personal record."""
    if not principal.may_read_personal_data:
        raise PermissionDenied(f"{principal.role} may not read {what}; aggregates per grid are available instead")


# Buildings whose point on surface lies in one of the given current grids.
_SCOPED_BUILDINGS = """
    SELECT sb.id FROM building sb JOIN grid sg
      ON sg.valid_to IS NULL AND sg.code = ANY(CAST(:scope_grids AS text[]))
     AND ST_Intersects(sg.geom, sb.geom) AND ST_Contains(sg.geom, ST_PointOnSurface(sb.geom))
"""


def scope_filter(principal: Principal, *, building_column: str | None = None, grid_column: str | None = None,
                 district_column: str | None = None) -> tuple[str, dict[str, Any]]:
    """A SQL condition (and its parameters) that keeps only rows within ``principal``'s scope.

    Give the column holding a building id, or the one holding a grid code. Admins see all of
    their district (all districts when they have none); grid-scoped roles their grids; roles
    without personal access nothing at all.
    """
    if not principal.may_read_personal_data:
        return "FALSE", {}
    if not principal.is_grid_scoped:
        if principal.district_code and district_column:
            return f"{district_column} = :scope_district", {"scope_district": principal.district_code}
        return "TRUE", {}
    grids = sorted(principal.grid_codes)
    if not grids:
        return "FALSE", {}
    if grid_column is not None:
        return f"{grid_column} = ANY(CAST(:scope_grids AS text[]))", {"scope_grids": grids}
    if building_column is None:
        raise ValueError("scope_filter needs building_column or grid_column")
    return f"{building_column} IN ({_SCOPED_BUILDINGS})", {"scope_grids": grids}


def grid_of_buildings(session: Session, building_ids: Iterable[int]) -> dict[int, str]:
    """The current grid code of each building (buildings outside every grid are left out)."""
    ids = sorted({int(b) for b in building_ids})
    if not ids:
        return {}
    rows = session.execute(text("""
        SELECT b.id, g.code FROM building b JOIN grid g
          ON g.valid_to IS NULL AND ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE b.id = ANY(:ids)"""), {"ids": ids}).all()
    return {int(b): code for b, code in rows}


def record_read(session: Session, principal: Principal, *, entity: str, entity_ids: Iterable[Any],
                action: str = "read", reason: str | None = None, district_code: str | None = None,
                request_id: str | None = None, client_ip: str | None = None,
                detail: dict[str, Any] | None = None) -> AuditLog | None:
    """One audit row naming who read which personal records, when and why; none when nothing was read."""
    ids = [str(i) for i in entity_ids]
    if not ids:
        return None
    row = AuditLog(
        user_id=principal.user_id or None, username=principal.username, action=action, entity=entity,
        entity_id=ids[0] if len(ids) == 1 else None, district_code=district_code, reason=reason,
        request_id=request_id, client_ip=client_ip, detail={"ids": ids, **(detail or {})},
    )
    session.add(row)
    session.flush()
    return row


def record_change(session: Session, principal: Principal, *, entity: str, entity_id: Any, action: str,
                  reason: str | None = None, district_code: str | None = None, request_id: str | None = None,
                  detail: dict[str, Any] | None = None) -> AuditLog:
    """An audit row for a change (edits, adoptions, user management)."""
    row = AuditLog(user_id=principal.user_id or None, username=principal.username, action=action, entity=entity,
                   entity_id=str(entity_id), district_code=district_code, reason=reason, request_id=request_id,
                   detail=detail)
    session.add(row)
    session.flush()
    return row


def list_audit(session: Session, *, user_id: int | None = None, entity: str | None = None,
               entity_id: str | None = None, since: Any = None, limit: int = 100, offset: int = 0
               ) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered."""
    where, params = ["TRUE"], {"limit": limit, "offset": offset}
    for column, value in (("user_id", user_id), ("entity", entity), ("entity_id", entity_id)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    rows = session.execute(text(f"""
        SELECT id, at, user_id, username, action, entity, entity_id, district_code, reason, request_id,
               client_ip, detail FROM audit_log WHERE {' AND '.join(where)}
        ORDER BY id DESC LIMIT :limit OFFSET :offset"""), params).mappings().all()
    return [{**row, "at": row["at"].isoformat()} for row in rows]
