"""A prepared network packed into arrays and back gives the very same graph and the very same answers."""

from __future__ import annotations

import coverage_town as town
import numpy as np
import pytest
import shapely

from gis.coverage import network_arrays
from gis.coverage.distances import compute_coverage
from gis.coverage.network import attach_buildings, build_network
from gis.errors import InvalidInput


def town_graph():  # type: ignore[no-untyped-def]
    net = build_network(town.nodes(), town.edges(), barriers=town.barriers(), crs=town.CRS)
    b = town.buildings()
    return attach_buildings(net, np.asarray(b.geometry.values, dtype=object),
                            compound=b["compound"].to_numpy(dtype=np.int64),
                            gates=np.array([town.GATE], dtype=object), gate_compound=np.array([7]))


def test_the_town_round_trips_and_walks_the_same() -> None:
    graph = town_graph()
    back = network_arrays.unpack_network(network_arrays.from_bytes(network_arrays.to_bytes(
        network_arrays.pack_network(graph))))
    assert (back.graph != graph.graph).nnz == 0 and back.graph.shape == graph.graph.shape
    assert back.n_nodes == graph.n_nodes and back.n_buildings == graph.n_buildings == 3
    for name in ("point_key", "point_node", "seg_a", "seg_b", "access_node", "access_offset", "building_legal"):
        assert np.array_equal(getattr(back, name), getattr(graph, name)), name
    assert back.network.blocker_geom[-1].equals_exact(graph.network.blocker_geom[-1], 0.0)  # the river
    points = {"kindergarten": np.array([town.F1, town.F2], dtype=object)}
    before = compute_coverage(graph, points, {"kindergarten": 300.0}, limit_factor=3.0)["kindergarten"]
    after = compute_coverage(back, points, {"kindergarten": 300.0}, limit_factor=3.0)["kindergarten"]
    assert np.array_equal(before.distance_m, after.distance_m) and np.array_equal(before.facility, after.facility)
    assert after.distance_m.round(1).tolist() == [152.0, 843.0, 437.0]  # N, R, Q: the town's walks


def test_mixed_and_missing_geometries_travel_as_wkb() -> None:
    geoms = np.array([shapely.Point(1, 2), None, shapely.LineString([(0, 0), (3, 4)]),
                      shapely.box(0, 0, 1, 1)], dtype=object)
    out: dict[str, np.ndarray] = {}
    network_arrays.pack_geometries("g", geoms, out)
    assert int(out["g.kind"]) == -1  # WKB, not ragged arrays
    back = network_arrays.unpack_geometries("g", network_arrays.from_bytes(network_arrays.to_bytes(out)))
    assert back[1] is None
    assert all(a.equals_exact(b, 0.0) for a, b in zip(back[[0, 2, 3]], geoms[[0, 2, 3]], strict=True))


def test_an_archive_of_another_format_is_refused() -> None:
    arrays = network_arrays.pack_network(town_graph())
    arrays["format"] = np.asarray(network_arrays.FORMAT + 1)
    with pytest.raises(InvalidInput, match="format"):
        network_arrays.unpack_network(arrays)
