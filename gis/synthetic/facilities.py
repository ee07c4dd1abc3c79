"""The synthetic city's facilities: how many of each catalogue type a city has, and where they stand.

Public buildings with a plot of their own (schools, the health centre, the street office) stand
on the cells ``gis.synthetic.buildings`` gave them; the rest (service stations, shops, lockers)
are points in compounds, drawn in proportion to households so that coverage comes out partial,
as in a real district. Names end as ``gis.catalogue.classify_facility`` recognises the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gis.catalogue import load_catalogue
from gis.synthetic.names import Names
from gis.synthetic.plan import WALL, Buildings, Cell, CellLayout

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
DEDICATED = {
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
FACILITY_SUFFIX = {
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


def facility_counts(households: int) -> dict[str, int]:
    """Facilities per catalogue type for a city of ``households``: one per so many households, at least one."""
    catalogue = load_catalogue()
    return {
        code: max(1, int(round(households / per)))
        for code, per in HOUSEHOLDS_PER_FACILITY.items()
        if code in catalogue
    }


@dataclass
class Facilities:
    """Facility points in the local metric frame, column by column."""

    type_code: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    xy: list[tuple[float, float]] = field(default_factory=list)


def place_facilities(
    rng: np.random.Generator,
    cells: list[Cell],
    built: dict[int, CellLayout],
    bld: Buildings,
    households: int,
    names: Names,
) -> Facilities:
    """Facility points: dedicated ones at their buildings, the rest in compounds weighted by households."""
    out = Facilities()
    cell_of = np.asarray(bld.cell)
    for k in range(len(bld)):
        use = cells[cell_of[k]].use
        if use.startswith("facility:"):
            out.type_code.append(use.split(":", 1)[1])
            out.name.append(bld.name[k])
            out.xy.append(((bld.x0[k] + bld.x1[k]) / 2, (bld.y0[k] + bld.y1[k]) / 2))
    counts = facility_counts(households)
    built_ids = np.asarray(sorted(built), dtype=np.int64)
    weights = np.asarray([sum(built[ci].households) for ci in built_ids], dtype=float)
    weights /= weights.sum()
    for code, n in counts.items():
        if code in DEDICATED:
            continue
        picks = built_ids[rng.choice(len(built_ids), size=n, p=weights)]
        for ci in picks:
            c = cells[int(ci)]
            x0, y0, x1, y1 = c.inner(WALL)
            x = float(rng.uniform(x0 + 2, max(x0 + 2, x1 - 2)))
            y = float(rng.uniform(y0 + 2, max(y0 + 2, y1 - 2)))
            out.type_code.append(code)
            out.name.append(f"{names.root()}{FACILITY_SUFFIX[code]}")
            out.xy.append((x, y))
    return out
