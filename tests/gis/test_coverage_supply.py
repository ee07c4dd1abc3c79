"""Supply against demand: places needed per 1,000 residents against places provided, ranked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gis.coverage.supply import supply_table
from gis.errors import InvalidInput


def test_shortfall_ranked_and_defaults_flagged() -> None:
    demand = pd.DataFrame({"unit": ["A", "B", "C", None], "residents": [10_000, 3_000, 500, 100],
                           "target_population": [450, 135, 22, 4]})
    facilities = pd.DataFrame({"unit": ["A", "B", "B", "D"], "capacity": [120, np.nan, 90, 60]})
    table = supply_table(demand, facilities, capacity_per_1000=30, default_capacity=180)
    rows = {r["unit"]: r for r in table.to_dict("records")}
    assert table["unit"].tolist()[:2] == ["A", "C"]  # 300 - 120 = 180 short, then 15 short
    assert rows["A"]["places_needed"] == 300 and rows["A"]["shortfall"] == 180
    assert rows["B"]["places_provided"] == 270 and rows["B"]["facilities_capacity_assumed"] == 1
    assert rows["B"]["shortfall"] == 0 and rows["B"]["surplus"] == 180 and rows["B"]["provision_ratio"] == 3.0
    assert rows["C"]["places_needed"] == 15 and rows["C"]["facilities"] == 0  # 500 × 30 / 1000
    assert rows[None]["places_needed"] == 3  # homes outside every unit still need places
    assert rows["D"]["residents"] == 0 and rows["D"]["surplus"] == 60


def test_no_default_counts_unknown_capacity_as_zero_but_flags_it() -> None:
    table = supply_table(pd.DataFrame({"unit": ["A"], "residents": [1000], "target_population": [45]}),
                         pd.DataFrame({"unit": ["A"], "capacity": [np.nan]}), capacity_per_1000=10,
                         default_capacity=None)
    row = table.iloc[0]
    assert row["places_provided"] == 0 and row["facilities_capacity_assumed"] == 1 and row["shortfall"] == 10


def test_bad_input_is_named() -> None:
    with pytest.raises(InvalidInput, match="residents"):
        supply_table(pd.DataFrame({"unit": ["A"]}), pd.DataFrame({"unit": [], "capacity": []}),
                     capacity_per_1000=1, default_capacity=None)
    with pytest.raises(InvalidInput, match="capacity_per_1000"):
        supply_table(pd.DataFrame({"unit": [], "residents": [], "target_population": []}),
                     pd.DataFrame({"unit": [], "capacity": []}), capacity_per_1000=-1, default_capacity=None)


def test_per_target_group_needs_a_place_per_person_of_the_group() -> None:
    demand = pd.DataFrame({"unit": ["A", "B"], "residents": [1000, 500], "target_population": [40, 11]})
    facilities = pd.DataFrame({"unit": ["A"], "capacity": [30]})
    table = supply_table(demand, facilities, capacity_per_1000=1000, default_capacity=None,
                         basis="target_population")
    rows = {r["unit"]: r for r in table.to_dict("records")}
    assert (rows["A"]["places_needed"], rows["A"]["shortfall"]) == (40, 10)
    assert (rows["B"]["places_needed"], rows["B"]["shortfall"]) == (11, 11)
    assert table["unit"].tolist() == ["B", "A"]
    with pytest.raises(InvalidInput, match="basis"):
        supply_table(demand, facilities, capacity_per_1000=1, default_capacity=None, basis="households")
