"""Access-matrix examples for the dashboard's counts and the workbench's dispatch list (api/routes/dashboard.py)."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example
from api_world import GRID_A

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    # The matrix's users all work in the test town's district: counts of their own district.
    "GET /stats/case-status": lambda w: Example("/stats/case-status"),
    # Grid A is the matrix's grid leader's and worker's own grid: its staff.
    "GET /grids/{code}/staff": lambda w: Example(f"/grids/{GRID_A}/staff"),
}
