"""The walk network as a scipy sparse graph, with buildings attached where people leave them.

Distances are walked along the stored network (domain §4), never measured as the crow flies.
A building joins the network at its compound's gates when the compound has any, otherwise
at the point of its footprint nearest to a walkable edge. Facilities and candidate sites
join it the same way. A link from a footprint, gate or point to the network never crosses a
main road, a river or a railway when a legal link exists within reach; when none does, the
nearest link is used and counted (``Links.legal`` is False), so a planner can see where the
data is thin.

Main roads are walked along on one's own side: a point that joins a main road from the north
cannot reach one that joins it from the south mid-block, it has to walk to a network node
(a junction) first. Each main-road edge therefore carries two chains of attached points, one
per side; other edges carry one. Attached points become nodes of the graph, so a building's
distance is exact, and a facility dropped anywhere on the network is exact too: it sits on
one chain segment, between two consecutive attached points, and enters the graph through
both ends of that segment.

Links only join edges of the network's major connected components (at least
``MIN_COMPONENT_SHARE`` of its length; the largest always counts). OSM extracts are full of
short footways and service roads that connect to nothing; a building linked to one of those
would be stranded a few metres from a street it can in fact reach.

All coordinates here are metric (a CGCS2000 Gauss-Krüger zone); costs are metres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from shapely import STRtree

from gis.crs import metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidInput

__all__ = [
    "SNAP_RADII_M",
    "AttachedNetwork",
    "Links",
    "Sites",
    "WalkNetwork",
    "attach_buildings",
    "build_network",
    "link_to_network",
    "locate_sites",
]

# Search radii for a legal link when the nearest edge is across a main road or a river: most
# buildings front a street, a few sit deep inside a block, hardly any further than 600 m.
SNAP_RADII_M = (60.0, 250.0, 800.0)
# Attached points this close (metres along an edge) share a graph node.
_MERGE_M = 0.01
# Components holding less than this share of the network's length take no links (see above).
MIN_COMPONENT_SHARE = 0.05


@dataclass
class WalkNetwork:
    """A walk network in a metric CRS: nodes, undirected edges with costs, and what blocks a link.

    ``edge_geom`` runs from ``edge_u`` to ``edge_v``; ``edge_cost`` is the cost u→v and
    ``edge_reverse_cost`` v→u, in metres (negative: not walkable that way, as in pgRouting).
    """

    crs: str
    node_ids: np.ndarray
    node_xy: np.ndarray
    edge_ids: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_cost: np.ndarray
    edge_reverse_cost: np.ndarray
    edge_main: np.ndarray
    edge_geom: np.ndarray
    blocker_geom: np.ndarray
    blocker_edge: np.ndarray  # edge index of a main-road blocker, -1 for rivers, water and railways
    link_edges: np.ndarray  # edges a link may join (those of major components), indexed by ``edge_tree``
    components: int
    edge_tree: STRtree = field(repr=False)
    blocker_tree: STRtree = field(repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_ids)

    @property
    def fragment_edges(self) -> int:
        """Edges of minor components, which take no links."""
        return self.n_edges - len(self.link_edges)


def _metric(frame: gpd.GeoDataFrame, crs: str, what: str) -> gpd.GeoSeries:
    if frame.crs is None:
        raise CRSMismatch(f"{what} has no CRS; expected EPSG:4490 or a metric CRS")
    return frame.geometry.to_crs(crs)


def build_network(
    nodes: gpd.GeoDataFrame,
    edges: gpd.GeoDataFrame,
    *,
    barriers: gpd.GeoDataFrame | None = None,
    crs: str | None = None,
    min_component_share: float = MIN_COMPONENT_SHARE,
) -> WalkNetwork:
    """Build a ``WalkNetwork`` from node and edge frames (any CRS; measured in ``crs``).

    Parameters
    ----------
    nodes
        Points with an ``id`` column.
    edges
        LineStrings with ``source`` and ``target`` (node ids) and ``length_m``; optional
        ``id``, ``cost``, ``reverse_cost`` (default ``length_m`` both ways) and ``is_main_road``.
    barriers
        Rivers, water areas and railways a link to the network must not cross.
    crs
        The metric CRS to work in; default the CGCS2000 Gauss-Krüger zone of the nodes.
    min_component_share
        Connected components with less of the network's length take no links.
    """
    for column in ("source", "target", "length_m"):
        if column not in edges:
            raise InvalidInput(f"edges: column {column!r} is missing; got {list(edges.columns)}")
    if "id" not in nodes:
        raise InvalidInput(f"nodes: column 'id' is missing; got {list(nodes.columns)}")
    if len(edges) == 0:
        raise InvalidInput("the walk network has no edges: import a district with streets, or use straight-line mode")
    crs = crs or metric_crs_for_frame(nodes)
    node_ids = nodes["id"].to_numpy(dtype=np.int64)
    index = pd.Index(node_ids)
    if not index.is_unique:
        raise InvalidInput("nodes: ids must be unique")
    u = index.get_indexer(edges["source"].to_numpy(dtype=np.int64))
    v = index.get_indexer(edges["target"].to_numpy(dtype=np.int64))
    if (u < 0).any() or (v < 0).any():
        raise InvalidInput(f"edges: {int(((u < 0) | (v < 0)).sum())} edges end at node ids that are not in nodes")
    node_xy = shapely.get_coordinates(_metric(nodes, crs, "nodes").values)
    geom = np.asarray(_metric(edges, crs, "edges").values, dtype=object)
    # Stored geometries need not run from source to target; orient them so positions along
    # an edge are measured from its source.
    first = shapely.get_coordinates(shapely.get_point(geom, 0))
    flip = np.hypot(*(first - node_xy[u]).T) > np.hypot(*(first - node_xy[v]).T)
    geom[flip] = shapely.reverse(geom[flip])
    length = edges["length_m"].to_numpy(dtype=float)
    cost = edges["cost"].to_numpy(dtype=float) if "cost" in edges else length
    reverse = edges["reverse_cost"].to_numpy(dtype=float) if "reverse_cost" in edges else length
    main = edges["is_main_road"].fillna(False).to_numpy(dtype=bool) if "is_main_road" in edges \
        else np.zeros(len(edges), dtype=bool)
    edge_ids = edges["id"].to_numpy(dtype=np.int64) if "id" in edges else np.arange(len(edges), dtype=np.int64)

    blockers = [geom[main]]
    blocker_edge = [np.flatnonzero(main)]
    if barriers is not None and len(barriers):
        bgeom = np.asarray(_metric(barriers, crs, "barriers").values, dtype=object)
        bgeom = bgeom[~shapely.is_empty(bgeom) & ~shapely.is_missing(bgeom)]
        blockers.append(bgeom)
        blocker_edge.append(np.full(len(bgeom), -1))
    blocker_geom = np.concatenate(blockers)
    n = len(node_ids)
    count, label = connected_components(
        sparse.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    comp_length = np.bincount(label[u], weights=np.abs(length), minlength=count)
    major = comp_length >= min_component_share * comp_length.sum()
    major[np.argmax(comp_length)] = True
    link_edges = np.flatnonzero(major[label[u]])
    return WalkNetwork(
        crs=crs, node_ids=node_ids, node_xy=node_xy, edge_ids=edge_ids, edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64), edge_cost=cost, edge_reverse_cost=reverse, edge_main=main, edge_geom=geom,
        blocker_geom=blocker_geom, blocker_edge=np.concatenate(blocker_edge).astype(np.int64),
        link_edges=link_edges, components=int(count),
        edge_tree=STRtree(geom[link_edges]), blocker_tree=STRtree(blocker_geom),
    )


@dataclass
class Links:
    """How each of a set of geometries joins the network.

    edge: edge index; pos: fraction along the edge from its source; side: +1 left or -1 right
    of the edge's direction on a main road, 0 on other edges; length: metres from the geometry
    to the network; legal: the link crosses no main road, river or railway; start: the
    entrance-like point where the link leaves the geometry.
    """

    edge: np.ndarray
    pos: np.ndarray
    side: np.ndarray
    length: np.ndarray
    legal: np.ndarray
    start: np.ndarray

    def __len__(self) -> int:
        return len(self.edge)

    @staticmethod
    def concat(parts: list[Links]) -> Links:
        return Links(*(np.concatenate([getattr(p, f) for p in parts]) for f in
                       ("edge", "pos", "side", "length", "legal", "start")))


def _crossing(net: WalkNetwork, connectors: np.ndarray, target_edge: np.ndarray) -> np.ndarray:
    """Which connectors cross a main road (other than the edge they join) or a barrier."""
    if len(connectors) == 0 or len(net.blocker_geom) == 0:
        return np.zeros(len(connectors), dtype=bool)
    ci, bi = net.blocker_tree.query(connectors, predicate="crosses")
    keep = net.blocker_edge[bi] != target_edge[ci]
    return np.bincount(ci[keep], minlength=len(connectors)) > 0


def _links_for(net: WalkNetwork, geoms: np.ndarray, edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connectors from each geometry to its edge, and whether each is illegal."""
    connectors = shapely.shortest_line(geoms, net.edge_geom[edge])
    return connectors, _crossing(net, connectors, edge)


def link_to_network(net: WalkNetwork, geoms: Any, *, radii: tuple[float, ...] = SNAP_RADII_M) -> Links:
    """Join each geometry (metric points or polygons) to the network by its nearest legal link."""
    geoms = np.asarray(geoms, dtype=object)
    n = len(geoms)
    if n == 0:
        empty = np.empty(0)
        return Links(np.empty(0, np.int64), empty, np.empty(0, np.int8), empty, np.empty(0, bool),
                     np.empty(0, dtype=object))
    pairs = net.edge_tree.query_nearest(geoms, all_matches=False)
    edge = np.empty(n, dtype=np.int64)
    edge[pairs[0]] = net.link_edges[pairs[1]]
    connectors, illegal = _links_for(net, geoms, edge)
    unresolved = np.flatnonzero(illegal)
    for radius in radii:
        if len(unresolved) == 0:
            break
        gi, ei = net.edge_tree.query(geoms[unresolved], predicate="dwithin", distance=radius)
        if len(gi) == 0:
            continue
        ei = net.link_edges[ei]
        owner = unresolved[gi]
        cand, bad = _links_for(net, geoms[owner], ei)
        ok = ~bad
        if not ok.any():
            continue
        owner, ei, cand = owner[ok], ei[ok], cand[ok]
        order = np.lexsort((shapely.length(cand), owner))
        owner, ei, cand = owner[order], ei[order], cand[order]
        first = np.r_[True, owner[1:] != owner[:-1]]
        edge[owner[first]] = ei[first]
        connectors[owner[first]] = cand[first]
        illegal[owner[first]] = False
        unresolved = np.flatnonzero(illegal)

    start = shapely.get_point(connectors, 0)
    end = shapely.get_point(connectors, -1)
    lines = net.edge_geom[edge]
    pos = shapely.line_locate_point(lines, end, normalized=True)
    # The side of the edge the geometry lies on: sign of the cross product of the edge's
    # direction at the link and the link itself.
    glen = np.maximum(shapely.length(lines), 1e-9)
    step = np.minimum(0.5 / glen, 0.25)
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines, np.clip(pos - step, 0, 1), normalized=True))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines, np.clip(pos + step, 0, 1), normalized=True))
    p = shapely.get_coordinates(start)
    q = shapely.get_coordinates(end)
    cross = (b[:, 0] - a[:, 0]) * (p[:, 1] - q[:, 1]) - (b[:, 1] - a[:, 1]) * (p[:, 0] - q[:, 0])
    side = np.where(cross < 0, -1, 1).astype(np.int8)
    side[~net.edge_main[edge]] = 0
    return Links(edge=edge, pos=np.clip(pos, 0.0, 1.0), side=side, length=shapely.length(connectors),
                 legal=~illegal, start=start)


@dataclass
class Sites:
    """Points (facilities, candidate sites) located on an attached network.

    Each point enters the graph through up to two seeds: (point index, graph node, metres).
    """

    n: int
    seed_site: np.ndarray
    seed_node: np.ndarray
    seed_cost: np.ndarray
    links: Links


@dataclass
class AttachedNetwork:
    """A ``WalkNetwork`` split at the points where buildings join it, as a sparse graph.

    Graph nodes are the network's nodes followed by the attached points. Buildings reach the
    graph through access rows (building, node, metres), sorted by building: one per building,
    or one per gate of its compound.
    """

    network: WalkNetwork
    n_nodes: int
    graph: sparse.csr_matrix
    # attached points, sorted by chain then position: for locating new points
    point_key: np.ndarray
    point_node: np.ndarray
    point_pos: np.ndarray
    # chain segments: edge, positions at both ends, graph nodes at both ends
    seg_edge: np.ndarray
    seg_p0: np.ndarray
    seg_p1: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    # buildings
    n_buildings: int
    access_building: np.ndarray
    access_node: np.ndarray
    access_offset: np.ndarray
    access_group: np.ndarray  # first access row of each building, for np.minimum.reduceat
    building_legal: np.ndarray
    building_entrance: np.ndarray
    node_xy: np.ndarray = field(repr=False)

    def with_sources(self, sites: Sites) -> sparse.csr_matrix:
        """The graph with one extra node per site that only leads out (so no path runs through a site)."""
        n, m = self.n_nodes, sites.n
        order = np.argsort(sites.seed_site, kind="stable")
        counts = np.bincount(sites.seed_site, minlength=m)
        indptr = np.concatenate([self.graph.indptr, self.graph.indptr[-1] + np.cumsum(counts)]).astype(np.int32)
        indices = np.concatenate([self.graph.indices, sites.seed_node[order]]).astype(np.int32)
        data = np.concatenate([self.graph.data, sites.seed_cost[order]])
        return sparse.csr_matrix((data, indices, indptr), shape=(n + m, n + m))

    def building_distances(self, node_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per building: the smallest access distance, and which access row gives it (node distances in)."""
        value = node_dist[self.access_node] + self.access_offset
        best = np.minimum.reduceat(value, self.access_group)
        hit = np.flatnonzero(value == best[self.access_building])
        owner, first = np.unique(self.access_building[hit], return_index=True)
        row = np.full(self.n_buildings, -1, dtype=np.int64)
        row[owner] = hit[first]
        return best, row


def _chain(edge: np.ndarray, side: np.ndarray) -> np.ndarray:
    return 2 * edge + (side < 0)


def attach_buildings(
    net: WalkNetwork,
    footprints: Any,
    *,
    compound: np.ndarray | None = None,
    gates: Any = None,
    gate_compound: np.ndarray | None = None,
) -> AttachedNetwork:
    """Attach buildings (metric footprints) to the network and build the sparse graph.

    Parameters
    ----------
    footprints
        One polygon per building, in ``net.crs``.
    compound, gates, gate_compound
        Optional compound key per building (-1: none), gate points and each gate's compound
        key. A building in a compound with gates leaves through those gates: its distance
        is the straight walk inside the compound to a gate plus the gate's walk.
    """
    fp = np.asarray(footprints, dtype=object)
    nb = len(fp)
    compound = np.full(nb, -1, dtype=np.int64) if compound is None else np.asarray(compound, dtype=np.int64)
    gate_pts = np.asarray(gates if gates is not None else [], dtype=object)
    gate_compound = (np.empty(0, dtype=np.int64) if gate_compound is None
                     else np.asarray(gate_compound, dtype=np.int64))
    gated = np.isin(compound, gate_compound) & (compound >= 0) if len(gate_pts) else np.zeros(nb, dtype=bool)
    access = _Access.of(net, fp, compound, gated, gate_pts, gate_compound)
    points = _LinkPoints.of(net, access.links)
    graph, seg = _split_graph(net, points)
    node_xy = np.vstack([net.node_xy, np.zeros((points.n, 2))])
    if points.n:
        pts = shapely.line_interpolate_point(net.edge_geom[points.edge], points.pos, normalized=True)
        node_xy[points.node] = shapely.get_coordinates(pts)
    group, legal, entrance = access.per_building(nb, gated)
    return AttachedNetwork(
        network=net, n_nodes=net.n_nodes + points.n, graph=graph,
        point_key=points.chain * 2.0 + points.pos, point_node=points.node, point_pos=points.pos,
        seg_edge=seg[0], seg_p0=seg[1], seg_p1=seg[2], seg_a=seg[3], seg_b=seg[4],
        n_buildings=nb, access_building=access.building, access_node=points.link_node[access.link],
        access_offset=access.offset, access_group=group, building_legal=legal, building_entrance=entrance,
        node_xy=node_xy,
    )


@dataclass
class _Access:
    """How buildings reach the network: one row per way (a building's own link, or each gate of its compound)."""

    links: Links  # the buildings' own links, then the gates'
    direct: np.ndarray  # buildings with their own link
    b_links: Links
    building: np.ndarray  # per row, sorted by building
    link: np.ndarray  # index into links
    offset: np.ndarray  # metres from the building to where its link starts on the network

    @classmethod
    def of(cls, net: WalkNetwork, fp: np.ndarray, compound: np.ndarray, gated: np.ndarray, gate_pts: np.ndarray,
           gate_compound: np.ndarray) -> _Access:
        direct = np.flatnonzero(~gated)
        b_links = link_to_network(net, fp[direct])
        g_links = link_to_network(net, gate_pts)
        # Access rows: ungated buildings through their own link, gated ones through each gate.
        acc_b = [direct]
        acc_link = [np.arange(len(direct))]
        acc_off = [b_links.length]
        if gated.any():
            gb = np.flatnonzero(gated)
            frame = pd.DataFrame({"b": gb, "c": compound[gb]}).merge(
                pd.DataFrame({"g": np.arange(len(gate_pts)), "c": gate_compound}), on="c")
            bb, gg = frame["b"].to_numpy(), frame["g"].to_numpy()
            acc_b.append(bb)
            acc_link.append(len(direct) + gg)
            acc_off.append(shapely.distance(fp[bb], gate_pts[gg]) + g_links.length[gg])
        building, link, offset = np.concatenate(acc_b), np.concatenate(acc_link), np.concatenate(acc_off)
        order = np.argsort(building, kind="stable")
        return cls(links=Links.concat([b_links, g_links]), direct=direct, b_links=b_links,
                   building=building[order], link=link[order], offset=offset[order])

    def per_building(self, nb: int, gated: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each building's rows start, whether its way out is legal, and its entrance point."""
        if nb and not np.array_equal(np.unique(self.building), np.arange(nb)):
            raise InvalidInput("every building needs a way onto the network")  # pragma: no cover - by construction
        group = np.flatnonzero(np.r_[True, self.building[1:] != self.building[:-1]]) if nb else np.empty(0, int)
        legal = np.ones(nb, dtype=bool)
        legal[self.direct] = self.b_links.legal
        if gated.any():
            # A gated building's way out is legal when any of its gates is.
            g_ok = pd.Series(self.links.legal[self.link]).groupby(self.building).any()
            legal[gated] = g_ok.reindex(np.flatnonzero(gated)).to_numpy(dtype=bool)
        entrance = np.empty(nb, dtype=object)
        entrance[self.direct] = self.b_links.start
        if gated.any():
            first_gate = self.link[group][gated]
            entrance[gated] = self.links.start[first_gate]
        return group, legal, entrance


@dataclass
class _LinkPoints:
    """The network node each link lands on: an edge's end, or a new point on a chain (sorted by chain, position)."""

    link_node: np.ndarray  # per link
    n: int
    chain: np.ndarray
    pos: np.ndarray
    edge: np.ndarray
    node: np.ndarray

    @classmethod
    def of(cls, net: WalkNetwork, links: Links) -> _LinkPoints:
        n0 = net.n_nodes
        cost = net.edge_cost[links.edge]
        metres = links.pos * np.abs(cost)
        at_u = metres < _MERGE_M
        at_v = (1.0 - links.pos) * np.abs(cost) < _MERGE_M
        link_node = np.where(at_u, net.edge_u[links.edge], net.edge_v[links.edge]).astype(np.int64)
        inner = np.flatnonzero(~at_u & ~at_v)
        chain = _chain(links.edge[inner], links.side[inner])
        # Points within _MERGE_M of each other on one chain share a node.
        bucket = np.round(links.pos[inner] * np.abs(cost[inner]) / _MERGE_M).astype(np.int64)
        keys = pd.DataFrame({"c": chain, "k": bucket})
        codes, uniques = pd.factorize(pd.MultiIndex.from_frame(keys))
        link_node[inner] = n0 + codes
        n_points = len(uniques)
        pt_chain = np.asarray(uniques.get_level_values(0), dtype=np.int64)
        pt_pos = np.zeros(n_points)
        pt_pos[codes] = links.pos[inner]
        pt_edge = pt_chain // 2
        order = np.lexsort((pt_pos, pt_chain))
        return cls(link_node=link_node, n=n_points, chain=pt_chain[order], pos=pt_pos[order], edge=pt_edge[order],
                   node=n0 + order)


def _split_graph(net: WalkNetwork, points: _LinkPoints) -> tuple[sparse.csr_matrix, tuple[np.ndarray, ...]]:
    """The graph with every edge split at its link points, and its segments (edge, p0, p1, a, b).

    Chains: one per ordinary edge, two per main road; each runs u -> points -> v.
    """
    m = net.n_edges
    edges_all = np.arange(m)
    chains = np.concatenate([2 * edges_all, 2 * edges_all[net.edge_main] + 1])
    c_edge = chains // 2
    seq_chain = np.concatenate([chains, points.chain, chains])
    seq_pos = np.concatenate([np.zeros(len(chains)), points.pos, np.ones(len(chains))])
    seq_node = np.concatenate([net.edge_u[c_edge], points.node, net.edge_v[c_edge]])
    o = np.lexsort((seq_pos, seq_chain))
    seq_chain, seq_pos, seq_node = seq_chain[o], seq_pos[o], seq_node[o]
    same = seq_chain[1:] == seq_chain[:-1]
    seg_edge = seq_chain[:-1][same] // 2
    seg_p0, seg_p1 = seq_pos[:-1][same], seq_pos[1:][same]
    seg_a, seg_b = seq_node[:-1][same], seq_node[1:][same]
    frac = seg_p1 - seg_p0
    fwd = net.edge_cost[seg_edge]
    back = net.edge_reverse_cost[seg_edge]
    tail = np.concatenate([seg_a[fwd >= 0], seg_b[back >= 0]])
    head = np.concatenate([seg_b[fwd >= 0], seg_a[back >= 0]])
    weight = np.concatenate([(frac * fwd)[fwd >= 0], (frac * back)[back >= 0]])
    graph = _csr(tail, head, weight, net.n_nodes + points.n)
    return graph, (seg_edge, seg_p0, seg_p1, seg_a, seg_b)


def _csr(tail: np.ndarray, head: np.ndarray, weight: np.ndarray, n: int) -> sparse.csr_matrix:
    """A CSR graph keeping the cheapest of parallel arcs (scipy would add them up) and no self-loops."""
    keep = tail != head
    tail, head, weight = tail[keep], head[keep], weight[keep]
    key = tail.astype(np.int64) * n + head
    order = np.lexsort((weight, key))
    key, weight = key[order], weight[order]
    first = np.r_[True, key[1:] != key[:-1]]
    key, weight = key[first], weight[first]
    return sparse.csr_matrix((weight, ((key // n).astype(np.int32), (key % n).astype(np.int32))), shape=(n, n))


def locate_sites(graph: AttachedNetwork, points: Any) -> Sites:
    """Locate points (metric) on the attached network: each enters through the ends of its chain segment."""
    pts = np.asarray(points, dtype=object)
    links = link_to_network(graph.network, pts)
    net = graph.network
    n = len(pts)
    if n == 0:
        return Sites(0, np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), links)
    chain = _chain(links.edge, links.side)
    # The neighbours on the point's own chain: the attached points just before and after it,
    # or the edge's end nodes when there are none.
    prev_node, prev_pos = net.edge_u[links.edge].copy(), np.zeros(n)
    next_node, next_pos = net.edge_v[links.edge].copy(), np.ones(n)
    keys = graph.point_key
    if len(keys):
        idx = np.searchsorted(keys, chain * 2.0 + links.pos, side="left")
        before, after = np.maximum(idx - 1, 0), np.minimum(idx, len(keys) - 1)
        prev_ok = (idx > 0) & (np.floor(keys[before] / 2.0) == chain)
        next_ok = (idx < len(keys)) & (np.floor(keys[after] / 2.0) == chain)
        prev_node[prev_ok], prev_pos[prev_ok] = graph.point_node[before[prev_ok]], graph.point_pos[before[prev_ok]]
        next_node[next_ok], next_pos[next_ok] = graph.point_node[after[next_ok]], graph.point_pos[after[next_ok]]
    back = net.edge_reverse_cost[links.edge]
    fwd = net.edge_cost[links.edge]
    site = np.concatenate([np.arange(n), np.arange(n)])
    node = np.concatenate([prev_node, next_node]).astype(np.int64)
    cost = np.concatenate([(links.pos - prev_pos) * back, (next_pos - links.pos) * fwd])
    walkable = np.concatenate([back >= 0, fwd >= 0])
    cost = np.maximum(cost, 0.0) + np.concatenate([links.length, links.length])
    site, node, cost = site[walkable], node[walkable], cost[walkable]
    # Both ends may be the same node (a loop edge): keep the cheaper seed.
    frame = pd.DataFrame({"s": site, "n": node, "c": cost}).groupby(["s", "n"], sort=True)["c"].min().reset_index()
    return Sites(n=n, seed_site=frame["s"].to_numpy(np.int64), seed_node=frame["n"].to_numpy(np.int64),
                 seed_cost=frame["c"].to_numpy(float), links=links)
