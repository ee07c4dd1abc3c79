"""Coverage gaps: a run's uncovered buildings of one type clustered into areas one new facility could serve."""

from __future__ import annotations

from typing import Any, TypedDict, cast

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.gaps import DEFAULT_LINK_M, find_gaps
from gis.crs import metric_crs_for_frame
from gis.db.frames import read_frame
from gis.errors import NotFound
from gis.layers import STORAGE_CRS
from gis.progress import Progress, noop_progress
from gis.services.coverage.cache import Homes
from gis.services.coverage.compute import run_for
from gis.services.coverage.district import (
    LEVEL_COLUMNS,
    check_type,
    facility_types,
    resolve_district,
    unit_names,
    units_of,
)


class GapsResult(TypedDict):
    """What ``coverage_gaps`` answers: the run, the type, the gaps ranked (records and GeoJSON) and the totals."""

    run_id: int
    computed_now: bool
    district_code: str
    type_code: str
    name_zh: str
    radius_m: float
    target_group: str
    mode: str
    link_m: float
    max_span_m: float
    gaps_total: int
    uncovered_households: int
    uncovered_target_population: int
    gaps: list[dict[str, Any]]
    geojson: dict[str, Any]


def coverage_gaps(
    session: Session,
    *,
    type_code: str,
    district_code: str | None = None,
    run_id: int | None = None,
    link_m: float = DEFAULT_LINK_M,
    max_span_m: float | None = None,
    top: int | None = None,
    progress: Progress = noop_progress,
) -> GapsResult:
    """Uncovered buildings of one type clustered into gap areas, ranked by uncovered target population.

    A gap is at most ``max_span_m`` across (default: the type's walking radius), so that each is
    roughly what one new facility could serve.
    """
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    type_code = check_type(catalogue, type_code)
    computed = False
    if run_id is None:
        run_id, computed = run_for(session, code, type_code, lambda s, f: progress(s, 0.6 * f))
    progress("loading uncovered buildings", 0.6)
    rows = read_frame(session, """
        SELECT c.building_id, c.distance_m, c.within_standard, c.households, c.target_population,
               ST_AsBinary(b.geom) AS geom
        FROM building_coverage c JOIN building b ON b.id = c.building_id
        WHERE c.run_id = :r AND c.type_code = :t ORDER BY c.building_id""", {"r": run_id, "t": type_code})
    run = session.execute(text("SELECT mode, network_version FROM coverage_run WHERE id = :r"), {"r": run_id}).first()
    if run is None:
        raise NotFound(f"coverage run {run_id} does not exist", details={"field": "run_id"})
    ft = catalogue[type_code]
    span = max_span_m if max_span_m is not None else ft.radius_m
    head: dict[str, Any] = {"run_id": run_id, "computed_now": computed, "district_code": code,
                            "type_code": type_code, "name_zh": ft.name_zh, "radius_m": ft.radius_m,
                            "target_group": ft.target_group, "mode": run[0], "link_m": link_m, "max_span_m": span}
    if rows.empty:
        return cast(GapsResult, {**head, "gaps_total": 0, "gaps": [], "uncovered_households": 0,
                                 "uncovered_target_population": 0,
                                 "geojson": {"type": "FeatureCollection", "features": []}})
    gaps = _find_gaps(session, code, rows, link_m=link_m, max_span_m=span)
    progress("outlining gaps", 0.9)
    uncovered = ~rows["within_standard"].to_numpy(dtype=bool)
    total = len(gaps)
    if top is not None:
        gaps = gaps.head(top)
    records, features = _describe(session, code, gaps, rows["building_id"].to_numpy(dtype=np.int64))
    progress("done", 1.0)
    return cast(GapsResult, {
        **head, "gaps_total": total, "uncovered_households": int(rows["households"].to_numpy()[uncovered].sum()),
        "uncovered_target_population": int(rows["target_population"].to_numpy()[uncovered].sum()),
        "gaps": records, "geojson": {"type": "FeatureCollection", "features": features}})


def _find_gaps(session: Session, code: str, rows: gpd.GeoDataFrame, *, link_m: float,
               max_span_m: float) -> gpd.GeoDataFrame:
    """The gap areas of a run's buildings (``rows``), in a metric CRS, ranked."""
    crs = metric_crs_for_frame(rows)
    ids = rows["building_id"].to_numpy(dtype=np.int64)
    units, _ = units_of(session, Homes(code, ids, np.zeros(len(ids), np.int64)))
    distance = rows["distance_m"].astype(float).fillna(np.inf).to_numpy()
    return find_gaps(rows.geometry.to_crs(crs).values, uncovered=~rows["within_standard"].to_numpy(dtype=bool),
                     target_population=rows["target_population"].to_numpy(), households=rows["households"].to_numpy(),
                     distance_m=distance, units=units[["street_code", "community_code", "grid_code"]],
                     link_m=link_m, max_span_m=max_span_m, crs=crs)


def _describe(session: Session, code: str, gaps: gpd.GeoDataFrame,
              ids: np.ndarray) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each gap as a record (with its buildings' ids) and as a GeoJSON feature in lon/lat (without them)."""
    names = {level: unit_names(session, level, code) for level in LEVEL_COLUMNS}
    lonlat = gaps.to_crs(STORAGE_CRS) if len(gaps) else gaps
    records = []
    features = []
    for row in lonlat.itertuples():
        centre = row.geometry.representative_point()
        record = {
            "rank": int(row.rank), "buildings": int(row.buildings), "households": int(row.households),
            "target_population": int(row.target_population),
            "nearest_m": None if row.nearest_m is None or not np.isfinite(row.nearest_m) else round(row.nearest_m),
            "area_m2": float(row.area_m2), "street_code": row.street_code,
            "community_code": row.community_code, "community_name": names["community"].get(row.community_code),
            "grid_code": row.grid_code, "grid_name": names["grid"].get(row.grid_code),
            "lon": round(centre.x, 6), "lat": round(centre.y, 6),
            "building_ids": [int(ids[b]) for b in row.building_index],
        }
        records.append(record)
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(row.geometry),
                         "properties": {k: v for k, v in record.items() if k != "building_ids"}})
    return records, features
