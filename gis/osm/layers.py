"""The district layers from the collected features: buildings, land use, barriers, compounds, facilities.

A facility mapped twice (a node inside its polygon, or two features nearby with similar names)
is kept once, through ``gis.catalogue.find_duplicates``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.catalogue import find_duplicates
from gis.households import building_use
from gis.layers import (
    BARRIER_COLUMNS,
    BUILDING_COLUMNS,
    COMPOUND_COLUMNS,
    FACILITY_COLUMNS,
)
from gis.osm.collect import Collected
from gis.osm.geometry import line_geometry, line_midpoint, make_frame
from gis.osm.tags import DUPLICATE_DISTANCE_M, parse_height, parse_levels, tag_name


def building_frame(out: Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    idx = [i for i, a in enumerate(out.areas) if a.building and geoms[i] is not None]
    areas = [out.areas[i] for i in idx]
    levels = [parse_levels(a.tags.get("building:levels")) for a in areas]
    heights = [parse_height(a.tags.get("height")) for a in areas]
    data = {
        "osm_id": np.array([a.osm_id for a in areas], dtype=np.int64),
        "name": [tag_name(a.tags) for a in areas],
        "kind": [a.tags.get("building") for a in areas],
        "levels": pd.array(levels, dtype="Int64"),
        "height": pd.array(heights, dtype="Float64"),
        "households": pd.array([None] * len(areas), dtype="Int64"),
        "households_estimated": pd.array([None] * len(areas), dtype="boolean"),
    }
    frame = make_frame(BUILDING_COLUMNS, data, geoms[idx] if idx else [])
    # What the household estimate reads besides the contract's columns (gis.households).
    # (the columns of BUILDING_OSM_EXTRAS)
    frame["layer"] = pd.array([_parse_layer(a.tags) for a in areas], dtype="Float64")
    frame["location"] = [a.tags.get("location") for a in areas]
    frame["use"] = [building_use(a.tags) for a in areas]
    return frame


def _parse_layer(tags: Mapping[str, str]) -> float | None:
    """The lowest of ``layer`` and ``level`` ('-1', '-2;-1'), or None."""
    found = []
    for key in ("layer", "level"):
        for part in (tags.get(key) or "").split(";"):
            try:
                found.append(float(part.strip()))
            except ValueError:
                continue
    return min(found) if found else None


def land_use_frame(out: Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    """Land use and amenity areas that say what the buildings in them are (``kind``: key=value)."""
    idx = [i for i, a in enumerate(out.areas) if a.context and geoms[i] is not None]
    data = {
        "kind": [out.areas[i].context for i in idx],
        "name": [tag_name(out.areas[i].tags) for i in idx],
        "osm_id": np.array([out.areas[i].osm_id for i in idx], dtype=np.int64),
    }
    return make_frame(("kind", "name", "osm_id"), data, geoms[idx] if idx else [])


def barrier_frame(out: Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    kinds: list[str] = []
    names: list[str | None] = []
    ids: list[int] = []
    shapes: list[Any] = []
    for kind, line in out.barrier_lines:
        geom = line_geometry(line)
        if geom is None:
            out.counts["incomplete_skipped"] += 1
            out.problem(f"way {line.osm_id}: {kind} line has fewer than two nodes in the extract; skipped")
            continue
        kinds.append(kind)
        names.append(tag_name(line.tags))
        ids.append(line.osm_id)
        shapes.append(geom)
    for i, a in enumerate(out.areas):
        if a.water and geoms[i] is not None:
            kinds.append("water")
            names.append(tag_name(a.tags))
            ids.append(a.osm_id)
            shapes.append(geoms[i])
    data = {"kind": kinds, "name": names, "osm_id": np.array(ids, dtype=np.int64)}
    return make_frame(BARRIER_COLUMNS, data, shapes)


def compound_frame(out: Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    idx = [i for i, a in enumerate(out.areas) if a.compound and geoms[i] is not None]
    data = {
        "osm_id": np.array([out.areas[i].osm_id for i in idx], dtype=np.int64),
        "name": [tag_name(out.areas[i].tags) for i in idx],
    }
    return make_frame(COMPOUND_COLUMNS, data, geoms[idx] if idx else [])


def facility_frame(out: Collected, geoms: np.ndarray) -> gpd.GeoDataFrame:
    rows: list[tuple[int, str | None, str, str]] = []
    points: list[Any] = []
    polygons: list[Any] = []  # the polygon of each row, None for nodes and lines
    for i, a in enumerate(out.areas):
        if a.facility is None:
            continue
        geom = geoms[i]
        if geom is None:
            point = line_midpoint(a.ring) if a.ring is not None else None
            if point is None:
                continue
        else:
            point = shapely.point_on_surface(geom)
        rows.append((a.osm_id, tag_name(a.tags), *a.facility))
        points.append(point)
        polygons.append(geom)
    for osm_id, name, code, by, xy in out.facility_lines:
        point = line_midpoint(xy)
        if point is not None:
            rows.append((osm_id, name, code, by))
            points.append(point)
            polygons.append(None)
    for osm_id, name, code, by, lon, lat in out.facility_nodes:
        rows.append((osm_id, name, code, by))
        points.append(shapely.Point(lon, lat))
        polygons.append(None)

    drop = _duplicates(rows, points, polygons)
    out.counts["facility_duplicates_dropped"] = len(drop)
    keep = [k for k in range(len(rows)) if k not in drop]
    data = {
        "osm_id": np.array([rows[k][0] for k in keep], dtype=np.int64),
        "name": [rows[k][1] for k in keep],
        "type_code": [rows[k][2] for k in keep],
        "classified_by": [rows[k][3] for k in keep],
    }
    return make_frame(FACILITY_COLUMNS, data, [points[k] for k in keep])


def _duplicates(rows: list[tuple[int, str | None, str, str]], points: list[Any], polygons: list[Any]) -> set[int]:
    """Rows that map a facility already mapped (``gis.catalogue.find_duplicates``); kept rows take a lost name."""
    if len(rows) < 2:
        return set()
    geoms = [p if p is not None else q for p, q in zip(polygons, points, strict=True)]
    lat = float(np.mean([pt.y for pt in points]))
    # Metres near the data: an equirectangular scale is exact enough for a 50 m test.
    scale = (111_320.0 * math.cos(math.radians(lat)), 110_540.0)
    metric = [shapely.transform(g, lambda xy: xy * np.asarray(scale)) for g in geoms]
    found = find_duplicates([r[1] for r in rows], [r[2] for r in rows], metric,
                            is_polygon=[p is not None for p in polygons], distance_m=DUPLICATE_DISTANCE_M)
    for dropped, kept in found.items():
        if not rows[kept][1] and rows[dropped][1]:
            rows[kept] = (rows[kept][0], rows[dropped][1], rows[kept][2], rows[kept][3])
    return set(found)
