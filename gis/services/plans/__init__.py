"""Plans: suggested boundaries stored as drafts that can be listed, compared, adopted and reverted.

A plan holds proposed units (``plan_unit``: grids of one community, or communities of one
street or district) and the unit each building falls in (``plan_assignment``). The
suggestion engine stores its runs with ``store_plan``; a planner compares them with
``diff_plans`` and adopts one with ``adopt_plan``, which writes new boundary versions.

The package is cut by use case:

- ``scope``: plan kinds and scopes, the plan and scope rows, buildings and household bounds;
- ``storage``: storing a draft and reading plans back (``store_plan``, ``list_plans``, ``show_plan``);
- ``diff``: plan against plan or against the current boundaries (the pure part is ``gis.partition.diff``);
- ``codes``: which unit keeps which code at adoption, fresh codes, the provisional street;
- ``adoption``: ``adopt_plan``;
- ``history``: ``boundary_history`` and ``revert_plan``.
"""

from gis.db.models import Plan
from gis.partition.diff import count_moves, match_units
from gis.services.plans.adoption import AdoptionResult, adopt_plan
from gis.services.plans.diff import MovesAgainstCurrent, PlanDiff, diff_plans, moves_against_current
from gis.services.plans.history import BoundaryHistory, RevertResult, boundary_history, revert_plan
from gis.services.plans.scope import CURRENT, PLAN_KINDS, PLAN_STATUSES, UNIT_KINDS, find_user_id, plan_level
from gis.services.plans.storage import (
    PlanDetail,
    PlanGeoJSON,
    PlanSummary,
    check_plan_version,
    list_plans,
    plan_geojson,
    show_plan,
    store_plan,
)

__all__ = [
    "CURRENT", "PLAN_KINDS", "PLAN_STATUSES", "UNIT_KINDS", "AdoptionResult", "BoundaryHistory", "MovesAgainstCurrent",
    "Plan", "PlanDetail", "PlanDiff", "PlanGeoJSON", "PlanSummary", "RevertResult", "adopt_plan", "boundary_history",
    "check_plan_version", "count_moves", "diff_plans", "find_user_id", "list_plans", "match_units",
    "moves_against_current", "plan_geojson", "plan_level", "revert_plan", "show_plan", "store_plan",
]
