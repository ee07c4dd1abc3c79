"""Duplicate hints: a new report close in space and time to an open case of the same category.

A report is flagged when an open case of the same category (and category class, when both are
known: 市容环境 is both an event and a component class) lies within ``max_distance_m`` (default
50 m) and was reported within ``window`` (default 72 h, either side) of it. The hint names the
candidates, nearest first; deciding that it *is* a duplicate is the dispatcher's job.

Distances are metres in the local CGCS2000 Gauss-Krüger zone of the new report (scale error
below 0.03 % within a zone, i.e. millimetres over 50 m), computed for all open cases at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

from gis.cases.workflow import CLOSED_STATUSES
from gis.crs import metric_crs_for
from gis.errors import InvalidInput
from gis.layers import STORAGE_CRS

__all__ = ["DuplicateCandidate", "duplicates_among", "find_duplicates", "nearby_mask"]

_REQUIRED = ("id", "lon", "lat", "category", "reported_at")


@dataclass(frozen=True)
class DuplicateCandidate:
    """An open case that a new report may repeat."""

    case_id: Any
    distance_m: float
    hours_apart: float  # the new report's time minus the case's, in hours (negative: the case is newer)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values, rounded to decimetres and minutes."""
        return {"case_id": self.case_id, "distance_m": round(self.distance_m, 1),
                "hours_apart": round(self.hours_apart, 2)}


@lru_cache(maxsize=16)
def _to_metric(crs: Any) -> Transformer:
    # Building a transformer reads the PROJ database: about as long as the whole check otherwise.
    return Transformer.from_crs(STORAGE_CRS, crs, always_xy=True)


def _metres(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    to_metric = _to_metric(metric_crs_for(lon, lat))
    x0, y0 = to_metric.transform(lon, lat)
    xs, ys = to_metric.transform(lons, lats)
    return np.hypot(np.asarray(xs) - x0, np.asarray(ys) - y0)


def nearby_mask(*, lon: float, lat: float, reported_at: dt.datetime, lons: np.ndarray, lats: np.ndarray,
                times: np.ndarray, same_category: np.ndarray, max_distance_m: float = 50.0,
                window: dt.timedelta = dt.timedelta(hours=72)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The array core: (mask of matching cases, distances in metres, hours apart) for one new report.

    ``times`` are datetime64 in UTC; ``same_category`` is a boolean array.
    """
    distances = _metres(lon, lat, lons, lats)
    new = np.datetime64(reported_at.astimezone(dt.UTC).replace(tzinfo=None), "ns")
    apart: np.ndarray = new - times.astype("datetime64[ns]")
    hours = apart / np.timedelta64(1, "h")
    mask = same_category & (distances <= max_distance_m) & (np.abs(hours) <= window / dt.timedelta(hours=1))
    return mask, distances, hours


def _check_question(lon: float, lat: float, reported_at: dt.datetime, max_distance_m: float,
                    window: dt.timedelta) -> None:
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise InvalidInput(f"the new report's position ({lon}, {lat}) is not lon/lat in degrees")
    if reported_at.tzinfo is None or reported_at.utcoffset() is None:
        raise InvalidInput(f"reported_at: a timezone-aware datetime is required; got {reported_at!r}")
    if max_distance_m <= 0 or window <= dt.timedelta(0):
        raise InvalidInput(f"max_distance_m and window must be positive; got {max_distance_m!r} and {window!r}")


def _ranked(*, lon: float, lat: float, reported_at: dt.datetime, ids: np.ndarray, lons: np.ndarray,
            lats: np.ndarray, times: np.ndarray, same_category: np.ndarray, max_distance_m: float,
            window: dt.timedelta) -> list[DuplicateCandidate]:
    mask, distances, hours = nearby_mask(
        lon=float(lon), lat=float(lat), reported_at=reported_at, lons=lons, lats=lats, times=times,
        same_category=same_category, max_distance_m=max_distance_m, window=window)
    hits = np.flatnonzero(mask)
    order = hits[np.lexsort((np.abs(hours[hits]), distances[hits]))]
    return [DuplicateCandidate(case_id=ids[i].item() if hasattr(ids[i], "item") else ids[i],
                               distance_m=float(distances[i]), hours_apart=float(hours[i])) for i in order]


def find_duplicates(*, lon: float, lat: float, category: str, reported_at: dt.datetime,
                    open_cases: pd.DataFrame, category_class: str | None = None, max_distance_m: float = 50.0,
                    window: dt.timedelta = dt.timedelta(hours=72)) -> list[DuplicateCandidate]:
    """Open cases a new report may repeat, nearest first (ties: the closer in time first).

    ``open_cases`` has columns ``id, lon, lat, category, reported_at`` (timezone-aware) and
    optionally ``category_class`` and ``status`` (rows in a finished status are ignored).
    Coordinates are lon/lat in EPSG:4490.
    """
    missing = [c for c in _REQUIRED if c not in open_cases.columns]
    if missing:
        raise InvalidInput(f"open_cases lacks column(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)}")
    _check_question(lon, lat, reported_at, max_distance_m, window)
    cases = open_cases
    if "status" in cases.columns:
        cases = cases[~cases["status"].isin(CLOSED_STATUSES)]
    if cases.empty:
        return []
    times = pd.to_datetime(cases["reported_at"], utc=True)
    same = (cases["category"] == category).to_numpy()
    if category_class is not None and "category_class" in cases.columns:
        same = same & (cases["category_class"] == category_class).to_numpy()
    return _ranked(lon=lon, lat=lat, reported_at=reported_at, ids=cases["id"].to_numpy(),
                   lons=cases["lon"].to_numpy(dtype="float64"), lats=cases["lat"].to_numpy(dtype="float64"),
                   times=times.dt.tz_convert(None).to_numpy(), same_category=same, max_distance_m=max_distance_m,
                   window=window)


def duplicates_among(rows: Sequence[Mapping[Any, Any]], *, lon: float, lat: float, category: str,
                     reported_at: dt.datetime, category_class: str | None = None, max_distance_m: float = 50.0,
                     window: dt.timedelta = dt.timedelta(hours=72)) -> list[DuplicateCandidate]:
    """``find_duplicates`` over a few candidate rows (mappings with the same keys), without a DataFrame.

    For the handful a database prefilter returns on every report, where building a DataFrame
    cost more than the check itself.
    """
    _check_question(lon, lat, reported_at, max_distance_m, window)
    rows = [r for r in rows if r.get("status") not in CLOSED_STATUSES]
    if not rows:
        return []
    missing = [c for c in _REQUIRED if c not in rows[0]]
    if missing:
        raise InvalidInput(f"candidate rows lack key(s) {', '.join(missing)}; expected {', '.join(_REQUIRED)}")
    same = np.array([r["category"] == category and (category_class is None or "category_class" not in r
                                                   or r["category_class"] == category_class) for r in rows])
    for r in rows:
        if r["reported_at"].tzinfo is None:
            raise InvalidInput(f"candidate {r['id']}: reported_at must be timezone-aware; got {r['reported_at']!r}")
    times = np.array([np.datetime64(r["reported_at"].astimezone(dt.UTC).replace(tzinfo=None), "ns") for r in rows])
    return _ranked(lon=lon, lat=lat, reported_at=reported_at, ids=np.array([r["id"] for r in rows]),
                   lons=np.array([r["lon"] for r in rows], dtype="float64"),
                   lats=np.array([r["lat"] for r in rows], dtype="float64"),
                   times=times, same_category=same, max_distance_m=max_distance_m, window=window)
