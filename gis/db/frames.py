"""Rows ⇄ GeoDataFrames: bulk writes with COPY, reads into shapely geometries (``read_frame``, the one way).

COPY runs on the session's own connection, so it belongs to the session's transaction:
an import that fails half-way leaves nothing behind.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

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
    """Pandas' missing markers and numpy scalars as COPY wants them."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _column_values(values: pd.Series) -> list[Any]:
    """A column as the plain Python values psycopg adapts (None for missing), converted a column at a time."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biu":
        return values.tolist()
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        array = values.to_numpy()
        plain = array.astype(object)
        plain[np.isnan(array)] = None
        return plain.tolist()
    if isinstance(dtype, pd.StringDtype) or (not isinstance(dtype, np.dtype) and dtype.kind in "biu"):
        return values.to_numpy(dtype=object, na_value=None).tolist()
    return [_clean(v) for v in values.tolist()]


def driver_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's, so that what runs on it is in the session's transaction."""
    conn = session.connection().connection.driver_connection
    if conn is None:
        raise RuntimeError("the session's database connection is closed")
    return conn


def _write_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows of values psycopg adapts as they are, within the session's transaction."""
    conn = driver_connection(session)
    cols = ", ".join(f'"{c}"' for c in columns)
    n = 0
    # Row by row into one COPY: psycopg formats each row in C and sends every 32 kB, so the server
    # writes (indexes, keys, triggers: most of the time) while the next rows are formatted. A whole
    # buffer built first, column by column, was no faster: the server then starts later.
    with conn.cursor() as cur, cur.copy(f'COPY "{table}" ({cols}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def copy_rows(session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """COPY rows into ``table`` within the session's transaction; returns the number written."""
    return _write_rows(session, table, columns, ([_clean(v) for v in row] for row in rows))


def copy_frame(session: Session, table: str, frame: pd.DataFrame, columns: Sequence[str]) -> int:
    """COPY a (Geo)DataFrame; a ``geometry`` column is written to ``geom``."""
    data = {c: _column_values(frame[c]) for c in columns if c != "geom"}
    if "geom" in columns:
        data["geom"] = ewkb_hex(frame.geometry)
    return _write_rows(session, table, columns, zip(*(data[c] for c in columns), strict=True))


def allocate_ids(session: Session, table: str, n: int) -> np.ndarray:
    """Reserve ``n`` ids from the table's id sequence (so rows can reference each other before COPY)."""
    if n == 0:
        return np.empty(0, dtype=np.int64)
    # The sequence looked up once, the ids fetched as one array: a row per id cost 10 µs each.
    sequence = session.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar_one()
    ids = session.execute(text("SELECT array_agg(nextval(CAST(:s AS regclass))) FROM generate_series(1, :n)"),
                          {"s": sequence, "n": n}).scalar_one()
    return np.asarray(ids, dtype=np.int64)


def read_frame(session: Session, query: str | ClauseElement, params: Mapping[str, Any] | None = None
               ) -> gpd.GeoDataFrame:
    """Rows of ``query`` as a GeoDataFrame in EPSG:4490: the one path from rows to geometries.

    ``query`` is SQL text with ``:name`` parameters or a SQLAlchemy Core statement; a column
    ``geom`` (``ST_AsBinary(...) AS geom``) becomes the geometry, any other is kept as it is.
    The statement is compiled by SQLAlchemy and run on the session's own connection (so in its
    transaction) through a binary psycopg cursor: WKB arrives as bytes rather than hex text, and
    rows as plain tuples rather than SQLAlchemy rows, which pandas would probe one by one (an
    exception per row inside SQLAlchemy). On a 100,000-node district that is several times faster.
    """
    statement = text(query) if isinstance(query, str) else query
    dialect = session.get_bind().dialect
    # render_postcompile: an expanding IN (Core's ``column.in_([...])``) becomes its own parameters.
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))
    values = dict(compiled.construct_params(dict(params or {})) or {})
    for name, bind in compiled.binds.items():
        processor = bind.type.bind_processor(dialect)
        if processor is not None and name in values:
            values[name] = processor(values[name])
    with driver_connection(session).cursor(binary=True) as cursor:
        cursor.execute(str(compiled), values)
        columns = [c.name for c in cursor.description or ()]
        rows = cursor.fetchall()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    wkb = frame.pop("geom").tolist() if "geom" in frame else [None] * len(frame)
    geoms = shapely.from_wkb([None if g is None else bytes(g) for g in wkb]) if wkb else np.empty(0, dtype=object)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=STORAGE_CRS, index=frame.index),
                            crs=STORAGE_CRS)
