"""The partition engine on hand-built communities: tiling, bounds, barriers, infeasibility, keep-current."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

from gis.errors import Infeasible, InvalidInput
from gis.partition.engine import PartitionEngine
from gis.partition.metrics import households_moved, tiling_errors
from gis.partition.suggest import suggest_partition

CRS = "EPSG:4549"  # CGCS2000 3-degree Gauss-Krüger, central meridian 120°E (covers Nanjing)
X0, Y0 = 385_000.0, 3_545_000.0


def _buildings(points: list[tuple[float, float, int]], compound: list | None = None) -> gpd.GeoDataFrame:
    geoms = [box(X0 + x - 6, Y0 + y - 6, X0 + x + 6, Y0 + y + 6) for x, y, _ in points]
    frame = gpd.GeoDataFrame({"id": np.arange(1, len(points) + 1), "households": [h for _, _, h in points]},
                             geometry=geoms, crs=CRS)
    if compound is not None:
        frame["compound"] = compound
    return frame


def _roads(lines: list[tuple[list[tuple[float, float]], bool, str]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"is_main_road": [m for _, m, _ in lines], "name": [n for _, _, n in lines]},
        geometry=[LineString([(X0 + x, Y0 + y) for x, y in coords]) for coords, _, _ in lines], crs=CRS)


def _region(w: float, h: float) -> shapely.Polygon:
    return box(X0, Y0, X0 + w, Y0 + h)


def _grid_of_buildings(w: float, h: float, step: float, households: int) -> list[tuple[float, float, int]]:
    return [(x, y, households) for x in np.arange(step / 2, w, step) for y in np.arange(step / 2, h, step)]


def _assert_hard_constraints(region, suggestion) -> None:
    units = suggestion.units
    report = suggestion.report
    assert report["multipart_units"] == 0
    assert report["gap_m2"] == 0 and report["overlap_m2"] == 0
    gap, overlap = tiling_errors(region, units.geometry.to_numpy())
    assert gap == 0 and overlap == 0
    assert report["main_road_crossings"] == 0
    assert all(len(shapely.get_parts(g)) == 1 for g in units.geometry)
    flagged = {u for item in report["infeasible"] for u in item["units"]}
    for unit in units.itertuples():
        if unit.kind == "general" and not 300 <= unit.households <= 500:
            assert unit.label in flagged, f"{unit.label} has {unit.households} households and no explanation"


def test_main_road_is_never_crossed_and_units_tile_the_community() -> None:
    # 600 × 400 m, a main road (中山路) across the middle, a minor road in each half.
    region = _region(600, 400)
    roads = _roads([
        ([(0, 200), (600, 200)], True, "中山路"),
        ([(300, 0), (300, 200)], False, "小巷"),
        ([(300, 200), (300, 400)], False, "小巷"),
    ])
    buildings = _buildings(_grid_of_buildings(600, 400, 50, 20))  # 96 buildings × 20 = 1,920 households
    suggestion = suggest_partition(region, buildings, roads, crs=CRS, lo=300, hi=500)

    _assert_hard_constraints(region, suggestion)
    units = suggestion.units
    assert units["households"].sum() == 1920
    assert set(units["status"]) == {"in_range"}
    assert suggestion.report["in_range_share"] == 1.0
    south = units.geometry.representative_point().y < Y0 + 200
    for geom, is_south in zip(units.geometry, south, strict=True):
        # Each unit lies on one side of 中山路.
        assert (geom.bounds[3] <= Y0 + 200 + 1e-6) if is_south else (geom.bounds[1] >= Y0 + 200 - 1e-6)
    # Every building is assigned once, to the unit that contains it.
    assert sorted(suggestion.assignment["building_id"]) == list(range(1, 97))
    label_geom = dict(zip(units["label"], units.geometry, strict=True))
    for row in suggestion.assignment.itertuples():
        point = buildings.loc[buildings["id"] == row.building_id].geometry.iloc[0].representative_point()
        assert label_geom[row.label].covers(point)


def test_infeasible_area_is_reported_with_reason_and_options() -> None:
    # North of 汉中路: 540 households, which no whole number of 300–500 grids can hold.
    region = _region(400, 400)
    roads = _roads([([(0, 200), (400, 200)], True, "汉中路")])
    north = [(x, y, 45) for x in (50, 150, 250, 350) for y in (230, 300, 370)]  # 12 × 45 = 540
    south = [(x, y, 50) for x in (50, 150, 250, 350) for y in (30, 100, 170)]  # 600 → two grids
    suggestion = suggest_partition(region, _buildings(north + south), roads, crs=CRS, lo=300, hi=500)

    _assert_hard_constraints(region, suggestion)
    [item] = suggestion.report["infeasible"]
    assert item["reason"] == "between_bounds"
    assert item["households"] == 540
    assert "汉中路" in item["message"] and "540" in item["message"]
    assert "allow one grid of 540 households" in item["options"]
    assert "allow crossing 汉中路" in item["options"]
    assert sorted(suggestion.units["households"]) == [300, 300, 540]

    crossing = suggest_partition(region, _buildings(north + south), roads, crs=CRS, lo=300, hi=500,
                                 allow_crossing=("汉中路",))
    assert crossing.report["infeasible"] == []
    assert set(crossing.units["status"]) == {"in_range"}
    assert crossing.units["households"].sum() == 1140


def test_building_above_the_maximum_becomes_its_own_flagged_grid() -> None:
    region = _region(400, 300)
    points = [(50, 50, 620)] + [(x, y, 40) for x in (150, 250, 350) for y in (50, 150, 250)]
    suggestion = suggest_partition(region, _buildings(points), _roads([]), crs=CRS, lo=300, hi=500)
    _assert_hard_constraints(region, suggestion)
    reasons = [i["reason"] for i in suggestion.report["infeasible"]]
    assert "building_too_large" in reasons
    big = suggestion.units[suggestion.units["status"] == "large_building"]
    assert big["households"].tolist() == [620] and big["buildings"].tolist() == [1]


def test_dedicated_grid_is_kept_exactly() -> None:
    region = _region(600, 400)
    school = box(X0, Y0, X0 + 150, Y0 + 150)
    fixed = gpd.GeoDataFrame({"code": ["320102001001007"], "kind": ["dedicated"], "locked": [False]},
                             geometry=[school], crs=CRS)
    buildings = _buildings(_grid_of_buildings(600, 400, 50, 20))
    suggestion = suggest_partition(region, buildings, _roads([]), crs=CRS, lo=300, hi=500, fixed=fixed)
    _assert_hard_constraints(region, suggestion)
    kept = suggestion.units[suggestion.units["code"] == "320102001001007"]
    assert len(kept) == 1 and kept["status"].iloc[0] == "fixed"
    assert kept.geometry.iloc[0].symmetric_difference(school).area < 1e-6
    assert kept["households"].iloc[0] == 9 * 20  # the 3 × 3 buildings inside the school grid


def test_keep_current_moves_fewer_households_than_a_fresh_suggestion() -> None:
    region = _region(800, 600)
    roads = _roads([([(400, 0), (400, 600)], False, "支路"), ([(0, 300), (800, 300)], False, "横街")])
    base = _grid_of_buildings(800, 600, 50, 20)  # 192 buildings, 3,840 households
    first = suggest_partition(region, _buildings(base), roads, crs=CRS, lo=300, hi=500)
    current = first.units[["label", "geometry"]].rename(columns={"label": "code"})
    grown = [(x, y, 28 if (x < 400 and y > 300) else h) for x, y, h in base]  # +40% in the north-west
    fresh = suggest_partition(region, _buildings(grown), roads, crs=CRS, lo=300, hi=500, current=current, seed=3)
    kept = suggest_partition(region, _buildings(grown), roads, crs=CRS, lo=300, hi=500, current=current,
                             keep_current=True, seed=3)
    for s in (fresh, kept):
        _assert_hard_constraints(region, s)
        assert s.report["in_range_share"] == 1.0
    assert kept.report["households_moved"] < fresh.report["households_moved"]
    assert kept.report["households_moved"] < 0.25 * 4480


def test_keep_current_needs_a_current_plan() -> None:
    with pytest.raises(InvalidInput, match="current"):
        suggest_partition(_region(100, 100), _buildings([(50, 50, 10)]), _roads([]), crs=CRS, lo=300, hi=500,
                          keep_current=True)


def test_households_moved_ignores_renaming() -> None:
    hh = np.array([10, 20, 30, 40])
    before = np.array(["A", "A", "B", "B"], dtype=object)
    assert households_moved(hh, before, np.array(["X", "X", "Y", "Y"], dtype=object)) == {
        "households": 0, "buildings": 0}
    assert households_moved(hh, before, np.array(["X", "Y", "Y", "Y"], dtype=object)) == {
        "households": 20, "buildings": 1}


def test_engine_on_a_lattice_gives_connected_units_in_range() -> None:
    side = 12
    rng = np.random.default_rng(5)
    hh = rng.integers(20, 60, side * side)
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    result = PartitionEngine(hh, u, v, np.ones(len(u)), lo=300, hi=500, seed=1).run()
    labels = result.labels
    sums = np.bincount(labels, weights=hh)
    assert ((sums >= 300) & (sums <= 500)).all()
    adjacency = {(a, b) for a, b in zip(u, v, strict=True)} | {(b, a) for a, b in zip(u, v, strict=True)}
    for lab in np.unique(labels):
        members = set(np.flatnonzero(labels == lab).tolist())
        seen, stack = set(), [next(iter(members))]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            stack.extend(y for y in members if (x, y) in adjacency and y not in seen)
        assert seen == members


@st.composite
def communities(draw):  # type: ignore[no-untyped-def]
    w = draw(st.integers(300, 900))
    h = draw(st.integers(300, 900))
    lines = []
    if draw(st.booleans()):
        x = draw(st.integers(60, w - 60))
        lines.append(([(x, 0), (x, h)], True, "主干路"))
    for _ in range(draw(st.integers(0, 3))):
        y = draw(st.integers(30, h - 30))
        lines.append(([(0, y), (w, y)], False, None))
    n = draw(st.integers(1, 60))
    xs = draw(st.lists(st.integers(10, w - 10), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(10, h - 10), min_size=n, max_size=n))
    hh = draw(st.lists(st.integers(0, 140), min_size=n, max_size=n))
    if draw(st.booleans()):
        hh[0] = draw(st.integers(501, 800))
    return _region(w, h), _buildings(list(zip(xs, ys, hh, strict=True))), _roads(lines)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(communities(), st.integers(0, 3))
def test_every_suggestion_tiles_its_community_and_respects_hard_constraints(community, seed) -> None:
    region, buildings, roads = community
    suggestion = suggest_partition(region, buildings, roads, crs=CRS, lo=300, hi=500, seed=seed)
    _assert_hard_constraints(region, suggestion)
    assert suggestion.units["households"].sum() == buildings["households"].sum()
    assert len(suggestion.assignment) == len(buildings)


def test_an_area_without_buildings_is_refused_with_a_reason() -> None:
    with pytest.raises(Infeasible, match="no buildings"):
        suggest_partition(_region(500, 500), _buildings([]), _roads([]), crs=CRS, lo=300, hi=500)


@st.composite
def real_like_communities(draw):  # type: ignore[no-untyped-def]
    """What real data has: barriers ending short of an edge, long straight outlines, L- and ring-shaped
    communities, superblocks of a few huge buildings; built in metres, handed over in lon/lat."""
    w = draw(st.integers(300, 900))
    h = draw(st.integers(300, 900))
    region = box(X0, Y0, X0 + w, Y0 + h)
    shape = draw(st.sampled_from(["box", "L", "ring"]))
    if shape == "L":
        region = region.difference(box(X0 + w / 2, Y0 + h / 2, X0 + w, Y0 + h))
    elif shape == "ring":
        region = region.difference(box(X0 + w / 3, Y0 + h / 3, X0 + 2 * w / 3, Y0 + 2 * h / 3))
    lines = []
    if draw(st.booleans()):
        x = draw(st.integers(60, w - 60))
        short = draw(st.integers(0, 90))  # a main road stopping short of the far edge
        lines.append(([(x, 0), (x, h - short)], True, "主干路"))
    for _ in range(draw(st.integers(0, 2))):
        y = draw(st.integers(30, h - 30))
        lines.append(([(0, y), (w, y)], False, None))
    roads = _roads(lines)
    n = draw(st.integers(1, 40))
    xs = draw(st.lists(st.integers(10, w - 10), min_size=n, max_size=n))
    ys = draw(st.lists(st.integers(10, h - 10), min_size=n, max_size=n))
    hh = draw(st.lists(st.integers(0, 140), min_size=n, max_size=n))
    sizes = [6.0] * n
    for k in range(min(n, draw(st.integers(0, 2)))):  # superblocks: a campus or compound building
        sizes[k], hh[k] = 30.0, draw(st.integers(100, 700))
    geoms = [box(X0 + x - s, Y0 + y - s, X0 + x + s, Y0 + y + s) for x, y, s in zip(xs, ys, sizes, strict=True)]
    road_union = shapely.union_all(roads.geometry.to_numpy()) if len(roads) else None
    keep = [i for i, g in enumerate(geoms) if region.contains(g)
            and (road_union is None or g.distance(road_union) > 1.0)]
    buildings = gpd.GeoDataFrame({"id": np.arange(1, len(keep) + 1), "households": [hh[i] for i in keep]},
                                 geometry=[geoms[i] for i in keep], crs=CRS)
    to_lonlat = "EPSG:4490"
    return (gpd.GeoSeries([region], crs=CRS).to_crs(to_lonlat).iloc[0], buildings.to_crs(to_lonlat),
            roads.to_crs(to_lonlat))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(real_like_communities(), st.integers(0, 2))
def test_suggestions_in_lonlat_pass_the_checker(community, seed) -> None:
    from gis.checker import CheckOptions, blocking, check_units

    region, buildings, roads = community
    if buildings.empty:
        return
    suggestion = suggest_partition(region, buildings, roads, crs="EPSG:4490", lo=300, hi=500, seed=seed, closing_m=60)
    units = suggestion.units
    children = gpd.GeoDataFrame({"code": units["label"], "parent_code": "P"}, geometry=units.geometry.to_numpy(),
                                crs="EPSG:4490")
    parents = gpd.GeoDataFrame({"code": ["P"]}, geometry=[region], crs="EPSG:4490")
    findings = check_units(children, parents, child_level="grid", buildings=buildings, roads=roads,
                           options=CheckOptions(closing_m=60))
    assert blocking(findings, allow_out_of_range=True) == [], [f.message for f in findings]
    # Exact in storage coordinates: the units cover the region as stored, with no overlap.
    union = shapely.union_all(children.geometry.to_numpy())
    assert shapely.area(shapely.symmetric_difference(union, region)) < 1e-12
    assert all(g.is_valid and g.geom_type == "Polygon" for g in children.geometry)


def test_empty_land_joined_across_a_barrier_is_listed_with_its_outline() -> None:
    # A park strip north of 北京东路 holds no home: it joins the grid south of the road, and the
    # report says so with the strip's outline for the map.
    region = _region(400, 300)
    roads = _roads([([(0, 250), (400, 250)], True, "北京东路")])
    homes = [(x, y, 40) for x in (50, 150, 250, 350) for y in (40, 120, 200)]  # 480 south of the road
    suggestion = suggest_partition(region, _buildings(homes), roads, crs=CRS, lo=300, hi=500)
    [joined] = suggestion.report["attached_empty_land"]
    assert joined["across"] == "北京东路"
    assert joined["unit"] == suggestion.units["label"].iloc[0]
    strip = shapely.geometry.shape(joined["geometry"])
    assert abs(strip.area - 400 * 50) < 1 and abs(joined["area_m2"] - 400 * 50) < 1
    assert strip.bounds[1] == Y0 + 250 and strip.bounds[3] == Y0 + 300
