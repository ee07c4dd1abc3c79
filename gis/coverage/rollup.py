"""Roll per-building coverage up to streets, communities and grids.

Coverage is reported as households and target population reached and not reached (domain
§4): everybody for a health station, people aged 60+ for elderly day-care, children 3–5 for a
kindergarten (the half-open bands of ``gis.catalogue.TARGET_BANDS``). Each facility type is
counted on its own; a 15-minute facility does not excuse a missing 5-minute one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from gis.coverage.distances import TypeCoverage
from gis.errors import InvalidInput

__all__ = ["FIGURES", "GROUP_SHARE", "PERSONS_PER_HOUSEHOLD", "coverage_table", "estimate_population", "rollup"]

FIGURES = (
    "buildings", "households", "households_covered", "households_not_covered",
    "target_population", "target_population_covered", "target_population_not_covered",
)

# Used only for a district without resident records: persons per urban household and the
# share of each target group (the bands of ``gis.catalogue.TARGET_BANDS``: three cohorts for
# 0-2, 3-5 and 12-14, six for 6-11), roughly those of the 2020 census. Figures built on them are
# reported as estimated.
PERSONS_PER_HOUSEHOLD = 2.62
GROUP_SHARE = {"all": 1.0, "age_0_3": 0.029, "age_3_6": 0.045, "school_age": 0.085, "age_12_15": 0.045,
               "age_60_plus": 0.187}


def estimate_population(households: np.ndarray) -> pd.DataFrame:
    """People per building and target group estimated from households (when no residents are recorded)."""
    persons = np.asarray(households, dtype=float) * PERSONS_PER_HOUSEHOLD
    return pd.DataFrame({group: np.rint(persons * share).astype(np.int64) for group, share in GROUP_SHARE.items()})


def coverage_table(
    coverages: Mapping[str, TypeCoverage],
    *,
    households: np.ndarray,
    population: pd.DataFrame,
    target_group: Mapping[str, str],
    units: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per building and type: nearest facility, distance, covered, households, target population.

    Parameters
    ----------
    coverages
        ``TypeCoverage`` per type code, all over the same buildings.
    households
        Households per building.
    population
        People per building (rows) and target group (columns such as ``all``, ``age_3_6``).
    target_group
        The target group of each type code.
    units
        Optional columns to carry along per building (``street_code``, ``community_code``...).
    """
    n = len(households)
    parts = []
    for code, cov in coverages.items():
        group = target_group.get(code)
        if group not in population.columns:
            raise InvalidInput(f"population: no column for target group {group!r} of {code!r}; "
                               f"got {list(population.columns)}")
        if len(cov.distance_m) != n:
            raise InvalidInput(f"coverage of {code!r} has {len(cov.distance_m)} buildings, households {n}")
        frame = pd.DataFrame({
            "building": np.arange(n),
            "type_code": code,
            "facility": cov.facility,
            "distance_m": cov.distance_m,
            "covered": cov.covered,
            "households": np.asarray(households, dtype=np.int64),
            "target_population": population[group].to_numpy(dtype=np.int64),
        })
        if units is not None:
            for column in units.columns:
                frame[column] = units[column].to_numpy()
        parts.append(frame)
    if not parts:
        return pd.DataFrame(columns=["building", "type_code", "facility", "distance_m", "covered", "households",
                                     "target_population"])
    return pd.concat(parts, ignore_index=True)


def rollup(table: pd.DataFrame, by: str | Sequence[str]) -> pd.DataFrame:
    """Households and target population covered and not covered, summed per ``by`` group.

    Rows without a value in a ``by`` column (a building outside every unit) form their own
    group with an empty code, so that nothing silently drops out of the totals.
    """
    keys = [by] if isinstance(by, str) else list(by)
    frame = table.copy()
    for key in keys:
        frame[key] = frame[key].astype(object).where(frame[key].notna(), "")
    cov = frame["covered"].to_numpy(dtype=bool)
    frame["buildings"] = 1
    frame["households_covered"] = np.where(cov, frame["households"], 0)
    frame["target_population_covered"] = np.where(cov, frame["target_population"], 0)
    out = frame.groupby(keys, sort=True)[["buildings", "households", "households_covered", "target_population",
                                          "target_population_covered"]].sum().reset_index()
    out["households_not_covered"] = out["households"] - out["households_covered"]
    out["target_population_not_covered"] = out["target_population"] - out["target_population_covered"]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["households_covered_share"] = np.round(out["households_covered"] / out["households"], 4)
        out["target_population_covered_share"] = np.round(
            out["target_population_covered"] / out["target_population"], 4)
    for column in ("households_covered_share", "target_population_covered_share"):
        out[column] = out[column].where(np.isfinite(out[column]), None)
    return out[[*keys, *FIGURES, "households_covered_share", "target_population_covered_share"]]
