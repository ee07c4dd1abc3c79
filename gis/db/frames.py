"""Rows ⇄ GeoDataFrames: bulk writes with COPY, reads into shapely geometries.

COPY runs on the session's own connection, so it belongs to the session's transaction:
an import that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.layers import STORAGE_CRS

SRID = 4490


def ewkb_hex(geoms: Sequence[Any] | gpd.GeoSeries) -> list[str | None]:
    """Hex EWKB with SRID 4490, the text form COPY accepts for a geometry column."""
    arr = np.asarray(geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms, dtype=object)
    out = shapely.to_wkb(shapely.set_srid(arr, SRID), hex=True, include_srid=True)
    return [None if g is None else str(g) for g in out]


def _clean(value: Any) -> Any:
    """pandas' missing markers and numpy scalars as COPY wants them."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table`` within the session's transaction; returns the number written."""
    conn = session.connection().connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    n = 0
    with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([_clean(v) for v in row])
            n += 1
    return n


def copy_frame(session: Session, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY a (Geo)DataFrame; a ``geometry`` column is written to ``geom``."""
    data = {c: frame[c].tolist() for c in columns if c != "geom"}
    if "geom" in columns:
        data["geom"] = ewkb_hex(frame.geometry)
    return copy_rows(session, table, columns, zip(*(data[c] for c in columns), strict=True))


def allocate_ids(session: Session, table: str, n: int) -> np.ndarray:
    """Reserve ``n`` ids from the table's id sequence (so rows can reference each other before COPY)."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    ids = session.execute(
        text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"), {"t": table, "n": n}
    ).scalars().all()
    return np.asarray(ids, dtype=np.int64)


def read_frame(session: Session, sql: str, params: dict[str, Any] | None = None) -> gpd.GeoDataFrame:
    """Run ``sql`` (which selects ``ST_AsBinary(geom) AS geom``) into a GeoDataFrame in EPSG:4490."""
    result = session.execute(text(sql), params or {})
    columns = list(result.keys())
    rows = result.all()
    frame = pd.DataFrame(rows, columns=columns)
    wkb = frame.pop("geom") if "geom" in frame else pd.Series([], dtype=object)
    geoms = shapely.from_wkb([bytes(g) if g is not None else None for g in wkb])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=STORAGE_CRS)
