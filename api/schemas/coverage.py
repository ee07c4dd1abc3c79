"""Response models of the coverage routes: runs, gaps, siting, what-if, supply against demand, isochrones.

The shapes are those of ``gis.services.coverage``. Figures per unit share one model whose
unit key (``street_code``, ``community_code`` or ``grid_code``) depends on the level.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import FeatureCollection, Public, Timestamp


class CoverageRunSummaryPublic(Public):
    """A stored run as lists show it; ``stale`` when the network changed since it was computed."""

    id: int
    href: str
    district_code: str
    mode: str
    status: str
    network_version: int
    type_codes: list[str]
    created_at: Timestamp
    created_by: str | None = None
    households: int | None = None
    population_source: str | None = None
    stale: bool


class CoverageFiguresPublic(Public):
    """Households and target population within the walking radius, for the district or one unit."""

    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None
    name: str | None = None
    buildings: int | None = None
    households: int | None = None
    households_covered: int | None = None
    households_not_covered: int | None = None
    households_covered_share: float | None = None
    target_population: int | None = None
    target_population_covered: int | None = None
    target_population_not_covered: int | None = None
    target_population_covered_share: float | None = None


class CoverageTypeReportPublic(Public):
    """A run's figures for one facility type: the district with a one-line headline, and every unit."""

    name_zh: str | None = None
    name_en: str | None = None
    level: str | None = None
    radius_m: float | None = None
    search_limit_m: float | None = None
    target_group: str | None = None
    facilities: int | None = None
    headline: str
    district: CoverageFiguresPublic | None = None
    streets: list[CoverageFiguresPublic] = Field(default_factory=list)
    communities: list[CoverageFiguresPublic] = Field(default_factory=list)
    grids: list[CoverageFiguresPublic] = Field(default_factory=list)


class CoverageRunPublic(Public):
    """A stored run in full, with links to the gaps of each type."""

    run_id: int
    district_code: str
    district_name: str | None = None
    mode: str
    status: str
    network_version: int
    stale: bool
    type_codes: list[str]
    parameters: dict[str, Any] | None = None
    created_at: Timestamp
    created_by: str | None = None
    distance: str | None = Field(default=None, description="how distances were measured")
    buildings: int | None = None
    households: int | None = None
    population: int | None = None
    population_source: str | None = None
    metrics: dict[str, Any] | None = None
    types: dict[str, CoverageTypeReportPublic] = Field(description="per facility type code")
    links: dict[str, str] = Field(description="gaps_<type>: the URL of the type's gaps")


class CoverageRunCreatedPublic(Public):
    """A run just computed and stored (``href`` is where it is), with how long each part took."""

    run_id: int
    href: str
    district_code: str | None = None
    mode: str | None = None
    network_version: int | None = None
    buildings: int | None = None
    households: int | None = None
    population: int | None = None
    population_source: str | None = None
    types: dict[str, Any] | None = None


class GapPropertiesPublic(Public):
    """A gap area (``feature: gap``, ranked largest first) or an uncovered building (``uncovered_building``)."""

    feature: str = Field(description="gap or uncovered_building")
    type_code: str
    rank: int | None = None
    buildings: int | None = None
    households: int | None = None
    target_population: int | None = None
    nearest_m: float | None = Field(default=None, description="walk to the nearest facility, or null if none "
                                                              "is reachable")
    area_m2: float | None = None
    street_code: str | None = None
    community_code: str | None = None
    community_name: str | None = None
    grid_code: str | None = None
    grid_name: str | None = None
    lon: float | None = None
    lat: float | None = None
    building_id: int | None = None
    distance_m: float | None = None
    nearest_facility_id: int | None = None


class GapsPublic(FeatureCollection[GapPropertiesPublic]):
    """A run's gap areas of one type as GeoJSON, with the run's figures as foreign members."""

    run_id: int | None = None
    district_code: str | None = None
    type_code: str | None = None
    name_zh: str | None = None
    radius_m: float | None = None
    target_group: str | None = None
    mode: str | None = None
    gaps_total: int | None = None
    uncovered_households: int | None = None
    uncovered_target_population: int | None = None
    max_span_m: float | None = None
    link_m: float | None = None


class SitePublic(Public):
    """A suggested site: the building it stands at and whom it newly covers."""

    building_id: int | None = None
    building_name: str | None = None
    address: str | None = None
    community_code: str | None = None
    community_name: str | None = None
    lon: float
    lat: float
    newly_covered_buildings: int | None = None
    newly_covered_households: int | None = None
    newly_covered_target_population: int | None = None


class SiteSolutionPublic(Public):
    """The sites one solver chose and the coverage before and after."""

    status: str | None = None
    gap: float | None = None
    solve_s: float | None = None
    sites: list[SitePublic] = Field(default_factory=list)
    households_covered_before: int | None = None
    households_covered_after: int | None = None


class SitesPublic(SiteSolutionPublic):
    """New sites that newly cover the most people (or, with cover_all, the fewest that cover everyone reachable).

    The best answer is at the top level; ``greedy`` (and ``exact`` when asked for) hold each solver's own.
    """

    district_code: str
    type_code: str
    name_zh: str | None = None
    radius_m: float | None = None
    target_group: str | None = None
    k: int | None = None
    existing_facilities: int | None = None
    target_population: int | None = None
    households: int | None = None
    population_source: str | None = None
    candidates: int | None = None
    candidate_source: str | None = None
    capacity: float | None = None
    existing_capacity_assumed: int | None = None
    distance: str | None = None
    sites_needed: int | None = None
    greedy: SiteSolutionPublic | None = None
    exact: SiteSolutionPublic | None = None
    unreachable: list[dict[str, Any]] | None = None


class CommunityChangePublic(Public):
    """A community whose coverage a what-if changes."""

    community_code: str | None = None
    name: str | None = None
    households_covered_before: int
    households_covered_after: int
    target_population_covered_before: int
    target_population_covered_after: int


class WhatIfPublic(Public):
    """Coverage of one type before and after adding, moving or removing one facility (nothing stored)."""

    district_code: str
    type_code: str
    radius_m: float | None = None
    action: dict[str, Any] = Field(description='{"add": {lon, lat}}, {"remove": id} or {"move": {facility_id, '
                                               'lon, lat}}')
    distance: str | None = None
    population_source: str | None = None
    households_covered_before: int
    households_covered_after: int
    target_population_covered_before: int
    target_population_covered_after: int
    buildings_gaining: int
    buildings_losing: int
    communities_changed: list[CommunityChangePublic]


class SupplyRowPublic(Public):
    """Places needed against places provided in the district or one unit."""

    community_code: str | None = None
    street_code: str | None = None
    name: str | None = None
    residents: int | None = None
    target_population: int | None = None
    facilities: int | None = None
    facilities_capacity_assumed: int | None = None
    places_needed: int | None = None
    places_provided: int | None = None
    provision_ratio: float | None = None
    shortfall: int | None = None
    surplus: int | None = None


class SupplyTypePublic(Public):
    """One type's supply against demand: the district and every unit, shortfall first."""

    name_zh: str | None = None
    target_group: str | None = None
    per: str | None = None
    capacity_per_1000: float | None = None
    places_per_1000: float | None = None
    default_capacity: int | None = None
    capacity_note: str | None = None
    district: SupplyRowPublic | None = None
    communities: list[SupplyRowPublic] | None = None
    streets: list[SupplyRowPublic] | None = None


class SupplyPublic(Public):
    """Places needed (千人指标 × residents) against places provided, per type."""

    district_code: str
    district_name: str | None = None
    level: str
    population_source: str | None = None
    basis: str
    types: dict[str, SupplyTypePublic]
    no_standard: list[Any] = Field(description="types without a capacity_per_1000")


class IsochronePropertiesPublic(Public):
    """A facility's walking isochrone (display only: the figures come from per-building distances)."""

    facility_id: int
    type_code: str
    name: str | None = None
    radius_m: float | None = None
    mode: str
    display_only: bool = True


class IsochronesPublic(FeatureCollection[IsochronePropertiesPublic]):
    """Isochrones of a type's facilities, with the district, mode and a note as ``properties``."""

    properties: dict[str, Any] | None = None
