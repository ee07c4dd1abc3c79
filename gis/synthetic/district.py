"""``generate_district``: the synthetic city put together, step by step, as the layers of ``gis.layers``.

The steps run in a fixed order on one random generator (size the city, build the compounds,
node and thin the network, place the facilities, name the barriers), so that a seed gives the
same district every time; the frames are then converted from the local metric frame to EPSG:4490.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gis.crs import CHINA_BOUNDS, metric_crs_for
from gis.errors import InvalidInput
from gis.layers import (
    BARRIER_COLUMNS,
    BUILDING_COLUMNS,
    COMPOUND_COLUMNS,
    EDGE_COLUMNS,
    FACILITY_COLUMNS,
    NODE_COLUMNS,
    STORAGE_CRS,
    DistrictLayers,
)
from gis.progress import Progress, noop_progress
from gis.synthetic.buildings import Box, add_paths_and_entrances, fill_cells, layout_cells
from gis.synthetic.facilities import Facilities, place_facilities
from gis.synthetic.names import RAILWAY_NAMES, RIVER_NAMES, Names
from gis.synthetic.plan import (
    CAPACITY_MARGIN,
    CAPACITY_MAX,
    HIGHWAYS,
    SECONDARY,
    SIZING_ATTEMPTS,
    Buildings,
    Cell,
    CellLayout,
    CityPlan,
    Lines,
    plan_city,
)
from gis.synthetic.streets import build_network, streets_and_cells, thin_network

ToLonLat = Callable[[np.ndarray], np.ndarray]
"""Local metric (x, y) rows to lon/lat rows in EPSG:4490."""


def generate_district(
    *,
    households: int,
    seed: int = 0,
    origin: tuple[float, float] = (118.70, 32.00),
    progress: Progress | None = None,
) -> DistrictLayers:
    """Generate a synthetic Chinese city district with exactly ``households`` households.

    Parameters
    ----------
    households
        Total households over all buildings (at least 1). The city grows with it at about
        12,000–14,000 households per km² of residential superblocks (parks, schools and the
        river included); 200,000 households make a city of about 18 km². Plots come in whole
        superblocks, so a city under ~5,000 households is mostly parks.
    seed
        Seed of every random choice: the same seed and size give the same district.
    origin
        Longitude and latitude (CGCS2000) of the city's south-west corner; must lie in China.
    progress
        Optional ``progress(stage, fraction)`` callback, e.g. a CLI progress bar.

    Returns
    -------
    DistrictLayers
        All frames in EPSG:4490 with the columns of ``gis.layers``. Buildings carry recorded
        (made-up) household counts; ``report`` holds ``synthetic: True`` and the figures.
    """
    households, lon, lat = _checked(households, seed, origin)
    report_progress = progress or noop_progress
    city = _sized_city(seed, households, report_progress)
    rng = city.rng
    bld, built_cells, compounds = fill_cells(rng, city.cells, city.layouts, city.order, households, city.names)
    add_paths_and_entrances(city.lines, city.cells, built_cells, bld)

    report_progress("network", 0.45)
    net = _network(rng, city.lines)

    report_progress("facilities", 0.6)
    fac = place_facilities(rng, city.cells, built_cells, bld, households, city.names)

    report_progress("geometry", 0.7)
    to_lonlat, metric = _to_lonlat_factory((lon, lat))
    nodes, edges = _network_frames(net, city.lines, to_lonlat)
    buildings = _building_frame(bld, to_lonlat)
    compound_frame = _compound_frame(compounds, to_lonlat)
    barriers = _barrier_frame(rng, city.plan, to_lonlat)
    facilities = _facility_frame(fac, to_lonlat)
    report = {
        "synthetic": True,
        "seed": int(seed),
        "households": int(buildings["households"].sum()),
        "buildings": len(buildings),
        "residential_buildings": int((buildings["households"] > 0).sum()),
        "compounds": len(compound_frame),
        "nodes": len(nodes),
        "edges": len(edges),
        "main_road_edges": int(net.is_main.sum()),
        "facilities": len(facilities),
        **_figures(city.plan, households, facilities, barriers),
        "metric_crs": metric,
        "origin": [lon, lat],
    }
    report_progress("done", 1.0)
    return DistrictLayers(
        buildings=buildings[[*BUILDING_COLUMNS, "geometry"]],
        nodes=nodes[[*NODE_COLUMNS, "geometry"]],
        edges=edges[[*EDGE_COLUMNS, "geometry"]],
        barriers=barriers[[*BARRIER_COLUMNS, "geometry"]],
        compounds=compound_frame[[*COMPOUND_COLUMNS, "geometry"]],
        facilities=facilities[[*FACILITY_COLUMNS, "geometry"]],
        report=report,
    )


def _checked(households: Any, seed: Any, origin: tuple[float, float]) -> tuple[int, float, float]:
    """The household count and the origin's lon/lat, or an ``InvalidInput`` naming the field."""
    if isinstance(households, bool) or not isinstance(households, (int, np.integer)) or households < 1:
        raise InvalidInput(f"households must be a positive integer; got {households!r}",
                           details={"field": "households"})
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInput(f"seed must be a non-negative integer; got {seed!r}", details={"field": "seed"})
    lon, lat = (float(v) for v in origin)
    minx, miny, maxx, maxy = CHINA_BOUNDS
    if not (minx <= lon <= maxx and miny <= lat <= maxy):
        raise InvalidInput(
            f"origin must be a lon/lat in China (lon {minx:g}..{maxx:g}, lat {miny:g}..{maxy:g}); got {origin!r}",
            details={"field": "origin"},
        )
    return int(households), lon, lat


@dataclass
class _City:
    """A city whose compounds have room for the households: plan, streets, cells and their layouts."""

    rng: np.random.Generator
    names: Names
    plan: CityPlan
    lines: Lines
    cells: list[Cell]
    layouts: dict[int, CellLayout]
    order: list[int]  # residential cells in the order they are built


def _sized_city(seed: int, households: int, report_progress: Progress) -> _City:
    """Size the city, then check the room its compounds really offer.

    Aims for a capacity of 1.0-1.25 times the households (the rest of the plots become parks and
    shops); each attempt draws from its own generator, so a retry does not depend on the last one.
    """
    scale = 1.0
    for attempt in range(SIZING_ATTEMPTS):
        rng = np.random.default_rng([seed, attempt])
        report_progress("streets", 0.05)
        names = Names(rng)
        plan = plan_city(rng, households, scale)
        lines, cells = streets_and_cells(rng, plan, names)
        report_progress("buildings", 0.2)
        layouts, order, capacity = layout_cells(rng, plan, cells, households)
        ratio = capacity / households
        smallest = plan.nx * plan.ny == 1
        if ratio >= 1.0 and (ratio <= CAPACITY_MAX or smallest or attempt >= SIZING_ATTEMPTS - 3):
            return _City(rng, names, plan, lines, cells, layouts, order)
        scale *= CAPACITY_MARGIN / max(ratio, 0.05)
    # The last attempts accept any city with room enough.
    raise RuntimeError(f"generate_district: no room for {households} households in {SIZING_ATTEMPTS} attempts")


@dataclass
class _Network:
    """The walk network in the local frame: node coordinates and edges (node indices, line, length, class)."""

    coords: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    line: np.ndarray
    length: np.ndarray
    highway: np.ndarray
    is_main: np.ndarray


def _network(rng: np.random.Generator, lines: Lines) -> _Network:
    """The street segments noded and thinned, with the nodes no edge uses dropped and the rest renumbered."""
    coords, src, dst, line, length = build_network(lines)
    highway = np.asarray(lines.highway, dtype=np.int64)[line]
    is_main = highway <= SECONDARY
    keep = thin_network(rng, len(coords), src, dst, is_main)
    src, dst, line, length, highway, is_main = (a[keep] for a in (src, dst, line, length, highway, is_main))
    used = np.unique(np.concatenate([src, dst]))
    renumber = np.full(len(coords), -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return _Network(coords[used], renumber[src], renumber[dst], line, length, highway, is_main)


def _to_lonlat_factory(origin: tuple[float, float]) -> tuple[ToLonLat, str]:
    """The local frame (metres from ``origin``) to lon/lat, and the metric CRS it is laid out in."""
    lon, lat = origin
    metric = metric_crs_for(lon, lat)
    fwd = Transformer.from_crs(STORAGE_CRS, metric, always_xy=True)
    inv = Transformer.from_crs(metric, STORAGE_CRS, always_xy=True)
    e0, n0 = fwd.transform(lon, lat)

    def to_lonlat(coords: np.ndarray) -> np.ndarray:
        x, y = inv.transform(coords[:, 0] + e0, coords[:, 1] + n0)
        return np.column_stack([x, y])

    return to_lonlat, metric


def _na_ints(n: int) -> pd.arrays.IntegerArray:
    """``n`` missing integers: synthetic features have no OSM id."""
    return pd.array([pd.NA] * n, dtype="Int64")


def _network_frames(net: _Network, lines: Lines, to_lonlat: ToLonLat) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Nodes (ids from 1) and edges (lengths in the local metric frame) as frames in EPSG:4490."""
    node_ids = np.arange(1, len(net.coords) + 1, dtype=np.int64)
    nodes = gpd.GeoDataFrame(
        {"node_id": node_ids, "osm_id": _na_ints(len(net.coords))},
        geometry=shapely.transform(shapely.points(net.coords), to_lonlat),
        crs=STORAGE_CRS,
    )
    seg = np.stack([net.coords[net.src], net.coords[net.dst]], axis=1)
    line_names = np.asarray(lines.name, dtype=object)
    edges = gpd.GeoDataFrame(
        {
            "source": node_ids[net.src],
            "target": node_ids[net.dst],
            "length_m": np.round(net.length, 3),
            "highway": np.asarray(HIGHWAYS, dtype=object)[net.highway],
            "is_main_road": net.is_main,
            "name": line_names[net.line],
            "osm_id": _na_ints(len(net.src)),
        },
        geometry=shapely.transform(shapely.linestrings(seg), to_lonlat),
        crs=STORAGE_CRS,
    )
    return nodes, edges


def _building_frame(bld: Buildings, to_lonlat: ToLonLat) -> gpd.GeoDataFrame:
    """Buildings with recorded (made-up) household counts."""
    boxes = shapely.box(np.asarray(bld.x0), np.asarray(bld.y0), np.asarray(bld.x1), np.asarray(bld.y1))
    return gpd.GeoDataFrame(
        {
            "osm_id": _na_ints(len(bld)),
            "name": np.asarray(bld.name, dtype=object),
            "kind": np.asarray(bld.kind, dtype=object),
            "levels": pd.array(bld.levels, dtype="Int64"),
            "height": np.asarray(bld.height, dtype=float),
            "households": np.asarray(bld.households, dtype=np.int64),
            "households_estimated": np.zeros(len(bld), dtype=bool),
        },
        geometry=shapely.transform(boxes, to_lonlat),
        crs=STORAGE_CRS,
    )


def _compound_frame(compounds: list[tuple[Box, str]], to_lonlat: ToLonLat) -> gpd.GeoDataFrame:
    """Compounds (小区) as their walls' boxes."""
    walls = np.asarray([c[0] for c in compounds], dtype=float).reshape(-1, 4)
    return gpd.GeoDataFrame(
        {"osm_id": _na_ints(len(compounds)), "name": np.asarray([c[1] for c in compounds], dtype=object)},
        geometry=shapely.transform(shapely.box(walls[:, 0], walls[:, 1], walls[:, 2], walls[:, 3]), to_lonlat),
        crs=STORAGE_CRS,
    )


def _barrier_frame(rng: np.random.Generator, plan: CityPlan, to_lonlat: ToLonLat) -> gpd.GeoDataFrame:
    """The river and the railway, 300 m beyond the city on both ends, with drawn names."""
    xs, ys = plan.xs, plan.ys
    span = np.arange(xs[0] - 300.0, xs[-1] + 300.0 + 1e-9, 20.0)
    barrier_geoms = [shapely.linestrings(np.column_stack([span, plan.river(span)]))]
    barrier_rows: list[tuple[str, str]] = [("waterway", RIVER_NAMES[int(rng.integers(len(RIVER_NAMES)))])]
    if plan.railway is not None:
        span_y = np.arange(ys[0] - 300.0, ys[-1] + 300.0 + 1e-9, 20.0)
        barrier_geoms.append(shapely.linestrings(np.column_stack([plan.railway(span_y), span_y])))
        barrier_rows.append(("railway", RAILWAY_NAMES[int(rng.integers(len(RAILWAY_NAMES)))]))
    return gpd.GeoDataFrame(
        {
            "kind": np.asarray([r[0] for r in barrier_rows], dtype=object),
            "name": np.asarray([r[1] for r in barrier_rows], dtype=object),
            "osm_id": _na_ints(len(barrier_rows)),
        },
        geometry=shapely.transform(np.asarray(barrier_geoms), to_lonlat),
        crs=STORAGE_CRS,
    )


def _facility_frame(fac: Facilities, to_lonlat: ToLonLat) -> gpd.GeoDataFrame:
    """Facility points, classified as ``synthetic``."""
    return gpd.GeoDataFrame(
        {
            "osm_id": _na_ints(len(fac.type_code)),
            "name": np.asarray(fac.name, dtype=object),
            "type_code": np.asarray(fac.type_code, dtype=object),
            "classified_by": np.full(len(fac.type_code), "synthetic", dtype=object),
        },
        geometry=shapely.transform(shapely.points(np.asarray(fac.xy).reshape(-1, 2)), to_lonlat),
        crs=STORAGE_CRS,
    )


def _figures(plan: CityPlan, households: int, facilities: gpd.GeoDataFrame,
             barriers: gpd.GeoDataFrame) -> dict[str, Any]:
    """The report's figures about the plan: facilities by type, barriers, superblocks, density, area."""
    xs, ys = plan.xs, plan.ys
    by_type = pd.Series(facilities["type_code"].tolist(), dtype=object).value_counts()
    sb_area = np.outer(np.diff(ys), np.diff(xs)).ravel()  # row-major like the superblock numbers
    residential_km2 = float(sb_area[plan.kinds == "residential"].sum() / 1e6)
    return {
        "facilities_by_type": {k: int(by_type.get(k, 0)) for k in sorted(by_type.index)},
        "barriers": {k: int(v) for k, v in barriers["kind"].value_counts().sort_index().items()},
        "superblocks": int(plan.nx * plan.ny),
        "residential_superblocks": int((plan.kinds == "residential").sum()),
        "households_per_km2_residential": round(households / residential_km2, 1),
        "area_km2": round(float((xs[-1] - xs[0]) * (ys[-1] - ys[0]) / 1e6), 3),
    }
