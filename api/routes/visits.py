"""Household visits (入户走访) and staffing (一格一员): thin edges over gis.services.visits and .staffing.

Scope, sealing and audit rows are the services'. Reading visits or the due list returns personal
records, so it needs ``X-Access-Reason`` (428 without); recording a visit keeps a reason when
one is sent, so a phone sending its offline queue is not refused for lacking one. Visit
coverage, unstaffed grids and reassignment proposals are counts and staff, not residents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditContext, AuditDep, PersonalAuditDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.visits import (
    CadencePublic,
    DueVisitsPublic,
    ReassignmentProposalPublic,
    ReassignmentsAppliedPublic,
    UnstaffedPublic,
    VisitListPublic,
    VisitPublic,
    VisitStatsPublic,
)
from gis.services import staffing as staffing_service
from gis.services import visits as visit_service
from gis.services.residents import Reader

router = APIRouter(tags=["visits"], responses=ERROR_RESPONSES)

GridQuery = Annotated[str | None, Query(alias="grid", description="15-digit grid code")]


def _reader(audit: AuditContext) -> Reader:
    return Reader(principal=audit.principal, reason=audit.reason, request_id=audit.request_id,
                  client_ip=audit.client_ip)


class FollowUpIn(BaseModel):
    """A case to open from the visit: a category code of the case catalogue and what is to be done."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(description="incident category code, e.g. E0101 (GET /open311/v2/services.json)")
    description: str = Field(max_length=2000)


class VisitIn(BaseModel):
    """One visit, sent when it happened or later from an offline phone (``visited_at`` is the visit's time)."""

    model_config = ConfigDict(extra="forbid")

    household_id: int
    visited_at: dt.datetime = Field(description="ISO 8601 with its offset, e.g. 2026-12-06T09:30:00+08:00")
    purpose: str = Field(description="routine, care, info_check, case_follow_up or other")
    findings: str | None = Field(default=None, description="what was found (sealed at rest)")
    follow_up: FollowUpIn | None = None


@router.post("/visits", status_code=201, summary="Record a household visit (your grids; a follow-up opens a case)",
             response_model=VisitPublic)
def record_visit(body: VisitIn, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                 response: Response) -> Mapping[str, Any]:
    record = visit_service.record_visit(
        session, _reader(audit), settings=settings, household_id=body.household_id, visited_at=body.visited_at,
        purpose=body.purpose, findings=body.findings,
        follow_up=body.follow_up.model_dump() if body.follow_up is not None else None)
    response.headers["Location"] = f"/visits?household_id={record['household_id']}"
    return record


@router.get("/visits", summary="Visits within your grids, newest first (findings shown; audited)",
            response_model=VisitListPublic)
def list_visits(session: SessionDep, settings: SettingsDep, audit: PersonalAuditDep, grid: GridQuery = None,
                since: Annotated[str | None, Query(description="a date (local midnight), or a time with its offset")]
                = None, household_id: int | None = None, limit: int = 100, offset: int = 0) -> Mapping[str, Any]:
    return visit_service.list_visits(session, _reader(audit), settings=settings, grid_code=grid, since=since,
                                     household_id=household_id, limit=limit, offset=offset)


@router.get("/visits/due", summary="Households due a visit by their group's cadence, most overdue first (audited)",
            response_model=DueVisitsPublic)
def due_visits(session: SessionDep, audit: PersonalAuditDep, grid: GridQuery = None,
               within_days: Annotated[int, Query(description="also those due within this many days")] = 0,
               limit: int = 500, offset: int = 0) -> Mapping[str, Any]:
    return visit_service.due_visits(session, _reader(audit), grid_code=grid, within_days=within_days, limit=limit,
                                    offset=offset)


@router.get("/visits/cadence", summary="Days allowed between visits per resident group, for a district",
            response_model=CadencePublic)
def visit_cadence(session: SessionDep, principal: PrincipalDep,
                  district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None) -> Mapping[str, Any]:
    return visit_service.show_cadence(session, principal, district_code=district_code)


@router.get("/stats/visits", summary="Per grid, one month: households due a visit, visited, the share; beside it "
                                    "households in buildings patrols walked past",
            response_model=VisitStatsPublic)
def visit_stats(session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                month: Annotated[str, Query(description="YYYY-MM (Asia/Shanghai)")],
                district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
                grid: GridQuery = None) -> Mapping[str, Any]:
    return visit_service.visit_stats(session, principal, month=month, settings=settings,
                                     district_code=district_code, grid_code=grid)


@router.get("/grids/unstaffed", summary="Current grids without a worker (一格一员)", response_model=UnstaffedPublic)
def unstaffed_grids(session: SessionDep, principal: PrincipalDep,
                    district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None) -> Mapping[str, Any]:
    return staffing_service.unstaffed_grids(session, principal, district_code=district_code)


@router.get("/plans/{plan_id}/reassignments", summary="After adoption: where the staff of retired grids should go",
            response_model=ReassignmentProposalPublic)
def proposed_reassignments(plan_id: int, session: SessionDep, principal: PrincipalDep) -> Mapping[str, Any]:
    return staffing_service.propose_reassignments(session, principal, plan_id)


@router.post("/plans/{plan_id}/reassignments", summary="Apply the proposal: move the staff of retired grids",
             response_model=ReassignmentsAppliedPublic)
def apply_reassignments(plan_id: int, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return staffing_service.apply_reassignments(session, audit.principal, plan_id)
