"""What the dashboard and the leader's workbench need that no other route gives in one call.

The cases of a district by status, per grid: counts only, no case and no person, so planners and
viewers of the district may read them (GET /incidents lists cases, paged, audited, with
descriptions; GET /stats/cases gives rates; neither counts per status). And the staff a case of a
grid may be dispatched to, with the user ids the dispatch action takes (the unit card names the
staff for the public, without ids).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.cases.workflow import CLOSED_STATUSES, STATUSES
from gis.errors import InvalidInput, NotFound
from gis.services import cases as case_service
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


@dataclass(frozen=True)
class GridStaff:
    """A leader or worker currently assigned to a grid: whom its cases may be dispatched to."""

    user_id: int
    username: str
    display_name: str | None
    role: str
    duty: str


def dispatch_staff(session: Session, principal: Principal, grid_code: str) -> list[GridStaff]:
    """The active staff of ``grid_code``, for a user who may dispatch its cases (grid staff: their grids only)."""
    district = session.execute(text("SELECT district_code FROM grid WHERE code = :c AND valid_to IS NULL"),
                               {"c": grid_code}).scalar()
    outside = principal.is_grid_scoped and grid_code not in principal.grid_codes
    if district is None or outside or not principal.sees_district(district):
        # The same answer for a grid that does not exist and one outside the caller's scope.
        raise NotFound(f"grid_code: no current grid {grid_code} within your scope", details={"field": "grid_code"})
    return [GridStaff(user_id=s["user_id"], username=s["username"], display_name=s["display_name"], role=s["role"],
                      duty=s["duty"]) for s in case_service.grid_staff(session, grid_code)]
