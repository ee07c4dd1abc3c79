"""Staffing rules (一格一员), without a database: where a retired grid's staff go.

Why hand-written: one small rule of practice, not an algorithm a library offers. When a plan
retires a grid, its staff follow most of their households: the new grid that holds the largest
number of the retired grid's households (ties to the lowest code, so the answer is stable).
A retired grid without households follows its land instead: the new grid covering most of its
area. A grid without a worker is reported, whatever its leaders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """Where a retired grid's staff go, and how many of its households are there."""

    grid_code: str | None
    households: int
    households_total: int
    by: str = "households"  # or "area" when the retired grid held no households

    @property
    def share(self) -> float | None:
        """The share of the retired grid's households that the target holds."""
        return round(self.households / self.households_total, 4) if self.households_total else None


def follow_households(split: Mapping[str | None, int], overlap: Mapping[str, float] | None = None) -> Target:
    """The new grid holding most of a retired grid's households (``split``: new grid code → households).

    Households that lie in no current grid (key None) count in the total but are never a target.
    Without households, the grid with the largest ``overlap`` (area shared, m²); None when no
    current grid holds any of it (e.g. a community redrawn and not yet split into grids).
    """
    total = int(sum(split.values()))
    ranked = sorted(((-int(n), code) for code, n in split.items() if code is not None and n > 0))
    if not ranked:
        by_area = sorted((-float(a), code) for code, a in (overlap or {}).items() if a > 0)
        if total == 0 and by_area:
            return Target(grid_code=by_area[0][1], households=0, households_total=0, by="area")
        return Target(grid_code=None, households=0, households_total=total)
    households, code = -ranked[0][0], ranked[0][1]
    return Target(grid_code=code, households=households, households_total=total)
