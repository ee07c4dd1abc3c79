"""A plausible, seeded walking track along given street lines, for demos and tests of patrol coverage.

The walker follows the lines in the order given (or nearest-first), each line walked from its
end nearer to where the walker stands, with a straight step between lines that do not touch.
It samples a fix every ``interval_s`` at ``speed_mps`` (1.3 m/s, a patrol's pace) and adds
slowly drifting Gaussian GPS noise of ``noise_m`` per axis; the result goes through the same cleaning as an
uploaded track, so a demo track is a ``Track`` like any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from gis.crs import metric_crs_for
from gis.errors import InvalidInput
from gis.layers import STORAGE_CRS
from gis.patrols.tracks import Track, track_from_points

__all__ = ["DEMO_SPEED_MPS", "demo_track"]

DEMO_SPEED_MPS = 1.3
# How much of one fix's error carries into the next (AR(1) coefficient at a 5 s interval).
_NOISE_MEMORY = 0.9


def demo_track(
    streets: gpd.GeoDataFrame | Sequence[shapely.LineString] | shapely.LineString,
    *,
    start: dt.datetime,
    speed_mps: float = DEMO_SPEED_MPS,
    interval_s: float = 5.0,
    noise_m: float = 3.0,
    accuracy_m: float = 5.0,
    seed: int = 0,
    order: str = "given",
    name: str | None = None,
) -> Track:
    """A walking track along ``streets`` (lon/lat EPSG:4490 lines, or a frame in any CRS) from ``start`` (tz-aware).

    ``order="nearest"`` walks the next line whose nearer end is closest instead of the given order.
    """
    if start.tzinfo is None:
        raise InvalidInput(f"demo_track: start {start.isoformat()} has no time zone; expected a tz-aware time")
    for label, value in (("speed_mps", speed_mps), ("interval_s", interval_s)):
        if not value > 0:
            raise InvalidInput(f"demo_track: {label} must be positive, got {value!r}")
    if noise_m < 0:
        raise InvalidInput(f"demo_track: noise_m must be 0 or more, got {noise_m!r}")
    if order not in ("given", "nearest"):
        raise InvalidInput(f"demo_track: order {order!r}; expected 'given' or 'nearest'")
    lines = _lonlat_lines(streets)
    lon0, lat0 = shapely.get_coordinates(lines).mean(axis=0)
    crs = metric_crs_for(float(lon0), float(lat0))
    fwd = Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)
    back = Transformer.from_crs(crs, STORAGE_CRS, always_xy=True)
    metric = [np.column_stack(fwd.transform(*shapely.get_coordinates(g).T)) for g in lines]
    path = _chain(metric, nearest=order == "nearest")

    step = np.hypot(*np.diff(path, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(step)])
    stations = np.arange(0.0, along[-1] + 1e-9, speed_mps * interval_s)
    x = np.interp(stations, along, path[:, 0])
    y = np.interp(stations, along, path[:, 1])
    dx, dy = _gps_noise(np.random.default_rng(seed), len(x), noise_m)
    x, y = x + dx, y + dy
    lon, lat = back.transform(x, y)
    times = pd.Timestamp(start).tz_convert("UTC") + pd.to_timedelta(np.arange(len(x)) * interval_s, unit="s")
    frame = pd.DataFrame({"lon": lon, "lat": lat, "time": times, "accuracy_m": accuracy_m})
    return track_from_points(frame, name=name or "demo patrol", where="demo track")


def _gps_noise(rng: np.random.Generator, n: int, sigma_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets with standard deviation ``sigma_m`` per axis that drift slowly, as GPS errors do.

    An AR(1) process: white noise at every fix would zigzag and inflate the walked length.
    """
    white = rng.normal(0.0, sigma_m, (n, 2))
    out = np.empty_like(white)
    if n:
        out[0] = white[0]
        scale = np.sqrt(1.0 - _NOISE_MEMORY**2)
        for i in range(1, n):
            out[i] = _NOISE_MEMORY * out[i - 1] + scale * white[i]
    return out[:, 0], out[:, 1]


def _lonlat_lines(streets: gpd.GeoDataFrame | Sequence[shapely.LineString] | shapely.LineString) -> np.ndarray:
    if isinstance(streets, gpd.GeoDataFrame | gpd.GeoSeries):
        if streets.crs is None:
            raise InvalidInput("demo_track: the streets frame has no CRS; expected EPSG:4490 or a metric CRS")
        geoms = streets.to_crs(STORAGE_CRS).geometry.values
    elif isinstance(streets, shapely.Geometry):
        geoms = [streets]
    else:
        geoms = list(streets)
    parts = shapely.get_parts(np.asarray(geoms, dtype=object))
    parts = parts[shapely.get_type_id(parts) == 1]  # LineStrings
    parts = parts[~shapely.is_empty(parts)]
    if not len(parts):
        raise InvalidInput("demo_track: no street lines to walk; expected LineStrings")
    return parts


def _chain(lines: list[np.ndarray], *, nearest: bool) -> np.ndarray:
    """One path through all lines: each walked from its end nearer the walker, in order or nearest-first."""
    remaining = list(range(len(lines)))
    path = [lines[remaining.pop(0)]]
    while remaining:
        here = path[-1][-1]
        if nearest:
            ends = [min(np.hypot(*(lines[i][0] - here)), np.hypot(*(lines[i][-1] - here))) for i in remaining]
            k = remaining.pop(int(np.argmin(ends)))
        else:
            k = remaining.pop(0)
        line = lines[k]
        if np.hypot(*(line[-1] - here)) < np.hypot(*(line[0] - here)):
            line = line[::-1]
        path.append(line)
    return np.concatenate(path)
