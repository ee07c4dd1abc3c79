"""Response models of the people routes: residents and households (masked), the per-grid figures.

The shapes are those of ``gis.services.residents``: ID and phone numbers masked, no birth date
(an age and an age band instead), health notes only in one resident's detail view.
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import FeatureCollection, Public


class ResidentPropertiesPublic(Public):
    """A resident as lists and GeoJSON properties show them (masked)."""

    id: int
    name: str
    sex: str | None = None
    age: int | None = None
    age_band: str | None = None
    relation: str | None = Field(default=None, description="to the head of the household")
    residency: str | None = Field(default=None, description="permanent, floating or overseas")
    party_member: bool
    household_id: int | None = None
    building_id: int
    building_name: str | None = None
    address: str | None = None
    grid_code: str | None = None
    district_code: str
    id_number: str | None = Field(default=None, description="masked: the 8 birth-date digits hidden")
    phone: str | None = Field(default=None, description="masked")
    tags: list[str]
    synthetic: bool
    version: int


class ResidentPublic(ResidentPropertiesPublic):
    """One resident, with the health notes only the detail view shows."""

    health_notes: str | None = None


class ResidentListPublic(Public):
    """A page of residents, by id."""

    items: list[ResidentPropertiesPublic]
    total: int
    limit: int
    offset: int


class ResidentFeaturesPublic(FeatureCollection[ResidentPropertiesPublic]):
    """A page of residents as GeoJSON points at their building (``format=geojson``)."""

    total: int
    limit: int
    offset: int


class HouseholdPublic(Public):
    """A household: its building, dwelling and size."""

    id: int
    district_code: str
    building_id: int
    building_name: str | None = None
    grid_code: str | None = None
    dwelling_id: int | None = None
    address: str | None = None
    unit: str | None = None
    floor: int | None = None
    room: str | None = None
    size: int | None = None
    members: int
    synthetic: bool


class HouseholdListPublic(Public):
    """A page of households, by id."""

    items: list[HouseholdPublic]
    total: int
    limit: int
    offset: int


class HouseholdDetailPublic(HouseholdPublic):
    """One household with its members (masked)."""

    residents: list[ResidentPropertiesPublic]


class DataQualityPublic(Public):
    """Households recorded against estimated, residents per household, addresses not placed (registers)."""

    households_recorded: int
    households_estimated: int
    recorded_share: float | None = None
    residents_per_household: float | None = None
    unmatched_addresses: int


class GridFiguresPublic(Public):
    """One current grid's people and households, counted, never named."""

    grid_code: str
    name: str | None = None
    community_code: str | None = None
    district_code: str | None = None
    kind: str | None = None
    level: int
    parent_grid_code: str | None = None
    buildings: int
    building_households: int
    households: int
    residents: int
    elderly_60_plus: int
    children_0_14: int
    party_members: int
    floating: int
    party_orgs: int
    tags: dict[str, int] = Field(description="residents per tag (sensitive tags only in your own grids)")
    sensitive_tags_shown: bool
    data_quality: DataQualityPublic | None = None


class GridStatsPublic(Public):
    """Per grid figures, and data quality per community (keyed by community code)."""

    items: list[GridFiguresPublic]
    communities: dict[str, DataQualityPublic]
