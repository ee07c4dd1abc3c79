"""gis.crs: GCJ-02/BD-09 conversions, the storage CRS and metric CRS choice."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from pyproj import CRS, Geod
from shapely.geometry import Point, box

from gis import crs as gcrs
from gis.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    check_in_china,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs_for,
    metric_crs_for_frame,
    to_storage_crs,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.errors import CRSMismatch, InvalidInput

GEOD = Geod(ellps="WGS84")
NANJING = (118.78, 32.04)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def china_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(73.5, 135.0, 60), np.linspace(3.5, 53.5, 60))
    return lon.ravel(), lat.ravel()


@pytest.mark.parametrize(
    ("forward", "inverse"),
    [(wgs84_to_gcj02, gcj02_to_wgs84), (wgs84_to_bd09, bd09_to_wgs84), (gcj02_to_bd09, bd09_to_gcj02)],
    ids=["gcj02", "bd09", "gcj02-bd09"],
)
def test_inverse_round_trip_is_far_below_half_a_metre(china_grid, forward, inverse):
    lon, lat = china_grid
    back_lon, back_lat = inverse(*forward(lon, lat))
    error = metres(lon, lat, back_lon, back_lat)
    assert error.max() < 0.01  # the brief asks < 0.5 m; we reach sub-centimetre
    # and the forward of the inverse hits the target too (inverse applied to arbitrary input)
    f_lon, f_lat = forward(*inverse(lon, lat))
    assert metres(lon, lat, f_lon, f_lat).max() < 0.01


def test_gcj02_shift_in_nanjing_is_a_few_hundred_metres():
    g_lon, g_lat = wgs84_to_gcj02(*NANJING)
    assert 300 < float(metres(*NANJING, g_lon, g_lat)) < 700
    b_lon, b_lat = wgs84_to_bd09(*NANJING)
    assert 500 < float(metres(*NANJING, b_lon, b_lat)) < 2000


def test_known_reference_value():
    # Widely published value of the public formula (e.g. coordtransform): Beijing Tiananmen.
    lon, lat = wgs84_to_gcj02(116.391, 39.907)
    assert lon == pytest.approx(116.39724, abs=2e-5)
    assert lat == pytest.approx(39.90840, abs=2e-5)


@pytest.mark.parametrize("point", [(24.94, 60.17), (-74.0, 40.7), (2.35, 48.86), (151.2, -33.9)])
def test_points_outside_china_are_unchanged_by_gcj02(point):
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_scalars_give_floats_and_arrays_keep_shape():
    lon, lat = gcj02_to_wgs84(118.78, 32.04)
    assert isinstance(lon, float) and isinstance(lat, float)
    arr = np.full((2, 3), 118.78), np.full((2, 3), 32.04)
    out_lon, out_lat = bd09_to_wgs84(*arr)
    assert out_lon.shape == (2, 3) and out_lat.shape == (2, 3)
    nan_lon, _ = gcj02_to_wgs84(np.array([np.nan, 118.78]), np.array([np.nan, 32.04]))
    assert np.isnan(nan_lon[0]) and np.isfinite(nan_lon[1])
    with pytest.raises(InvalidInput, match="same shape"):
        gcj02_to_wgs84(np.zeros(2), np.zeros(3))


def test_metric_crs_for_nanjing_is_gk_cm_120e():
    assert metric_crs_for(118.78) == "EPSG:4549"
    assert CRS.from_epsg(4549).name == "CGCS2000 / 3-degree Gauss-Kruger CM 120E"


@pytest.mark.parametrize("cm", range(75, 136, 3))
def test_metric_crs_for_each_china_zone_has_its_central_meridian(cm):
    for lon in (cm - 1.4, cm, min(cm + 1.4, 136.0)):  # China's bbox ends at 136E
        code = metric_crs_for(lon, 30.0)
        assert CRS.from_user_input(code).name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"


def test_metric_crs_outside_china_falls_back_to_utm():
    assert metric_crs_for(24.94, 60.17) == "EPSG:32635"  # Helsinki
    assert metric_crs_for(24.94) == "EPSG:32635"
    assert metric_crs_for(151.2, -33.9) == "EPSG:32756"  # Sydney
    assert metric_crs_for(-74.0, 40.7) == "EPSG:32618"  # New York
    assert metric_crs_for(120.0, -8.0) == "EPSG:32751"  # in China's longitudes, not its latitudes
    with pytest.raises(InvalidInput, match="finite"):
        metric_crs_for(float("nan"))


def test_metric_crs_for_frame_uses_centre_of_bounds():
    nanjing = gpd.GeoDataFrame(geometry=[box(118.77, 32.03, 118.80, 32.05)], crs="EPSG:4490")
    assert metric_crs_for_frame(nanjing) == "EPSG:4549"
    assert metric_crs_for_frame(nanjing.to_crs("EPSG:4549")) == "EPSG:4549"
    helsinki = gpd.GeoDataFrame(geometry=[box(24.9, 60.1, 25.0, 60.2)], crs="EPSG:4326")
    assert metric_crs_for_frame(helsinki) == "EPSG:32635"
    with pytest.raises(InvalidInput, match="no geometries"):
        metric_crs_for_frame(gpd.GeoDataFrame(geometry=[], crs="EPSG:4490"))


def frame(geoms, crs="EPSG:4326") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [str(i) for i in range(len(geoms))]}, geometry=geoms, crs=crs)


def test_to_storage_crs_relabels_wgs84_and_cgcs2000():
    for crs in ("EPSG:4326", "EPSG:4490"):
        out = to_storage_crs(frame([box(118.77, 32.03, 118.78, 32.04)], crs), None, where="a.geojson")
        assert out.crs.to_epsg() == 4490
        assert out.geometry.iloc[0].equals(box(118.77, 32.03, 118.78, 32.04))


def test_to_storage_crs_transforms_projected():
    original = frame([box(118.77, 32.03, 118.78, 32.04)], "EPSG:4490")
    out = to_storage_crs(original.to_crs("EPSG:4549"), None, where="gk.gpkg")
    assert out.crs.to_epsg() == 4490
    assert out.geometry.iloc[0].normalize().equals_exact(original.geometry.iloc[0].normalize(), 1e-9)
    helsinki = frame([box(24.9, 60.1, 25.0, 60.2)]).to_crs("EPSG:3067")
    assert to_storage_crs(helsinki, None, where="fi.gpkg").total_bounds == pytest.approx([24.9, 60.1, 25.0, 60.2])


def test_source_crs_overrides_file_crs():
    gk = frame([box(118.77, 32.03, 118.78, 32.04)], "EPSG:4490").to_crs("EPSG:4549")
    mislabelled = gk.set_crs("EPSG:4326", allow_override=True)
    out = to_storage_crs(mislabelled, "EPSG:4549", where="x.geojson")
    assert out.total_bounds == pytest.approx([118.77, 32.03, 118.78, 32.04])


@pytest.mark.parametrize(("system", "forward"),
                         [("gcj02", wgs84_to_gcj02), ("BD09", wgs84_to_bd09), ("GCJ-02", wgs84_to_gcj02)])
def test_to_storage_crs_converts_obfuscated_lonlat(system, forward):
    lon, lat = NANJING
    shifted = Point(*forward(lon, lat))
    out = to_storage_crs(frame([shifted]).set_crs(None, allow_override=True), system, where="amap.geojson")
    assert out.crs.to_epsg() == 4490
    back = out.geometry.iloc[0]
    assert float(metres(lon, lat, back.x, back.y)) < 0.01


def assert_raises_naming(cls, name, keyword, func, *args, **kwargs):
    with pytest.raises(cls) as info:
        func(*args, **kwargs)
    text = str(info.value)
    assert name in text and keyword in text and "\n" not in text, text
    return text


def test_missing_crs_says_how_to_pass_one():
    # The error names the API's field, not a CLI flag: the CLI maps details["field"] to its own option.
    with pytest.raises(CRSMismatch) as info:
        to_storage_crs(frame([box(118.7, 32.0, 118.8, 32.1)], None), None, where="nocrs.shp")
    assert "nocrs.shp" in str(info.value) and "source_crs" in str(info.value) and "--" not in str(info.value)
    assert info.value.details["field"] == "source_crs"


def test_lat_lon_swapped():
    swapped = frame([box(32.03, 118.77, 32.04, 118.78)])
    assert_raises_naming(CRSMismatch, "swap.geojson", "swapped", to_storage_crs, swapped, None, where="swap.geojson")
    # even when both would be "in range", a China CRS makes the swap detectable
    swapped_4490 = frame([box(32.03, 80.0, 32.04, 80.1)], "EPSG:4490")
    assert_raises_naming(CRSMismatch, "swap.gpkg", "swapped", to_storage_crs, swapped_4490, None, where="swap.gpkg")
    # ... but Svalbard in WGS84 is not taken for swapped Chinese data
    svalbard = frame([box(15.0, 78.0, 16.0, 78.5)])
    assert to_storage_crs(svalbard, None, where="svalbard.geojson").crs.to_epsg() == 4490


def test_geographic_out_of_range_hints_projected():
    metres_as_degrees = frame([box(40_500_000, 3_545_000, 40_500_100, 3_545_100)])
    text = assert_raises_naming(
        CRSMismatch, "proj.geojson", "out of range", to_storage_crs, metres_as_degrees, None, where="proj.geojson"
    )
    assert "projected" in text


def test_outside_china_for_china_crs():
    helsinki = frame([box(24.9, 60.1, 25.0, 60.2)], "EPSG:4490")
    assert_raises_naming(CRSMismatch, "fi.gpkg", "outside China", to_storage_crs, helsinki, None, where="fi.gpkg")
    helsinki_gk = frame([box(24.9, 60.1, 25.0, 60.2)], "EPSG:4490").to_crs("EPSG:4549")
    text = assert_raises_naming(
        CRSMismatch, "fi_gk.gpkg", "outside China", to_storage_crs, helsinki_gk, None, where="fi_gk.gpkg"
    )
    assert "EPSG:4549" in text
    # Helsinki in WGS84 is fine: only China CRSs promise Chinese data.
    assert to_storage_crs(frame([box(24.9, 60.1, 25.0, 60.2)]), None, where="fi.geojson").crs.to_epsg() == 4490


def test_check_in_china_names_where_and_row():
    mixed = frame([box(118.7, 32.0, 118.8, 32.1), box(24.9, 60.1, 25.0, 60.2)], "EPSG:4490")
    text = assert_raises_naming(CRSMismatch, "grids.shp", "outside China", check_in_china, mixed, where="grids.shp")
    assert "row 2" in text
    check_in_china(mixed.iloc[:1], where="grids.shp")


def test_degrees_labelled_projected():
    lonlat_as_gk = frame([box(118.77, 32.03, 118.78, 32.04)], "EPSG:4549")
    assert_raises_naming(CRSMismatch, "gk.gpkg", "degrees", to_storage_crs, lonlat_as_gk, None, where="gk.gpkg")


def test_obfuscated_system_needs_lonlat_file():
    gk = frame([box(118.77, 32.03, 118.78, 32.04)], "EPSG:4490").to_crs("EPSG:4549")
    assert_raises_naming(CRSMismatch, "gk.gpkg", "gcj02", to_storage_crs, gk, "gcj02", where="gk.gpkg")
    outside = frame([box(24.9, 60.1, 25.0, 60.2)], None)
    assert_raises_naming(CRSMismatch, "amap.csv", "outside China", to_storage_crs, outside, "gcj02", where="amap.csv")


def test_unknown_source_crs():
    assert_raises_naming(
        CRSMismatch, "x.geojson", "not a CRS", to_storage_crs, frame([Point(118.7, 32.0)]), "EPSG:99999999",
        where="x.geojson",
    )


def test_empty_frame_passes_through():
    out = to_storage_crs(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"), None, where="empty")
    assert len(out) == 0 and out.crs.to_epsg() == 4490


def test_constants_match_pyproj():
    assert gcrs.is_china_crs("EPSG:4549") and gcrs.is_china_crs("EPSG:4490")
    assert not gcrs.is_china_crs("EPSG:4326") and not gcrs.is_china_crs(None)
