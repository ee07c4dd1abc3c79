"""gis.households.estimate_households (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import CRSMismatch, InvalidInput
from gis.households import estimate_households
from gis.layers import BUILDING_COLUMNS, STORAGE_CRS

NANJING = Path(__file__).resolve().parents[2] / "data" / "osm" / "cn_nanjing_xinjiekou_2021.osm"
GK_120E = "EPSG:4549"  # CGCS2000 3-degree Gauss-Krüger, central meridian 120E (covers Nanjing)
# Xinjiekou in GK 120E metres.
X0, Y0 = 385_000.0, 3_547_500.0


def _rect(dx: float, dy: float, k: int = 0) -> shapely.Polygon:
    """A dx × dy metre rectangle, the k-th one along a row, in GK 120E."""
    x = X0 + k * 100.0
    return shapely.box(x, Y0, x + dx, Y0 + dy)


def _buildings(rows: list[dict[str, Any]], *, crs: str = STORAGE_CRS) -> gpd.GeoDataFrame:
    """Buildings with the contract's columns; geometries given in GK 120E, stored in ``crs``."""
    data = {
        "osm_id": [r.get("osm_id", i + 1) for i, r in enumerate(rows)],
        "name": [r.get("name") for r in rows],
        "kind": [r.get("kind", "residential") for r in rows],
        "levels": pd.array([r.get("levels") for r in rows], dtype="Int64"),
        "height": pd.array([r.get("height") for r in rows], dtype="Float64"),
        "households": pd.array([r.get("households") for r in rows], dtype="Int64"),
        "households_estimated": pd.array([r.get("households_estimated") for r in rows], dtype="boolean"),
    }
    geoms = [r.get("geometry", _rect(30, 20, i)) for i, r in enumerate(rows)]
    frame = gpd.GeoDataFrame(data, geometry=geoms, crs=GK_120E)
    return frame.to_crs(crs)


def test_thirty_by_twenty_six_floors_in_lon_lat() -> None:
    """600 m² × 6 floors × 0.75 / 90 = 30; the footprint is measured in metres, not degrees."""
    out = estimate_households(_buildings([{"levels": 6}]))
    assert out.crs == STORAGE_CRS
    row = out.iloc[0]
    assert row["households"] == 30
    assert bool(row["households_estimated"]) is True
    assert row["floors"] == 6 and bool(row["floors_estimated"]) is False


def test_same_answer_in_any_crs() -> None:
    rows = [{"levels": 6}, {"kind": "house"}, {"height": 45.0}]
    a = estimate_households(_buildings(rows))
    b = estimate_households(_buildings(rows, crs=GK_120E))
    c = estimate_households(_buildings(rows, crs="EPSG:3857"))  # Web Mercator is projected but not equal-area
    assert a["households"].tolist() == b["households"].tolist() == c["households"].tolist() == [30, 10, 75]


def test_recorded_households_win() -> None:
    out = estimate_households(
        _buildings(
            [
                {"levels": 6, "households": 12, "households_estimated": False},
                {"levels": 6, "households": 7},  # recorded, no flag given
                {"levels": 6},
                {"levels": 6, "households": 99, "households_estimated": True},  # an old estimate: redone
                {"kind": "office", "households": 4},  # recorded beats the kind
            ]
        )
    )
    assert out["households"].tolist() == [12, 7, 30, 30, 4]
    assert out["households_estimated"].tolist() == [False, False, True, True, False]


def test_non_residential_buildings_have_none() -> None:
    out = estimate_households(
        _buildings([{"kind": "office", "levels": 10}, {"kind": "school"}, {"kind": "retail", "height": 12.0}])
    )
    assert out["households"].tolist() == [0, 0, 0]
    assert out["households_estimated"].all()


def test_floors_default_by_kind_and_from_height() -> None:
    rows = [
        {"kind": "apartments"},  # default_residential_floors: 6 -> 30
        {"kind": "house"},  # 2 -> 10
        {"kind": "terrace"},  # 3 -> 15
        {"kind": "residential", "height": 18.0},  # 18 m / 3 m -> 6 floors -> 30
        {"kind": "residential", "height": 18.0, "levels": 2},  # levels beat height -> 10
        {"kind": "residential", "levels": 0},  # 0 levels is no information -> default 6
    ]
    out = estimate_households(_buildings(rows))
    assert out["floors"].tolist() == [6, 2, 3, 6, 2, 6]
    assert out["floors_estimated"].tolist() == [True, True, True, True, False, True]
    assert out["households"].tolist() == [30, 10, 15, 30, 10, 30]

    custom = estimate_households(_buildings(rows[:2]), default_floors={"apartments": 4}, default_residential_floors=5)
    assert custom["floors"].tolist() == [4, 2]
    assert custom["households"].tolist() == [20, 10]


def test_parameters_change_the_estimate() -> None:
    out = estimate_households(_buildings([{"levels": 6}]), mean_dwelling_m2=60.0, usable_share=0.8)
    assert out["households"].iloc[0] == 48  # 600 * 6 * 0.8 / 60


def test_small_residential_buildings_hold_at_least_one_household() -> None:
    rows = [
        {"kind": "house", "levels": 1, "geometry": _rect(5, 5, 0)},  # 25 m²: 0.2 -> 1
        {"kind": "house", "levels": 1, "geometry": _rect(4, 4, 1)},  # 16 m²: a shed-sized house -> 0
    ]
    out = estimate_households(_buildings(rows))
    assert out["households"].tolist() == [1, 0]


def test_unspecific_buildings() -> None:
    rows = [
        {"kind": "yes", "levels": 6, "osm_id": 1},
        {"kind": "yes", "levels": 6, "osm_id": 2, "name": "金陵饭店"},  # a hotel by its name
        {"kind": "yes", "levels": 6, "osm_id": 3},  # a school building (a facility)
        {"kind": None, "levels": 6, "osm_id": 4},
    ]
    out = estimate_households(_buildings(rows), non_residential_ids={3})
    assert out["households"].tolist() == [30, 0, 0, 30]

    # With residential land given, unspecific buildings count only inside it.
    land = gpd.GeoSeries([shapely.box(X0 - 10, Y0 - 10, X0 + 50, Y0 + 50)], crs=GK_120E)
    inside = estimate_households(_buildings(rows), residential_areas=land)
    assert inside["households"].tolist() == [30, 0, 0, 0]
    # A residential kind needs no land.
    apartments = estimate_households(_buildings([{"kind": "apartments", "levels": 6}]), residential_areas=land.iloc[:0])
    assert apartments["households"].tolist() == [30]


def test_na_and_bad_geometries_are_safe() -> None:
    frame = _buildings([{"levels": 6}, {"kind": "residential"}, {"kind": "residential"}])
    frame.loc[1, "geometry"] = None
    frame.loc[2, "geometry"] = shapely.Polygon()
    out = estimate_households(frame)
    assert out["households"].tolist() == [30, 0, 0]
    assert out["households"].dtype == np.int64 and out["households_estimated"].dtype == bool
    assert (out["households"] >= 0).all()


def test_minimal_frame_and_empty_frame() -> None:
    bare = gpd.GeoDataFrame(geometry=[_rect(30, 20)], crs=GK_120E)
    out = estimate_households(bare)  # no kind: unspecific, housing; default 6 floors
    assert out["households"].tolist() == [30]
    assert "households" not in bare.columns  # the input is not changed

    empty = gpd.GeoDataFrame({c: [] for c in BUILDING_COLUMNS}, geometry=[], crs=STORAGE_CRS)
    out = estimate_households(empty)
    assert len(out) == 0
    assert {"households", "households_estimated", "floors", "floors_estimated"} <= set(out.columns)


def test_bad_input() -> None:
    with pytest.raises(InvalidInput, match="osm_id 1 has households=-3"):
        estimate_households(_buildings([{"households": -3}]))
    with pytest.raises(InvalidInput, match="usable_share"):
        estimate_households(_buildings([{}]), usable_share=1.5)
    with pytest.raises(InvalidInput, match="mean_dwelling_m2"):
        estimate_households(_buildings([{}]), mean_dwelling_m2=0)
    with pytest.raises(InvalidInput, match="default_floors"):
        estimate_households(_buildings([{}]), default_floors={"house": 0})
    with pytest.raises(CRSMismatch, match="no CRS"):
        estimate_households(gpd.GeoDataFrame(geometry=[_rect(30, 20)]))


def test_nanjing_estimate() -> None:
    from gis.osm import read_osm

    layers = read_osm(NANJING)
    out = estimate_households(layers.buildings, non_residential_ids=set(layers.facilities["osm_id"]))
    assert len(out) == len(layers.buildings)
    assert out["households_estimated"].all()
    assert (out["households"] >= 0).all()
    assert out.loc[out["kind"].isin(["office", "commercial", "school", "hotel"]), "households"].eq(0).all()
    # 石鼓路小学 is a building=yes that is a school: no households.
    assert out.loc[out["osm_id"] == 680512978, "households"].tolist() == [0]
    assert 20_000 < out["households"].sum() < 80_000
