"""The partition engine: cells with households in, one label per cell out.

Works on any weighted adjacency graph (building cells of a community, a lattice in the
benchmark). Steps, per main-road-bounded area (a connected component of the graph):

1. Feasibility: an area of T households fits k units of [lo, hi] only if lo·k ≤ T ≤ hi·k for
   a whole k; a cell above ``hi`` never fits. Infeasible areas become one unit each and are
   reported with their reason and the options a planner has.
2. Construction by recursive bisection along spanning trees: a random spanning tree that
   prefers to keep block interiors and compounds together is cut at the edge whose two sides
   can each hold a whole number of units; both sides are connected by construction. The
   cheapest of several trees wins (cut cost = shared boundary length weighted by what it
   follows), which favours minor-road boundaries and compact units.
3. Repair and improvement by boundary moves (a cell changes unit when both units stay
   connected, bounds get no worse, and the cut cost plus the moved-household penalty drops)
   and local merge-split for units still out of range.

With a current plan the engine starts from it and only merges, splits and moves where bounds
force it to, so far fewer households change grid than in a fresh suggestion.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pymetis
from scipy.sparse import coo_matrix, csr_matrix, triu
from scipy.sparse.csgraph import connected_components, depth_first_order, minimum_spanning_tree

from gis.errors import InvalidInput
from gis.partition import contiguous

# Areas with more cells than this stop at the first construction that meets every bound.
LARGE_AREA_CELLS = 1500
# Extra constructions tried for an area while some unit is still out of range.
RESCUE_RESTARTS = 30


@dataclass
class Infeasibility:
    """An area that cannot be split within bounds, why, and what the planner can do."""

    area: int
    households: int
    reason: str  # below_minimum | between_bounds | building_too_large
    cells: list[int]
    message: str = ""
    options: list[str] = field(default_factory=list)
    neighbours: list[str] = field(default_factory=list)
    # For no_contiguous_split: True when an exact search showed no connected split exists at all.
    proven: bool = False


@dataclass
class EngineResult:
    labels: np.ndarray
    status: dict[int, str]  # label -> in_range | out_of_range | infeasible_area | large_building
    infeasible: list[Infeasibility]
    attached: list[dict]  # empty areas joined to a neighbouring unit across a main road
    components: np.ndarray


class PartitionEngine:
    """Partition cells into contiguous units of lo..hi households.

    ``u, v, cost, factor``: soft edges (u != v), cost = length × factor; ``factor`` is how
    much a boundary there is disliked (minor road 1 < interior 3 < compound 8).
    ``hard_u, hard_v, hard_length, hard_name``: pairs separated by a main road or barrier.
    """

    def __init__(self, households: np.ndarray, u: np.ndarray, v: np.ndarray, cost: np.ndarray,
                 factor: np.ndarray | None = None, *, lo: int, hi: int,
                 hard_u: np.ndarray | None = None, hard_v: np.ndarray | None = None,
                 hard_length: np.ndarray | None = None, hard_name: list | None = None,
                 seed: int = 0, trials: int = 6, move_penalty: float = 4.0) -> None:
        if lo <= 0 or hi < lo:
            raise InvalidInput(f"min and max: household bounds must satisfy 0 < min ≤ max, got {lo}..{hi}",
                               details={"field": "min" if lo <= 0 else "max"})
        self.h = np.asarray(households, dtype=np.int64)
        self.n = len(self.h)
        self.lo, self.hi = int(lo), int(hi)
        self.target = (self.lo + self.hi) / 2
        self.rng = np.random.default_rng(seed)
        self.trials = trials
        self.move_penalty = move_penalty
        self.anchor: np.ndarray | None = None
        u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
        cost = np.asarray(cost, dtype=float)
        factor = np.ones_like(cost) if factor is None else np.asarray(factor, dtype=float)
        self.cost = csr_matrix((np.concatenate([cost, cost]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                               shape=(self.n, self.n))
        self.keep = csr_matrix((np.concatenate([factor, factor]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                               shape=(self.n, self.n))
        self.cost.sum_duplicates()
        self.keep.sum_duplicates()
        self.indptr, self.indices, self.weights = self.cost.indptr, self.cost.indices, self.cost.data
        self._adj: tuple[list[list[int]], list[list[float]]] | None = None
        self.hard_u = np.asarray(hard_u if hard_u is not None else [], dtype=np.int64)
        self.hard_v = np.asarray(hard_v if hard_v is not None else [], dtype=np.int64)
        self.hard_length = np.asarray(hard_length if hard_length is not None else np.ones(len(self.hard_u)),
                                      dtype=float)
        names = list(hard_name) if hard_name is not None else [None] * len(self.hard_u)
        self.hard_name = [n if isinstance(n, str) and n else None for n in names]

    # --- public ---------------------------------------------------------------------------

    def run(self, current: np.ndarray | None = None, *, restarts: int = 3) -> EngineResult:
        """Labels for every cell; ``current`` (label per cell, -1 unknown) switches to keep-current."""
        comp = connected_components(self.cost, directed=False)[1] if self.n else np.zeros(0, np.int64)
        self._comp = comp
        labels = np.full(self.n, -1, dtype=np.int64)
        status: dict[int, str] = {}
        infeasible: list[Infeasibility] = []
        next_label = 0
        start = self._prepare_current(current, comp) if current is not None else None
        self.anchor = start

        for c in np.unique(comp):
            nodes = np.flatnonzero(comp == c)
            total = int(self.h[nodes].sum())
            if total == 0:
                continue  # empty land: attached to a neighbour below
            big = nodes[self.h[nodes] > self.hi]
            for cell in big:
                labels[cell] = next_label
                status[next_label] = "large_building"
                infeasible.append(self._explain(c, [int(cell)], "building_too_large"))
                next_label += 1
            rest = np.setdiff1d(nodes, big)
            for part in self._components_of(rest):
                t = int(self.h[part].sum())
                if t == 0:
                    continue
                kmin, kmax = math.ceil(t / self.hi), t // self.lo
                if kmin > kmax:
                    labels[part] = next_label
                    status[next_label] = "infeasible_area"
                    reason = "below_minimum" if t < self.lo else "between_bounds"
                    infeasible.append(self._explain(c, part.tolist(), reason))
                    next_label += 1
                    continue
                units = self._partition_area(part, kmin, kmax, start, restarts)
                proven = False
                if any(self._violation(int(self.h[u].sum())) for u in units):
                    settled = self._settle(part, kmin, kmax)
                    if settled.units is not None:
                        units = [part[cells] for cells in settled.units]
                    else:
                        proven = settled.proven_impossible
                        infeasible.append(self._explain(c, part.tolist(), "no_contiguous_split", proven=proven))
                for unit in units:
                    labels[unit] = next_label
                    hh = int(self.h[unit].sum())
                    # An area shown to have no split in range is infeasible like one too small, not a miss.
                    status[next_label] = ("in_range" if self.lo <= hh <= self.hi else
                                          "infeasible_area" if proven else "out_of_range")
                    next_label += 1
        attached = self._attach_empty(labels, comp, status)
        for c in np.unique(comp[labels < 0]):
            # Land with no households and no labelled neighbour (a region without households at all).
            nodes = np.flatnonzero((comp == c) & (labels < 0))
            labels[nodes] = next_label
            status[next_label] = "infeasible_area"
            infeasible.append(self._explain(int(c), nodes.tolist(), "below_minimum"))
            next_label += 1
        return EngineResult(labels=labels, status=status, infeasible=infeasible, attached=attached,
                            components=comp)

    # --- areas ----------------------------------------------------------------------------

    def _components_by_label(self, nodes: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
        """The connected pieces of every label among ``nodes``, in one pass over the graph.

        A unit METIS or a current plan left in two pieces becomes two units.
        """
        if len(nodes) == 0:
            return []
        sub = self.cost[nodes][:, nodes].tocoo()
        same = labels[sub.row] == labels[sub.col]
        graph = coo_matrix((np.ones(int(same.sum())), (sub.row[same], sub.col[same])), shape=(len(nodes),) * 2)
        _, piece = connected_components(graph, directed=False)
        order = np.argsort(piece, kind="stable")
        bounds = np.flatnonzero(np.diff(piece[order])) + 1
        return [nodes[g] for g in np.split(order, bounds)]

    def _components_of(self, nodes: np.ndarray) -> list[np.ndarray]:
        if len(nodes) == 0:
            return []
        sub = self.cost[nodes][:, nodes]
        k, lab = connected_components(sub, directed=False)
        return [nodes[lab == i] for i in range(k)]

    def _partition_area(self, nodes: np.ndarray, kmin: int, kmax: int, start: np.ndarray | None,
                        restarts: int) -> list[np.ndarray]:
        t = int(self.h[nodes].sum())
        k = min(max(round(t / self.target), kmin), kmax)
        best: tuple[tuple[float, float], list[np.ndarray]] | None = None
        if start is not None:
            initial = self._units_from_labels(nodes, start)
            units = self._repair(nodes, initial, anchor=start)
            best = (self._score(units, anchor=start), units)
            if best[0][0] == 0:
                return best[1]
        if k >= 2 and len(nodes) > k:
            # METIS k-way (contiguous, cut weighted by boundary cost) is the fast construction;
            # the tree bisections below compete with it on small areas, where they cost little.
            # Recursive bisection is about four times faster than k-way at a few hundred units but
            # may leave pieces no repair can bring into range; k-way with contiguity then competes.
            for recursive in (True, False):
                split = self._metis(nodes, k, recursive=recursive)
                if split is None:
                    continue
                units = self._repair(nodes, split, anchor=start)
                score = self._score(units, anchor=start)
                if best is None or score < best[0]:
                    best = (score, units)
                if best[0][0] == 0:
                    break
            if best is not None and start is None and best[0][0] == 0 and len(nodes) > LARGE_AREA_CELLS:
                return best[1]
        if start is None and best is not None and best[0][0] == 0:
            # METIS already met every bound: one tree construction competes on cut cost (a second
            # gained 1.5% in cut at 800,000 households for a quarter of the engine's time).
            restarts = 1
        for attempt in range(max(1, restarts) + RESCUE_RESTARTS):
            if attempt >= max(1, restarts) and (best is None or best[0][0] == 0):
                break
            # Past the usual restarts only while some unit is still out of range: areas of a few
            # chunky compounds need more random trees before one cuts them cleanly.
            units = self._split(nodes, k)
            units = self._repair(nodes, units, anchor=start)
            score = self._score(units, anchor=start)
            if best is None or score < best[0]:
                best = (score, units)
            if start is None and score[0] == 0 and len(nodes) > LARGE_AREA_CELLS:
                break  # big areas: one clean construction is plenty
        assert best is not None
        return best[1]

    def _settle(self, nodes: np.ndarray, kmin: int, kmax: int) -> contiguous.Settled:
        """The exact search of :mod:`gis.partition.contiguous` over one small area the heuristics missed."""
        sub = triu(self.cost[nodes][:, nodes], k=1).tocoo()
        return contiguous.settle(self.h[nodes], sub.row, sub.col, sub.data, lo=self.lo, hi=self.hi,
                                 kmin=kmin, kmax=kmax)

    def _metis(self, nodes: np.ndarray, k: int, *, recursive: bool) -> list[np.ndarray] | None:
        sub = self.cost[nodes][:, nodes].tocsr()
        if sub.nnz == 0:
            return None
        weights = np.maximum(1, np.rint(sub.data)).astype(np.int64)
        graph = pymetis.CSRAdjacency(sub.indptr.astype(np.int64), sub.indices.astype(np.int64))
        # METIS's contiguity option exists for k-way only; pieces recursive bisection leaves
        # disconnected are split below and mended by the repair.
        options = pymetis.Options(seed=int(self.rng.integers(1 << 30)), contig=int(not recursive))
        try:
            _, parts = pymetis.part_graph(k, graph, vweights=self.h[nodes].astype(np.int64), eweights=weights,
                                          options=options, recursive=recursive)
        except RuntimeError:
            return None
        return self._components_by_label(nodes, np.asarray(parts))

    def _score(self, units: list[np.ndarray], anchor: np.ndarray | None) -> tuple[float, float]:
        violation = sum(self._violation(int(self.h[u].sum())) for u in units)
        label = np.full(self.n, -1)
        for i, u in enumerate(units):
            label[u] = i
        nodes = np.concatenate(units)
        sub = self.cost[nodes][:, nodes].tocoo()
        lab = label[nodes]
        cut = float(sub.data[lab[sub.row] != lab[sub.col]].sum()) / 2
        if anchor is not None:
            cut += self.move_penalty * _moved(self.h, anchor, label, nodes)
        return (violation, cut)

    def _violation(self, hh: int) -> int:
        return max(0, self.lo - hh) + max(0, hh - self.hi)

    # --- construction ---------------------------------------------------------------------

    def _split(self, nodes: np.ndarray, k: int) -> list[np.ndarray]:
        """Recursive bisection into k connected parts."""
        if k <= 1 or len(nodes) <= 1:
            return [nodes]
        best: tuple[float, np.ndarray, np.ndarray, int, int] | None = None
        keep = triu(self.keep[nodes][:, nodes]).tocoo()
        if keep.nnz == 0:
            return [nodes]
        cost = triu(self.cost[nodes][:, nodes]).tocoo()
        # One CSR skeleton per split, so each trial only draws new weights: building a sparse
        # matrix per trial cost more than the spanning tree itself.
        by_row = np.argsort(keep.row, kind="stable")
        skeleton = (keep.col[by_row], np.searchsorted(keep.row[by_row], np.arange(len(nodes) + 1)),
                    keep.data[by_row], by_row)
        # Small pieces near the leaves need fewer trees to find a good cut.
        trials = self.trials if len(nodes) > 40 else max(2, self.trials // 2)
        for _ in range(trials):
            cut = self._tree_cut(nodes, k, keep, skeleton, cost)
            if cut is not None and (best is None or cut[0] < best[0]):
                best = cut
        if best is None:
            return [nodes]  # no contiguous cut with whole units on both sides; repair takes over
        _, a, b, ka, kb = best
        return self._split(a, ka) + self._split(b, kb)

    def _tree_cut(self, nodes: np.ndarray, k: int, keep: coo_matrix, skeleton: tuple,
                  cost: coo_matrix) -> tuple[float, np.ndarray, np.ndarray, int, int] | None:
        m = len(nodes)
        # Low weight = kept inside the tree: block interiors and compounds stay together.
        jitter = self.rng.uniform(0.5, 1.5, keep.nnz)
        if self.anchor is not None:
            # Keep-current: cells of one current grid stay together, so cuts fall on old boundaries.
            a = self.anchor[nodes]
            jitter = jitter * np.where(a[keep.row] == a[keep.col], 0.05, 1.0)
        cols, indptr, factor, by_row = skeleton
        w = csr_matrix((jitter[by_row] / factor, cols, indptr), shape=(m, m))
        tree = minimum_spanning_tree(w)
        root = int(self.rng.integers(m))
        order, pred = depth_first_order(tree, root, directed=False, return_predecessors=True)
        if len(order) < m:
            return None  # not connected; callers pass connected sets
        hh = self.h[nodes].astype(np.int64)
        # Subtree sums, leaves first; Python lists because numpy scalars cost more per step.
        sub_list, count_list, pred_list = hh.tolist(), [1] * m, pred.tolist()
        for x in order[:0:-1].tolist():
            p = pred_list[x]
            sub_list[p] += sub_list[x]
            count_list[p] += count_list[x]
        sub_hh = np.array(sub_list, dtype=np.int64)
        count = np.array(count_list, dtype=np.int64)
        total = int(sub_hh[root])
        pos = np.empty(m, dtype=np.int64)
        pos[order] = np.arange(m)
        s = sub_hh[order[1:]].astype(float)
        child = order[1:]
        best_dev = np.full(len(child), np.inf)
        best_k1 = np.zeros(len(child), dtype=np.int64)
        span = self.hi - self.lo
        # Near-balanced splits first (compact, shallow recursion); any whole split if none fits.
        near = range(max(1, k // 2 - 2), min(k - 1, (k + 1) // 2 + 2) + 1)
        for k1_range in (near, range(1, k)):
            for k1 in k1_range:
                k2 = k - k1
                ok = ((s >= k1 * self.lo) & (s <= k1 * self.hi)
                      & (total - s >= k2 * self.lo) & (total - s <= k2 * self.hi))
                dev = np.maximum(np.abs(s / k1 - self.target), np.abs((total - s) / k2 - self.target)) / span
                dev = dev + abs(k1 - k / 2) / k
                better = ok & (dev < best_dev)
                best_dev[better] = dev[better]
                best_k1[better] = k1
            if np.isfinite(best_dev).any():
                break
        candidates = np.flatnonzero(np.isfinite(best_dev))
        if len(candidates) == 0:
            return None
        candidates = candidates[np.argsort(best_dev[candidates])[:24]]
        # Every candidate subtree is a run of DFS positions, so all cuts are measured at once.
        first = pos[child[candidates]][:, None]
        last = first + count[child[candidates]][:, None]
        row_pos, col_pos = pos[cost.row], pos[cost.col]
        row_in = (row_pos >= first) & (row_pos < last)
        col_in = (col_pos >= first) & (col_pos < last)
        cuts = np.where(row_in != col_in, cost.data, 0.0).sum(axis=1)
        scores = cuts * (1 + 2 * best_dev[candidates])
        if self.anchor is not None:
            # Households of a current grid that end up on its minority side would move.
            anchor_ids = np.unique(self.anchor[nodes], return_inverse=True)[1]
            n_anchor = int(anchor_ids.max()) + 1
            anchor_total = np.bincount(anchor_ids, weights=hh, minlength=n_anchor)
            inside_all = (pos >= first) & (pos < last)
            for i, inside in enumerate(inside_all):
                within = np.bincount(anchor_ids[inside], weights=hh[inside], minlength=n_anchor)
                scores[i] += self.move_penalty * float(np.minimum(within, anchor_total - within).sum())
        i = int(np.argmin(scores))
        inside = (pos >= first[i, 0]) & (pos < last[i, 0])
        k1 = int(best_k1[candidates[i]])
        return (float(scores[i]), nodes[inside], nodes[~inside], k1, k - k1)

    # --- repair and improvement -----------------------------------------------------------

    def _units_from_labels(self, nodes: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
        return self._components_by_label(nodes, start[nodes])

    def _repair(self, nodes: np.ndarray, units: list[np.ndarray], anchor: np.ndarray | None) -> list[np.ndarray]:
        units = [u for u in units if len(u)]
        for _ in range(3):
            units = self._boundary_moves(units, anchor)
            stuck: set[int] = set()
            for _ in range(2 * len(units) + 5):
                hh = [int(self.h[u].sum()) for u in units]
                bad = [i for i, x in enumerate(hh) if self._violation(x) > 0 and i not in stuck]
                if not bad:
                    break
                i = max(bad, key=lambda j: self._violation(hh[j]))
                fixed = self._merge_split(units, i)
                if fixed is None:
                    stuck.add(i)
                    continue
                units, stuck = fixed, set()
            if not any(self._violation(int(self.h[u].sum())) for u in units):
                break
        return self._boundary_moves(units, anchor)

    def _merge_split(self, units: list[np.ndarray], i: int) -> list[np.ndarray] | None:
        """Fix unit i by splitting it, or by merging it with a neighbour and splitting the union."""
        hh = int(self.h[units[i]].sum())
        before = sum(self._violation(int(self.h[u].sum())) for u in units)
        options: list[tuple[int, ...]] = []
        if hh > self.hi and math.ceil(hh / self.hi) <= hh // self.lo:
            options.append((i,))
        label = np.full(self.n, -1)
        for j, u in enumerate(units):
            label[u] = j
        neighbours = {int(label[y]) for x in units[i] for y in self.indices[self.indptr[x]:self.indptr[x + 1]]
                      if label[y] >= 0 and label[y] != i}
        options.extend((i, j) for j in sorted(neighbours, key=lambda j: int(self.h[units[j]].sum())))
        best: tuple[tuple[float, float], list[np.ndarray]] | None = None
        for group in options:
            union = np.concatenate([units[j] for j in group])
            t = int(self.h[union].sum())
            kmin, kmax = math.ceil(t / self.hi), t // self.lo
            if kmin > kmax:
                continue
            k = min(max(round(t / self.target), kmin), kmax)
            if self.anchor is not None:
                # Keep-current: do not change the number of units the planner already has, if possible.
                k = min(max(len(group), kmin), kmax)
            anchor = self.anchor
            # Keep-current: first cut along old boundaries; if no such cut fits, cut anywhere.
            for bias in ((anchor, None) if anchor is not None else (None,)):
                self.anchor = bias
                try:
                    pieces = self._split(union, k)
                finally:
                    self.anchor = anchor
                if len(pieces) != k:
                    continue
                candidate = [u for j, u in enumerate(units) if j not in group] + pieces
                after = sum(self._violation(int(self.h[u].sum())) for u in candidate)
                if after >= before:
                    continue
                score = self._score(candidate, anchor=anchor)
                if best is None or score < best[0]:
                    best = (score, candidate)
            if self.anchor is None:
                break  # fresh suggestions: the first fix will do, local search polishes it
        return best[1] if best else None

    def _adjacency(self) -> tuple[list[list[int]], list[list[float]]]:
        """Neighbours and boundary costs per cell as Python lists.

        The move loop below reads them cell by cell, where slicing numpy arrays costs more than the work.
        """
        if self._adj is None:
            ptr = self.indptr.tolist()
            idx, wts = self.indices.tolist(), self.weights.tolist()
            self._adj = ([idx[ptr[x]:ptr[x + 1]] for x in range(self.n)],
                         [wts[ptr[x]:ptr[x + 1]] for x in range(self.n)])
        return self._adj

    def _boundary_moves(self, units: list[np.ndarray], anchor: np.ndarray | None,
                        passes: int = 8) -> list[np.ndarray]:
        nbrs, wts = self._adjacency()
        h = self.h.tolist()
        lo, hi = self.lo, self.hi
        label = [-1] * self.n
        for j, u in enumerate(units):
            for x in u.tolist():
                label[x] = j
        members = [set(u.tolist()) for u in units]
        hh = [int(self.h[u].sum()) for u in units]
        anchor_label = anchor

        def violation(t: int) -> int:
            return (lo - t if t < lo else 0) + (t - hi if t > hi else 0)

        for _ in range(passes):
            moved = 0
            boundary = [x for u in units for x in u.tolist()
                        if any(label[y] != label[x] and label[y] >= 0 for y in nbrs[x])]
            for x in boundary:
                a = label[x]
                if len(members[a]) <= 1:
                    continue
                towards: dict[int, float] = {}
                for y, wy in zip(nbrs[x], wts[x], strict=True):
                    ly = label[y]
                    if ly >= 0:
                        towards[ly] = towards.get(ly, 0.0) + wy
                to_a = towards.get(a, 0.0)
                best_b, best_gain = -1, 0.0
                hx = h[x]
                ha = hh[a]
                for b in set(towards) - {a}:
                    hb = hh[b]
                    v_before = violation(ha) + violation(hb)
                    v_after = violation(ha - hx) + violation(hb + hx)
                    if v_after > v_before:
                        continue
                    delta = to_a - towards[b]
                    if anchor_label is not None and hx:
                        delta += self.move_penalty * hx * (
                            int(_same_anchor(anchor_label, members[a], x)) - int(_same_anchor(anchor_label,
                                                                                               members[b], x)))
                    gain = (v_before - v_after) * 1e6 - delta
                    if gain > best_gain + 1e-9:
                        best_b, best_gain = b, gain
                if best_b < 0 or not self._stays_connected(members[a], x):
                    continue
                members[a].discard(x)
                members[best_b].add(x)
                label[x] = best_b
                hh[a] -= hx
                hh[best_b] += hx
                moved += 1
            units = [np.fromiter(m, dtype=np.int64) for m in members]
            if not moved:
                break
        return [u for u in units if len(u)]

    def _stays_connected(self, unit: set[int], x: int) -> bool:
        rest = unit - {x}
        if not rest:
            return False
        nbrs = self._adjacency()[0]
        start = next(iter(rest))
        seen = {start}
        queue = deque([start])
        while queue:
            y = queue.popleft()
            for z in nbrs[y]:
                if z in rest and z not in seen:
                    seen.add(z)
                    queue.append(z)
        return len(seen) == len(rest)

    # --- keep-current ---------------------------------------------------------------------

    def _prepare_current(self, current: np.ndarray, comp: np.ndarray) -> np.ndarray:
        """Current label per cell, filled for unknown cells from their neighbours, split by area."""
        start = np.asarray(current, dtype=np.int64).copy()
        if len(start) != self.n:
            raise InvalidInput("the current plan must give one label per cell")
        for _ in range(self.n):
            unknown = np.flatnonzero(start < 0)
            if len(unknown) == 0:
                break
            changed = False
            for x in unknown:
                nl = start[self.indices[self.indptr[x]:self.indptr[x + 1]]]
                nl = nl[nl >= 0]
                if len(nl):
                    start[x] = np.bincount(nl).argmax()
                    changed = True
            if not changed:
                break
        # A current grid that spans a main road becomes one label per side.
        key = np.where(start >= 0, start, -1 - np.arange(self.n)) * (comp.max() + 1 if self.n else 1) + comp
        return np.unique(key, return_inverse=True)[1].astype(np.int64)

    # --- empty land and explanations ------------------------------------------------------

    def _attach_empty(self, labels: np.ndarray, comp: np.ndarray, status: dict[int, str]) -> list[dict]:
        attached = []
        # Empty cells beside a unit of their own area join it (e.g. the yard of a large building).
        for _ in range(self.n):
            unknown = np.flatnonzero(labels < 0)
            changed = False
            for x in unknown:
                nl = labels[self.indices[self.indptr[x]:self.indptr[x + 1]]]
                nl = nl[nl >= 0]
                if len(nl):
                    labels[x] = np.bincount(nl).argmax()
                    changed = True
            if not changed:
                break
        for _ in range(self.n):
            empty = np.unique(comp[labels < 0])
            if len(empty) == 0:
                break
            progress = False
            for c in empty:
                nodes = np.flatnonzero(comp == c)
                in_c = np.zeros(self.n, dtype=bool)
                in_c[nodes] = True
                edges = np.flatnonzero(in_c[self.hard_u] != in_c[self.hard_v])
                others = np.where(in_c[self.hard_u[edges]], self.hard_v[edges], self.hard_u[edges])
                labelled = labels[others] >= 0
                edges, others = edges[labelled], others[labelled]
                if len(edges) == 0:
                    continue
                # The longest shared barrier wins (ties: the later edge, as max() over tuples had it).
                lengths = self.hard_length[edges]
                pick = int(np.flatnonzero(lengths == lengths.max())[-1])
                if (lengths == lengths.max()).sum() > 1:
                    tied = np.flatnonzero(lengths == lengths.max())
                    pick = int(tied[np.lexsort((edges[tied], others[tied]))[-1]])
                other, e = int(others[pick]), int(edges[pick])
                nodes = nodes[labels[nodes] < 0]
                labels[nodes] = labels[other]
                attached.append({"cells": nodes.tolist(), "to_label": int(labels[other]),
                                 "across": self.hard_name[e]})
                progress = True
            if not progress:
                break
        return attached

    def _explain(self, c: int, cells: list[int], reason: str, *, proven: bool = False) -> Infeasibility:
        t = int(self.h[cells].sum())
        names = self._bounding_names(cells) or self._bounding_names(np.flatnonzero(self._comp == c).tolist())
        where = ("area bounded by " + "、".join(names)) if names else "area"
        if reason == "building_too_large":
            message = f"a building cell has {t} households, more than the maximum {self.hi}"
            options = [f"allow one grid of {t} households for this building",
                       "enter recorded household counts if the estimate is too high"]
        elif reason == "below_minimum":
            message = f"{where} has {t} households, fewer than the minimum {self.lo}"
            options = [f"allow one grid of {t} households"]
        elif reason == "no_contiguous_split":
            largest = int(self.h[cells].max())
            verdict = "cannot be grouped (no grouping exists)" if proven else "could not be grouped"
            message = (f"{where} has {t} households, but its buildings (the largest cell {largest}) {verdict} "
                       f"into connected grids of {self.lo}–{self.hi}")
            options = ["accept the suggested grids outside the bounds", "split the largest buildings by unit"]
        else:
            message = (f"{where} has {t} households: one grid exceeds the maximum {self.hi}, "
                       f"two grids fall below the minimum {self.lo}")
            options = [f"allow one grid of {t} households", f"allow two grids of about {t // 2} households"]
        options += [f"allow crossing {n}" for n in names]
        return Infeasibility(area=int(c), households=t, reason=reason, cells=list(map(int, cells)),
                             message=message, options=options, neighbours=names, proven=proven)

    def _bounding_names(self, cells: list[int]) -> list[str]:
        in_set = np.zeros(self.n, dtype=bool)
        in_set[cells] = True
        lengths: dict[str, float] = {}
        for e in range(len(self.hard_u)):
            name = self.hard_name[e]
            if in_set[self.hard_u[e]] != in_set[self.hard_v[e]] and name:
                lengths[name] = lengths.get(name, 0.0) + float(self.hard_length[e])
        return [n for n, _ in sorted(lengths.items(), key=lambda kv: -kv[1])]


def _same_anchor(anchor: np.ndarray, unit: set[int], x: int) -> bool:
    """Whether cell x's current label is the one most of this unit's households had."""
    others = [y for y in unit if y != x]
    if not others:
        return False
    labels = anchor[others]
    return bool(anchor[x] == np.bincount(labels).argmax())


def _moved(h: np.ndarray, before: np.ndarray, after: np.ndarray, nodes: np.ndarray) -> int:
    """Households whose unit changes, after matching units one-to-one on shared households."""
    from scipy.optimize import linear_sum_assignment

    b, a, w = before[nodes], after[nodes], h[nodes]
    if w.sum() == 0:
        return 0
    bi = np.unique(b, return_inverse=True)[1]
    ai = np.unique(a, return_inverse=True)[1]
    shared = coo_matrix((w, (bi, ai))).toarray()
    rows, cols = linear_sum_assignment(-shared)
    return int(w.sum() - shared[rows, cols].sum())
