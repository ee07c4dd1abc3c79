"""Gaps and roll-ups: uncovered buildings clustered and ranked; totals that add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from gis.coverage.distances import TypeCoverage
from gis.coverage.gaps import find_gaps
from gis.coverage.rollup import coverage_table, estimate_population, rollup


def square(x: float, y: float, side: float = 20.0):
    return box(x, y, x + side, y + side)


def test_gaps_cluster_neighbours_and_rank_by_target_population() -> None:
    footprints = np.array([square(0, 0), square(40, 0), square(1000, 0), square(2000, 0), square(80, 0)],
                          dtype=object)
    uncovered = np.array([True, True, True, False, True])
    gaps = find_gaps(footprints, uncovered=uncovered, target_population=np.array([5, 5, 30, 100, 0]),
                     households=np.array([10, 10, 20, 50, 0]), distance_m=np.array([400, 350, np.inf, 100, 500.0]),
                     units=pd.DataFrame({"community_code": ["A", "A", "B", "C", "A"]}), link_m=60)
    assert gaps["rank"].tolist() == [1, 2]
    assert gaps["target_population"].tolist() == [30, 10]  # the lone building outranks the pair
    assert gaps["buildings"].tolist() == [1, 2]  # the empty building (index 4) is no gap
    assert gaps["building_index"].tolist() == [[2], [0, 1]]
    assert gaps["community_code"].tolist() == ["B", "A"]
    assert np.isnan(gaps["nearest_m"].iloc[0]) and gaps["nearest_m"].iloc[1] == 350  # NaN: beyond the search
    assert gaps.geometry.iloc[1].contains(footprints[0]) and gaps.geometry.iloc[1].contains(footprints[1])


def test_a_gap_is_at_most_the_span_asked_for() -> None:
    # A long row of houses 30 m apart chains into one component; 150 m spans cut it into pieces.
    footprints = np.array([square(30 * i, 0, 10) for i in range(40)], dtype=object)
    ones = np.ones(40)
    whole = find_gaps(footprints, uncovered=ones.astype(bool), target_population=ones, households=ones, link_m=60)
    assert len(whole) == 1
    split = find_gaps(footprints, uncovered=ones.astype(bool), target_population=ones, households=ones, link_m=60,
                      max_span_m=150)
    assert len(split) > 1 and split["buildings"].sum() == 40
    for members in split["building_index"]:
        assert 30 * (max(members) - min(members)) <= 150


def test_rollups_add_up_per_unit_and_type() -> None:
    cov = TypeCoverage("kindergarten", 300, 600, "network", np.array([0, 0, -1]), np.array([100.0, 300.0, np.inf]))
    population = pd.DataFrame({"all": [10, 20, 30], "age_3_6": [1, 2, 3]})
    table = coverage_table({"kindergarten": cov}, households=np.array([4, 8, 12]), population=population,
                           target_group={"kindergarten": "age_3_6"},
                           units=pd.DataFrame({"community_code": ["A", "B", None]}))
    out = rollup(table, "community_code").set_index("community_code")
    assert out.loc["A", "households_covered"] == 4 and out.loc["B", "target_population_covered"] == 2
    assert out.loc["", "households_not_covered"] == 12  # outside every community, but still counted
    assert out["households"].sum() == 24 and out["target_population"].sum() == 6
    assert out.loc["A", "households_covered_share"] == 1.0


def test_population_estimates_from_households() -> None:
    est = estimate_population(np.array([100, 0]))
    assert est["all"].tolist() == [262, 0]
    assert 0 < est.loc[0, "age_3_6"] < est.loc[0, "age_60_plus"] < est.loc[0, "all"]


def test_coverage_needs_a_population_column_per_target_group() -> None:
    cov = TypeCoverage("elderly_daycare", 300, 600, "network", np.array([-1]), np.array([np.inf]))
    with pytest.raises(Exception, match="age_60_plus"):
        coverage_table({"elderly_daycare": cov}, households=np.array([1]), population=pd.DataFrame({"all": [1]}),
                       target_group={"elderly_daycare": "age_60_plus"})


def test_a_gap_astride_two_communities_names_one_community_and_its_own_grid() -> None:
    footprints = np.array([square(0, 0), square(30, 0), square(60, 0)], dtype=object)
    units = pd.DataFrame({"community_code": ["A", "B", "B"], "grid_code": ["A01", "B01", "B02"]})
    gaps = find_gaps(footprints, uncovered=np.ones(3, dtype=bool), target_population=np.array([50, 30, 30]),
                     households=np.array([10, 10, 10]), units=units, link_m=60)
    # Community B holds more people (60 against 50), but no single grid of B beats A01: the pair stays consistent.
    assert (gaps["community_code"].iloc[0], gaps["grid_code"].iloc[0]) == ("A", "A01")
