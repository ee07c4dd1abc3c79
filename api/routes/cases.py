"""Incidents and patrols as located records, grid-scoped; the incident case loop.

Thin: scope, masking, retention, audit rows, routing, the workflow and deadlines are
gis.services.cases' (which calls gis.cases for the rules), so the CLI gets the same answers.
Actions and photos need the case's version (``If-Match: "3"`` or ``version`` in the body).
Issue 18's acts go through the same actions endpoint: ``hand_over`` (移交, optional
``department_id``), ``claim`` (认领), ``summon`` (吹哨: ``departments``, ``report_in_hours``),
``report_in`` (报到), ``urge`` (催办) and ``supervise`` (督办); a 随手办 is ``POST /incidents`` with
``quick_fix: true`` and its before/after photos (base64) in the body.

Answers are typed by the models of api.schemas.cases; ``response_model_exclude_unset`` keeps a key
the service left out (a planner never gets ``reporter_contact``) out of the answer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditDep, CaseAuditDep, IfMatchDep, PersonalAuditDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.geojson import GeoJSONResponse
from api.routes.people import GEOJSON, Limit, Offset, reader_of
from api.schemas.cases import (
    ActionResultPublic,
    CaseStatsPublic,
    IncidentFeaturesPublic,
    IncidentListPublic,
    IncidentPublic,
    OverduePublic,
    PhotoAddedPublic,
    ReportPublic,
    SummonsListPublic,
)
from api.schemas.common import inline_schema
from api.schemas.patrols import PatrolListPublic, PatrolTrackPublic
from gis.errors import InvalidInput
from gis.services import cases as case_service

router = APIRouter(tags=["cases"], responses=ERROR_RESPONSES)

LonLat = tuple[float, float]
BINARY = {"schema": {"type": "string", "format": "binary"}}


class PhotoIn(BaseModel):
    """A photo sent inside a report (a 随手办's before and after)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["before", "after"] | None = Field(default=None, description="before or after the fix")
    content_base64: str = Field(description="the JPEG, PNG or WebP file, base64-encoded")


class IncidentCreate(BaseModel):
    """A report: where (point, building or address), what (category), and who to call back."""

    model_config = ConfigDict(extra="forbid")

    point: LonLat | None = Field(default=None, description="[lon, lat] in EPSG:4490 (WGS84 taken as equal)")
    building_id: int | None = Field(default=None, description="or a building: its point on surface")
    address: str | None = Field(default=None, max_length=300, description="or an address that names one building")
    category_code: str | None = Field(default=None, description="catalogue code, e.g. E0101 (Open311 service_code)")
    category_class: str | None = Field(default=None, description="event (事件) or component (部件)")
    category: str | None = Field(default=None, description="大类, e.g. 市容环境")
    subcategory: str | None = Field(default=None, description="小类, e.g. 暴露垃圾")
    description: str | None = Field(default=None, max_length=4000)
    source: str = Field(default="patrol", description="patrol, hotline_12345, resident, video, higher_level "
                                                      "(open311 is the server's, for Open311 filings only)")
    urgency: str = Field(default="normal", description="normal or urgent")
    area: str = Field(default="urban", description="urban or rural (picks the verification limit)")
    reporter_contact: str | None = Field(default=None, max_length=100, description="personal: masked on read")
    position: LonLat | None = Field(default=None, description="the reporter's GPS [lon, lat], kept in the log")
    note: str | None = Field(default=None, max_length=2000)
    quick_fix: bool = Field(default=False, description="随手办: fixed on the spot; needs a before and an after photo")
    photos: list[PhotoIn] | None = Field(default=None, max_length=6, description="photos sent with the report")


class IncidentAction(BaseModel):
    """One step of the case loop (see GET /incidents/{id} ``allowed_actions`` and gis.cases.workflow)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(description="register, reject, dispatch, accept, return, request_extension, ... evaluate")
    note: str | None = Field(default=None, max_length=2000)
    position: LonLat | None = Field(default=None, description="the actor's GPS [lon, lat]; verify: within 100 m")
    satisfaction: int | None = Field(default=None, description="evaluate: 1 to 5")
    handler_id: int | None = Field(default=None, description="dispatch: the grid staff member to handle it")
    department_id: int | None = Field(default=None, description="hand_over to the department level: which one "
                                                                "(default: the one the category table picks)")
    departments: list[int] | None = Field(default=None, max_length=20,
                                          description="summon: the departments called in (吹哨)")
    report_in_hours: float | None = Field(default=None, description="summon: hours they have to report in (报到)")
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


@router.get("/incidents", summary="Incidents you may see, newest first (contacts masked)",
            response_model=IncidentListPublic, response_model_exclude_unset=True,
            responses={200: {"content": {GEOJSON: {"schema": inline_schema(IncidentFeaturesPublic)}},
                             "description": "JSON, or GeoJSON with format=geojson"}})
def list_incidents(session: SessionDep, audit: CaseAuditDep, grid_code: str | None = None, status: str | None = None,
                   category: str | None = None, source: str | None = None, since: dt.datetime | None = None,
                   until: dt.datetime | None = None,
                   output: Annotated[Literal["json", "geojson"], Query(alias="format")] = "json",
                   limit: Limit = 100, offset: Offset = 0,
                   level: Annotated[Literal["grid", "community", "street", "department"] | None,
                                    Query(description="who holds the case")] = None,
                   department_id: int | None = None) -> Any:
    args: dict[str, Any] = {"grid_code": grid_code, "status": status, "category": category, "source": source,
                            "since": since, "until": until, "limit": limit, "offset": offset, "level": level,
                            "department_id": department_id}
    if output == "geojson":
        return GeoJSONResponse(case_service.incidents_geojson(session, reader_of(audit), **args))
    return case_service.list_incidents(session, reader_of(audit), **args)


@router.post("/incidents", status_code=201,
             summary="Report a case at a point; routed to its grid's staff, with duplicate hints and its deadline",
             response_model=ReportPublic, response_model_exclude_unset=True)
def report_incident(body: IncidentCreate, session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                    response: Response) -> Mapping[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"photos"})
    photos = []
    for n, photo in enumerate(body.photos or []):
        try:
            photos.append((photo.kind, base64.b64decode(photo.content_base64, validate=True)))
        except (binascii.Error, ValueError):
            field = f"photos[{n}].content_base64"
            raise InvalidInput(f"{field}: not base64", details={"field": field}) from None
    report = case_service.report_incident(session, principal, settings=settings, photos=photos, **fields)
    response.headers["Location"] = f"/incidents/{report['incident']['id']}"
    response.headers["ETag"] = f'"{report["incident"]["version"]}"'
    return report


# Before /incidents/{incident_id}: "overdue" is not an id.
@router.get("/incidents/overdue", summary="Open cases you may see that are overdue or due soon",
            response_model=OverduePublic, response_model_exclude_unset=True)
def overdue_incidents(session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                      grid_code: str | None = None) -> Mapping[str, Any]:
    return case_service.overdue_incidents(session, principal, settings=settings, grid_code=grid_code)


@router.get("/incidents/summons", summary="Summons (吹哨) on the cases you may see; missed=true: missed report-ins",
            response_model=SummonsListPublic, response_model_exclude_unset=True)
def list_summons(session: SessionDep, principal: PrincipalDep, missed: bool | None = None,
                 department_id: int | None = None) -> Mapping[str, Any]:
    return case_service.list_summons(session, principal, missed=missed, department_id=department_id)


@router.get("/incidents/{incident_id}", summary="One incident with its events, summons, photos and allowed_actions",
            response_model=IncidentPublic, response_model_exclude_unset=True)
def get_incident(incident_id: int, session: SessionDep, settings: SettingsDep,
                 audit: CaseAuditDep) -> Mapping[str, Any]:
    return case_service.get_incident(session, reader_of(audit), incident_id, settings=settings)


@router.post("/incidents/{incident_id}/actions", summary="Take a workflow action on a case (If-Match)",
             response_model=ActionResultPublic, response_model_exclude_unset=True)
def act_on_incident(incident_id: int, body: IncidentAction, session: SessionDep, settings: SettingsDep,
                    audit: AuditDep, if_match: IfMatchDep, response: Response) -> Mapping[str, Any]:
    result = case_service.act_on_incident(
        session, reader_of(audit), incident_id, action=body.action,
        expected_version=if_match if if_match is not None else body.version, settings=settings, note=body.note,
        position=body.position, satisfaction=body.satisfaction, handler_id=body.handler_id,
        department_id=body.department_id, departments=body.departments, report_in_hours=body.report_in_hours)
    response.headers["ETag"] = f'"{result["incident"]["version"]}"'
    return result


@router.post("/incidents/{incident_id}/photos", status_code=201,
             summary="Attach a photo (JPEG, PNG or WebP, checked by content; size-limited)",
             response_model=PhotoAddedPublic, response_model_exclude_unset=True,
             responses={200: {"description": "The case already has this photo (the same bytes): that photo",
                              "model": PhotoAddedPublic}})
def add_photo(incident_id: int, session: SessionDep, settings: SettingsDep, audit: AuditDep,
              file: Annotated[UploadFile, File(description="the photo")], response: Response,
              kind: Annotated[Literal["before", "after"] | None, Form(description="before or after a fix")] = None
              ) -> Mapping[str, Any]:
    # One byte past the limit is enough to refuse; never read an oversized upload whole.
    content = file.file.read(settings.incident_photo_max_bytes + 1)
    photo = case_service.add_photo(session, reader_of(audit), incident_id, content=content, settings=settings,
                                   kind=kind)
    if not photo["created"]:
        response.status_code = 200
    response.headers["Location"] = photo["href"]
    return photo


@router.get("/incidents/{incident_id}/photos/{photo_id}", summary="A photo of a case you may see",
            response_class=FileResponse,
            responses={200: {"content": {media_type: BINARY for media_type in case_service.PHOTO_TYPES.values()}}})
def get_photo(incident_id: int, photo_id: int, session: SessionDep, settings: SettingsDep,
              audit: PersonalAuditDep) -> FileResponse:
    path, content_type = case_service.photo_file(session, reader_of(audit), incident_id, photo_id,
                                                 settings=settings)
    # Our own re-encoded image, and the browser is told not to take it for anything else.
    name = f"incident-{incident_id}-photo-{photo_id}{path.suffix}"
    return FileResponse(path, media_type=content_type, headers={
        "Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{name}"', "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/stats/cases", summary="Response, resolution, on-time closure and satisfaction rates (三率)",
            response_model=CaseStatsPublic, response_model_exclude_unset=True)
def case_stats(session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
               period: Annotated[str, Query(description="2026, 2026-10 or 2026-Q4")],
               level: Annotated[Literal["grid", "community", "street", "total"], Query()] = "grid"
               ) -> Mapping[str, Any]:
    return case_service.case_statistics(session, period=period, level=level, settings=settings,
                                        district_code=principal.district_code)


@router.get("/patrols", summary="Patrols you may see within the retention period (audited)",
            response_model=PatrolListPublic, response_model_exclude_unset=True)
def list_patrols(session: SessionDep, settings: SettingsDep, audit: PersonalAuditDep, worker_id: int | None = None,
                 grid_code: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 limit: Limit = 100, offset: Offset = 0) -> Mapping[str, Any]:
    return case_service.list_patrols(session, reader_of(audit), retention_days=settings.patrol_retention_days,
                                     worker_id=worker_id, grid_code=grid_code, since=since, until=until,
                                     limit=limit, offset=offset)


@router.get("/patrols/{patrol_id}", summary="One patrol's track as a GeoJSON Feature (audited)",
            response_class=GeoJSONResponse, response_model=PatrolTrackPublic)
def get_patrol(patrol_id: int, session: SessionDep, settings: SettingsDep, audit: PersonalAuditDep) -> GeoJSONResponse:
    feature = case_service.get_patrol(session, reader_of(audit), patrol_id,
                                      retention_days=settings.patrol_retention_days)
    return GeoJSONResponse(feature)
