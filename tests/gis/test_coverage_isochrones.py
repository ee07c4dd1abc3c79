"""Isochrone polygons: the origin is inside, nothing out of reach is inside, reached nodes are inside."""

from __future__ import annotations

import coverage_town as town
import numpy as np
import pytest
import shapely
from scipy.sparse.csgraph import dijkstra

from gis.coverage.isochrones import network_isochrones, straight_line_isochrones
from gis.coverage.network import attach_buildings, build_network, locate_sites
from gis.synthetic import generate_district

CRS = "EPSG:4549"


@pytest.fixture(scope="module")
def district():
    layers = generate_district(households=8000, seed=5)
    net = build_network(layers.nodes.rename(columns={"node_id": "id"}), layers.edges, barriers=layers.barriers,
                        crs=CRS)
    homes = layers.buildings[layers.buildings["households"] > 0]
    graph = attach_buildings(net, homes.geometry.to_crs(CRS).values)
    points = layers.facilities[layers.facilities["type_code"].isin(["kindergarten", "health_station"])]
    return graph, np.asarray(points.geometry.to_crs(CRS).values, dtype=object)


def node_distances(graph, sites, i):
    return dijkstra(graph.with_sources(sites), directed=True, indices=graph.n_nodes + i)[: graph.n_nodes]


@pytest.mark.parametrize("radius", [300.0, 500.0])
def test_isochrones_hold_the_origin_and_nothing_out_of_reach(district, radius: float) -> None:
    graph, points = district
    sites = locate_sites(graph, points)
    polygons = network_isochrones(graph, sites, radius)
    assert len(polygons) == len(points)
    xy = graph.node_xy
    for i, poly in enumerate(polygons):
        assert poly.is_valid and not poly.is_empty
        assert poly.contains(points[i]) or poly.touches(points[i]) or poly.distance(points[i]) < 1e-6
        d = node_distances(graph, sites, i)
        far = d > radius
        assert not shapely.contains_xy(poly, xy[far, 0], xy[far, 1]).any()
        near = d <= radius
        assert shapely.intersects_xy(poly.buffer(0.01), xy[near, 0], xy[near, 1]).all()


def test_an_isochrone_stops_at_a_main_road_without_a_crossing() -> None:
    net = build_network(town.nodes(), town.edges(), barriers=town.barriers(), crs=town.CRS)
    graph = attach_buildings(net, town.buildings().geometry.values)
    sites = locate_sites(graph, [town.F2])
    poly = network_isochrones(graph, sites, 300.0, width_m=5.0)[0]
    assert poly.contains(town.F2)
    assert poly.contains(town.p(430, 3))  # the main road's north side, along which F2 is reached
    assert not poly.contains(town.F1)  # 45 m south as the crow flies, 12 + 120 + 300 + 300 + 25 on foot
    assert not poly.contains(town.p(300, 100))  # the block north of the road: 300 m from F2 by no street


def test_straight_line_circles_are_plain_buffers() -> None:
    circles = straight_line_isochrones([town.F1, town.F2], 300.0)
    assert [c.area for c in circles] == pytest.approx([np.pi * 300**2] * 2, rel=2e-3)
