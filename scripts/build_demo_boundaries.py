"""Regenerate the demo district's street and community boundaries from the Nanjing OSM extract.

    .venv/bin/python scripts/build_demo_boundaries.py

Writes ``data/boundaries/xinjiekou_streets.geojson`` and ``xinjiekou_communities.geojson``.
The boundaries are made up for the demo (the real ones are not open data) but follow what
real ones follow: streets are groups of main-road-bounded superblocks, communities split
streets along roads into 1,000–3,000 households (estimated from the footprints exactly as
``wangge import osm`` estimates them). Data © OpenStreetMap contributors (ODbL 1.0).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.ops import split

from gis.codes import assign_codes
from gis.crs import metric_crs_for_frame
from gis.io.boundaries import write_boundaries
from gis.layers import STORAGE_CRS
from gis.services.districts import read_osm_with_households
from gis.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
OUT = REPO / "data" / "boundaries"
DISTRICT_CODE = "320102"
STREET_NAMES = ("湖南路街道", "华侨路街道", "新街口街道")  # north to south
MIN_HH, TARGET_HH, MAX_HH = 1000, 2200, 3000
SLIVER_M2 = 8000.0


def faces(lines: list, extent) -> gpd.GeoSeries:
    """Polygonise lines clipped to the extent together with its outline: an exact tiling of it."""
    clipped = [shapely.intersection(line, extent) for line in lines]
    noded = shapely.union_all([*clipped, extent.exterior])
    polys = [p for p in shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
             if extent.contains(p.representative_point())]
    return gpd.GeoSeries(polys, crs=STORAGE_CRS)


def split_crowded_blocks(cells: gpd.GeoSeries, buildings: gpd.GeoDataFrame, metric: str) -> gpd.GeoSeries:
    """Cut a road-bounded block holding more than a community's worth of households with straight
    lines across its longer axis, placed between buildings (where a compound wall would run)."""
    out = []
    points = buildings.geometry.representative_point()
    for cell in cells:
        inside = buildings[points.within(cell)]
        total = inside["households"].sum()
        if total <= MAX_HH:
            out.append(cell)
            continue
        k = math.ceil(total / TARGET_HH)
        minx, miny, maxx, maxy = cell.bounds
        horizontal = (maxx - minx) >= (maxy - miny)
        centre = inside.geometry.representative_point()
        coord = (centre.x if horizontal else centre.y).to_numpy()
        order = np.argsort(coord)
        cum = np.cumsum(inside["households"].to_numpy()[order])
        cuts = []
        for q in range(1, k):
            i = int(np.searchsorted(cum, total * q / k))
            # Between this building and the next: the gap a wall would follow.
            cuts.append((coord[order][i] + coord[order][min(i + 1, len(order) - 1)]) / 2)
        lo, hi = (miny, maxy) if horizontal else (minx, maxx)
        blades = [shapely.LineString([(c, lo - 1), (c, hi + 1)] if horizontal else [(lo - 1, c), (hi + 1, c)])
                  for c in cuts]
        pieces = [cell]
        for blade in blades:
            pieces = [part for piece in pieces for part in shapely.get_parts(split(piece, blade))]
        out.extend(pieces)
    return gpd.GeoSeries(out, crs=STORAGE_CRS)


def adjacency(geoms: gpd.GeoSeries, metric: str) -> nx.Graph:
    """Faces sharing a boundary, weighted by the shared length in metres."""
    graph = nx.Graph()
    graph.add_nodes_from(range(len(geoms)))
    tree = shapely.STRtree(geoms.values)
    left, right = tree.query(geoms.values, predicate="touches")
    for a, b in zip(left, right, strict=True):
        if a < b:
            shared = gpd.GeoSeries([shapely.intersection(geoms.iloc[a].boundary, geoms.iloc[b].boundary)],
                                   crs=STORAGE_CRS).to_crs(metric).length.iloc[0]
            if shared > 1.0:
                graph.add_edge(int(a), int(b), length=shared)
    return graph


def merge_small(groups: list[set[int]], weight: dict[int, float], area: dict[int, float],
                graph: nx.Graph, minimum: float, maximum: float = math.inf) -> list[set[int]]:
    """Merge groups below ``minimum`` households (or sliver area) into the neighbour they share most with,
    preferring neighbours that stay within ``maximum``."""
    groups = [set(g) for g in groups]
    while True:
        owner = {f: i for i, g in enumerate(groups) for f in g}
        small = [i for i, g in enumerate(groups)
                 if sum(weight[f] for f in g) < minimum or sum(area[f] for f in g) < SLIVER_M2]
        if not small or len(groups) == 1:
            return groups
        i = min(small, key=lambda k: sum(weight[f] for f in groups[k]))
        shared: dict[int, float] = {}
        for f in groups[i]:
            for n in graph.neighbors(f):
                j = owner.get(n, i)  # faces of other streets are not candidates
                if j != i:
                    shared[j] = shared.get(j, 0.0) + graph.edges[f, n]["length"]
        if not shared:
            return groups
        size = sum(weight[f] for f in groups[i])
        fitting = {j: v for j, v in shared.items() if sum(weight[f] for f in groups[j]) + size <= maximum}
        j = max(fitting or shared, key=(fitting or shared).get)
        groups[j] |= groups[i]
        del groups[i]


def split_large(members: set[int], weight: dict[int, float], centroid: dict[int, tuple[float, float]],
                graph: nx.Graph, maximum: float) -> list[set[int]]:
    """Split a group above ``maximum`` into contiguous parts by sweeping along its longer axis."""
    total = sum(weight[f] for f in members)
    if total <= maximum:
        return [members]
    k = math.ceil(total / TARGET_HH)
    xs = np.array([centroid[f][0] for f in members])
    ys = np.array([centroid[f][1] for f in members])
    axis = 0 if np.ptp(xs) >= np.ptp(ys) else 1
    ordered = sorted(members, key=lambda f: centroid[f][axis])
    parts: list[set[int]] = [set()]
    running = 0.0
    for f in ordered:
        if running >= total * len(parts) / k and len(parts) < k:
            parts.append(set())
        parts[-1].add(f)
        running += weight[f]
    # A sweep can cut a face off its part; hand such pieces to a touching part.
    fixed: list[set[int]] = []
    for part in parts:
        pieces = [set(c) for c in nx.connected_components(graph.subgraph(part))]
        pieces.sort(key=lambda c: -sum(weight[f] for f in c))
        fixed.append(pieces[0])
        for stray in pieces[1:]:
            fixed.append(stray)
    return [p for p in fixed if p]


def name_after_roads(geom, edges: gpd.GeoDataFrame, used: set[str], fallback: str) -> str:
    """Name a community after the named road with the most length inside or along it."""
    near = edges[edges.intersects(geom.buffer(0.0003))]
    if len(near):
        # Degrees are fine here: only the ranking of lengths within one small area matters.
        inside = shapely.length(shapely.intersection(near.geometry.values, geom.buffer(0.0003)))
        lengths = pd.Series(inside, index=near["name"].to_numpy()).groupby(level=0).sum()
        for road in lengths.sort_values(ascending=False).index:
            name = f"{road.removesuffix('路').removesuffix('街').removesuffix('大道')}社区"
            if name not in used:
                return name
    return fallback


def build() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    settings = Settings()
    layers = read_osm_with_households(SOURCE, settings)
    buildings = layers.buildings
    metric = metric_crs_for_frame(buildings)
    hull = shapely.convex_hull(shapely.union_all(buildings.geometry.values))
    extent = gpd.GeoSeries([hull], crs=STORAGE_CRS).to_crs(metric).buffer(25).to_crs(STORAGE_CRS).iloc[0]
    edges = layers.edges
    main = edges[edges["is_main_road"]].geometry.tolist()
    barriers = [g for g in layers.barriers.geometry if g.geom_type in ("LineString", "MultiLineString")]
    minor = edges[~edges["is_main_road"] & edges["highway"].isin(
        ["tertiary", "tertiary_link", "residential", "unclassified", "living_street", "pedestrian"])].geometry.tolist()

    cells = split_crowded_blocks(faces(main + barriers + minor, extent), buildings, metric)
    points = buildings.geometry.representative_point()
    owner = gpd.sjoin(gpd.GeoDataFrame(geometry=points, crs=STORAGE_CRS),
                      gpd.GeoDataFrame(geometry=cells), predicate="within", how="left")
    owner = owner[~owner.index.duplicated()]
    households = pd.Series(buildings["households"].to_numpy(), index=buildings.index)
    weight = households.groupby(owner["index_right"]).sum().reindex(range(len(cells)), fill_value=0).to_dict()
    area = dict(enumerate(cells.to_crs(metric).area))
    centroid = {i: (g.centroid.x, g.centroid.y) for i, g in enumerate(cells.to_crs(metric))}
    graph = adjacency(cells, metric)
    big = [int(w) for w in weight.values() if w > MAX_HH]
    if big:
        print(f"road-bounded blocks above {MAX_HH} households (cannot be split along roads): {big}")

    # Superblocks: the faces between main roads and water; a cell belongs to the superblock
    # whose polygon holds its representative point.
    supers = faces(main + barriers, extent)
    cell_super = gpd.sjoin(gpd.GeoDataFrame(geometry=cells.representative_point(), crs=STORAGE_CRS),
                           gpd.GeoDataFrame(geometry=supers), predicate="within", how="left")["index_right"]
    super_groups = [set(cell_super.index[cell_super == s]) for s in range(len(supers))]
    super_groups = merge_small([g for g in super_groups if g], weight, area, graph, minimum=MIN_HH)

    # Streets: superblock groups in three latitude bands, north to south.
    lat = np.array([np.mean([centroid[f][1] for f in g]) for g in super_groups])
    order = np.argsort(-lat)
    hh = np.array([sum(weight[f] for f in g) for g in super_groups])[order]
    cut = np.searchsorted(np.cumsum(hh), [hh.sum() / 3, 2 * hh.sum() / 3])
    street_of = np.zeros(len(super_groups), dtype=int)
    for rank, gi in enumerate(order):
        street_of[gi] = int(np.searchsorted(cut, rank, side="right"))

    street_rows, community_rows = [], []
    for s in range(len(STREET_NAMES)):
        members = [super_groups[g] for g in range(len(super_groups)) if street_of[g] == s]
        if not members:
            continue
        communities: list[set[int]] = list(members)
        for _round in range(4):
            communities = [part for group in communities
                           for part in split_large(group, weight, centroid, graph, MAX_HH)]
            communities = merge_small(communities, weight, area, graph, minimum=MIN_HH, maximum=MAX_HH)
        for c in communities:
            community_rows.append({"street": s, "geometry": shapely.union_all(cells.iloc[sorted(c)].values),
                                   "households": sum(weight[f] for f in c)})
        street_rows.append({"street": s, "name": STREET_NAMES[s],
                            "geometry": shapely.union_all([r["geometry"] for r in community_rows
                                                           if r["street"] == s])})

    streets = gpd.GeoDataFrame(street_rows, crs=STORAGE_CRS)
    streets["code"] = assign_codes(streets, parent_code=DISTRICT_CODE).to_numpy()
    streets["parent_code"] = DISTRICT_CODE
    communities = gpd.GeoDataFrame(community_rows, crs=STORAGE_CRS)
    communities["code"] = ""
    communities["name"] = ""
    named = edges[edges["name"].notna() & (edges["name"] != "")]
    used: set[str] = set()
    for _, street in streets.iterrows():
        mine = communities[communities["street"] == street["street"]]
        codes = assign_codes(mine, parent_code=street["code"])
        for idx in mine.index:
            communities.loc[idx, "code"] = codes.loc[idx]
            fallback = f"{street['name'][:-2]}第{codes.loc[idx][-2:]}社区"
            name = name_after_roads(communities.geometry[idx], named, used, fallback)
            used.add(name)
            communities.loc[idx, "name"] = name
    communities["parent_code"] = communities["code"].str[:9]
    return streets, communities


def to_file(frame: gpd.GeoDataFrame, path: Path, extra: list[str]) -> None:
    attrs = [{k: (int(v) if isinstance(v, (int, np.integer)) else v) for k, v in row.items()}
             for row in frame[extra].to_dict("records")] if extra else [{}] * len(frame)
    out = gpd.GeoDataFrame(
        {"code": frame["code"], "name": frame["name"], "parent_code": frame["parent_code"], "attrs": attrs},
        geometry=[shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in frame.geometry],
        crs=STORAGE_CRS,
    ).sort_values("code")
    write_boundaries(out, path, format="geojson")


def main() -> None:
    streets, communities = build()
    OUT.mkdir(parents=True, exist_ok=True)
    to_file(streets, OUT / "xinjiekou_streets.geojson", [])
    to_file(communities.assign(estimated_households=communities["households"].astype(int)),
            OUT / "xinjiekou_communities.geojson", ["estimated_households"])
    for row in communities.sort_values("code").itertuples():
        print(row.code, row.name, int(row.households), row.geometry.geom_type)
    print(f"{len(streets)} streets, {len(communities)} communities, "
          f"{int(communities['households'].sum())} households")


if __name__ == "__main__":
    main()
