"""Response models of map search and unit cards (no personal data: staff show their public phone only)."""

from __future__ import annotations

from pydantic import Field

from api.schemas.boundaries import BoundaryVersionPublic
from api.schemas.common import Public, Timestamp


class SearchHitPublic(Public):
    """A grid, community, building or standard address that matches, with where to show it."""

    kind: str = Field(description="grid, community, building or address")
    code: str | None = None
    name: str
    detail: str | None = Field(default=None, description="the parent's name, or the matched address")
    lon: float
    lat: float
    bbox: list[float] | None = None
    building_id: int | None = None
    match: str = Field(description="what matched: code, name or address")


class SearchResultsPublic(Public):
    """The hits of a search."""

    q: str
    items: list[SearchHitPublic]


class UnitStaffPublic(Public):
    """A leader or worker of a grid, with the grid's public phone."""

    grid_code: str
    grid_name: str | None = None
    name: str | None = None
    duty: str | None = None
    public_phone: str | None = None


class UnitCardPublic(Public):
    """A community's or grid's card: 四至, households, staff and boundary history (newest first)."""

    level: str = Field(description="community or grid")
    code: str
    name: str | None = None
    version: int
    valid_from: Timestamp | None = None
    four_limits: str | None = None
    parent_code: str | None = None
    parent_name: str | None = None
    bbox: list[float | None]
    households: int
    households_estimated: int
    buildings: int
    grids: int | None = Field(default=None, description="a community's current grids; null for a grid")
    staff: list[UnitStaffPublic]
    history: list[BoundaryVersionPublic]
