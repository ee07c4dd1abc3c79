"""Response models of background jobs: one job (status, progress, result or error) and the list."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Public, Timestamp


class JobErrorPublic(Public):
    """A failed job's error in the one error model, with the status the request would have had."""

    error: str = Field(description="a stable code: invalid_input, not_found, conflict, ...")
    message: str
    details: Any = None
    status: int


class JobPublic(Public):
    """A background job; ``result`` is what the route would have answered at once (absent in lists)."""

    id: str
    href: str
    kind: str
    status: str = Field(description="queued, running, done or failed")
    fraction: float = Field(description="progress, 0 to 1")
    stage: str | None = None
    owner: str | None = None
    parameters: dict[str, Any] | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    links: list[str] = Field(description="URLs of what the job created")
    error: JobErrorPublic | None = None
    result: Any = None


class JobListPublic(Public):
    """Your jobs (an admin: everyone's), newest first."""

    items: list[JobPublic]
    total: int
