"""Coverage use cases: life-circle walking coverage, gaps, siting, what-if, isochrones and supply against demand.

Each loads a district from the database, analyses it with ``gis.coverage`` (pure) and, for a computation, stores
a coverage run (parameters, network version, roll-ups) with one row per building and facility type. The modules:

* ``cache``: the district's walk network prepared once per network version (a key bumped by triggers on every
  table it reads) and shared by every process, so the second question costs milliseconds;
* ``district``: what every use case reads (district, catalogue, facilities, people, units, reach);
* ``compute`` and ``runs``: computing and storing a run, and reading runs back;
* ``gaps``, ``siting``, ``whatif``, ``isochrones``, ``supply``: one use case each;
* ``catalogue``: the facility types as a deployment edits them; ``points``: candidate points read from a file.

Importers use this package's names (``from gis.services import coverage as coverage_service``).
"""

from __future__ import annotations

from gis.db.levels import PLURAL
from gis.services.coverage.cache import (
    PreparedDistrict,
    SharedNetwork,
    clear_cache,
    network_key,
    prepare_district,
    prepare_district_with_source,
    shared_networks,
)
from gis.services.coverage.catalogue import CatalogueEntry, list_facility_types, update_facility_type
from gis.services.coverage.compute import CoverageReport, compute_coverage
from gis.services.coverage.district import MODES, band_condition, facility_types, resolve_district
from gis.services.coverage.gaps import GapsResult, coverage_gaps
from gis.services.coverage.isochrones import IsochroneCollection, facility_isochrones
from gis.services.coverage.points import read_points
from gis.services.coverage.runs import (
    CoverageSummary,
    LatestRun,
    RunReport,
    RunRow,
    coverage_summary,
    latest_run,
    list_runs,
    mark_facilities_changed,
    run_report,
    set_run_owner,
    uncovered_buildings,
)
from gis.services.coverage.siting import (
    COVER_ALL_MAX_CANDIDATES,
    DEFAULT_MAX_CANDIDATES,
    MAX_PLACES,
    CoverAll,
    SiteSuggestion,
    SitingAnswer,
    cover_all_sites,
    suggest_sites,
)
from gis.services.coverage.supply import SUPPLY_BASES, SUPPLY_LEVELS, SupplyDemand, supply_demand
from gis.services.coverage.whatif import WhatIfResult, what_if

__all__ = [
    "COVER_ALL_MAX_CANDIDATES",
    "DEFAULT_MAX_CANDIDATES",
    "MAX_PLACES",
    "MODES",
    "PLURAL",
    "SUPPLY_BASES",
    "SUPPLY_LEVELS",
    "CatalogueEntry",
    "CoverAll",
    "CoverageReport",
    "CoverageSummary",
    "GapsResult",
    "IsochroneCollection",
    "LatestRun",
    "PreparedDistrict",
    "RunReport",
    "RunRow",
    "SharedNetwork",
    "SiteSuggestion",
    "SitingAnswer",
    "SupplyDemand",
    "WhatIfResult",
    "band_condition",
    "clear_cache",
    "compute_coverage",
    "cover_all_sites",
    "coverage_gaps",
    "coverage_summary",
    "facility_isochrones",
    "facility_types",
    "latest_run",
    "list_facility_types",
    "list_runs",
    "mark_facilities_changed",
    "network_key",
    "prepare_district",
    "prepare_district_with_source",
    "read_points",
    "resolve_district",
    "run_report",
    "set_run_owner",
    "shared_networks",
    "suggest_sites",
    "supply_demand",
    "uncovered_buildings",
    "update_facility_type",
    "what_if",
]
