"""Synthetic districts and residents: a made-up Chinese city for benchmarks, tests and demos.

``generate_district`` builds a city the size of a requested household count: a street
grid of main roads (every 500–800 m) around superblocks, minor roads and footways
(every 100–200 m, irregular, some segments missing) inside them, compounds (小区) of
slab and tower blocks with lanes between the rows and a footway to every entrance,
schools and other public buildings, a river and (from two superblock columns) a railway
that only main roads cross, and catalogue facilities placed so that coverage is partial.
``generate_residents`` fills buildings with households and people whose ages, household
sizes and tags follow a Chinese urban population (2020-census-like).

Everything is deterministic for a given seed, and everything is fake: the district's
``report`` says ``synthetic: True`` and both resident frames carry a ``synthetic`` column.
Building household counts are "recorded" (``households_estimated`` False) because the
generator knows them exactly; they are made up all the same.

The city is laid out in a local metric frame (x east, y north, metres from the
south-west corner) on the CGCS2000 3-degree Gauss-Krüger zone of ``origin``, then
converted to EPSG:4490; ``length_m`` is measured in that frame (scale error < 0.05%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse import csgraph

from gis.catalogue import load_catalogue
from gis.crs import CHINA_BOUNDS, metric_crs_for
from gis.errors import InvalidInput
from gis.layers import (
    BARRIER_COLUMNS,
    BUILDING_COLUMNS,
    COMPOUND_COLUMNS,
    EDGE_COLUMNS,
    FACILITY_COLUMNS,
    NODE_COLUMNS,
    STORAGE_CRS,
    DistrictLayers,
)

__all__ = [
    "HOUSEHOLDS_PER_FACILITY",
    "generate_district",
    "generate_residents",
    "id_number_check_digit",
    "is_valid_id_number",
]

Progress = Callable[[str, float], None]

# --- street grid (metres) -------------------------------------------------------------------

MAIN_SPACING_M = (500.0, 800.0)
MINOR_SPACING_M = (120.0, 180.0)  # mean spacing drawn per superblock; lines then jittered
RIVER_ROW_MIN_M = 850.0  # the superblock row the river runs through is at least this tall
RAILWAY_COL_MIN_M = 750.0
MINOR_DROP_SHARE = 0.07  # minor segments removed (never ones that would disconnect the network)

# Highway classes of the generated lines; codes index this tuple.
_HIGHWAYS = ("primary", "secondary", "residential", "service", "footway")
_PRIMARY, _SECONDARY, _RESIDENTIAL, _SERVICE, _FOOTWAY = range(5)
_MINOR_CLASS_P = (0.6, 0.25, 0.15)  # residential, service, footway for minor streets

# Distances from road centre lines / barrier lines.
# A cell side is a main or minor street, a barrier's keep-off line ("edge") or the line of a
# minor street that was left out near a barrier ("void": no street, but kept clear).
_SETBACK = {"main": 22.0, "minor": 9.0, "void": 9.0, "edge": 0.0}  # side -> building
_WALL = {"main": 14.0, "minor": 4.0, "void": 4.0, "edge": 0.0}  # side -> compound wall
_STREET_SIDES = ("main", "minor")
RIVER_ROAD_GAP_M = 25.0  # minor roads stop this far from the river's centre line
RIVER_BUILD_GAP_M = 40.0  # and buildings keep this far
RAIL_ROAD_GAP_M = 20.0
RAIL_BUILD_GAP_M = 30.0

# Gross households per km² of residential superblocks that sizing starts from; the
# generator checks the real capacity and enlarges the city when it falls short.
_PLANNING_DENSITY = 15_500.0
_CAPACITY_MARGIN = 1.08
_CAPACITY_MAX = 1.25
_SIZING_ATTEMPTS = 8
_BUSINESS_SHARE = 0.1  # share of superblocks that are offices and shops

# Residential cell layouts: (kind, levels, weight) per superblock era.
_ERAS = {
    "old": (0.35, (("slab", 6, 0.85), ("slab", 11, 0.15))),
    "mid": (0.30, (("slab", 6, 0.30), ("slab", 11, 0.60), ("slab", 18, 0.10))),
    "new": (0.35, (("slab", 11, 0.15), ("slab", 18, 0.35), ("tower", 18, 0.20), ("tower", 26, 0.30))),
}
_SLAB_DEPTH = {6: 12.0, 11: 13.0, 18: 15.0}
_SLAB_GAP = {6: 20.0, 11: 30.0, 18: 42.0}  # sunlight spacing between rows
_UNIT_W = 15.0  # one stair unit: two flats per floor
_TOWER = (26.0, 22.0)  # footprint; four flats per floor
_TOWER_GAP = {18: (24.0, 36.0), 26: (26.0, 50.0)}
_ENTRANCE_GAP_M = 1.0  # entrance footways end this far from the wall

# One facility per this many households (at least one per type in every district).
HOUSEHOLDS_PER_FACILITY: dict[str, float] = {
    "community_service_station": 2_500,
    "kindergarten": 3_000,
    "nursery": 6_000,
    "elderly_daycare": 4_000,
    "health_station": 3_000,
    "sports_ground_small": 3_500,
    "culture_station": 5_000,
    "primary_school": 7_000,
    "food_market": 6_000,
    "sports_ground_mid": 15_000,
    "middle_school": 20_000,
    "health_centre": 30_000,
    "culture_centre": 40_000,
    "elderly_home": 25_000,
    "street_office": 50_000,
    "police_station": 40_000,
    "convenience_store": 400,
    "parcel_locker": 300,
    "waste_point": 250,
}
# Facilities with a building of their own (a cell each): kind, levels, footprint (m).
_DEDICATED = {
    "primary_school": ("school", 4, (70.0, 18.0)),
    "middle_school": ("school", 5, (80.0, 20.0)),
    "health_centre": ("hospital", 5, (50.0, 30.0)),
    "elderly_home": ("public", 6, (45.0, 16.0)),
    "street_office": ("government", 6, (40.0, 20.0)),
    "police_station": ("government", 4, (32.0, 16.0)),
    "culture_centre": ("civic", 3, (45.0, 35.0)),
    "sports_ground_mid": ("sports_hall", 2, (50.0, 35.0)),
}
# Name endings that ``gis.catalogue.classify_facility`` recognises as the same type.
_FACILITY_SUFFIX = {
    "community_service_station": "社区服务站",
    "kindergarten": "幼儿园",
    "nursery": "托儿所",
    "elderly_daycare": "日间照料中心",
    "health_station": "社区卫生服务站",
    "sports_ground_small": "运动场地",
    "culture_station": "文化活动站",
    "primary_school": "小学",
    "food_market": "菜市场",
    "sports_ground_mid": "体育中心",
    "middle_school": "初级中学",
    "health_centre": "社区卫生服务中心",
    "culture_centre": "文化活动中心",
    "elderly_home": "养老院",
    "street_office": "街道办事处",
    "police_station": "派出所",
    "convenience_store": "便利店",
    "parcel_locker": "快递柜",
    "waste_point": "垃圾收集点",
}

# --- names ------------------------------------------------------------------------------------

_MAIN_ROOTS = (
    "中山 建设 解放 人民 和平 长江 黄河 珠江 汉中 北京 上海 广州 中华 青年 胜利 友谊 新华 光明 文化 学府 "
    "科技 工业 东风 红旗 华山 泰山 庐山 紫金 玄武 秦淮 鼓楼 凤凰 莫愁 清凉 石城 龙江 江东 汉江 虎踞 龙蟠 "
    "太平 洪武 集庆 升州 应天 定淮 湖南 云南 江苏 浙江 安徽 福建 湖北 四川 天津 重庆 西安 长白 昆仑 天山"
).split()
_MINOR_CHARS = "丰和安平永长福兴文德仁义顺康泰华宁明新庆乐善美清正富裕春秋金玉桂兰竹松柏梅荷莲桃李杏云"
_COMPOUND_ROOTS = (
    "幸福 阳光 金色 翠竹 康乐 和谐 锦绣 碧水 蓝天 春晖 明珠 怡景 香榭 兰亭 枫林 银杏 紫荆 梧桐 清华 瑞景 "
    "万家 华侨 朝阳 东方 南湖 北苑 丽景 御景 天润 龙湖 金陵 玉兰 桂花 海棠 百合 嘉和 文昌 书香 映月 听涛 "
    "翠屏 望江 滨江 锦江 新城 世纪 时代 盛世 祥和 安居 乐居 宜家 恒大 万科 保利 绿地 华润 中海 招商 融侨"
).split()
_COMPOUND_SUFFIXES = ("小区", "花园", "新村", "家园", "苑", "公寓", "华庭", "雅居", "名苑", "佳园")
_RIVER_NAMES = ("青溪河", "运粮河", "金川河", "护城河", "惠民河", "秦淮新河", "玉带河", "清水河")
_RAILWAY_NAMES = ("城际铁路", "沿江铁路", "宁芜铁路", "沪汉铁路", "北环铁路")
_CN_DIGITS = "零一二三四五六七八九十"


def _cn_number(n: int) -> str:
    """Chinese numeral for 1..99 (二, 十一, 二十三)."""
    if n <= 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return (_CN_DIGITS[tens] if tens > 1 else "") + "十" + (_CN_DIGITS[ones] if ones else "")


class _Names:
    """Deterministic Chinese names for roads, compounds and facilities."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._main = [_MAIN_ROOTS[i] for i in rng.permutation(len(_MAIN_ROOTS))]
        chars = list(_MINOR_CHARS)
        pairs = [a + b for a in chars for b in chars if a != b]
        self._minor = [pairs[i] for i in rng.permutation(len(pairs))]
        combos = [r + s for r in _COMPOUND_ROOTS for s in _COMPOUND_SUFFIXES]
        self._compound = [combos[i] for i in rng.permutation(len(combos))]
        self._roots = [_COMPOUND_ROOTS[i] for i in rng.permutation(len(_COMPOUND_ROOTS))]
        self._n_main = self._n_minor = self._n_compound = self._n_root = 0

    def main_road(self, highway: int) -> str:
        i = self._n_main
        self._n_main += 1
        root = self._main[i % len(self._main)]
        if i >= len(self._main):
            root += _cn_number(i // len(self._main) + 1)
        return root + ("大道" if highway == _PRIMARY and i % 3 == 0 else "路")

    def minor_road(self, highway: int) -> str:
        i = self._n_minor
        self._n_minor += 1
        root = self._minor[i % len(self._minor)]
        if i >= len(self._minor):
            root += _cn_number(i // len(self._minor) % 99 + 1)
        suffix = {_RESIDENTIAL: ("街", "路"), _SERVICE: ("巷", "里"), _FOOTWAY: ("巷", "弄")}[highway]
        return root + suffix[i % 2]

    def compound(self) -> str:
        i = self._n_compound
        self._n_compound += 1
        base = self._compound[i % len(self._compound)]
        phase = i // len(self._compound)
        return base if phase == 0 else f"{base}{_cn_number(phase % 99 + 1)}期"

    def root(self) -> str:
        i = self._n_root
        self._n_root += 1
        return self._roots[i % len(self._roots)]


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class _Lines:
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
            self.vx.append(x), self.vy0.append(y0), self.vy1.append(y1), self.vline.append(line)

    def horizontal(self, y: float, x0: float, x1: float, line: int) -> None:
        if x1 - x0 > 1.0:
            self.hy.append(y), self.hx0.append(x0), self.hx1.append(x1), self.hline.append(line)


@dataclass
class _Cell:
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
class _Barrier:
    """A river (y = f(x)) or railway (x = f(y)) as a sum of sines around a base line."""

    base: float
    amps: tuple[float, ...]
    waves: tuple[float, ...]
    phases: tuple[float, ...]

    def __call__(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, self.base)
        for a, w, p in zip(self.amps, self.waves, self.phases):
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
class _Buildings:
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
        self.x0.append(box[0]), self.y0.append(box[1]), self.x1.append(box[2]), self.y1.append(box[3])
        self.kind.append(kind), self.levels.append(levels), self.height.append(round(levels * storey_m, 1))
        self.households.append(households), self.cell.append(cell), self.name.append(name)

    def __len__(self) -> int:
        return len(self.x0)


def _minor_positions(rng: np.random.Generator, lo: float, hi: float) -> list[float]:
    """Interior minor street positions between two main roads: irregular, 100–200 m apart."""
    width = hi - lo
    k = max(1, int(round(width / rng.uniform(*MINOR_SPACING_M))))
    step = width / k
    pos = lo + step * np.arange(1, k) + rng.uniform(-0.18, 0.18, size=k - 1) * step
    return [float(p) for p in pos]


def _plan(rng: np.random.Generator, households: int, scale: float) -> dict[str, Any]:
    """Main roads, superblocks, the river and the railway for a city of ``households``."""
    area_km2 = households * _CAPACITY_MARGIN * scale / _PLANNING_DENSITY / (1 - _BUSINESS_SHARE)
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
    river = _Barrier(
        base=float((ys[river_row] + ys[river_row + 1]) / 2 + rng.uniform(-40, 40)),
        amps=(float(rng.uniform(45, 70)), float(rng.uniform(10, 20))),
        waves=(float(rng.uniform(1500, 2600)), float(rng.uniform(450, 700))),
        phases=(float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi))),
    )
    railway = None
    if rail_col is not None:
        railway = _Barrier(
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
    era_names = list(_ERAS)
    era_p = np.array([_ERAS[e][0] for e in era_names])
    eras = [era_names[i] for i in rng.choice(len(era_names), size=n, p=era_p / era_p.sum())]
    return {"xs": xs, "ys": ys, "nx": nx, "ny": ny, "river_row": river_row, "rail_col": rail_col,
            "river": river, "railway": railway, "kinds": kinds, "eras": eras}


def _streets_and_cells(rng: np.random.Generator, plan: dict[str, Any], names: _Names) -> tuple[_Lines, list[_Cell]]:
    """Main and minor street segments (cut at the barriers) and the cells between them."""
    xs, ys, nx, ny = plan["xs"], plan["ys"], plan["nx"], plan["ny"]
    river: _Barrier = plan["river"]
    railway: _Barrier | None = plan["railway"]
    lines = _Lines()
    # Main roads: alternate primary/secondary; they span the city and bridge the barriers.
    first = int(rng.integers(0, 2))
    for k, x in enumerate(xs):
        hw = _PRIMARY if (k + first) % 2 == 0 else _SECONDARY
        lines.vertical(float(x), float(ys[0]), float(ys[-1]), lines.new_line(hw, names.main_road(hw)))
    for k, y in enumerate(ys):
        hw = _PRIMARY if (k + first) % 2 == 1 else _SECONDARY
        lines.horizontal(float(y), float(xs[0]), float(xs[-1]), lines.new_line(hw, names.main_road(hw)))

    cells: list[_Cell] = []
    for j in range(ny):
        for i in range(nx):
            sb = j * nx + i
            X0, X1, Y0, Y1 = float(xs[i]), float(xs[i + 1]), float(ys[j]), float(ys[j + 1])
            mx = _minor_positions(rng, X0, X1)
            my = _minor_positions(rng, Y0, Y1)
            in_river_row = j == plan["river_row"]
            in_rail_col = railway is not None and i == plan["rail_col"]
            x_side = ["main"]
            for x in mx:
                hw = _RESIDENTIAL + int(rng.choice(3, p=_MINOR_CLASS_P))
                line = lines.new_line(hw, names.minor_road(hw))
                if in_rail_col:
                    lo, hi = railway.range_over(Y0, Y1)
                    if lo - RAIL_ROAD_GAP_M < x < hi + RAIL_ROAD_GAP_M:
                        x_side.append("void")  # the railway runs along here: no street
                        continue
                x_side.append("minor")
                if in_river_row:
                    fy = float(river(x))
                    lines.vertical(x, Y0, fy - RIVER_ROAD_GAP_M, line)
                    lines.vertical(x, fy + RIVER_ROAD_GAP_M, Y1, line)
                else:
                    lines.vertical(x, Y0, Y1, line)
            y_side = ["main"]
            for y in my:
                hw = _RESIDENTIAL + int(rng.choice(3, p=_MINOR_CLASS_P))
                line = lines.new_line(hw, names.minor_road(hw))
                if in_river_row:
                    lo, hi = river.range_over(X0, X1)
                    if lo - RIVER_ROAD_GAP_M < y < hi + RIVER_ROAD_GAP_M:
                        y_side.append("void")  # would run into the river
                        continue
                y_side.append("minor")
                if in_rail_col:
                    fx = float(railway(y))
                    lines.horizontal(y, X0, fx - RAIL_ROAD_GAP_M, line)
                    lines.horizontal(y, fx + RAIL_ROAD_GAP_M, X1, line)
                else:
                    lines.horizontal(y, X0, X1, line)
            gx, gy = [X0, *mx, X1], [Y0, *my, Y1]
            x_side.append("main")
            y_side.append("main")
            for b in range(len(gy) - 1):
                for a in range(len(gx) - 1):
                    sides = (x_side[a], y_side[b], x_side[a + 1], y_side[b + 1])
                    cells.append(_Cell(gx[a], gy[b], gx[a + 1], gy[b + 1], sides, sb))
    cells = _split_cells(cells, river, horizontal=True, gap=RIVER_BUILD_GAP_M)
    if railway is not None:
        cells = _split_cells(cells, railway, horizontal=False, gap=RAIL_BUILD_GAP_M)
    return lines, cells


def _split_cells(cells: list[_Cell], barrier: _Barrier, *, horizontal: bool, gap: float) -> list[_Cell]:
    """Cut the cells a barrier passes through into the parts on either side of it."""
    out: list[_Cell] = []
    lo_all, hi_all = barrier.base - barrier.reach - gap, barrier.base + barrier.reach + gap
    for c in cells:
        a0, a1, b0, b1 = (c.x0, c.x1, c.y0, c.y1) if horizontal else (c.y0, c.y1, c.x0, c.x1)
        if b1 <= lo_all or b0 >= hi_all:
            out.append(c)
            continue
        lo, hi = barrier.range_over(a0, a1)
        lo, hi = lo - gap, hi + gap
        if b1 <= lo or b0 >= hi:
            out.append(c)
            continue
        w, s, e, n = c.sides
        if horizontal:
            if lo - b0 > 20:
                out.append(_Cell(c.x0, c.y0, c.x1, lo, (w, s, e, "edge"), c.superblock))
            if b1 - hi > 20:
                out.append(_Cell(c.x0, hi, c.x1, c.y1, (w, "edge", e, n), c.superblock))
        else:
            if lo - b0 > 20:
                out.append(_Cell(c.x0, c.y0, lo, c.y1, (w, s, "edge", n), c.superblock))
            if b1 - hi > 20:
                out.append(_Cell(hi, c.y0, c.x1, c.y1, ("edge", s, e, n), c.superblock))
    return out


# --- cell layouts -----------------------------------------------------------------------------


@dataclass
class _CellLayout:
    boxes: list[tuple[float, float, float, float]]
    kind: str
    levels: int
    households: list[int]
    paths: list[tuple[float, int]]  # (y, highway) of internal east-west paths


def _rows(extent: float, depth: float, gap: float) -> tuple[int, float]:
    """How many rows of ``depth`` with ``gap`` between fit in ``extent``, and the start offset."""
    n = int((extent + gap) // (depth + gap))
    used = n * depth + max(n - 1, 0) * gap
    return n, (extent - used) / 2


def _layout_slabs(rng: np.random.Generator, inner: tuple[float, float, float, float], levels: int) -> _CellLayout:
    x0, y0, x1, y1 = inner
    depth, gap = _SLAB_DEPTH[levels], _SLAB_GAP[levels]
    w = x1 - x0
    n_rows, off = _rows(y1 - y0, depth, gap)
    boxes: list[tuple[float, float, float, float]] = []
    hh: list[int] = []
    paths: list[tuple[float, int]] = []
    if n_rows < 1 or w < 2 * _UNIT_W:
        return _CellLayout(boxes, "residential", levels, hh, paths)
    for r in range(n_rows):
        yb = y0 + off + r * (depth + gap)
        row: list[tuple[float, int]] = []
        pos = 0.0
        while True:
            units = int(rng.integers(2, 6))
            if pos + units * _UNIT_W > w:
                units = 2
                if pos + units * _UNIT_W > w:
                    break
            row.append((pos, units))
            pos += units * _UNIT_W + float(rng.uniform(10.0, 14.0))
        end = row[-1][0] + row[-1][1] * _UNIT_W
        shift = x0 + (w - end) / 2
        for p, units in row:
            boxes.append((shift + p, yb, shift + p + units * _UNIT_W, yb + depth))
            hh.append(units * 2 * levels)
        if r < n_rows - 1:  # a lane between every two rows (宅间路)
            paths.append((yb + depth + gap / 2, _SERVICE if rng.random() < 0.6 else _FOOTWAY))
    kind = "residential" if levels < 18 else "apartments"
    return _CellLayout(boxes, kind, levels, hh, paths)


def _layout_towers(rng: np.random.Generator, inner: tuple[float, float, float, float], levels: int) -> _CellLayout:
    x0, y0, x1, y1 = inner
    sx, sy = _TOWER
    gx, gy = _TOWER_GAP[levels]
    n_cols, offx = _rows(x1 - x0, sx, gx)
    n_rows, offy = _rows(y1 - y0, sy, gy)
    boxes: list[tuple[float, float, float, float]] = []
    hh: list[int] = []
    paths: list[tuple[float, int]] = []
    for r in range(n_rows):
        yb = y0 + offy + r * (sy + gy)
        for c in range(n_cols):
            xb = x0 + offx + c * (sx + gx)
            boxes.append((xb, yb, xb + sx, yb + sy))
            hh.append(4 * levels)
        if r < n_rows - 1:
            paths.append((yb + sy + gy / 2, _SERVICE if rng.random() < 0.6 else _FOOTWAY))
    return _CellLayout(boxes, "apartments", levels, hh, paths)


def _centred_box(inner: tuple[float, float, float, float], size: tuple[float, float],
                 margin: float = 2.0) -> tuple[float, float, float, float] | None:
    x0, y0, x1, y1 = inner
    w = min(size[0], x1 - x0 - 2 * margin)
    h = min(size[1], y1 - y0 - 2 * margin)
    if w < 8 or h < 8:
        return None
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def _residential_layout(rng: np.random.Generator, cell: _Cell, era: str) -> _CellLayout:
    options = _ERAS[era][1]
    p = np.array([o[2] for o in options])
    kind, levels, _ = options[int(rng.choice(len(options), p=p / p.sum()))]
    inner = cell.inner(_SETBACK)
    if kind == "tower":
        layout = _layout_towers(rng, inner, levels)
        if layout.boxes:
            return layout
        levels = 18  # too small a plot for towers: slabs instead
    return _layout_slabs(rng, inner, levels)


# --- the network ------------------------------------------------------------------------------

_EPS = 1e-6


def _build_network(lines: _Lines) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the segments at every crossing or touching point.

    Returns node coordinates (n, 2) and edges as (source index, target index, line id, length).
    """
    vx, vy0, vy1 = (np.asarray(a, dtype=float) for a in (lines.vx, lines.vy0, lines.vy1))
    hy, hx0, hx1 = (np.asarray(a, dtype=float) for a in (lines.hy, lines.hx0, lines.hx1))
    nv, nh = len(vx), len(hy)
    iv_parts, ih_parts = [], []
    chunk = max(1, 4_000_000 // max(nh, 1))
    for s in range(0, nv, chunk):
        x = vx[s : s + chunk, None]
        m = (hx0[None, :] <= x + _EPS) & (x <= hx1[None, :] + _EPS)
        m &= (vy0[s : s + chunk, None] <= hy[None, :] + _EPS) & (hy[None, :] <= vy1[s : s + chunk, None] + _EPS)
        i, j = np.nonzero(m)
        iv_parts.append(i + s)
        ih_parts.append(j)
    iv = np.concatenate(iv_parts) if iv_parts else np.zeros(0, dtype=int)
    ih = np.concatenate(ih_parts) if ih_parts else np.zeros(0, dtype=int)

    v_seg = np.concatenate([np.arange(nv), np.arange(nv), iv])
    v_pos = np.concatenate([vy0, vy1, hy[ih]])
    h_seg = np.concatenate([np.arange(nh), np.arange(nh), ih])
    h_pos = np.concatenate([hx0, hx1, vx[iv]])
    px = np.concatenate([vx[v_seg], h_pos])
    py = np.concatenate([v_pos, hy[h_seg]])
    key = np.rint(px * 1000).astype(np.int64) * (1 << 32) + np.rint(py * 1000).astype(np.int64)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    coords = np.column_stack([px[first], py[first]])
    node_v, node_h = inverse[: len(v_seg)], inverse[len(v_seg) :]

    def along(seg: np.ndarray, pos: np.ndarray, node: np.ndarray, line_of: np.ndarray):
        o = np.lexsort((pos, seg))
        seg, pos, node = seg[o], pos[o], node[o]
        keep = (seg[:-1] == seg[1:]) & (node[:-1] != node[1:])
        return node[:-1][keep], node[1:][keep], line_of[seg[:-1][keep]], np.abs(pos[1:] - pos[:-1])[keep]

    vl = np.asarray(lines.vline, dtype=np.int64)
    hl = np.asarray(lines.hline, dtype=np.int64)
    a = along(v_seg, v_pos, node_v, vl)
    b = along(h_seg, h_pos, node_h, hl)
    src = np.concatenate([a[0], b[0]])
    dst = np.concatenate([a[1], b[1]])
    line = np.concatenate([a[2], b[2]])
    length = np.concatenate([a[3], b[3]])
    # A pair of nodes joined twice (cannot happen with non-overlapping segments) keeps one edge.
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    _, keep = np.unique(lo * len(coords) + hi, return_index=True)
    keep.sort()
    return coords, src[keep], dst[keep], line[keep], length[keep]


def _thin_network(rng: np.random.Generator, n_nodes: int, src: np.ndarray, dst: np.ndarray,
                  is_main: np.ndarray) -> np.ndarray:
    """Mask of edges to keep: drop some minor ones off a random spanning tree, then keep the largest component."""
    weights = np.where(is_main, 0.01, 1.0) + rng.random(len(src))
    g = sparse.coo_matrix((weights, (src, dst)), shape=(n_nodes, n_nodes)).tocsr()
    tree = csgraph.minimum_spanning_tree(g).tocoo()
    tree_keys = np.minimum(tree.row, tree.col).astype(np.int64) * n_nodes + np.maximum(tree.row, tree.col)
    keys = np.minimum(src, dst).astype(np.int64) * n_nodes + np.maximum(src, dst)
    in_tree = np.isin(keys, tree_keys)
    keep = in_tree | is_main | (rng.random(len(src)) >= MINOR_DROP_SHARE)
    g = sparse.coo_matrix((np.ones(int(keep.sum())), (src[keep], dst[keep])), shape=(n_nodes, n_nodes))
    _, labels = csgraph.connected_components(g, directed=False)
    deg = np.bincount(np.concatenate([src[keep], dst[keep]]), minlength=n_nodes)
    largest = int(np.argmax(np.bincount(labels[deg > 0], minlength=labels.max() + 1)))
    return keep & (labels[src] == largest)


# --- the district -----------------------------------------------------------------------------


def _to_lonlat_factory(origin: tuple[float, float]) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    lon, lat = origin
    metric = metric_crs_for(lon, lat)
    fwd = Transformer.from_crs(STORAGE_CRS, metric, always_xy=True)
    inv = Transformer.from_crs(metric, STORAGE_CRS, always_xy=True)
    e0, n0 = fwd.transform(lon, lat)

    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        x, y = inv.transform(coords[:, 0] + e0, coords[:, 1] + n0)
        return np.column_stack([x, y])

    return to_lonlat, metric


def _na_ints(n: int) -> pd.arrays.IntegerArray:
    return pd.array([pd.NA] * n, dtype="Int64")


def generate_district(
    *,
    households: int,
    seed: int = 0,
    origin: tuple[float, float] = (118.70, 32.00),
    progress: Progress | None = None,
) -> DistrictLayers:
    """Generate a synthetic Chinese city district with exactly ``households`` households.

    Parameters
    ----------
    households
        Total households over all buildings (at least 1). The city grows with it at about
        12,000–14,000 households per km² of residential superblocks (parks, schools and the
        river included); 200,000 households make a city of about 18 km². Plots come in whole
        superblocks, so a city under ~5,000 households is mostly parks.
    seed
        Seed of every random choice: the same seed and size give the same district.
    origin
        Longitude and latitude (CGCS2000) of the city's south-west corner; must lie in China.
    progress
        Optional ``progress(stage, fraction)`` callback, e.g. a CLI progress bar.

    Returns
    -------
    DistrictLayers
        All frames in EPSG:4490 with the columns of ``gis.layers``. Buildings carry recorded
        (made-up) household counts; ``report`` holds ``synthetic: True`` and the figures.
    """
    if isinstance(households, bool) or not isinstance(households, (int, np.integer)) or households < 1:
        raise InvalidInput(f"generate_district: households must be a positive integer; got {households!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"generate_district: seed must be a non-negative integer; got {seed!r}")
    lon, lat = (float(v) for v in origin)
    minx, miny, maxx, maxy = CHINA_BOUNDS
    if not (minx <= lon <= maxx and miny <= lat <= maxy):
        raise InvalidInput(
            f"generate_district: origin must be a lon/lat in China (lon {minx:g}..{maxx:g}, "
            f"lat {miny:g}..{maxy:g}); got {origin!r}"
        )
    households = int(households)
    report_progress = progress or (lambda stage, fraction: None)

    # Size the city, then check the room its compounds really offer: aim for a capacity of
    # 1.0-1.25 times the households (the rest of the plots become parks and shops).
    scale = 1.0
    for attempt in range(_SIZING_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt])
        report_progress("streets", 0.05)
        names = _Names(rng)
        plan = _plan(rng, households, scale)
        lines, cells = _streets_and_cells(rng, plan, names)
        report_progress("buildings", 0.2)
        layouts, order, capacity = _layout_cells(rng, plan, cells, households)
        ratio = capacity / households
        smallest = plan["nx"] * plan["ny"] == 1
        if ratio >= 1.0 and (ratio <= _CAPACITY_MAX or smallest or attempt >= _SIZING_ATTEMPTS - 3):
            break
        scale *= _CAPACITY_MARGIN / max(ratio, 0.05)
    else:  # pragma: no cover - the last attempts accept any city with room enough
        raise RuntimeError(f"generate_district: no room for {households} households in {_SIZING_ATTEMPTS} attempts")
    bld, built_cells, compounds = _fill_cells(rng, cells, layouts, order, households, names)

    _add_paths_and_entrances(lines, cells, built_cells, bld)
    report_progress("network", 0.45)
    coords, src, dst, line, length = _build_network(lines)
    highway = np.asarray(lines.highway, dtype=np.int64)[line]
    is_main = highway <= _SECONDARY
    keep = _thin_network(rng, len(coords), src, dst, is_main)
    src, dst, line, length, highway, is_main = (a[keep] for a in (src, dst, line, length, highway, is_main))
    used = np.unique(np.concatenate([src, dst]))
    renumber = np.full(len(coords), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    coords = coords[used]
    src, dst = renumber[src], renumber[dst]

    report_progress("facilities", 0.6)
    fac = _place_facilities(rng, cells, built_cells, bld, households, names)

    report_progress("geometry", 0.7)
    to_lonlat, metric = _to_lonlat_factory((lon, lat))
    node_ids = np.arange(1, len(coords) + 1, dtype=np.int64)
    nodes = gpd.GeoDataFrame(
        {"node_id": node_ids, "osm_id": _na_ints(len(coords))},
        geometry=shapely.transform(shapely.points(coords), to_lonlat),
        crs=STORAGE_CRS,
    )
    seg = np.stack([coords[src], coords[dst]], axis=1)
    line_names = np.asarray(lines.name, dtype=object)
    edges = gpd.GeoDataFrame(
        {
            "source": node_ids[src],
            "target": node_ids[dst],
            "length_m": np.round(length, 3),
            "highway": np.asarray(_HIGHWAYS, dtype=object)[highway],
            "is_main_road": is_main,
            "name": line_names[line],
            "osm_id": _na_ints(len(src)),
        },
        geometry=shapely.transform(shapely.linestrings(seg), to_lonlat),
        crs=STORAGE_CRS,
    )

    boxes = shapely.box(np.asarray(bld.x0), np.asarray(bld.y0), np.asarray(bld.x1), np.asarray(bld.y1))
    buildings = gpd.GeoDataFrame(
        {
            "osm_id": _na_ints(len(bld)),
            "name": np.asarray(bld.name, dtype=object),
            "kind": np.asarray(bld.kind, dtype=object),
            "levels": pd.array(bld.levels, dtype="Int64"),
            "height": np.asarray(bld.height, dtype=float),
            "households": np.asarray(bld.households, dtype=np.int64),
            "households_estimated": np.zeros(len(bld), dtype=bool),
        },
        geometry=shapely.transform(boxes, to_lonlat),
        crs=STORAGE_CRS,
    )

    walls = np.asarray([c[0] for c in compounds], dtype=float).reshape(-1, 4)
    compound_frame = gpd.GeoDataFrame(
        {"osm_id": _na_ints(len(compounds)), "name": np.asarray([c[1] for c in compounds], dtype=object)},
        geometry=shapely.transform(shapely.box(walls[:, 0], walls[:, 1], walls[:, 2], walls[:, 3]), to_lonlat),
        crs=STORAGE_CRS,
    )

    xs, ys = plan["xs"], plan["ys"]
    span = np.arange(xs[0] - 300.0, xs[-1] + 300.0 + 1e-9, 20.0)
    barrier_geoms = [shapely.linestrings(np.column_stack([span, plan["river"](span)]))]
    barrier_rows: list[tuple[str, str]] = [("waterway", _RIVER_NAMES[int(rng.integers(len(_RIVER_NAMES)))])]
    if plan["railway"] is not None:
        span_y = np.arange(ys[0] - 300.0, ys[-1] + 300.0 + 1e-9, 20.0)
        barrier_geoms.append(shapely.linestrings(np.column_stack([plan["railway"](span_y), span_y])))
        barrier_rows.append(("railway", _RAILWAY_NAMES[int(rng.integers(len(_RAILWAY_NAMES)))]))
    barriers = gpd.GeoDataFrame(
        {
            "kind": np.asarray([r[0] for r in barrier_rows], dtype=object),
            "name": np.asarray([r[1] for r in barrier_rows], dtype=object),
            "osm_id": _na_ints(len(barrier_rows)),
        },
        geometry=shapely.transform(np.asarray(barrier_geoms), to_lonlat),
        crs=STORAGE_CRS,
    )

    facilities = gpd.GeoDataFrame(
        {
            "osm_id": _na_ints(len(fac["type_code"])),
            "name": np.asarray(fac["name"], dtype=object),
            "type_code": np.asarray(fac["type_code"], dtype=object),
            "classified_by": np.full(len(fac["type_code"]), "synthetic", dtype=object),
        },
        geometry=shapely.transform(shapely.points(np.asarray(fac["xy"]).reshape(-1, 2)), to_lonlat),
        crs=STORAGE_CRS,
    )

    by_type = pd.Series(fac["type_code"], dtype=object).value_counts()
    sb_area = np.outer(np.diff(ys), np.diff(xs)).ravel()  # row-major like the superblock numbers
    residential_km2 = float(sb_area[plan["kinds"] == "residential"].sum() / 1e6)
    report = {
        "synthetic": True,
        "seed": int(seed),
        "households": int(buildings["households"].sum()),
        "buildings": len(buildings),
        "residential_buildings": int((buildings["households"] > 0).sum()),
        "compounds": len(compound_frame),
        "nodes": len(nodes),
        "edges": len(edges),
        "main_road_edges": int(is_main.sum()),
        "facilities": len(facilities),
        "facilities_by_type": {k: int(by_type.get(k, 0)) for k in sorted(by_type.index)},
        "barriers": {k: int(v) for k, v in barriers["kind"].value_counts().sort_index().items()},
        "superblocks": int(plan["nx"] * plan["ny"]),
        "residential_superblocks": int((plan["kinds"] == "residential").sum()),
        "households_per_km2_residential": round(households / residential_km2, 1),
        "area_km2": round(float((xs[-1] - xs[0]) * (ys[-1] - ys[0]) / 1e6), 3),
        "metric_crs": metric,
        "origin": [lon, lat],
    }
    report_progress("done", 1.0)
    return DistrictLayers(
        buildings=buildings[[*BUILDING_COLUMNS, "geometry"]],
        nodes=nodes[[*NODE_COLUMNS, "geometry"]],
        edges=edges[[*EDGE_COLUMNS, "geometry"]],
        barriers=barriers[[*BARRIER_COLUMNS, "geometry"]],
        compounds=compound_frame[[*COMPOUND_COLUMNS, "geometry"]],
        facilities=facilities[[*FACILITY_COLUMNS, "geometry"]],
        report=report,
    )


def _add_paths_and_entrances(
    lines: _Lines, cells: list[_Cell], built: dict[int, _CellLayout], bld: _Buildings
) -> None:
    """Lanes between building rows, and a footway from every building to the lane or street beside it.

    A building's entrance footway runs from its south wall to the nearest lane or street
    to the south, or north when the plot ends at a river or railway on that side.
    """
    lane_ys: dict[int, list[float]] = {}
    for ci, layout in built.items():
        cell = cells[ci]
        for y, hw in layout.paths:
            lines.horizontal(y, cell.x0, cell.x1, lines.new_line(hw, None))
        lane_ys[ci] = [y for y, _ in layout.paths]
    entrance = lines.new_line(_FOOTWAY, None)
    for k in range(len(bld)):
        cell = cells[bld.cell[k]]
        x = (bld.x0[k] + bld.x1[k]) / 2
        ys = lane_ys.get(bld.cell[k], [])
        south = [y for y in ys if y < bld.y0[k]] + ([cell.y0] if cell.sides[1] in _STREET_SIDES else [])
        north = [y for y in ys if y > bld.y1[k]] + ([cell.y1] if cell.sides[3] in _STREET_SIDES else [])
        if south:
            lines.vertical(x, max(south), bld.y0[k] - _ENTRANCE_GAP_M, entrance)
        elif north:
            lines.vertical(x, bld.y1[k] + _ENTRANCE_GAP_M, min(north), entrance)


def _facility_counts(households: int) -> dict[str, int]:
    catalogue = load_catalogue()
    return {
        code: max(1, int(round(households / per)))
        for code, per in HOUSEHOLDS_PER_FACILITY.items()
        if code in catalogue
    }


def _layout_cells(
    rng: np.random.Generator, plan: dict[str, Any], cells: list[_Cell], households: int
) -> tuple[dict[int, _CellLayout], list[int], int]:
    """Give cells their use and residential cells a layout; returns layouts, fill order and capacity."""
    kinds, eras = plan["kinds"], plan["eras"]
    counts = _facility_counts(households)
    # Cells for facilities with a building of their own: residential superblocks, roomy plots.
    candidates = []
    for ci, c in enumerate(cells):
        if kinds[c.superblock] != "residential":
            continue
        x0, y0, x1, y1 = c.inner(_SETBACK)
        if x1 - x0 >= 60 and y1 - y0 >= 40:
            candidates.append(ci)
    dedicated = [code for code in _DEDICATED if code in counts for _ in range(counts[code])]
    room = len(candidates) // 3
    if len(dedicated) > room:
        # A tiny city cannot give every public building a plot: one of each type first.
        firsts = list(dict.fromkeys(dedicated))
        extra = list(dedicated)
        for code in firsts:
            extra.remove(code)
        dedicated = (firsts + extra)[:room]
    chosen = rng.choice(len(candidates), size=len(dedicated), replace=False)
    for code, k in zip(dedicated, chosen):
        cells[candidates[int(k)]].use = f"facility:{code}"

    layouts: dict[int, _CellLayout] = {}
    order: list[int] = []
    for ci, c in enumerate(cells):
        if c.use:
            continue
        if kinds[c.superblock] == "business":
            c.use = "business"
            continue
        layout = _residential_layout(rng, c, eras[c.superblock])
        if layout.boxes:
            layouts[ci] = layout
            order.append(ci)
    perm = rng.permutation(len(order))
    order = [order[i] for i in perm]
    return layouts, order, int(sum(sum(layouts[ci].households) for ci in order))


def _fill_cells(
    rng: np.random.Generator,
    cells: list[_Cell],
    layouts: dict[int, _CellLayout],
    order: list[int],
    households: int,
    names: _Names,
) -> tuple[_Buildings, dict[int, _CellLayout], list[tuple[tuple[float, float, float, float], str]]]:
    """Build the residential cells in ``order`` until exactly ``households``; the rest become parks and shops."""
    caps = np.array([sum(layouts[ci].households) for ci in order], dtype=np.int64)
    cum = np.cumsum(caps)
    last = int(np.searchsorted(cum, households))  # first cell where the running total reaches the target
    built = order[: last + 1]
    remaining = households - (int(cum[last - 1]) if last > 0 else 0)

    # Trim the last cell: its first buildings take the remaining households.
    lay = layouts[built[-1]]
    hh = lay.households
    take, total = 0, 0
    while total < remaining:
        total += hh[take]
        take += 1
    excess = total - remaining
    new = list(hh[:take])
    # Spread the excess over the taken buildings, in proportion, never below one household.
    cuts = [min(new[i] - 1, int(excess * new[i] / total)) for i in range(take)]
    left = excess - sum(cuts)
    i = 0
    while left > 0:
        if new[i] - cuts[i] > 1:
            cuts[i] += 1
            left -= 1
        i = (i + 1) % take
    lay.boxes = lay.boxes[:take]
    lay.households = [n - c for n, c in zip(new, cuts)]
    lay.paths = [
        p for p in lay.paths if any(b[1] > p[0] for b in lay.boxes) and any(b[3] < p[0] for b in lay.boxes)
    ]

    bld = _Buildings()
    compounds: list[tuple[tuple[float, float, float, float], str]] = []
    built_layouts: dict[int, _CellLayout] = {}
    for ci in built:
        c, lay = cells[ci], layouts[ci]
        c.use = "residential"
        cname = names.compound()
        compounds.append((c.inner(_WALL), cname))
        built_layouts[ci] = lay
        for k, (box, n) in enumerate(zip(lay.boxes, lay.households), start=1):
            bld.add(box, lay.kind, lay.levels, int(n), ci, 3.0, f"{cname}{k}栋")
    # Cells left over become parks or low-rise shops; business superblocks get offices.
    unbuilt = set(order[last + 1 :])
    for ci, c in enumerate(cells):
        inner = c.inner(_SETBACK)
        if ci in unbuilt:
            u = rng.random()
            if u < 0.45:
                c.use = "park"
                continue
            c.use = "shops"
            if u < 0.8:
                box = _centred_box(inner, (float(rng.uniform(30, 60)), float(rng.uniform(20, 35))))
                if box is not None:
                    bld.add(box, "retail", int(rng.integers(2, 5)), 0, ci, 4.5, f"{names.root()}商业楼")
            else:
                box = _centred_box(inner, (30.0, 24.0), margin=6.0)
                if box is not None:
                    bld.add(box, "office", int(rng.integers(8, 24)), 0, ci, 3.8, f"{names.root()}大厦")
        elif c.use == "business":
            if rng.random() < 0.55:
                w = inner[2] - inner[0]
                n_t = max(1, min(2, int((w + 30) // 62)))
                step = w / n_t
                for t in range(n_t):
                    sub = (inner[0] + t * step, inner[1], inner[0] + (t + 1) * step, inner[3])
                    box = _centred_box(sub, (32.0, 28.0), margin=8.0)
                    if box is not None:
                        bld.add(box, "office", int(rng.integers(12, 36)), 0, ci, 3.8, f"{names.root()}大厦")
            else:
                box = _centred_box(inner, (float(rng.uniform(50, 90)), float(rng.uniform(35, 60))))
                if box is not None:
                    kind = "commercial" if rng.random() < 0.6 else "retail"
                    bld.add(box, kind, int(rng.integers(3, 7)), 0, ci, 4.5, f"{names.root()}广场")
        elif c.use.startswith("facility:"):
            code = c.use.split(":", 1)[1]
            kind, levels, size = _DEDICATED[code]
            box = _centred_box(inner, size)
            if box is not None:
                bld.add(box, kind, levels, 0, ci, 3.8, f"{names.root()}{_FACILITY_SUFFIX[code]}")
    return bld, built_layouts, compounds


def _place_facilities(
    rng: np.random.Generator,
    cells: list[_Cell],
    built: dict[int, _CellLayout],
    bld: _Buildings,
    households: int,
    names: _Names,
) -> dict[str, list[Any]]:
    """Facility points: dedicated ones at their buildings, the rest in compounds weighted by households."""
    out: dict[str, list[Any]] = {"type_code": [], "name": [], "xy": []}
    cell_of = np.asarray(bld.cell)
    for k in range(len(bld)):
        use = cells[cell_of[k]].use
        if use.startswith("facility:"):
            out["type_code"].append(use.split(":", 1)[1])
            out["name"].append(bld.name[k])
            out["xy"].append(((bld.x0[k] + bld.x1[k]) / 2, (bld.y0[k] + bld.y1[k]) / 2))
    counts = _facility_counts(households)
    built_ids = np.asarray(sorted(built), dtype=np.int64)
    weights = np.asarray([sum(built[ci].households) for ci in built_ids], dtype=float)
    weights /= weights.sum()
    for code, n in counts.items():
        if code in _DEDICATED:
            continue
        picks = built_ids[rng.choice(len(built_ids), size=n, p=weights)]
        for ci in picks:
            c = cells[int(ci)]
            x0, y0, x1, y1 = c.inner(_WALL)
            x = float(rng.uniform(x0 + 2, max(x0 + 2, x1 - 2)))
            y = float(rng.uniform(y0 + 2, max(y0 + 2, y1 - 2)))
            out["type_code"].append(code)
            out["name"].append(f"{names.root()}{_FACILITY_SUFFIX[code]}")
            out["xy"].append((x, y))
    return out


# --- residents --------------------------------------------------------------------------------

# Household sizes 1..6 (2020 census, urban: mean ~2.6, a quarter live alone).
_SIZE_P = np.array([0.254, 0.297, 0.210, 0.132, 0.062, 0.045])

# Roles: head, spouse, child, second child, parent (of the head), second parent, grandchild.
_HEAD, _SPOUSE, _CHILD, _CHILD2, _PARENT, _PARENT2, _GRANDCHILD = range(7)
_RELATIONS = np.array(["head", "spouse", "child", "child", "parent", "parent", "grandchild"], dtype=object)


@dataclass(frozen=True)
class _Template:
    """A household type: members, how the anchor age is drawn, who tends to be floating."""

    code: str
    weight: float  # within its size
    roles: tuple[int, ...]  # after the head
    anchor: str  # head | child | grandchild: whose age is drawn from ``ages``
    ages: tuple[int, int]
    skew: float = 1.0  # >1 puts more weight on the young end of ``ages``
    head_male: float = 0.6
    floating: float = 0.12


_TEMPLATES = (
    _Template("1_young", 0.46, (), "head", (20, 39), head_male=0.56, floating=0.60),
    _Template("1_middle", 0.22, (), "head", (40, 59), head_male=0.55, floating=0.30),
    _Template("1_elderly", 0.30, (), "head", (60, 95), skew=1.7, head_male=0.36, floating=0.02),
    _Template("2_young", 0.26, (_SPOUSE,), "head", (22, 39), floating=0.50),
    _Template("2_middle", 0.30, (_SPOUSE,), "head", (40, 59), floating=0.15),
    _Template("2_elderly", 0.22, (_SPOUSE,), "head", (60, 92), skew=1.5, floating=0.02),
    _Template("2_parent_child", 0.10, (_CHILD,), "child", (2, 24), head_male=0.3, floating=0.10),
    _Template("2_with_parent", 0.08, (_PARENT,), "head", (30, 55), floating=0.05),
    _Template("3_nuclear", 0.72, (_SPOUSE, _CHILD), "child", (1, 30), floating=0.35),
    _Template("3_with_parent", 0.10, (_SPOUSE, _PARENT), "head", (30, 56), floating=0.08),
    _Template("3_skip_generation", 0.04, (_SPOUSE, _GRANDCHILD), "grandchild", (3, 15), floating=0.02),
    _Template("3_elderly_adult_child", 0.14, (_SPOUSE, _CHILD), "child", (22, 40), floating=0.03),
    _Template("4_two_children", 0.45, (_SPOUSE, _CHILD, _CHILD2), "child", (4, 24), floating=0.25),
    _Template("4_three_generations", 0.42, (_SPOUSE, _CHILD, _PARENT), "child", (0, 18), floating=0.08),
    _Template("4_with_parents", 0.13, (_SPOUSE, _PARENT, _PARENT2), "head", (30, 55), floating=0.05),
    _Template("5_three_generations", 0.60, (_SPOUSE, _CHILD, _PARENT, _PARENT2), "child", (0, 20), floating=0.06),
    _Template("5_two_children", 0.40, (_SPOUSE, _CHILD, _CHILD2, _PARENT), "child", (2, 20), floating=0.08),
    _Template("6_full", 1.0, (_SPOUSE, _CHILD, _CHILD2, _PARENT, _PARENT2), "child", (2, 18), floating=0.05),
)

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严"
)
_SURNAME_W = np.array(
    [7.1, 7.0, 6.7, 5.1, 4.6, 3.2, 2.5, 2.2, 2.1, 1.9, 1.5, 1.5, 1.4, 1.3, 1.2, 1.2, 1.1, 1.0, 1.0, 0.9]
    + [0.8] * 3 + [0.7] * 2 + [0.6] * 5 + [0.5] * 7 + [0.4] * 9 + [0.3] * 22 + [0.2] * (len(_SURNAMES) - 68)
)
_MALE_CHARS = "伟强磊军勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国志海东晨博轩睿泽宏瑞成亮德永春松毅"
_FEMALE_CHARS = "芳娜敏静丽艳娟霞秀燕玲桂丹萍红玉兰婷雪琳欣怡梦佳璐倩颖洁慧琴云莉萱涵诗雨思嘉悦晶月"
_SHARED_CHARS = "文晓子一思雨小佳嘉天家海新金明春秋"
_PHONE_PREFIXES = np.array(
    [130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159,
     180, 181, 182, 183, 184, 185, 186, 187, 188, 189],
    dtype=np.int64,
)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_ID_CHECK = "10X98765432"

DEFAULT_AS_OF = date(2025, 1, 1)


def id_number_check_digit(first17: str) -> str:
    """The GB 11643-1999 check character (0-9 or X) of the first 17 digits of a resident ID."""
    if len(first17) != 17 or not first17.isdigit():
        raise InvalidInput(f"id_number_check_digit: expected 17 digits; got {first17!r}")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS))
    return _ID_CHECK[total % 11]


def is_valid_id_number(id_number: str) -> bool:
    """Whether an 18-character resident ID has a real date and a correct GB 11643 check character."""
    if not isinstance(id_number, str) or len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return False
    return id_number_check_digit(id_number[:17]) == id_number[17].upper()


def _building_ids(buildings: pd.DataFrame) -> np.ndarray:
    ids = buildings["building_id"] if "building_id" in buildings.columns else pd.Series(buildings.index)
    if ids.isna().any():
        raise InvalidInput("generate_residents: building ids must not be missing")
    try:
        return ids.to_numpy(dtype=np.int64)
    except (TypeError, ValueError):
        raise InvalidInput(
            "generate_residents: building ids (the building_id column, else the index) must be integers; "
            f"got {ids.dtype}"
        ) from None


def generate_residents(
    buildings: pd.DataFrame,
    *,
    seed: int = 0,
    district_code: str = "320102",
    as_of: date = DEFAULT_AS_OF,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill buildings with synthetic households and residents (deterministic by ``seed``).

    Parameters
    ----------
    buildings
        A frame with ``households`` (missing counts as 0; fractions are rounded) and
        optionally ``levels``; the building id is the ``building_id`` column or, without
        one, the frame's index (integers either way).
    seed
        Seed of every random choice.
    district_code
        6-digit administrative code used as the region prefix of the ID numbers.
    as_of
        The date ages refer to (fixed by default so that output does not change with the clock).

    Returns
    -------
    (households, residents)
        ``households``: household_id (1..N), building_id, unit (单元), floor, room
        ('302'), address ('<building>-<unit>-<room>'), size, synthetic.
        ``residents``: resident_id, household_id, building_id, name, sex ('M'/'F'),
        birth_date (``datetime.date``), relation (head, spouse, child, parent, grandchild),
        residency (permanent/floating), party_member, then the sensitive part: id_number
        (18 characters, GB 11643 check), phone (None under 12), tags (list of
        elderly_alone, disabled, low_income, left_behind_child), and synthetic.
    """
    if "households" not in buildings.columns:
        raise InvalidInput("generate_residents: buildings need a 'households' column")
    if not (isinstance(district_code, str) and len(district_code) == 6 and district_code.isdigit()):
        raise InvalidInput(f"generate_residents: district_code must be 6 digits; got {district_code!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"generate_residents: seed must be a non-negative integer; got {seed!r}")
    rng = np.random.default_rng([seed, 11643])
    b_ids = _building_ids(buildings)
    n_per_b = np.rint(pd.to_numeric(buildings["households"], errors="coerce").fillna(0).to_numpy(dtype=float))
    if (n_per_b < 0).any():
        raise InvalidInput("generate_residents: households must not be negative")
    n_per_b = n_per_b.astype(np.int64)
    if "levels" in buildings.columns:
        levels = pd.to_numeric(buildings["levels"], errors="coerce").to_numpy(dtype=float)
    else:
        levels = np.full(len(buildings), np.nan)
    guess = np.clip(np.ceil(n_per_b / 8.0), 1, 33)
    levels = np.where(np.isfinite(levels) & (levels >= 1), np.floor(levels), guess).astype(np.int64)

    households = _households_frame(b_ids, n_per_b, levels)
    residents = _residents_frame(rng, households, district_code, as_of)
    households["size"] = np.bincount(
        residents["household_id"].to_numpy() - 1, minlength=len(households)
    ).astype(np.int64)
    households["synthetic"] = True
    return households, residents


def _households_frame(b_ids: np.ndarray, n_per_b: np.ndarray, levels: np.ndarray) -> pd.DataFrame:
    n = int(n_per_b.sum())
    b_idx = np.repeat(np.arange(len(b_ids)), n_per_b)
    starts = np.cumsum(n_per_b) - n_per_b
    k = np.arange(n) - np.repeat(starts, n_per_b)
    lv = np.maximum(levels[b_idx], 1)
    per_floor = np.ceil(n_per_b[b_idx] / lv).astype(np.int64)
    # Flats per unit and floor: a point tower has one unit of up to 4, a slab units of 2.
    per_unit = np.where(per_floor <= 4, per_floor, 2)
    floor = k // per_floor + 1
    pos = k % per_floor
    unit = pos // per_unit + 1
    door = pos % per_unit + 1
    room = pd.Series(floor * 100 + door).astype(str)
    bid = b_ids[b_idx]
    address = pd.Series(bid).astype(str) + "-" + pd.Series(unit).astype(str) + "-" + room
    return pd.DataFrame(
        {
            "household_id": np.arange(1, n + 1, dtype=np.int64),
            "building_id": bid,
            "unit": unit.astype(np.int64),
            "floor": floor.astype(np.int64),
            "room": room.to_numpy(dtype=object),
            "address": address.to_numpy(dtype=object),
        }
    )


def _uniform_int(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, skew: np.ndarray | float = 1.0) -> np.ndarray:
    """Integers in [lo, hi], uniform, or skewed towards ``lo`` when ``skew`` > 1."""
    u = rng.random(np.shape(lo)) ** skew
    return (lo + np.floor(u * (hi - lo + 1))).astype(np.int64)


def _residents_frame(rng: np.random.Generator, hh: pd.DataFrame, district_code: str, as_of: date) -> pd.DataFrame:
    n_h = len(hh)
    sizes = np.array([1 + len(t.roles) for t in _TEMPLATES])
    p = np.array([_SIZE_P[s - 1] * t.weight for s, t in zip(sizes, _TEMPLATES)])
    tpl = rng.choice(len(_TEMPLATES), size=n_h, p=p / p.sum())
    size = sizes[tpl]
    n_r = int(size.sum())
    hh_idx = np.repeat(np.arange(n_h), size)
    member = np.arange(n_r) - np.repeat(np.cumsum(size) - size, size)
    role_table = np.full((len(_TEMPLATES), sizes.max()), -1, dtype=np.int64)
    for i, t in enumerate(_TEMPLATES):
        role_table[i, : 1 + len(t.roles)] = (_HEAD, *t.roles)
    r_tpl = tpl[hh_idx]
    role = role_table[r_tpl, member]

    # Ages: draw the anchor, derive the head, then everyone from the head.
    lo = np.array([t.ages[0] for t in _TEMPLATES])[tpl]
    hi = np.array([t.ages[1] for t in _TEMPLATES])[tpl]
    skew = np.array([t.skew for t in _TEMPLATES])[tpl]
    anchor = np.array([t.anchor for t in _TEMPLATES])[tpl]
    a = _uniform_int(rng, lo, hi, skew)
    head_age = np.where(
        anchor == "child",
        a + rng.integers(23, 36, size=n_h),
        np.where(anchor == "grandchild", a + rng.integers(48, 61, size=n_h), a),
    )
    head_age = np.minimum(head_age, 98)
    child_age = np.where(anchor == "child", a, np.maximum(head_age - rng.integers(24, 37, size=n_h), 0))
    grandchild_age = np.where(anchor == "grandchild", a, 0)
    ha = head_age[hh_idx]
    ca = child_age[hh_idx]
    age = np.zeros(n_r, dtype=np.int64)
    age[role == _HEAD] = ha[role == _HEAD]
    m = role == _SPOUSE
    age[m] = np.clip(ha[m] + np.rint(rng.normal(-2, 3, size=m.sum())).astype(np.int64), 18, 100)
    m = role == _CHILD
    age[m] = ca[m]
    m = role == _CHILD2
    younger = ca[m] - rng.integers(2, 9, size=m.sum())
    older = np.minimum(ca[m] + rng.integers(2, 7, size=m.sum()), ha[m] - 20)
    age[m] = np.maximum(np.where(younger >= 0, younger, older), 0)
    m = (role == _PARENT) | (role == _PARENT2)
    age[m] = np.minimum(ha[m] + rng.integers(22, 33, size=m.sum()), 100)
    m = role == _GRANDCHILD
    age[m] = grandchild_age[hh_idx][m]

    # Sex: heads by template, spouses opposite, a second parent opposite the first.
    head_male = np.array([t.head_male for t in _TEMPLATES])[tpl]
    male_head = rng.random(n_h) < head_male
    male = rng.random(n_r) < 0.515
    male = np.where(role == _HEAD, male_head[hh_idx], male)
    male = np.where(role == _SPOUSE, ~male_head[hh_idx], male)
    male = np.where(role == _PARENT, rng.random(n_r) < 0.45, male)
    prev_male = np.concatenate([[False], male[:-1]])
    male = np.where(role == _PARENT2, ~prev_male, male)

    # Birth dates: exactly ``age`` full years old on ``as_of``.
    as_of64 = np.datetime64(as_of, "D")
    birth = _birth_dates(rng, age, as_of)
    years_since = (as_of64.astype("datetime64[Y]") - birth.astype("datetime64[Y]")).astype(np.int64)
    had_birthday = (as_of64 - as_of64.astype("datetime64[Y]")).astype(np.int64) >= (
        birth - birth.astype("datetime64[Y]")
    ).astype(np.int64)
    age_cal = years_since - (~had_birthday).astype(np.int64)

    # Names: the family surname is the husband's; spouses and mothers bring their own.
    sn_p = _SURNAME_W / _SURNAME_W.sum()
    surnames = np.array(list(_SURNAMES), dtype=object)
    own = rng.choice(len(surnames), size=n_r, p=sn_p)
    head_sn = own[np.flatnonzero(role == _HEAD)]  # one per household, in order
    spouse_sn = np.full(n_h, -1)
    spouse_rows = np.flatnonzero(role == _SPOUSE)
    spouse_sn[hh_idx[spouse_rows]] = own[spouse_rows]
    family = np.where(~male_head & (spouse_sn >= 0), spouse_sn, head_sn)
    sn = own.copy()
    blood = (role == _CHILD) | (role == _CHILD2) | (role == _GRANDCHILD) | ((role == _HEAD) & male)
    sn[blood] = family[hh_idx][blood]
    father = ((role == _PARENT) | (role == _PARENT2)) & male
    sn[father] = head_sn[hh_idx][father]
    name = surnames[sn] + _given_names(rng, male)

    # Residency by household; party membership, disability and low income by age.
    floating_p = np.array([t.floating for t in _TEMPLATES])[tpl]
    floating = (rng.random(n_h) < floating_p)[hh_idx]
    u = rng.random(n_r)
    party = (age_cal >= 18) & (u < np.where(age_cal < 35, 0.045, np.where(age_cal < 60, 0.07, 0.10)))
    disabled = rng.random(n_r) < np.where(age_cal < 18, 0.008, np.where(age_cal < 60, 0.022, 0.075))
    low_income = (rng.random(n_h) < np.where(size == 1, 0.035, 0.015))[hh_idx]
    elderly_alone = (size[hh_idx] == 1) & (age_cal >= 60)
    left_behind = (role == _GRANDCHILD) & (age_cal < 16)
    tags = _tag_lists(elderly_alone, disabled, low_income, left_behind)

    id_numbers = _id_numbers(rng, district_code, birth, male)
    phones = _phones(rng, age_cal >= 12)

    return pd.DataFrame(
        {
            "resident_id": np.arange(1, n_r + 1, dtype=np.int64),
            "household_id": hh["household_id"].to_numpy()[hh_idx],
            "building_id": hh["building_id"].to_numpy()[hh_idx],
            "name": name,
            "sex": np.where(male, "M", "F").astype(object),
            "birth_date": pd.Series(birth.astype("datetime64[s]")).dt.date.to_numpy(),
            "relation": _RELATIONS[role],
            "residency": np.where(floating, "floating", "permanent").astype(object),
            "party_member": party,
            "id_number": id_numbers,
            "phone": pd.Series(phones, dtype=object),  # None, not NaN, for those without
            "tags": tags,
            "synthetic": np.ones(n_r, dtype=bool),
        }
    )


def _birth_dates(rng: np.random.Generator, age: np.ndarray, as_of: date) -> np.ndarray:
    """Birth dates (datetime64[D]) at which a person is exactly ``age`` full years old on ``as_of``."""
    # The last birthday is in the year as_of.year - age or the one before; pick a day in the
    # year before as_of's (this year's) birthday window: between (as_of - age - 1 years, as_of - age years].
    latest = np.array([_shift_years(as_of, -int(a)) for a in range(0, 101)], dtype="datetime64[D]")
    earliest = np.array([_shift_years(as_of, -int(a) - 1) for a in range(0, 101)], dtype="datetime64[D]")
    a = np.clip(age, 0, 100)
    span = (latest[a] - earliest[a]).astype(np.int64)  # 365 or 366 days
    offset = np.floor(rng.random(len(a)) * span).astype(np.int64)  # 0..span-1
    return latest[a] - offset


def _shift_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _given_names(rng: np.random.Generator, male: np.ndarray) -> np.ndarray:
    n = len(male)
    m_chars = np.array(list(_MALE_CHARS + _SHARED_CHARS), dtype=object)
    f_chars = np.array(list(_FEMALE_CHARS + _SHARED_CHARS), dtype=object)
    first = np.where(male, m_chars[rng.integers(len(m_chars), size=n)], f_chars[rng.integers(len(f_chars), size=n)])
    second = np.where(male, m_chars[rng.integers(len(m_chars), size=n)], f_chars[rng.integers(len(f_chars), size=n)])
    one_char = rng.random(n) < 0.22
    return np.where(one_char, second, first + second)


def _tag_lists(*flags: np.ndarray) -> np.ndarray:
    labels = ("elderly_alone", "disabled", "low_income", "left_behind_child")
    out = np.empty(len(flags[0]), dtype=object)
    for i in range(len(out)):
        out[i] = []
    any_flag = np.flatnonzero(np.logical_or.reduce(flags))
    for i in any_flag:
        out[i] = [lab for lab, f in zip(labels, flags) if f[i]]
    return out


def _id_numbers(rng: np.random.Generator, district_code: str, birth: np.ndarray, male: np.ndarray) -> np.ndarray:
    """18-character resident IDs: region, birth date, a sequence unique per date and sex, GB 11643 check.

    The 3-digit sequence is odd for men and even for women, so 500 people of one sex born
    on one day fit; more (not met below tens of millions of residents) would repeat numbers.
    """
    n = len(birth)
    if n == 0:
        return np.zeros(0, dtype=object)
    group = birth.astype(np.int64) * 2 + male.astype(np.int64)
    order = np.lexsort((rng.random(n), group))
    g_sorted = group[order]
    starts = np.r_[0, np.flatnonzero(g_sorted[1:] != g_sorted[:-1]) + 1]
    g_size = np.diff(np.r_[starts, n])
    rank_sorted = np.arange(n) - np.repeat(starts, g_size)
    offset = np.floor(rng.random(len(starts)) * np.maximum(500 - g_size, 1)).astype(np.int64)
    value = (np.repeat(offset, g_size) + rank_sorted) % 500
    seq = np.empty(n, dtype=np.int64)
    seq[order] = value * 2 + male[order].astype(np.int64)
    year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (birth.astype("datetime64[M]") - birth.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    first17 = int(district_code) * 10**11 + (year * 10_000 + month * 100 + day) * 1_000 + seq
    digits = (first17[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))[None, :]) % 10
    check = np.array(list(_ID_CHECK))[(digits @ _ID_WEIGHTS) % 11]
    return np.char.add(np.char.zfill(first17.astype(str), 17), check).astype(object)


def _phones(rng: np.random.Generator, has_phone: np.ndarray) -> np.ndarray:
    """Unique 11-digit mobile numbers (13x/15x/18x) for those with a phone, None for the rest."""
    idx = np.flatnonzero(has_phone)

    def draw(k: int) -> np.ndarray:
        return _PHONE_PREFIXES[rng.integers(len(_PHONE_PREFIXES), size=k)] * 10**8 + rng.integers(0, 10**8, size=k)

    numbers = draw(len(idx))
    while len(numbers):
        order = np.argsort(numbers, kind="stable")
        dup = order[1:][numbers[order][1:] == numbers[order][:-1]]
        if len(dup) == 0:
            break
        numbers[dup] = draw(len(dup))
    out = np.full(len(has_phone), None, dtype=object)
    out[idx] = numbers.astype(str).astype(object)
    return out
