"""A small hand-built town for coverage tests, in metres on EPSG:4549 (CGCS2000 GK zone CM 120E, Nanjing).

::

    C(0,200) ------------------------------ D(600,200)        residential
     |                                  Q▫ gate▸ |
    A(0,0) ============ main road ============ B(600,0)      primary: no crossing between A and B
     |          N◇ (300, 30)   F2• (420, 12)     |
     |          F1• (300, -25)                   |
    G(0,-150) ----------------------------- H(600,-150)       residential
    ~~~~~~~~~~~~~~~~~~~~~ river y = -155 ~~~~~~~~~~~~~~~~~~~
     | bridge      R◇ (300, -160)
    J(0,-190) ----------------------------- K(600,-190)       footway (south bank)

Walking distances that hold by construction (links count, crossings only at A and B):

* N reaches F2 in 20 + 120 + 12 = 152 m, on its own side of the main road;
* N reaches F1 (45 m away as the crow flies) in 20 + 300 + 300 + 25 = 645 m, round by A or B;
* R's nearest edge (G–H, 8 m) is across the river, so it joins J–K (28 m) and reaches F1 in
  28 + 300 + 40 + 150 + 300 + 25 = 843 m;
* Q leaves its compound through the gate at (560, 150): 55 m inside + 40 m to D–B, then
  150 + 180 + 12 to F2: 437 m (its own nearest street, C–D, would give 537 m).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import LineString, Point, Polygon, box

X0, Y0 = 390_000.0, 3_545_000.0
CRS = "EPSG:4549"

NODES = {1: (0, 0), 2: (600, 0), 3: (0, 200), 4: (600, 200), 5: (0, -150), 6: (600, -150), 7: (0, -190),
         8: (600, -190)}
A, B, C, D, G, H, J, K = 1, 2, 3, 4, 5, 6, 7, 8
EDGES = [  # source, target, highway, main road
    (A, B, "primary", True), (A, C, "residential", False), (C, D, "residential", False),
    (D, B, "residential", False), (A, G, "residential", False), (G, H, "residential", False),
    (H, B, "residential", False), (G, J, "footway", False), (J, K, "footway", False),
]


def p(x: float, y: float) -> Point:
    return Point(X0 + x, Y0 + y)


def diamond(x: float, y: float, r: float) -> Polygon:
    """A footprint whose nearest point to an axis-parallel street is a single vertex (no ties)."""
    return Polygon([(X0 + x, Y0 + y + r), (X0 + x + r, Y0 + y), (X0 + x, Y0 + y - r), (X0 + x - r, Y0 + y)])


def nodes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": list(NODES)}, geometry=[p(*xy) for xy in NODES.values()], crs=CRS)


def edges() -> gpd.GeoDataFrame:
    lines = [LineString([p(*NODES[a]), p(*NODES[b])]) for a, b, _, _ in EDGES]
    return gpd.GeoDataFrame({
        "id": np.arange(1, len(EDGES) + 1), "source": [e[0] for e in EDGES], "target": [e[1] for e in EDGES],
        "length_m": [ln.length for ln in lines], "highway": [e[2] for e in EDGES],
        "is_main_road": [e[3] for e in EDGES],
    }, geometry=lines, crs=CRS)


def barriers() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"kind": ["waterway"], "name": ["玉带河"]},
                            geometry=[LineString([p(-50, -155), p(650, -155)])], crs=CRS)


BUILDINGS = {"N": diamond(300, 30, 10), "R": diamond(300, -160, 2), "Q": diamond(500, 150, 5)}
COMPOUND = box(X0 + 450, Y0 + 100, X0 + 560, Y0 + 190)
GATE = p(560, 150)
F1, F2 = p(300, -25), p(420, 12)


def buildings() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": list(BUILDINGS), "households": [120, 40, 60],
                             "compound": [-1, -1, 7]}, geometry=list(BUILDINGS.values()), crs=CRS)
