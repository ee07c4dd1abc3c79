"""The roles a user can hold, with their Chinese and English names.

Plain data with no imports, so that the CLI can list the roles in its help without loading the
database models (:mod:`gis.db.models` re-exports :data:`ROLES` and seeds the ``role`` table).
"""

from __future__ import annotations

ROLES: dict[str, tuple[str, str]] = {
    "admin": ("系统管理员", "Administrator"),
    "district_planner": ("区规划人员", "District planner"),
    "facility_planner": ("设施规划人员", "Facility planner"),
    "grid_leader": ("网格长", "Grid leader"),
    "grid_worker": ("网格员", "Grid worker"),
    "viewer": ("只读用户", "Viewer"),
    # issue 18 (cases, helper C): the case loop beyond the grid
    "supervisor": ("监督员", "Supervisor"),
    "department_staff": ("部门人员", "Department staff"),
    "street_officer": ("街道工作人员", "Street officer"),
    "community_officer": ("社区工作人员", "Community officer"),
    # issue 22 (community ledgers, helper E): a resident unit's user (双报到), sees its own resources and projects
    "unit_contact": ("单位联系人", "Unit contact"),
}
