"""Response models of the dashboard's case counts and the workbench's dispatch list."""

from __future__ import annotations

from pydantic import Field

from api.schemas.cases import StaffPublic
from api.schemas.common import Public


class GridCaseCountsPublic(Public):
    """A grid's cases by status code (counts only)."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    statuses: dict[str, int]
    open: int
    total: int


class CaseStatusCountsPublic(Public):
    """A district's cases by status code, in total and per current grid."""

    district_code: str
    statuses: dict[str, int] = Field(description="status code -> cases, in the workflow's order")
    open: int
    total: int
    outside_grids: int = Field(description="cases routed to no current grid")
    grids: list[GridCaseCountsPublic]


class GridStaffPublic(Public):
    """The staff a case of the grid may be dispatched to."""

    grid_code: str
    items: list[StaffPublic] = Field(description="the leaders and workers currently assigned to the grid")
