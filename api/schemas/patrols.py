"""Response models of the patrol routes: an upload's cleaning report, stored patrols, coverage of a grid and a week.

The shapes are those of ``gis.services.patrols`` (uploads, coverage) and ``gis.services.cases``
(the stored patrols list and one track). A share is null when there is nothing to divide by.
The household keys ``households_covered`` and ``household_share`` are deprecated aliases of
``households_walked_past`` and ``household_walked_past_share`` (see ``DEPRECATED_KEYS``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Public, Timestamp


class PatrolPublic(Public):
    """A stored patrol: who walked, in which grid, when, how far."""

    id: int
    district_code: str
    worker_id: int
    worker: str | None = None
    grid_code: str | None = None
    started_at: Timestamp
    ended_at: Timestamp
    length_m: float
    point_count: int
    source_name: str | None = None


class PatrolListPublic(Public):
    """A page of patrols within the retention period, newest first."""

    items: list[PatrolPublic]
    total: int
    limit: int
    offset: int
    retention_days: int | None = None


class PatrolTrackPropertiesPublic(PatrolPublic):
    """A patrol as a Feature's properties, with the time of every point of its line."""

    coord_times: list[Timestamp | None] | None = Field(
        default=None, description="the time of each point of the line; absent when fewer than two points are kept")


class PatrolTrackGeometry(BaseModel):
    """The track as a GeoJSON LineString (EPSG:4490 lon/lat)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["LineString"]
    coordinates: list[list[float]]


class PatrolTrackPublic(Public):
    """One patrol's track as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: int
    geometry: PatrolTrackGeometry | None = Field(description="the points as a line; else the stored line, or null")
    properties: PatrolTrackPropertiesPublic


class UploadedPatrolPublic(PatrolPublic):
    """The patrol stored from an upload, with its ISO week."""

    week: str


class TrackReportPublic(Public):
    """How the uploaded track was read and cleaned (gis.patrols.tracks.TrackReport) and how much lies in the grid."""

    source: str
    format: str
    encoding: str | None = None
    input_points: int
    kept_points: int
    removed_points: int
    reordered: list[int] = Field(description="numbers of points put back in time order")
    removals: list[dict[str, Any]] = Field(description="points dropped, per reason")
    converted_from: str | None = Field(default=None, description="gcj02 or bd09 when converted")
    assumed_timezone: str | None = None
    max_speed_mps: float
    max_accuracy_m: float | None = None
    messages: list[str]
    points_in_grid: int
    share_in_grid: float


class PatrolUploadPublic(Public):
    """An uploaded track: the stored patrol and its cleaning report."""

    patrol: UploadedPatrolPublic
    report: TrackReportPublic


class CoveragePeriodPublic(Public):
    """The ISO week (or days) counted; ``start`` and ``end`` only for the grid's own staff and admins."""

    week: str | None = None
    start: Timestamp | None = None
    end: Timestamp | None = None
    timezone: str


class WalkedPastPublic(Public):
    """Households in buildings patrols walked past, under their true names and the deprecated ones."""

    households_total: int
    households_walked_past: int
    household_walked_past_share: float | None = None
    households_covered: int | None = Field(default=None, description="deprecated: households_walked_past")
    household_share: float | None = Field(default=None, description="deprecated: household_walked_past_share")


class GridCoverageSummaryPublic(WalkedPastPublic):
    """A grid's headline figures for the period (gis.patrols.coverage)."""

    tracks: int
    metric_crs: str | None = None
    building_radius_m: float
    segment_radius_m: float
    segment_min_share: float | None = None
    buildings_total: int
    buildings_covered: int
    building_share: float | None = None
    households_unknown: int | None = None
    segments_total: int
    segments_covered: int
    street_length_m: float
    street_covered_m: float
    street_share: float | None = None


class CoveredBuildingPublic(Public):
    """A building of the grid: passed within the radius or not, and the nearest approach."""

    id: int
    name: str | None = None
    households: int
    households_source: str | None = None
    covered: bool
    nearest_m: float | None = Field(default=None, description="null when no patrol came near")


class CoveredSegmentPublic(Public):
    """A street segment of the grid and the share of it patrols walked."""

    edge_id: int
    name: str | None = None
    highway: str | None = None
    length_m: float
    covered_m: float
    covered_share: float
    covered: bool


class GridCoveragePublic(Public):
    """What a grid's patrols passed in a period; per building and segment only with ``detail``."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    district_code: str | None = None
    period: CoveragePeriodPublic
    patrols: int
    missed: bool
    summary: GridCoverageSummaryPublic
    detail: bool | None = Field(default=None, description="false: the weekly figures only (not the grid's staff)")
    buildings: list[CoveredBuildingPublic] | None = None
    segments: list[CoveredSegmentPublic] | None = None


class WeeklySummaryPublic(WalkedPastPublic):
    """A week over all grids: patrolled and missed grids, households walked past."""

    grids: int
    patrolled: int
    missed: int
    patrols: int


class WeeklyGridPublic(WalkedPastPublic):
    """One grid's week."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    kind: str | None = None
    patrols: int
    missed: bool
    buildings_total: int
    buildings_covered: int
    street_share: float | None = None


class WeeklyCoveragePublic(Public):
    """Per grid of a district (or community), one ISO week; ``missed`` lists the grids nobody patrolled."""

    district_code: str | None = None
    community_code: str | None = None
    week: str
    period: CoveragePeriodPublic
    building_radius_m: float
    segment_radius_m: float
    summary: WeeklySummaryPublic
    missed: list[str]
    grids: list[WeeklyGridPublic]
