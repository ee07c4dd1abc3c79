"""Patrol uploads and coverage: a track in, its cleaning report out; coverage of a grid per week; missed grids.

Thin: checks, storage, audit rows and the figures are gis.services.patrols'. Mounted before
api/routes/cases.py, so that the fixed paths /patrols/coverage and /patrols/weekly win over
/patrols/{patrol_id}. Every role may read coverage; only a grid's own staff and admins get its
per-building rows and free periods (see grid_coverage). Answers are typed by api.schemas.patrols;
``response_model_exclude_unset`` keeps keys the service leaves out (a grid's per-building rows for
others than its staff) out of the answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import AuditDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.patrols import GridCoveragePublic, PatrolUploadPublic, WeeklyCoveragePublic
from gis.db.models import Grid
from gis.services import patrols as patrol_service
from gis.services.users import Principal

router = APIRouter(tags=["patrols"], responses=ERROR_RESPONSES)

Week = Annotated[str | None, Query(description="ISO week in Beijing time, e.g. 2026-W47 (default: this week)",
                                   pattern=r"^\d{4}-W\d{2}$")]


@router.post("/patrols", status_code=201, summary="Upload a GPX or GeoJSON patrol track; returns the cleaning report",
             response_model=PatrolUploadPublic)
async def upload_patrol(
    response: Response, session: SessionDep, settings: SettingsDep, audit: AuditDep,
    file: Annotated[UploadFile, File(description="GPX 1.0/1.1 or GeoJSON (LineString with coordTimes, or Points)")],
    grid_code: Annotated[str | None, Form(description="the grid patrolled (default: the worker's only grid)")] = None,
    worker_id: Annotated[int | None, Form(description="leaders and admins: whose track it is")] = None,
    source_crs: Annotated[str | None, Form(description="gcj02 or bd09 for AMap/Tencent/Baidu exports")] = None,
    assume_timezone: Annotated[str, Form(description="zone of times written without an offset")] = "UTC",
) -> Mapping[str, Any]:
    # Read one byte past the cap, so an oversized upload is refused without holding all of it.
    data = await file.read(settings.patrol_max_upload_bytes + 1)
    result = patrol_service.import_patrol(
        session, data, uploader=audit.principal, worker=worker_id, grid_code=grid_code,
        source_name=file.filename or "upload", source_crs=source_crs, assume_timezone=assume_timezone,
        max_bytes=settings.patrol_max_upload_bytes, request_id=audit.request_id)
    response.headers["Location"] = f"/patrols/{result['patrol']['id']}"
    return result


@router.get("/patrols/coverage", summary="Buildings and street segments of a grid its patrols passed in a week "
                                         "(the grid's staff and admins); weekly figures for everyone else",
            response_model=GridCoveragePublic, response_model_exclude_unset=True)
def grid_coverage(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
    grid_code: Annotated[str, Query(description="15-digit grid code")],
    week: Week = None,
    start: Annotated[dt.date | dt.datetime | None, Query(description="instead of week: first day (local); "
                                                                     "the grid's staff and admins only")] = None,
    end: Annotated[dt.date | dt.datetime | None, Query(description="instead of week: last day, included")] = None,
) -> Mapping[str, Any]:
    if week is None and start is None and end is None:
        week = patrol_service.current_week()
    # Tracks are movements (PIPL art. 28): times and per-building distances for the grid's own
    # worker and leader and the admins of its district; a planner, viewer or another grid's staff
    # gets the grid's figures for a whole week, which cannot time or place a walk.
    return patrol_service.patrol_coverage(session, grid_code=grid_code, week=week, start=start, end=end,
                                          building_radius_m=settings.patrol_building_radius_m,
                                          segment_radius_m=settings.patrol_segment_radius_m,
                                          retention_days=settings.patrol_retention_days,
                                          detail=_sees_tracks(session, principal, grid_code))


def _sees_tracks(session: Session, principal: Principal, grid_code: str) -> bool:
    """Whether the principal is the grid's own worker or leader, or an admin of its district."""
    if principal.is_grid_scoped:
        return principal.sees_grid(grid_code)
    if principal.role != "admin":
        return False
    district = session.execute(select(Grid.district_code).where(Grid.code == grid_code,
                                                                Grid.valid_to.is_(None))).scalar()
    return principal.sees_district(district)


@router.get("/patrols/weekly", response_model=WeeklyCoveragePublic, response_model_exclude_unset=True,
            summary="Per grid, one week: households in buildings patrols walked past, and the grids missed")
def weekly_coverage(
    session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
    district_code: Annotated[str | None, Query(description="6-digit district (default: yours)")] = None,
    community_code: Annotated[str | None, Query(description="12-digit community, instead of a district")] = None,
    week: Week = None,
) -> Mapping[str, Any]:
    if district_code is None and community_code is None:
        district_code = principal.district_code
    return patrol_service.weekly_coverage(session, district_code=district_code, community_code=community_code,
                                          week=week or patrol_service.current_week(),
                                          building_radius_m=settings.patrol_building_radius_m,
                                          segment_radius_m=settings.patrol_segment_radius_m,
                                          retention_days=settings.patrol_retention_days)
