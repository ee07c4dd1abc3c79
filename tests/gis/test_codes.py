"""Unit codes: reading order, retired codes, exhaustion; no database."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import shapely.affinity

from gis.codes import assign_codes, reading_order
from gis.errors import Conflict, Infeasible, InvalidInput

COMMUNITY = "320102001001"
STREET = "320102001"

# A 3 x 3 arrangement of ~95 m x 110 m grids near Nanjing Xinjiekou, listed in a scrambled order.
# Each WKT is named by its (row from north, column from west).
CELLS = {
    (0, 0): "POLYGON ((118.7800 32.0430, 118.7810 32.0430, 118.7810 32.0440, 118.7800 32.0440, 118.7800 32.0430))",
    (0, 1): "POLYGON ((118.7810 32.0430, 118.7820 32.0430, 118.7820 32.0440, 118.7810 32.0440, 118.7810 32.0430))",
    (0, 2): "POLYGON ((118.7820 32.0430, 118.7830 32.0430, 118.7830 32.0440, 118.7820 32.0440, 118.7820 32.0430))",
    (1, 0): "POLYGON ((118.7800 32.0420, 118.7810 32.0420, 118.7810 32.0430, 118.7800 32.0430, 118.7800 32.0420))",
    (1, 1): "POLYGON ((118.7810 32.0420, 118.7820 32.0420, 118.7820 32.0430, 118.7810 32.0430, 118.7810 32.0420))",
    (1, 2): "POLYGON ((118.7820 32.0420, 118.7830 32.0420, 118.7830 32.0430, 118.7820 32.0430, 118.7820 32.0420))",
    (2, 0): "POLYGON ((118.7800 32.0410, 118.7810 32.0410, 118.7810 32.0420, 118.7800 32.0420, 118.7800 32.0410))",
    (2, 1): "POLYGON ((118.7810 32.0410, 118.7820 32.0410, 118.7820 32.0420, 118.7810 32.0420, 118.7810 32.0410))",
    (2, 2): "POLYGON ((118.7820 32.0410, 118.7830 32.0410, 118.7830 32.0420, 118.7820 32.0420, 118.7820 32.0410))",
}
SCRAMBLED = [(2, 1), (0, 2), (1, 0), (2, 2), (0, 0), (1, 2), (2, 0), (0, 1), (1, 1)]


def units(keys=SCRAMBLED, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        dict(columns),
        geometry=[shapely.from_wkt(CELLS[k]) for k in keys],
        index=[f"{r}{c}" for r, c in keys],
        crs="EPSG:4490",
    )


def expected_reading_order(keys) -> list[str]:
    return [f"{r}{c}" for r, c in sorted(keys)]


def test_three_by_three_numbered_north_row_first_west_to_east():
    frame = units()
    codes = assign_codes(frame, parent_code=COMMUNITY)
    assert list(codes.index) == list(frame.index)  # indexed like the input
    by_code = codes.sort_values()
    assert list(by_code.index) == expected_reading_order(SCRAMBLED)
    assert list(by_code) == [f"{COMMUNITY}{n:03d}" for n in range(1, 10)]
    assert codes["00"] == "320102001001001" and codes["02"] == "320102001001003" and codes["20"] == "320102001001007"


def test_rows_survive_irregular_shapes():
    # Rows whose grids sit up to 40% of a grid height apart (north-east of a row lower than its
    # west), and an L-shaped grid in the middle row: the rows are still read north to south.
    jitter = {(0, 0): 0.0002, (0, 1): -0.0002, (0, 2): 0.0001, (1, 0): -0.0002, (1, 2): 0.0002,
              (2, 0): 0.0002, (2, 1): -0.0002, (2, 2): 0.0}
    geoms, labels = [], []
    for key in SCRAMBLED:
        g = shapely.from_wkt(CELLS[key])
        if key == (1, 1):
            g = g.difference(shapely.box(118.7815, 32.0425, 118.7820, 32.0430))  # L-shape
        else:
            g = shapely.affinity.translate(g, yoff=jitter[key])
        geoms.append(g)
        labels.append(f"{key[0]}{key[1]}")
    frame = gpd.GeoDataFrame(geometry=geoms, index=labels, crs="EPSG:4490")
    assert reading_order(frame.geometry) == expected_reading_order(SCRAMBLED)


def test_retired_codes_are_never_reused():
    # 001-005 are in use elsewhere, 006 and 009 were retired: the next new grid is 010.
    existing = [f"{COMMUNITY}{n:03d}" for n in (1, 2, 3, 4, 5, 6, 9)]
    keys = [(0, 0), (0, 1), (1, 0)]
    codes = assign_codes(units(keys), parent_code=COMMUNITY, existing_codes=existing)
    assert codes.to_dict() == {"00": f"{COMMUNITY}010", "01": f"{COMMUNITY}011", "10": f"{COMMUNITY}012"}
    assert not set(codes) & set(existing)


def test_units_keeping_their_code():
    existing = [f"{COMMUNITY}{n:03d}" for n in (1, 2, 3, 4)]
    keep = [None, f"{COMMUNITY}003", None, None, f"{COMMUNITY}001", None, None, None, None]
    codes = assign_codes(units(keep_code=keep), parent_code=COMMUNITY, existing_codes=existing)
    assert codes["02"] == f"{COMMUNITY}003" and codes["00"] == f"{COMMUNITY}001"
    new = codes.drop(["02", "00"]).sort_values()
    assert list(new) == [f"{COMMUNITY}{n:03d}" for n in range(5, 12)]
    assert list(new.index) == ["01", "10", "11", "12", "20", "21", "22"]  # reading order of the rest


def test_exhaustion_raises_infeasible():
    existing = [f"{COMMUNITY}998"]
    assert assign_codes(units([(0, 0)]), parent_code=COMMUNITY, existing_codes=existing).iloc[0] == f"{COMMUNITY}999"
    with pytest.raises(Infeasible, match="room for 1 more code"):
        assign_codes(units([(0, 0), (0, 1)]), parent_code=COMMUNITY, existing_codes=existing)
    with pytest.raises(Infeasible):
        assign_codes(units([(0, 0)]), parent_code=COMMUNITY, existing_codes=[f"{COMMUNITY}999"])


def test_communities_in_a_street_and_streets_in_a_district():
    codes = assign_codes(units([(1, 0), (0, 0)]), parent_code=STREET, existing_codes=[f"{STREET}004"])
    assert codes.to_dict() == {"10": "320102001006", "00": "320102001005"}
    codes = assign_codes(units([(0, 1)]), parent_code="320102")
    assert codes.iloc[0] == "320102001"


def test_bad_codes_are_rejected():
    with pytest.raises(InvalidInput, match="not a 15-digit code under parent"):
        assign_codes(units([(0, 0)]), parent_code=COMMUNITY, existing_codes=["320102001002001"])
    with pytest.raises(InvalidInput, match="parent_code must be digits"):
        assign_codes(units([(0, 0)]), parent_code="32010A")
    with pytest.raises(Conflict):
        assign_codes(units([(0, 0), (0, 1)], keep_code=[f"{COMMUNITY}001"] * 2), parent_code=COMMUNITY)


def test_no_units_gives_empty_series():
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:4490")
    codes = assign_codes(empty, parent_code=COMMUNITY)
    assert isinstance(codes, pd.Series) and codes.empty
