"""Access-matrix examples for households per building (api/routes/buildings.py)."""

from __future__ import annotations

from collections.abc import Callable

from access_examples import Example

EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "GET /buildings/{building_id}/households": lambda w: Example(f"/buildings/{w['N']}/households"),
    "PUT /buildings/{building_id}/households": lambda w: Example(f"/buildings/{w['N']}/households", json={
        "households": 42, "reason": "access matrix count"}),
    "GET /household-estimates/review": lambda w: Example("/household-estimates/review", params={"top": 3}),
}
