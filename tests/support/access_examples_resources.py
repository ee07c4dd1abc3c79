"""Access-matrix examples for boundaries, facilities, plans, coverage and jobs (one request per route)."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from access_examples import Example
from api_world import GRID_A

POINT = {"type": "Point", "coordinates": [118.8390, 32.0235]}  # beside building N, inside the district

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /districts": lambda w: Example("/districts"),
    "GET /streets": lambda w: Example("/streets"),
    "GET /streets/{code}": lambda w: Example(f"/streets/{town.STREET}"),
    "GET /communities": lambda w: Example("/communities"),
    "GET /communities/{code}": lambda w: Example(f"/communities/{town.NORTH}"),
    "GET /grids": lambda w: Example("/grids", params={"community_code": town.NORTH}),
    "GET /grids/{code}": lambda w: Example(f"/grids/{GRID_A}"),
    "GET /grids/{code}/history": lambda w: Example(f"/grids/{GRID_A}/history"),
    "GET /buildings": lambda w: Example("/buildings", params={"limit": 2}),
    "GET /buildings/{building_id}": lambda w: Example(f"/buildings/{w['N']}"),
    "GET /compounds": lambda w: Example("/compounds"),
    "GET /facility-types": lambda w: Example("/facility-types"),
    "GET /facilities": lambda w: Example("/facilities", params={"type": "kindergarten"}),
    "GET /facilities/{facility_id}": lambda w: Example(f"/facilities/{w['F1']}"),
    "POST /facilities": lambda w: Example("/facilities", json={"type_code": "kindergarten", "geometry": POINT},
                                          ok=201),
    "PATCH /facilities/{facility_id}": lambda w: Example(f"/facilities/{w['F1']}", json={"capacity": 60},
                                                         headers={"If-Match": '"1"'}),
    "GET /plans": lambda w: Example("/plans"),
    "GET /plans/{plan_id}": lambda w: Example(f"/plans/{w['plan']}"),
    "GET /plans/{plan_id}/diff/{other_id}": lambda w: Example(f"/plans/{w['plan']}/diff/current"),
    "POST /plans/grid-suggestions": lambda w: Example("/plans/grid-suggestions", ok=201,
                                                      json={"community_code": town.SOUTH, "min": 30, "max": 60}),
    "POST /plans/community-suggestions": lambda w: Example("/plans/community-suggestions", ok=201,
                                                           json={"street_code": town.STREET, "min": 30, "max": 250}),
    "POST /plans/{plan_id}/adopt": lambda w: Example(f"/plans/{w['plan']}/adopt", headers={"If-Match": '"1"'},
                                                     json={"reason": "access matrix", "allow_out_of_range": True}),
    "GET /coverage/runs": lambda w: Example("/coverage/runs"),
    # The world has no run (tests compute theirs): past the role check, an unknown run answers 404.
    "GET /coverage/runs/{run_id}": lambda w: Example("/coverage/runs/999999", ok=404),
    "GET /coverage/runs/{run_id}/gaps": lambda w: Example("/coverage/runs/999999/gaps", ok=404),
    "POST /coverage/runs": lambda w: Example("/coverage/runs", ok=201,
                                             json={"district_code": town.DISTRICT, "types": ["kindergarten"]}),
    "POST /coverage/site": lambda w: Example("/coverage/site", json={"type_code": "kindergarten", "k": 1,
                                                                      "district_code": town.DISTRICT}),
    "GET /jobs": lambda w: Example("/jobs"),
    # Every role may ask; a job id nobody started answers 404 (past the role check, which would say 403).
    "GET /jobs/{job_id}": lambda w: Example("/jobs/0123456789abcdef0123456789abcdef", ok=404),
}
