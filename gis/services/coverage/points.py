"""Candidate points read from a file: a CSV with lon,lat columns or any vector file of points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InvalidInput
from gis.layers import STORAGE_CRS


def read_points(path: Any) -> list[tuple[float, float]]:
    """Candidate points from a CSV with lon,lat columns or any vector file of points (to CGCS2000 lon/lat).

    Errors name the file and stand for the request's ``candidates`` (of suggest_sites and cover_all_sites).
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        cols = {c.lower(): c for c in frame.columns}
        lon, lat = cols.get("lon") or cols.get("x"), cols.get("lat") or cols.get("y")
        if lon is None or lat is None:
            raise InvalidInput(f"{path.name}: expected lon and lat columns; got {list(frame.columns)}",
                               details={"field": "candidates"})
        xy = frame[[lon, lat]].to_numpy(dtype=float)
    else:
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises several kinds; the user needs one line
            raise InvalidInput(f"{path.name}: cannot read points: {str(exc).splitlines()[0]}",
                               details={"field": "candidates"}) from None
        if frame.crs is None:
            raise InvalidInput(f"{path.name}: no CRS; expected EPSG:4490 or WGS84 lon/lat",
                               details={"field": "candidates"})
        frame = frame.to_crs(STORAGE_CRS)
        if not (frame.geom_type == "Point").all():
            raise InvalidInput(f"{path.name}: expected points; got {sorted(set(frame.geom_type))}",
                               details={"field": "candidates"})
        xy = shapely.get_coordinates(frame.geometry.values)
    if not np.isfinite(xy).all() or len(xy) == 0:
        raise InvalidInput(f"{path.name}: no usable lon/lat points", details={"field": "candidates"})
    return [(float(x), float(y)) for x, y in xy]
