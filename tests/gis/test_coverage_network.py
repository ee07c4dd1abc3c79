"""Walking distances on a hand-built town: exact metres, main roads crossed only at junctions,
links that never cross a main road or a river when a legal one exists, compound gates."""

from __future__ import annotations

import coverage_town as town
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString

from gis.coverage.distances import compute_coverage, nearest_by_network, nearest_by_straight_line
from gis.coverage.network import attach_buildings, build_network, link_to_network, locate_sites
from gis.errors import InvalidInput

N, R, Q = 0, 1, 2


@pytest.fixture(scope="module")
def net():
    return build_network(town.nodes(), town.edges(), barriers=town.barriers(), crs=town.CRS)


@pytest.fixture(scope="module")
def graph(net):
    b = town.buildings()
    return attach_buildings(net, b.geometry.values, compound=b["compound"].to_numpy(), gates=[town.GATE],
                            gate_compound=[7])


def distances(graph, *points, limit=5000.0):
    cov = nearest_by_network(graph, locate_sites(graph, list(points)), radius_m=300, limit_m=limit)
    return cov


def test_a_facility_across_the_main_road_is_near_as_the_crow_flies_but_far_on_foot(graph) -> None:
    cov = distances(graph, town.F1)
    assert cov.distance_m[N] == pytest.approx(20 + 300 + 300 + 25)
    assert not cov.covered[N]
    crow = nearest_by_straight_line(np.array(list(town.BUILDINGS.values()), dtype=object),
                                    np.array([town.F1], dtype=object), radius_m=300)
    assert crow.mode == "straight_line"
    assert crow.distance_m[N] == pytest.approx(45.0)
    assert crow.covered[N]


def test_on_the_same_side_of_the_main_road_the_walk_is_direct(graph) -> None:
    cov = distances(graph, town.F2)
    assert cov.distance_m[N] == pytest.approx(20 + 120 + 12)
    assert cov.covered[N]


def test_the_nearest_facility_is_named_per_building(graph) -> None:
    cov = distances(graph, town.F1, town.F2)
    assert cov.facility.tolist() == [1, 0, 1]  # N and Q walk to F2, R to F1
    assert cov.distance_m == pytest.approx([152.0, 843.0, 437.0])


def test_a_link_never_crosses_the_river_when_a_legal_one_exists(net, graph) -> None:
    links = link_to_network(net, np.array([town.BUILDINGS["R"]], dtype=object))
    jk = int(np.flatnonzero((net.node_ids[net.edge_u] == town.J) & (net.node_ids[net.edge_v] == town.K))[0])
    assert links.edge[0] == jk and links.legal[0]
    assert links.length[0] == pytest.approx(28.0)
    assert graph.building_legal.all()
    assert distances(graph, town.F1).distance_m[R] == pytest.approx(28 + 300 + 40 + 150 + 300 + 25)


def test_compound_gates_are_the_way_out(net, graph) -> None:
    assert distances(graph, town.F2).distance_m[Q] == pytest.approx(55 + 40 + 150 + 180 + 12)
    ungated = attach_buildings(net, town.buildings().geometry.values)
    assert distances(ungated, town.F2).distance_m[Q] == pytest.approx(45 + 100 + 200 + 180 + 12)


def test_without_a_legal_link_the_nearest_is_used_and_flagged() -> None:
    # Only the south-bank footway exists: the building north of the river has no legal way on.
    nodes = town.nodes()
    nodes = nodes[nodes["id"].isin([town.J, town.K])]
    edges = town.edges()
    edges = edges[(edges["source"] == town.J) & (edges["target"] == town.K)]
    net = build_network(nodes, edges, barriers=town.barriers(), crs=town.CRS)
    graph = attach_buildings(net, [town.diamond(300, -140, 2)])
    assert not graph.building_legal[0]
    assert graph.access_offset[0] == pytest.approx(48.0)


def test_the_cheapest_of_parallel_edges_counts() -> None:
    # scipy adds up duplicate entries of a sparse matrix; two ways between A and B must not.
    nodes = town.nodes()
    nodes = nodes[nodes["id"].isin([town.A, town.B])]
    straight = LineString([town.p(0, 0), town.p(600, 0)])
    detour = LineString([town.p(0, 0), town.p(300, -80), town.p(600, 0)])
    edges = gpd.GeoDataFrame({"id": [1, 2], "source": [town.A, town.A], "target": [town.B, town.B],
                              "length_m": [detour.length, straight.length]}, geometry=[detour, straight], crs=town.CRS)
    graph = attach_buildings(build_network(nodes, edges, crs=town.CRS), [town.diamond(-15, 0, 5)])
    cov = nearest_by_network(graph, locate_sites(graph, [town.p(615, 0)]), radius_m=1000, limit_m=2000)
    assert cov.distance_m[0] == pytest.approx(10 + 600 + 15)


def test_beyond_the_search_limit_there_is_no_nearest_facility(graph) -> None:
    cov = distances(graph, town.F1, limit=700)
    assert cov.facility.tolist() == [0, -1, 0]
    assert np.isinf(cov.distance_m[R])


def test_no_facility_of_a_type_means_nobody_is_covered(graph) -> None:
    out = compute_coverage(graph, {"kindergarten": np.empty(0, dtype=object)}, {"kindergarten": 300.0})
    assert out["kindergarten"].facility.tolist() == [-1, -1, -1]
    assert not out["kindergarten"].covered.any()


def test_edges_must_end_at_known_nodes() -> None:
    edges = town.edges()
    edges.loc[0, "target"] = 12345
    with pytest.raises(InvalidInput, match="node ids that are not in nodes"):
        build_network(town.nodes(), edges, crs=town.CRS)
    with pytest.raises(InvalidInput, match="'length_m' is missing"):
        build_network(town.nodes(), town.edges().drop(columns="length_m"), crs=town.CRS)


def test_an_edge_stored_backwards_measures_from_its_source(net) -> None:
    edges = town.edges()
    main = edges["is_main_road"].to_numpy()
    edges.loc[main, "geometry"] = edges.loc[main, "geometry"].reverse()
    flipped = build_network(town.nodes(), edges, barriers=town.barriers(), crs=town.CRS)
    graph = attach_buildings(flipped, town.buildings().geometry.values)
    assert distances(graph, town.F1).distance_m[N] == pytest.approx(645.0)


def test_a_footway_that_connects_to_nothing_takes_no_links() -> None:
    # A 20 m path 5 m from N, mapped without its connection to the streets: N must not be stranded on it.
    stub = LineString([town.p(290, 45), town.p(310, 45)])
    nodes = gpd.GeoDataFrame({"id": list(town.NODES) + [91, 92]},
                             geometry=list(town.nodes().geometry) + [town.p(290, 45), town.p(310, 45)], crs=town.CRS)
    edges = town.edges()
    extra = gpd.GeoDataFrame({"id": [99], "source": [91], "target": [92], "length_m": [20.0], "highway": ["footway"],
                              "is_main_road": [False]}, geometry=[stub], crs=town.CRS)
    net = build_network(nodes, gpd.GeoDataFrame(pd.concat([edges, extra], ignore_index=True),
                                                crs=town.CRS), barriers=town.barriers(), crs=town.CRS)
    assert net.components == 2 and net.fragment_edges == 1
    graph = attach_buildings(net, town.buildings().geometry.values)
    assert graph.access_offset[N] == pytest.approx(20.0)  # to the main road, not 5 m to the stub
    assert distances(graph, town.F2).distance_m[N] == pytest.approx(152.0)
