"""Boundary editing: each edit a new version with a reason, optimistic concurrency.

Every write names the version it was based on (``If-Match: "3"`` or ``version``/``versions`` in
the body); a stale one gets 409 with the current version. The work is done by
``gis.services.edits``; these routes only translate HTTP to its keyword arguments.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import AuditDep, IfMatchDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.edits import EditResultPublic
from gis.errors import InvalidInput
from gis.services import edits

router = APIRouter(tags=["edits"], responses=ERROR_RESPONSES)

_REASON = Field(min_length=1, max_length=2000, description="why the boundary changes (kept in its history)")


class BoundaryUpdate(BaseModel):
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon, longitude/latitude (CGCS2000)")
    name: str | None = Field(default=None, min_length=1, max_length=100)
    reason: str = _REASON
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


class BuildingMove(BaseModel):
    building_ids: list[int] = Field(min_length=1)
    to_grid: str = Field(pattern=r"^[0-9]{15}$")
    reason: str = _REASON
    versions: dict[str, int] = Field(description="the version you read of both grids: {code: version}")


class GridSplit(BaseModel):
    line: dict[str, Any] = Field(description="GeoJSON LineString crossing the grid from edge to edge (lon/lat)")
    reason: str = _REASON
    names: list[str] | None = Field(default=None, description="names of the two new grids, in code order")
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


class GridMerge(BaseModel):
    codes: list[str] = Field(min_length=2, description="the grids to merge; the first code continues")
    reason: str = _REASON
    versions: dict[str, int] = Field(description="the version you read of every grid: {code: version}")
    name: str | None = Field(default=None, min_length=1, max_length=100)


def _version(if_match: int | None, body_version: int | None) -> int | None:
    if if_match is not None and body_version is not None and if_match != body_version:
        raise InvalidInput(f"If-Match says version {if_match} but the body says {body_version}; send one version")
    return if_match if if_match is not None else body_version


def _update(level: str, code: str, body: BoundaryUpdate, session: SessionDep, settings: SettingsDep,
            audit: AuditDep, if_match: int | None, response: Response) -> edits.EditResult:
    result = edits.update_boundary(session, level=level, code=code, geometry=body.geometry, name=body.name,
                                   reason=body.reason, expected_version=_version(if_match, body.version),
                                   principal=audit.principal, request_id=audit.request_id, settings=settings)
    response.headers["ETag"] = f'"{result["version"]}"'
    return result


@router.patch("/communities/{code}", summary="Redraw a community (a new version; If-Match: version)",
              response_model=EditResultPublic)
def update_community(code: str, body: BoundaryUpdate, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                     if_match: IfMatchDep, response: Response) -> edits.EditResult:
    return _update("community", code, body, session, settings, audit, if_match, response)


@router.patch("/grids/{code}", summary="Redraw a grid (a new version; If-Match: version)",
              response_model=EditResultPublic)
def update_grid(code: str, body: BoundaryUpdate, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                if_match: IfMatchDep, response: Response) -> edits.EditResult:
    return _update("grid", code, body, session, settings, audit, if_match, response)


@router.post("/grids/merge", summary="Merge bordering grids of one community",
             response_model=EditResultPublic)
def merge_grids(body: GridMerge, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                response: Response) -> edits.EditResult:
    result = edits.merge_grids(session, codes=body.codes, reason=body.reason, versions=body.versions, name=body.name,
                               principal=audit.principal, request_id=audit.request_id, settings=settings)
    response.headers["ETag"] = f'"{result["version"]}"'
    return result


@router.post("/grids/{code}/move-buildings", summary="Move whole buildings to a bordering grid",
             response_model=EditResultPublic)
def move_buildings(code: str, body: BuildingMove, session: SessionDep, settings: SettingsDep,
                   audit: AuditDep) -> edits.EditResult:
    return edits.move_buildings(session, from_grid=code, building_ids=body.building_ids, to_grid=body.to_grid,
                                reason=body.reason, versions=body.versions, principal=audit.principal,
                                request_id=audit.request_id, settings=settings)


@router.post("/grids/{code}/split", summary="Split a grid in two along a line (new codes)",
             response_model=EditResultPublic)
def split_grid(code: str, body: GridSplit, session: SessionDep, settings: SettingsDep, audit: AuditDep,
               if_match: IfMatchDep) -> edits.EditResult:
    return edits.split_grid(session, code=code, line=body.line, reason=body.reason, names=body.names,
                            expected_version=_version(if_match, body.version), principal=audit.principal,
                            request_id=audit.request_id, settings=settings)


class CommunitySplit(BaseModel):
    line: dict[str, Any] = Field(description="GeoJSON LineString crossing the community from edge to edge (lon/lat)")
    reason: str = _REASON
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="name of the new community (the part with fewer households)")
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


class CommunityMerge(BaseModel):
    codes: list[str] = Field(min_length=2, description="the communities to merge (撤并); the first code continues")
    reason: str = _REASON
    versions: dict[str, int] = Field(description="the version you read of every community: {code: version}")
    name: str | None = Field(default=None, min_length=1, max_length=100)


@router.post("/communities/{code}/split", summary="Split a community in two along a line (the new part's code is "
                                                  "provisional; its grids retire)", response_model=EditResultPublic)
def split_community(code: str, body: CommunitySplit, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                    if_match: IfMatchDep) -> edits.EditResult:
    return edits.split_community(session, code=code, line=body.line, reason=body.reason, name=body.name,
                                 expected_version=_version(if_match, body.version), principal=audit.principal,
                                 request_id=audit.request_id, settings=settings)


@router.post("/communities/merge", summary="Merge bordering communities of one street (撤并; their grids retire)",
             response_model=EditResultPublic)
def merge_communities(body: CommunityMerge, session: SessionDep, settings: SettingsDep, audit: AuditDep,
                      response: Response) -> edits.EditResult:
    result = edits.merge_communities(session, codes=body.codes, reason=body.reason, versions=body.versions,
                                     name=body.name, principal=audit.principal, request_id=audit.request_id,
                                     settings=settings)
    response.headers["ETag"] = f'"{result["version"]}"'
    return result
