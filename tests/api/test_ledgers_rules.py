"""The ledgers' pure rules (gis.ledgers): statuses, needs files, and walking distances on the town's network.

No database: the town's walk network is built in memory from tests/support/coverage_town.py, as
the coverage engine builds it, and the distances are those its docstring derives by hand.
"""

from __future__ import annotations

import coverage_town as town
import numpy as np
import pytest

from gis import ledgers
from gis.coverage.network import attach_buildings, build_network
from gis.errors import Conflict, InvalidInput
from gis.io.registers import Table


@pytest.fixture(scope="module")
def graph():
    net = build_network(town.nodes(), town.edges(), barriers=town.barriers(), crs=town.CRS)
    footprints = np.asarray(town.buildings().geometry.values, dtype=object)
    return attach_buildings(net, footprints, compound=np.full(len(footprints), -1, dtype=np.int64))


def test_walking_pairs_go_round_the_main_road_and_the_river(graph) -> None:
    needs = [town.p(300, 30), town.p(300, -160)]  # N (north of the main road), R (across the river)
    resources = [town.F2, town.F1]  # F2 on N's side of the main road, F1 on the far side
    walk = ledgers.walking_pairs(graph, needs, resources, limit_m=2000)
    pairs = {(int(k), int(r)): float(d) for k, r, d in zip(walk.need, walk.resource, walk.distance, strict=True)}
    # N → F2 along the north side: 30 + 120 + 12; N → F1 round by A: 30 + 300 + 300 + 25.
    assert pairs[(0, 0)] == pytest.approx(162, abs=1)
    assert pairs[(0, 1)] == pytest.approx(655, abs=1)
    # R joins the footway south of the river (no crossing): far from both.
    assert pairs[(1, 1)] > 800 and pairs[(1, 0)] > 900
    nearest, distance = walk.nearest()
    assert nearest.tolist() == [0, 1]
    within = ledgers.walking_pairs(graph, needs, resources, limit_m=500)
    assert sorted(zip(within.need.tolist(), within.resource.tolist(), strict=True)) == [(0, 0)]


def test_straight_lines_overstate_reach_across_the_main_road(graph) -> None:
    walk = ledgers.straight_line_pairs([town.p(300, 30)], [town.F1], limit_m=500)
    assert walk.mode == "straight_line" and walk.distance[0] == pytest.approx(55, abs=1)


def test_statuses_move_only_where_the_tables_say() -> None:
    assert ledgers.need_transition("open", "match") == "matched"
    assert ledgers.need_transition("in_progress", "close") == "closed"
    with pytest.raises(Conflict, match="cannot be reopen"):
        ledgers.need_transition("open", "reopen")
    with pytest.raises(InvalidInput, match="action: one of"):
        ledgers.need_transition("open", "fly")
    assert ledgers.project_transition("planned", "start") == "active"
    with pytest.raises(Conflict):
        ledgers.project_transition("done", "cancel")
    with pytest.raises(InvalidInput, match="hours"):
        ledgers.check_hours(0)
    assert ledgers.serves([], "parking") and not ledgers.serves(["elderly_meals"], "parking")


def test_a_needs_table_is_checked_row_by_row() -> None:
    table = Table(file="x.csv", headers=["类型", "经度", "纬度", "人数"], encoding="utf-8", rows=[
        (2, {"类型": "parking", "经度": "118.78", "纬度": "32.04", "人数": "3"}),
        (3, {"类型": "parking", "经度": "32.04", "纬度": "118.78", "人数": "1"}),
        (4, {"类型": "parking", "经度": None, "纬度": None, "人数": "2.5"}),
    ])
    with pytest.raises(InvalidInput) as caught:
        ledgers.parse_needs(table, kinds=["parking"])
    problems = [(p["row"], p["column"]) for p in caught.value.details["problems"]]
    assert problems == [(3, "经度"), (4, "经度"), (4, "人数")]  # row 4: no place, and 2.5 people
    assert caught.value.message.startswith("x.csv: row 3, column 经度")
    good = Table(file="y.csv", headers=["类型", "经度", "纬度"], encoding="utf-8",
                 rows=[(2, {"类型": "parking", "经度": "118.78", "纬度": "32.04"})])
    [record] = ledgers.parse_needs(good, kinds=["parking"])
    assert (record["lon"], record["affected_people"], record["row"]) == (118.78, 1, 2)
