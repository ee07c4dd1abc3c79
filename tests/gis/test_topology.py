"""Tiling checks on hand-made geometries in Nanjing (lon/lat, EPSG:4490); no database."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from pyproj import Geod

from gis.errors import CRSMismatch, InvalidInput
from gis.topology import FINDING_KINDS, Finding, check_tiling, findings_to_geojson

# A community of about 377 m x 333 m, split into four grids at 118.782E and 32.0415N.
COMMUNITY = "POLYGON ((118.780 32.040, 118.784 32.040, 118.784 32.043, 118.780 32.043, 118.780 32.040))"
NW = "POLYGON ((118.780 32.0415, 118.782 32.0415, 118.782 32.043, 118.780 32.043, 118.780 32.0415))"
NE = "POLYGON ((118.782 32.0415, 118.784 32.0415, 118.784 32.043, 118.782 32.043, 118.782 32.0415))"
SW = "POLYGON ((118.780 32.040, 118.782 32.040, 118.782 32.0415, 118.780 32.0415, 118.780 32.040))"
SE = "POLYGON ((118.782 32.040, 118.784 32.040, 118.784 32.0415, 118.782 32.0415, 118.782 32.040))"

COMMUNITY_CODE = "320102001001"
GRID_CODES = [f"{COMMUNITY_CODE}{n:03d}" for n in (1, 2, 3, 4)]

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid, to within millimetres


def geodesic_area(wkt: str) -> float:
    """Independent reference area (m²) on the ellipsoid."""
    return abs(GEOD.geometry_area_perimeter(shapely.from_wkt(wkt))[0])


def parents(*rows: tuple[str, str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": [c for c, _ in rows]}, geometry=[shapely.from_wkt(w) for _, w in rows], crs="EPSG:4490"
    )


def grids(wkts: list[str], *, codes: list[str] | None = None, parent_code: str = COMMUNITY_CODE) -> gpd.GeoDataFrame:
    codes = codes or [f"{parent_code}{n:03d}" for n in range(1, len(wkts) + 1)]
    return gpd.GeoDataFrame(
        {"code": codes, "parent_code": [parent_code] * len(wkts)},
        geometry=[shapely.from_wkt(w) for w in wkts],
        crs="EPSG:4490",
    )


def community() -> gpd.GeoDataFrame:
    return parents((COMMUNITY_CODE, COMMUNITY))


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def test_clean_tiling_has_no_findings():
    assert check_tiling(grids([NW, NE, SW, SE]), community(), child_level="grid") == []


def test_overlap_names_both_grids_and_its_area():
    # NW reaches 0.0002° (~19 m) into NE.
    nw_wide = "POLYGON ((118.780 32.0415, 118.7822 32.0415, 118.7822 32.043, 118.780 32.043, 118.780 32.0415))"
    overlap = "POLYGON ((118.782 32.0415, 118.7822 32.0415, 118.7822 32.043, 118.782 32.043, 118.782 32.0415))"
    findings = check_tiling(grids([nw_wide, NE, SW, SE]), community(), child_level="grid")
    assert [f.kind for f in findings] == ["overlap"]
    f = findings[0]
    assert f.units == (GRID_CODES[0], GRID_CODES[1])
    assert f.parent_code == COMMUNITY_CODE
    assert f.area_m2 == pytest.approx(geodesic_area(overlap), rel=0.01)
    assert f.location.geom_type == "Polygon"
    assert f.location.representative_point().within(shapely.from_wkt(overlap).buffer(1e-6))
    assert f.message.startswith(f"grids {GRID_CODES[0]} and {GRID_CODES[1]} overlap by ")
    assert "m² near 118.78" in f.message and ", 32.04" in f.message


def test_gap_is_one_finding_with_its_area():
    # SE stops 0.0003° short of the community's east edge: a 28 m x 166 m strip is uncovered.
    se_short = "POLYGON ((118.782 32.040, 118.7837 32.040, 118.7837 32.0415, 118.782 32.0415, 118.782 32.040))"
    gap = "POLYGON ((118.7837 32.040, 118.784 32.040, 118.784 32.0415, 118.7837 32.0415, 118.7837 32.040))"
    findings = check_tiling(grids([NW, NE, SW, se_short]), community(), child_level="grid")
    assert [f.kind for f in findings] == ["gap"]
    f = findings[0]
    assert f.area_m2 == pytest.approx(geodesic_area(gap), rel=0.01)
    assert set(f.units) == {GRID_CODES[1], GRID_CODES[3]}  # the grids next to the gap
    assert f.message.startswith("gap of ") and COMMUNITY_CODE in f.message


def test_two_gaps_are_two_findings():
    hole_a = "POLYGON ((118.7805 32.0420, 118.7810 32.0420, 118.7810 32.0425, 118.7805 32.0425, 118.7805 32.0420))"
    hole_b = "POLYGON ((118.7825 32.0405, 118.7830 32.0405, 118.7830 32.0410, 118.7825 32.0410, 118.7825 32.0405))"
    nw = shapely.from_wkt(NW).difference(shapely.from_wkt(hole_a)).wkt
    se = shapely.from_wkt(SE).difference(shapely.from_wkt(hole_b)).wkt
    findings = check_tiling(grids([nw, NE, SW, se]), community(), child_level="grid")
    gaps = of_kind(findings, "gap")
    assert len(gaps) == 2 and len(findings) == 2
    assert sorted(f.area_m2 for f in gaps) == pytest.approx(
        sorted([geodesic_area(hole_a), geodesic_area(hole_b)]), rel=0.01
    )


def test_grid_sticking_out_of_its_community():
    # NE reaches 0.0005° (~47 m) east of the community.
    ne_out = "POLYGON ((118.782 32.0415, 118.7845 32.0415, 118.7845 32.043, 118.782 32.043, 118.782 32.0415))"
    stray = "POLYGON ((118.784 32.0415, 118.7845 32.0415, 118.7845 32.043, 118.784 32.043, 118.784 32.0415))"
    findings = check_tiling(grids([NW, ne_out, SW, SE]), community(), child_level="grid")
    assert [f.kind for f in findings] == ["outside_parent"]
    f = findings[0]
    assert f.units == (GRID_CODES[1],)
    assert f.area_m2 == pytest.approx(geodesic_area(stray), rel=0.01)
    assert f"grid {GRID_CODES[1]} sticks out of community {COMMUNITY_CODE}" in f.message


def test_multipart_grid():
    # Three vertical strips; grid 001 is the west and the east strip.
    west = "POLYGON ((118.780 32.040, 118.7813 32.040, 118.7813 32.043, 118.780 32.043, 118.780 32.040))"
    middle = "POLYGON ((118.7813 32.040, 118.7827 32.040, 118.7827 32.043, 118.7813 32.043, 118.7813 32.040))"
    east = "POLYGON ((118.7827 32.040, 118.784 32.040, 118.784 32.043, 118.7827 32.043, 118.7827 32.040))"
    both = shapely.MultiPolygon([shapely.from_wkt(west), shapely.from_wkt(east)]).wkt
    findings = check_tiling(grids([both, middle]), community(), child_level="grid")
    assert [f.kind for f in findings] == ["multipart"]
    f = findings[0]
    assert f.units == (GRID_CODES[0],)
    assert f.area_m2 == pytest.approx(geodesic_area(west), rel=0.01)  # the detached (smaller) strip
    assert "2 separate parts" in f.message


def test_invalid_bow_tie_grid():
    bow_tie = "POLYGON ((118.782 32.040, 118.784 32.0415, 118.784 32.040, 118.782 32.0415, 118.782 32.040))"
    findings = check_tiling(grids([NW, NE, SW, bow_tie]), community(), child_level="grid")
    invalid = of_kind(findings, "invalid")
    assert len(invalid) == 1
    f = invalid[0]
    assert f.units == (GRID_CODES[3],)
    assert "Self-intersection" in f.message
    # The location is the crossing point, in lon/lat.
    assert f.location.x == pytest.approx(118.783, abs=1e-6) and f.location.y == pytest.approx(32.04075, abs=1e-6)
    # The repaired bow-tie leaves the rest of the quadrant uncovered, reported as gaps; not as multipart.
    assert of_kind(findings, "gap") and not of_kind(findings, "multipart")


def test_household_bounds_exempt_dedicated_grids():
    frame = grids([NW, NE, SW, SE])
    households = pd.Series([250, 400, 600, 80], index=frame.index)
    dedicated = pd.Series([False, False, False, True], index=frame.index)  # 004 is a school campus
    findings = check_tiling(
        frame, community(), child_level="grid", households=households,
        min_households=300, max_households=500, dedicated=dedicated,
    )
    assert [(f.kind, f.units) for f in findings] == [
        ("households_below", (GRID_CODES[0],)),
        ("households_above", (GRID_CODES[2],)),
    ]
    assert findings[0].message.startswith(f"grid {GRID_CODES[0]} has 250 households, below the minimum of 300")
    assert findings[0].area_m2 is None and findings[0].location.geom_type == "Point"


def test_household_series_indexed_by_code():
    frame = grids([NW, NE, SW, SE])
    households = pd.Series({GRID_CODES[0]: 350, GRID_CODES[1]: 350, GRID_CODES[2]: 350, GRID_CODES[3]: 501})
    findings = check_tiling(frame, community(), child_level="grid", households=households, max_households=500)
    assert [(f.kind, f.units) for f in findings] == [("households_above", (GRID_CODES[3],))]


def test_orphan_and_empty_parent():
    other = "320102001002"
    frame = grids([NW, NE, SW, SE])
    frame.loc[3, "parent_code"] = "320102001099"
    parent = parents((COMMUNITY_CODE, COMMUNITY), (other, "POLYGON ((118.784 32.040, 118.786 32.040, "
                                                          "118.786 32.043, 118.784 32.043, 118.784 32.040))"))
    findings = check_tiling(frame, parent, child_level="grid")
    kinds = {f.kind: f for f in findings}
    assert set(kinds) == {"orphan", "empty_parent", "gap"}
    assert kinds["orphan"].units == (GRID_CODES[3],) and kinds["orphan"].parent_code == "320102001099"
    assert kinds["empty_parent"].units == (other,)
    assert "has no grids" in kinds["empty_parent"].message
    assert kinds["gap"].area_m2 == pytest.approx(geodesic_area(SE), rel=0.01)  # the orphan's place is a gap


def test_communities_within_streets():
    street = "320102001"
    west = "POLYGON ((118.780 32.040, 118.782 32.040, 118.782 32.043, 118.780 32.043, 118.780 32.040))"
    east = "POLYGON ((118.7819 32.040, 118.784 32.040, 118.784 32.043, 118.7819 32.043, 118.7819 32.040))"
    frame = grids([west, east], codes=["320102001001", "320102001002"], parent_code=street)
    findings = check_tiling(frame, parents((street, COMMUNITY)), child_level="community")
    assert [f.kind for f in findings] == ["overlap"]
    assert findings[0].message.startswith("communities 320102001001 and 320102001002 overlap by ")


def test_slivers_below_tolerance_are_ignored():
    # A 1e-9° (0.1 mm) overlap along a 166 m edge: about 0.02 m².
    nw_hair = (
        "POLYGON ((118.780 32.0415, 118.782000001 32.0415, 118.782000001 32.043, 118.780 32.043, 118.780 32.0415))"
    )
    assert check_tiling(grids([nw_hair, NE, SW, SE]), community(), child_level="grid") == []
    findings = check_tiling(grids([nw_hair, NE, SW, SE]), community(), child_level="grid", tolerance_m2=0.0)
    assert [f.kind for f in findings] == ["overlap"]


def test_findings_to_geojson_is_lonlat_feature_collection():
    nw_wide = "POLYGON ((118.780 32.0415, 118.7822 32.0415, 118.7822 32.043, 118.780 32.043, 118.780 32.0415))"
    frame = grids([nw_wide, NE, SW, SE])
    households = pd.Series([100, 400, 400, 400], index=frame.index)
    findings = check_tiling(frame, community(), child_level="grid", households=households, min_households=300)
    doc = findings_to_geojson(findings)
    json.dumps(doc)  # serialisable as is
    assert doc["type"] == "FeatureCollection" and len(doc["features"]) == 2
    props = [f["properties"] for f in doc["features"]]
    assert {p["kind"] for p in props} == {"overlap", "households_below"}
    assert set(props[0]) == {"kind", "units", "parent_code", "area_m2", "message"}
    for feature in doc["features"]:
        x, y = shapely.geometry.shape(feature["geometry"]).representative_point().coords[0]
        assert 118.77 < x < 118.79 and 32.03 < y < 32.05
    assert all(f.kind in FINDING_KINDS for f in findings)


def test_crs_mismatch_names_both():
    metric = grids([NW, NE, SW, SE]).to_crs("EPSG:4549")
    with pytest.raises(CRSMismatch, match="EPSG:4549"):
        check_tiling(metric, community(), child_level="grid")


def test_missing_column_is_invalid_input():
    with pytest.raises(InvalidInput, match="parent_code"):
        check_tiling(grids([NW]).drop(columns="parent_code"), community(), child_level="grid")


def test_many_grids_use_spatial_index():
    # A 20 x 20 tiling of the community is clean; shifting one grid makes overlaps with its neighbours only.
    xs, ys = np.linspace(118.780, 118.784, 21), np.linspace(32.040, 32.043, 21)
    boxes = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for j in range(20) for i in range(20)]
    frame = grids([b.wkt for b in boxes])
    assert check_tiling(frame, community(), child_level="grid") == []
    shifted = frame.copy()
    shifted.loc[210, "geometry"] = shapely.affinity.translate(boxes[210], xoff=0.00005)  # ~5 m east
    overlaps = of_kind(check_tiling(shifted, community(), child_level="grid"), "overlap")
    assert [f.units for f in overlaps] == [(frame.loc[210, "code"], frame.loc[211, "code"])]
