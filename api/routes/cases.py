"""Incidents and patrols as located records, grid-scoped.

Thin: scope, masking, retention and audit rows are gis.services.cases'. The case workflow
(report, dispatch, close...) comes with the incidents issue.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import AuditDep, SessionDep, SettingsDep
from api.routes.people import GEOJSON, Limit, Offset, reader_of
from gis.services import cases as case_service

router = APIRouter(tags=["cases"])


@router.get("/incidents", summary="Incidents you may see, newest first (contacts masked)")
def list_incidents(session: SessionDep, audit: AuditDep, grid_code: str | None = None, status: str | None = None,
                   category: str | None = None, source: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None,
                   output: Annotated[Literal["json", "geojson"], Query(alias="format")] = "json",
                   limit: Limit = 100, offset: Offset = 0) -> Any:
    args = {"grid_code": grid_code, "status": status, "category": category, "source": source, "since": since,
            "until": until, "limit": limit, "offset": offset}
    if output == "geojson":
        return JSONResponse(case_service.incidents_geojson(session, reader_of(audit), **args), media_type=GEOJSON)
    return case_service.list_incidents(session, reader_of(audit), **args)


@router.get("/incidents/{incident_id}", summary="One incident with its events")
def get_incident(incident_id: int, session: SessionDep, audit: AuditDep) -> dict[str, Any]:
    return case_service.get_incident(session, reader_of(audit), incident_id)


@router.get("/patrols", summary="Patrols you may see within the retention period (audited)")
def list_patrols(session: SessionDep, settings: SettingsDep, audit: AuditDep, worker_id: int | None = None,
                 grid_code: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    return case_service.list_patrols(session, reader_of(audit), retention_days=settings.patrol_retention_days,
                                     worker_id=worker_id, grid_code=grid_code, since=since, until=until,
                                     limit=limit, offset=offset)


@router.get("/patrols/{patrol_id}", summary="One patrol's track as a GeoJSON Feature (audited)")
def get_patrol(patrol_id: int, session: SessionDep, settings: SettingsDep, audit: AuditDep) -> JSONResponse:
    feature = case_service.get_patrol(session, reader_of(audit), patrol_id,
                                      retention_days=settings.patrol_retention_days)
    return JSONResponse(feature, media_type=GEOJSON)
