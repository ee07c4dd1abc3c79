"""Supply against demand (千人指标): places needed per unit against places its facilities provide.

Places needed are the catalogue's ``capacity_per_1000`` (places per 1,000 residents, the
千人指标 of the planning norms) times the unit's residents, or, per target group, a place for
every person of the type's target group (every child of kindergarten age); places provided are the recorded
capacities of the facilities inside the unit, or the type's ``default_capacity`` where none is
recorded (counted and flagged as assumed). The shortfall ranks the units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gis.errors import InvalidInput

__all__ = ["BASES", "SUPPLY_COLUMNS", "supply_table"]

BASES = ("residents", "target_population")

SUPPLY_COLUMNS = ("unit", "residents", "target_population", "places_needed", "facilities", "places_provided",
                  "facilities_capacity_assumed", "shortfall", "surplus", "provision_ratio")


def supply_table(
    demand: pd.DataFrame,
    facilities: pd.DataFrame,
    *,
    capacity_per_1000: float,
    default_capacity: float | None,
    basis: str = "residents",
) -> pd.DataFrame:
    """One row per unit, ranked by shortfall (largest first), then by places needed.

    Parameters
    ----------
    demand
        Columns ``unit``, ``residents`` and ``target_population``: one row per unit (a unit of
        None gathers homes outside every unit).
    facilities
        Columns ``unit`` and ``capacity`` (NaN where unknown): one row per facility.
    capacity_per_1000
        Places needed per 1,000 residents.
    default_capacity
        Places assumed for a facility with no recorded capacity; None counts such a facility as 0
        places (and flags it all the same).
    basis
        ``residents`` (places per 1,000 residents, the 千人指标) or ``target_population`` (places
        per 1,000 people of the type's target group: 1,000 is a place for every child).
    """
    if basis not in BASES:
        raise InvalidInput(f"basis must be one of {', '.join(BASES)}; got {basis!r}")
    for frame, name, columns in ((demand, "demand", ("unit", "residents", "target_population")),
                                 (facilities, "facilities", ("unit", "capacity"))):
        missing = [c for c in columns if c not in frame]
        if missing:
            raise InvalidInput(f"supply_table: {name} lacks column(s) {', '.join(missing)}; has {list(frame.columns)}")
    if not capacity_per_1000 >= 0:
        raise InvalidInput(f"capacity_per_1000 must be a non-negative number of places; got {capacity_per_1000}")
    key = "__unit__"
    d = demand.assign(**{key: demand["unit"].fillna("")}).groupby(key, sort=True)[
        ["residents", "target_population"]].sum()
    cap = pd.to_numeric(facilities["capacity"], errors="coerce").astype(float)
    assumed = cap.isna()
    provided = cap.fillna(float(default_capacity) if default_capacity is not None else 0.0)
    f = pd.DataFrame({key: facilities["unit"].fillna("").to_numpy(), "places": provided.to_numpy(),
                      "assumed": assumed.to_numpy()})
    supply = f.groupby(key, sort=True).agg(facilities=("places", "size"), places_provided=("places", "sum"),
                                           facilities_capacity_assumed=("assumed", "sum"))
    table = d.join(supply, how="outer").fillna(0)
    needed = np.ceil(table[basis].to_numpy(dtype=float) * capacity_per_1000 / 1000.0 - 1e-9)
    table["places_needed"] = needed.astype(np.int64)
    table["places_provided"] = table["places_provided"].round().astype(np.int64)
    gap = table["places_needed"] - table["places_provided"]
    table["shortfall"] = gap.clip(lower=0)
    table["surplus"] = (-gap).clip(lower=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table["places_provided"] / table["places_needed"].replace(0, np.nan)
    table["provision_ratio"] = ratio.round(3)
    for column in ("residents", "target_population", "facilities", "facilities_capacity_assumed"):
        table[column] = table[column].astype(np.int64)
    table = table.reset_index().rename(columns={key: "unit"})
    table["unit"] = table["unit"].astype(object).where(table["unit"] != "", None)
    table = table.sort_values(["shortfall", "places_needed", "unit"], ascending=[False, False, True],
                              na_position="last", kind="stable")
    return table[list(SUPPLY_COLUMNS)].reset_index(drop=True)
