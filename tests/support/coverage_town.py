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


# --- the town in the database -------------------------------------------------------------

DISTRICT = "320199"
STREET = "320199001"
NORTH, SOUTH = "320199001001", "320199001002"  # communities: north of y = -100 (N, Q) and south of it (R)


def _ewkt(geom, multi: bool = False) -> str:
    from shapely.geometry import MultiPolygon

    if multi and geom.geom_type == "Polygon":
        geom = MultiPolygon([geom])
    return f"SRID=4490;{geom.wkt}"


def _lonlat(geoms: list) -> list:
    return list(gpd.GeoSeries(geoms, crs=CRS).to_crs("EPSG:4490"))


def store_town(session, *, residents: bool = True) -> dict:
    """Write the town as district 320199 (buildings, network, gate, kindergartens F1 and F2, boundaries, people).

    Returns the database ids: ``{"N": .., "R": .., "Q": .., "F1": .., "F2": .., "nodes": {town id: db id}}``.
    """
    from datetime import date

    from sqlalchemy import text

    def one(sql: str, **params):
        return session.execute(text(sql), params).scalar_one()

    one("INSERT INTO district (code, name, network_version) VALUES (:c, '测试区', 1) RETURNING id", c=DISTRICT)
    node_ids = {}
    for nid, geom in zip(NODES, _lonlat([p(*xy) for xy in NODES.values()]), strict=True):
        node_ids[nid] = one("INSERT INTO walk_node (district_code, geom) VALUES (:d, ST_GeomFromEWKT(:g)) "
                            "RETURNING id", d=DISTRICT, g=_ewkt(geom))
    frame = edges()
    for row, geom in zip(frame.itertuples(), _lonlat(list(frame.geometry)), strict=True):
        one("INSERT INTO walk_edge (district_code, source, target, length_m, cost, reverse_cost, highway, "
            "is_main_road, geom) VALUES (:d, :s, :t, :l, :l, :l, :h, :m, ST_GeomFromEWKT(:g)) RETURNING id",
            d=DISTRICT, s=node_ids[row.source], t=node_ids[row.target], l=row.length_m, h=row.highway,
            m=bool(row.is_main_road), g=_ewkt(geom))
    river = barriers()
    one("INSERT INTO barrier (district_code, kind, name, geom) VALUES (:d, 'waterway', '玉带河', "
        "ST_GeomFromEWKT(:g)) RETURNING id", d=DISTRICT, g=_ewkt(_lonlat(list(river.geometry))[0]))
    compound = one("INSERT INTO compound (district_code, name, geom) VALUES (:d, '幸福小区', ST_GeomFromEWKT(:g)) "
                   "RETURNING id", d=DISTRICT, g=_ewkt(_lonlat([COMPOUND])[0], multi=True))
    one("INSERT INTO compound_gate (district_code, compound_id, name, geom) VALUES (:d, :c, '东门', "
        "ST_GeomFromEWKT(:g)) RETURNING id", d=DISTRICT, c=compound, g=_ewkt(_lonlat([GATE])[0]))
    ids = {}
    hh = {"N": 120, "R": 40, "Q": 60}
    for name, geom in zip(BUILDINGS, _lonlat(list(BUILDINGS.values())), strict=True):
        ids[name] = one("INSERT INTO building (district_code, name, households, households_source, compound_id, "
                        "geom) VALUES (:d, :n, :h, 'recorded', :c, ST_GeomFromEWKT(:g)) RETURNING id",
                        d=DISTRICT, n=name, h=hh[name], c=compound if name == "Q" else None, g=_ewkt(geom, True))
    for name, geom in zip(("F1", "F2"), _lonlat([F1, F2]), strict=True):
        ids[name] = one("INSERT INTO facility (district_code, type_code, name, source, geom) VALUES "
                        "(:d, 'kindergarten', :n, 'manual', ST_GeomFromEWKT(:g)) RETURNING id",
                        d=DISTRICT, n=f"{name}幼儿园", g=_ewkt(geom))
    whole = box(X0 - 100, Y0 - 300, X0 + 700, Y0 + 300)
    north = box(X0 - 100, Y0 - 100, X0 + 700, Y0 + 300)
    south = box(X0 - 100, Y0 - 300, X0 + 700, Y0 - 100)
    geoms = _lonlat([whole, north, south])
    one("INSERT INTO street (code, district_code, name, geom) VALUES (:c, :d, '测试街道', ST_GeomFromEWKT(:g)) "
        "RETURNING id", c=STREET, d=DISTRICT, g=_ewkt(geoms[0], True))
    for code, name, geom in ((NORTH, "北社区", geoms[1]), (SOUTH, "南社区", geoms[2])):
        one("INSERT INTO community (code, street_code, district_code, name, geom) VALUES "
            "(:c, :s, :d, :n, ST_GeomFromEWKT(:g)) RETURNING id", c=code, s=STREET, d=DISTRICT, n=name,
            g=_ewkt(geom, True))
    if residents:
        # Children aged 3-6: two in N (covered), one in R (not); Q is a retired couple.
        today = date.today()
        ages = {"N": [4, 5, 35], "R": [4, 33], "Q": [70, 68]}
        for name, people in ages.items():
            household = one("INSERT INTO household (district_code, building_id, size, synthetic) VALUES "
                            "(:d, :b, :n, true) RETURNING id", d=DISTRICT, b=ids[name], n=len(people))
            for i, age in enumerate(people):
                born = date(today.year - age, 1, 1)  # exactly ``age`` full years old today
                one("INSERT INTO resident (district_code, household_id, building_id, name, sex, birth_date, "
                    "synthetic) VALUES (:d, :h, :b, :n, 'F', :bd, true) RETURNING id", d=DISTRICT, h=household,
                    b=ids[name], n=f"居民{name}{i}", bd=born)
    session.flush()
    ids["nodes"] = node_ids
    return ids
