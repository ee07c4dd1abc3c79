"""Response models of user management and the audit log (admins only)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Public, Timestamp


class UserPublic(Public):
    """The public view of a user (never the password hash); ``version`` is what an edit sends back."""

    id: int
    username: str
    display_name: str | None = None
    role: str
    district_code: str | None = None
    street_code: str | None = None
    is_active: bool
    version: int
    grids: list[str] = Field(description="codes of the grids assigned to a grid leader or worker")
    created_at: Timestamp | None = None


class AuditEntryPublic(Public):
    """One audit log entry: who did what to which record, when, why, from where."""

    id: int
    at: Timestamp
    user_id: int | None = None
    username: str | None = None
    action: str
    entity: str | None = None
    entity_id: str | None = None
    district_code: str | None = None
    reason: str | None = None
    request_id: str | None = None
    client_request_id: str | None = None
    client_ip: str | None = None
    detail: dict[str, Any] | list[Any] | None = None


class AuditPagePublic(Public):
    """A page of the audit log, newest first."""

    items: list[AuditEntryPublic]
    limit: int
    offset: int
