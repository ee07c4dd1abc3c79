"""The exact search behind 'cannot be grouped': checked against brute force on small graphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.partition.contiguous import settle
from gis.partition.engine import PartitionEngine


def _connected(cells: np.ndarray, u: np.ndarray, v: np.ndarray, n: int) -> bool:
    inside = np.zeros(n, dtype=bool)
    inside[cells] = True
    keep = inside[u] & inside[v]
    graph = coo_matrix((np.ones(int(keep.sum())), (u[keep], v[keep])), shape=(n, n)).tocsr()[cells][:, cells]
    return connected_components(graph, directed=False)[0] == 1


def _brute_force(h: np.ndarray, u: np.ndarray, v: np.ndarray, lo: int, hi: int, k: int) -> bool:
    n = len(h)
    for labels in itertools.product(range(k), repeat=n - 1):
        labels = np.array((0, *labels))
        units = [np.flatnonzero(labels == j) for j in range(k)]
        if all(len(c) and lo <= h[c].sum() <= hi and _connected(c, u, v, n) for c in units):
            return True
    return False


def _grid_graph(rows: int, cols: int, rng: np.random.Generator, drop: float) -> tuple[np.ndarray, np.ndarray]:
    edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    kept = [e for e in edges if rng.random() > drop]
    u, v = (np.array(x, dtype=np.int64) for x in zip(*kept, strict=True)) if kept else (np.zeros(0, int),) * 2
    return u, v


@pytest.mark.parametrize("seed", range(8))
def test_the_exact_search_agrees_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    u, v = _grid_graph(3, 3, rng, drop=0.25)
    h = rng.integers(0, 150, size=9)
    h[rng.integers(0, 9)] = rng.integers(250, 450)  # one chunky cell, as in the areas the heuristics miss
    lo, hi = 300, 500
    t = int(h.sum())
    kmin, kmax = -(-t // hi), t // lo
    settled = settle(h, u, v, np.ones(len(u)), lo=lo, hi=hi, kmin=kmin, kmax=kmax)
    exists = any(_brute_force(h, u, v, lo, hi, k) for k in range(kmin, kmax + 1)) if kmin <= kmax else False
    if exists:
        assert settled.units is not None and not settled.proven_impossible
        assert sorted(np.concatenate(settled.units).tolist()) == list(range(9))
        for cells in settled.units:
            assert lo <= h[cells].sum() <= hi and _connected(cells, u, v, 9)
    else:
        assert settled.units is None and settled.proven_impossible


def test_the_engine_takes_the_exact_split_where_its_heuristics_miss_and_says_when_none_exists() -> None:
    # A chain of cells 434 – 40 – 60 – 438: two units of 472–500 exist only as {434, 40} and {60, 438}.
    h = np.array([434, 40, 60, 438])
    engine = PartitionEngine(h, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3), lo=472, hi=500)
    result = engine.run()
    assert result.infeasible == []
    assert result.labels[0] == result.labels[1] != result.labels[2] == result.labels[3]
    # 434 – 70 – 30 – 438: no connected pair of units in 472–500 (434 + 70 is already 504); the engine says so.
    h = np.array([434, 70, 30, 438])
    result = PartitionEngine(h, np.array([0, 1, 2]), np.array([1, 2, 3]), np.ones(3), lo=472, hi=500).run()
    [item] = result.infeasible
    assert item.reason == "no_contiguous_split" and item.proven
    assert "cannot be grouped" in item.message
    # Its units count as an infeasible area, not as a miss among areas that could be split.
    assert {result.status[int(label)] for label in np.unique(result.labels)} == {"infeasible_area"}
