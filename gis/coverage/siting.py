"""Where to put the next facility: maximal covering location (MCLP), greedy and exact, and what-if.

The question is the planner's: with k new sites of one type, chosen among candidate
locations, how much more of the target population lives within the walking radius? Greedy
picks the site with the largest newly covered population, k times: instant, and within
1 - 1/e of the best. The exact answer is the MCLP of Church and ReVelle solved as a MIP by
HiGHS; it is seeded with the greedy answer and never reports less than greedy (if the time
limit cuts it short, the better of the two is returned and the status says so).

Full coverage (``cover_all``): the least number of new sites so that every target building
some candidate can reach is within the radius: the location set covering problem (Toregas
et al.), solved by HiGHS, seeded with greedy run until nothing more can be covered, and never
reporting more sites than that greedy answer.

Capacity-aware siting: a facility serves at most its capacity (a kindergarten with 180
places cannot serve 400 children). Served population is then a transport problem (each
building's people go to facilities within reach, each facility takes up to its capacity),
solved as an LP; the exact siting adds a binary per candidate.

What-if works on ``Reach`` tables (site × building distances within the search limit):
adding, moving or removing one facility changes only that facility's rows, so the new
nearest facility of every building comes from the table without another Dijkstra over the
whole type.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse

from gis.coverage.distances import Reach
from gis.errors import InvalidInput

__all__ = [
    "SitingResult",
    "cover_all",
    "cover_matrix",
    "exact_capacitated",
    "exact_mclp",
    "greedy_capacitated",
    "greedy_mclp",
    "served_population",
    "what_if",
]


@dataclass
class SitingResult:
    """Chosen candidate sites and the target population covered (or served) before and after."""

    method: str  # "greedy" | "exact"
    capacity_aware: bool
    chosen: list[int]
    gains: list[float]  # population newly covered (served) by each chosen site, in order
    before: float
    after: float
    status: str  # "greedy", "optimal", or why the exact search stopped
    gap: float | None = None
    solve_s: float = 0.0
    detail: dict = field(default_factory=dict)


def cover_matrix(reach: Reach, radius_m: float) -> sparse.csr_matrix:
    """A boolean site × building matrix: which buildings each site covers within ``radius_m``."""
    within = reach.distance <= radius_m
    data = np.ones(int(within.sum()), dtype=np.float64)
    return sparse.csr_matrix((data, (reach.site[within], reach.building[within])),
                             shape=(reach.n_sites, reach.n_buildings))


def _check(k: int, weights: np.ndarray, n_buildings: int) -> None:
    if k < 1:
        raise InvalidInput(f"k must be at least 1; got {k}", details={"field": "k"})
    if len(weights) != n_buildings:
        raise InvalidInput(f"weights: one per building expected ({n_buildings}); got {len(weights)}")


def greedy_mclp(cover: sparse.csr_matrix, weights: np.ndarray, k: int, *, covered: np.ndarray) -> SitingResult:
    """Greedy maximal coverage: k times, the candidate that newly covers the most population."""
    _check(k, weights, cover.shape[1])
    started = time.perf_counter()
    w = np.asarray(weights, dtype=float)
    before = float(w[covered].sum())
    remaining = np.where(covered, 0.0, w)
    chosen: list[int] = []
    gains: list[float] = []
    for _ in range(k):
        gain = cover @ remaining
        if chosen:
            gain[chosen] = -1.0
        j = int(np.argmax(gain)) if len(gain) else -1
        if j < 0 or gain[j] <= 0:
            break
        chosen.append(j)
        gains.append(float(gain[j]))
        remaining[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = 0.0
    return SitingResult("greedy", False, chosen, gains, before, before + sum(gains), "greedy",
                        solve_s=time.perf_counter() - started)


def _covered_after(cover: sparse.csr_matrix, chosen: list[int], covered: np.ndarray) -> np.ndarray:
    now = covered.copy()
    for j in chosen:
        now[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]] = True
    return now


def _marginal_gains(cover: sparse.csr_matrix, weights: np.ndarray, chosen: list[int],
                    covered: np.ndarray) -> list[float]:
    """Population each site adds, taken in order: what the exact answer's sites each bring."""
    now = covered.copy()
    gains = []
    for j in chosen:
        idx = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        gains.append(float(weights[idx][~now[idx]].sum()))
        now[idx] = True
    return gains


@contextmanager
def _stdout_to_devnull() -> Iterator[None]:
    """Silence file descriptor 1 while native code writes to it.

    HiGHS (1.12+) prints its banner from the C++ constructor, before ``output_flag`` can be
    set, straight to fd 1: it would corrupt a CLI's ``--json`` output.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _highs(time_limit_s: float) -> highspy.Highs:
    with _stdout_to_devnull():
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", 0.0)
    h.setOptionValue("threads", 1)
    return h


def _lp(matrix: sparse.csc_matrix, cost: np.ndarray, col_lower: np.ndarray, col_upper: np.ndarray,
        row_lower: np.ndarray, row_upper: np.ndarray, integer: np.ndarray | None) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize
    lp.col_cost_ = np.asarray(cost, dtype=float)
    lp.col_lower_ = np.asarray(col_lower, dtype=float)
    lp.col_upper_ = np.asarray(col_upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lower, dtype=float)
    lp.row_upper_ = np.asarray(row_upper, dtype=float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    return lp


def _status(h: highspy.Highs) -> tuple[str, float | None]:
    status = h.modelStatusToString(h.getModelStatus()).lower()
    info = h.getInfo()
    gap = getattr(info, "mip_gap", None)
    gap = float(gap) if gap is not None and np.isfinite(gap) else None
    return ("optimal" if status == "optimal" else status), gap


def exact_mclp(cover: sparse.csr_matrix, weights: np.ndarray, k: int, *, covered: np.ndarray,
               time_limit_s: float = 60.0) -> SitingResult:
    """The maximal covering location problem solved exactly (HiGHS MIP), seeded with greedy."""
    _check(k, weights, cover.shape[1])
    started = time.perf_counter()
    w = np.asarray(weights, dtype=float)
    greedy = greedy_mclp(cover, w, k, covered=covered)
    before = greedy.before
    demand = np.flatnonzero((w > 0) & ~covered & (np.asarray(cover.sum(axis=0)).ravel() > 0))
    sub = cover[:, demand].tocsr()
    useful = np.flatnonzero(np.diff(sub.indptr) > 0)
    if len(demand) == 0 or len(useful) == 0:
        return SitingResult("exact", False, [], [], before, before, "optimal", 0.0, time.perf_counter() - started)
    a = sub[useful]  # candidates × demand buildings
    nj, nd = a.shape
    # max sum w_d y_d  s.t.  y_d - sum_{j covers d} x_j <= 0,  sum x_j <= k,  x binary, 0 <= y <= 1
    matrix = sparse.bmat([[-a.T, sparse.identity(nd)],
                          [sparse.csr_matrix(np.ones((1, nj))), None]], format="csc")
    lp = _lp(matrix, np.r_[np.zeros(nj), w[demand]], np.zeros(nj + nd), np.ones(nj + nd),
             np.full(nd + 1, -np.inf), np.r_[np.zeros(nd), float(k)], np.r_[np.ones(nj, bool), np.zeros(nd, bool)])
    h = _highs(time_limit_s)
    h.passModel(lp)
    start = np.zeros(nj + nd)
    pos = {int(j): i for i, j in enumerate(useful)}
    for j in greedy.chosen:
        if j in pos:
            start[pos[j]] = 1.0
    start[nj:] = (a.T @ start[:nj] > 0).astype(float)
    sol = highspy.HighsSolution()
    sol.col_value = list(start)
    sol.value_valid = True
    h.setSolution(sol)
    h.run()
    status, gap = _status(h)
    x = np.asarray(h.getSolution().col_value[:nj])
    chosen = sorted(int(useful[i]) for i in np.flatnonzero(x > 0.5))
    gains = _marginal_gains(cover, w, chosen, covered)
    after = before + sum(gains)
    if after + 1e-9 < greedy.after:
        # Stopped early with an incumbent worse than greedy: greedy's answer stands.
        chosen, gains, after = greedy.chosen, greedy.gains, greedy.after
        status = f"{status}; greedy answer kept"
    return SitingResult("exact", False, chosen, gains, before, after, status, gap, time.perf_counter() - started,
                        detail={"candidates": int(nj), "demand_buildings": int(nd)})


def cover_all(cover: sparse.csr_matrix, weights: np.ndarray, *, covered: np.ndarray,
              time_limit_s: float = 60.0) -> SitingResult:
    """The least number of candidate sites covering every reachable target building (set covering, HiGHS).

    Demand is every building with target population not yet covered; the reachable ones are those
    some candidate covers. ``detail`` holds ``greedy_chosen`` (greedy run until nothing more can be
    covered), ``unreachable`` (demand buildings no candidate covers) and the problem size. The
    answer never has more sites than greedy: if the solver stops early with more, greedy's stands.
    """
    _check(1, weights, cover.shape[1])
    started = time.perf_counter()
    w = np.asarray(weights, dtype=float)
    demand = (w > 0) & ~covered
    reachable = demand & (np.asarray(cover.sum(axis=0)).ravel() > 0)
    unreachable = np.flatnonzero(demand & ~reachable)
    greedy = greedy_mclp(cover, w, max(cover.shape[0], 1), covered=covered)
    detail: dict = {"greedy_chosen": greedy.chosen, "greedy_gains": greedy.gains, "unreachable": unreachable,
                    "demand_buildings": int(demand.sum()), "reachable_buildings": int(reachable.sum())}
    rows = np.flatnonzero(reachable)
    if len(rows) == 0:
        return SitingResult("cover_all", False, [], [], greedy.before, greedy.before, "optimal", 0.0,
                            time.perf_counter() - started, detail=detail)
    sub = cover[:, rows].tocsc()
    useful = np.flatnonzero(np.diff(sub.tocsr().indptr) > 0)
    a = sub.tocsr()[useful]  # useful candidates × reachable buildings
    nj, nd = a.shape
    # min sum x_j  s.t.  sum_{j covers d} x_j >= 1 for every reachable demand building d, x binary
    lp = _lp(a.T.tocsc(), np.ones(nj), np.zeros(nj), np.ones(nj), np.ones(nd), np.full(nd, np.inf),
             np.ones(nj, dtype=bool))
    lp.sense_ = highspy.ObjSense.kMinimize
    h = _highs(time_limit_s)
    h.passModel(lp)
    pos = {int(j): i for i, j in enumerate(useful)}
    start = np.zeros(nj)
    for j in greedy.chosen:
        start[pos[j]] = 1.0
    sol = highspy.HighsSolution()
    sol.col_value = list(start)
    sol.value_valid = True
    h.setSolution(sol)
    h.run()
    status, gap = _status(h)
    x = np.asarray(h.getSolution().col_value[:nj])
    chosen = [int(useful[i]) for i in np.flatnonzero(x > 0.5)] if len(x) == nj else []
    if not chosen or len(chosen) > len(greedy.chosen) or (a[[pos[j] for j in chosen]].sum(axis=0) < 1).any():
        # Stopped early (or no solution read back): greedy's full cover stands.
        chosen, status = list(greedy.chosen), f"{status}; greedy answer kept"
    # Largest contribution first, so a planner building them one by one sees the order that pays most.
    order, now, gains = [], covered.copy(), []
    left = list(chosen)
    while left:
        best = max(left, key=lambda j: float(w[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]][
            ~now[cover.indices[cover.indptr[j]:cover.indptr[j + 1]]]].sum()))
        idx = cover.indices[cover.indptr[best]:cover.indptr[best + 1]]
        gains.append(float(w[idx][~now[idx]].sum()))
        now[idx] = True
        order.append(best)
        left.remove(best)
    detail.update(candidates=int(nj), sites_greedy=len(greedy.chosen))
    return SitingResult("cover_all", False, order, gains, greedy.before, greedy.before + sum(gains), status, gap,
                        time.perf_counter() - started, detail=detail)


# --- capacity-aware ------------------------------------------------------------------------


def _pairs(cover: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    coo = cover.tocoo()
    return coo.row.astype(np.int64), coo.col.astype(np.int64)


def _capacitated(existing: sparse.csr_matrix, existing_capacity: np.ndarray, candidates: sparse.csr_matrix,
                 capacity: np.ndarray, weights: np.ndarray, *, k: int, fixed: list[int] | None,
                 time_limit_s: float) -> tuple[float, list[int], np.ndarray, str, float | None]:
    """Serve as much population as capacities allow; choose up to k candidates unless ``fixed``.

    Returns the population served, the chosen candidates, the population served per building,
    the solver status and the MIP gap.
    """
    w = np.asarray(weights, dtype=float)
    nb = len(w)
    ef, eb = _pairs(existing)
    cj, cb = _pairs(candidates)
    if fixed is not None:
        keep = np.isin(cj, fixed)
        cj, cb = cj[keep], cb[keep]
    keep_e, keep_c = w[eb] > 0, w[cb] > 0
    ef, eb, cj, cb = ef[keep_e], eb[keep_e], cj[keep_c], cb[keep_c]
    nz_e, nz_c = len(ef), len(cj)
    nf, nc = existing.shape[0], candidates.shape[0]
    if nz_e + nz_c == 0:
        return 0.0, list(fixed or []), np.zeros(nb), "optimal", 0.0
    # Columns: z (existing pairs), z (candidate pairs), x (candidates).
    # Rows: demand per building, capacity per existing facility, capacity per candidate, count.
    z_cols = nz_e + nz_c
    rows_demand = np.r_[eb, cb]
    rows_cap = np.r_[nb + ef, nb + nf + cj]
    col = np.arange(z_cols)
    r = np.r_[rows_demand, rows_cap, nb + nf + np.arange(nc), np.full(nc, nb + nf + nc)]
    c = np.r_[col, col, z_cols + np.arange(nc), z_cols + np.arange(nc)]
    v = np.r_[np.ones(2 * z_cols), -np.asarray(capacity, dtype=float), np.ones(nc)]
    matrix = sparse.csc_matrix((v, (r, c)), shape=(nb + nf + nc + 1, z_cols + nc))
    row_upper = np.r_[w, np.asarray(existing_capacity, dtype=float), np.zeros(nc), float(k)]
    x_upper = np.ones(nc)
    x_lower = np.zeros(nc)
    if fixed is not None:
        x_upper[:] = 0.0
        x_upper[fixed] = 1.0
        x_lower[fixed] = 1.0
        row_upper[-1] = float(len(fixed))
    integer = None if fixed is not None else np.r_[np.zeros(z_cols, bool), np.ones(nc, bool)]
    lp = _lp(matrix, np.r_[np.ones(z_cols), np.zeros(nc)], np.zeros(z_cols + nc), np.r_[np.full(z_cols, np.inf),
             x_upper], np.full(matrix.shape[0], -np.inf), row_upper, integer)
    h = _highs(time_limit_s)
    h.passModel(lp)
    h.run()
    status, gap = _status(h)
    value = np.asarray(h.getSolution().col_value)
    z = value[:z_cols]
    per_building = np.bincount(rows_demand, weights=z, minlength=nb)
    chosen = list(fixed) if fixed is not None else sorted(int(j) for j in np.flatnonzero(value[z_cols:] > 0.5))
    return float(z.sum()), chosen, per_building, status, gap


def served_population(existing: sparse.csr_matrix, existing_capacity: np.ndarray, weights: np.ndarray,
                      *, time_limit_s: float = 60.0) -> tuple[float, np.ndarray]:
    """Population the existing facilities can serve within their capacities, and how much per building."""
    empty = sparse.csr_matrix((0, existing.shape[1]))
    served, _, per_building, _, _ = _capacitated(existing, existing_capacity, empty, np.zeros(0), weights, k=0,
                                                 fixed=[], time_limit_s=time_limit_s)
    return served, per_building


def greedy_capacitated(existing: sparse.csr_matrix, existing_capacity: np.ndarray, candidates: sparse.csr_matrix,
                       capacity: float | np.ndarray, weights: np.ndarray, k: int,
                       *, time_limit_s: float = 60.0) -> SitingResult:
    """Greedy capacity-aware siting: each step adds the site that can take the most unserved people."""
    _check(k, weights, candidates.shape[1])
    started = time.perf_counter()
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (candidates.shape[0],)).copy()
    w = np.asarray(weights, dtype=float)
    chosen: list[int] = []
    served, _, per_b, _, _ = _capacitated(existing, existing_capacity, candidates, cap, w, k=0, fixed=[],
                                          time_limit_s=time_limit_s)
    before = served
    gains: list[float] = []
    for _ in range(k):
        unserved = np.maximum(w - per_b, 0.0)
        estimate = np.minimum(candidates @ unserved, cap)
        if chosen:
            estimate[chosen] = -1.0
        j = int(np.argmax(estimate)) if len(estimate) else -1
        if j < 0 or estimate[j] <= 1e-9:
            break
        chosen.append(j)
        new, _, per_b, _, _ = _capacitated(existing, existing_capacity, candidates, cap, w, k=len(chosen),
                                           fixed=chosen, time_limit_s=time_limit_s)
        gains.append(new - served)
        served = new
    return SitingResult("greedy", True, chosen, gains, before, served, "greedy",
                        solve_s=time.perf_counter() - started)


def exact_capacitated(existing: sparse.csr_matrix, existing_capacity: np.ndarray, candidates: sparse.csr_matrix,
                      capacity: float | np.ndarray, weights: np.ndarray, k: int,
                      *, time_limit_s: float = 60.0) -> SitingResult:
    """Capacity-aware siting solved exactly (HiGHS MIP); never reports less than the greedy answer."""
    started = time.perf_counter()
    greedy = greedy_capacitated(existing, existing_capacity, candidates, capacity, weights, k,
                                time_limit_s=time_limit_s)
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (candidates.shape[0],)).copy()
    after, chosen, _, status, gap = _capacitated(existing, existing_capacity, candidates, cap, weights, k=k,
                                                 fixed=None, time_limit_s=time_limit_s)
    if after + 1e-6 < greedy.after:
        chosen, after, status = greedy.chosen, greedy.after, f"{status}; greedy answer kept"
    # Each site's contribution, adding them in order (the LP re-assigns people each time).
    gains, served = [], greedy.before
    for i in range(1, len(chosen) + 1):
        now = _capacitated(existing, existing_capacity, candidates, cap, weights, k=i, fixed=chosen[:i],
                           time_limit_s=time_limit_s)[0]
        gains.append(now - served)
        served = now
    return SitingResult("exact", True, chosen, gains, greedy.before, after, status, gap,
                        time.perf_counter() - started)


def what_if(reach: Reach, *, remove: int | None = None, add: Reach | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest facility and distance per building after removing one site and/or adding others.

    Added sites are numbered after ``reach``'s; a move is a remove plus an add.
    """
    table = reach
    if remove is not None:
        if not 0 <= remove < reach.n_sites:
            raise InvalidInput(f"remove: no facility {remove} among {reach.n_sites}")
        table = table.without(remove)
    if add is not None:
        table = table.plus(add)
    return table.nearest()
