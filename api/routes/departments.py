"""Departments (职能部门, 成员单位, 驻区单位) the case loop hands cases to and summons.

Thin: the rules are gis.services.departments'. Everyone in the district may list them (they are
offices, not people); who works for a department is shown to admins and its own staff.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.errors import ERROR_RESPONSES
from api.schemas.departments import DepartmentPublic
from gis.services import departments as department_service

router = APIRouter(tags=["departments"], responses=ERROR_RESPONSES)


class DepartmentCreate(BaseModel):
    """A department: its name, kind and scope, the categories it handles and its staff."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="e.g. 城管执法中队; the category table names departments")
    kind: str = Field(description="functional (职能部门), member (成员单位) or stationed (驻区单位)")
    district_code: str | None = Field(default=None, description="default: your district")
    street_code: str | None = Field(default=None, description="a department of one street; none: the district")
    categories: list[str] | None = Field(default=None, description="category codes it handles; default: those the "
                                                                    "category table gives to this name")
    staff: list[int] | None = Field(default=None, description="ids of department_staff users")


class DepartmentStaff(BaseModel):
    """The department's staff (replaces the list)."""

    model_config = ConfigDict(extra="forbid")

    staff: list[int] = Field(description="ids of department_staff users")


@router.get("/departments", summary="Departments of your district (职能部门, 成员单位, 驻区单位)",
            response_model=list[DepartmentPublic])
def list_departments(session: SessionDep, principal: PrincipalDep, category_code: str | None = None,
                     include_inactive: bool = False) -> list[dict[str, Any]]:
    return [d.to_dict() for d in department_service.list_departments(
        session, principal, category_code=category_code, include_inactive=include_inactive)]


@router.post("/departments", status_code=201, summary="Register a department and the categories it handles",
             response_model=DepartmentPublic)
def create_department(body: DepartmentCreate, session: SessionDep, settings: SettingsDep, principal: PrincipalDep,
                      response: Response) -> Mapping[str, Any]:
    record = department_service.create_department(session, principal, settings=settings,
                                                  **body.model_dump(exclude_unset=True))
    response.headers["Location"] = f"/departments/{record.id}"
    return record.to_dict()


@router.get("/departments/{department_id}", summary="One department with its categories",
            response_model=DepartmentPublic)
def get_department(department_id: int, session: SessionDep, principal: PrincipalDep) -> Mapping[str, Any]:
    return department_service.get_department(session, principal, department_id).to_dict()


@router.put("/departments/{department_id}/staff", summary="Set who works for a department (department_staff users)",
            response_model=DepartmentPublic)
def set_staff(department_id: int, body: DepartmentStaff, session: SessionDep, principal: PrincipalDep
              ) -> Mapping[str, Any]:
    return department_service.set_staff(session, principal, department_id, body.staff).to_dict()
