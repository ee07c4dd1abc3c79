"""User management and the audit log: admins only (see api/access.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.deps import AuditDep, IfMatchDep, PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.users import AuditPagePublic, UserPublic
from gis.errors import InvalidInput, NotFound
from gis.services import privacy
from gis.services import users as user_service

router = APIRouter(tags=["users"], responses=ERROR_RESPONSES)


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=user_service.MIN_PASSWORD_LENGTH)
    role: str
    display_name: str | None = None
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    phone: str | None = None
    grids: list[str] = Field(default_factory=list, description="grid codes, for grid leaders and workers")


class UserUpdate(BaseModel):
    display_name: str | None = None
    role: str | None = None
    district_code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")
    phone: str | None = None
    password: str | None = Field(default=None, min_length=user_service.MIN_PASSWORD_LENGTH)
    is_active: bool | None = None
    version: int | None = Field(default=None, description="the version you read; or send If-Match")


class GridsUpdate(BaseModel):
    grids: list[str]
    public_phone: str | None = None


# An admin with a district manages the users of that district only; one without (a city admin) all.
# A user of another district answers 404, as a missing one does.


def _check_grids(principal: user_service.Principal, grids: list[str]) -> None:
    outside = sorted({code for code in grids if not principal.sees_district(code[:6])})
    if outside:  # as for a grid that does not exist: a district admin assigns only their own grids
        raise NotFound(f"no current grid with code {', '.join(outside)} in district {principal.district_code}",
                       details={"grids": outside})


@router.get("/users", summary="All users (of your district when you have one)",
            response_model=list[UserPublic])
def list_users(session: SessionDep, principal: PrincipalDep) -> list[user_service.UserView]:
    return [user_service.describe_user(session, u)
            for u in user_service.list_users(session, district_code=principal.district_code)]


@router.post("/users", status_code=201, summary="Create a user", response_model=UserPublic)
def create_user(body: UserCreate, session: SessionDep, audit: AuditDep,
                response: Response) -> user_service.UserView:
    district = user_service.check_managed_district(audit.principal, body.district_code)
    _check_grids(audit.principal, body.grids)
    user = user_service.create_user(session, username=body.username, password=body.password, role=body.role,
                                    display_name=body.display_name, district_code=district,
                                    phone=body.phone)
    if body.grids:
        user_service.assign_grids(session, user.id, body.grids)
    privacy.record_change(session, audit.principal, entity="app_user", entity_id=user.id, action="create",
                          district_code=district, request_id=audit.request_id,
                          detail={"role": body.role, "grids": body.grids})
    response.headers["ETag"] = f'"{user.version}"'
    return user_service.describe_user(session, user)


@router.get("/users/{user_id}", summary="One user", response_model=UserPublic)
def get_user(user_id: int, session: SessionDep, principal: PrincipalDep,
             response: Response) -> user_service.UserView:
    user = user_service.get_user_for(session, principal, user_id)
    response.headers["ETag"] = f'"{user.version}"'
    return user_service.describe_user(session, user)


@router.patch("/users/{user_id}", summary="Change a user (If-Match: version)", response_model=UserPublic)
def update_user(user_id: int, body: UserUpdate, session: SessionDep, audit: AuditDep, if_match: IfMatchDep,
                response: Response) -> user_service.UserView:
    version = if_match if if_match is not None else body.version
    if version is None:
        raise InvalidInput("send the version you read, as If-Match or in the body, so no change is overwritten")
    changes = body.model_dump(exclude={"version"}, exclude_none=True)
    target = user_service.get_user_for(session, audit.principal, user_id)
    if "district_code" in changes:
        user_service.require_district(audit.principal, changes["district_code"], f"user {target.username}")
    user = user_service.update_user(session, user_id, expected_version=version, changes=changes)
    privacy.record_change(session, audit.principal, entity="app_user", entity_id=user_id, action="update",
                          district_code=user.district_code, request_id=audit.request_id,
                          detail={"fields": sorted(k for k in changes if k != "password")
                                  + (["password"] if "password" in changes else [])})
    response.headers["ETag"] = f'"{user.version}"'
    return user_service.describe_user(session, user)


@router.put("/users/{user_id}/grids", summary="Set the grids of a grid leader or worker",
            response_model=UserPublic)
def set_grids(user_id: int, body: GridsUpdate, session: SessionDep, audit: AuditDep) -> user_service.UserView:
    target = user_service.get_user_for(session, audit.principal, user_id)
    _check_grids(audit.principal, body.grids)
    user_service.assign_grids(session, user_id, body.grids, public_phone=body.public_phone)
    privacy.record_change(session, audit.principal, entity="app_user", entity_id=user_id, action="assign_grids",
                          district_code=target.district_code, request_id=audit.request_id,
                          detail={"grids": body.grids})
    return user_service.describe_user(session, user_service.get_user(session, user_id))


@router.get("/audit", summary="The audit log, newest first (of your district when you have one)",
            response_model=AuditPagePublic)
def audit_log(session: SessionDep, principal: PrincipalDep, user_id: int | None = None, entity: str | None = None,
              entity_id: str | None = None, since: dt.datetime | None = None, limit: int = 100,
              offset: int = 0) -> dict[str, Any]:
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"limit: between 1 and 1000, got {limit}")
    rows = privacy.list_audit(session, user_id=user_id, entity=entity, entity_id=entity_id, since=since,
                              limit=limit, offset=offset, district_code=principal.district_code)
    return {"items": rows, "limit": limit, "offset": offset}
