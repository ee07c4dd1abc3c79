"""Response models of the case routes: incidents and their loop, summons, photos, the case figures (三率).

The shapes are those of ``gis.services.cases`` (``_incident_record`` and the functions the routes
call). What the reader may not see is left out or null: ``reporter_contact`` is absent for planners
and viewers (and masked for the rest), ``description`` and event notes are null for them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import FeatureCollection, Geometry, Public, Timestamp


class SlaPublic(Public):
    """Where the case stands against its deadline (gis.cases.deadlines.SlaStatus); durations in seconds."""

    status: str = Field(description="on_time, due_soon, overdue, paused or done")
    stage: str | None = None
    started_at: Timestamp | None = None
    due_at: Timestamp | None = None
    limit_seconds: float | None = None
    clock: str | None = Field(default=None, description="working (working hours) or calendar")
    elapsed_seconds: float | None = None
    remaining_seconds: float | None = None
    calendar_fallback: bool
    fallback_years: list[int] = Field(description="years counted with the weekends-only fallback calendar")


class IncidentPropertiesPublic(Public):
    """A case as lists and GeoJSON properties show it (the point is the feature's geometry)."""

    id: int
    district_code: str
    street_code: str | None = None
    community_code: str | None = None
    grid_code: str | None = None
    category_class: str = Field(description="event (事件) or component (部件)")
    category: str = Field(description="大类")
    subcategory: str | None = Field(default=None, description="小类")
    category_code: str | None = None
    description: str | None = Field(default=None, description="null for readers without personal data")
    source: str
    urgency: str
    area: str
    status: str
    level: str = Field(description="who holds the case: grid, community, street or department")
    address: str | None = None
    building_id: int | None = None
    reported_by: int | None = None
    reported_at: Timestamp
    due_at: Timestamp | None = None
    closed_at: Timestamp | None = None
    satisfaction: int | None = None
    duplicate_of: int | None = None
    version: int
    handler_id: int | None = None
    department_id: int | None = None
    quick_fix: bool
    overdue: bool = Field(description="the running stage's due time has passed")
    reporter_contact: str | None = Field(default=None, description="masked; absent for planners and viewers")


class IncidentRecordPublic(IncidentPropertiesPublic):
    """A case with its point (``geometry``, GeoJSON in EPSG:4490)."""

    geometry: Geometry


class IncidentListPublic(Public):
    """A page of cases, newest first."""

    items: list[IncidentRecordPublic]
    total: int
    limit: int
    offset: int


class IncidentFeaturesPublic(FeatureCollection[IncidentPropertiesPublic]):
    """A page of cases as GeoJSON points (``format=geojson``)."""

    total: int
    limit: int
    offset: int


class IncidentEventPublic(Public):
    """One step of a case's log."""

    id: int
    at: Timestamp
    action: str
    from_status: str | None = None
    to_status: str
    note: str | None = Field(default=None, description="null for readers without personal data")
    actor_id: int | None = None
    actor_role: str | None = None
    handler_id: int | None = None
    satisfaction: int | None = None
    position: list[float] | None = Field(default=None, description="the actor's [lon, lat]")
    detail: dict[str, Any] | None = Field(default=None, description="the act's particulars (levels, departments, "
                                                                     "summons, deadlines)")


class PhotoPublic(Public):
    """A photo of a case; ``href`` fetches it."""

    id: int
    kind: str | None = Field(default=None, description="before or after a fix")
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: Timestamp
    href: str


class PhotoAddedPublic(PhotoPublic):
    """The photo attached; ``created`` is false when the case already had the same bytes."""

    created: bool


class SummonsPublic(Public):
    """A summons (吹哨) of a department to a case and whether it reported in (报到) in time."""

    id: int
    incident_id: int
    department_id: int
    department: str
    department_kind: str
    summoned_by: int | None = None
    summoned_at: Timestamp
    report_in_hours: float
    report_in_due_at: Timestamp
    reported_in_at: Timestamp | None = None
    reported_in_by: int | None = None
    missed: bool
    status: str = Field(description="waiting, reported_in or missed")


class IncidentPublic(IncidentRecordPublic):
    """One case in full: its log, photos, summons, deadline and the actions the reader may take."""

    events: list[IncidentEventPublic]
    photos: list[PhotoPublic]
    summons: list[SummonsPublic]
    sla: SlaPublic
    allowed_actions: list[str]


class RoutingPublic(Public):
    """How a report found its grid."""

    grid_code: str
    grid_name: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    rule: str = Field(description="inside, nearest, ... (gis.cases.routing)")
    candidates: list[str]


class StaffPublic(Public):
    """A grid's staff member the case was routed to."""

    user_id: int
    username: str
    display_name: str | None = None
    role: str
    duty: str | None = None
    public_phone: str | None = None


class DuplicateHintPublic(Public):
    """An open case the report may repeat."""

    case_id: int
    distance_m: float
    hours_apart: float


class QuickFixCheckPublic(Public):
    """How a 随手办 is checked: closed automatically or sampled for a check."""

    check: str
    status: str


class ReportPublic(Public):
    """A report filed: the case, where it was routed, to whom, possible duplicates and its deadline."""

    incident: IncidentRecordPublic
    routing: RoutingPublic
    staff: list[StaffPublic]
    duplicates: list[DuplicateHintPublic]
    sla: SlaPublic
    photos: list[PhotoPublic] | None = Field(default=None, description="the photos sent with the report")
    quick_fix_check: QuickFixCheckPublic | None = Field(default=None, description="随手办 only")


class ActionEventPublic(Public):
    """The log entry an action wrote."""

    id: int
    action: str
    from_status: str | None = None
    to_status: str
    actor: int | None = None
    actor_role: str | None = None
    at: Timestamp
    note: str | None = None
    position: list[float] | None = None
    handler_id: int | None = None
    satisfaction: int | None = None
    distance_m: float | None = Field(default=None, description="verify: the actor's distance from the case")
    detail: dict[str, Any] | None = None


class ActionResultPublic(Public):
    """A case after an action: the case, the log entry, the deadline and what may come next."""

    incident: IncidentRecordPublic
    event: ActionEventPublic
    sla: SlaPublic
    allowed_actions: list[str]


class OverdueCasePublic(Public):
    """An open case that is overdue or due soon."""

    id: int
    grid_code: str | None = None
    community_code: str | None = None
    category_code: str | None = None
    category: str
    subcategory: str | None = None
    status: str
    urgency: str
    handler_id: int | None = None
    level: str
    department_id: int | None = None
    reported_at: Timestamp
    version: int
    due_at: Timestamp | None = None
    overdue: bool
    urged: int
    supervised: int
    sla: SlaPublic


class OverduePublic(Public):
    """Open cases past their deadline and those due soon, as of ``now``."""

    now: Timestamp
    overdue: list[OverdueCasePublic]
    due_soon: list[OverdueCasePublic]


class SummonsRowPublic(SummonsPublic):
    """A summons with its case's grid and status."""

    grid_code: str | None = None
    incident_status: str


class DepartmentSummonsPublic(Public):
    """Per department: summons, report-ins (on time) and those missed or still waiting."""

    department_id: int
    department: str
    summoned: int
    reported_in: int
    reported_in_on_time: int
    missed: int
    waiting: int


class SummonsListPublic(Public):
    """Summons on the cases the reader may see."""

    now: Timestamp
    items: list[SummonsRowPublic]
    total: int
    missed: int
    by_department: list[DepartmentSummonsPublic]


class PeriodPublic(Public):
    """The period counted (local midnights) and the moment it is counted to."""

    start: Timestamp
    end: Timestamp
    as_of: Timestamp | None = None


class CaseRatesPublic(Public):
    """The three rates (三率) and satisfaction of one unit; a rate is null when nothing was due."""

    code: str
    reports: int
    response_due: int
    responded_on_time: int
    response_rate: float | None = None
    registered: int
    closed: int
    resolution_rate: float | None = None
    due_for_closure: int
    closed_on_time: int
    on_time_closure_rate: float | None = None
    evaluated: int
    satisfied: int
    satisfaction_rate: float | None = None
    satisfaction_mean: float | None = None
    handled: int
    mean_handling_hours: float | None = None


class QuickFixFiguresPublic(Public):
    """随手办 in the period: reported, closed automatically, sampled, verified, reopened."""

    reported: int
    closed_automatically: int
    sampled: int
    verified: int
    reopened: int


class GridCaseFiguresPublic(Public):
    """Per grid: reports, 随手办, urgings, supervisions and cases late now."""

    grid_code: str
    reports: int
    quick_fix: int
    quick_fix_closed_automatically: int
    urged: int
    supervised: int
    late_now: int


class PersonCaseFiguresPublic(Public):
    """Per handler: how often their cases were urged and supervised."""

    user_id: int
    username: str
    urged: int
    supervised: int


class DepartmentCaseFiguresPublic(Public):
    """Per department: offers and claims, closures, summons and report-ins, urgings."""

    department_id: int
    department: str | None = None
    kind: str | None = None
    offered: int
    claimed: int
    mean_response_hours: float | None = None
    closed: int
    mean_closure_hours: float | None = None
    summoned: int
    reported_in: int
    reported_in_on_time: int
    missed: int
    urged: int
    supervised: int


class CaseStatsPublic(Public):
    """The case figures of a period, per unit of the asked level (keyed by level name in ``levels``)."""

    district_code: str | None = None
    level: str
    period: PeriodPublic
    levels: dict[str, list[CaseRatesPublic]] = Field(description="level name (grid, community, street, total) to "
                                                                  "its units' rates")
    quick_fix: QuickFixFiguresPublic
    by_grid: list[GridCaseFiguresPublic]
    by_person: list[PersonCaseFiguresPublic]
    by_department: list[DepartmentCaseFiguresPublic]
