"""Residents and households: grid-scoped reads (masked, audited), a grid worker's edits, aggregates per grid.

Scope is part of every query (:func:`gis.services.privacy.scope_filter`), so a grid worker's
query cannot return a resident of another grid whatever filter the caller sends. ID and phone
numbers leave this package masked only. Every read that returns personal records writes one
audit row naming them; a read that returns nothing writes nothing. Planners and viewers are
refused here too (not only by the API's access table), so the CLI is just as safe.

Modules by use case: :mod:`.records` (the reader, the scoped query, the masked record, the audit row),
:mod:`.people` (residents read, exported and edited), :mod:`.households` and :mod:`.stats` (counts per
grid and community). Routes, the CLI and the other services import from here.
"""

from gis.db.filters import Where, check_grid_code
from gis.services.residents.households import HouseholdPage, HouseholdRecord, get_household, list_households
from gis.services.residents.people import (
    EDITABLE,
    building_residents,
    defuse_formula,
    export_residents_csv,
    get_resident,
    list_residents,
    residents_geojson,
    update_resident,
)
from gis.services.residents.records import (
    MAX_PAGE,
    RESIDENCIES,
    WELFARE_TAGS,
    Reader,
    ResidentFeatures,
    ResidentPage,
    ResidentRecord,
    check_paging,
    check_tag,
)
from gis.services.residents.stats import GridStats, community_quality, grid_stats

# Where and check_grid_code live in gis.db.filters; visits, cases and patrols import them from here.
__all__ = [
    "EDITABLE",
    "MAX_PAGE",
    "RESIDENCIES",
    "WELFARE_TAGS",
    "GridStats",
    "HouseholdPage",
    "HouseholdRecord",
    "Reader",
    "ResidentFeatures",
    "ResidentPage",
    "ResidentRecord",
    "Where",
    "building_residents",
    "check_grid_code",
    "check_paging",
    "check_tag",
    "community_quality",
    "defuse_formula",
    "export_residents_csv",
    "get_household",
    "get_resident",
    "grid_stats",
    "list_households",
    "list_residents",
    "residents_geojson",
    "update_resident",
]
