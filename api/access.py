"""Who may call what: the one table of every route's roles, applied to every request.

A route missing from ``ACCESS`` answers 500 and fails ``tests/api/test_access_matrix.py``,
so nothing new is reachable until someone has decided who may reach it. The table says
which roles may call a route at all; which rows they then see (their grids only, aggregates
only) is decided in the services' queries, not here.
"""

from __future__ import annotations

from fastapi import Request

from gis.db.models import ROLES
from gis.errors import PermissionDenied, SetupError

PUBLIC: frozenset[str] = frozenset()  # no sign-in needed

EVERYONE = frozenset(ROLES)
ADMIN = frozenset({"admin"})
PLANNERS = frozenset({"admin", "district_planner"})
FACILITY_PLANNERS = frozenset({"admin", "facility_planner", "district_planner"})
# Roles that may read personal records at all; services narrow grid staff to their grids.
PERSONAL = frozenset({"admin", "grid_leader", "grid_worker"})
FIELD_STAFF = frozenset({"admin", "grid_leader", "grid_worker"})
# Who works cases (issue 18): grid staff, the community and street, departments, supervisors.
CASE_ACTORS = FIELD_STAFF | {"supervisor", "department_staff", "street_officer", "community_officer"}
# Who sets up and dissolves party branches and groups: admins, and grid leaders in their grids.
PARTY_WRITERS = frozenset({"admin", "grid_leader"})
# Who keeps the community ledgers (issue 22): admins, grid staff (their grids), street and community officers.
LEDGER_WRITERS = frozenset({"admin", "grid_leader", "grid_worker", "street_officer", "community_officer"}) & EVERYONE

ACCESS: dict[str, frozenset[str]] = {
    # health and sign-in
    "GET /health": PUBLIC,
    "POST /auth/token": PUBLIC,
    "GET /auth/me": EVERYONE,
    # users and audit
    "GET /users": ADMIN,
    "POST /users": ADMIN,
    "GET /users/{user_id}": ADMIN,
    "PATCH /users/{user_id}": ADMIN,
    "PUT /users/{user_id}/grids": ADMIN,
    "GET /audit": ADMIN,
    # boundaries and what lies in them (api/routes/boundaries.py); not personal data
    "GET /districts": EVERYONE,
    "GET /streets": EVERYONE,
    "GET /streets/{code}": EVERYONE,
    "GET /communities": EVERYONE,
    "GET /communities/{code}": EVERYONE,
    "GET /grids": EVERYONE,
    "GET /grids/{code}": EVERYONE,
    "GET /grids/{code}/history": EVERYONE,
    "GET /buildings": EVERYONE,
    "GET /buildings/{building_id}": EVERYONE,
    "GET /compounds": EVERYONE,
    "GET /facility-types": EVERYONE,
    "GET /facilities": EVERYONE,
    "GET /facilities/{facility_id}": EVERYONE,
    "POST /facilities": frozenset({"admin", "facility_planner"}),
    "PATCH /facilities/{facility_id}": frozenset({"admin", "facility_planner"}),
    # households per building (api/routes/buildings.py): planners record counts (who and why kept, audited)
    "GET /buildings/{building_id}/households": EVERYONE,
    "PUT /buildings/{building_id}/households": PLANNERS,
    "GET /household-estimates/review": EVERYONE,
    # boundary editing (api/routes/edits.py): planners redraw, every edit a new version with a reason
    "PATCH /communities/{code}": PLANNERS,
    "PATCH /grids/{code}": PLANNERS,
    "POST /grids/{code}/move-buildings": PLANNERS,
    "POST /grids/{code}/split": PLANNERS,
    "POST /grids/merge": PLANNERS,
    "POST /communities/{code}/split": PLANNERS,
    "POST /communities/merge": PLANNERS,
    # plans (api/routes/plans.py)
    "GET /plans": EVERYONE,
    "GET /plans/{plan_id}": EVERYONE,
    "GET /plans/{plan_id}/diff/{other_id}": EVERYONE,
    "POST /plans/grid-suggestions": PLANNERS,
    "POST /plans/community-suggestions": PLANNERS,
    "POST /plans/{plan_id}/adopt": PLANNERS,
    "POST /plans/micro-suggestions": PLANNERS,  # level-2 grids (api/routes/levels.py)
    # the approval chain: the roles here, the street or district scope each step needs in gis.approvals
    "POST /plans/{plan_id}/propose": PLANNERS,
    "POST /plans/{plan_id}/review": PLANNERS,
    "POST /plans/{plan_id}/approve": PLANNERS,
    "POST /plans/{plan_id}/return": PLANNERS,
    "GET /plans/{plan_id}/approvals": EVERYONE,
    "POST /community-codes/{code}/confirm": PLANNERS,
    # coverage (api/routes/coverage.py)
    "GET /coverage/runs": EVERYONE,
    "GET /coverage/runs/{run_id}": EVERYONE,
    "GET /coverage/runs/{run_id}/gaps": EVERYONE,
    "GET /coverage/supply": EVERYONE,
    "POST /coverage/runs": FACILITY_PLANNERS,
    "POST /coverage/site": FACILITY_PLANNERS,
    "POST /coverage/what-if": FACILITY_PLANNERS,
    "GET /coverage/isochrones": FACILITY_PLANNERS,
    # background jobs (api/routes/jobs.py): each user sees their own, admins all
    "GET /jobs": EVERYONE,
    "GET /jobs/{job_id}": EVERYONE,
    # people (api/routes/people.py): personal records, grid-scoped and audited
    "GET /residents": PERSONAL,
    "GET /residents/export": PERSONAL,
    "GET /residents/{resident_id}": PERSONAL,
    "PATCH /residents/{resident_id}": FIELD_STAFF,
    "GET /households": PERSONAL,
    "GET /households/{household_id}": PERSONAL,
    "GET /buildings/{building_id}/residents": PERSONAL,
    "GET /stats/grids": EVERYONE,
    # cases (api/routes/cases.py; the incidents issue adds the workflow)
    "GET /incidents": EVERYONE,
    "GET /incidents/{incident_id}": EVERYONE,
    "POST /incidents": FIELD_STAFF,  # the workflow table lets staff report; citizens file through Open311
    "GET /incidents/overdue": EVERYONE,  # scoped like GET /incidents; no contacts
    "POST /incidents/{incident_id}/actions": CASE_ACTORS,  # role × state: gis.cases.workflow; level: routing
    "POST /incidents/{incident_id}/photos": CASE_ACTORS,
    "GET /incidents/{incident_id}/photos/{photo_id}": EVERYONE,  # whoever may see the case
    "GET /stats/cases": EVERYONE,  # aggregates (三率), not personal
    # --- issue 18 (helper C): departments, summons; the case scope of each role is gis.services.cases'
    "GET /incidents/summons": CASE_ACTORS,  # summons on the cases in scope; a department its own
    "GET /departments": EVERYONE,  # offices, not people; staff shown to admins and the department itself
    "POST /departments": ADMIN,
    "GET /departments/{department_id}": EVERYONE,
    "PUT /departments/{department_id}/staff": ADMIN,
    # --- end issue 18 (helper C)
    "GET /stats/case-status": EVERYONE,  # the dashboard's cases by status per grid: counts of a district
    # The dispatch list: a grid's staff with user ids, for whoever routes its cases (staff names and duties,
    # as on the public grid notice; no resident's record).
    "GET /grids/{code}/staff": FIELD_STAFF | {"supervisor", "street_officer", "community_officer"},
    # Open311 GeoReport v2 (api/routes/open311.py): public, no personal data; filing follows
    # Settings.open311_api_keys (none: anyone, as on a 12345 web form; some: api_key required)
    "GET /open311/v2/services.json": PUBLIC,
    "GET /open311/v2/requests.json": PUBLIC,
    "POST /open311/v2/requests.json": PUBLIC,
    "GET /open311/v2/requests/{request_id}.json": PUBLIC,
    "GET /patrols": FIELD_STAFF,
    "GET /patrols/{patrol_id}": FIELD_STAFF,
    # patrols (api/routes/patrols.py): field staff upload tracks; coverage names no worker, and gives
    # per-building rows and free periods to the grid's own staff and admins only (weekly figures to others)
    "POST /patrols": FIELD_STAFF,
    "GET /patrols/coverage": EVERYONE,
    "GET /patrols/weekly": EVERYONE,
    # vector tiles (api/routes/tiles.py)
    "GET /tiles": EVERYONE,
    "GET /tiles/{layer}/{z}/{x}/{y}.mvt": EVERYONE,
    # map search and unit cards (api/routes/maps.py): no personal data; residents go through /residents
    "GET /search": EVERYONE,
    "GET /units/{code}": EVERYONE,
    # party organisation per grid (api/routes/party.py): counts and checks are aggregates; the
    # heads of level-2 grids are people (names, masked phones), read with a reason and audited
    "GET /party/orgs": EVERYONE,
    "POST /party/orgs": PARTY_WRITERS,
    "DELETE /party/orgs/{org_id}": PARTY_WRITERS,
    "GET /party/check": EVERYONE,
    "GET /grids/{code}/contacts": PERSONAL,
    "POST /grids/{code}/contacts": FIELD_STAFF,
    # household visits and staffing (api/routes/visits.py, issue 18): visits are personal records,
    # grid-scoped and audited like residents; coverage, cadence and unstaffed grids are counts
    "POST /visits": FIELD_STAFF,
    "GET /visits": PERSONAL,
    "GET /visits/due": PERSONAL,
    "GET /visits/cadence": EVERYONE,
    "GET /stats/visits": EVERYONE,
    "GET /grids/unstaffed": EVERYONE,
    "GET /plans/{plan_id}/reassignments": PLANNERS,
    "POST /plans/{plan_id}/reassignments": ADMIN,  # moves staff between grids, as PUT /users/{user_id}/grids
    # community ledgers (api/routes/ledgers.py, issue 22): the services scope every row (grid staff their
    # grids, a unit_contact its own unit) and word personal fields masked and audited; figures name nobody
    "GET /ledgers/kinds": EVERYONE,
    "POST /ledgers/kinds": LEDGER_WRITERS,
    "GET /ledgers/needs": EVERYONE,
    "POST /ledgers/needs": LEDGER_WRITERS,
    "POST /ledgers/needs/import": LEDGER_WRITERS,
    "GET /ledgers/needs/reach": EVERYONE,
    "GET /ledgers/needs/layer": EVERYONE,
    "GET /ledgers/needs/{need_id}": EVERYONE,
    "POST /ledgers/needs/{need_id}/actions": LEDGER_WRITERS,
    "POST /ledgers/public/needs": PUBLIC,  # a resident's form, rate-limited per address like Open311
    "GET /ledgers/resources": EVERYONE,
    "POST /ledgers/resources": LEDGER_WRITERS | {"unit_contact"},
    "PATCH /ledgers/resources/{resource_id}": LEDGER_WRITERS | {"unit_contact"},
    "POST /ledgers/unit-contacts": ADMIN,
    "GET /ledgers/projects": EVERYONE,
    "POST /ledgers/projects": LEDGER_WRITERS,
    "GET /ledgers/projects/{project_id}": EVERYONE,
    "POST /ledgers/projects/{project_id}/actions": LEDGER_WRITERS,
    "POST /ledgers/projects/{project_id}/claims": LEDGER_WRITERS | {"unit_contact"},
    "POST /ledgers/projects/{project_id}/signups": LEDGER_WRITERS,
    "PUT /ledgers/signups/{shift_id}/hours": LEDGER_WRITERS,
    "GET /ledgers/volunteers": LEDGER_WRITERS,
    "POST /ledgers/volunteers": LEDGER_WRITERS,
    "GET /ledgers/communities/{code}/lists": EVERYONE,
    "GET /ledgers/communities/{code}/export": EVERYONE,
    "GET /stats/ledgers": EVERYONE,
}


def route_key(request: Request) -> str | None:
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return f"{request.method} {path}" if path is not None else None


def roles_for(key: str) -> frozenset[str]:
    """The roles that may call the route ``key`` ("METHOD /path/{param}")."""
    try:
        return ACCESS[key]
    except KeyError:
        raise SetupError(f"route {key} has no entry in api/access.py ACCESS; refusing to serve it") from None


def check_role(key: str, role: str) -> None:
    allowed = roles_for(key)
    if role not in allowed:
        raise PermissionDenied(f"{role} may not call {key}", details={"allowed_roles": sorted(allowed)})
