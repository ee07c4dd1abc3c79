"""Access-matrix examples for party organisation and the heads of level-2 grids (one request per route)."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example
from api_world import GRID_A, GRID_C

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    # Past the role check, grid C split into level-2 grids: a draft plan (201).
    "POST /plans/micro-suggestions": lambda w: Example("/plans/micro-suggestions", ok=201,
                                                       json={"grid_code": GRID_C, "max": 100}),
    "GET /party/orgs": lambda w: Example("/party/orgs"),
    "POST /party/orgs": lambda w: Example("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_A}, ok=201),
    # No organisation has this id: past the role check, 404.
    "DELETE /party/orgs/{org_id}": lambda w: Example("/party/orgs/999999", ok=404),
    "GET /party/check": lambda w: Example("/party/check"),
    # Grid A is level 1: its level-2 grids' heads (none yet).
    "GET /grids/{code}/contacts": lambda w: Example(f"/grids/{GRID_A}/contacts"),
    # Past the role check, a level-1 grid has no heads of its own: 422.
    "POST /grids/{code}/contacts": lambda w: Example(f"/grids/{GRID_A}/contacts", ok=422,
                                                     json={"role": "building_head", "name": "张三"}),
}
