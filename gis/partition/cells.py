"""Building cells and their adjacency graph: the units the partition engine moves around.

A region (a community, a street, a whole district) is cut by every road and barrier into
street blocks, and every block into one cell per building (a Voronoi tessellation of the
buildings' points on surface, restricted to the block). Blocks without buildings become one
empty cell each. Everything is noded in a single ``polygonize`` call, so the resulting
faces share their vertices exactly: any union of cells is gap- and overlap-free, which is
what makes "a grid is the union of its cells" tile the region by construction.

Adjacent cells are joined by an edge whose kind says what a boundary between them would
follow: a minor road (cheap to cut), nothing at all (``interior``, cutting through a block),
or a compound (``compound``, cutting a 小区 in two). Cells on either side of a main road,
river, canal or railway are not joined: those pairs are kept apart as ``hard_pairs``, for
reporting options and for attaching empty land.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from gis.errors import InvalidInput
from gis.partition.barriers import FOLLOW_STREET_M, close_barriers

# What cutting one metre of shared boundary costs, by what the boundary would follow.
CUT_COST = {"minor_road": 1.0, "interior": 3.0, "compound": 8.0}
EDGE_KINDS = ("minor_road", "interior", "compound")
# Shared boundaries shorter than this are corner touches, not adjacency (rook, not queen).
MIN_SHARED_M = 0.05


@dataclass
class CellGraph:
    """Cells of a region and their adjacency, in a metric CRS.

    ``cells``: households, buildings (count), block, area, compound, geometry.
    ``edges``: u < v, length_m, kind (one of EDGE_KINDS), cost.
    ``hard_pairs``: u < v, length_m, name: cells separated by a main road or barrier.
    ``faces``: the exact pieces (cell index per face) that grids are unioned from.
    ``building_cell``: the cell of each input building (-1 when outside the region).
    """

    region: BaseGeometry
    cells: gpd.GeoDataFrame
    edges: pd.DataFrame
    hard_pairs: pd.DataFrame
    faces: gpd.GeoDataFrame
    building_cell: np.ndarray
    crs: object

    @property
    def n(self) -> int:
        return len(self.cells)

    def soft_components(self) -> np.ndarray:
        """Component label per cell of the graph without hard pairs: the main-road-bounded areas."""
        n = self.n
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        u, v = self.edges["u"].to_numpy(), self.edges["v"].to_numpy()
        matrix = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
        return connected_components(matrix, directed=False)[1]


def build_cells(
    region: BaseGeometry,
    buildings: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    barriers: gpd.GeoDataFrame | None = None,
    *,
    max_households: int | None = None,
    allow_crossing: tuple[str, ...] = (),
    closing_m: float = 0.0,
) -> CellGraph:
    """Cells of ``region`` (metric CRS, like every frame passed in).

    ``buildings``: households, geometry, optional compound (id or None); a building belongs to
    the region when its point on surface does. ``roads``: geometry, is_main_road, name.
    ``barriers``: geometry, name (lines, or polygons whose outline is used). Main roads whose
    name is in ``allow_crossing`` are treated as minor roads. Compounds with at most
    ``max_households`` households are kept whole inside a block (one cell). Barrier ends
    within ``closing_m`` of the outline or another barrier are closed (``close_barriers``).
    A cell holds its buildings' whole footprints (the part inside the region): boundaries go
    around buildings, never through them.
    """
    if region is None or region.is_empty or region.area <= 0:
        raise InvalidInput("the region to partition is empty")
    crs = buildings.crs
    region = clean_region(region)
    points = shapely.point_on_surface(buildings.geometry.to_numpy())
    inside = shapely.contains_properly(region, points) | shapely.intersects(region, points)

    roads = roads if roads is not None else gpd.GeoDataFrame(geometry=[], crs=crs)
    soft_lines, hard_lines, hard_names = _split_lines(region, roads, barriers, buildings.geometry.to_numpy()[inside],
                                                      allow_crossing=allow_crossing, closing_m=closing_m)
    outline = region.boundary
    blocks = _faces(shapely.union_all([outline, *soft_lines, *hard_lines]), region)
    areas = _faces(shapely.union_all([outline, *hard_lines]), region)

    building_idx = np.flatnonzero(inside)
    voronoi_edges = _voronoi_edges(points[inside], region)
    footprints = _footprints(buildings.geometry.to_numpy()[building_idx], region)
    footprint_lines = [shapely.boundary(g) for g in footprints if not g.is_empty]
    faces = _faces(shapely.union_all([outline, *soft_lines, *hard_lines, *voronoi_edges, *footprint_lines]), region)

    face_points = shapely.point_on_surface(faces)
    face_block = _locate(face_points, blocks)
    face_area = _locate(face_points, areas)
    # A face is seeded by the buildings whose point it contains, or whose footprint it lies in;
    # the rest join a neighbour.
    building_face = _locate(points[building_idx], faces)
    # Footprints mapped over one another (a tower on its podium) are one building to the grid.
    building_face = building_face[_overlap_groups(footprints, face_area[building_face])]
    face_building = _footprint_of(face_points, footprints)
    # Faces that meet along a main road or barrier are kept apart even when the barrier ends
    # inside their area: a unit may reach around a barrier's end, never straight across it.
    face_adj = _adjacency(faces, hard_lines)

    face_cell = _group_faces(
        n_faces=len(faces), face_block=face_block, building_face=building_face, face_adj=face_adj,
        face_building=face_building, face_area=face_area,
    )
    # Cell households and the compound rule: same-compound cells in a block merge if small enough.
    households = buildings["households"].fillna(0).to_numpy(np.int64)
    compound = (buildings["compound"].to_numpy(object) if "compound" in buildings
                else np.full(len(buildings), None, dtype=object))
    b_cell_raw = face_cell[building_face]
    face_cell, b_cell_raw = _merge_compounds(
        face_cell, face_block, b_cell_raw, compound[building_idx], households[building_idx], max_households,
    )
    cells, cell_compound = _cell_frame(faces, face_cell, face_block, face_area, b_cell_raw,
                                       households[building_idx], compound[building_idx], crs)
    edges, hard = _cell_edges(face_adj, face_cell, face_block, face_area, cell_compound, hard_lines, hard_names,
                              faces)
    building_cell = np.full(len(buildings), -1, dtype=np.int64)
    building_cell[building_idx] = b_cell_raw
    return CellGraph(
        region=region, cells=cells, edges=edges, hard_pairs=hard,
        faces=gpd.GeoDataFrame({"cell": face_cell}, geometry=faces, crs=crs),
        building_cell=building_cell, crs=crs,
    )


def _split_lines(region: BaseGeometry, roads: gpd.GeoDataFrame, barriers: gpd.GeoDataFrame | None,
                 obstacles: np.ndarray, *, allow_crossing: tuple[str, ...],
                 closing_m: float) -> tuple[list[BaseGeometry], list[BaseGeometry], list[str | None]]:
    """Soft lines (minor roads and allowed crossings) and hard ones (main roads, barriers, closing links)."""
    road_geoms = shapely.intersection(roads.geometry.to_numpy(), region) if len(roads) else np.array([])
    is_main = roads["is_main_road"].fillna(False).to_numpy(bool) if len(roads) else np.zeros(0, bool)
    road_names = roads["name"].to_numpy(object) if len(roads) and "name" in roads else np.full(len(roads), None)
    minor = ~is_main
    if allow_crossing:
        is_main = is_main & ~np.isin(road_names.astype(str), list(allow_crossing))
    hard_lines, hard_names = _hard_lines(road_geoms[is_main], road_names[is_main], barriers, region)
    if closing_m > 0 and hard_lines:
        streets = [line for line in (_linear(g) for g in road_geoms[minor]) if line is not None]
        links, link_names = close_barriers(hard_lines, hard_names, region, closing_m, obstacles=list(obstacles),
                                           streets=streets, follow_m=FOLLOW_STREET_M)
        hard_lines, hard_names = hard_lines + list(links), hard_names + list(link_names)
    soft_lines = [g for g in road_geoms[~is_main] if _linear(g) is not None]
    return soft_lines, hard_lines, hard_names


def _voronoi_edges(seed_points: np.ndarray, region: BaseGeometry) -> list[BaseGeometry]:
    """The edges between the buildings' points (a Voronoi diagram), so that faces part buildings."""
    unique_points = shapely.union_all(seed_points) if len(seed_points) else None
    if unique_points is None or shapely.get_num_geometries(unique_points) <= 1:
        return []
    # Not clipped to the region: the noding cuts them at the outline anyway, and faces outside the
    # region are dropped (clipping 40,000 edges cost a second at 800,000 households).
    return [shapely.voronoi_polygons(unique_points, only_edges=True, extend_to=region)]


def _cell_frame(faces: np.ndarray, face_cell: np.ndarray, face_block: np.ndarray, face_area: np.ndarray,
                b_cell: np.ndarray, households: np.ndarray, compound: np.ndarray,
                crs: Any) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """One row per cell (households, buildings, block, barrier-bounded area, compound, its faces' union).

    Also returns the compounds as the object array the frame was built from.
    """
    n_cells = int(face_cell.max()) + 1 if len(face_cell) else 0
    cell_hh = np.bincount(b_cell, weights=households, minlength=n_cells).astype(np.int64)
    cell_nb = np.bincount(b_cell, minlength=n_cells).astype(np.int64)
    cell_block = np.full(n_cells, -1)
    cell_block[face_cell] = face_block
    cell_area = np.full(n_cells, -1)
    cell_area[face_cell] = face_area
    cell_compound = np.full(n_cells, None, dtype=object)
    for cell, comp in zip(b_cell, compound, strict=True):
        if comp is not None and not (isinstance(comp, float) and np.isnan(comp)):
            cell_compound[cell] = comp
    by_cell = np.argsort(face_cell, kind="stable")
    cell_faces = np.split(faces[by_cell], np.flatnonzero(np.diff(face_cell[by_cell])) + 1) if n_cells else []
    cell_geom = [union_faces(group) for group in cell_faces]
    cells = gpd.GeoDataFrame(
        {"households": cell_hh, "buildings": cell_nb, "block": cell_block, "area": cell_area,
         "compound": cell_compound},
        geometry=cell_geom, crs=crs,
    )
    return cells, cell_compound


def clean_region(region: BaseGeometry, min_area: float = 1.0) -> BaseGeometry:
    """The region without slivers and pinholes (below ``min_area`` m²).

    Reprojection and cutting out fixed grids leave them; they carry no building and only make the noding
    fragile.
    """
    parts = []
    for part in shapely.get_parts(shapely.make_valid(region)):
        if part.geom_type != "Polygon" or part.area < min_area:
            continue
        holes = [ring for ring in part.interiors if shapely.Polygon(ring).area >= min_area]
        parts.append(shapely.Polygon(part.exterior, holes))
    if not parts:
        raise InvalidInput("the region to partition is empty")
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def union_faces(faces: np.ndarray) -> BaseGeometry:
    """Union of faces from one noding: the fast coverage union, or the general one if noding slipped."""
    if len(faces) == 1:
        return faces[0]
    try:
        return shapely.coverage_union_all(faces)
    except GEOSException:
        return shapely.union_all(faces)


def _linear(geom: BaseGeometry) -> BaseGeometry | None:
    """The linear part of a clipped road or barrier (clipping can leave points)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in ("LineString", "MultiLineString"):
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in ("LineString", "MultiLineString")]
        return shapely.union_all(parts) if parts else None
    return None


def _hard_lines(main: np.ndarray, main_names: np.ndarray, barriers: gpd.GeoDataFrame | None,
                region: BaseGeometry) -> tuple[list[BaseGeometry], list[str | None]]:
    lines, names = [], []
    for geom, name in zip(main, main_names, strict=True):
        line = _linear(geom)
        if line is not None:
            lines.append(line)
            names.append(name if isinstance(name, str) else None)
    if barriers is not None and len(barriers):
        for geom, name in zip(barriers.geometry, barriers.get("name", pd.Series([None] * len(barriers))),
                              strict=True):
            if geom is None or geom.is_empty:
                continue
            outline = geom.boundary if geom.geom_type in ("Polygon", "MultiPolygon") else geom
            line = _linear(shapely.intersection(outline, region))
            if line is not None:
                lines.append(line)
                names.append(name if isinstance(name, str) else None)
    return lines, names


def _faces(noded: BaseGeometry, region: BaseGeometry) -> np.ndarray:
    """Polygons formed by noded lines, keeping those inside the region (holes are not faces)."""
    polys = np.asarray(shapely.get_parts(shapely.polygonize(shapely.get_parts(noded))))
    if len(polys) == 0:
        return np.array([region])
    keep = shapely.within(shapely.point_on_surface(polys), region) & (shapely.area(polys) > 0)
    return polys[keep]


def _locate(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Index of the polygon containing each point (-1 when none)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0 or len(polygons) == 0:
        return out
    tree = shapely.STRtree(polygons)
    pt_idx, poly_idx = tree.query(points, predicate="intersects")
    out[pt_idx[::-1]] = poly_idx[::-1]  # first hit wins on a shared edge
    missing = out < 0
    if missing.any():
        out[missing] = tree.nearest(points[missing])
    return out


def _adjacency(polys: np.ndarray, hard_lines: list[BaseGeometry]) -> pd.DataFrame:
    """Pairs i < j of faces sharing a boundary, its length, and whether it runs along ``hard_lines``.

    ``on_hard`` is true when any of the shared boundary runs along one of ``hard_lines``.

    Faces come from one polygonize, so neighbours share their edges vertex for vertex: matching
    ring segments by their end points finds every pair without a geometric intersection per pair
    (a tenth of the time at 800,000 households).
    """
    empty = pd.DataFrame({"i": np.zeros(0, np.int64), "j": np.zeros(0, np.int64), "length": np.zeros(0),
                          "on_hard": np.zeros(0, dtype=bool)})
    if len(polys) < 2:
        return empty
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same_ring = ring_of[:-1] == ring_of[1:]
    a, b = coords[:-1][same_ring], coords[1:][same_ring]
    face = ring_poly[ring_of[:-1][same_ring]]
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    start, end = np.where(flip[:, None], b, a), np.where(flip[:, None], a, b)
    key = np.ascontiguousarray(np.hstack([start, end])).view(np.dtype((np.void, 32))).ravel()
    order = np.argsort(key, kind="stable")
    twin = np.flatnonzero(key[order][1:] == key[order][:-1])
    first, second = order[twin], order[twin + 1]
    i, j = np.minimum(face[first], face[second]), np.maximum(face[first], face[second])
    middle = (start[first] + end[first]) / 2
    seg = pd.DataFrame({"i": i, "j": j, "length": np.hypot(*(end[first] - start[first]).T),
                        "on_hard": _on_lines(shapely.points(middle), hard_lines)})
    seg = seg[seg["i"] != seg["j"]]
    pairs = seg.groupby(["i", "j"], sort=True).agg(length=("length", "sum"), on_hard=("on_hard", "any")).reset_index()
    pairs = pairs[pairs["length"] > MIN_SHARED_M]
    if pairs.empty:
        return empty
    return pd.DataFrame({"i": pairs["i"].to_numpy(np.int64), "j": pairs["j"].to_numpy(np.int64),
                         "length": pairs["length"].to_numpy(float), "on_hard": pairs["on_hard"].to_numpy(bool)})


def _footprints(geoms: np.ndarray, region: BaseGeometry) -> list[BaseGeometry]:
    """Each building's footprint inside the region (empty where it has none there)."""
    shapely.prepare(region)
    out = []
    for g in geoms:
        if g is None or g.is_empty or g.geom_type not in ("Polygon", "MultiPolygon"):
            out.append(shapely.Polygon())
            continue
        g = g if g.is_valid else shapely.make_valid(g)
        if g.geom_type == "Polygon" and region.covers(g):
            out.append(g)  # the common case, without an overlay
            continue
        clipped = shapely.intersection(g, region) if not region.covers(g) else g
        parts = [p for p in shapely.get_parts(clipped) if p.geom_type == "Polygon" and p.area > 0]
        out.append(parts[0] if len(parts) == 1 else shapely.union_all(parts) if parts else shapely.Polygon())
    return out


def _on_lines(points: np.ndarray, lines: list[BaseGeometry], tolerance_m: float = 0.01) -> np.ndarray:
    """Whether each point lies on one of ``lines`` (within ``tolerance_m``)."""
    out = np.zeros(len(points), dtype=bool)
    if len(points) == 0 or not lines:
        return out
    # Two-point pieces, so the tree prunes by each piece's small box rather than a whole road's.
    coords, part = shapely.get_coordinates(shapely.get_parts(np.asarray(lines, dtype=object)), return_index=True)
    same = part[:-1] == part[1:]
    pieces = shapely.linestrings(np.stack([coords[:-1][same], coords[1:][same]], axis=1))
    tree = shapely.STRtree(pieces)
    hit, _ = tree.query(points, predicate="dwithin", distance=tolerance_m)
    out[hit] = True
    return out


def _overlap_groups(footprints: list[BaseGeometry], area_of: np.ndarray, min_overlap_m2: float = 1.0) -> np.ndarray:
    """For each footprint, the first footprint of the group it overlaps (by more than ``min_overlap_m2``).

    Never across a barrier (``area_of``: the barrier-bounded area of each building's point).
    """
    n = len(footprints)
    group = np.arange(n)
    if n < 2:
        return group
    geoms = np.asarray(footprints, dtype=object)
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = (i < j) & (area_of[i] == area_of[j])
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return group
    overlap = shapely.area(shapely.intersection(geoms[i], geoms[j])) > min_overlap_m2
    i, j = i[overlap], j[overlap]
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    label = connected_components(graph, directed=False)[1]
    first = pd.Series(np.arange(n)).groupby(label).transform("min").to_numpy()
    return first


def _footprint_of(face_points: np.ndarray, footprints: list[BaseGeometry]) -> np.ndarray:
    """Index (into the region's buildings) of the footprint holding each face (-1 for open land)."""
    out = np.full(len(face_points), -1, dtype=np.int64)
    if len(face_points) == 0 or not footprints:
        return out
    tree = shapely.STRtree(np.asarray(footprints, dtype=object))
    pt, fp = tree.query(face_points, predicate="within")
    out[pt[::-1]] = fp[::-1]  # overlapping footprints: the first one mapped wins
    return out


def _group_faces(*, n_faces: int, face_block: np.ndarray, building_face: np.ndarray,
                 face_adj: pd.DataFrame, face_building: np.ndarray | None = None,
                 face_area: np.ndarray | None = None) -> np.ndarray:
    """Cell index per face.

    Faces holding a building's point, and the rest of its footprint, seed its cell; other faces of the
    block join the neighbouring cell they share most boundary with (pieces cut off from their cell by a
    footprint too); a block without buildings is one cell.
    """
    owner = np.full(n_faces, -1, dtype=np.int64)
    seeded = np.unique(building_face)
    owner[seeded] = seeded
    fi, fj, fl = (face_adj[c].to_numpy() for c in ("i", "j", "length"))
    # Faces meeting along a main road or barrier never share a cell, even where the barrier ends
    # inside their block (a dead end is no boundary for polygonize, but it is for people).
    apart = face_adj["on_hard"].to_numpy(bool) if "on_hard" in face_adj else np.zeros(len(fi), dtype=bool)
    if face_building is not None:
        in_footprint = np.flatnonzero((face_building >= 0) & (owner < 0))
        seed = building_face[face_building[in_footprint]]
        if face_area is not None:
            # A main road or river drawn through a footprint wins: the building keeps its own side.
            keep = face_area[in_footprint] == face_area[seed]
            in_footprint, seed = in_footprint[keep], seed[keep]
        owner[in_footprint] = owner[seed]
        # A footprint a main road is drawn through keeps only the side its point is on.
        _drop_detached(owner, fi[~apart], fj[~apart], n_faces)
    same = (face_block[fi] == face_block[fj]) & ~apart
    _grow(owner, fi[same], fj[same], fl[same])
    if face_area is not None:
        # A footprint can cut a piece off the rest of its block: it joins a neighbour across a
        # minor road (never across a barrier). Blocks with no building stay whole, as below.
        seeded_block = np.zeros(int(face_block.max()) + 1 if len(face_block) else 0, dtype=bool)
        seeded_block[face_block[owner >= 0]] = True
        cut_off = (owner < 0) & seeded_block[face_block]
        ok = (face_area[fi] == face_area[fj]) & (cut_off[fi] | cut_off[fj]) & ~apart
        _grow(owner, fi[ok], fj[ok], fl[ok], receivers=cut_off)
    # Land without buildings: one cell per block, or per side of a barrier ending inside it.
    free = owner < 0
    link = same & free[fi] & free[fj]
    graph = coo_matrix((np.ones(int(link.sum())), (fi[link], fj[link])), shape=(n_faces, n_faces))
    piece = connected_components(graph, directed=False)[1]
    first = pd.Series(np.arange(n_faces)).groupby(piece).transform("min").to_numpy()
    owner[free] = first[free]
    _, cell = np.unique(owner, return_inverse=True)
    return cell.astype(np.int64)


def _drop_detached(owner: np.ndarray, fi: np.ndarray, fj: np.ndarray, n_faces: int) -> None:
    """Unown footprint pieces not connected to their building's point.

    Overlapping footprints can cut one apart; the pieces then join a neighbour instead of making a cell
    of two parts.
    """
    same = (owner[fi] >= 0) & (owner[fi] == owner[fj])
    graph = coo_matrix((np.ones(int(same.sum())), (fi[same], fj[same])), shape=(n_faces, n_faces))
    comp = connected_components(graph, directed=False)[1]
    owned = np.flatnonzero(owner >= 0)
    detached = owned[comp[owned] != comp[owner[owned]]]
    owner[detached] = -1


def _grow(owner: np.ndarray, ii: np.ndarray, jj: np.ndarray, ll: np.ndarray,
          receivers: np.ndarray | None = None) -> None:
    """Give unowned faces the owner of the neighbour they share most boundary with, one ring at a time.

    Only faces of ``receivers`` take an owner, when it is given.
    """
    a = np.concatenate([ii, jj])
    b = np.concatenate([jj, ii])
    length = np.concatenate([ll, ll])
    if receivers is not None:
        a, b, length = a[receivers[a]], b[receivers[a]], length[receivers[a]]
    while True:
        candidate = (owner[a] < 0) & (owner[b] >= 0)
        if not candidate.any():
            break
        frame = pd.DataFrame({"a": a[candidate], "owner": owner[b[candidate]], "length": length[candidate]})
        best = frame.sort_values("length", ascending=False).drop_duplicates("a")
        owner[best["a"].to_numpy()] = best["owner"].to_numpy()


def _merge_compounds(face_cell: np.ndarray, face_block: np.ndarray, b_cell: np.ndarray, compound: np.ndarray,
                     households: np.ndarray, max_households: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Merge cells of one compound inside one block when the compound fits in one unit."""
    frame = pd.DataFrame({"cell": b_cell, "compound": compound, "hh": households})
    frame = frame[frame["compound"].notna()]
    if frame.empty:
        return face_cell, b_cell
    cell_block = np.full(int(face_cell.max()) + 1, -1)
    cell_block[face_cell] = face_block
    frame["block"] = cell_block[frame["cell"].to_numpy()]
    mapping = np.arange(len(cell_block))
    for (_, _), group in frame.groupby(["compound", "block"]):
        cells = np.unique(group["cell"].to_numpy())
        if len(cells) < 2:
            continue
        if max_households is not None and group["hh"].sum() > max_households:
            continue
        mapping[cells] = cells.min()
    _, compact = np.unique(mapping, return_inverse=True)
    return compact[face_cell], compact[b_cell]


def _cell_edges(face_adj: pd.DataFrame, face_cell: np.ndarray, face_block: np.ndarray, face_area: np.ndarray,
                cell_compound: np.ndarray, hard_lines: list[BaseGeometry], hard_names: list[str | None],
                faces: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    i, j, length = (face_adj[c].to_numpy() for c in ("i", "j", "length"))
    on_hard = face_adj["on_hard"].to_numpy(bool) if "on_hard" in face_adj else np.zeros(len(i), dtype=bool)
    cu, cv = face_cell[i], face_cell[j]
    differ = cu != cv
    i, j, length, cu, cv, on_hard = i[differ], j[differ], length[differ], cu[differ], cv[differ], on_hard[differ]
    hard = (face_area[i] != face_area[j]) | on_hard
    same_block = face_block[i] == face_block[j]
    comp_u, comp_v = cell_compound[cu], cell_compound[cv]
    same_compound = np.array([a is not None and a == b for a, b in zip(comp_u, comp_v, strict=True)], dtype=bool)
    kind = np.where(~same_block, "minor_road", np.where(same_compound, "compound", "interior"))
    lo, hi = np.minimum(cu, cv), np.maximum(cu, cv)

    soft = pd.DataFrame({"u": lo[~hard], "v": hi[~hard], "length_m": length[~hard], "kind": kind[~hard]})
    soft["cost"] = soft["length_m"] * soft["kind"].map(CUT_COST)
    soft = soft.groupby(["u", "v"], as_index=False).agg(
        length_m=("length_m", "sum"), cost=("cost", "sum"), kind=("kind", "first"))
    # A pair that is both separated by a road and by block interior keeps its cheapest kind's label.

    hard_frame = pd.DataFrame({"u": lo[hard], "v": hi[hard], "length_m": length[hard], "face": i[hard]})
    hard_frame = hard_frame.groupby(["u", "v"], as_index=False).agg(length_m=("length_m", "sum"),
                                                                      face=("face", "first"))
    names: list[str | None] = []
    if len(hard_frame) and hard_lines:
        tree = shapely.STRtree(np.asarray(hard_lines, dtype=object))
        probe = shapely.point_on_surface(faces[hard_frame["face"].to_numpy()])
        nearest = tree.nearest(probe)
        names = [hard_names[k] for k in nearest]
    hard_frame["name"] = names if names else [None] * len(hard_frame)
    hard_frame = hard_frame.drop(columns="face")
    # Pairs that are soft somewhere are soft: one soft link is enough to join them.
    if len(soft) and len(hard_frame):
        soft_keys = set(zip(soft["u"], soft["v"], strict=True))
        hard_frame = hard_frame[[(a, b) not in soft_keys
                                 for a, b in zip(hard_frame["u"], hard_frame["v"], strict=True)]]
    return soft.reset_index(drop=True), hard_frame.reset_index(drop=True)
