"""Coverage runs, gaps and siting.

A run measures, for every residential building and facility type, the walk to the nearest
facility (GB 50180-2018 radii) and stores the figures per street, community and grid. Computing
one for a large district takes a while: send ``"background": true`` to get a job (202).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.geojson import GeoJSONResponse, feature_collection, paged_json
from api.routes.jobs import JOB_STARTED, JobsDep, start_job
from api.schemas.common import Page as PageOf
from api.schemas.coverage import (
    CoverageRunCreatedPublic,
    CoverageRunPublic,
    CoverageRunSummaryPublic,
    GapsPublic,
    IsochronesPublic,
    SitesPublic,
    SupplyPublic,
    WhatIfPublic,
)
from gis.errors import InvalidInput, NotFound
from gis.services import coverage as coverage_service
from gis.services import resources
from gis.services.jobs import job_kind
from gis.services.resources import Page

router = APIRouter(tags=["coverage"], responses=ERROR_RESPONSES)

MAX_SITES = 50
MAX_TIME_LIMIT_S = 300.0


class CoverageRunCreate(BaseModel):
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$",
                                      description="6-digit district (default: the only one loaded)")
    types: list[str] | None = Field(default=None, description="facility type codes (default: the whole catalogue)")
    mode: Literal["network", "straight_line"] = Field(
        default="network", description="network (walking) or straight_line (a draft that overstates coverage)")
    background: bool = Field(default=False, description="run as a job: 202 with its id")


class SiteRequest(BaseModel):
    type_code: str = Field(description="facility type, e.g. elderly_daycare")
    k: int = Field(default=3, ge=1, le=MAX_SITES, description="how many new sites")
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    exact: bool = Field(default=False, description="also solve the exact MCLP (HiGHS); never worse than greedy")
    capacity: float | None = Field(default=None, gt=0, le=coverage_service.MAX_PLACES,
                                   description="places per facility: count people served")
    candidates: list[tuple[float, float]] | None = Field(
        default=None, description="candidate [lon, lat] points (default: building points near uncovered people)")
    time_limit_s: float = Field(default=60.0, gt=0, le=MAX_TIME_LIMIT_S, description="seconds the exact solver may "
                                                                                      "take")
    cover_all: bool = Field(default=False, description="the least number of new sites so every reachable target "
                                                       "household is within the radius (set covering); k is ignored")


def _run_district(session: Session, run_id: int) -> tuple[str, list[str]]:
    row = session.execute(text("SELECT district_code, type_codes FROM coverage_run WHERE id = :id"),
                          {"id": run_id}).first()
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist", details={"run_id": run_id})
    return row[0], list(row[1])


@router.get("/coverage/runs", summary="Stored coverage runs, newest first",
            response_model=PageOf[CoverageRunSummaryPublic])
def list_runs(request: Request, session: SessionDep,
              district_code: Annotated[str | None, Query(description="6-digit district code")] = None,
              type: Annotated[str | None, Query(description="only runs covering this facility type")] = None,
              mode: Annotated[str | None, Query(description="network or straight_line")] = None,
              limit: int = resources.DEFAULT_LIMIT, offset: int = 0) -> JSONResponse:
    resources.check_page(limit, offset)
    rows, total = coverage_service.list_runs(session, district_code=district_code, type_code=type, mode=mode,
                                             limit=limit, offset=offset)
    items = [{**r, "href": f"/coverage/runs/{r['id']}"} for r in rows]
    return paged_json(request, Page(items, total, limit, offset))


@router.get("/coverage/runs/{run_id}", summary="A run's figures per type and per street, community and grid",
            response_model=CoverageRunPublic)
def get_run(run_id: int, session: SessionDep) -> dict[str, Any]:
    report = coverage_service.run_report(session, run_id)
    return {**report, "links": {f"gaps_{t}": f"/coverage/runs/{run_id}/gaps?type={t}" for t in report["type_codes"]}}


@router.get("/coverage/runs/{run_id}/gaps", summary="Gap areas (and uncovered buildings) of one type as GeoJSON",
            response_class=GeoJSONResponse, response_model=GapsPublic)
def get_gaps(run_id: int, session: SessionDep,
             type: Annotated[str | None, Query(description="facility type (default: the run's only type)")] = None,
             top: Annotated[int | None, Query(ge=1, description="only the N largest gaps")] = None,
             max_span_m: Annotated[float | None, Query(gt=0, description="widest gap in metres (default: the "
                                                                          "walking radius)")] = None,
             buildings: Annotated[bool, Query(description="also the uncovered buildings' footprints")] = False,
             ) -> GeoJSONResponse:
    district, types = _run_district(session, run_id)
    if type is None:
        if len(types) != 1:
            raise InvalidInput(f"type: run {run_id} covers {len(types)} types ({', '.join(types)}); name one",
                               details={"field": "type", "types": types})
        type = types[0]
    if type not in types:
        raise InvalidInput(f"type: run {run_id} does not cover {type!r}; it covers {', '.join(types)}",
                           details={"field": "type", "types": types})
    gaps = coverage_service.coverage_gaps(session, type_code=type, district_code=district, run_id=run_id,
                                          max_span_m=max_span_m, top=top)
    features = [{**f, "id": f"gap-{f['properties']['rank']}",
                 "properties": {"feature": "gap", "type_code": type, **f["properties"]}}
                for f in gaps["geojson"]["features"]]
    if buildings:
        features += coverage_service.uncovered_buildings(session, run_id, type)
    members = {k: v for k, v in gaps.items() if k not in ("geojson", "gaps", "computed_now")}
    return GeoJSONResponse(feature_collection(features, **members))


@router.post("/coverage/runs", status_code=201, summary="Compute coverage for a district and store it as a run",
             responses=JOB_STARTED, response_model=CoverageRunCreatedPublic)
def create_run(body: CoverageRunCreate, session: SessionDep, principal: PrincipalDep, jobs: JobsDep) -> JSONResponse:
    # Cheap checks now, so that a typo answers at once rather than as a failed job.
    code, _, _ = coverage_service.resolve_district(session, body.district_code)
    catalogue = coverage_service.facility_types(session)
    unknown = [t for t in body.types or [] if t not in catalogue]
    if unknown:
        raise InvalidInput(f"types: unknown facility type {', '.join(unknown)}; see /facility-types",
                           details={"field": "types", "unknown": unknown})
    parameters = {**body.model_dump(mode="json", exclude={"background"}), "district_code": code}
    if body.background:
        return start_job(jobs, principal, kind="coverage_run", parameters=parameters)
    result = run_coverage(session, lambda _stage, _fraction: None, settings=None, owner_id=principal.user_id,
                          **parameters)
    return JSONResponse(result, status_code=201, headers={"Location": result["href"]})


# The work of a coverage run, answered at once or run as a background job by any server process.
@job_kind("coverage_run", links=lambda result: [result["href"]])
def run_coverage(session: Session, progress: Any, *, settings: Any, owner_id: int | None, district_code: str,
                 types: list[str] | None = None, mode: str = "network") -> dict[str, Any]:
    report = coverage_service.compute_coverage(session, district_code=district_code, types=types, mode=mode,
                                               progress=progress)
    run_id = report["run_id"]
    assert run_id is not None, "compute_coverage stores the run (store=True): it has an id"
    coverage_service.set_run_owner(session, run_id, owner_id)
    return {"run_id": run_id, "href": f"/coverage/runs/{run_id}", **report}


@router.post("/coverage/site", summary="Suggest sites for new facilities that newly cover the most people",
             response_model=SitesPublic)
def suggest_sites(body: SiteRequest, session: SessionDep
                  ) -> coverage_service.SiteSuggestion | coverage_service.CoverAll:
    for i, (lon, lat) in enumerate(body.candidates or []):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"candidates[{i}]: [{lon}, {lat}] is not a [lon, lat] point",
                               details={"field": f"candidates.{i}"})
    if body.candidates is not None and not body.candidates:
        raise InvalidInput("candidates: give at least one [lon, lat] point, or leave it out",
                           details={"field": "candidates"})
    if body.cover_all:
        if body.capacity is not None or body.exact:
            raise InvalidInput("cover_all is a set covering of its own: leave out capacity and exact",
                               details={"field": "cover_all"})
        return coverage_service.cover_all_sites(session, type_code=body.type_code, district_code=body.district_code,
                                                candidates=body.candidates, time_limit_s=body.time_limit_s)
    return coverage_service.suggest_sites(session, type_code=body.type_code, k=body.k,
                                          district_code=body.district_code, exact=body.exact,
                                          capacity=body.capacity, candidates=body.candidates,
                                          time_limit_s=body.time_limit_s)


class WhatIfRequest(BaseModel):
    type_code: str = Field(description="facility type, e.g. kindergarten")
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    add: tuple[float, float] | None = Field(default=None, description="[lon, lat] of a new facility")
    remove: int | None = Field(default=None, description="id of a facility taken away")
    move: tuple[int, float, float] | None = Field(default=None, description="[facility id, lon, lat]: a facility "
                                                                            "moved to a new place")


@router.post("/coverage/what-if", summary="Coverage of one type before and after adding, moving or removing a facility "
                                          "(nothing is stored)", response_model=WhatIfPublic)
def what_if(body: WhatIfRequest, session: SessionDep) -> coverage_service.WhatIfResult:
    if body.add is not None and not (-180 <= body.add[0] <= 180 and -90 <= body.add[1] <= 90):
        raise InvalidInput(f"add: [{body.add[0]}, {body.add[1]}] is not a [lon, lat] point", details={"field": "add"})
    if body.move is not None and not (-180 <= body.move[1] <= 180 and -90 <= body.move[2] <= 90):
        raise InvalidInput(f"move: [{body.move[1]}, {body.move[2]}] is not a [lon, lat] point",
                           details={"field": "move"})
    return coverage_service.what_if(session, type_code=body.type_code, district_code=body.district_code,
                                    add=body.add, remove=body.remove, move=body.move)


@router.get("/coverage/supply", summary="Places needed (千人指标 × residents) against places provided, per community "
                                        "or street, shortfall first", response_model=SupplyPublic)
def supply(session: SessionDep,
           type_code: Annotated[str | None, Query(description="one facility type (default: every type with a "
                                                              "capacity_per_1000)")] = None,
           level: Annotated[Literal["community", "street"], Query()] = "community",
           per: Annotated[Literal["residents", "target_group"], Query(
               description="residents (千人指标) or target_group (a place per person of the group)")] = "residents",
           district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None) -> coverage_service.SupplyDemand:
    return coverage_service.supply_demand(session, type_code=type_code, level=level, per=per,
                                          district_code=district_code)


@router.get("/coverage/isochrones", summary="Walking isochrones of a type's facilities as GeoJSON (display only)",
            response_class=GeoJSONResponse, response_model=IsochronesPublic)
def isochrones(session: SessionDep, type_code: Annotated[str, Query(description="facility type")],
               district_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
               mode: Annotated[Literal["network", "straight_line"], Query()] = "network") -> GeoJSONResponse:
    return GeoJSONResponse(coverage_service.facility_isochrones(session, district_code=district_code,
                                                                type_code=type_code, mode=mode))
