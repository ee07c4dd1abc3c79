"""Response models of the department routes (gis.services.departments.DepartmentRecord)."""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Public


class DepartmentStaffPublic(Public):
    """A department_staff user of a department."""

    user_id: int
    username: str
    display_name: str | None = None
    is_active: bool


class DepartmentPublic(Public):
    """A department (职能部门, 成员单位, 驻区单位) and the categories it handles."""

    id: int
    district_code: str
    name: str
    kind: str = Field(description="functional (职能部门), member (成员单位) or stationed (驻区单位)")
    street_code: str | None = Field(default=None, description="a department of one street; null: the district")
    is_active: bool
    categories: list[str] = Field(description="category codes it handles")
    staff: list[DepartmentStaffPublic] | None = Field(default=None, description="who works there: for admins and "
                                                                                 "its own staff, null for others")
    staff_count: int
