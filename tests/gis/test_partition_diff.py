"""The pure diff core (gis.partition.diff): units matched on shared households, moves counted, from→to tables."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gis.errors import InvalidInput
from gis.partition.diff import (
    DiffSide,
    count_moves,
    diff_sides,
    households_per_unit,
    locate,
    match_by_share,
    match_units,
)

# Two units side by side near Xi'an (lon/lat, CGCS2000), about 100 m each.
WEST = box(108.9400, 34.2600, 108.9410, 34.2610)
EAST = box(108.9410, 34.2600, 108.9420, 34.2610)
# The same line moved a tenth of the way east.
WEST_WIDER = box(108.9400, 34.2600, 108.9411, 34.2610)
EAST_NARROWER = box(108.9411, 34.2600, 108.9420, 34.2610)


def _points(rows: list[tuple[int, float, float, int]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"building_id": [r[0] for r in rows], "households": [r[3] for r in rows]},
                            geometry=[Point(r[1], r[2]) for r in rows], crs="EPSG:4490")


POINTS = _points([(1, 108.9402, 34.2605, 100), (2, 108.9408, 34.2605, 50),
                  (3, 108.9415, 34.2605, 80), (4, 108.9418, 34.2605, 20), (5, 109.5, 34.9, 999)])


def test_locate_places_points_in_units_and_leaves_out_the_rest() -> None:
    units = gpd.GeoDataFrame({"code": ["w", "e"]}, geometry=[WEST, EAST], crs="EPSG:4490")
    located = locate(POINTS, units, "code")
    assert located.to_dict() == {1: "w", 2: "w", 3: "e", 4: "e"}
    assert households_per_unit(POINTS, units, "code").to_dict() == {"e": 100, "w": 150}


def test_match_units_pairs_relabelled_units_and_count_moves_sees_no_move() -> None:
    before = pd.DataFrame({"building_id": [1, 2, 3, 4], "unit": ["x", "x", "y", "y"],
                           "households": [100, 10, 10, 100]})
    relabelled = before.assign(unit=["p", "p", "q", "q"])
    assert sorted(match_units(before, relabelled)) == [("x", "p", 110), ("y", "q", 110)]
    assert count_moves(before, relabelled)["households_moved"] == 0
    swapped = before.assign(unit=["p", "q", "p", "q"])
    result = count_moves(before, swapped)
    assert (result["buildings_moved"], result["households_moved"], result["moved"]) == (2, 20, [2, 3])
    assert result["buildings_compared"] == 4


def test_count_moves_names_the_missing_column() -> None:
    with pytest.raises(InvalidInput, match="after lacks column") as caught:
        count_moves(pd.DataFrame({"building_id": [1], "unit": ["x"], "households": [1]}),
                    pd.DataFrame({"building_id": [1]}))
    assert caught.value.details["field"] == "after"


def test_match_by_share_keeps_a_code_for_a_unit_that_moved_a_little() -> None:
    current = gpd.GeoDataFrame({"code": ["610113001001001", "610113001001002"]}, geometry=[WEST, EAST],
                               crs="EPSG:4490")
    units = gpd.GeoDataFrame({"label": ["b", "a"]}, geometry=[EAST_NARROWER, WEST_WIDER], crs="EPSG:4490")
    assert match_by_share(units, current, POINTS) == {"a": "610113001001001", "b": "610113001001002"}
    # A unit holding less than half of a current unit's households does not take its code.
    half = gpd.GeoDataFrame({"label": ["only-1"]}, geometry=[box(108.9400, 34.2600, 108.9405, 34.2610)],
                            crs="EPSG:4490")
    assert match_by_share(half, current, _points([(1, 108.9402, 34.2605, 10), (2, 108.9408, 34.2605, 50)])) == {}


def test_diff_sides_builds_the_from_to_tables() -> None:
    a = DiffSide("current", None, "610113001001", "grid",
                 pd.DataFrame({"key": ["G1", "G2"], "label": ["一", "二"], "code": ["G1", "G2"],
                               "households": [150, 100]}),
                 pd.DataFrame({"building_id": [1, 2, 3, 4], "unit": ["G1", "G1", "G2", "G2"]}))
    b = DiffSide("plan 7", 7, "610113001001", "grid",
                 pd.DataFrame({"key": ["u1", "u2", "u3"], "label": ["北", "南", "东"], "code": [None, None, None],
                               "households": [100, 130, 0]}),
                 pd.DataFrame({"building_id": [1, 2, 3, 5], "unit": ["u1", "u2", "u2", "u2"]}))
    info = {"name": {1: "1号楼", 2: "2号楼", 3: "3号楼"}, "address": {}, "households": {1: 100, 2: 50, 3: 80, 4: 20}}
    diff = diff_sides(a, b, info)  # type: ignore[arg-type]
    # G1 shares 100 households with 北 and 50 with 南, G2 80 with 南: the pairing keeps the most (180).
    assert diff["matches"] == [
        {"a": {"label": "一", "code": "G1"}, "b": {"label": "北", "code": None}, "shared_households": 100},
        {"a": {"label": "二", "code": "G2"}, "b": {"label": "南", "code": None}, "shared_households": 80}]
    assert diff["moves"] == [{"building_id": 2, "name": "2号楼", "address": None, "households": 50,
                              "from": {"label": "一", "code": "G1"}, "to": {"label": "南", "code": None}}]
    assert (diff["buildings_moved"], diff["households_moved"], diff["buildings_compared"]) == (1, 50, 3)
    assert diff["unmatched_a"] == [] and diff["unmatched_b"] == [{"label": "东", "code": None}]
    assert [o["building_id"] for o in diff["only_in_a"]] == [4] and [o["building_id"] for o in diff["only_in_b"]] == [5]
    assert diff["a"] == {"name": "current", "plan_id": None, "units": 2, "households": 250, "buildings": 4}
