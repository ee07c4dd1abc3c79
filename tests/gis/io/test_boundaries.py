"""gis.io.boundaries: reading, validating and writing street/community/grid boundary files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import MultiPolygon, Polygon, box, mapping

from gis import errors
from gis.crs import wgs84_to_bd09, wgs84_to_gcj02
from gis.errors import CRSMismatch, InvalidInput, WanggeError
from gis.io.boundaries import BoundaryFile, read_boundaries, write_boundaries

DATA = Path(__file__).resolve().parents[2] / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"
ENCODINGS = DATA / "encodings"

with (BAD / "manifest.csv").open(encoding="utf-8") as _fh:
    MANIFEST = list(csv.DictReader(_fh))
BAD_CASES = [row for row in MANIFEST if row["error"] != "-"]
DB_ONLY = [row for row in MANIFEST if row["error"] == "-"]


def test_corpus_is_complete():
    assert len(BAD_CASES) >= 22
    for row in MANIFEST:
        assert (BAD / row["file"]).exists(), row["file"]
        assert f"`{row['file']}`" in (BAD / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", BAD_CASES, ids=[row["file"] for row in BAD_CASES])
def test_bad_file_raises_one_clear_line(case):
    with pytest.raises(WanggeError) as info:
        read_boundaries(BAD / case["file"], level=case["level"])
    error = info.value
    text = str(error)
    assert type(error).__name__ == case["error"], text
    assert isinstance(error, getattr(errors, case["error"]))
    assert "\n" not in text and "Traceback" not in text
    assert case["file"] in text, text
    assert case["keyword"] in text, text
    assert isinstance(error.details, dict) and "file" in error.details


def test_db_only_case_reads_cleanly():
    (case,) = DB_ONLY
    grid = read_boundaries(BAD / case["file"], level="grid").frame
    community = read_boundaries(GOOD / "community_one.geojson", level="community").frame
    assert grid["parent_code"].iloc[0] == community["code"].iloc[0]
    assert not grid.geometry.iloc[0].intersects(community.geometry.iloc[0])


def test_row_problems_all_listed_in_details(tmp_path):
    bowtie = Polygon([(118.77, 32.04), (118.78, 32.05), (118.78, 32.04), (118.77, 32.05)])
    features = [
        {"type": "Feature", "properties": {"code": "320102001001001"},
         "geometry": mapping(box(118.77, 32.04, 118.78, 32.05))},
        {"type": "Feature", "properties": {"code": "320102001001001"},
         "geometry": mapping(box(118.78, 32.04, 118.79, 32.05))},
        {"type": "Feature", "properties": {"code": "32010200100"},
         "geometry": mapping(box(118.77, 32.03, 118.78, 32.04))},
        {"type": "Feature", "properties": {"code": "320102001001004"}, "geometry": mapping(bowtie)},
    ]
    path = tmp_path / "many.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    with pytest.raises(InvalidInput) as info:
        read_boundaries(path, level="grid")
    text = str(info.value)
    assert text.startswith("many.geojson: row 2 (code 320102001001001): duplicate code") and "2 more problems" in text
    problems = info.value.details["problems"]
    assert [(p["row"], p["error"]) for p in problems] == [
        (2, "InvalidInput"), (3, "InvalidInput"), (4, "InvalidGeometry")]
    assert "Self-intersection" in problems[2]["problem"]


@pytest.mark.parametrize(
    ("name", "level", "codes", "parents"),
    [
        ("street_one.geojson", "street", ["320102001"], ["320102"]),
        ("communities_two.geojson", "community", ["320102001001", "320102001002"], ["320102001", "320102001"]),
        ("community_one.geojson", "community", ["320102001001"], ["320102001"]),
        ("grids.geojson", "grid", None, None),
        ("grids_gk_cm120.gpkg", "grid", None, None),
        ("grids_shp.zip", "grid", None, None),
    ],
)
def test_good_files(name, level, codes, parents):
    result = read_boundaries(GOOD / name, level=level)
    assert isinstance(result, BoundaryFile)
    frame = result.frame
    assert frame.crs.to_epsg() == 4490
    assert list(frame.columns[:4]) == ["code", "name", "parent_code", "attrs"]
    assert set(frame.geom_type) == {"MultiPolygon"}
    assert frame.is_valid.all()
    assert all(isinstance(n, str) and n for n in frame["name"])
    assert result.warnings == []
    minx, miny, maxx, maxy = frame.total_bounds
    assert 118.769 < minx and maxx < 118.801 and 32.029 < miny and maxy < 32.051
    if codes is not None:
        assert list(frame["code"]) == codes and list(frame["parent_code"]) == parents
    else:
        assert len(frame) == 6 and frame["name"].iloc[0] == "红山第一网格"
        assert all(c.startswith(p) for c, p in zip(frame["code"], frame["parent_code"], strict=True))


def test_gk_gpkg_matches_geojson_grids():
    gk = read_boundaries(GOOD / "grids_gk_cm120.gpkg", level="grid")
    ref = read_boundaries(GOOD / "grids.geojson", level="grid").frame
    assert gk.source_crs == "EPSG:4549"
    for a, b in zip(gk.frame.geometry, ref.geometry, strict=True):
        assert a.normalize().equals_exact(b.normalize(), 1e-8)


def test_gbk_shapefile_without_cpg_is_detected(tmp_path):
    names = ["红山第一网格", "锁金村社区第二网格"]
    gdf = gpd.GeoDataFrame(
        {"网格编码": ["320102001001001", "320102001002002"], "网格名称": names},
        geometry=[box(118.77, 32.04, 118.78, 32.05), box(118.78, 32.04, 118.79, 32.05)],
        crs="EPSG:4490",
    )
    path = tmp_path / "gbk.shp"
    pyogrio.write_dataframe(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    assert not path.with_suffix(".cpg").exists()
    result = read_boundaries(path, level="grid")
    assert result.encoding == "GB18030"
    assert list(result.frame["name"]) == names
    assert list(result.frame["code"]) == ["320102001001001", "320102001002002"]
    assert any("GB18030" in w for w in result.warnings)


def test_committed_encoding_fixtures():
    no_cpg = read_boundaries(ENCODINGS / "gbk_no_cpg.shp", level="grid")
    assert no_cpg.encoding == "GB18030" and no_cpg.frame["name"].iloc[4] == "锁金村第一网格"
    with_cpg = read_boundaries(ENCODINGS / "gbk_with_cpg.shp", level="grid")
    assert with_cpg.encoding == "GB18030" and with_cpg.frame["name"].iloc[0] == "红山第一网格"
    gbk_csv = read_boundaries(ENCODINGS / "gbk.csv", level="grid")
    assert gbk_csv.encoding == "GB18030" and gbk_csv.frame["name"].iloc[1] == "红山第二网格"


def test_wrong_cpg_can_be_overridden_with_encoding():
    result = read_boundaries(BAD / "gbk_wrong_cpg.shp", level="grid", encoding="GB18030")
    assert list(result.frame["name"]) == ["红山第一网格", "红山第二网格"]
    with pytest.raises(InvalidInput, match="row 1, field 'name'"):
        read_boundaries(BAD / "gbk_wrong_cpg.shp", level="grid")


def test_csv_without_crs_is_assumed_cgcs2000_with_warning(tmp_path):
    path = tmp_path / "grids.csv"
    path.write_text(f'wkt,code,name\n"{box(118.77, 32.04, 118.78, 32.05).wkt}",320102001001001,红山第一网格\n',
                    encoding="utf-8")
    result = read_boundaries(path, level="grid")
    assert result.source_crs == "EPSG:4490"
    assert any("assumed EPSG:4490" in w for w in result.warnings)
    assert result.frame["code"].iloc[0] == "320102001001001"


def test_numeric_code_field_is_converted_with_warning(tmp_path):
    path = tmp_path / "numeric.geojson"
    features = [{"type": "Feature", "properties": {"wgbm": 320102001001001, "网格名称": "红山第一网格"},
                 "geometry": mapping(box(118.77, 32.04, 118.78, 32.05))}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    result = read_boundaries(path, level="grid")
    assert result.frame["code"].iloc[0] == "320102001001001"
    assert result.frame["name"].iloc[0] == "红山第一网格"
    assert any("numeric" in w for w in result.warnings)


def test_explicit_fields_and_other_attributes_kept(tmp_path):
    path = tmp_path / "fields.geojson"
    features = [{"type": "Feature",
                 "properties": {"BM": "320102001001001", "MC": "红山第一网格", "网格员": "张三", "户数": 312},
                 "geometry": mapping(box(118.77, 32.04, 118.78, 32.05))}]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    result = read_boundaries(path, level="grid", code_field="BM", name_field="MC")
    row = result.frame.iloc[0]
    assert (row["code"], row["name"]) == ("320102001001001", "红山第一网格")
    assert row["attrs"] == {"网格员": "张三", "户数": 312}
    with pytest.raises(InvalidInput, match="code_field 'nope' is not a field"):
        read_boundaries(path, level="grid", code_field="nope")


def test_source_crs_fixes_mislabelled_projected_file():
    result = read_boundaries(BAD / "projected_labelled_4326.geojson", level="grid", source_crs="EPSG:4549")
    ref = read_boundaries(GOOD / "grids.geojson", level="grid").frame.iloc[:2]
    assert result.source_crs == "EPSG:4549"
    for a, b in zip(result.frame.geometry, ref.geometry, strict=True):
        assert a.normalize().equals_exact(b.normalize(), 1e-8)


def test_missing_prj_with_source_crs_reads():
    result = read_boundaries(BAD / "missing_prj.shp", level="grid", source_crs="EPSG:4490")
    assert len(result.frame) == 2 and result.source_crs == "EPSG:4490"


@pytest.mark.parametrize(("system", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_obfuscated_input_lands_within_half_a_metre(tmp_path, system, forward):
    # A grid square known in WGS84 (Xuanwu Lake area), published by AMap/Baidu in their offsets.
    truth = box(118.785, 32.065, 118.790, 32.070)
    xs, ys = np.asarray(truth.exterior.coords).T
    gx, gy = forward(xs, ys)
    shifted = Polygon(np.column_stack([gx, gy]))
    path = tmp_path / f"{system}.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": "320102002001001", "name": "玄武湖网格"},
             "geometry": mapping(shifted)}
        ]}, ensure_ascii=False),
        encoding="utf-8",
    )
    result = read_boundaries(path, level="grid", source_crs=system.upper())
    assert result.source_crs == system
    back = np.asarray(result.frame.geometry.iloc[0].geoms[0].exterior.coords)
    error = Geod(ellps="WGS84").inv(xs, ys, back[:, 0], back[:, 1])[2]
    assert max(error) < 0.5
    shift = Geod(ellps="WGS84").inv(xs, ys, gx, gy)[2]
    assert min(shift) > 100  # the offset was real and has been removed


@pytest.fixture
def rich_frame() -> gpd.GeoDataFrame:
    """Grids plus a multipolygon with a hole, with attributes, as stored."""
    frame = read_boundaries(GOOD / "grids.geojson", level="grid").frame.iloc[:3].copy()
    outer = box(118.7851, 32.0301, 118.7999, 32.0399)
    holed = Polygon(outer.exterior.coords, [box(118.79, 32.033, 118.792, 32.035).exterior.coords])
    extra = gpd.GeoDataFrame(
        {"code": ["320102001002001"], "name": ["锁金村第一网格"], "parent_code": ["320102001002"],
         "attrs": [{"网格员": "李四", "户数": 405}]},
        geometry=[MultiPolygon([holed, box(118.7852, 32.0402, 118.786, 32.041)])],
        crs="EPSG:4490",
    )
    frame["attrs"] = [{"户数": 300 + i} for i in range(len(frame))]
    return gpd.GeoDataFrame(
        pd.concat([frame, extra], ignore_index=True), geometry="geometry", crs="EPSG:4490"
    )


@pytest.mark.parametrize(("fmt", "suffix"),
                         [("geojson", ".geojson"), ("gpkg", ".gpkg"), ("shp", ".shp"), ("csv", ".csv")])
def test_export_reimports_to_same_geometries(tmp_path, rich_frame, fmt, suffix):
    path = write_boundaries(rich_frame, tmp_path / f"out{suffix}", format=fmt)
    if fmt == "shp":
        assert path.with_suffix(".cpg").read_text().strip() == "UTF-8"
    result = read_boundaries(path, level="grid")
    back = result.frame
    assert back.crs.to_epsg() == 4490
    assert list(back["code"]) == list(rich_frame["code"])
    assert list(back["name"]) == list(rich_frame["name"])
    assert list(back["parent_code"]) == list(rich_frame["parent_code"])
    for a, b in zip(back.geometry, rich_frame.geometry, strict=True):
        assert a.normalize().equals_exact(b.normalize(), 1e-9)
    if fmt != "shp":
        assert list(back["attrs"]) == list(rich_frame["attrs"])
    # writing again replaces the file instead of appending
    write_boundaries(rich_frame, path, format=fmt)
    assert len(read_boundaries(path, level="grid").frame) == len(rich_frame)


def test_write_rejects_bad_arguments(tmp_path, rich_frame):
    with pytest.raises(InvalidInput, match="format must be one of"):
        write_boundaries(rich_frame, tmp_path / "x.kml", format="kml")
    with pytest.raises(CRSMismatch, match="no CRS"):
        write_boundaries(rich_frame.set_crs(None, allow_override=True), tmp_path / "x.geojson", format="geojson")
    with pytest.raises(InvalidInput, match="lacks column"):
        write_boundaries(rich_frame.drop(columns="code"), tmp_path / "x.geojson", format="geojson")


def test_z_coordinates_are_dropped_with_warning(tmp_path):
    ring = [(118.77, 32.04, 10.0), (118.78, 32.04, 10.0), (118.78, 32.05, 10.0), (118.77, 32.04, 10.0)]
    path = tmp_path / "z.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "320102001001001"}, "geometry": mapping(Polygon(ring))}]}))
    result = read_boundaries(path, level="grid")
    assert not shapely.has_z(result.frame.geometry.iloc[0])
    assert any("Z coordinates" in w for w in result.warnings)


def test_missing_file_and_bad_level(tmp_path):
    with pytest.raises(InvalidInput, match="nope.geojson: file not found"):
        read_boundaries(tmp_path / "nope.geojson", level="grid")
    with pytest.raises(InvalidInput, match="level must be one of"):
        read_boundaries(GOOD / "grids.geojson", level="district")


def test_module_is_pure():
    code = (
        "import sys, gis.io.boundaries, gis.crs; "
        "bad = [m for m in ('sqlalchemy', 'geoalchemy2', 'fastapi', 'typer', 'folium', "
        "'gis.db', 'gis.cli', 'api', 'web') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
