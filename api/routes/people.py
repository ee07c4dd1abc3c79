"""Residents and households: personal data, grid-scoped, masked, audited; aggregates per grid.

Thin: scope, masking and audit rows are the services' (gis.services.residents), so the CLI
gets the same guarantees. Every route that returns or counts people requires ``X-Access-Reason``
(percent-encoded UTF-8 for Chinese), kept in the audit row: none, and the answer is 428.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AuditContext, IfMatchDep, PersonalAuditDep, PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.geojson import GEOJSON, GeoJSONResponse
from api.schemas.common import inline_schema
from api.schemas.people import (
    GridStatsPublic,
    HouseholdDetailPublic,
    HouseholdListPublic,
    ResidentFeaturesPublic,
    ResidentListPublic,
    ResidentPublic,
)
from gis.errors import InvalidInput
from gis.services import residents as resident_service
from gis.services.residents import Reader

router = APIRouter(tags=["people"], responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(description=f"page size, 1 to {resident_service.MAX_PAGE}")]
Offset = Annotated[int, Query(description="rows to skip")]
Format = Annotated[Literal["json", "geojson"], Query(alias="format",
                                                     description="geojson: residents at their building's point")]


def reader_of(audit: AuditContext) -> Reader:
    """The services' view of who reads and why."""
    return Reader(principal=audit.principal, reason=audit.reason, request_id=audit.request_id,
                  client_ip=audit.client_ip)


class ResidentFilters(BaseModel):
    """Filters shared by the resident list, its GeoJSON and the CSV export."""

    grid_code: str | None = Field(default=None, description="15-digit grid code")
    building_id: int | None = None
    household_id: int | None = None
    tag: str | None = Field(default=None, description="e.g. elderly_alone")
    q: str | None = Field(default=None, description="a part of the name")
    residency: Literal["permanent", "floating", "overseas"] | None = None
    min_age: int | None = Field(default=None, ge=0, le=150)
    max_age: int | None = Field(default=None, ge=0, le=150)


class ResidentUpdate(BaseModel):
    """What a grid worker keeps up to date; fields left out are unchanged, null clears."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = None
    tags: list[str] | None = None
    residency: Literal["permanent", "floating", "overseas"] | None = None
    relation: str | None = Field(default=None, max_length=20)
    party_member: bool | None = None
    health_notes: str | None = Field(default=None, max_length=2000)
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


@router.get("/residents", summary="Residents within your grids (masked; audited)", response_model=ResidentListPublic,
            responses={200: {"content": {GEOJSON: {"schema": inline_schema(ResidentFeaturesPublic)}},
                             "description": "JSON, or GeoJSON with format=geojson"}})
def list_residents(session: SessionDep, audit: PersonalAuditDep, filters: Annotated[ResidentFilters, Query()],
                   output: Format = "json", limit: Limit = 100, offset: Offset = 0) -> Any:
    args = filters.model_dump()
    if output == "geojson":
        return GeoJSONResponse(resident_service.residents_geojson(session, reader_of(audit), **args, limit=limit,
                                                               offset=offset))
    return resident_service.list_residents(session, reader_of(audit), **args, limit=limit, offset=offset)


# Registered before /residents/{resident_id}, which would otherwise take "export" as an id.
@router.get("/residents/export", summary="Residents within your grids as CSV (masked; audited)",
            response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}})
def export_residents(session: SessionDep, audit: PersonalAuditDep,
                     filters: Annotated[ResidentFilters, Query()]) -> Response:
    body, count = resident_service.export_residents_csv(session, reader_of(audit), **filters.model_dump())
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="residents.csv"',
                             "X-Total-Count": str(count)})


@router.get("/residents/{resident_id}", summary="One resident (masked; audited)", response_model=ResidentPublic)
def get_resident(resident_id: int, session: SessionDep, audit: PersonalAuditDep,
                 response: Response) -> Mapping[str, Any]:
    record = resident_service.get_resident(session, reader_of(audit), resident_id)
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


@router.patch("/residents/{resident_id}", summary="Update a resident's phone, tags, residency... (If-Match)",
              response_model=ResidentPublic)
def update_resident(resident_id: int, body: ResidentUpdate, session: SessionDep, audit: PersonalAuditDep,
                    if_match: IfMatchDep, response: Response) -> Mapping[str, Any]:
    version = if_match if if_match is not None else body.version
    if version is None:
        raise InvalidInput("version: send the version you read, as If-Match or in the body, so no change is "
                           "overwritten", details={"field": "version"})
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    if not changes:
        raise InvalidInput(f"nothing to change: send one or more of {', '.join(resident_service.EDITABLE)}")
    record = resident_service.update_resident(session, reader_of(audit), resident_id, expected_version=version,
                                              changes=changes)
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


@router.get("/households", summary="Households within your grids (audited)", response_model=HouseholdListPublic)
def list_households(session: SessionDep, audit: PersonalAuditDep, grid_code: str | None = None,
                    building_id: int | None = None, limit: Limit = 100, offset: Offset = 0) -> Mapping[str, Any]:
    return resident_service.list_households(session, reader_of(audit), grid_code=grid_code,
                                            building_id=building_id, limit=limit, offset=offset)


@router.get("/households/{household_id}", summary="One household and its members (masked; audited)",
            response_model=HouseholdDetailPublic)
def get_household(household_id: int, session: SessionDep, audit: PersonalAuditDep) -> Mapping[str, Any]:
    return resident_service.get_household(session, reader_of(audit), household_id)


@router.get("/buildings/{building_id}/residents", summary="The residents of a building within your grids (audited)",
            response_model=ResidentListPublic)
def building_residents(building_id: int, session: SessionDep, audit: PersonalAuditDep, limit: Limit = 100,
                       offset: Offset = 0) -> Mapping[str, Any]:
    return resident_service.building_residents(session, reader_of(audit), building_id, limit=limit, offset=offset)


@router.get("/stats/grids", summary="Per grid: households, residents, elderly, children, party members, tags, "
                                   "data quality (recorded vs estimated); per community: data quality",
            response_model=GridStatsPublic)
def grid_stats(session: SessionDep, principal: PrincipalDep,
               district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
               code_prefix: Annotated[str | None, Query(description="grid codes starting with these digits")] = None
               ) -> Mapping[str, Any]:
    items = resident_service.grid_stats(session, principal, district_code=district_code, code_prefix=code_prefix)
    return {"items": items, "communities": resident_service.community_quality(items)}
