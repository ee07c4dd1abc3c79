"""四至 of a hand-built square in Nanjing between named roads and a neighbouring community; no database."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from gis.errors import InvalidGeometry
from gis.four_limits import describe_four_limits

# A ~377 m x 333 m community.
SQUARE = "POLYGON ((118.780 32.040, 118.784 32.040, 118.784 32.043, 118.780 32.043, 118.780 32.040))"

# Road centre lines about 10 m outside the square, running on past its corners (so each crosses
# the ends of the two perpendicular sides). 中山路 comes as two walk edges.
ROADS = [
    ("中山路", "road", "LINESTRING (118.7841 32.039, 118.7841 32.0415)"),
    ("中山路", "road", "LINESTRING (118.7841 32.0415, 118.7841 32.044)"),
    ("汉中路", "road", "LINESTRING (118.779 32.0399, 118.785 32.0399)"),
    ("北京西路", "road", "LINESTRING (118.779 32.0431, 118.785 32.0431)"),
    ("虎踞路", "road", "LINESTRING (118.7799 32.039, 118.7799 32.044)"),
]
# A road ~95 m west of the square: too far to be its limit.
FAR_ROAD = ("清凉门大街", "road", "LINESTRING (118.779 32.039, 118.779 32.044)")

WEST_NEIGHBOUR = "POLYGON ((118.777 32.040, 118.780 32.040, 118.780 32.043, 118.777 32.043, 118.777 32.040))"


def features(rows) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": [n for n, _, _ in rows], "kind": [k for _, k, _ in rows]},
        geometry=[shapely.from_wkt(w) for _, _, w in rows],
        crs="EPSG:4490",
    )


def neighbours(*rows: tuple[str, str, str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [c for c, _, _ in rows], "name": [n for _, n, _ in rows]},
        geometry=[shapely.from_wkt(w) for _, _, w in rows],
        crs="EPSG:4490",
    )


def test_square_between_four_roads():
    limits = describe_four_limits(shapely.from_wkt(SQUARE), features=features(ROADS), neighbours=None)
    assert limits == {
        "east": "中山路",
        "south": "汉中路",
        "west": "虎踞路",
        "north": "北京西路",
        "text": "东至中山路、南至汉中路、西至虎踞路、北至北京西路",
    }


def test_side_without_road_is_named_by_its_neighbour():
    roads = [r for r in ROADS if r[0] != "虎踞路"] + [FAR_ROAD]
    nbrs = neighbours(
        ("320102001002", "莫愁社区", WEST_NEIGHBOUR),
        ("320102001001", "华侨路社区", SQUARE),  # the unit itself, as when all communities are passed
    )
    limits = describe_four_limits(shapely.from_wkt(SQUARE), features=features(roads), neighbours=nbrs)
    assert limits["west"] == "莫愁社区"
    assert limits["east"] == "中山路" and limits["south"] == "汉中路" and limits["north"] == "北京西路"
    assert limits["text"] == "东至中山路、南至汉中路、西至莫愁社区、北至北京西路"


def test_neighbour_without_name_is_named_by_code_and_open_sides_fall_back():
    nbrs = neighbours(("320102001002", None, WEST_NEIGHBOUR))
    limits = describe_four_limits(shapely.from_wkt(SQUARE), features=features([FAR_ROAD]), neighbours=nbrs)
    assert limits["west"] == "320102001002"
    assert limits["east"] == limits["south"] == limits["north"] == "区界"


def test_river_area_and_stepped_boundary():
    # The east boundary zig-zags in 5 m steps (still faces east); the south limit is a river drawn as an area.
    steps = [(118.784, 32.040)]
    y = 32.040
    while y < 32.043 - 1e-9:
        x = 118.784 if len(steps) % 4 in (1, 2) else 118.78395
        y2 = round(y + 0.0002, 6)
        steps += [(x, y), (x, y2)]
        y = y2
    ring = [(118.780, 32.040), *steps, (118.784, 32.043), (118.780, 32.043), (118.780, 32.040)]
    unit = shapely.make_valid(shapely.Polygon(ring))
    rows = [r for r in ROADS if r[0] != "汉中路"] + [
        ("秦淮河", "water",
         "POLYGON ((118.779 32.0396, 118.785 32.0396, 118.785 32.0399, 118.779 32.0399, 118.779 32.0396))"),
    ]
    limits = describe_four_limits(unit, features=features(rows), neighbours=None)
    assert limits["east"] == "中山路"
    assert limits["south"] == "秦淮河"


def test_metric_crs_may_be_given():
    limits = describe_four_limits(
        shapely.from_wkt(SQUARE), features=features(ROADS), neighbours=None, metric_crs="EPSG:4549"
    )
    assert limits["north"] == "北京西路"


def test_not_a_polygon_is_rejected():
    with pytest.raises(InvalidGeometry):
        describe_four_limits(shapely.Point(118.78, 32.04), features=None, neighbours=None)


def test_cross_streets_at_the_corners_do_not_name_a_small_side():
    # A ~57 m x 55 m unit: the north and south roads cross the ends of its short west side, within
    # 30 m of most of it, but run across that side, not along it.
    small = "POLYGON ((118.7800 32.0400, 118.7806 32.0400, 118.7806 32.0405, 118.7800 32.0405, 118.7800 32.0400))"
    west = "POLYGON ((118.7794 32.0400, 118.7800 32.0400, 118.7800 32.0405, 118.7794 32.0405, 118.7794 32.0400))"
    rows = [
        ("中山路", "road", "LINESTRING (118.7807 32.0395, 118.7807 32.0410)"),
        ("汉中路", "road", "LINESTRING (118.7790 32.03995, 118.7810 32.03995)"),
        ("北京西路", "road", "LINESTRING (118.7790 32.04055, 118.7810 32.04055)"),
    ]
    nbrs = neighbours(("320102001002", "莫愁社区", west))
    limits = describe_four_limits(shapely.from_wkt(small), features=features(rows), neighbours=nbrs)
    assert limits["text"] == "东至中山路、南至汉中路、西至莫愁社区、北至北京西路"
