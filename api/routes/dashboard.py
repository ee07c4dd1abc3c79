"""The dashboard's cases by status per grid (counts only) and the workbench's dispatch list of a grid's staff."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.dashboard import CaseStatusCountsPublic, GridStaffPublic
from gis.services import dashboard as dashboard_service

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)


@router.get("/stats/case-status", summary="A district's cases by status, in total and per grid (counts only)",
            response_model=CaseStatusCountsPublic)
def case_status(session: SessionDep, principal: PrincipalDep,
                district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$",
                                                           description="6-digit district (default: yours)")] = None
                ) -> dict[str, Any]:
    return dashboard_service.case_status_counts(session, principal, district_code=district_code).to_dict()


@router.get("/grids/{code}/staff", summary="The staff a case of the grid may be dispatched to (user ids for dispatch)",
            response_model=GridStaffPublic)
def grid_staff(code: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    staff = dashboard_service.dispatch_staff(session, principal, code)
    return {"grid_code": code, "items": [asdict(s) for s in staff]}
