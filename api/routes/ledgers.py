"""The community ledgers (三张清单): needs, resources, projects, 双报到 claims, volunteers and their figures.

Thin: scope, masking and audit rows are the service's (gis.services.ledgers), so the CLI gets the
same guarantees. Routes that may return personal fields (a resident's contact on a need, a
resource's contact, volunteers, party members' claims) take ``X-Access-Reason`` from the roles
that see them (428 without), as case routes do; the map layer and the figures name nobody.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from api.deps import (
    AuditDep,
    CaseAuditDep,
    EngineDep,
    IfMatchDep,
    PersonalAuditDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
)
from api.errors import ERROR_RESPONSES
from api.geojson import GeoJSONResponse
from api.schemas.ledgers import (
    ClaimPublic,
    CommunityListsPublic,
    HoursPublic,
    LedgerStatsPublic,
    NeedDetailPublic,
    NeedFiledPublic,
    NeedKindListPublic,
    NeedKindPublic,
    NeedListPublic,
    NeedsImportedPublic,
    NeedsLayerPublic,
    NeedsReachPublic,
    ProjectListPublic,
    ProjectPublic,
    ResourceListPublic,
    ResourcePublic,
    SignUpPublic,
    UnitContactPublic,
    VolunteerListPublic,
    VolunteerPublic,
)
from gis.errors import InvalidInput
from gis.services import ledgers as ledger_service
from gis.services import ratelimits

router = APIRouter(tags=["ledgers"], responses=ERROR_RESPONSES)

BINARY = {"schema": {"type": "string", "format": "binary"}}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Community = Annotated[str | None, Query(pattern=r"^[0-9]{12}$", description="12-digit community code")]
District = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit district code")]
CommunityCode = Annotated[str, PathParam(pattern=r"^[0-9]{12}$", description="12-digit community code")]


class KindCreate(BaseModel):
    code: str = Field(min_length=2, max_length=40, description="lower-case letters, digits, underscores")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    community_code: str = Field(pattern=r"^[0-9]{12}$", description="the community that adds the kind")


class NeedCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind_code: str = Field(max_length=40)
    title: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    visit_id: int | None = Field(default=None, description="the visit it was found on (its household is the place)")
    household_id: int | None = None
    building_id: int | None = None
    lon: float | None = None
    lat: float | None = None
    address: str | None = Field(default=None, max_length=500)
    affected_households: int = Field(default=1, ge=0, le=100_000)
    affected_people: int = Field(default=1, ge=0, le=1_000_000)


class PublicNeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind_code: str = Field(max_length=40)
    description: str | None = Field(default=None, max_length=4000)
    lon: float
    lat: float
    address: str | None = Field(default=None, max_length=500)
    affected_people: int = Field(default=1, ge=0, le=100_000)
    contact_phone: str | None = Field(default=None, max_length=20, description="kept, shown masked to grid staff")


class NeedAction(BaseModel):
    action: Literal["close", "reject", "reopen"]
    note: str | None = Field(default=None, max_length=2000)
    outcome: Literal["met", "partly_met", "unmet"] | None = None


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_kind: Literal["unit", "facility", "party_member", "volunteer", "other"]
    name: str = Field(min_length=1, max_length=200)
    org_unit_id: int | None = None
    facility_id: int | None = None
    resident_id: int | None = None
    volunteer_id: int | None = None
    description: str | None = Field(default=None, max_length=4000)
    kind_codes: list[str] = Field(default_factory=list, description="need kinds it serves (none: any)")
    available: str | None = Field(default=None, max_length=500, description="when, e.g. 工作日 8:00–17:00")
    capacity: int | None = Field(default=None, ge=0)
    address: str | None = Field(default=None, max_length=500)
    lon: float | None = None
    lat: float | None = None
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=20)


class ResourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    kind_codes: list[str] | None = None
    available: str | None = Field(default=None, max_length=500)
    capacity: int | None = Field(default=None, ge=0)
    address: str | None = Field(default=None, max_length=500)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=20)
    active: bool | None = None


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    need_id: int
    title: str = Field(min_length=1, max_length=200)
    resource_ids: list[int] = Field(default_factory=list)
    owner_id: int | None = None
    starts_on: dt.date | None = None
    ends_on: dt.date | None = None
    posts: list[str] = Field(default_factory=list, description="双报到 posts (岗位) units and members claim")


class ProjectAction(BaseModel):
    action: Literal["start", "finish", "cancel"]
    outcome: str | None = Field(default=None, max_length=2000)
    need_outcome: Literal["met", "partly_met", "unmet"] | None = Field(
        default=None, description="with finish: close the need with this outcome")


class ClaimCreate(BaseModel):
    org_unit_id: int | None = Field(default=None, description="a unit (a unit contact's own by default)")
    resident_id: int | None = Field(default=None, description="a party member reporting in")
    post: str | None = Field(default=None, max_length=100)


class SignUp(BaseModel):
    volunteer_id: int
    post: str | None = Field(default=None, max_length=100)


class Hours(BaseModel):
    hours: float = Field(gt=0, le=24)
    served_on: dt.date | None = None


class VolunteerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community_code: str = Field(pattern=r"^[0-9]{12}$")
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=20)
    resident_id: int | None = None
    org_unit_id: int | None = None
    party_member: bool = False


class UnitContactLink(BaseModel):
    user_id: int
    org_unit_id: int


# --- need kinds and needs ----------------------------------------------------------------------


@router.get("/ledgers/kinds", summary="Need kinds: the shared catalogue and a community's own",
            response_model=NeedKindListPublic)
def list_kinds(session: SessionDep, community_code: Community = None) -> Mapping[str, Any]:
    return {"items": ledger_service.list_kinds(session, community_code=community_code)}


@router.post("/ledgers/kinds", status_code=201, summary="A community adds a need kind of its own",
             response_model=NeedKindPublic)
def add_kind(body: KindCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.add_kind(session, audit.principal, code=body.code, name_zh=body.name_zh,
                                   name_en=body.name_en, community_code=body.community_code)


@router.get("/ledgers/needs", summary="Needs in your scope (descriptions and contacts to grid staff, audited)",
            response_model=NeedListPublic)
def list_needs(session: SessionDep, audit: CaseAuditDep, community_code: Community = None,
               grid_code: Annotated[str | None, Query(pattern=r"^[0-9]{15}$")] = None,
               status: Literal["open", "matched", "in_progress", "closed", "rejected"] | None = None,
               kind_code: str | None = None) -> Mapping[str, Any]:
    return {"items": ledger_service.list_needs(session, audit.principal, community_code=community_code,
                                               grid_code=grid_code, status=status, kind_code=kind_code,
                                               reason=audit.reason)}


@router.post("/ledgers/needs", status_code=201, summary="Record a need (on a visit, at a household, building or point)",
             response_model=NeedDetailPublic)
def record_need(body: NeedCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.record_need(session, audit.principal, **body.model_dump())


@router.post("/ledgers/needs/import", status_code=201, summary="Import needs from CSV or XLSX: every row or none",
             response_model=NeedsImportedPublic)
def import_needs(session: SessionDep, audit: AuditDep,
                 file: Annotated[UploadFile, File(description="CSV (UTF-8 or GBK) or XLSX; header row first")],
                 encoding: Annotated[str | None, Query(description="the CSV's encoding, when not detected")] = None
                 ) -> Mapping[str, Any]:
    name = Path(file.filename or "needs.csv").name
    if Path(name).suffix.lower() not in (".csv", ".txt", ".xlsx", ".xlsm"):
        raise InvalidInput(f"file: expected a .csv or .xlsx file, got {name}", details={"field": "file", "file": name})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(file.file.read())
        return ledger_service.import_needs(session, audit.principal, path, encoding=encoding)


@router.get("/ledgers/needs/reach", summary="Resources within a walking radius of each open need; needs with none",
            response_model=NeedsReachPublic)
def needs_reach(session: SessionDep, principal: PrincipalDep, community_code: Community = None,
                district_code: District = None,
                radius_m: Annotated[float, Query(gt=0, le=5000, description="walking metres")] = 500.0
                ) -> Mapping[str, Any]:
    return ledger_service.needs_reach(session, principal, community_code=community_code, district_code=district_code,
                                      radius_m=radius_m)


@router.get("/ledgers/needs/layer", summary="The needs map layer (GeoJSON points: kind, status, counts; no names)",
            response_class=GeoJSONResponse, response_model=NeedsLayerPublic)
def needs_layer(session: SessionDep, principal: PrincipalDep, community_code: Community = None,
                kind_code: str | None = None,
                status: Literal["open", "matched", "in_progress", "closed", "rejected"] | None = None
                ) -> GeoJSONResponse:
    return GeoJSONResponse(ledger_service.needs_geojson(session, principal, community_code=community_code,
                                                        kind_code=kind_code, status=status))


@router.get("/ledgers/needs/{need_id}", summary="One need with its history and projects",
            response_model=NeedDetailPublic)
def get_need(need_id: int, session: SessionDep, audit: CaseAuditDep) -> Mapping[str, Any]:
    return ledger_service.get_need(session, audit.principal, need_id, reason=audit.reason)


@router.post("/ledgers/needs/{need_id}/actions", summary="Close (with outcome), reject or reopen a need",
             response_model=NeedDetailPublic)
def act_on_need(need_id: int, body: NeedAction, session: SessionDep, audit: AuditDep,
                expected: IfMatchDep) -> Mapping[str, Any]:
    return ledger_service.act_on_need(session, audit.principal, need_id, action=body.action, note=body.note,
                                      outcome=body.outcome, expected_version=expected)


@router.post("/ledgers/public/needs", status_code=201, summary="A resident files a need (public form, rate-limited)",
             response_model=NeedFiledPublic)
def file_public_need(body: PublicNeed, request: Request, session: SessionDep, engine: EngineDep,
                     settings: SettingsDep) -> Mapping[str, Any]:
    address = request.client.host if request.client else "unknown"
    ratelimits.hit(engine, f"ledger_form:addr:{address}", limit=settings.open311_filings_per_address,
                   window_seconds=settings.open311_window_seconds, what="needs filed from your address")
    return ledger_service.file_public_need(session, **body.model_dump())


# --- resources ---------------------------------------------------------------------------------


@router.get("/ledgers/resources", summary="Resources in your scope (a unit: its own); contacts masked, audited",
            response_model=ResourceListPublic)
def list_resources(session: SessionDep, audit: CaseAuditDep, community_code: Community = None,
                   include_inactive: bool = False) -> Mapping[str, Any]:
    return {"items": ledger_service.list_resources(session, audit.principal, community_code=community_code,
                                                   reason=audit.reason, include_inactive=include_inactive)}


@router.post("/ledgers/resources", status_code=201, summary="Add a resource (a unit contact: their unit's)",
             response_model=ResourcePublic)
def add_resource(body: ResourceCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.add_resource(session, audit.principal, **body.model_dump())


@router.patch("/ledgers/resources/{resource_id}", summary="Keep a resource up to date (If-Match: its version)",
              response_model=ResourcePublic)
def update_resource(resource_id: int, body: ResourceUpdate, session: SessionDep, audit: AuditDep,
                    expected: IfMatchDep) -> Mapping[str, Any]:
    return ledger_service.update_resource(session, audit.principal, resource_id, expected_version=expected,
                                          changes=body.model_dump(exclude_unset=True))


@router.post("/ledgers/unit-contacts", status_code=201, summary="Link a unit_contact user to their unit (双报到)",
             response_model=UnitContactPublic)
def link_unit_contact(body: UnitContactLink, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.link_unit_contact(session, audit.principal, user_id=body.user_id,
                                            org_unit_id=body.org_unit_id)


# --- projects, claims, volunteers --------------------------------------------------------------


@router.get("/ledgers/projects", summary="Projects in your scope (a unit: those it claimed)",
            response_model=ProjectListPublic)
def list_projects(session: SessionDep, principal: PrincipalDep, community_code: Community = None,
                  status: Literal["planned", "active", "done", "cancelled"] | None = None) -> Mapping[str, Any]:
    return {"items": ledger_service.list_projects(session, principal, community_code=community_code, status=status)}


@router.post("/ledgers/projects", status_code=201, summary="A project meeting a need with resources",
             response_model=ProjectPublic)
def create_project(body: ProjectCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.create_project(session, audit.principal, **body.model_dump())


@router.get("/ledgers/projects/{project_id}", summary="One project: resources, claims, volunteers and hours",
            response_model=ProjectPublic)
def get_project(project_id: int, session: SessionDep, audit: CaseAuditDep) -> Mapping[str, Any]:
    return ledger_service.get_project(session, audit.principal, project_id, reason=audit.reason)


@router.post("/ledgers/projects/{project_id}/actions", summary="Start, finish (outcome) or cancel a project",
             response_model=ProjectPublic)
def act_on_project(project_id: int, body: ProjectAction, session: SessionDep, audit: AuditDep,
                   expected: IfMatchDep) -> Mapping[str, Any]:
    return ledger_service.act_on_project(session, audit.principal, project_id, action=body.action,
                                         outcome=body.outcome, need_outcome=body.need_outcome,
                                         expected_version=expected)


@router.post("/ledgers/projects/{project_id}/claims", status_code=201,
             summary="双报到: a unit or a party member claims the project (or a post of it)",
             response_model=ClaimPublic)
def claim_project(project_id: int, body: ClaimCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.claim_project(session, audit.principal, project_id, org_unit_id=body.org_unit_id,
                                        resident_id=body.resident_id, post=body.post)


@router.post("/ledgers/projects/{project_id}/signups", status_code=201, summary="A volunteer signs up for a post",
             response_model=SignUpPublic)
def sign_up(project_id: int, body: SignUp, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.sign_up(session, audit.principal, project_id, volunteer_id=body.volunteer_id, post=body.post)


@router.put("/ledgers/signups/{shift_id}/hours", summary="Record the hours a volunteer served",
            response_model=HoursPublic)
def record_hours(shift_id: int, body: Hours, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.record_hours(session, audit.principal, shift_id, hours=body.hours,
                                       served_on=body.served_on)


@router.get("/ledgers/volunteers", summary="Volunteers of your communities, phones masked, with hours (audited)",
            response_model=VolunteerListPublic)
def list_volunteers(session: SessionDep, audit: PersonalAuditDep, community_code: Community = None
                    ) -> Mapping[str, Any]:
    return {"items": ledger_service.list_volunteers(session, audit.principal, community_code=community_code,
                                                    reason=audit.reason)}


@router.post("/ledgers/volunteers", status_code=201, summary="Register a volunteer with a community",
             response_model=VolunteerPublic)
def add_volunteer(body: VolunteerCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return ledger_service.add_volunteer(session, audit.principal, **body.model_dump())


# --- a community's lists, export, figures ------------------------------------------------------


@router.get("/ledgers/communities/{code}/lists", summary="A community's three lists (the printable page's data)",
            response_model=CommunityListsPublic)
def community_lists(code: CommunityCode, session: SessionDep,
                    audit: CaseAuditDep) -> Mapping[str, Any]:
    return ledger_service.community_lists(session, audit.principal, code, reason=audit.reason)


@router.get("/ledgers/communities/{code}/export", summary="The three lists as XLSX (three sheets) or one as CSV",
            response_class=Response, responses={200: {"content": {XLSX: BINARY, "text/csv": BINARY}}})
def export_lists(code: CommunityCode, session: SessionDep, audit: CaseAuditDep,
                 format: Literal["xlsx", "csv"] = "xlsx",  # noqa: A002 (the query parameter's name)
                 list: Literal["needs", "resources", "projects"] = "needs") -> Response:  # noqa: A002
    lists = ledger_service.community_lists(session, audit.principal, code, reason=audit.reason)
    data, media, filename = ledger_service.export_lists(lists, fmt=format, which=list)
    return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/stats/ledgers", summary="Per community: needs (by kind, status, met), projects by status, claims, "
                                      "volunteer hours; needs per grid by kind",
            response_model=LedgerStatsPublic)
def ledger_stats(session: SessionDep, principal: PrincipalDep, district_code: District = None) -> Mapping[str, Any]:
    figures = ledger_service.ledger_stats(session, principal, district_code=district_code)
    figures["by_grid"] = ledger_service.needs_by_grid(session, principal, district_code=district_code)
    return figures
