"""The in-memory shape of a district's source data, shared by every reader and generator.

``gis.osm.read_osm`` and ``gis.synthetic.generate_district`` both return a
``DistrictLayers``; the import service stores any ``DistrictLayers`` the same way.
All frames are in EPSG:4490 (CGCS2000; WGS84 input is taken as equivalent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd

STORAGE_CRS = "EPSG:4490"

# Columns each frame must carry (besides ``geometry``), in this order.
BUILDING_COLUMNS = ("osm_id", "name", "kind", "levels", "height", "households", "households_estimated")
NODE_COLUMNS = ("node_id", "osm_id")
EDGE_COLUMNS = ("source", "target", "length_m", "highway", "is_main_road", "name", "osm_id")
BARRIER_COLUMNS = ("kind", "name", "osm_id")
COMPOUND_COLUMNS = ("osm_id", "name")
FACILITY_COLUMNS = ("osm_id", "name", "type_code", "classified_by")

# Highway classes that act as grid barriers (main roads); minor roads are cheap to cut.
MAIN_ROAD_CLASSES = frozenset(
    {"motorway", "trunk", "primary", "secondary", "motorway_link", "trunk_link", "primary_link", "secondary_link"}
)


@dataclass
class DistrictLayers:
    """Buildings, walk network, barriers, compounds and facilities of one district.

    buildings: Polygon/MultiPolygon; ``kind`` is the OSM building value or ``residential``/...;
        ``levels`` may be missing (NA); ``households`` is the recorded or estimated count and
        ``households_estimated`` says which.
    nodes: Point per network node; ``node_id`` is unique within the layers (int64).
    edges: LineString per walkable segment between two nodes, undirected; ``length_m`` metric.
    barriers: waterways, water areas and railways (``kind``: waterway | water | railway).
    compounds: named residential areas (小区).
    facilities: Point per catalogue facility (``type_code`` from ``gis.catalogue``).
    report: counts and problems met while reading (e.g. ``{"invalid_repaired": 3, "invalid_skipped": 1}``).
    """

    buildings: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    report: dict[str, Any] = field(default_factory=dict)
    # Land use and amenity areas (``kind`` key=value, ``name``) that household estimates read; None if unknown.
    land_use: gpd.GeoDataFrame | None = None


def empty_frame(columns: tuple[str, ...]) -> gpd.GeoDataFrame:
    """An empty GeoDataFrame with the given columns, in the storage CRS."""
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=STORAGE_CRS)
