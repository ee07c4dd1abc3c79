"""Household estimates from building footprints (domain §3).

Households are rarely recorded in OSM-style data. For a residential building they are
estimated as ``floor(footprint m² × floors × usable_share ÷ mean_dwelling_m2)``, at least
one for a footprint above ``MIN_DWELLING_FOOTPRINT_M2``; every estimate is flagged as one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import CRSMismatch, InvalidInput

try:  # the shared helper picks the CGCS2000 Gauss-Krüger zone in China
    from gis.crs import metric_crs_for_frame as _metric_crs_for_frame
except ImportError:  # pragma: no cover - only while gis.crs is being written
    _metric_crs_for_frame = None

__all__ = [
    "DEFAULT_FLOORS",
    "MIN_DWELLING_FOOTPRINT_M2",
    "NON_RESIDENTIAL_NAMES",
    "RESIDENTIAL_KINDS",
    "estimate_households",
]

# Building kinds (OSM ``building=*`` values) that are housing.
RESIDENTIAL_KINDS = frozenset(
    {
        "residential", "apartments", "house", "detached", "semidetached_house", "terrace",
        "bungalow", "dormitory", "farm", "cabin", "houseboat",
    }
)  # fmt: skip
# Kinds that say nothing about use: housing unless something says otherwise (see below).
_UNSPECIFIC_KINDS = frozenset({"yes", "building", ""})

# Floors by kind when neither levels nor height are mapped. Kinds not listed (including
# ``yes``) get ``default_residential_floors``.
DEFAULT_FLOORS: Mapping[str, int] = {
    "house": 2, "detached": 2, "semidetached_house": 2, "farm": 2, "bungalow": 1, "cabin": 1,
    "houseboat": 1, "terrace": 3,
    "garage": 1, "garages": 1, "carport": 1, "shed": 1, "hut": 1, "kiosk": 1, "roof": 1,
    "toilets": 1, "greenhouse": 1, "service": 1, "transformer_tower": 1,
}  # fmt: skip

# Name fragments that mark an unspecific building (``building=yes``) as no housing:
# hotels, shops, offices, public buildings. Housing names (…小区, …公寓) match none.
NON_RESIDENTIAL_NAMES: tuple[str, ...] = (
    "酒店", "宾馆", "饭店", "旅馆", "商场", "商厦", "商城", "购物", "超市", "市场", "广场", "大厦", "中心",
    "银行", "医院", "学校", "大学", "学院", "中学", "小学", "幼儿园", "办公", "写字楼", "公司", "集团",
    "政府", "委员会", "法院", "检察院", "派出所", "公安", "局", "馆", "寺", "庙", "教堂", "影院", "剧院",
    "车站", "地铁", "停车", "工厂", "厂房", "仓库", "礼堂",
    "Hotel", "Mall", "Tower", "Plaza", "Center", "Centre", "Bank", "Hospital", "School", "Office",
)  # fmt: skip

_EPSILON = 1e-6

# A residential footprint above this many m² holds at least one household.
MIN_DWELLING_FOOTPRINT_M2 = 20.0


def estimate_households(
    buildings: gpd.GeoDataFrame,
    *,
    mean_dwelling_m2: float = 90.0,
    usable_share: float = 0.75,
    default_residential_floors: int = 6,
    default_floors: Mapping[str, int] | None = None,
    residential_kinds: Iterable[str] = RESIDENTIAL_KINDS,
    residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    non_residential_ids: Collection[Any] | None = None,
    non_residential_names: Iterable[str] = NON_RESIDENTIAL_NAMES,
    storey_height_m: float = 3.0,
    metric_crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Return a copy of ``buildings`` with households filled in, and how they were found.

    Adds or replaces ``households`` (int), ``households_estimated`` (bool), ``floors``
    (int, the floors used) and ``floors_estimated`` (bool).

    Rules
    -----
    - **Recorded counts win.** A row whose ``households`` is not NA keeps it, flagged as not
      estimated, unless the input already flags it as an estimate (``households_estimated``
      True), which is then estimated again.
    - **Which buildings are housing.** ``kind`` in ``residential_kinds`` is housing.
      ``yes`` (or a missing kind) says nothing; in Chinese data it is the usual tag of a
      housing block, so such a building is housing unless (a) its name contains one of
      ``non_residential_names`` (酒店, 大厦, 医院 ...), or (b) ``residential_areas`` is
      given and its representative point lies in none of them. Any building whose
      ``osm_id`` is in ``non_residential_ids`` (e.g. the ids of school or hospital
      buildings) is not housing, whatever its kind. Other kinds (office, school, retail
      ...) are not housing.
    - **Floors.** ``levels`` when at least 1; else ``round(height / storey_height_m)`` (at
      least 1) when the height is known; else ``default_floors[kind]``, falling back to
      ``default_residential_floors``. Only floors taken from ``levels`` count as not
      estimated.
    - **Households.** ``floor(area × floors × usable_share ÷ mean_dwelling_m2)`` for housing,
      at least 1 when the footprint exceeds ``MIN_DWELLING_FOOTPRINT_M2``; 0 for other
      buildings. Both are estimates (``households_estimated`` True).

    Parameters
    ----------
    buildings
        Footprints with a CRS, and optionally the ``osm_id``, ``name``, ``kind``,
        ``levels``, ``height`` and ``households`` columns of ``gis.layers.BUILDING_COLUMNS``.
    mean_dwelling_m2, usable_share
        Mean dwelling size and the share of gross floor area that is dwellings
        (``Settings.mean_dwelling_m2``, ``Settings.usable_share``).
    default_residential_floors
        Floors of a building of unknown height whose kind is not in ``default_floors``
        (``Settings.default_residential_floors``).
    default_floors
        Floors by kind; updates ``DEFAULT_FLOORS``.
    residential_kinds
        Kinds that are housing.
    residential_areas
        Residential land (e.g. ``landuse=residential`` polygons, compounds); when given,
        an unspecific building counts as housing only inside one.
    non_residential_ids
        ``osm_id`` values of buildings known not to be housing.
    non_residential_names
        Name fragments that make an unspecific building no housing.
    storey_height_m
        Height of one storey, to turn a height into floors.
    metric_crs
        CRS to measure footprints in; by default the CGCS2000 3-degree Gauss-Krüger zone
        of the data (UTM outside China).

    Raises
    ------
    InvalidInput
        A parameter is out of range, or a recorded household count is negative.
    CRSMismatch
        ``buildings`` has no CRS.
    """
    _check_positive(mean_dwelling_m2=mean_dwelling_m2, storey_height_m=storey_height_m)
    if not 0.0 < usable_share <= 1.0:
        raise InvalidInput(f"usable_share must be in (0, 1]; got {usable_share!r}")
    if int(default_residential_floors) < 1:
        raise InvalidInput(f"default_residential_floors must be at least 1; got {default_residential_floors!r}")
    floors_by_kind = {**DEFAULT_FLOORS, **(default_floors or {})}
    bad = {k: v for k, v in floors_by_kind.items() if int(v) < 1}
    if bad:
        raise InvalidInput(f"default_floors must be at least 1 for every kind; got {bad}")

    out = buildings.copy()
    n = len(out)
    if n and out.crs is None:
        raise CRSMismatch("estimate_households: buildings has no CRS; expected e.g. EPSG:4490")

    kind = _text_column(out, "kind")
    name = _text_column(out, "name")
    levels = _number_column(out, "levels")
    height = _number_column(out, "height")

    # Floors: levels, else height, else a default by kind.
    default = np.array([int(floors_by_kind.get(k, default_residential_floors)) for k in kind], dtype=np.int64)
    from_height = np.where(
        np.isfinite(height) & (height > 0), np.maximum(np.round(height / storey_height_m), 1), np.nan
    )
    has_levels = np.isfinite(levels) & (levels >= 1)
    floors = np.where(has_levels, np.floor(levels), np.where(np.isfinite(from_height), from_height, default))
    floors = floors.astype(np.int64)

    residential = _is_residential(
        out, kind, name, frozenset(residential_kinds), residential_areas, non_residential_ids,
        tuple(non_residential_names),
    )  # fmt: skip
    area = _footprint_m2(out, metric_crs)
    # The epsilon keeps an exact 30.0 from becoming 29 after reprojection rounding.
    estimate = np.floor(area * floors * usable_share / mean_dwelling_m2 + _EPSILON)
    estimate = np.where(residential & (area > MIN_DWELLING_FOOTPRINT_M2), np.maximum(estimate, 1), estimate)
    estimate = np.where(residential, estimate, 0).astype(np.int64)

    recorded = _recorded_households(out)
    has_record = ~np.isnan(recorded)
    if (recorded[has_record] < 0).any():
        row = int(np.flatnonzero(has_record & (recorded < 0))[0])
        ident = f"osm_id {out['osm_id'].iloc[row]}" if "osm_id" in out.columns else f"row {row + 1}"
        raise InvalidInput(
            f"estimate_households: building {ident} has households={recorded[row]:g}; expected 0 or more"
        )

    out["households"] = np.where(has_record, np.nan_to_num(recorded), estimate).astype(np.int64)
    out["households_estimated"] = ~has_record
    out["floors"] = floors
    out["floors_estimated"] = ~has_levels
    return out


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


def _is_residential(
    frame: gpd.GeoDataFrame,
    kind: list[str],
    name: list[str],
    residential_kinds: frozenset[str],
    residential_areas: gpd.GeoSeries | gpd.GeoDataFrame | None,
    non_residential_ids: Collection[Any] | None,
    non_residential_names: tuple[str, ...],
) -> np.ndarray:
    n = len(frame)
    kind_arr = np.array(kind, dtype=object)
    housing = np.isin(kind_arr, list(residential_kinds)) if n else np.zeros(0, dtype=bool)
    unspecific = np.isin(kind_arr, list(_UNSPECIFIC_KINDS)) if n else np.zeros(0, dtype=bool)
    if non_residential_names:
        named_other = np.array(
            [any(p in nm for p in non_residential_names) if nm else False for nm in name], dtype=bool
        )
        unspecific &= ~named_other
    if residential_areas is not None and unspecific.any():
        unspecific &= _inside(frame, residential_areas)
    residential = housing | unspecific
    if non_residential_ids and "osm_id" in frame.columns:
        residential &= ~frame["osm_id"].isin(list(non_residential_ids)).to_numpy(dtype=bool)
    return residential


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
    crs = metric_crs or _default_metric_crs(frame)
    area = frame.geometry.to_crs(crs).area.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.nan_to_num(area, nan=0.0)


def _default_metric_crs(frame: gpd.GeoDataFrame) -> Any:
    if _metric_crs_for_frame is not None:
        return _metric_crs_for_frame(frame)
    return frame.estimate_utm_crs()
