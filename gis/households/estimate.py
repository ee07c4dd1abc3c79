"""``estimate_households``: floors and households for every building of a frame, each with its reason.

Floors a building does not map come from the median of its mapped neighbours of the same kind,
else a default by kind; whether a building is a home is decided in ``gis.households.rules``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import metric_crs_for_frame
from gis.errors import CRSMismatch, InvalidInput
from gis.households.rules import (
    DEFAULT_FLOORS,
    EPSILON,
    KIND_FAMILY,
    MIN_DWELLING_FOOTPRINT_M2,
    NON_RESIDENTIAL_NAMES,
    RESIDENTIAL_KINDS,
    UNSPECIFIC_KINDS,
    NameRules,
    decide,
)


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    mean_dwelling_m2: float = 90.0,
    usable_share: float = 0.75,
    default_residential_floors: int = 6,
    default_floors: Mapping[str, int] | None = None,
    residential_kinds: Iterable[str] = RESIDENTIAL_KINDS,
    residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    context_areas: gpd.GeoDataFrame | None = None,
    non_residential_ids: Collection[Any] | Mapping[Any, str] | None = None,
    non_residential_names: Iterable[str] = NON_RESIDENTIAL_NAMES,
    storey_height_m: float = 3.0,
    neighbour_radius_m: float = 150.0,
    neighbour_min: int = 2,
    large_single_storey_m2: float = 1500.0,
    large_footprint_m2: float = 5000.0,
    house_footprint_m2: float = 200.0,
    metric_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Return a copy of ``buildings`` with households, floors and the reason for each estimate.

    Adds or replaces ``households`` (int), ``households_estimated`` (bool), ``floors`` (int,
    the floors used), ``floors_estimated`` (bool), ``floors_source`` (levels | height |
    neighbours | default), ``is_home`` (bool), ``households_reason`` (a code of ``REASONS``)
    and ``households_reason_detail`` (a JSON-able dict of its parameters). The rules are in
    the module docstring.

    Parameters
    ----------
    buildings
        Footprints with a CRS, and optionally ``osm_id``, ``name``, ``kind``, ``levels``,
        ``height``, ``households`` and ``households_estimated`` (``gis.layers.BUILDING_COLUMNS``),
        and the OSM extras ``layer``, ``location`` and ``use`` (the building's own use tag as
        ``key=value``, e.g. ``amenity=bank`` or ``building:use=residential``).
    mean_dwelling_m2, usable_share
        Mean dwelling size and the share of gross floor area that is dwellings.
    default_residential_floors
        Floors of a building of unknown height whose kind is not in ``default_floors``.
    default_floors
        Floors by kind; updates ``DEFAULT_FLOORS``.
    residential_kinds
        Kinds that are housing.
    residential_areas
        Residential land; when given, an unspecific building counts as housing only inside one.
    context_areas
        Land use and amenity areas with a ``kind`` column (``amenity=university``,
        ``landuse=residential`` ...) and optionally ``name``; see ``CONTEXT_KINDS``.
    non_residential_ids
        ``osm_id`` values of buildings known not to be housing (facilities); a mapping gives
        each one's facility type for the reason.
    non_residential_names
        Name fragments that make a building no home (besides the endings …处, …所, …馆 ...).
    storey_height_m
        Height of one storey, to turn a height into floors.
    neighbour_radius_m, neighbour_min
        Floors of a building without levels or height: the median over at least
        ``neighbour_min`` buildings of the same kind within this distance whose floors are mapped.
    large_single_storey_m2, large_footprint_m2
        A home on one mapped storey above the first, or an unspecific building of unknown
        height above the second, is set aside as not flats.
    house_footprint_m2
        An unspecific building of unknown height with a smaller footprint gets the floors of a
        house (``default_floors["house"]``), not those of a block of flats.
    metric_crs
        CRS to measure footprints in; by default the CGCS2000 Gauss-Krüger zone of the data.

    Raises
    ------
    InvalidInput
        A parameter is out of range, or a recorded household count is negative.
    CRSMismatch
        ``buildings`` has no CRS.
    """
    floors_by_kind = _checked_parameters(
        mean_dwelling_m2=mean_dwelling_m2, usable_share=usable_share,
        default_residential_floors=default_residential_floors, default_floors=default_floors,
        storey_height_m=storey_height_m, neighbour_radius_m=neighbour_radius_m, neighbour_min=neighbour_min,
        large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2,
        house_footprint_m2=house_footprint_m2)
    out = buildings.copy()
    n = len(out)
    if n and out.crs is None:
        raise CRSMismatch("estimate_households: buildings has no CRS; expected e.g. EPSG:4490")

    kind = _text_column(out, "kind")
    levels = _number_column(out, "levels")
    height = _number_column(out, "height")
    area = _footprint_m2(out, metric_crs)

    # Floors mapped on the building itself: levels, else height.
    has_levels = np.isfinite(levels) & (levels >= 1)
    has_height = ~has_levels & np.isfinite(height) & (height > 0)
    mapped = np.where(has_levels, np.floor(levels),
                      np.where(has_height, np.maximum(np.round(height / storey_height_m), 1), np.nan))
    recorded = _checked_records(out)
    has_record = ~np.isnan(recorded)

    home, codes, details = _decisions(
        out, kind, area, mapped, facility_of=_facility_lookup(out, non_residential_ids),
        context_areas=context_areas, residential_areas=residential_areas,
        rules=NameRules(tuple(non_residential_names)), housing_kinds=frozenset(residential_kinds),
        large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2)

    # Floors of the rest: neighbours of the same kind (blocks of flats among blocks, houses among
    # houses; homes among homes), else a default.
    group = np.array([f"{h}:{KIND_FAMILY.get(k, k)}" for h, k in zip(home, kind, strict=True)], dtype=object)
    neighbour_floors, neighbour_count = _neighbour_floors(out, mapped, group, metric_crs, neighbour_radius_m,
                                                          int(neighbour_min))
    default = np.array([int(floors_by_kind.get(k, default_residential_floors)) for k in kind], dtype=np.float64)
    # A plain building with a house-sized footprint is not a block of flats (a six-storey block
    # stands on 300 m² or more): it gets the floors of a house, before any neighbour's.
    unspecific = np.array([k in UNSPECIFIC_KINDS for k in kind], dtype=bool)
    house_sized = np.isnan(mapped) & unspecific & (area > 0) & (area < house_footprint_m2)
    from_neighbours = np.isnan(mapped) & ~house_sized & np.isfinite(neighbour_floors)
    house_floors = float(floors_by_kind.get("house", 2))
    floors = np.where(np.isfinite(mapped), mapped, np.where(
        house_sized, house_floors, np.where(from_neighbours, neighbour_floors, default)))
    floors = floors.astype(np.int64)
    source = np.where(has_levels, "levels", np.where(has_height, "height", np.where(
        house_sized, "house_footprint", np.where(from_neighbours, "neighbours", "default"))))

    estimate = np.floor(area * floors * usable_share / mean_dwelling_m2 + EPSILON)
    estimate = np.where(home & (area > MIN_DWELLING_FOOTPRINT_M2), np.maximum(estimate, 1), estimate)
    estimate = np.where(home, estimate, 0).astype(np.int64)

    for i, detail in enumerate(details):
        detail.update(area_m2=round(float(area[i]), 1), floors=int(floors[i]), floors_from=str(source[i]))
        if source[i] == "neighbours":
            detail["neighbours"] = int(neighbour_count[i])
        if source[i] == "height":
            detail["height_m"] = round(float(height[i]), 1)
        if home[i]:
            detail.update(usable_share=usable_share, mean_dwelling_m2=mean_dwelling_m2)
        if has_record[i]:
            detail["estimate"] = int(estimate[i])
            detail["estimate_reason"] = codes[i]
            codes[i] = "recorded"

    out["households"] = np.where(has_record, np.nan_to_num(recorded), estimate).astype(np.int64)
    out["households_estimated"] = ~has_record
    out["floors"] = floors
    out["floors_estimated"] = ~has_levels
    out["floors_source"] = source
    out["is_home"] = home
    out["households_reason"] = codes
    out["households_reason_detail"] = details
    return out


def _checked_parameters(*, mean_dwelling_m2: float, usable_share: float, default_residential_floors: int,
                        default_floors: Mapping[str, int] | None, storey_height_m: float, neighbour_radius_m: float,
                        neighbour_min: int, large_single_storey_m2: float, large_footprint_m2: float,
                        house_footprint_m2: float) -> dict[str, int]:
    """The floors by kind, once every parameter is in range (else an ``InvalidInput`` naming it)."""
    _check_positive(mean_dwelling_m2=mean_dwelling_m2, storey_height_m=storey_height_m,
                    neighbour_radius_m=neighbour_radius_m, large_single_storey_m2=large_single_storey_m2,
                    large_footprint_m2=large_footprint_m2, house_footprint_m2=house_footprint_m2)
    if not 0.0 < usable_share <= 1.0:
        raise InvalidInput(f"usable_share must be in (0, 1]; got {usable_share!r}", details={"field": "usable_share"})
    if int(default_residential_floors) < 1:
        raise InvalidInput(f"default_residential_floors must be at least 1; got {default_residential_floors!r}",
                           details={"field": "default_residential_floors"})
    if int(neighbour_min) < 1:
        raise InvalidInput(f"neighbour_min must be at least 1; got {neighbour_min!r}",
                           details={"field": "neighbour_min"})
    floors_by_kind = {**DEFAULT_FLOORS, **(default_floors or {})}
    bad = {k: v for k, v in floors_by_kind.items() if int(v) < 1}
    if bad:
        raise InvalidInput(f"default_floors must be at least 1 for every kind; got {bad}",
                           details={"field": "default_floors"})
    return floors_by_kind


def _checked_records(out: gpd.GeoDataFrame) -> np.ndarray:
    """Recorded household counts (NaN where none); a negative one is an ``InvalidInput`` naming the building."""
    recorded = _recorded_households(out)
    negative = ~np.isnan(recorded) & (recorded < 0)
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        ident = f"osm_id {out['osm_id'].iloc[row]}" if "osm_id" in out.columns else f"row {row + 1}"
        raise InvalidInput(
            f"estimate_households: building {ident} has households={recorded[row]:g}; expected 0 or more"
        )
    return recorded


def _decisions(out: gpd.GeoDataFrame, kind: list[str], area: np.ndarray, mapped: np.ndarray, *,
               facility_of: list[str | None], context_areas: gpd.GeoDataFrame | None,
               residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None, rules: NameRules,
               housing_kinds: frozenset[str], large_single_storey_m2: float,
               large_footprint_m2: float) -> tuple[np.ndarray, list[str], list[dict[str, Any]]]:
    """Per building: whether it is a home, the reason code, and the reason's parameters (``decide``)."""
    n = len(out)
    name = _text_column(out, "name")
    location = _text_column(out, "location")
    use = _text_column(out, "use")
    layer = _number_column(out, "layer")
    context, context_name = _context(out, context_areas)
    in_residential = _inside(out, residential_areas) if residential_areas is not None else None
    home = np.zeros(n, dtype=bool)
    codes: list[str] = []
    details: list[dict[str, Any]] = []
    for i in range(n):
        code, detail = decide(
            kind=kind[i] or "yes", raw_kind=kind[i], name=name[i], location=location[i], use=use[i],
            layer=layer[i], facility=facility_of[i], context=context[i], context_name=context_name[i],
            in_residential=None if in_residential is None else bool(in_residential[i]),
            area=float(area[i]), mapped_floors=float(mapped[i]), rules=rules, housing_kinds=housing_kinds,
            large_single_storey_m2=large_single_storey_m2, large_footprint_m2=large_footprint_m2,
        )
        home[i] = code.startswith("home_")
        codes.append(code)
        details.append(detail)
    return home, codes, details


def _check_positive(**values: float) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
            raise InvalidInput(f"{key} must be a positive number; got {value!r}")


def _text_column(frame: pd.DataFrame, column: str) -> list[str]:
    if column not in frame.columns:
        return [""] * len(frame)
    return ["" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[column]]


def _number_column(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def _recorded_households(frame: pd.DataFrame) -> np.ndarray:
    """Recorded counts as floats, NaN where there is none (or only an earlier estimate)."""
    recorded = _number_column(frame, "households")
    if "households_estimated" in frame.columns:
        flagged = frame["households_estimated"].astype("boolean").fillna(False).to_numpy(dtype=bool)
        recorded = np.where(flagged, np.nan, recorded)
    return recorded


def _facility_lookup(frame: pd.DataFrame, ids: Collection[Any] | Mapping[Any, str] | None) -> list[str | None]:
    if not ids or "osm_id" not in frame.columns:
        return [None] * len(frame)
    types = ids if isinstance(ids, Mapping) else dict.fromkeys(ids, "facility")
    return [types.get(v) if v is not None and v is not pd.NA else None for v in frame["osm_id"].tolist()]


def _context(frame: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None) -> tuple[list[str], list[str]]:
    """The kind and name of the smallest context area each building's representative point lies in."""
    n = len(frame)
    kinds, names = [""] * n, [""] * n
    if areas is None or len(areas) == 0 or n == 0:
        return kinds, names
    if areas.crs is not None and frame.crs is not None and areas.crs != frame.crs:
        areas = areas.to_crs(frame.crs)
    ok = ~(areas.geometry.isna().to_numpy() | areas.geometry.is_empty.to_numpy())
    areas = areas[ok]
    if len(areas) == 0:
        return kinds, names
    polys = areas.geometry.values
    size = shapely.area(polys)
    area_kind = _text_column(areas, "kind")
    area_name = _text_column(areas, "name")
    points = shapely.point_on_surface(frame.geometry.values)
    hit_b, hit_a = shapely.STRtree(np.asarray(polys)).query(points, predicate="within")
    best: dict[int, int] = {}
    for b, a in zip(hit_b.tolist(), hit_a.tolist(), strict=True):
        if b not in best or size[a] < size[best[b]]:
            best[b] = a
    for b, a in best.items():
        kinds[b], names[b] = area_kind[a], area_name[a]
    return kinds, names


def _neighbour_floors(frame: gpd.GeoDataFrame, mapped: np.ndarray, group: np.ndarray, metric_crs: str | None,
                      radius_m: float, minimum: int) -> tuple[np.ndarray, np.ndarray]:
    """Median mapped floors of the same group within ``radius_m`` (NaN when fewer than ``minimum``)."""
    n = len(frame)
    result, count = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    known = np.flatnonzero(np.isfinite(mapped))
    wanted = np.flatnonzero(~np.isfinite(mapped))
    if len(known) == 0 or len(wanted) == 0:
        return result, count
    geoms = frame.geometry.to_crs(metric_crs or metric_crs_for_frame(frame)).values
    valid = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    centres = shapely.centroid(geoms)
    known = known[valid[known]]
    wanted = wanted[valid[wanted]]
    if len(known) == 0 or len(wanted) == 0:
        return result, count
    tree = shapely.STRtree(centres[known])
    qi, ki = tree.query(centres[wanted], predicate="dwithin", distance=radius_m)
    found: dict[int, list[float]] = {}
    for q, k in zip(qi.tolist(), ki.tolist(), strict=True):
        w, other = wanted[q], known[k]
        if group[w] == group[other]:
            found.setdefault(w, []).append(mapped[other])
    for w, values in found.items():
        if len(values) >= minimum:
            result[w] = max(1.0, float(np.round(np.median(values))))
            count[w] = len(values)
    return result, count


def _inside(frame: gpd.GeoDataFrame, areas: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """Whether each building's representative point lies in one of ``areas``."""
    series = areas.geometry if isinstance(areas, gpd.GeoDataFrame) else areas
    if not isinstance(series, gpd.GeoSeries):
        series = gpd.GeoSeries(series)
    if series.crs is not None and frame.crs is not None and series.crs != frame.crs:
        series = series.to_crs(frame.crs)
    polygons = series.values[~(series.isna().to_numpy() | series.is_empty.to_numpy())]
    if len(polygons) == 0:
        return np.zeros(len(frame), dtype=bool)
    points = shapely.point_on_surface(frame.geometry.values)
    tree = shapely.STRtree(np.asarray(polygons))
    hit, _ = tree.query(points, predicate="within")
    inside = np.zeros(len(frame), dtype=bool)
    inside[hit] = True
    return inside


def _footprint_m2(frame: gpd.GeoDataFrame, metric_crs: str | None) -> np.ndarray:
    """Footprint areas in m² (0 for missing or empty geometries), measured in a metric CRS."""
    if len(frame) == 0:
        return np.zeros(0)
    # The shared helper picks the CGCS2000 Gauss-Krüger zone in China.
    crs = metric_crs or metric_crs_for_frame(frame)
    area = frame.geometry.to_crs(crs).area.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.nan_to_num(area, nan=0.0)
