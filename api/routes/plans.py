"""Plans: grid and community suggestions, diffs, adoption.

Suggestions are stored as draft plans; nothing changes a boundary until a plan is adopted with
a reason. Suggesting grids for every community of a district, or communities for a district,
can take minutes: send ``"background": true`` to get a job (202, ``Location: /jobs/{id}``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.deps import AuditDep, IfMatchDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.geojson import paged_json
from api.routes.jobs import JOB_STARTED, JobsDep, start_job
from api.schemas.common import Page as PageOf
from api.schemas.plans import (
    AdoptionPublic,
    CommunityCodePublic,
    PlanApprovalsPublic,
    PlanDiffPublic,
    PlanPublic,
    PlanStepPublic,
    PlanSummaryPublic,
    SuggestionsPublic,
)
from gis.errors import InvalidInput, NotFound
from gis.services import approvals as approval_service
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.services import privacy, resources
from gis.services import users as user_service
from gis.services.jobs import job_kind
from gis.services.resources import Page

router = APIRouter(tags=["plans"], responses=ERROR_RESPONSES)

CommunityCode = Field(default=None, pattern=r"^[0-9]{12}$", description="12-digit community code")
DistrictCode = Field(default=None, pattern=r"^[0-9]{6}$", description="6-digit district code")


class GridSuggestionRequest(BaseModel):
    community_code: str | None = CommunityCode
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$",
                                      description="every community of this district (implies all)")
    all: bool = Field(default=False, description="every current community (of district_code when given)")
    min: int | None = Field(default=None, gt=0, description="fewest households per grid (default: settings)")
    max: int | None = Field(default=None, gt=0, description="most households per grid (default: settings)")
    keep_current: bool = Field(default=False, description="start from today's grids and move few households")
    locked: list[str] = Field(default_factory=list, description="grid codes kept exactly as they are")
    allow_crossing: list[str] = Field(default_factory=list, description="main roads a grid may cross, by name")
    seed: int = Field(default=0, ge=0, description="the same seed gives the same plan")
    background: bool = Field(default=False, description="run as a job: 202 with its id")


class CommunitySuggestionRequest(BaseModel):
    street_code: str | None = Field(default=None, pattern=r"^[0-9]{9}$", description="9-digit street code")
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$",
                                      description="a district without streets, as one area")
    min: int | None = Field(default=None, gt=0)
    max: int | None = Field(default=None, gt=0)
    keep_current: bool = False
    allow_crossing: list[str] = Field(default_factory=list)
    seed: int = Field(default=0, ge=0, description="the same seed gives the same plan")
    background: bool = False


class PlanAdopt(BaseModel):
    reason: str = Field(min_length=1, description="why (kept in the boundary history)")
    allow_out_of_range: bool = Field(default=False, description="adopt general units outside the household bounds "
                                                                 "(recorded in the reason)")
    version: int | None = Field(default=None, description="the plan version you read; or send If-Match")


def _check_bounds(lo: int | None, hi: int | None) -> None:
    if lo is not None and hi is not None and hi < lo:
        raise InvalidInput(f"min and max: min must not exceed max; got min {lo}, max {hi}",
                           details={"field": "max"})


def _with_links(summary: Mapping[str, Any]) -> dict[str, Any]:
    metrics = summary.get("metrics") or {}
    return {**summary, "href": f"/plans/{summary['plan_id']}", "infeasible": metrics.get("infeasible") or []}


def _suggestions_body(summaries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    plans = [_with_links(s) for s in summaries]
    infeasible = [{"plan_id": p["plan_id"], **item} for p in plans for item in p["infeasible"]]
    return {"plans": plans, "infeasible": infeasible}


def _plan_links(result: dict[str, Any]) -> list[str]:
    return [p["href"] for p in result["plans"]]


def _no_progress(_stage: str, _fraction: float) -> None:
    pass


# The work of a suggestion, whether answered at once or run as a background job (by any server
# process, from the JSON parameters the job was queued with: gis.services.jobs).
@job_kind("grid_suggestions", links=_plan_links)
def run_grid_suggestions(session: Session, progress: Any, *, settings: Any, owner_id: int | None,
                         **params: Any) -> dict[str, Any]:
    if params.get("district_code") is not None or params.get("all"):
        return _suggestions_body(partition_service.suggest_all_grids(
            session, settings, district_code=params.get("district_code"), lo=params.get("min"), hi=params.get("max"),
            keep_current=params.get("keep_current", False), seed=params.get("seed", 0), created_by=owner_id,
            progress=progress))
    return _suggestions_body([partition_service.suggest_grids(
        session, settings, community_code=params["community_code"], lo=params.get("min"), hi=params.get("max"),
        keep_current=params.get("keep_current", False), locked=tuple(params.get("locked") or ()),
        allow_crossing=tuple(params.get("allow_crossing") or ()), seed=params.get("seed", 0), created_by=owner_id,
        progress=progress)])


@job_kind("community_suggestions", links=_plan_links)
def run_community_suggestions(session: Session, progress: Any, *, settings: Any, owner_id: int | None,
                              **params: Any) -> dict[str, Any]:
    return _suggestions_body([partition_service.suggest_communities(
        session, settings, street_code=params.get("street_code"), district_code=params.get("district_code"),
        lo=params.get("min"), hi=params.get("max"), keep_current=params.get("keep_current", False),
        allow_crossing=tuple(params.get("allow_crossing") or ()), seed=params.get("seed", 0), created_by=owner_id,
        progress=progress)])


def _created(body: dict[str, Any]) -> JSONResponse:
    headers = {"Location": body["plans"][0]["href"]} if len(body["plans"]) == 1 else {}
    return JSONResponse(body, status_code=201, headers=headers)


def _communities_of(session: Session, district_code: str | None) -> int:
    n = session.execute(text("SELECT count(*) FROM community WHERE valid_to IS NULL AND "
                             "(CAST(:d AS text) IS NULL OR district_code = :d)"), {"d": district_code}).scalar_one()
    if not n:
        raise NotFound("no current communities" + (f" in district {district_code}" if district_code else "")
                       + "; import community boundaries first", details={"district_code": district_code})
    return int(n)


@router.get("/plans", summary="Plans, newest first", response_model=PageOf[PlanSummaryPublic])
def list_plans(request: Request, session: SessionDep,
               status: Annotated[str | None, Query(description="draft, proposed, reviewed, approved, adopted "
                                                               "or archived")] = None,
               kind: Annotated[str | None, Query(description="grid_split, community_redraw, manual_edit, "
                                                             "import")] = None,
               scope_code: Annotated[str | None, Query(description="the community, street or district")] = None,
               limit: int = resources.DEFAULT_LIMIT, offset: int = 0) -> JSONResponse:
    resources.check_page(limit, offset)
    rows = plan_service.list_plans(session, scope_code=scope_code, kind=kind, status=status)
    items = [{**r, "href": f"/plans/{r['id']}"} for r in rows[offset:offset + limit]]
    return paged_json(request, Page(items, len(rows), limit, offset))


@router.get("/plans/{plan_id}", summary="A plan: metrics, units and their GeoJSON",
            response_model=PlanPublic)
def get_plan(plan_id: int, session: SessionDep, settings: SettingsDep, response: Response) -> dict[str, Any]:
    shown = plan_service.show_plan(session, plan_id, settings=settings)
    response.headers["ETag"] = f'"{shown["version"]}"'
    return {**shown, "geojson": plan_service.plan_geojson(session, plan_id)}


@router.get("/plans/{plan_id}/diff/{other_id}", summary="Buildings and households that change unit between two "
                                                         "plans (other_id may be 'current')",
            response_model=PlanDiffPublic)
def diff_plans(plan_id: int, other_id: str, session: SessionDep) -> plan_service.PlanDiff:
    return plan_service.diff_plans(session, plan_id, other_id)


@router.post("/plans/grid-suggestions", status_code=201, summary="Suggest grids for a community (or all of a "
                                                                  "district) as draft plans", responses=JOB_STARTED,
             response_model=SuggestionsPublic)
def suggest_grids(body: GridSuggestionRequest, session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                  jobs: JobsDep) -> JSONResponse:
    _check_bounds(body.min, body.max)
    many = body.all or body.district_code is not None
    if many == (body.community_code is not None):
        raise InvalidInput("give community_code, or all (with district_code to keep to one district); not both",
                           details={"field": "community_code"})
    uid = principal.user_id
    if many and body.district_code is None and principal.district_code is not None:
        # "all" for a planner with a district is every community of that district.
        body = body.model_copy(update={"district_code": principal.district_code})
    target = body.district_code if many else (body.community_code or "")[:6]
    user_service.require_district(principal, target, "grid suggestions")
    if many:
        if body.locked or body.allow_crossing:
            raise InvalidInput("locked and allow_crossing name grids and roads of one community: use "
                               "community_code with them", details={"field": "locked" if body.locked else
                                                                   "allow_crossing"})
        _communities_of(session, body.district_code)
    else:
        _check_community(session, body.community_code)  # type: ignore[arg-type]
    parameters = body.model_dump(mode="json", exclude={"background"})
    if body.background:
        return start_job(jobs, principal, kind="grid_suggestions", parameters=parameters)
    return _created(run_grid_suggestions(session, _no_progress, settings=settings, owner_id=uid, **parameters))


def _check_community(session: Session, code: str) -> None:
    found = session.execute(text("SELECT 1 FROM community WHERE code = :c AND valid_to IS NULL"), {"c": code}).first()
    if found is None:
        raise NotFound(f"community {code} has no current boundary; import community boundaries first",
                       details={"community_code": code})


@router.post("/plans/community-suggestions", status_code=201, summary="Suggest communities for a street (or a "
                                                                       "district without streets) as a draft plan",
             responses=JOB_STARTED, response_model=SuggestionsPublic)
def suggest_communities(body: CommunitySuggestionRequest, session: SessionDep, settings: SettingsDep,
                        principal: PrincipalDep, jobs: JobsDep) -> JSONResponse:
    _check_bounds(body.min, body.max)
    if (body.street_code is None) == (body.district_code is None):
        raise InvalidInput("give exactly one of street_code or district_code", details={"field": "street_code"})
    uid = principal.user_id
    user_service.require_district(principal, (body.street_code or body.district_code or "")[:6],
                                  "community suggestions")

    parameters = body.model_dump(mode="json", exclude={"background"})
    if body.background:
        return start_job(jobs, principal, kind="community_suggestions", parameters=parameters)
    return _created(run_community_suggestions(session, _no_progress, settings=settings, owner_id=uid, **parameters))


@router.post("/plans/{plan_id}/adopt", summary="Adopt a draft plan: its units become the new boundary versions",
             response_model=AdoptionPublic)
def adopt_plan(plan_id: int, body: PlanAdopt, session: SessionDep, settings: SettingsDep, audit: AuditDep,
               if_match: IfMatchDep, response: Response) -> plan_service.AdoptionResult:
    version = if_match if if_match is not None else body.version
    scope = session.execute(text("SELECT scope_code FROM plan WHERE id = :id"), {"id": plan_id}).scalar()
    if scope is not None:  # a missing plan is answered by the plan service
        user_service.require_district(audit.principal, scope[:6], f"plan {plan_id}")
    plan_service.check_plan_version(session, plan_id, version)
    result = plan_service.adopt_plan(session, plan_id, reason=body.reason, settings=settings,
                                     user_id=audit.principal.user_id, expected_version=version,
                                     allow_out_of_range=body.allow_out_of_range)
    privacy.record_change(session, audit.principal, entity="plan", entity_id=plan_id, action="adopt",
                          reason=body.reason, district_code=result["scope_code"][:6], request_id=audit.request_id,
                          detail={"units": [u["code"] for u in result["units"]], "retired": result["retired"]})
    response.headers["ETag"] = f'"{result["version"]}"'
    return result


# --- the approval chain (gis.services.approvals) ------------------------------------------


class PlanStep(BaseModel):
    note: str | None = Field(default=None, description="why (kept in the plan's approval history); required "
                                                        "to return a plan")
    version: int | None = Field(default=None, description="the plan version you read; or send If-Match")


class PlanApprove(PlanStep):
    # Checked by the service, so a blank one is refused in both languages like every other step.
    document_no: str | None = Field(default=None, description="批复文号, the approval's document number, e.g. "
                                                              "汝政办函[2004]54号 (required)")


class CodeConfirm(BaseModel):
    note: str | None = Field(default=None, description="e.g. the statistics bureau's notice")


def _take_step(plan_id: int, step: str, body: PlanStep, session: Session, audit: Any, if_match: int | None,
               response: Response, document_no: str | None = None) -> dict[str, Any]:
    version = if_match if if_match is not None else body.version
    scope = session.execute(text("SELECT scope_code FROM plan WHERE id = :id"), {"id": plan_id}).scalar()
    if scope is not None:  # a missing plan is answered by the service
        user_service.require_district(audit.principal, scope[:6], f"plan {plan_id}")
    result = approval_service.take_step(session, plan_id, step, user_id=audit.principal.user_id, note=body.note,
                                        document_no=document_no, expected_version=version)
    privacy.record_change(session, audit.principal, entity="plan", entity_id=plan_id, action=step,
                          reason=body.note, district_code=str(scope)[:6], request_id=audit.request_id,
                          detail={"status": result["status"], "document_no": result["document_no"]})
    response.headers["ETag"] = f'"{result["version"]}"'
    return result


@router.post("/plans/{plan_id}/propose", summary="街道报送: a street-scoped planner proposes a draft",
             response_model=PlanStepPublic)
def propose_plan(plan_id: int, body: PlanStep, session: SessionDep, audit: AuditDep, if_match: IfMatchDep,
                 response: Response) -> dict[str, Any]:
    return _take_step(plan_id, "propose", body, session, audit, if_match, response)


@router.post("/plans/{plan_id}/review", summary="区级审核: a district-scoped planner reviews a proposed plan",
             response_model=PlanStepPublic)
def review_plan(plan_id: int, body: PlanStep, session: SessionDep, audit: AuditDep, if_match: IfMatchDep,
                response: Response) -> dict[str, Any]:
    return _take_step(plan_id, "review", body, session, audit, if_match, response)


@router.post("/plans/{plan_id}/approve", summary="批复: the approval with its document number (批复文号)",
             response_model=PlanStepPublic)
def approve_plan(plan_id: int, body: PlanApprove, session: SessionDep, audit: AuditDep, if_match: IfMatchDep,
                 response: Response) -> dict[str, Any]:
    return _take_step(plan_id, "approve", body, session, audit, if_match, response, document_no=body.document_no)


@router.post("/plans/{plan_id}/return", summary="退回: send a plan in the chain back to draft, saying why",
             response_model=PlanStepPublic)
def return_plan(plan_id: int, body: PlanStep, session: SessionDep, audit: AuditDep, if_match: IfMatchDep,
                response: Response) -> dict[str, Any]:
    return _take_step(plan_id, "return", body, session, audit, if_match, response)


@router.get("/plans/{plan_id}/approvals", summary="A plan's approval history: who, when (Asia/Shanghai), note, "
                                                  "document number", response_model=PlanApprovalsPublic)
def plan_approvals(plan_id: int, session: SessionDep) -> dict[str, Any]:
    row = session.execute(text("SELECT status, document_no FROM plan WHERE id = :id"), {"id": plan_id}).first()
    if row is None:
        raise NotFound(f"方案 {plan_id} 不存在 · plan {plan_id} does not exist")
    return {"plan_id": plan_id, "status": row.status, "document_no": row.document_no,
            "approvals": approval_service.approval_history(session, plan_id)}


@router.post("/community-codes/{code}/confirm", summary="Confirm a provisional community code (statistics bureau)",
             response_model=CommunityCodePublic)
def confirm_community_code(code: str, body: CodeConfirm, session: SessionDep, audit: AuditDep) -> dict[str, Any]:
    result = approval_service.confirm_code(session, code, user_id=audit.principal.user_id, note=body.note)
    privacy.record_change(session, audit.principal, entity="community_code", entity_id=code, action="confirm",
                          reason=body.note, district_code=code[:6], request_id=audit.request_id,
                          detail={"code": code})
    return result
