"""Isochrone polygons per facility as GeoJSON for maps: display only, never the coverage figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

import geopandas as gpd
import shapely
from sqlalchemy.orm import Session

from gis.coverage.isochrones import DEFAULT_WIDTH_M, network_isochrones, straight_line_isochrones
from gis.coverage.network import locate_sites
from gis.layers import STORAGE_CRS
from gis.progress import Progress, noop_progress
from gis.services.coverage.cache import prepare_district
from gis.services.coverage.district import (
    STRAIGHT_LINE_NOTE,
    check_mode,
    check_types,
    facility_types,
    metric_points,
    read_facilities,
    require_network,
    resolve_district,
)


class IsochroneCollection(TypedDict):
    """A GeoJSON FeatureCollection: one polygon per facility (``facility_id``, ``type_code``, ``radius_m``)."""

    type: str
    features: list[dict[str, Any]]
    properties: dict[str, Any]


def facility_isochrones(
    session: Session,
    *,
    district_code: str | None = None,
    type_code: str | None = None,
    facility_ids: Sequence[int] | None = None,
    mode: str = "network",
    width_m: float = DEFAULT_WIDTH_M,
    progress: Progress = noop_progress,
) -> IsochroneCollection:
    """Isochrone polygons per facility as GeoJSON (lon/lat) for maps; display only, not the coverage figures."""
    check_mode(mode)
    code, _, _ = resolve_district(session, district_code)
    catalogue = facility_types(session)
    codes = check_types(catalogue, [type_code] if type_code else None)
    facilities = read_facilities(session, code, codes)
    if facility_ids is not None:
        facilities = facilities[facilities["id"].isin(list(facility_ids))]
    features = []
    prepared = prepare_district(session, code, progress=lambda s, f: progress(s, 0.3 * f))
    groups = list(facilities.groupby("type_code", sort=True)) if len(facilities) else []
    for i, (tc, group) in enumerate(groups):
        progress(f"isochrones: {tc}", 0.3 + 0.7 * i / max(len(groups), 1))
        radius = catalogue[tc].radius_m
        pts = metric_points(group, prepared.crs)
        if mode == "network":
            graph = require_network(prepared, code)
            polygons = network_isochrones(graph, locate_sites(graph, pts), radius, width_m=width_m)
        else:
            polygons = straight_line_isochrones(pts, radius)
        lonlat = gpd.GeoSeries(polygons, crs=prepared.crs).to_crs(STORAGE_CRS)
        for row, geom in zip(group.itertuples(), lonlat, strict=True):
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom), "properties": {
                "facility_id": int(row.id), "type_code": tc, "name": row.name, "radius_m": radius, "mode": mode,
                "display_only": True}})
    progress("done", 1.0)
    return IsochroneCollection(type="FeatureCollection", features=features,
                               properties={"district_code": code, "mode": mode,
                                           "note": ("display geometry; coverage figures come from per-building "
                                                    "distances" if mode == "network" else STRAIGHT_LINE_NOTE)})
