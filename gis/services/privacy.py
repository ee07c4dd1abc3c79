"""Personal data under PIPL: grid scope in the query, masking, and an audit row for every read.

Every service that returns residents, households, incidents' reporters or patrol tracks
filters with :func:`scope_filter` (a SQL condition on a building id or a grid code), so a grid
worker's query cannot return a row of another grid whatever the client asks for. A building
belongs to the current grid that contains its point on surface, as household counts do.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from gis import idnumbers
from gis.db.models import AuditLog, Base
from gis.errors import PermissionDenied, SetupError
from gis.idnumbers import IdKeys
from gis.services.users import Principal
from gis.settings import Settings

_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, as the HTTP edge knows it: the server's request id, the client's, the client address."""

    request_id: str | None = None
    client_request_id: str | None = None
    client_ip: str | None = None


# Set by the API for each request (api/app.py), read by every audit row written while it runs, so
# that no row (a read, a change, a refusal) lacks the address or the two request ids.
REQUEST_CONTEXT: ContextVar[RequestContext] = ContextVar("wangge_request_context", default=RequestContext())


def mask_id_number(value: str | None) -> str | None:
    """ID-card number with only the first 6 and last 4 characters shown (GB 11643: 18 characters)."""
    return idnumbers.mask(value)


# Half-open bands on completed years: the life-circle target groups (domain §4), then adults and elderly.
AGE_BANDS = ((0, 3, "0-2"), (3, 6, "3-5"), (6, 12, "6-11"), (12, 15, "12-14"), (15, 18, "15-17"),
             (18, 60, "18-59"), (60, 80, "60-79"), (80, None, "80+"))


def age_band(age: int | None) -> str | None:
    """The age band of a completed age in years (``None`` when the birth date is unknown)."""
    if age is None:
        return None
    for low, high, label in AGE_BANDS:
        if age >= low and (high is None or age < high):
            return label
    return None


# --- ID numbers at rest -----------------------------------------------------------------------
# resident_private.id_number holds ciphertext (gis.idnumbers), id_number_hash the keyed lookup hash
# and id_number_masked the masked form. Reads that show a resident use the masked form, so the web
# process never decrypts a number; the key is needed to write (import, generate), find a person by
# number (the lookup key) and rotate keys.


def id_keys(settings: Settings) -> IdKeys:
    """The ID keys of ``settings``; the public demo key only in demo mode (``wangge demo``), never in production.

    The demo key is in the source: a number sealed with it is as good as plain text, so a register
    must never be imported, looked up or rotated under it, whatever the environment is called.
    """
    if settings.uses_demo_id_key() and (not settings.demo_mode or settings.environment == "production"):
        where = "in production" if settings.demo_mode else "outside demo mode"
        raise SetupError(f"refusing to encrypt or read ID numbers with the public demo key {where}: set "
                         "WANGGE_ID_KEY (make one with `wangge keys new`) and keep it outside the database and its "
                         "backups; the demo (`wangge demo`, WANGGE_DEMO_MODE=true) alone uses the demo key")
    return IdKeys.from_text(settings.id_key, lookup=settings.id_lookup_key, previous=settings.id_keys_previous)


def seal_id_number(keys: IdKeys, id_number: str) -> tuple[str, str, str]:
    """What is stored for an ID number: (ciphertext, lookup hash, masked form)."""
    value = id_number.strip().upper()
    return keys.encrypt(value), keys.lookup_hash(value), idnumbers.mask(value) or ""


def reveal_id_numbers(session: Session, keys: IdKeys, resident_ids: Iterable[int]) -> dict[int, str]:
    """The decrypted ID numbers of some residents, for tools that must have them (never a route)."""
    ids = sorted({int(r) for r in resident_ids})
    rows = session.execute(text("SELECT resident_id, id_number FROM resident_private "
                                "WHERE resident_id = ANY(:ids) AND id_number IS NOT NULL"), {"ids": ids}).all()
    return {int(r): _plain_or_decrypted(keys, token) for r, token in rows}


def _plain_or_decrypted(keys: IdKeys, stored: str) -> str:
    # A number stored before migration 0007 is still plain text until `wangge keys rotate` runs.
    return keys.decrypt(stored) if stored.startswith(idnumbers.TOKEN_PREFIX + ".") else stored


_SEALED_TABLES = (("resident_private", "resident_id"), ("resident_away", "id"))


def rotate_id_keys(session: Session, keys: IdKeys) -> dict[str, int]:
    """Re-encrypt every ID number not under the current key (and plain ones), and recompute lookup hashes.

    Run with the new key in WANGGE_ID_KEY and the old ones in WANGGE_ID_KEYS_PREVIOUS; atomic. A
    number under a key held by neither refuses the whole rotation (SetupError names the key id).
    """
    counts = {"checked": 0, "reencrypted": 0, "rehashed": 0}
    for name, key in _SEALED_TABLES:
        table = Base.metadata.tables[name]
        rows = session.execute(select(table.c[key], table.c.id_number, table.c.id_number_hash)
                               .where(table.c.id_number.is_not(None)).order_by(table.c[key])).all()
        for row_id, stored, digest in rows:
            counts["checked"] += 1
            plain = _plain_or_decrypted(keys, stored)
            new_hash = keys.lookup_hash(plain)
            changes: dict[str, Any] = {}
            if not keys.is_current(stored):
                changes["id_number"] = keys.encrypt(plain)
                changes["id_number_masked"] = idnumbers.mask(plain.strip().upper())
                counts["reencrypted"] += 1
            if digest != new_hash:
                changes["id_number_hash"] = new_hash
                counts["rehashed"] += 1
                # The move history knows a person only by the hash: it follows the new one.
                session.execute(text("UPDATE resident_move SET id_number_hash = :new WHERE id_number_hash = :old"),
                                {"new": new_hash, "old": digest})
            if changes:
                session.execute(update(table).where(table.c[key] == row_id).values(**changes))
    return counts


def check_id_numbers(session: Session, keys: IdKeys) -> dict[str, Any]:
    """Decrypt every stored ID number and compare it with its hash and mask: proves the keys read the data."""
    report: dict[str, Any] = {"checked": 0, "plain": 0, "bad": 0, "keys": {}}
    for name, key in _SEALED_TABLES:
        table = Base.metadata.tables[name]
        rows = session.execute(select(table.c[key], table.c.id_number, table.c.id_number_hash,
                                      table.c.id_number_masked).where(table.c.id_number.is_not(None))).all()
        for _row_id, stored, digest, masked in rows:
            report["checked"] += 1
            if not stored.startswith(idnumbers.TOKEN_PREFIX + "."):
                report["plain"] += 1
                continue
            kid = stored.split(".")[1]
            report["keys"][kid] = report["keys"].get(kid, 0) + 1
            plain = keys.decrypt(stored)
            if keys.lookup_hash(plain) != digest or idnumbers.mask(plain) != masked:
                report["bad"] += 1
    report["current_key"] = keys.current_id
    return report


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
    """The current level-1 grid code of each building (buildings outside every grid are left out)."""
    ids = sorted({int(b) for b in building_ids})
    if not ids:
        return {}
    rows = session.execute(text("""
        SELECT b.id, g.code FROM building b JOIN grid g
          ON g.valid_to IS NULL AND g.level = 1 AND ST_Intersects(g.geom, b.geom)
             AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE b.id = ANY(:ids)"""), {"ids": ids}).all()
    return {int(b): code for b, code in rows}


def record_read(session: Session, principal: Principal, *, entity: str, entity_ids: Iterable[Any],
                action: str = "read", reason: str | None = None, district_code: str | None = None,
                request_id: str | None = None, client_ip: str | None = None,
                detail: dict[str, Any] | None = None, total: int | None = None) -> AuditLog | None:
    """One audit row naming who read which personal records, when and why; none when nothing was read.

    ``total`` is how many records matched: a page with no rows still tells how many people match
    a filter (a count-only query), so it is kept too when it is above 0.
    """
    ids = [str(i) for i in entity_ids]
    if not ids and not total:
        return None
    if total is not None:
        detail = {**(detail or {}), "total": total}
    context = REQUEST_CONTEXT.get()
    row = AuditLog(
        user_id=principal.user_id or None, username=principal.username, action=action, entity=entity,
        entity_id=ids[0] if len(ids) == 1 else None, district_code=district_code, reason=reason,
        request_id=context.request_id or request_id, client_ip=client_ip or context.client_ip,
        client_request_id=context.client_request_id, detail={"ids": ids, **(detail or {})},
    )
    session.add(row)
    session.flush()
    return row


def record_refusal(engine: Any, principal: Principal, *, route: str, status: int, message: str) -> None:
    """A row for a refused request (403/404) of a signed-in user, in its own transaction.

    The request's own transaction is rolled back with the error, and a probe for records outside
    one's scope is exactly what the log must keep.
    """
    context = REQUEST_CONTEXT.get()
    with Session(engine) as session, session.begin():
        session.add(AuditLog(user_id=principal.user_id or None, username=principal.username, action="refused",
                             entity=route[:50], district_code=principal.district_code,
                             request_id=context.request_id, client_request_id=context.client_request_id,
                             client_ip=context.client_ip, detail={"status": status, "message": message[:300]}))


def record_change(session: Session, principal: Principal, *, entity: str, entity_id: Any, action: str,
                  reason: str | None = None, district_code: str | None = None, request_id: str | None = None,
                  detail: dict[str, Any] | None = None) -> AuditLog:
    """An audit row for a change (edits, adoptions, user management), with the client's address."""
    context = REQUEST_CONTEXT.get()
    row = AuditLog(user_id=principal.user_id or None, username=principal.username, action=action, entity=entity,
                   entity_id=str(entity_id), district_code=district_code, reason=reason,
                   request_id=context.request_id or request_id, client_request_id=context.client_request_id,
                   client_ip=context.client_ip, detail=detail)
    session.add(row)
    session.flush()
    return row


def list_audit(session: Session, *, user_id: int | None = None, entity: str | None = None,
               entity_id: str | None = None, since: Any = None, limit: int = 100, offset: int = 0,
               district_code: str | None = None) -> list[dict[str, Any]]:
    """Audit rows, newest first, filtered; with ``district_code``, only that district's.

    A district's rows are those naming it and those written by its users (sign-ins and other
    rows that name no district).
    """
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if district_code is not None:
        where.append("(district_code = :district OR (district_code IS NULL AND user_id IN "
                     "(SELECT id FROM app_user WHERE district_code = :district)))")
        params["district"] = district_code
    for column, value in (("user_id", user_id), ("entity", entity), ("entity_id", entity_id)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    rows = session.execute(text(f"""
        SELECT id, at, user_id, username, action, entity, entity_id, district_code, reason, request_id,
               client_request_id, client_ip, detail FROM audit_log WHERE {' AND '.join(where)}
        ORDER BY id DESC LIMIT :limit OFFSET :offset"""), params).mappings().all()
    return [{**row, "at": row["at"].isoformat()} for row in rows]
