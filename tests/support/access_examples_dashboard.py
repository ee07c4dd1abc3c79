"""Access-matrix examples for the district dashboard's aggregate (api/routes/dashboard.py)."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    # The matrix's users all work in the test town's district: counts of their own district.
    "GET /stats/case-status": lambda w: Example("/stats/case-status"),
}
