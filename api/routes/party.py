"""Party organisation per grid (网格党支部, 楼栋党小组) and the heads of level-2 grids (楼栋长/单元长).

The work is done by ``gis.services.party`` and ``gis.services.levels``; these routes only
translate HTTP to their keyword arguments. Who may call each route is in ``api.access``; which
grids they may act on is decided in the services (grid staff: their own grids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.deps import AuditDep, PersonalAuditDep, PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.party import (
    DeletedPublic,
    GridContactListPublic,
    GridContactPublic,
    PartyCheckPublic,
    PartyOrgListPublic,
    PartyOrgPublic,
)
from gis.services import levels as level_service
from gis.services import party as party_service

router = APIRouter(tags=["party"], responses=ERROR_RESPONSES)

GridCode = Annotated[str, Path(pattern=r"^[0-9]{15}$", description="15-digit grid code")]
DistrictQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$", description="6-digit district code")]


class PartyOrgCreate(BaseModel):
    kind: Literal["grid_branch", "building_group"]
    grid_code: str | None = Field(default=None, pattern=r"^[0-9]{15}$",
                                  description="a level-1 grid (branch) or a level-2 grid (group)")
    building_id: int | None = Field(default=None, description="the building of a group")
    name: str | None = Field(default=None, max_length=200, description="defaults to the grid's name and the kind")
    secretary_id: int | None = Field(default=None, description="a full party member living in the grid")


class GridContactCreate(BaseModel):
    role: Literal["building_head", "unit_head"]
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=20, description="kept as given, only ever shown masked")
    building_id: int | None = None
    unit: str | None = Field(default=None, max_length=20)


@router.get("/party/orgs", summary="Party branches and groups of your district (or of one grid)",
            response_model=PartyOrgListPublic)
def list_orgs(session: SessionDep, principal: PrincipalDep, district_code: DistrictQuery = None,
              grid_code: Annotated[str | None, Query(pattern=r"^[0-9]{15}$")] = None) -> Mapping[str, Any]:
    return {"items": party_service.list_orgs(session, principal, grid_code=grid_code, district_code=district_code)}


@router.post("/party/orgs", status_code=201, summary="Set up a grid's party branch or a building's party group",
             response_model=PartyOrgPublic)
def create_org(body: PartyOrgCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return party_service.create_org(session, audit.principal, kind=body.kind, grid_code=body.grid_code,
                                    building_id=body.building_id, name=body.name, secretary_id=body.secretary_id)


@router.delete("/party/orgs/{org_id}", summary="Dissolve a party branch or group", response_model=DeletedPublic)
def delete_org(org_id: int, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return party_service.delete_org(session, audit.principal, org_id)


@router.get("/party/check", summary="Seed-practice checks per grid: branches under 3 full members, grids with "
                                    "members but no branch, grids without one (Chinese and English)",
            response_model=PartyCheckPublic)
def check(session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
          district_code: DistrictQuery = None) -> Mapping[str, Any]:
    return party_service.check_party(session, settings, principal, district_code=district_code)


@router.get("/grids/{code}/contacts", summary="Building and unit heads of a level-2 grid (or of the level-2 grids "
                                              "of a level-1 grid), phones masked (audited)",
            response_model=GridContactListPublic)
def list_contacts(code: GridCode, session: SessionDep, audit: PersonalAuditDep) -> Mapping[str, Any]:
    return {"items": level_service.list_contacts(session, audit.principal, grid_code=code, reason=audit.reason)}


@router.post("/grids/{code}/contacts", status_code=201, summary="Record a building or unit head of a level-2 grid",
             response_model=GridContactPublic)
def add_contact(code: GridCode, body: GridContactCreate, session: SessionDep, audit: AuditDep) -> Mapping[str, Any]:
    return level_service.add_contact(session, audit.principal, grid_code=code, role=body.role, name=body.name,
                                     phone=body.phone, building_id=body.building_id, unit=body.unit)
