"""The community ledgers (三张清单): needs, resources and projects, 双报到 claims and volunteers' hours.

The rules (statuses, files, walking distances) are in :mod:`gis.ledgers`; this package loads rows,
applies them and stores the outcome in one transaction. Scope follows residents': grid staff see
the needs and projects of their grids and the resources of their grids' communities; district
roles see their district; a resident unit's user (``unit_contact``) sees its own unit's resources
and the projects it claimed. Who is affected by a need is counted, never named. Personal fields
(a resident's contact on a need, free-text descriptions, a resource's contact, volunteers, party
members' claims) reach only those who see the row's grid (a unit its own contact), phones masked,
and every read that returns one writes an audit row.

Modules by use case: :mod:`.scope` (who sees and writes what), :mod:`.places` (where a row is),
:mod:`.kinds`, :mod:`.needs`, :mod:`.resources`, :mod:`.reach` (walking distances), :mod:`.projects`
(with 双报到 claims), :mod:`.volunteers`, :mod:`.figures` (counts and the map layer) and
:mod:`.exports` (a community's lists as files). The API and the CLI import from here.
"""

from gis.services.ledgers.exports import CommunityLists, community_lists, export_lists
from gis.services.ledgers.figures import (
    CommunityFigures,
    LedgerFigures,
    NeedsLayer,
    ledger_stats,
    needs_by_grid,
    needs_geojson,
)
from gis.services.ledgers.kinds import NeedKind, add_kind, list_kinds
from gis.services.ledgers.needs import (
    NeedRecord,
    NeedsImport,
    PublicNeedReceipt,
    act_on_need,
    file_public_need,
    get_need,
    import_needs,
    list_needs,
    record_need,
)
from gis.services.ledgers.places import Place, locate
from gis.services.ledgers.projects import (
    ClaimResult,
    ProjectDetail,
    ProjectSummary,
    act_on_project,
    claim_project,
    create_project,
    get_project,
    list_projects,
)
from gis.services.ledgers.reach import NeedReach, NeedsReach, ReachedResource, needs_reach
from gis.services.ledgers.resources import (
    ResourceRecord,
    UnitContactLink,
    add_resource,
    link_unit_contact,
    list_resources,
    update_resource,
)
from gis.services.ledgers.scope import unit_of
from gis.services.ledgers.volunteers import (
    ShiftResult,
    VolunteerRecord,
    add_volunteer,
    list_volunteers,
    record_hours,
    sign_up,
)

__all__ = [
    "ClaimResult",
    "CommunityFigures",
    "CommunityLists",
    "LedgerFigures",
    "NeedKind",
    "NeedReach",
    "NeedRecord",
    "NeedsImport",
    "NeedsLayer",
    "NeedsReach",
    "Place",
    "ProjectDetail",
    "ProjectSummary",
    "PublicNeedReceipt",
    "ReachedResource",
    "ResourceRecord",
    "ShiftResult",
    "UnitContactLink",
    "VolunteerRecord",
    "act_on_need",
    "act_on_project",
    "add_kind",
    "add_resource",
    "add_volunteer",
    "claim_project",
    "community_lists",
    "create_project",
    "export_lists",
    "file_public_need",
    "get_need",
    "get_project",
    "import_needs",
    "ledger_stats",
    "link_unit_contact",
    "list_kinds",
    "list_needs",
    "list_projects",
    "list_resources",
    "list_volunteers",
    "locate",
    "needs_by_grid",
    "needs_geojson",
    "needs_reach",
    "record_hours",
    "record_need",
    "sign_up",
    "unit_of",
    "update_resource",
]
