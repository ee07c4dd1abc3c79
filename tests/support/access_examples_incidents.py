"""Access-matrix examples for the incident case loop, case figures and the Open311 endpoints.

The world holds no incident (the tile tests count them), so routes on one incident name a missing
one and every allowed role gets the same 404; tests/api/test_incidents_api.py drives real cases.
Reports are placed in grid A, so the matrix's grid staff (leader_a, worker_a) may file them.
"""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example

# A point in grid A, between building N and the main road (town metres (300, 60)).
_A = town._lonlat([town.p(300, 60)])[0]
POINT_A = [round(_A.x, 9), round(_A.y, 9)]

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "POST /incidents": lambda w: Example("/incidents", json={"point": POINT_A, "category_code": "E0101",
                                                             "description": "路边垃圾"}, ok=201),
    "GET /incidents/overdue": lambda w: Example("/incidents/overdue"),
    "POST /incidents/{incident_id}/actions": lambda w: Example("/incidents/999999/actions",
                                                               json={"action": "register"},
                                                               headers={"If-Match": '"1"'}, ok=404),
    # The matrix sends no files: an allowed role gets past the table and is told the file is missing.
    "POST /incidents/{incident_id}/photos": lambda w: Example("/incidents/999999/photos", data={"x": "1"}, ok=422),
    "GET /incidents/{incident_id}/photos/{photo_id}": lambda w: Example("/incidents/999999/photos/1", ok=404),
    "GET /stats/cases": lambda w: Example("/stats/cases", params={"period": "2026-10"}),
    "GET /open311/v2/services.json": lambda w: Example("/open311/v2/services.json"),
    "GET /open311/v2/requests.json": lambda w: Example("/open311/v2/requests.json"),
    "POST /open311/v2/requests.json": lambda w: Example(
        "/open311/v2/requests.json", data={"service_code": "E0101", "lat": str(POINT_A[1]), "long": str(POINT_A[0])},
        ok=201),
    "GET /open311/v2/requests/{request_id}.json": lambda w: Example("/open311/v2/requests/999999.json", ok=404),
}
