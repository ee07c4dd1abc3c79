"""Incidents (事件), the case loop on them, and patrol tracks: the use cases the API, CLI and pages call.

The rules of the loop (workflow, deadlines, routing, duplicates, figures) are :mod:`gis.cases`';
this package reads and writes them in the database, grid-scoped in the query:

- :mod:`.scope`: who sees which incidents (the case scope of each role), the record and the read audit;
- :mod:`.incidents`: reading incidents (a page, GeoJSON, one case with its log);
- :mod:`.report`: filing a case (routing, duplicates, 随手办); :mod:`.places`: where a point belongs;
- :mod:`.actions`: the steps of the loop (dispatch, hand-over, summons, report-in, urging, closing);
- :mod:`.log`: the case's log (events, deadline status, summons and urgings) shared by every step;
- :mod:`.urging`: overdue lists, automatic urging and summons lists; :mod:`.figures`: the figures of a period;
- :mod:`.photos`: photo files; :mod:`.open311`: the public GeoReport v2 view; :mod:`.patrols`: patrol tracks;
- :mod:`.rules`: the city's settings read into the rules of :mod:`gis.cases`.

Importers use this package (``from gis.services import cases``); the modules are its seams.
"""

from __future__ import annotations

from gis.cases.workflow import STATUSES
from gis.services.cases.actions import act_on_incident
from gis.services.cases.figures import case_statistics
from gis.services.cases.incidents import get_incident, incidents_geojson, list_incidents
from gis.services.cases.open311 import (
    check_open311_key,
    open311_create,
    open311_request,
    open311_requests,
    open311_services,
)
from gis.services.cases.patrols import get_patrol, list_patrols
from gis.services.cases.photos import PHOTO_TYPES, add_photo, clean_photo, photo_file, photo_kind
from gis.services.cases.places import grid_staff, locate_point
from gis.services.cases.report import quick_fix_sampled, report_incident
from gis.services.cases.rules import SOURCES, case_table, deadline_rules, incident_categories, resolve_category
from gis.services.cases.scope import CASE_ROLES, CaseScope, case_scope
from gis.services.cases.urging import list_summons, overdue_incidents, urge_overdue
from gis.services.residents import Reader

__all__ = [
    "CASE_ROLES", "PHOTO_TYPES", "SOURCES", "STATUSES", "CaseScope", "Reader", "act_on_incident", "add_photo",
    "case_scope", "case_statistics", "case_table", "check_open311_key", "clean_photo", "deadline_rules",
    "get_incident", "get_patrol", "grid_staff", "incident_categories", "incidents_geojson", "list_incidents",
    "list_patrols", "list_summons", "locate_point", "open311_create", "open311_request", "open311_requests",
    "open311_services", "overdue_incidents", "photo_file", "photo_kind", "quick_fix_sampled", "report_incident",
    "resolve_category", "urge_overdue",
]
