"""Response models of the visit and staffing routes.

Household visits, the due list, cadences, the month's figures, unstaffed grids and the staff moves
after a plan's adoption.

The shapes are those of ``gis.services.visits`` and ``gis.services.staffing``. A share is null
when nothing was due (``gis.visits.coverage_share``).
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Day, Public, Timestamp


class VisitPublic(Public):
    """A household visit (入户走访); ``findings`` unsealed for those who may read them."""

    id: int
    household_id: int
    grid_code: str | None = None
    district_code: str | None = None
    worker_id: int | None = None
    worker: str | None = None
    visited_at: Timestamp
    purpose: str
    findings: str | None = None
    case_id: int | None = Field(default=None, description="the case opened from the visit")
    created_at: Timestamp | None = None


class VisitListPublic(Public):
    """A page of visits, newest first."""

    items: list[VisitPublic]
    total: int
    limit: int
    offset: int


class DueVisitPublic(Public):
    """A household's place in the visit round (gis.visits.DueVisit); ``overdue_days`` negative: not yet due."""

    household_id: int
    grid_code: str | None = None
    head_name: str | None = Field(default=None, description="masked")
    tag: str = Field(description="the resident group whose cadence applies")
    cadence_days: int
    last_visit: Timestamp | None = None
    due_date: Day
    overdue_days: int


class DueVisitsPublic(Public):
    """Households due a visit by ``until`` (today plus ``within_days``), most overdue first."""

    today: Day
    until: Day
    grid: str | None = None
    households: int = Field(description="households considered")
    total: int
    limit: int
    offset: int
    items: list[DueVisitPublic]


class CadenceRulePublic(Public):
    """Days allowed between visits for a resident group."""

    tag: str
    days: int


class CadencePublic(Public):
    """A district's cadence table (its own, or the default)."""

    district_code: str | None = None
    source: str = Field(description="district or default")
    rules: list[CadenceRulePublic]


class VisitPeriodPublic(Public):
    """The month counted, as local midnights."""

    start: Timestamp
    end: Timestamp
    timezone: str


class VisitFiguresPublic(Public):
    """One grid's month: households due a visit and visited, and households in buildings patrols walked past."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    households: int
    households_due: int
    visited: int
    coverage_share: float | None = None
    households_visited: int
    visited_not_due: int
    visits: int
    patrols: int
    households_walked_past: int
    households_of_record: int
    walked_past_share: float | None = None


class VisitSummaryPublic(Public):
    """The month over all grids."""

    grids: int
    households: int
    households_due: int
    visited: int
    households_visited: int
    visited_not_due: int
    coverage_share: float | None = None
    visits: int
    households_walked_past: int | None = None
    households_of_record: int | None = None


class VisitStatsPublic(Public):
    """Per grid, one month: visits against the cadence, beside what patrols walked past."""

    month: str
    district_code: str | None = None
    period: VisitPeriodPublic
    summary: VisitSummaryPublic
    items: list[VisitFiguresPublic]


class UnstaffedGridPublic(Public):
    """A current grid and its staff counts (一格一员)."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    district_code: str | None = None
    workers: int
    leaders: int


class UnstaffedPublic(Public):
    """Current grids without a worker."""

    district_code: str | None = None
    grids: int
    unstaffed: int
    items: list[UnstaffedGridPublic]


class GridSplitPublic(Public):
    """Households of a retired grid that now lie in a current grid (null: outside every grid)."""

    grid_code: str | None = None
    households: int


class RetiredGridPublic(Public):
    """A grid the plan retired and where its households went."""

    grid_code: str
    grid_name: str | None = None
    households: int
    to_grid: str | None = None
    households_following: int | None = None
    share: float | None = None
    by: str = Field(description="households, or area when the grid held none")
    split: list[GridSplitPublic]
    staff: int


class ReassignmentPublic(Public):
    """A staff member of a retired grid and the grid proposed for them."""

    assignment_id: int
    user_id: int
    username: str
    display_name: str | None = None
    duty: str
    from_grid: str
    to_grid: str | None = None
    households_following: int | None = None
    share: float | None = None
    already_assigned: bool


class ReassignmentProposalPublic(Public):
    """After adoption: the retired grids, the proposed moves, those without a target, grids left unstaffed."""

    plan_id: int
    adopted_at: Timestamp | None = None
    retired_grids: list[RetiredGridPublic]
    reassignments: list[ReassignmentPublic]
    without_target: list[str]
    unstaffed: UnstaffedPublic


class AppliedMovePublic(Public):
    """A staff member moved."""

    user_id: int
    username: str
    duty: str
    from_grid: str
    to_grid: str


class ReassignmentsAppliedPublic(Public):
    """The moves made, those left without a target, and the grids still unstaffed."""

    plan_id: int
    applied: list[AppliedMovePublic]
    without_target: list[str]
    unstaffed: UnstaffedPublic
