"""Response models of the party routes: branches and groups, the seed-practice check, building and unit heads.

The shapes are those of ``gis.services.party`` and ``gis.services.levels`` (contacts).
"""

from __future__ import annotations

from pydantic import Field

from api.schemas.common import Public


class PartyOrgPublic(Public):
    """A grid's party branch (网格党支部) or a building's party group (楼栋党小组)."""

    id: int
    kind: str = Field(description="grid_branch or building_group")
    kind_zh: str
    kind_en: str
    name: str
    grid_code: str | None = None
    building_id: int | None = None
    secretary_id: int | None = Field(default=None, description="shown to those who may read personal data")


class PartyOrgListPublic(Public):
    """Party organisations, by grid."""

    items: list[PartyOrgPublic]


class DeletedPublic(Public):
    """A record removed."""

    id: int
    deleted: bool


class PartyFindingPublic(Public):
    """A grid the seed practice flags, with the reason in English and Chinese."""

    grid_code: str
    grid_name: str | None = None
    kind: str = Field(description="no_branch, branch_too_small, members_without_branch, "
                                  "members_without_branch_too_few")
    members: int
    full_members: int
    reason_text: str
    reason_text_zh: str


class PartyCheckPublic(Public):
    """The seed-practice checks over a district's current level-1 grids."""

    grids: int
    branches: int
    groups: int
    min_full_members: int
    clean: bool
    findings_by_kind: dict[str, int]
    findings: list[PartyFindingPublic]


class GridContactPublic(Public):
    """A building head (楼栋长) or unit head (单元长) of a level-2 grid; the phone only masked."""

    id: int
    grid_code: str
    role: str = Field(description="building_head or unit_head")
    role_zh: str
    role_en: str
    name: str
    phone_masked: str | None = None
    building_id: int | None = None
    unit: str | None = None


class GridContactListPublic(Public):
    """The heads of a level-2 grid (or of the level-2 grids of a level-1 grid)."""

    items: list[GridContactPublic]
