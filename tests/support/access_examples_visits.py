"""Access-matrix examples for household visits and staffing (api/routes/visits.py).

The visit is to grid A's household (building N), which the matrix's grid worker and leader
hold; it carries no findings, so no ID key is needed to seal them. The world's plan is a draft:
its reassignments answer 409 (after adoption only) to every role the table lets in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from access_examples import Example


def _visit(w: dict) -> Example:
    return Example("/visits", json={"household_id": w["households"]["N"], "purpose": "routine",
                                    "visited_at": dt.datetime.now(dt.UTC).isoformat()}, ok=201)


EXAMPLES: dict[str, Callable[[dict], Example]] = {
    "POST /visits": _visit,
    "GET /visits": lambda w: Example("/visits"),
    "GET /visits/due": lambda w: Example("/visits/due"),
    "GET /visits/cadence": lambda w: Example("/visits/cadence", params={"district_code": "320199"}),
    "GET /stats/visits": lambda w: Example("/stats/visits", params={"month": dt.date.today().strftime("%Y-%m"),
                                                                    "district_code": "320199"}),
    "GET /grids/unstaffed": lambda w: Example("/grids/unstaffed", params={"district_code": "320199"}),
    "GET /plans/{plan_id}/reassignments": lambda w: Example(f"/plans/{w['plan']}/reassignments", ok=409),
    "POST /plans/{plan_id}/reassignments": lambda w: Example(f"/plans/{w['plan']}/reassignments", ok=409),
}
