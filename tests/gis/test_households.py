"""gis.households: the home decision, floors, estimates and their reasons (no database)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.errors import CRSMismatch, InvalidInput
from gis.households import describe_reason, estimate_households, review_concerns
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
    for extra in ("layer", "location", "use"):  # what gis.osm adds (BUILDING_OSM_EXTRAS)
        if any(extra in r for r in rows):
            data[extra] = [r.get(extra) for r in rows]
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


# --------------------------------------------------------------------------- issue 16: what counts as a home


def _context(kind: str, name: str | None, geom: shapely.Polygon) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"kind": [kind], "name": [name]}, geometry=[geom], crs=GK_120E)


def test_plain_buildings_inside_a_campus_are_not_homes_unless_named_or_tagged_so() -> None:
    campus = _context("amenity=university", "复旦大学", shapely.box(X0 - 50, Y0 - 50, X0 + 450, Y0 + 50))
    rows = [
        {"kind": "yes", "levels": 6},  # a plain building on campus
        {"kind": "yes", "levels": 6, "name": "学生宿舍12号楼"},  # named as a home
        {"kind": "dormitory", "levels": 6},  # tagged as one
        {"kind": "yes", "levels": 6, "name": "3号楼"},  # a number says nothing either way
        {"kind": "yes", "levels": 6, "use": "building:use=residential"},
    ]
    out = estimate_households(_buildings(rows), context_areas=campus)
    assert out["households"].tolist() == [0, 30, 30, 0, 30]
    assert out["households_reason"].tolist() == [
        "not_home_context", "home_name", "home_kind", "not_home_context", "home_tag"]
    detail = out["households_reason_detail"].iloc[0]
    assert (detail["context"], detail["context_name"]) == ("amenity=university", "复旦大学")


def test_staff_housing_inside_a_campus_follows_the_smallest_area() -> None:
    campus = _context("amenity=university", "某大学", shapely.box(X0 - 50, Y0 - 50, X0 + 450, Y0 + 50))
    housing = _context("landuse=residential", "教工新村", shapely.box(X0 + 60, Y0 - 40, X0 + 250, Y0 + 40))
    areas = pd.concat([campus, housing], ignore_index=True)
    out = estimate_households(_buildings([{"kind": "yes", "levels": 6}, {"kind": "yes", "levels": 6}]),
                              context_areas=areas)
    assert out["households"].tolist() == [0, 30]


@pytest.mark.parametrize("name", ["第六教学楼", "化学实验室", "总部食堂", "工字厅", "财务处", "生命科学楼", "科技大楼",
                                  "某某研究所", "中国银行新街口支行", "希尔顿酒店", "城市规划展览馆", "Central Library",
                                  "Kansallismuseo"])
def test_names_that_say_not_a_home(name: str) -> None:
    out = estimate_households(_buildings([{"kind": "yes", "levels": 6, "name": name}]))
    assert out["households"].tolist() == [0]
    assert out["households_reason"].iloc[0] == "not_home_name"


@pytest.mark.parametrize("name", ["梅花新村", "复旦大学第一宿舍", "教工住宅", "家属院3号楼", "永康路100弄", "学生公寓",
                                  "华侨路二十六号小区"])
def test_names_that_say_home_win(name: str) -> None:
    out = estimate_households(_buildings([{"kind": "yes", "levels": 6, "name": name}]))
    assert out["households"].tolist() == [30]
    assert out["households_reason"].iloc[0] == "home_name"


def test_underground_roofs_and_own_use_tags_hold_no_households() -> None:
    rows = [
        {"kind": "yes", "levels": 2, "layer": -1, "name": "新街口"},  # the underground mall of the demo
        {"kind": "residential", "levels": 6, "location": "underground"},
        {"kind": "roof"},
        {"kind": "train_station", "levels": 3},
        {"kind": "yes", "levels": 6, "use": "amenity=bank"},
        {"kind": "apartments", "levels": 6, "use": "shop=bakery"},  # flats over a shop stay flats
    ]
    out = estimate_households(_buildings(rows))
    assert out["households"].tolist() == [0, 0, 0, 0, 0, 30]
    assert out["households_reason"].tolist() == [
        "underground", "underground", "structure", "structure", "not_home_tag", "home_kind"]


def test_huge_footprints_are_not_flats() -> None:
    rows = [
        {"kind": "yes", "levels": 1, "geometry": _rect(60, 40, 0)},  # 2,400 m² on one storey: a hall
        {"kind": "yes", "geometry": _rect(120, 60, 1)},  # 7,200 m², height unknown: not one block
        {"kind": "yes", "levels": 10, "geometry": _rect(120, 60, 3)},  # mapped high: estimated, reviewed
        {"kind": "yes", "levels": 1, "geometry": _rect(30, 20, 5)},  # a small bungalow stays a home
    ]
    out = estimate_households(_buildings(rows))
    assert out["households_reason"].tolist() == ["large_low_footprint", "large_footprint", "home_default",
                                                 "home_default"]
    assert out["households"].tolist()[:2] == [0, 0]
    assert out["households"].iloc[2] == 600


def test_floors_from_neighbours_of_the_same_kind_before_the_default() -> None:
    rows = [
        {"kind": "yes", "levels": 18, "geometry": _rect(30, 20, 0)},
        {"kind": "residential", "levels": 20, "geometry": _rect(30, 20, 1)},
        {"kind": "yes", "geometry": _rect(30, 20, 2)},  # 100 m and 200 m away... only one within 150 m
        {"kind": "yes", "geometry": shapely.box(X0 + 50, Y0 + 50, X0 + 80, Y0 + 70)},  # near both: median 19
        {"kind": "house", "geometry": shapely.box(X0 + 50, Y0 - 60, X0 + 60, Y0 - 50)},  # no house near: default
    ]
    out = estimate_households(_buildings(rows))
    assert out["floors"].tolist() == [18, 20, 6, 19, 2]
    assert out["floors_source"].tolist() == ["levels", "levels", "default", "neighbours", "default"]
    assert out["households_reason_detail"].iloc[3]["neighbours"] == 2
    one = estimate_households(_buildings(rows), neighbour_min=1)
    assert one["floors"].iloc[2] == 20


def test_every_estimate_says_why_in_words() -> None:
    out = estimate_households(_buildings([{"kind": "yes", "levels": 6}, {"kind": "yes", "name": "财务处"},
                                          {"levels": 6, "households": 12, "households_estimated": False}]))
    words = [describe_reason(c, d) for c, d in zip(out["households_reason"], out["households_reason_detail"],
                                                    strict=True)]
    assert words[0] == ("home: building=yes and nothing says otherwise; "
                        "600 m² × 6 floors (building:levels) × 0.75 ÷ 90 m²")
    assert words[1] == "not a home: named …处"
    assert words[2].startswith("recorded count") and "the estimate was 30" in words[2]
    assert describe_reason("not_home_context", {"context": "amenity=hospital", "context_name": "鼓楼医院"},
                           lang="zh") == "非住宅：位于amenity=hospital（鼓楼医院）内的一般建筑"
    assert describe_reason("no_such_code") == "no_such_code"


def test_review_concerns() -> None:
    assert review_concerns(households=400, code="home_default", detail={"area_m2": 6000, "floors_from": "default"},
                           name="科技大楼") == [
        "name_says_not_home", "large_estimate", "large_footprint", "floors_guessed"]
    assert review_concerns(households=20, code="home_kind", detail={"context": "amenity=university"},
                           name=None) == ["context_says_not_home"]
    assert review_concerns(households=0, code="not_home_name", detail={}, name="食堂") == []


def test_real_extracts_hold_almost_no_households_in_buildings_named_or_placed_as_not_homes() -> None:
    """The issue's check on the demo extract: named non-homes hold nothing, the underground mall nothing."""
    import re

    from gis.osm import read_osm

    layers = read_osm(NANJING)
    facilities = dict(zip(layers.facilities["osm_id"], layers.facilities["type_code"], strict=True))
    out = estimate_households(layers.buildings, context_areas=layers.land_use, non_residential_ids=facilities)
    named = out["name"].fillna("")
    not_home = named.str.contains(r"教学|实验|食堂|研究|大楼|办公|医院|酒店|中心|厅$|馆$|处$") & ~named.str.contains(
        r"住宅|宿舍|公寓|小区|家属")
    assert out.loc[not_home, "households"].sum() == 0
    assert out.loc[out["name"] == "新街口", "households"].tolist() == [0, 0]  # underground (layer=-1)
    assert set(out.loc[out["name"] == "新街口", "households_reason"]) == {"underground"}
    assert re.fullmatch(r"\d+", str(out["households"].sum()))


def test_a_plain_house_sized_footprint_gets_a_houses_floors() -> None:
    rows = [
        {"kind": "yes", "geometry": _rect(10, 15, 0)},  # 150 m², height unknown: a house, 2 floors
        {"kind": "apartments", "geometry": _rect(10, 15, 1)},  # tagged flats keep the flats' default
        {"kind": "yes", "levels": 5, "geometry": _rect(10, 15, 2)},  # mapped floors win
    ]
    out = estimate_households(_buildings(rows))
    assert out["floors"].tolist() == [2, 6, 5]
    assert out["floors_source"].tolist() == ["house_footprint", "default", "levels"]
    assert "a house-sized footprint" in describe_reason("home_default", out["households_reason_detail"].iloc[0])
