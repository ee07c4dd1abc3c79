"""Response models of the boundary routes: districts, streets, communities, grids, buildings, compounds, facilities.

Features are typed by their properties (``Feature[GridPropertiesPublic]``); the rows are those of
``gis.services.resources``. Dates and times arrive as ISO 8601 strings.
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Public, Timestamp


class DistrictPublic(Public):
    """A district with its extent and how many units, buildings, households and facilities it holds."""

    code: str
    name: str
    network_version: int | None = None
    source: str | None = None
    attribution: str | None = None
    streets: int
    communities: int
    grids: int
    buildings: int
    households: int
    facilities: int
    bbox: list[float] | None = Field(description="[minlon, minlat, maxlon, maxlat] of its buildings, or null")


class UnitPropertiesPublic(Public):
    """A boundary version (street, community or grid) with the households of the buildings inside it."""

    code: str
    name: str | None = None
    district_code: str
    version: int
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = Field(default=None, description="null for the current version")
    reason: str | None = None
    plan_id: int | None = None
    four_limits: str | None = Field(default=None, description="四至: the unit's neighbours on each side, as text")
    households: int
    households_estimated: int = Field(description="of households, how many are estimates")
    buildings: int


class StreetPropertiesPublic(UnitPropertiesPublic):
    """A street (街道)."""


class CommunityPropertiesPublic(UnitPropertiesPublic):
    """A community (社区) and the street it belongs to."""

    street_code: str | None = None


class GridPropertiesPublic(UnitPropertiesPublic):
    """A grid (网格): general or dedicated, level 1 or a level-2 grid inside ``parent_grid_code``."""

    community_code: str | None = None
    kind: str | None = None
    level: int | None = None
    parent_grid_code: str | None = None


class BoundaryVersionPublic(Public):
    """One version in a boundary's history, with why it changed and who approved it."""

    code: str
    level: str
    name: str | None = None
    version: int
    valid_from: Timestamp | None = None
    valid_to: Timestamp | None = None
    current: bool
    reason: str | None = None
    plan_id: int | None = None
    approved_by: str | None = None


class BoundaryHistoryPublic(Public):
    """Every version of a boundary, oldest first."""

    code: str
    level: str
    versions: list[BoundaryVersionPublic]


class BuildingPropertiesPublic(Public):
    """A building footprint with its households (recorded or estimated) and the current grid it lies in."""

    id: int
    name: str | None = None
    kind: str | None = None
    levels: int | None = None
    floors: int | None = None
    floors_estimated: bool | None = None
    area_m2: float | None = None
    households: int | None = None
    households_source: str | None = Field(default=None, description="recorded or estimated")
    compound_id: int | None = None
    address: str | None = None
    district_code: str | None = None
    synthetic: bool | None = None
    grid_code: str | None = Field(default=None, description="the current grid the building lies in, or null")


class CompoundPropertiesPublic(Public):
    """A residential compound (小区) with its buildings, households and gates."""

    id: int
    name: str | None = None
    district_code: str | None = None
    buildings: int
    households: int
    gates: int


class FacilityPropertiesPublic(Public):
    """A facility with its type's life circle and walking radius; ``version`` is what an edit sends back."""

    id: int
    type_code: str
    type_name: str | None = None
    life_circle: str | None = Field(default=None, description="5min, 10min, 15min or block")
    radius_m: float | None = None
    name: str | None = None
    capacity: int | None = None
    floor_area_m2: float | None = None
    address: str | None = None
    source: str | None = None
    classified_by: str | None = None
    district_code: str | None = None
    version: int
    created_at: Timestamp | None = None


class FacilityTypePublic(Public):
    """A facility type of the catalogue (GB 50180-2018), with how many facilities of it are loaded."""

    code: str
    name_zh: str | None = None
    name_en: str | None = None
    level: str | None = None
    radius_m: float | None = None
    target_group: str | None = None
    capacity_per_1000: float | None = None
    facilities: int | None = None


class FacilityTypeListPublic(Public):
    """The whole facility catalogue."""

    items: list[FacilityTypePublic]
    total: int
