"""Response models of the plan routes: lists, one plan, diffs, suggestions, adoption and the approval chain.

The shapes are those of ``gis.services.plans``, ``gis.services.partition``, ``gis.services.levels``
and ``gis.services.approvals``. ``metrics`` and ``parameters`` are the plan's stored JSON, whose
keys depend on the kind of plan: they stay open objects. Times are ISO 8601 strings.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import FeatureCollection, Public, Timestamp


class PlanFieldsPublic(Public):
    """What every view of a plan shows: kind, status, scope, version, who made and adopted it."""

    id: int
    kind: str
    status: str
    scope_code: str
    district_code: str | None = None
    version: int
    created_at: Timestamp | None = None
    created_by: str | None = None
    adopted_at: Timestamp | None = None
    adopted_by: str | None = None
    base_plan_id: int | None = None
    reason: str | None = None
    document_no: str | None = None
    metrics: dict[str, Any] | None = None


class PlanSummaryPublic(PlanFieldsPublic):
    """A plan as lists show it; ``href`` is where the whole plan is."""

    href: str
    units: int | None = None
    households: int | None = None


class ApprovalStepPublic(Public):
    """One step of a plan's approval chain: who, when (UTC and Asia/Shanghai), note, document number."""

    step: str
    step_zh: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    by: str | None = None
    at: Timestamp | None = None
    at_local: str | None = Field(default=None, description="the time in Asia/Shanghai, YYYY-MM-DD HH:MM:SS")
    note: str | None = None
    document_no: str | None = None


class PlanUnitPropertiesPublic(Public):
    """A unit of a plan: its label, the code it has or will have (null when new), its households."""

    label: str
    code: str | None = None
    parent_code: str | None = None
    kind: str | None = None
    locked: bool | None = None
    households: int


class PlanUnitPublic(PlanUnitPropertiesPublic):
    """A unit of a plan with whether it keeps to the plan's bounds."""

    in_range: bool | None = Field(default=None, description="whether households are within the plan's bounds")
    code_status: str | None = Field(default=None, description="community plans: provisional or confirmed")


class PlanRefPublic(Public):
    """The plan a map of units belongs to."""

    id: int
    kind: str
    status: str
    scope_code: str


class PlanGeoJSONPublic(FeatureCollection[PlanUnitPropertiesPublic]):
    """The plan's units as GeoJSON, with the plan as a foreign member."""

    plan: PlanRefPublic | None = None


class PlanBoundsPublic(Public):
    """The household bounds a plan's general units are checked against."""

    min: int | None = None
    max: int | None = None


class PlanFiguresPublic(Public):
    """Counts over a plan's units."""

    units: int
    households: int
    buildings: int | None = None
    in_range: int | None = None
    out_of_range: int | None = None
    dedicated: int | None = None


class PlanPublic(PlanFieldsPublic):
    """One plan: its metrics, units, approval history and their GeoJSON."""

    level: str | None = None
    parameters: dict[str, Any] | None = None
    approvals: list[ApprovalStepPublic] = Field(default_factory=list)
    bounds: PlanBoundsPublic | None = None
    summary: PlanFiguresPublic | None = None
    units: list[PlanUnitPublic]
    geojson: PlanGeoJSONPublic


class UnitRefPublic(Public):
    """A unit of one side of a diff: its label and code (null for a unit not adopted yet)."""

    label: str
    code: str | None = None


class DiffSidePublic(Public):
    """One side of a diff: a plan, or the current units (``plan_id`` null)."""

    name: str | None = None
    plan_id: int | None = None
    units: int
    households: int
    buildings: int


class UnitMatchPublic(Public):
    """A unit of side a matched to one of side b by the households they share."""

    a: UnitRefPublic
    b: UnitRefPublic
    shared_households: int


class BuildingMovePublic(Public):
    """A building whose unit differs between the sides."""

    model_config = {"populate_by_name": True}

    building_id: int
    name: str | None = None
    address: str | None = None
    households: int
    from_: UnitRefPublic = Field(alias="from")
    to: UnitRefPublic


class BuildingOnlyPublic(Public):
    """A building in a unit of one side only."""

    building_id: int
    households: int
    unit: UnitRefPublic


class PlanDiffPublic(Public):
    """Buildings and households that change unit between two plans (or a plan and the current units)."""

    scope_code: str
    level: str
    a: DiffSidePublic
    b: DiffSidePublic
    matches: list[UnitMatchPublic]
    unmatched_a: list[UnitRefPublic]
    unmatched_b: list[UnitRefPublic]
    buildings_compared: int
    buildings_moved: int
    households_moved: int
    moves: list[BuildingMovePublic]
    only_in_a: list[BuildingOnlyPublic]
    only_in_b: list[BuildingOnlyPublic]


class InfeasibleAreaPublic(Public):
    """An area no plan can split within the bounds, and why (``plan_id`` in the top-level list)."""

    plan_id: int | None = None
    unit: str | None = None
    households: int | None = None
    reason: str | None = None
    message: str | None = None
    proven: bool | None = None
    point: list[float] | None = None
    units: list[str] | None = None
    bounded_by: list[Any] | None = None
    options: list[str] | None = None


class SuggestedUnitPublic(Public):
    """A unit of a suggested plan."""

    label: str
    code: str | None = None
    households: int
    buildings: int | None = None
    kind: str | None = None
    status: str | None = None
    flagged: bool | None = None


class MicroSuggestionPublic(Public):
    """A suggestion stored as a draft plan (level-2 grids answer just this)."""

    plan_id: int
    kind: str
    scope_code: str
    scope_name: str | None = None
    metrics: dict[str, Any] | None = None
    units: list[SuggestedUnitPublic]


class SuggestedPlanPublic(MicroSuggestionPublic):
    """A grid or community suggestion; ``href`` is where it is."""

    href: str
    infeasible: list[InfeasibleAreaPublic] = Field(default_factory=list)


class SuggestionsPublic(Public):
    """The draft plans a suggestion made, and every area that could not be split within the bounds."""

    plans: list[SuggestedPlanPublic]
    infeasible: list[InfeasibleAreaPublic]


class AdoptedUnitPublic(Public):
    """A unit an adoption wrote: its new code and version."""

    label: str | None = None
    code: str | None = None
    origin: str | None = Field(default=None, description="kept, changed or new")
    version: int
    kind: str | None = None
    households: int | None = None


class AdoptionPublic(Public):
    """What adopting a plan changed: the units written, the ones retired, and what the staff should do."""

    plan_id: int
    status: str
    kind: str | None = None
    level: str | None = None
    scope_code: str
    version: int
    adopted_at: Timestamp | None = None
    reason: str | None = None
    units: list[AdoptedUnitPublic]
    retired: list[str]
    four_limits: dict[str, str | None] | None = None
    out_of_range: list[dict[str, Any]] | None = None
    archived_plans: list[int] | None = None
    retired_grids: list[Any] | None = None
    needs_grid_split: list[Any] | None = None
    retired_level_2_grids: list[Any] | None = None
    provisional_street: str | None = None
    staffing: dict[str, Any] | None = Field(default=None, description="the staff of retired grids and where "
                                                                      "their households went")


class PlanApprovalsPublic(Public):
    """A plan's approval history."""

    plan_id: int
    status: str
    document_no: str | None = None
    approvals: list[ApprovalStepPublic]


class PlanStepPublic(PlanApprovalsPublic):
    """A plan after one step of the approval chain (its new version), with its whole history."""

    version: int
    step: ApprovalStepPublic


class CommunityCodePublic(Public):
    """A community code: provisional (given out by a plan) or confirmed by the statistics bureau."""

    code: str
    status: str
    committee: str | None = None
    plan_id: int | None = None
    confirmed_by: str | None = None
    confirmed_at_local: str | None = None
    note: str | None = None

