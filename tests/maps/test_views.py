"""The report views on small frames: classes against the bounds, CRS checks, time-stepped tracks, heat cells."""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box
from shapely.geometry import Point

from gis.errors import CRSMismatch
from gis.maps import (
    MAX_HTML_BYTES,
    Background,
    cases_map,
    facility_map,
    household_status,
    layer_names,
    planner_map,
    render_html,
)
from gis.maps.base import compact
from gis.maps.views import (
    CLUSTER_AT,
    MAX_HEAT_CELLS,
    MAX_INCIDENT_MARKERS,
    TRACK_STEPS,
    _heat_cells,
    _track_lines,
)


def _grids(crs: str = "EPSG:4490") -> gpd.GeoDataFrame:
    cells = [box(118.780 + 0.003 * i, 32.040, 118.783 + 0.003 * i, 32.043) for i in range(3)]
    return gpd.GeoDataFrame({"code": ["320102001001001", "320102001001002", "320102001001003"],
                             "name": ["第1网格", "第2网格", "第3网格"], "households": [299, 400, 501]},
                            geometry=cells, crs=crs)


def _community() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["320102001001"], "name": ["上海社区"]},
                            geometry=[box(118.780, 32.040, 118.789, 32.043)], crs="EPSG:4490")


@pytest.mark.parametrize(("households", "status"), [(299, "below"), (300, "in_range"), (500, "in_range"),
                                                    (501, "above")])
def test_household_status_against_the_bounds(households: int, status: str) -> None:
    assert household_status(households, min_households=300, max_households=500) == status


def test_planner_map_counts_each_class_and_names_its_layers() -> None:
    m = planner_map(_grids(), _community(), Background(), min_households=300, max_households=500, title="测试")
    # No roads or water given: no background layer.
    assert layer_names(m) == ["网格户数 Households per grid (300–500 户)", "社区边界 Community outlines",
                              "标注 Labels"]
    page = render_html(m)
    assert "低于下限 below: 1" in page and "范围内 in range: 1" in page and "高于上限 above: 1" in page
    assert json.dumps("第2网格 400户")[1:-1] in page  # few grids: labels carry names (as JSON in the script)


def test_frames_not_in_lon_lat_are_refused_naming_the_crs() -> None:
    with pytest.raises(CRSMismatch, match="EPSG:3857"):
        planner_map(_grids().to_crs("EPSG:3857"), _community(), Background(), min_households=300,
                    max_households=500, title="x")


def test_coordinates_are_rounded_to_six_decimals() -> None:
    [geom] = compact([Point(118.123456789, 32.987654321)], simplify=0)
    assert (geom.x, geom.y) == (118.123457, 32.987654)


def test_a_track_is_cut_into_contiguous_time_steps_from_first_to_last_colour() -> None:
    start = dt.datetime(2024, 5, 6, 1, 0, tzinfo=dt.UTC)
    n = 50
    track = pd.DataFrame({"at": [start + dt.timedelta(minutes=i) for i in range(n)],
                          "lon": [118.78 + 1e-4 * i for i in range(n)], "lat": [32.04] * n})
    lines = _track_lines(track)
    assert [colour for _, colour, _ in lines] == list(TRACK_STEPS)
    for (a, _, _), (b, _, _) in zip(lines, lines[1:], strict=False):
        assert a[-1] == b[0]  # no gap between steps
    assert sum(len(latlngs) for latlngs, _, _ in lines) == n + len(lines) - 1
    assert lines[0][2].startswith("05-06 01:00") and lines[-1][2].endswith("05-06 01:49")


def test_heat_cells_sum_incidents_at_the_same_place() -> None:
    incidents = gpd.GeoDataFrame(geometry=[Point(118.78, 32.04)] * 3 + [Point(118.79, 32.05)], crs="EPSG:4490")
    assert sorted(_heat_cells(incidents)) == [[32.04, 118.78, 3.0], [32.05, 118.79, 1.0]]


@pytest.mark.parametrize("count", [CLUSTER_AT, CLUSTER_AT + 1])
def test_uncovered_buildings_are_clustered_past_the_threshold(count: int) -> None:
    points = [Point(118.78 + 1e-5 * i, 32.04) for i in range(count)]
    uncovered = gpd.GeoDataFrame({"households": [10] * count, "target_population": [3] * count,
                                  "distance_m": [450.0] * count}, geometry=points, crs="EPSG:4490")
    facilities = gpd.GeoDataFrame({"name": ["幼儿园"]}, geometry=[Point(118.785, 32.041)], crs="EPSG:4490")
    gaps = gpd.GeoDataFrame({"rank": [1], "households": [10 * count], "target_population": [3 * count],
                             "buildings": [count]}, geometry=[box(118.78, 32.039, 118.79, 32.041)], crs="EPSG:4490")
    m = facility_map(facilities=facilities, uncovered=uncovered, gaps=gaps, background=Background(),
                     type_label="幼儿园", radius_m=300, level="5min", title="x")
    page = render_html(m)
    assert ("L.markerClusterGroup" in page) == (count > CLUSTER_AT)
    assert page.count("wangge-uncovered") >= 1


def test_a_large_cases_map_stays_within_the_budget() -> None:
    """100,000 incidents over ~5 km: heat on a coarsened lattice, the newest MAX_INCIDENT_MARKERS as markers."""
    rng = np.random.default_rng(8)
    n = 100_000
    lon, lat = 118.76 + 0.05 * rng.random(n), 32.02 + 0.045 * rng.random(n)
    incidents = gpd.GeoDataFrame(
        {"id": np.arange(n), "category": "环境卫生", "status": "reported", "is_open": True,
         "reported_at": pd.Timestamp("2024-05-06", tz="UTC")},
        geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4490")
    tracks = pd.DataFrame({"patrol_id": [], "grid_code": [], "at": [], "lon": [], "lat": []})
    m = cases_map(incidents=incidents, tracks=tracks, background=Background(), title="x")
    page = render_html(m)
    assert len(page.encode()) < MAX_HTML_BYTES
    assert len(_heat_cells(incidents)) <= MAX_HEAT_CELLS
    assert f"Incident clusters ({MAX_INCIDENT_MARKERS})" in layer_names(m)[-1]
