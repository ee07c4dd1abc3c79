"""Settle an area the heuristics could not split: find connected units in range, or prove there are none.

The engine's constructions (METIS, random spanning-tree cuts, boundary moves) are fast but can
miss a split that exists when an area holds a few chunky cells: 972 households with one cell of
434 must become two units of 472–500, and only some cell groupings around the big one are
connected. For such small areas this module asks a mixed-integer program: each cell goes to one
of ``k`` units, each unit's households lie in ``[lo, hi]``, and each unit is connected, written
as a single-commodity flow from one root cell per unit (Shirabe 2005: every cell of a unit but
its root consumes one unit of flow, which may only travel along edges inside the unit). The
objective is the cost of the edges cut, so a found split is also a good one.

A proof matters as much as a split: "could not be grouped" invites the planner to try again,
"cannot be grouped" tells them to change the bounds or the barriers. HiGHS (through
``scipy.optimize.milp``) returns optimal, infeasible, or out of time; only the first two are
taken as answers, and the search is bounded by work (nodes), not time, so answers do not depend
on how busy the machine is.

Hand-written model, solved by HiGHS; no library formulates contiguous districting for us
(spopt's max-p and region-k-means are heuristics, which is what this module backs up).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

# Beyond this many cells the program is left alone: the heuristics are the tool there.
MAX_CELLS = 120
# Branch-and-bound nodes HiGHS may spend on one k: a work limit, not a clock, so that the same area
# gets the same answer on a busy machine and an idle one. An answer not reached within it is none.
NODE_LIMIT = 2000
# A clock limit only as a backstop against a pathological program.
TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class Settled:
    """What the program says about an area.

    ``units`` (cell positions per unit) when a split exists; ``proven_impossible`` when no k in the
    range has one; neither when it ran out of time or size.
    """

    units: list[np.ndarray] | None
    proven_impossible: bool


def settle(households: np.ndarray, u: np.ndarray, v: np.ndarray, cost: np.ndarray, *, lo: int, hi: int,
           kmin: int, kmax: int, time_limit_s: float = TIME_LIMIT_S) -> Settled:
    """Connected units of ``lo..hi`` households over cells ``0..n-1`` joined by edges ``u–v`` (cut cost ``cost``).

    Tries every unit count from ``kmin`` to ``kmax``; the first with a split wins (fewest units,
    least cut). Areas of more than :data:`MAX_CELLS` cells are not attempted.
    """
    h = np.asarray(households, dtype=np.int64)
    n = len(h)
    if n == 0 or n > MAX_CELLS or kmin < 1 or kmax < kmin:
        return Settled(None, False)
    u, v = np.asarray(u, dtype=np.int64), np.asarray(v, dtype=np.int64)
    keep = u != v
    u, v, cost = u[keep], v[keep], np.asarray(cost, dtype=float)[keep]
    all_proven = True
    for k in range(kmin, kmax + 1):
        status, labels = _solve(h, u, v, cost, lo=lo, hi=hi, k=k, time_limit_s=time_limit_s)
        if status == "found":
            return Settled([np.flatnonzero(labels == j) for j in range(k)], False)
        if status != "infeasible":
            all_proven = False
    return Settled(None, all_proven)


def _solve(h: np.ndarray, u: np.ndarray, v: np.ndarray, cost: np.ndarray, *, lo: int, hi: int, k: int,
           time_limit_s: float) -> tuple[str, np.ndarray | None]:
    n, m = len(h), len(u)
    if k == 1:
        connected = _connected(n, u, v)
        return ("found", np.zeros(n, dtype=np.int64)) if connected and lo <= h.sum() <= hi else ("infeasible", None)
    tail = np.concatenate([u, v])  # directed arcs a: tail[a] -> head[a]
    head = np.concatenate([v, u])
    arcs = 2 * m
    # Variable blocks: x[i,j] (n*k), r[i,j] (n*k), f[a,j] (arcs*k), y[e] (m: edge e cut).
    nx, nr, nf = n * k, n * k, arcs * k
    X, R, F, Y = 0, nx, nx + nr, nx + nr + nf
    total = Y + m

    def x(i: np.ndarray | int, j: int) -> np.ndarray:
        return np.asarray(X + np.asarray(i) * k + j)

    def r(i: np.ndarray | int, j: int) -> np.ndarray:
        return np.asarray(R + np.asarray(i) * k + j)

    def f(a: np.ndarray | int, j: int) -> np.ndarray:
        return np.asarray(F + np.asarray(a) * k + j)

    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    row = 0

    def add(cs: list[np.ndarray], vs: list[np.ndarray], lb: float, ub: float) -> None:
        nonlocal row
        c = np.concatenate([np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in cs])
        w = np.concatenate([np.atleast_1d(np.asarray(a, dtype=float)) for a in vs])
        rows.append(np.full(len(c), row))
        cols.append(c)
        vals.append(w)
        lower.append(lb)
        upper.append(ub)
        row += 1

    cells = np.arange(n)
    for i in range(n):  # every cell in exactly one unit
        add([x(i, j) for j in range(k)], [np.ones(1)] * k, 1, 1)
    for j in range(k):
        add([x(cells, j)], [h], lo, hi)  # households in range
        add([r(cells, j)], [np.ones(n)], 1, 1)  # one root
        for i in range(n):
            add([r(i, j), x(i, j)], [np.ones(1), -np.ones(1)], -np.inf, 0)  # the root is in the unit
    big = float(n)
    for j in range(k):
        for i in range(n):
            into, out = np.flatnonzero(head == i), np.flatnonzero(tail == i)
            # inflow - outflow >= x - n*r: each non-root member consumes one unit of flow
            add([f(into, j), f(out, j), x(i, j), r(i, j)],
                [np.ones(len(into)), -np.ones(len(out)), -np.ones(1), np.full(1, big)], 0, np.inf)
        for a in range(arcs):  # flow only inside the unit
            add([f(a, j), x(int(tail[a]), j)], [np.ones(1), -np.full(1, big - 1)], -np.inf, 0)
            add([f(a, j), x(int(head[a]), j)], [np.ones(1), -np.full(1, big - 1)], -np.inf, 0)
    for e in range(m):  # y_e >= x[u,j] - x[v,j] and the reverse: edge cut when its ends differ
        for j in range(k):
            add([np.full(1, Y + e), x(int(u[e]), j), x(int(v[e]), j)], [np.ones(1), -np.ones(1), np.ones(1)], 0, np.inf)
            add([np.full(1, Y + e), x(int(v[e]), j), x(int(u[e]), j)], [np.ones(1), -np.ones(1), np.ones(1)], 0, np.inf)
    # Units are interchangeable: cell 0 goes to unit 0, which halves nothing but removes k! copies of the root choice.
    add([x(0, 0)], [np.ones(1)], 1, 1)

    a = coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row, total)).tocsr()
    objective = np.zeros(total)
    objective[Y:] = cost
    integrality = np.zeros(total)
    integrality[:F] = 1
    integrality[Y:] = 1
    lb, ub = np.zeros(total), np.ones(total)
    ub[F:Y] = big - 1
    result = milp(objective, constraints=LinearConstraint(a, lower, upper), integrality=integrality,
                  bounds=Bounds(lb, ub),
                  options={"time_limit": time_limit_s, "node_limit": NODE_LIMIT, "disp": False})
    if result.status == 2:
        return "infeasible", None
    if result.x is None or result.status not in (0,):
        return "unknown", None
    assign = result.x[:nx].reshape(n, k)
    return "found", np.argmax(assign, axis=1).astype(np.int64)


def _connected(n: int, u: np.ndarray, v: np.ndarray) -> bool:
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n))
    return connected_components(graph, directed=False)[0] == 1
