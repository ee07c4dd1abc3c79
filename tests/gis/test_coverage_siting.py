"""Siting: greedy and exact maximal coverage (exact never worse, and optimal), capacities, and
what-if answers that equal a full recomputation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import sparse

from gis.coverage.distances import Reach, nearest_by_network, reach_by_network
from gis.coverage.network import attach_buildings, build_network, locate_sites
from gis.coverage.siting import (
    cover_matrix,
    exact_capacitated,
    exact_mclp,
    greedy_capacitated,
    greedy_mclp,
    served_population,
    what_if,
)
from gis.synthetic import generate_district


def cover(rows: list[list[int]], n: int) -> sparse.csr_matrix:
    data = [(i, b) for i, row in enumerate(rows) for b in row]
    r, c = zip(*data, strict=True)
    return sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n))


def test_exact_beats_greedy_where_greedy_is_short_sighted() -> None:
    # Site 0 covers the middle four; sites 1 and 2 together cover all six.
    a = cover([[1, 2, 3, 4], [0, 1, 2], [3, 4, 5]], 6)
    w = np.ones(6)
    none = np.zeros(6, dtype=bool)
    greedy = greedy_mclp(a, w, 2, covered=none)
    exact = exact_mclp(a, w, 2, covered=none)
    assert greedy.chosen == [0, 1] and greedy.after == 5
    assert exact.chosen == [1, 2] and exact.after == 6 and exact.status == "optimal"
    assert exact.gains == [3.0, 3.0]


def test_people_already_covered_do_not_count_again() -> None:
    a = cover([[0, 1], [2]], 3)
    w = np.array([10.0, 10.0, 5.0])
    result = greedy_mclp(a, w, 1, covered=np.array([True, True, False]))
    assert result.before == 20 and result.chosen == [1] and result.after == 25


@pytest.mark.parametrize("seed", range(12))
def test_exact_is_optimal_and_never_worse_than_greedy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_sites, n_b, k = 9, 20, 3
    a = sparse.csr_matrix((rng.random((n_sites, n_b)) < 0.25).astype(float))
    w = rng.integers(0, 50, n_b).astype(float)
    covered = rng.random(n_b) < 0.2
    greedy = greedy_mclp(a, w, k, covered=covered)
    exact = exact_mclp(a, w, k, covered=covered)
    best = max(w[covered | (a[list(c)].sum(axis=0).A1 > 0)].sum()
               for c in itertools.combinations(range(n_sites), k))
    assert exact.after == pytest.approx(best)
    assert exact.after >= greedy.after - 1e-9
    assert exact.before == greedy.before == w[covered].sum()


def test_a_kindergarten_of_180_places_cannot_serve_400_children() -> None:
    w = np.array([400.0, 50.0])
    existing = cover([[0]], 2)
    served, per_building = served_population(existing, np.array([180.0]), w)
    assert served == pytest.approx(180)
    assert per_building == pytest.approx([180, 0])
    candidates = cover([[0], [0, 1], [1]], 2)
    greedy = greedy_capacitated(existing, np.array([180.0]), candidates, 180.0, w, 1)
    assert greedy.before == pytest.approx(180) and greedy.after == pytest.approx(360)
    exact = exact_capacitated(existing, np.array([180.0]), candidates, 180.0, w, 2)
    # Two more sites serve all 450: the existing 180 and one new site take 360 of the 400, the
    # site reaching both buildings the other 40 and the 50 next door.
    assert exact.after == pytest.approx(450)
    assert 1 in exact.chosen
    assert exact.after >= greedy_capacitated(existing, np.array([180.0]), candidates, 180.0, w, 2).after


@pytest.mark.parametrize("seed", range(6))
def test_capacitated_exact_never_worse_than_greedy(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n_b = 25
    w = rng.integers(0, 120, n_b).astype(float)
    existing = sparse.csr_matrix((rng.random((2, n_b)) < 0.2).astype(float))
    candidates = sparse.csr_matrix((rng.random((10, n_b)) < 0.2).astype(float))
    greedy = greedy_capacitated(existing, np.array([150.0, 90.0]), candidates, 160.0, w, 3)
    exact = exact_capacitated(existing, np.array([150.0, 90.0]), candidates, 160.0, w, 3)
    assert exact.after >= greedy.after - 1e-6
    assert exact.after <= greedy.before + 3 * 160 + 1e-6
    assert sum(exact.gains) == pytest.approx(exact.after - exact.before, abs=1e-6)


@pytest.fixture(scope="module")
def district():
    layers = generate_district(households=8000, seed=2)
    crs = "EPSG:4549"
    net = build_network(layers.nodes.rename(columns={"node_id": "id"}), layers.edges, barriers=layers.barriers,
                        crs=crs)
    homes = layers.buildings[layers.buildings["households"] > 0]
    graph = attach_buildings(net, homes.geometry.to_crs(crs).values)
    kg = layers.facilities[layers.facilities["type_code"] == "kindergarten"].geometry.to_crs(crs).values
    points = layers.buildings.geometry.to_crs(crs).representative_point().values
    return graph, np.asarray(kg, dtype=object), np.asarray(points, dtype=object), homes


def test_what_if_add_move_remove_equals_recomputing(district) -> None:
    graph, kg, points, _ = district
    limit = 600.0
    reach = reach_by_network(graph, locate_sites(graph, kg), limit_m=limit)
    full = nearest_by_network(graph, locate_sites(graph, kg), radius_m=300, limit_m=limit)
    assert reach.nearest()[1] == pytest.approx(full.distance_m)
    new_point = points[17]
    added = reach_by_network(graph, locate_sites(graph, [new_point]), limit_m=limit)

    cases = {
        "remove": (dict(remove=0), kg[1:]),
        "add": (dict(add=added), np.r_[kg, [new_point]]),
        "move": (dict(remove=1, add=added), np.r_[kg[:1], kg[2:], [new_point]]),
    }
    for name, (change, facilities) in cases.items():
        _, distance = what_if(reach, **change)
        again = nearest_by_network(graph, locate_sites(graph, facilities), radius_m=300, limit_m=limit)
        assert distance == pytest.approx(again.distance_m), name
        assert ((distance <= 300) == again.covered).all(), name


def test_sites_on_a_real_network_increase_covered_population(district) -> None:
    graph, kg, points, homes = district
    w = homes["households"].to_numpy(dtype=float)
    existing = cover_matrix(reach_by_network(graph, locate_sites(graph, kg), limit_m=300), 300)
    covered = existing.sum(axis=0).A1 > 0
    candidates = cover_matrix(reach_by_network(graph, locate_sites(graph, points), limit_m=300), 300)
    greedy = greedy_mclp(candidates, w, 3, covered=covered)
    exact = exact_mclp(candidates, w, 3, covered=covered)
    assert greedy.after > greedy.before == w[covered].sum()
    assert all(g > 0 for g in greedy.gains)
    assert exact.after >= greedy.after
    assert exact.after == pytest.approx(exact.before + sum(exact.gains))


def test_reach_tables_remove_and_append_sites() -> None:
    table = Reach(2, 3, 500.0, np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([100.0, 400.0, 50.0]))
    assert table.nearest()[0].tolist() == [0, 1, -1]
    assert table.without(1).nearest()[1][1] == 400.0
    other = Reach(1, 3, 500.0, np.array([0]), np.array([2]), np.array([10.0]))
    assert table.plus(other).nearest()[0].tolist() == [0, 1, 2]


def test_the_solver_writes_nothing_to_stdout(capfd) -> None:
    # HiGHS prints a banner from its C++ constructor; a CLI's --json output must stay pure JSON.
    from gis.coverage.siting import _highs

    _highs(1.0).run()
    assert capfd.readouterr().out == ""


# --- full coverage (set covering) ---------------------------------------------------------------


def _matrix(rows: list[list[int]], n_buildings: int) -> sparse.csr_matrix:
    from scipy import sparse

    dense = np.zeros((len(rows), n_buildings))
    for j, covered in enumerate(rows):
        dense[j, covered] = 1.0
    return sparse.csr_matrix(dense)


def test_cover_all_beats_greedy_where_greedy_is_trapped() -> None:
    from gis.coverage.siting import cover_all

    # The classic trap: one big site covers the middle of two halves; greedy takes it, then needs
    # both halves anyway (3 sites); the optimum is the two halves.
    cover = _matrix([[0, 1, 2, 3, 4, 5], [0, 1, 2, 6], [3, 4, 5, 7]], 9)
    weights = np.array([5, 5, 5, 5, 5, 5, 1, 1, 3.0])
    result = cover_all(cover, weights, covered=np.zeros(9, dtype=bool))
    assert sorted(result.chosen) == [1, 2] and result.status == "optimal"
    assert len(result.detail["greedy_chosen"]) == 3
    assert result.detail["unreachable"].tolist() == [8]  # no candidate reaches building 8
    assert result.after == result.before + 32


def test_cover_all_ignores_covered_and_empty_buildings() -> None:
    from gis.coverage.siting import cover_all

    cover = _matrix([[0], [1], [2]], 3)
    result = cover_all(cover, np.array([4.0, 0.0, 2.0]), covered=np.array([True, False, False]))
    assert result.chosen == [2] and result.before == 4 and result.after == 6
    nothing = cover_all(cover, np.zeros(3), covered=np.zeros(3, dtype=bool))
    assert nothing.chosen == [] and nothing.detail["demand_buildings"] == 0
