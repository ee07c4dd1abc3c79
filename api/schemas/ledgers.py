"""Response models of the ledger routes (三张清单).

Need kinds, needs, resources, projects, claims, volunteers, the map layer and the figures.

The shapes are those of ``gis.services.ledgers``. Personal fields (a need's description, contact
and household; a resource's contact; a volunteer's name on a shift; a party member on a claim) are
null for readers outside the place's scope.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Day, Feature, Public, Timestamp


class NeedKindPublic(Public):
    """A need kind: shared (``community_code`` null) or a community's own."""

    code: str
    name_zh: str
    name_en: str
    community_code: str | None = None


class NeedKindListPublic(Public):
    """The shared need kinds and a community's own."""

    items: list[NeedKindPublic]


class NeedPublic(Public):
    """A need of the community's list; ``description``, ``contact_phone`` (masked) and ``household_id`` in scope."""

    id: int
    district_code: str
    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None
    kind_code: str
    kind_zh: str
    kind_en: str
    title: str | None = None
    source: str = Field(description="visit, staff, import or public_form")
    visit_id: int | None = None
    address: str | None = None
    affected_households: int
    affected_people: int
    status: str = Field(description="open, matched, in_progress, closed or rejected")
    outcome: str | None = Field(default=None, description="met, partly_met or unmet, once closed")
    version: int
    lon: float
    lat: float
    created_at: Timestamp
    closed_at: Timestamp | None = None
    description: str | None = None
    contact_phone: str | None = None
    household_id: int | None = None
    building_id: int | None = None


class NeedListPublic(Public):
    """The needs in the reader's scope."""

    items: list[NeedPublic]


class NeedEventPublic(Public):
    """A step of a need's history."""

    at: Timestamp
    action: str
    from_status: str | None = None
    to_status: str
    note: str | None = None
    detail: dict[str, Any] | None = None
    actor: str | None = Field(default=None, description="username; null for a resident's public filing")


class NeedProjectPublic(Public):
    """A project meeting the need."""

    id: int
    title: str
    status: str


class NeedDetailPublic(NeedPublic):
    """One need with its history and the projects meeting it."""

    history: list[NeedEventPublic]
    projects: list[NeedProjectPublic]


class NeedFiledPublic(Public):
    """A resident's need filed through the public form: only its id, kind, status and community."""

    id: int
    kind_code: str
    status: str
    community_code: str | None = None


class NeedsImportedPublic(Public):
    """Needs imported from a file: every row or none."""

    file: str
    imported: int
    ids: list[int]


class ReachResourcePublic(Public):
    """A resource within the radius of a need, and how far."""

    resource_id: int
    name: str
    provider_kind: str
    unit_name: str | None = None
    distance_m: float


class NeedReachPublic(Public):
    """An open need and the resources that serve its kind within the radius (nearest first)."""

    need_id: int
    kind_code: str
    grid_code: str | None = None
    community_code: str | None = None
    status: str
    lon: float
    lat: float
    resources: list[ReachResourcePublic]
    reason: str = Field(description="resources_within_radius or no_resource_within_radius")


class NeedsReachPublic(Public):
    """Resources within a walking radius of each open need; the needs with none."""

    district_code: str | None = None
    community_code: str | None = None
    radius_m: float
    mode: str = Field(description="network (walking) or straight_line (no walk network)")
    distance: str = Field(description="what the distance means, in words")
    needs: int
    needs_without_resource: int
    unserved_need_ids: list[int]
    items: list[NeedReachPublic]


class NeedPointPropertiesPublic(Public):
    """A need on the map: kind, status and counts, nobody named."""

    id: int
    kind_code: str
    name_zh: str
    name_en: str
    status: str
    outcome: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    affected_households: int
    affected_people: int


class NeedsLayerInfoPublic(Public):
    """The layer's name, district and feature count."""

    layer: str
    district_code: str | None = None
    count: int


class NeedsLayerPublic(BaseModel):
    """The needs map layer: a GeoJSON FeatureCollection of points (rounded to about a metre)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[NeedPointPropertiesPublic]]
    properties: NeedsLayerInfoPublic


class ResourcePublic(Public):
    """A resource (资源清单) and the need kinds it serves (none: any); the contact only in scope (masked)."""

    id: int
    district_code: str
    community_code: str | None = None
    grid_code: str | None = None
    provider_kind: str = Field(description="unit, facility, party_member, volunteer or other")
    org_unit_id: int | None = None
    facility_id: int | None = None
    resident_id: int | None = None
    volunteer_id: int | None = None
    name: str
    description: str | None = None
    available: str | None = None
    capacity: int | None = None
    address: str | None = None
    active: bool
    version: int
    unit_name: str | None = None
    kind_codes: list[str]
    lon: float
    lat: float
    contact_name: str | None = None
    contact_phone: str | None = None


class ResourceListPublic(Public):
    """The resources in the reader's scope."""

    items: list[ResourcePublic]


class UnitContactPublic(Public):
    """A unit_contact user linked to their unit (双报到)."""

    user_id: int
    org_unit_id: int
    community_code: str | None = None


class ProjectSummaryPublic(Public):
    """A project as lists show it: claims, volunteers and hours counted, resources named."""

    id: int
    community_code: str | None = None
    grid_code: str | None = None
    need_id: int
    title: str
    status: str = Field(description="planned, active, done or cancelled")
    outcome: str | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    posts: list[str]
    kind_code: str
    units: int
    party_members: int
    volunteers: int
    hours: float
    resources: str | None = Field(default=None, description="the resources' names, joined with 、")


class ProjectListPublic(Public):
    """The projects in the reader's scope (a unit: those it claimed)."""

    items: list[ProjectSummaryPublic]


class ProjectResourcePublic(Public):
    """A resource a project uses."""

    id: int
    name: str
    provider_kind: str
    unit_name: str | None = None


class ProjectClaimPublic(Public):
    """A 双报到 claim: a unit or a party member (named only in scope), with the member's grid party branch."""

    id: int
    claimant_kind: str = Field(description="unit or party_member")
    org_unit_id: int | None = None
    unit_name: str | None = None
    resident_id: int | None = None
    member_name: str | None = None
    post: str | None = None
    claimed_at: Timestamp
    party_branch: str | None = None


class ShiftPublic(Public):
    """A volunteer's sign-up for a post and the hours served."""

    id: int
    volunteer_id: int
    name: str | None = Field(default=None, description="the volunteer's name, in scope")
    post: str | None = None
    served_on: Day | None = None
    hours: float | None = None


class ProjectPublic(Public):
    """One project: its resources, claims, volunteers' shifts and hours."""

    id: int
    district_code: str
    community_code: str | None = None
    grid_code: str | None = None
    need_id: int
    title: str
    owner_id: int | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    status: str
    outcome: str | None = None
    posts: list[str]
    version: int
    resources: list[ProjectResourcePublic]
    claims: list[ProjectClaimPublic]
    shifts: list[ShiftPublic]
    volunteer_hours: float


class ClaimPublic(Public):
    """A claim made."""

    id: int
    project_id: int
    claimant_kind: str
    org_unit_id: int | None = None
    resident_id: int | None = None
    post: str | None = None


class SignUpPublic(Public):
    """A volunteer signed up (hours come later)."""

    id: int
    project_id: int
    volunteer_id: int
    post: str | None = None
    hours: float | None = None


class HoursPublic(Public):
    """Hours recorded on a sign-up."""

    id: int
    project_id: int
    volunteer_id: int
    hours: float
    served_on: Day


class VolunteerPublic(Public):
    """A volunteer of a community, the phone masked."""

    id: int
    community_code: str
    name: str
    phone: str | None = None
    party_member: bool


class VolunteerHoursPublic(VolunteerPublic):
    """A volunteer with the hours they served."""

    hours: float


class VolunteerListPublic(Public):
    """The volunteers of the reader's communities."""

    items: list[VolunteerHoursPublic]


class CommunityFiguresPublic(Public):
    """A community's figures: needs by status and kind, needs met, projects by status, claims, volunteer hours."""

    community_code: str | None = None
    name: str | None = None
    needs: int
    needs_open: int
    needs_closed: int
    needs_met: int
    met_share: float | None = None
    needs_by_kind: dict[str, int]
    needs_by_status: dict[str, int]
    affected_people: int
    resources: int
    projects_by_status: dict[str, int]
    unit_claims: int
    party_member_claims: int
    volunteers: int
    volunteer_hours: float


class LedgerTotalsPublic(Public):
    """The figures summed over the communities."""

    needs: int
    needs_open: int
    needs_closed: int
    needs_met: int
    resources: int
    unit_claims: int
    party_member_claims: int
    volunteers: int
    volunteer_hours: float


class GridNeedsPublic(Public):
    """Needs of one grid, open ones, and per kind."""

    grid_code: str | None = None
    needs: int
    open: int
    by_kind: dict[str, int]


class LedgerStatsPublic(Public):
    """Per community figures, their totals, and needs per grid by kind."""

    district_code: str | None = None
    communities: list[CommunityFiguresPublic]
    total: LedgerTotalsPublic
    note: str
    by_grid: list[GridNeedsPublic]


class CommunityPublic(Public):
    """A community with its street and district names."""

    code: str
    name: str
    district_code: str
    street_code: str | None = None
    street_name: str | None = None
    district_name: str | None = None


class CommunityListsPublic(Public):
    """A community's three lists (the printable page's data) and its figures."""

    community: CommunityPublic
    needs: list[NeedPublic]
    resources: list[ResourcePublic]
    projects: list[ProjectSummaryPublic]
    figures: CommunityFiguresPublic | None = None
    generated_at: Timestamp
