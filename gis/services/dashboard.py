"""District dashboard figures that no other route gives in one call: the cases of a district by status, per grid.

Counts only, no case and no person, so planners and viewers of the district may read them. The
other dashboard figures (households per grid, coverage per facility type, weekly patrols) come from
their own routes; this one exists because GET /incidents lists cases (paged, audited, descriptions)
and GET /stats/cases gives rates, neither a count per status.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.workflow import CLOSED_STATUSES, STATUSES
from gis.errors import InvalidInput
from gis.services.users import Principal, require_district


@dataclass(frozen=True)
class GridCaseCounts:
    """One grid's cases: how many in each status, how many still open."""

    grid_code: str
    grid_name: str | None
    community_code: str | None
    statuses: dict[str, int]
    open: int
    total: int


@dataclass(frozen=True)
class CaseStatusCounts:
    """A district's cases by status, in total and per grid (grids without cases left out)."""

    district_code: str
    statuses: dict[str, int]
    open: int
    total: int
    outside_grids: int  # cases routed to no current grid (e.g. reported outside every grid)
    grids: list[GridCaseCounts] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values; status codes in the workflow's order."""
        return asdict(self)


def case_status_counts(session: Session, principal: Principal, *, district_code: str | None = None
                       ) -> CaseStatusCounts:
    """Cases of ``district_code`` (default: the principal's) by status code, in total and per current grid."""
    district_code = district_code or principal.district_code
    if district_code is None:
        raise InvalidInput("district_code: a user without a district names the district, e.g. district_code=320102",
                           details={"field": "district_code"})
    require_district(principal, district_code, "the case counts")
    rows = session.execute(text("""
        SELECT i.grid_code, g.name AS grid_name, g.community_code, i.status, count(*) AS n
        FROM incident i LEFT JOIN grid g ON g.code = i.grid_code AND g.valid_to IS NULL
        WHERE i.district_code = :d
        GROUP BY i.grid_code, g.name, g.community_code, i.status
        ORDER BY i.grid_code, i.status"""), {"d": district_code}).all()
    order = {code: n for n, code in enumerate(STATUSES)}
    totals: dict[str, int] = {}
    per_grid: dict[str, dict[str, Any]] = {}
    outside = 0
    for r in rows:
        totals[r.status] = totals.get(r.status, 0) + r.n
        if r.grid_name is None:  # no grid, or a grid since redrawn away
            outside += r.n
            continue
        grid = per_grid.setdefault(r.grid_code, {"grid_name": r.grid_name, "community_code": r.community_code,
                                                 "statuses": {}})
        grid["statuses"][r.status] = r.n

    def ordered(counts: dict[str, int]) -> dict[str, int]:
        return dict(sorted(counts.items(), key=lambda kv: order.get(kv[0], len(order))))

    def still_open(counts: dict[str, int]) -> int:
        return sum(n for status, n in counts.items() if status not in CLOSED_STATUSES)

    grids = [GridCaseCounts(grid_code=code, grid_name=g["grid_name"], community_code=g["community_code"],
                            statuses=ordered(g["statuses"]), open=still_open(g["statuses"]),
                            total=sum(g["statuses"].values()))
             for code, g in sorted(per_grid.items())]
    return CaseStatusCounts(district_code=district_code, statuses=ordered(totals), open=still_open(totals),
                            total=sum(totals.values()), outside_grids=outside, grids=grids)
