"""Response model of the boundary edits: redraw, split, merge, move buildings (``gis.services.edits``).

Every edit answers with one shape: what it wrote, what it retired, the check's findings it
created or resolved, and the staff to reassign. Operation-specific members (``new_codes``,
``merged``, ``building_ids``…) are present only for their operation.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Public, Timestamp


class EditedUnitPublic(Public):
    """A unit of the edited parent after the edit, with its households before and after."""

    code: str
    name: str | None = None
    version: int
    changed: bool
    households: int
    households_before: int | None = Field(default=None, description="null for a new unit")
    estimated_households: int | None = None
    buildings: int | None = None
    in_range: bool | None = None


class WrittenVersionPublic(Public):
    """A boundary version the edit wrote."""

    code: str
    name: str | None = None
    version: int
    previous_version: int | None = Field(default=None, description="null for a new unit")
    households: int | None = None
    four_limits: str | None = None


class FindingPublic(Public):
    """A finding of the boundary check (gap, overlap, sliver…) in the edited parent."""

    kind: str
    message: str | None = None
    parent_code: str | None = None
    units: list[str] | None = None
    area_m2: float | None = None
    location: list[float] | None = Field(default=None, description="[lon, lat] to show it at")


class FindingsPublic(Public):
    """The check's findings the edit created and those it resolved."""

    created: list[FindingPublic]
    resolved: list[FindingPublic]


class StaffToReassignPublic(Public):
    """A staff member assigned to a grid the edit retired."""

    username: str | None = None
    grid_code: str
    duty: str | None = None


class EditResultPublic(Public):
    """What a boundary edit wrote, retired and found."""

    operation: str = Field(description="update, split, merge or move_buildings")
    level: str = Field(description="community or grid")
    code: str | None = Field(default=None, description="the unit edited (for a merge, the one that continues)")
    name: str | None = None
    version: int | None = Field(default=None, description="the edited unit's new version (its ETag)")
    parent_code: str | None = None
    plan_id: int | None = Field(default=None, description="the manual_edit plan that records the edit")
    reason: str
    approved_by: str | None = None
    valid_from: Timestamp | None = None
    units: list[EditedUnitPublic]
    written: list[WrittenVersionPublic]
    retired: list[str]
    retired_level_2_grids: list[str] = Field(default_factory=list)
    findings: FindingsPublic | None = None
    grid_findings: FindingsPublic | None = Field(default=None, description="a community redraw: its grids' "
                                                                           "findings")
    staff_to_reassign: list[StaffToReassignPublic] = Field(default_factory=list)
    clipped_to_parent_m2: float | None = None
    new_codes: list[str] | None = None
    merged: list[str] | None = None
    needs_grid_split: list[str] | None = None
    retired_grids: list[dict[str, Any]] | None = None
    code_status: dict[str, str] | None = None
    building_ids: list[int] | None = None
    from_grid: str | None = None
    to_grid: str | None = None
    moved_area_m2: float | None = None
