"""What-if: one type's coverage after adding, moving or removing one facility, from the cached reach table."""

from __future__ import annotations

import time
from typing import Any, TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

from gis.coverage.distances import DEFAULT_LIMIT_FACTOR, reach_by_network
from gis.coverage.network import locate_sites
from gis.coverage.siting import what_if as reach_what_if
from gis.errors import InvalidInput, NotFound
from gis.layers import STORAGE_CRS
from gis.progress import Progress, noop_progress
from gis.services.coverage.cache import prepare_district
from gis.services.coverage.district import (
    NETWORK_NOTE,
    check_type,
    facility_reach,
    facility_types,
    population_of,
    read_facilities,
    require_network,
    resolve_district,
    units_of,
)


class WhatIfResult(TypedDict):
    """Households and target population covered before and after the change, and the communities it changes."""

    district_code: str
    type_code: str
    radius_m: float
    action: dict[str, Any]
    distance: str
    population_source: str
    households_covered_before: int
    households_covered_after: int
    target_population_covered_before: int
    target_population_covered_after: int
    buildings_gaining: int
    buildings_losing: int
    communities_changed: list[dict[str, Any]]
    reach_s: float
    update_s: float


def what_if(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    add: tuple[float, float] | None = None,
    remove: int | None = None,
    move: tuple[int, float, float] | None = None,
    limit_factor: float = DEFAULT_LIMIT_FACTOR,
    progress: Progress = noop_progress,
) -> WhatIfResult:
    """Coverage of one type after adding, moving or removing one facility, from the cached reach table.

    ``add`` is (lon, lat); ``remove`` a facility id; ``move`` (facility id, lon, lat). Nothing is stored.
    """
    if sum(x is not None for x in (add, remove, move)) != 1:
        raise InvalidInput("add, remove, move: give exactly one of them", details={"field": "add"})
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = check_type(catalogue, type_code)
    ft = catalogue[type_code]
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.5 * f))
    graph = require_network(prepared, code)
    facilities = read_facilities(session, code, [type_code])
    limit = ft.radius_m * limit_factor
    t0 = time.perf_counter()
    reach, ids = facility_reach(prepared, facilities, type_code, limit)
    reach_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    removed_index = None
    target = remove if remove is not None else (move[0] if move is not None else None)
    if target is not None:
        where = np.flatnonzero(ids == target)
        if len(where) == 0:
            raise NotFound(f"facility {target} is not a {type_code} of district {code}",
                           details={"field": "remove" if remove is not None else "move"})
        removed_index = int(where[0])
    added = None
    point = add if add is not None else ((move[1], move[2]) if move is not None else None)
    if point is not None:
        pt = gpd.GeoSeries([shapely.Point(point)], crs=STORAGE_CRS).to_crs(prepared.crs).values
        added = reach_by_network(graph, locate_sites(graph, np.asarray(pt, dtype=object)), limit_m=limit)
    before_fac, before_d = reach.nearest()
    after_fac, after_d = reach_what_if(reach, remove=removed_index, add=added)
    update_s = time.perf_counter() - t1
    population, population_source = population_of(session, prepared.homes)
    units, names = units_of(session, prepared.homes)
    weights = population[ft.target_group].to_numpy(dtype=np.int64)
    before = before_d <= ft.radius_m
    after = after_d <= ft.radius_m
    hh = prepared.households
    frame = units.assign(households=hh, target=weights, before=before, after=after)
    per_community = _communities_changed(frame, names["community"])
    action = ({"add": {"lon": add[0], "lat": add[1]}} if add is not None else
              {"remove": remove} if remove is not None else
              {"move": {"facility_id": move[0], "lon": move[1], "lat": move[2]}})  # type: ignore[index]
    progress("done", 1.0)
    return WhatIfResult(
        district_code=code, type_code=type_code, radius_m=ft.radius_m, action=action,
        distance=NETWORK_NOTE, population_source=population_source,
        households_covered_before=int(hh[before].sum()), households_covered_after=int(hh[after].sum()),
        target_population_covered_before=int(weights[before].sum()),
        target_population_covered_after=int(weights[after].sum()),
        buildings_gaining=int((after & ~before).sum()), buildings_losing=int((before & ~after).sum()),
        communities_changed=per_community,
        reach_s=round(reach_s, 4), update_s=round(update_s, 4),
    )


def _communities_changed(frame: pd.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    """Per community (by code) whose covered households or target population change: before and after."""
    out = []
    for unit, grp in frame.groupby(frame["community_code"].fillna(""), sort=True):
        row = {
            "community_code": unit or None, "name": names.get(str(unit)),
            "households_covered_before": int(grp.loc[grp["before"], "households"].sum()),
            "households_covered_after": int(grp.loc[grp["after"], "households"].sum()),
            "target_population_covered_before": int(grp.loc[grp["before"], "target"].sum()),
            "target_population_covered_after": int(grp.loc[grp["after"], "target"].sum()),
        }
        if (row["households_covered_before"], row["target_population_covered_before"]) != (
                row["households_covered_after"], row["target_population_covered_after"]):
            out.append(row)
    return out
