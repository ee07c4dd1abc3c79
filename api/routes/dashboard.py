"""The district dashboard's aggregate that no other route gives: cases by status per grid (counts only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from gis.services import dashboard as dashboard_service

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)


@router.get("/stats/case-status", summary="A district's cases by status, in total and per grid (counts only)")
def case_status(session: SessionDep, principal: PrincipalDep,
                district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$",
                                                           description="6-digit district (default: yours)")] = None
                ) -> dict[str, Any]:
    return dashboard_service.case_status_counts(session, principal, district_code=district_code).to_dict()
