"""Response models of a building's households: the count, recorded or estimated, why, and the review."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Public, Timestamp


class BuildingCountPublic(Public):
    """A building and its households, with the reason for the count (a code, and in words)."""

    building_id: int
    district_code: str | None = None
    osm_id: int | str | None = None
    name: str | None = None
    kind: str | None = None
    floors: int | None = None
    area_m2: float | None = None
    households: int
    reason: str | None = Field(default=None, description="the code of why the count is what it is")
    reason_text: str | None = None


class BuildingHouseholdsPublic(BuildingCountPublic):
    """A building's households: recorded by a person (who, when, why) or estimated (the reason in words)."""

    households_source: str | None = Field(default=None, description="recorded or estimated")
    reason_text_zh: str | None = None
    reason_detail: dict[str, Any] | None = None
    recorded_by: str | None = None
    recorded_at: Timestamp | None = None
    recorded_reason: str | None = None


class ReviewedBuildingPublic(BuildingCountPublic):
    """An estimated building with its concerns; higher ``score`` is more likely wrong."""

    concerns: list[str]
    concerns_text: list[str]
    score: int


class HouseholdReviewPublic(Public):
    """The household estimates most likely wrong, worst first."""

    district_code: str | None = None
    estimated_households: int
    buildings_with_concerns: int
    households_with_concerns: int
    buildings: list[ReviewedBuildingPublic]
