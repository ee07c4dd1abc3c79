"""Rows ⇄ GeoDataFrames: bulk writes with COPY, reads into shapely geometries.

COPY runs on the session's own connection, so it belongs to the session's transaction:
an import that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.layers import STORAGE_CRS

SRID = 4490
_SRID_HEX = SRID.to_bytes(4, "little").hex().upper()


def ewkb_hex(geoms: Sequence[Any] | gpd.GeoSeries) -> list[str | None]:
    """Hex EWKB with SRID 4490, the text form COPY accepts for a geometry column."""
    arr = np.asarray(geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms, dtype=object)
    wkb = shapely.to_wkb(arr, hex=True, byte_order=1)
    # EWKB is this little-endian WKB with the SRID flag (0x20) on the type's high byte and the SRID
    # after the type: written into the hex here, as set_srid would first copy every geometry.
    return [None if h is None else f"{h[:8]}{int(h[8:10], 16) | 0x20:02X}{_SRID_HEX}{h[10:]}" for h in wkb]


def _clean(value: Any) -> Any:
    """pandas' missing markers and numpy scalars as COPY wants them."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


# Rows per buffer handed to COPY: a table goes in one COPY, its text built this many rows at a time
# so that a million-row table does not sit in memory twice.
COPY_BATCH_ROWS = 50_000
_NULL = "\\N"
# COPY's text format: backslash, tab, newline and carriage return are written as escapes.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_SPECIAL = "[\\\\\t\n\r\x00]"


class _NotText(Exception):
    """A value the text builder does not write (a list, dict, bytes...): psycopg adapts it instead."""


def _str_text(value: str) -> str:
    if value.isalnum():  # codes, hex geometries, most names: nothing to escape, nothing to copy
        return value
    if "\x00" in value:
        raise _NotText  # PostgreSQL text cannot hold NUL: psycopg's error, not a garbled row
    return value.translate(_ESCAPES)


def _float_text(value: float) -> str:
    return _NULL if value != value else repr(float(value))


def _other_text(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return _NULL
    if isinstance(value, str):
        return _str_text(value)
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float_text(float(value))
    if isinstance(value, dt.date):  # datetime too; pandas' Timestamp is one
        return value.isoformat()
    raise _NotText(type(value).__name__)


_TEXT_OF: dict[type, Any] = {
    str: _str_text, int: str, float: _float_text, bool: lambda v: "t" if v else "f", type(None): lambda _v: _NULL,
}


def _array_text(values: np.ndarray) -> np.ndarray:
    """A numeric or boolean array as COPY text (an object array; NaN is NULL)."""
    if values.dtype.kind == "b":
        return np.where(values, "t", "f").astype(object)
    if values.dtype.kind != "f":
        return values.astype(str).astype(object)
    # As float64, as psycopg would get it: numpy's str() of a float64 is its shortest round-trip
    # form (as Python's repr), while a float32's would read back as another double.
    wide = values.astype(np.float64)
    text = wide.astype(str).astype(object)
    text[np.isnan(wide)] = _NULL
    return text


def _column_text(values: Any) -> list[str]:
    """One column as COPY text fields: arrays and pandas' typed columns at once, other values one by one."""
    if isinstance(values, pd.Series):
        dtype = values.dtype
        if isinstance(dtype, np.dtype):
            values = values.to_numpy()
        elif isinstance(dtype, pd.StringDtype):
            # Only the few strings holding a character COPY escapes are looked at one by one.
            text = values.to_numpy(dtype=object, na_value=_NULL)
            for i in np.flatnonzero(values.str.contains(_SPECIAL, regex=True, na=False).to_numpy(dtype=bool)):
                text[i] = _str_text(text[i])
            return text.tolist()
        elif dtype.kind in "biuf":  # nullable Int64, boolean, Float64
            missing = values.isna().to_numpy(dtype=bool)
            filler = False if dtype.kind == "b" else 0
            text = _array_text(values.to_numpy(dtype=dtype.numpy_dtype, na_value=filler))
            text[missing] = _NULL
            return text.tolist()
        else:  # iterating a pandas extension array costs a microsecond a value
            values = values.to_numpy(dtype=object, na_value=None)
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
        return _array_text(values).tolist()
    text_of, other = _TEXT_OF.get, _other_text
    return [text_of(type(v), other)(v) for v in values]


class _Fields(list):  # type: ignore[type-arg]
    """A column already in COPY text (hex EWKB, \\N for none): written as it is."""


def _copy_text(columns: Sequence[Any]) -> str:
    """Rows given as columns, in COPY's text format; raises _NotText for a value it does not write."""
    fields = [c if isinstance(c, _Fields) else _column_text(c) for c in columns]
    return "\n".join(map("\t".join, zip(*fields, strict=True))) + "\n"


def _copy_batches(session: Session, table: str, columns: Sequence[str], batches: Iterable[Sequence[Any]]) -> int:
    """COPY batches of rows, each given as its columns, in one COPY within the session's transaction.

    Each batch goes as one text buffer. A batch holding a value the text builder does not write
    (lists for array columns, bytes...) and every batch after it go row by row through psycopg's
    adapters, so the rows still arrive in order.
    """
    conn = session.connection().connection.driver_connection
    cols = ", ".join(f'"{c}"' for c in columns)
    n = 0
    by_row = False
    with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        for batch in batches:
            if not by_row:
                try:
                    copy.write(_copy_text(batch))
                    n += len(batch[0]) if len(batch) else 0
                    continue
                except _NotText:
                    by_row = True
            ready = [isinstance(c, _Fields) for c in batch]
            for row in zip(*batch, strict=True):
                copy.write_row([(None if v == _NULL else v) if r else _clean(v)
                                for v, r in zip(row, ready, strict=True)])
                n += 1
    return n


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table`` within the session's transaction; returns the number written."""
    iterator = iter(rows)
    batches = iter(lambda: list(islice(iterator, COPY_BATCH_ROWS)), [])
    return _copy_batches(session, table, columns, (list(zip(*batch, strict=True)) for batch in batches))


def copy_frame(session: Session, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY a (Geo)DataFrame; a ``geometry`` column is written to ``geom``."""
    data: dict[str, Any] = {c: frame[c] for c in columns if c != "geom"}
    if "geom" in columns:
        # Hex needs no escaping: the geometry column goes into the buffer as shapely wrote it.
        data["geom"] = [_NULL if h is None else h for h in ewkb_hex(frame.geometry)]
    batches = ([_Fields(data[c][i:i + COPY_BATCH_ROWS]) if c == "geom" else data[c].iloc[i:i + COPY_BATCH_ROWS]
                for c in columns] for i in range(0, len(frame), COPY_BATCH_ROWS))
    return _copy_batches(session, table, columns, batches)


def allocate_ids(session: Session, table: str, n: int) -> np.ndarray:
    """Reserve ``n`` ids from the table's id sequence (so rows can reference each other before COPY)."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    # The sequence looked up once, the ids fetched as one array: a row per id cost 10 µs each.
    sequence = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    ids = session.execute(text("SELECT array_agg(nextval(CAST(:s AS regclass))) FROM generate_series(1, :n)"),
                          {"s": sequence, "n": n}).scalar_one()
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
