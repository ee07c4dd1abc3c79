"""Access-matrix examples for residents, households, grid statistics, incidents and patrols.

Every example names a record in grid A, so the grid leader and worker of the matrix (leader_a,
worker_a, both of grid A) get the same ``ok`` as the admin.
"""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /residents": lambda w: Example("/residents"),
    "GET /residents/export": lambda w: Example("/residents/export"),
    "GET /residents/{resident_id}": lambda w: Example(f"/residents/{w['residents']['N'][0]}"),
    "PATCH /residents/{resident_id}": lambda w: Example(f"/residents/{w['residents']['N'][0]}",
                                                        json={"phone": "13900001111"}, headers={"If-Match": '"1"'}),
    "GET /households": lambda w: Example("/households"),
    "GET /households/{household_id}": lambda w: Example(f"/households/{w['households']['N']}"),
    "GET /buildings/{building_id}/residents": lambda w: Example(f"/buildings/{w['N']}/residents"),
    "GET /stats/grids": lambda w: Example("/stats/grids"),
    "GET /incidents": lambda w: Example("/incidents"),
    # The world holds no incident (the tile tests count them), so every role gets the same 404 here;
    # tests/api/test_cases.py shows each role its incidents.
    "GET /incidents/{incident_id}": lambda w: Example("/incidents/999999", ok=404),
    "GET /patrols": lambda w: Example("/patrols"),
    "GET /patrols/{patrol_id}": lambda w: Example(f"/patrols/{w['patrols']['worker_a']}"),
}
