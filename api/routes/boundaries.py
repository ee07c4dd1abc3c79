"""Streets, communities, grids (current and as of a date), buildings, compounds, facilities.

Lists filter by ``bbox`` (minlon,minlat,maxlon,maxlat), code prefix, parent and attributes,
and page with ``limit``/``offset``; geometry comes back as RFC 7946 GeoJSON (lon/lat).
Single resources send ``ETag: "<version>"``; facility edits take it back as ``If-Match``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import AuditDep, IfMatchDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.geojson import GeoJSONResponse, feature_response, page_response, paged_json
from api.schemas.boundaries import (
    BoundaryHistoryPublic,
    BuildingPropertiesPublic,
    CommunityPropertiesPublic,
    CompoundPropertiesPublic,
    DistrictPublic,
    FacilityPropertiesPublic,
    FacilityTypeListPublic,
    GridPropertiesPublic,
    StreetPropertiesPublic,
)
from api.schemas.common import Feature, Page, PagedFeatureCollection
from gis.errors import InvalidInput
from gis.services import coverage as coverage_service
from gis.services import plans as plan_service
from gis.services import privacy, resources
from gis.services import users as user_service

router = APIRouter(tags=["boundaries"], responses=ERROR_RESPONSES)

BboxQuery = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (EPSG:4490 ≈ WGS84 lon/lat)",
                                        examples=["118.77,32.03,118.80,32.06"])]
CodeQuery = Annotated[str | None, Query(description="code prefix, e.g. 320102003 for the units of one street")]
AtQuery = Annotated[dt.datetime | None, Query(description="the version valid at this moment, with its time zone, "
                                                          "e.g. 2026-03-01T00:00:00+08:00 (default: current)")]
DistrictQuery = Annotated[str | None, Query(description="6-digit district code")]
StreetQuery = Annotated[str | None, Query(description="9-digit street code")]
CommunityQuery = Annotated[str | None, Query(description="12-digit community code")]
GridQuery = Annotated[str | None, Query(description="15-digit grid code")]
Limit = Annotated[int, Query(description=f"page size, 1 to {resources.MAX_LIMIT}")]
Offset = Annotated[int, Query(description="rows to skip")]


def _version(feature: Mapping[str, Any]) -> Any:
    return feature["properties"].get("version")


# --- districts and boundaries -----------------------------------------------------------------


@router.get("/districts", summary="Districts with their extent and counts", response_model=Page[DistrictPublic])
def list_districts(request: Request, session: SessionDep, limit: Limit = resources.DEFAULT_LIMIT,
                   offset: Offset = 0) -> JSONResponse:
    return paged_json(request, resources.list_districts(session, limit=limit, offset=offset))


@router.get("/streets", summary="Streets (街道) as GeoJSON", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[StreetPropertiesPublic])
def list_streets(request: Request, session: SessionDep, bbox: BboxQuery = None, code: CodeQuery = None,
                 district_code: DistrictQuery = None, at: AtQuery = None, limit: Limit = resources.DEFAULT_LIMIT,
                 offset: Offset = 0) -> GeoJSONResponse:
    page = resources.list_units(session, "street", bbox=resources.parse_bbox(bbox), code=code,
                                district_code=district_code, at=at, limit=limit, offset=offset)
    return page_response(request, page)


@router.get("/streets/{code}", summary="One street as a GeoJSON Feature", response_class=GeoJSONResponse,
            response_model=Feature[StreetPropertiesPublic])
def get_street(code: str, session: SessionDep, at: AtQuery = None) -> GeoJSONResponse:
    feature = resources.get_unit(session, "street", code, at=at)
    return feature_response(feature, etag=_version(feature))


@router.get("/communities", summary="Communities (社区) as GeoJSON, with households", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[CommunityPropertiesPublic])
def list_communities(request: Request, session: SessionDep, bbox: BboxQuery = None, code: CodeQuery = None,
                     district_code: DistrictQuery = None, street_code: StreetQuery = None, at: AtQuery = None,
                     limit: Limit = resources.DEFAULT_LIMIT, offset: Offset = 0) -> GeoJSONResponse:
    page = resources.list_units(session, "community", bbox=resources.parse_bbox(bbox), code=code,
                                district_code=district_code, street_code=street_code, at=at, limit=limit,
                                offset=offset)
    return page_response(request, page)


@router.get("/communities/{code}", summary="One community as a GeoJSON Feature", response_class=GeoJSONResponse,
            response_model=Feature[CommunityPropertiesPublic])
def get_community(code: str, session: SessionDep, at: AtQuery = None) -> GeoJSONResponse:
    feature = resources.get_unit(session, "community", code, at=at)
    return feature_response(feature, etag=_version(feature))


@router.get("/grids", summary="Grids (网格) as GeoJSON, with households", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[GridPropertiesPublic])
def list_grids(request: Request, session: SessionDep, bbox: BboxQuery = None, code: CodeQuery = None,
               district_code: DistrictQuery = None, street_code: StreetQuery = None,
               community_code: CommunityQuery = None,
               kind: Annotated[str | None, Query(description="general or dedicated")] = None,
               level: Annotated[int | None, Query(description="1 or 2")] = None, at: AtQuery = None,
               limit: Limit = resources.DEFAULT_LIMIT, offset: Offset = 0) -> GeoJSONResponse:
    page = resources.list_units(session, "grid", bbox=resources.parse_bbox(bbox), code=code,
                                district_code=district_code, street_code=street_code, community_code=community_code,
                                kind=kind, grid_level=level, at=at, limit=limit, offset=offset)
    return page_response(request, page)


@router.get("/grids/{code}", summary="One grid as a GeoJSON Feature", response_class=GeoJSONResponse,
            response_model=Feature[GridPropertiesPublic])
def get_grid(code: str, session: SessionDep, at: AtQuery = None) -> GeoJSONResponse:
    feature = resources.get_unit(session, "grid", code, at=at)
    return feature_response(feature, etag=_version(feature))


@router.get("/grids/{code}/history", summary="Every version of a grid, oldest first, with reason, plan and approver",
            response_model=BoundaryHistoryPublic)
def grid_history(code: str, session: SessionDep) -> plan_service.BoundaryHistory:
    if not (code.isdigit() and len(code) == 15):
        raise InvalidInput(f"code: expected a 15-digit grid code; got {code!r}", details={"field": "code"})
    return plan_service.boundary_history(session, code)


# --- buildings and compounds --------------------------------------------------------------------


@router.get("/buildings", summary="Building footprints with households", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[BuildingPropertiesPublic])
def list_buildings(request: Request, session: SessionDep, bbox: BboxQuery = None, district_code: DistrictQuery = None,
                   street_code: StreetQuery = None, community_code: CommunityQuery = None,
                   grid_code: GridQuery = None, compound_id: int | None = None,
                   households_source: Annotated[str | None, Query(description="recorded or estimated")] = None,
                   kind: str | None = None, min_households: int | None = None,
                   limit: Limit = resources.DEFAULT_LIMIT, offset: Offset = 0) -> GeoJSONResponse:
    page = resources.list_buildings(session, bbox=resources.parse_bbox(bbox), district_code=district_code,
                                    street_code=street_code, community_code=community_code, grid_code=grid_code,
                                    compound_id=compound_id, households_source=households_source, kind=kind,
                                    min_households=min_households, limit=limit, offset=offset)
    return page_response(request, page)


@router.get("/buildings/{building_id}", summary="One building as a GeoJSON Feature", response_class=GeoJSONResponse,
            response_model=Feature[BuildingPropertiesPublic])
def get_building(building_id: int, session: SessionDep) -> GeoJSONResponse:
    return feature_response(resources.get_building(session, building_id))


@router.get("/compounds", summary="Residential compounds (小区) as GeoJSON", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[CompoundPropertiesPublic])
def list_compounds(request: Request, session: SessionDep, bbox: BboxQuery = None,
                   district_code: DistrictQuery = None, name: str | None = None,
                   limit: Limit = resources.DEFAULT_LIMIT, offset: Offset = 0) -> GeoJSONResponse:
    page = resources.list_compounds(session, bbox=resources.parse_bbox(bbox), district_code=district_code, name=name,
                                    limit=limit, offset=offset)
    return page_response(request, page)


# --- facilities -----------------------------------------------------------------------------------


@router.get("/facility-types", summary="The facility catalogue (GB 50180-2018 life circles)",
            response_model=FacilityTypeListPublic)
def list_facility_types(session: SessionDep) -> dict[str, Any]:
    items = coverage_service.list_facility_types(session)
    return {"items": items, "total": len(items)}


@router.get("/facilities", summary="Facilities as GeoJSON points", response_class=GeoJSONResponse,
            response_model=PagedFeatureCollection[FacilityPropertiesPublic])
def list_facilities(request: Request, session: SessionDep, bbox: BboxQuery = None,
                    district_code: DistrictQuery = None, community_code: CommunityQuery = None,
                    grid_code: GridQuery = None,
                    type: Annotated[str | None, Query(description="type codes, comma-separated")] = None,
                    life_circle: Annotated[str | None, Query(description="5min, 10min, 15min or block")] = None,
                    source: str | None = None, limit: Limit = resources.DEFAULT_LIMIT,
                    offset: Offset = 0) -> GeoJSONResponse:
    types = [t.strip() for t in type.split(",") if t.strip()] if type else None
    page = resources.list_facilities(session, bbox=resources.parse_bbox(bbox), district_code=district_code,
                                     community_code=community_code, grid_code=grid_code, types=types,
                                     life_circle=life_circle, source=source, limit=limit, offset=offset)
    return page_response(request, page)


@router.get("/facilities/{facility_id}", summary="One facility as a GeoJSON Feature", response_class=GeoJSONResponse,
            response_model=Feature[FacilityPropertiesPublic])
def get_facility(facility_id: int, session: SessionDep) -> GeoJSONResponse:
    feature = resources.get_facility(session, facility_id)
    return feature_response(feature, etag=_version(feature))


class FacilityCreate(BaseModel):
    type_code: str = Field(description="a code of /facility-types, e.g. kindergarten")
    geometry: dict[str, Any] = Field(description='a GeoJSON Point in lon/lat: {"type": "Point", "coordinates": '
                                                 '[118.79, 32.04]}')
    name: str | None = Field(default=None, max_length=200)
    district_code: str | None = Field(default=None, description="6-digit district (default: the one the point is in)")
    capacity: int | None = None
    floor_area_m2: float | None = None
    address: str | None = None


class FacilityUpdate(BaseModel):
    type_code: str | None = None
    geometry: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=200)
    capacity: int | None = None
    floor_area_m2: float | None = None
    address: str | None = None
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


@router.post("/facilities", status_code=201, summary="Add a facility (marks the district's coverage runs stale)",
             response_class=GeoJSONResponse, response_model=Feature[FacilityPropertiesPublic])
def create_facility(body: FacilityCreate, session: SessionDep, audit: AuditDep) -> GeoJSONResponse:
    if body.district_code is not None:
        user_service.require_district(audit.principal, body.district_code, "a facility")
    feature = resources.create_facility(session, **body.model_dump())
    props = feature["properties"]
    # The district of a point: known only once the service has placed it (the transaction rolls back).
    user_service.require_district(audit.principal, props["district_code"], f"facility {feature['id']}")
    privacy.record_change(session, audit.principal, entity="facility", entity_id=feature["id"], action="create",
                          district_code=props["district_code"], request_id=audit.request_id,
                          detail={"type_code": props["type_code"]})
    return feature_response(feature, etag=props["version"], status_code=201,
                            headers={"Location": f"/facilities/{feature['id']}"})


@router.patch("/facilities/{facility_id}", summary="Change a facility (If-Match: version)",
              response_class=GeoJSONResponse, response_model=Feature[FacilityPropertiesPublic])
def update_facility(facility_id: int, body: FacilityUpdate, session: SessionDep, audit: AuditDep,
                    if_match: IfMatchDep) -> GeoJSONResponse:
    version = if_match if if_match is not None else body.version
    if version is None:
        raise InvalidInput("send the version you read, as If-Match or in the body, so no change is overwritten",
                           details={"field": "version"})
    changes = {k: v for k, v in body.model_dump(exclude={"version"}).items() if k in body.model_fields_set}
    for required in ("type_code", "geometry"):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required}: a facility always has one; send a new value, not null",
                               details={"field": required})
    before = resources.get_facility(session, facility_id)
    user_service.require_district(audit.principal, before["properties"]["district_code"], f"facility {facility_id}")
    feature = resources.update_facility(session, facility_id, expected_version=version, changes=changes)
    user_service.require_district(audit.principal, feature["properties"]["district_code"], f"facility {facility_id}")
    privacy.record_change(session, audit.principal, entity="facility", entity_id=facility_id, action="update",
                          district_code=feature["properties"]["district_code"], request_id=audit.request_id,
                          detail={"fields": sorted(changes)})
    return feature_response(feature, etag=feature["properties"]["version"])

