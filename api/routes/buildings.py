"""Households per building: a count recorded by a person (who and why kept, audited), its reason, the review.

The work is done by ``gis.services.households``; these routes only translate HTTP to its
keyword arguments. Planners may record counts in their own district, as with boundary edits.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import AuditDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.buildings import BuildingHouseholdsPublic, HouseholdReviewPublic
from gis.services import households as household_service

router = APIRouter(tags=["households"], responses=ERROR_RESPONSES)


class HouseholdsRecord(BaseModel):
    households: int = Field(ge=0, le=100_000, description="the counted number of households in the building")
    reason: str = Field(min_length=1, max_length=2000, description="how and why it was counted (kept with it)")
    by: str | None = Field(default=None, min_length=1, max_length=100,
                           description="who counted, when not the signed-in user (e.g. the grid worker)")


@router.get("/buildings/{building_id}/households", summary="A building's households, recorded or estimated, and why",
            response_model=BuildingHouseholdsPublic)
def get_households(building_id: int, session: SessionDep) -> household_service.BuildingHouseholds:
    return household_service.building_households(session, building_id)


@router.put("/buildings/{building_id}/households", summary="Record a building's households (wins over estimates)",
            response_model=BuildingHouseholdsPublic)
def put_households(building_id: int, body: HouseholdsRecord, session: SessionDep,
                   audit: AuditDep) -> household_service.BuildingHouseholds:
    return household_service.set_households(session, building_id=building_id, households=body.households,
                                            by=body.by or audit.principal.username, reason=body.reason,
                                            principal=audit.principal, request_id=audit.request_id)


@router.get("/household-estimates/review", summary="The household estimates most likely wrong, worst first",
            response_model=HouseholdReviewPublic)
def review(session: SessionDep, settings: SettingsDep,
           district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit district code")]
           = None,
           top: Annotated[int, Query(ge=1, le=500, description="how many buildings")] = 20
           ) -> household_service.HouseholdsReview:
    return household_service.review_households(session, settings, district_code=district_code, top=top)
