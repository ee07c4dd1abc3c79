"""The synthetic city's streets: main and minor roads cut at the barriers, the cells between them, the network.

``streets_and_cells`` lays the street segments out and cuts the superblocks into cells (one per
minor block, split again where the river or the railway passes); ``build_network`` nodes the
segments at every crossing and ``thin_network`` drops a share of minor segments without ever
disconnecting the network. Hand-written: the segments are axis-parallel, so crossings are found
by comparing coordinates in numpy, far faster than a general-purpose noding of lines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from gis.synthetic.names import Names
from gis.synthetic.plan import (
    MINOR_CLASS_P,
    MINOR_DROP_SHARE,
    MINOR_SPACING_M,
    PRIMARY,
    RAIL_BUILD_GAP_M,
    RAIL_ROAD_GAP_M,
    RESIDENTIAL,
    RIVER_BUILD_GAP_M,
    RIVER_ROAD_GAP_M,
    SECONDARY,
    Barrier,
    Cell,
    CityPlan,
    Lines,
)


def minor_positions(rng: np.random.Generator, lo: float, hi: float) -> list[float]:
    """Interior minor street positions between two main roads: irregular, 100–200 m apart."""
    width = hi - lo
    k = max(1, int(round(width / rng.uniform(*MINOR_SPACING_M))))
    step = width / k
    pos = lo + step * np.arange(1, k) + rng.uniform(-0.18, 0.18, size=k - 1) * step
    return [float(p) for p in pos]


def streets_and_cells(rng: np.random.Generator, plan: CityPlan, names: Names) -> tuple[Lines, list[Cell]]:
    """Main and minor street segments (cut at the barriers) and the cells between them."""
    xs, ys = plan.xs, plan.ys
    lines = Lines()
    # Main roads: alternate primary/secondary; they span the city and bridge the barriers.
    first = int(rng.integers(0, 2))
    for k, x in enumerate(xs):
        hw = PRIMARY if (k + first) % 2 == 0 else SECONDARY
        lines.vertical(float(x), float(ys[0]), float(ys[-1]), lines.new_line(hw, names.main_road(hw)))
    for k, y in enumerate(ys):
        hw = PRIMARY if (k + first) % 2 == 1 else SECONDARY
        lines.horizontal(float(y), float(xs[0]), float(xs[-1]), lines.new_line(hw, names.main_road(hw)))

    cells: list[Cell] = []
    for j in range(plan.ny):
        for i in range(plan.nx):
            cells += _superblock(rng, plan, i, j, lines, names)
    river, railway = plan.river, plan.railway
    cells = _split_cells(cells, river, horizontal=True, gap=RIVER_BUILD_GAP_M)
    if railway is not None:
        cells = _split_cells(cells, railway, horizontal=False, gap=RAIL_BUILD_GAP_M)
    return lines, cells


def _superblock(rng: np.random.Generator, plan: CityPlan, i: int, j: int, lines: Lines, names: Names) -> list[Cell]:
    """The minor streets of superblock (i, j) and its cells; streets stop short of the river and the railway."""
    X0, X1, Y0, Y1 = float(plan.xs[i]), float(plan.xs[i + 1]), float(plan.ys[j]), float(plan.ys[j + 1])
    mx = minor_positions(rng, X0, X1)
    my = minor_positions(rng, Y0, Y1)
    river = plan.river if j == plan.river_row else None
    railway = plan.railway if i == plan.rail_col else None
    # North-south streets stop short of the river and leave out the railway's strip; east-west ones
    # the other way round.
    x_side = _minor_streets(rng, lines, names, mx, (Y0, Y1), along=railway, across=river,
                            along_gap=RAIL_ROAD_GAP_M, across_gap=RIVER_ROAD_GAP_M, add=lines.vertical)
    y_side = _minor_streets(rng, lines, names, my, (X0, X1), along=river, across=railway,
                            along_gap=RIVER_ROAD_GAP_M, across_gap=RAIL_ROAD_GAP_M, add=lines.horizontal)
    gx, gy = [X0, *mx, X1], [Y0, *my, Y1]
    sb = j * plan.nx + i
    return [Cell(gx[a], gy[b], gx[a + 1], gy[b + 1], (x_side[a], y_side[b], x_side[a + 1], y_side[b + 1]), sb)
            for b in range(len(gy) - 1) for a in range(len(gx) - 1)]


def _minor_streets(rng: np.random.Generator, lines: Lines, names: Names, positions: list[float],
                   span: tuple[float, float], *, along: Barrier | None, across: Barrier | None, along_gap: float,
                   across_gap: float, add: Callable[[float, float, float, int], None]) -> list[str]:
    """Minor streets at ``positions`` over ``span``, and what each cell side along them is (main at both ends).

    A street that would run ``along`` a barrier is left out ("void": no street, but kept clear); one
    that crosses a barrier ``across`` stops ``across_gap`` short of it on both sides.
    """
    sides = ["main"]
    for p in positions:
        hw = RESIDENTIAL + int(rng.choice(3, p=MINOR_CLASS_P))
        line = lines.new_line(hw, names.minor_road(hw))
        if along is not None:
            lo, hi = along.range_over(*span)
            if lo - along_gap < p < hi + along_gap:
                sides.append("void")
                continue
        sides.append("minor")
        if across is not None:
            f = float(across(p))
            add(p, span[0], f - across_gap, line)
            add(p, f + across_gap, span[1], line)
        else:
            add(p, span[0], span[1], line)
    sides.append("main")
    return sides

def _split_cells(cells: list[Cell], barrier: Barrier, *, horizontal: bool, gap: float) -> list[Cell]:
    """Cut the cells a barrier passes through into the parts on either side of it."""
    out: list[Cell] = []
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
                out.append(Cell(c.x0, c.y0, c.x1, lo, (w, s, e, "edge"), c.superblock))
            if b1 - hi > 20:
                out.append(Cell(c.x0, hi, c.x1, c.y1, (w, "edge", e, n), c.superblock))
        else:
            if lo - b0 > 20:
                out.append(Cell(c.x0, c.y0, lo, c.y1, (w, s, "edge", n), c.superblock))
            if b1 - hi > 20:
                out.append(Cell(hi, c.y0, c.x1, c.y1, ("edge", s, e, n), c.superblock))
    return out


# --- the network ------------------------------------------------------------------------------

_EPS = 1e-6


def build_network(lines: Lines) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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


def thin_network(rng: np.random.Generator, n_nodes: int, src: np.ndarray, dst: np.ndarray,
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
