"""A building over the grid maximum divided by its 单元 (entrances), when the register names them.

A tower of 1,500 households cannot share a grid with anything, and one grid for it breaks the
300–500 rule; the practice is to divide it by entrance (1–3单元 to one grid, 4–6单元 to the
next), since an entrance is what a grid worker walks. Only consecutive entrances go together,
so the division is a one-dimensional partition: dynamic programming over the sorted entrances
finds the grouping with every part in range and the parts closest to the target size.

Hand-written: a dozen lines of DP over at most a few dozen entrances; no library call is
simpler than that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class EntrancePart:
    units: tuple[str, ...]
    households: int

    @property
    def label(self) -> str:
        return self.units[0] if len(self.units) == 1 else f"{self.units[0]}–{self.units[-1]}"


def entrance_order(name: str) -> tuple[int, str]:
    """Sort key: 2单元 before 10单元 (the number in the name, then the name)."""
    found = re.search(r"\d+", name)
    return (int(found.group()) if found else 1 << 30, name)


def divide_by_entrances(entrances: Sequence[tuple[str, int]], lo: int, hi: int) -> list[EntrancePart] | None:
    """Consecutive groups of entrances, each with lo..hi households, closest to (lo + hi) / 2.

    ``entrances``: (name, households) per 单元. None when no grouping keeps every part in range
    (an entrance alone above ``hi``, or the sizes do not fit).
    """
    ordered = sorted(((name, int(n)) for name, n in entrances if n > 0), key=lambda e: entrance_order(e[0]))
    if len(ordered) < 2:
        return None
    target = (lo + hi) / 2
    prefix = [0]
    for _, n in ordered:
        prefix.append(prefix[-1] + n)
    m = len(ordered)
    # best[j]: least total squared deviation of a valid grouping of the first j entrances.
    best: list[float | None] = [0.0] + [None] * m
    back = [0] * (m + 1)
    for j in range(1, m + 1):
        for i in range(j):
            size = prefix[j] - prefix[i]
            before, current = best[i], best[j]
            if before is None or not lo <= size <= hi:
                continue
            cost = before + (size - target) ** 2
            if current is None or cost < current:
                best[j], back[j] = cost, i
    if best[m] is None:
        return None
    parts: list[EntrancePart] = []
    j = m
    while j > 0:
        i = back[j]
        parts.append(EntrancePart(tuple(name for name, _ in ordered[i:j]), prefix[j] - prefix[i]))
        j = i
    return parts[::-1]
