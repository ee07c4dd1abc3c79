"""The synthetic city's plan and the records its steps pass on, in the local metric frame.

x runs east and y north, in metres from the city's south-west corner. ``plan_city`` draws the
superblocks between the main roads, the river (through the middle superblock row) and the
railway (through the middle column); ``Lines``, ``Cell``, ``CellLayout`` and ``Buildings`` are
what the street, building and facility steps fill in. The sizes here are urban Chinese practice
(main roads every 500-800 m, minor ones every 100-200 m, setbacks from the street).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# --- street grid (metres) -------------------------------------------------------------------

MAIN_SPACING_M = (500.0, 800.0)
MINOR_SPACING_M = (120.0, 180.0)  # mean spacing drawn per superblock; lines then jittered
RIVER_ROW_MIN_M = 850.0  # the superblock row the river runs through is at least this tall
RAILWAY_COL_MIN_M = 750.0
MINOR_DROP_SHARE = 0.07  # minor segments removed (never ones that would disconnect the network)

# Highway classes of the generated lines; codes index this tuple.
HIGHWAYS = ("primary", "secondary", "residential", "service", "footway")
PRIMARY, SECONDARY, RESIDENTIAL, SERVICE, FOOTWAY = range(5)
MINOR_CLASS_P = (0.6, 0.25, 0.15)  # residential, service, footway for minor streets

# Distances from road centre lines / barrier lines.
# A cell side is a main or minor street, a barrier's keep-off line ("edge") or the line of a
# minor street that was left out near a barrier ("void": no street, but kept clear).
SETBACK = {"main": 22.0, "minor": 9.0, "void": 9.0, "edge": 0.0}  # side -> building
WALL = {"main": 14.0, "minor": 4.0, "void": 4.0, "edge": 0.0}  # side -> compound wall
STREET_SIDES = ("main", "minor")
RIVER_ROAD_GAP_M = 25.0  # minor roads stop this far from the river's centre line
RIVER_BUILD_GAP_M = 40.0  # and buildings keep this far
RAIL_ROAD_GAP_M = 20.0
RAIL_BUILD_GAP_M = 30.0

# Gross households per km² of residential superblocks that sizing starts from; the
# generator checks the real capacity and enlarges the city when it falls short.
_PLANNING_DENSITY = 15_500.0
CAPACITY_MARGIN = 1.08
CAPACITY_MAX = 1.25
SIZING_ATTEMPTS = 8
_BUSINESS_SHARE = 0.1  # share of superblocks that are offices and shops

# Residential cell layouts: (kind, levels, weight) per superblock era.
ERAS = {
    "old": (0.35, (("slab", 6, 0.85), ("slab", 11, 0.15))),
    "mid": (0.30, (("slab", 6, 0.30), ("slab", 11, 0.60), ("slab", 18, 0.10))),
    "new": (0.35, (("slab", 11, 0.15), ("slab", 18, 0.35), ("tower", 18, 0.20), ("tower", 26, 0.30))),
}

# --- the plan ---------------------------------------------------------------------------------


@dataclass
class Lines:
    """Axis-parallel street segments: vertical ones (x, y0..y1) and horizontal ones (y, x0..x1)."""

    vx: list[float] = field(default_factory=list)
    vy0: list[float] = field(default_factory=list)
    vy1: list[float] = field(default_factory=list)
    vline: list[int] = field(default_factory=list)
    hy: list[float] = field(default_factory=list)
    hx0: list[float] = field(default_factory=list)
    hx1: list[float] = field(default_factory=list)
    hline: list[int] = field(default_factory=list)
    # per line id
    highway: list[int] = field(default_factory=list)
    name: list[str | None] = field(default_factory=list)

    def new_line(self, highway: int, name: str | None) -> int:
        self.highway.append(highway)
        self.name.append(name)
        return len(self.highway) - 1

    def vertical(self, x: float, y0: float, y1: float, line: int) -> None:
        if y1 - y0 > 1.0:
            self.vx.append(x)
            self.vy0.append(y0)
            self.vy1.append(y1)
            self.vline.append(line)

    def horizontal(self, y: float, x0: float, x1: float, line: int) -> None:
        if x1 - x0 > 1.0:
            self.hy.append(y)
            self.hx0.append(x0)
            self.hx1.append(x1)
            self.hline.append(line)


@dataclass
class Cell:
    """A minor block between streets (or a street and a barrier), with what each side is."""

    x0: float
    y0: float
    x1: float
    y1: float
    sides: tuple[str, str, str, str]  # west, south, east, north: "main" | "minor" | "void" | "edge"
    superblock: int
    use: str = ""  # residential | business | facility:<code> | park | shops

    def inner(self, table: dict[str, float]) -> tuple[float, float, float, float]:
        w, s, e, n = (table[k] for k in self.sides)
        return self.x0 + w, self.y0 + s, self.x1 - e, self.y1 - n


@dataclass
class Barrier:
    """A river (y = f(x)) or railway (x = f(y)) as a sum of sines around a base line."""

    base: float
    amps: tuple[float, ...]
    waves: tuple[float, ...]
    phases: tuple[float, ...]

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, self.base)
        for a, w, p in zip(self.amps, self.waves, self.phases, strict=True):
            out = out + a * np.sin(2 * np.pi * t / w + p)
        return out

    def range_over(self, t0: float, t1: float) -> tuple[float, float]:
        t = np.linspace(t0, t1, max(3, int((t1 - t0) / 2.0) + 2))
        v = self(t)
        return float(v.min()), float(v.max())

    @property
    def reach(self) -> float:
        return float(sum(abs(a) for a in self.amps))


@dataclass
class Buildings:
    """The buildings so far, column by column (boxes in metres), with the cell each stands in."""

    x0: list[float] = field(default_factory=list)
    y0: list[float] = field(default_factory=list)
    x1: list[float] = field(default_factory=list)
    y1: list[float] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    height: list[float] = field(default_factory=list)
    households: list[int] = field(default_factory=list)
    cell: list[int] = field(default_factory=list)
    name: list[str] = field(default_factory=list)

    def add(self, box: tuple[float, float, float, float], kind: str, levels: int, households: int, cell: int,
            storey_m: float = 3.0, name: str = "") -> None:
        x0, y0, x1, y1 = box
        self.x0.append(x0)
        self.y0.append(y0)
        self.x1.append(x1)
        self.y1.append(y1)
        self.kind.append(kind)
        self.levels.append(levels)
        self.height.append(round(levels * storey_m, 1))
        self.households.append(households)
        self.cell.append(cell)
        self.name.append(name)

    def __len__(self) -> int:
        return len(self.x0)


@dataclass
class CellLayout:
    """The buildings one residential cell could hold: boxes, their households, the lanes between rows."""

    boxes: list[tuple[float, float, float, float]]
    kind: str
    levels: int
    households: list[int]
    paths: list[tuple[float, int]]  # (y, highway) of internal east-west paths


@dataclass
class CityPlan:
    """Main road positions (``xs``, ``ys``), superblock grid, barriers, and each superblock's kind and era."""

    xs: np.ndarray
    ys: np.ndarray
    nx: int
    ny: int
    river_row: int
    rail_col: int | None
    river: Barrier
    railway: Barrier | None
    kinds: np.ndarray  # per superblock, row-major: residential | business
    eras: list[str]  # per superblock: old | mid | new


def plan_city(rng: np.random.Generator, households: int, scale: float) -> CityPlan:
    """Main roads, superblocks, the river and the railway for a city of ``households``."""
    area_km2 = households * CAPACITY_MARGIN * scale / _PLANNING_DENSITY / (1 - _BUSINESS_SHARE)
    sb_area = (sum(MAIN_SPACING_M) / 2) ** 2 / 1e6
    n_sb = max(1.0, area_km2 / sb_area)
    nx = max(1, int(round(math.sqrt(n_sb * 1.3))))
    ny = max(1, int(math.ceil(n_sb / nx)))
    widths = rng.uniform(*MAIN_SPACING_M, size=nx)
    heights = rng.uniform(*MAIN_SPACING_M, size=ny)
    river_row = ny // 2
    heights[river_row] = max(heights[river_row], RIVER_ROW_MIN_M)
    rail_col = nx // 2 if nx >= 2 else None
    if rail_col is not None:
        widths[rail_col] = max(widths[rail_col], RAILWAY_COL_MIN_M)
    xs = np.concatenate([[0.0], np.cumsum(widths)])
    ys = np.concatenate([[0.0], np.cumsum(heights)])
    river = Barrier(
        base=float((ys[river_row] + ys[river_row + 1]) / 2 + rng.uniform(-40, 40)),
        amps=(float(rng.uniform(45, 70)), float(rng.uniform(10, 20))),
        waves=(float(rng.uniform(1500, 2600)), float(rng.uniform(450, 700))),
        phases=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
    )
    railway = None
    if rail_col is not None:
        railway = Barrier(
            base=float((xs[rail_col] + xs[rail_col + 1]) / 2 + rng.uniform(-40, 40)),
            amps=(float(rng.uniform(30, 60)),),
            waves=(float(rng.uniform(4000, 7000)),),
            phases=(float(rng.uniform(0, 2 * np.pi)),),
        )
    n = nx * ny
    kinds = np.array(["residential"] * n, dtype=object)
    n_business = int(round(_BUSINESS_SHARE * n)) if n >= 6 else 0
    if n_business:
        kinds[rng.choice(n, size=n_business, replace=False)] = "business"
    era_names = list(ERAS)
    era_p = np.array([ERAS[e][0] for e in era_names])
    eras = [era_names[i] for i in rng.choice(len(era_names), size=n, p=era_p / era_p.sum())]
    return CityPlan(xs=xs, ys=ys, nx=nx, ny=ny, river_row=river_row, rail_col=rail_col, river=river,
                    railway=railway, kinds=kinds, eras=eras)

