"""The one checker on hand-built units: barriers closed at their ends, crossings, split homes, slivers."""

from __future__ import annotations

import geopandas as gpd
import shapely
from shapely.geometry import LineString, box

from gis.checker import BLOCKING, blocking, check_units, summarise
from gis.partition.barriers import FOLLOW_STREET_M, close_barriers

CRS = "EPSG:4549"
X0, Y0 = 385_000.0, 3_545_000.0


def _frame(rows: list[tuple], columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [r[k] for r in rows] for k, c in enumerate(columns)},
                            geometry=[r[-1] for r in rows], crs=CRS)


def _box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _line(*xy: tuple[float, float]) -> LineString:
    return LineString([(X0 + x, Y0 + y) for x, y in xy])


def test_a_barrier_ending_short_of_the_outline_or_another_barrier_is_closed_ahead() -> None:
    outline = box(0, 0, 1000, 1000)
    lines = [LineString([(500, 0), (500, 970)]), LineString([(0, 500), (480, 500)]), LineString([(700, 0), (700, 100)])]
    links, names = close_barriers(lines, ["A", "B", "C"], outline, 60)
    closing = [(g, n) for g, n in zip(links, names, strict=True) if g.length > 1]
    ends = sorted((round(g.coords[0][0]), round(g.coords[0][1]), n) for g, n in closing)
    # A closes 30 m to the outline, B 20 m to A; C, a spur 900 m from anything ahead, stays open.
    assert ends == [(480, 500, "B"), (500, 970, "A")]
    assert all(g.length < 31 for g, _ in closing)
    # Ends that already reach the outline only run on 5 cm through it, so noding always splits it.
    stubs = sorted((round(g.coords[0][0]), round(g.coords[0][1]), n) for g, n in zip(links, names, strict=True)
                   if g.length <= 1)
    assert stubs == [(0, 500, "B"), (500, 0, "A"), (700, 0, "C")]
    assert all(g.length <= 0.051 for g in links if g.length <= 1)


def test_a_barrier_ending_on_the_outline_to_rounding_still_divides_the_area() -> None:
    # An end computed by clipping lies on a slanted outline edge only to rounding (coordinates from
    # the property test, in a local metric CRS): the road stayed a dangle, and homes on its two
    # sides shared a grid.
    from gis.partition.cells import build_cells

    outline = shapely.Polygon([(319.81254116706225, -342.87822669991067), (-319.02186708199866, -350.05635376116425),
                               (-326.7503350365095, 335.7882892917654), (-7.311932776526384, 339.383207453513),
                               (-3.458130413440335, -3.5394569640527793), (315.9700568725021, 0.0450382937624094)])
    road = LineString([(194.8447725289611, -344.27925398066196),
                       (187.16203757853884, 340.56699378896116)]).intersection(outline)
    homes = gpd.GeoDataFrame({"households": [100, 100]}, geometry=[box(142.7, -340.8, 154.7, -328.8),
                                                                   box(273.7, -339.3, 285.7, -327.3)], crs=CRS)
    roads = gpd.GeoDataFrame({"is_main_road": [True], "name": ["主干路"]}, geometry=[road], crs=CRS)
    graph = build_cells(outline, homes, roads, closing_m=60)
    west, east = graph.cells["area"].to_numpy()[graph.building_cell]
    assert west != east


def test_households_either_side_of_a_main_road_in_one_grid_are_a_fault_and_closing_matters() -> None:
    community = _frame([("C1", _box(0, 0, 400, 400))], ("code",))
    # 中山路 crosses the community but stops 30 m short of its east edge.
    roads = _frame([(True, "中山路", _line((0, 200), (370, 200)))], ("is_main_road", "name"))
    homes = _frame([(1, 100, _box(50, 50, 70, 70)), (2, 100, _box(50, 330, 70, 350))], ("id", "households"))
    grid = _frame([("G1", "C1", _box(0, 0, 400, 400))], ("code", "parent_code"))
    findings = check_units(grid, community, child_level="grid", buildings=homes, roads=roads)
    assert [f.kind for f in findings] == ["across_barrier"]
    assert "中山路" in findings[0].message and "buildings 1 and 2" in findings[0].message
    # Allowed by the planner: no fault.
    from gis.checker import CheckOptions
    allowed = check_units(grid, community, child_level="grid", buildings=homes, roads=roads,
                          options=CheckOptions(allow_crossing=("中山路",)))
    assert allowed == []


def test_a_road_ending_far_from_everything_is_reported_as_joined_around_its_end_not_a_fault() -> None:
    # 断头路 stops 750 m short of the east edge, beyond the 400 m it may be carried on.
    community = _frame([("C1", _box(0, 0, 1000, 400))], ("code",))
    roads = _frame([(True, "断头路", _line((0, 200), (250, 200)))], ("is_main_road", "name"))
    homes = _frame([(1, 100, _box(50, 150, 70, 170)), (2, 100, _box(50, 230, 70, 250))], ("id", "households"))
    grid = _frame([("G1", "C1", _box(0, 0, 1000, 400))], ("code", "parent_code"))
    findings = check_units(grid, community, child_level="grid", buildings=homes, roads=roads)
    assert [f.kind for f in findings] == ["around_barrier_end"]
    assert blocking(findings) == []


def test_a_road_stopping_in_open_land_is_carried_on_straight_between_buildings() -> None:
    # 150 m short of the east edge, nothing mapped beyond, a house straight ahead: the road is
    # carried on past the house to the edge, and a grid joining its two sides is a fault.
    community = _frame([("C1", _box(0, 0, 400, 400))], ("code",))
    roads = _frame([(True, "断头路", _line((0, 200), (250, 200)))], ("is_main_road", "name"))
    homes = _frame([(1, 100, _box(50, 150, 70, 170)), (2, 100, _box(50, 230, 70, 250)),
                    (3, 50, _box(320, 190, 340, 210))], ("id", "households"))
    grid = _frame([("G1", "C1", _box(0, 0, 400, 400))], ("code", "parent_code"))
    findings = check_units(grid, community, child_level="grid", buildings=homes, roads=roads)
    assert [f.kind for f in findings] == ["across_barrier"]
    links, _ = close_barriers([_line((0, 200), (250, 200))], ["断头路"], _box(0, 0, 400, 400), 60,
                              obstacles=list(homes.geometry), follow_m=FOLLOW_STREET_M)
    [link] = [g for g in links if g.length > 1]
    assert not any(link.intersects(h) for h in homes.geometry)
    assert abs(link.coords[-1][0] - (X0 + 400)) < 0.1


def test_a_home_split_between_grids_and_a_sliver_grid_are_faults() -> None:
    community = _frame([("C1", _box(0, 0, 400, 200))], ("code",))
    grids = _frame([("G1", "C1", _box(0, 0, 200, 200)), ("G2", "C1", _box(200, 0, 399.9, 200)),
                    ("G3", "C1", _box(399.9, 0, 400, 200))], ("code", "parent_code"))
    homes = _frame([(7, 120, _box(180, 80, 240, 120)), (8, 0, _box(10, 10, 30, 30))], ("id", "households"))
    findings = check_units(grids, community, child_level="grid", buildings=homes)
    kinds = summarise(findings)
    assert kinds["split_building"] == 1 and kinds["sliver"] == 1
    split = next(f for f in findings if f.kind == "split_building")
    assert "building 7" in split.message and "G2 67%" in split.message and "G1 33%" in split.message
    assert {f.kind for f in blocking(findings)} <= BLOCKING


def test_clean_grids_have_no_findings() -> None:
    community = _frame([("C1", _box(0, 0, 400, 200))], ("code",))
    grids = _frame([("G1", "C1", _box(0, 0, 200, 200)), ("G2", "C1", _box(200, 0, 400, 200))], ("code", "parent_code"))
    homes = _frame([(1, 120, _box(20, 80, 60, 120)), (2, 120, _box(260, 80, 300, 120))], ("id", "households"))
    roads = _frame([(True, "中山路", _line((200, 0), (200, 200)))], ("is_main_road", "name"))
    assert check_units(grids, community, child_level="grid", buildings=homes, roads=roads) == []


def test_a_barrier_end_blocked_by_a_house_straight_ahead_is_closed_between_buildings() -> None:
    outline = box(0, 0, 1000, 1000)
    road = LineString([(500, 0), (500, 960)])  # 40 m short of the north edge
    house = box(495, 985, 505, 995)  # right in front of the end, 25 m ahead
    links, names = close_barriers([road], ["中山路"], outline, 60, obstacles=[house])
    [link] = [g for g in links if g.length > 1]
    assert names[links.index(link)] == "中山路"
    assert not link.crosses(house) and not link.within(house) and link.length <= 60.1
    assert link.coords[0] == (500, 960) and abs(link.coords[-1][1] - 1000) < 0.1


def test_a_main_road_that_turns_into_a_side_street_is_continued_along_it_to_the_outline() -> None:
    outline = box(0, 0, 1000, 1000)
    road = LineString([(500, 0), (500, 650)])  # ends 350 m from the north edge
    streets = [LineString([(500, 650), (500, 800)]), LineString([(500, 800), (505, 1000)]),
               LineString([(0, 800), (1000, 800)]), LineString([(500, 650), (900, 670)])]
    links, names = close_barriers([road], ["解放路"], outline, 60, streets=streets, follow_m=FOLLOW_STREET_M)
    [link] = [g for g in links if g.length > 1]
    assert names[links.index(link)] == "解放路"
    # Straight on through the junction at y=800, not along the cross street or the one turning east.
    assert link.coords[0] == (500, 650) and abs(link.coords[-1][1] - 1000) < 0.1
    assert abs(link.length - (150 + LineString([(500, 800), (505, 1000)]).length)) < 0.1
    # A street that turns away is not followed: the road is carried on straight instead.
    bent = [LineString([(500, 650), (800, 750)])]
    [straight] = [g for g in close_barriers([road], ["解放路"], outline, 60, streets=bent, follow_m=400)[0]
                  if g.length > 1]
    assert straight.coords[0] == (500, 650) and len(straight.coords) == 2 and abs(straight.coords[-1][1] - 1000) < 0.1
    # Beyond the limit the end stays open.
    assert [g for g in close_barriers([road], ["解放路"], outline, 60, streets=streets, follow_m=300)[0]
            if g.length > 1] == []


def test_households_joined_around_a_road_end_are_separated_along_the_street_it_turns_into() -> None:
    from gis.partition.suggest import suggest_partition

    community = _box(0, 0, 600, 600)
    roads = _frame([(True, "解放路", _line((300, 0), (300, 400))), (False, "小巷", _line((300, 400), (300, 600)))],
                   ("is_main_road", "name"))
    west = [(1, 180, _box(100, 100, 130, 130)), (2, 180, _box(100, 450, 130, 480))]
    east = [(3, 180, _box(470, 100, 500, 130)), (4, 180, _box(470, 450, 500, 480))]
    homes = _frame(west + east, ("id", "households"))
    suggestion = suggest_partition(community, homes, roads, crs=CRS, lo=300, hi=500, closing_m=60)
    grid_of = dict(zip(suggestion.assignment["building_id"], suggestion.assignment["label"], strict=True))
    assert grid_of[1] == grid_of[2] and grid_of[3] == grid_of[4] and grid_of[1] != grid_of[3]
    grids = gpd.GeoDataFrame({"code": suggestion.units["label"], "parent_code": "C1"},
                             geometry=suggestion.units.geometry.to_numpy(), crs=CRS)
    findings = check_units(grids, _frame([("C1", community)], ("code",)), child_level="grid", buildings=homes,
                           roads=roads)
    assert [f.kind for f in findings if f.kind in ("across_barrier", "around_barrier_end")] == []


def test_two_carriageways_converging_short_of_the_edge_are_closed_at_their_tip() -> None:
    # 东华南路 (Guangzhou): its two one-way lines meet at one point 11 m short of the community's
    # west edge and stop there. The point joins two lines, so it is no free end, yet homes north
    # and south of the pair met around it in one grid.
    community = _frame([("C1", _box(0, 0, 400, 400))], ("code",))
    north, south = _line((11, 200), (400, 240)), _line((11, 200), (400, 160))
    roads = _frame([(True, "东华南路", north), (True, "东华南路", south)], ("is_main_road", "name"))
    homes = _frame([(1, 100, _box(50, 300, 70, 320)), (2, 100, _box(50, 80, 70, 100))], ("id", "households"))
    grid = _frame([("G1", "C1", _box(0, 0, 400, 400))], ("code", "parent_code"))
    findings = check_units(grid, community, child_level="grid", buildings=homes, roads=roads)
    assert [f.kind for f in findings] == ["across_barrier"]
    links, names = close_barriers([north, south], ["东华南路", "东华南路"], _box(0, 0, 400, 400), 60)
    [tip] = [g for g in links if g.length > 1]
    assert names[links.index(tip)] == "东华南路"
    assert abs(tip.coords[0][0] - (X0 + 11)) < 0.01 and abs(tip.coords[-1][0] - X0) < 0.1


def test_homes_on_the_outer_side_of_a_bend_share_a_grid_without_a_finding() -> None:
    # Siltasaarenkatu (Helsinki) runs north and turns east as Hakaniemenranta: homes west of it and
    # homes north of it lie on one side of one road, though the straight line between them cuts the
    # inside of the bend twice. Neither a crossing nor a join around an end.
    community = _frame([("C1", _box(0, 0, 400, 400))], ("code",))
    bend = _line((200, 0), (200, 250), (400, 250))
    roads = _frame([(True, "Siltasaarenkatu", bend)], ("is_main_road", "name"))
    homes = _frame([(1, 100, _box(50, 40, 70, 60)), (2, 100, _box(360, 330, 380, 350)),
                    (3, 100, _box(300, 100, 320, 120))], ("id", "households"))
    grids = _frame([("G1", "C1", _box(0, 0, 400, 400).difference(_box(200, 0, 400, 250))),
                    ("G2", "C1", _box(200, 0, 400, 250))], ("code", "parent_code"))
    assert check_units(grids, community, child_level="grid", buildings=homes, roads=roads) == []
