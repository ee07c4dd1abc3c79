"""Response model of ``GET /health``: the status for anyone, versions for admins."""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Public


class HealthPublic(Public):
    """``status`` (ok or schema_outdated); the other members only for an admin's token."""

    status: str = Field(description="ok, or schema_outdated when the database is behind the code's migrations")
    wangge: str | None = None
    database: str | None = Field(default=None, description="host:port/dbname")
    postgresql: str | None = None
    postgis: str | None = None
    pgrouting: str | None = None
    schema_revision: str | None = None
    schema_head: str | None = None
