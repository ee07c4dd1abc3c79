"""Writing frames with COPY (gis.db.frames): values converted a column at a time store what row by row stored.

Every table of an import goes through ``copy_frame``; its columns are turned into plain Python
values a column at a time (NaN and pandas' NA as None) before psycopg writes the rows. Each test
writes the same rows both ways into twin tables and compares them in SQL, so any difference in
NULLs, float digits, text, dates or geometry shows up as a row.
"""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db import frames
from gis.db.frames import copy_frame, copy_rows, ewkb_hex

COLUMNS = ("n", "label", "x", "flag", "day", "at", "geom")
TABLE_DDL = ("(id serial PRIMARY KEY, n bigint, label text, x double precision, flag boolean, day date, "
             "at timestamptz, geom geometry)")

AWKWARD_TEXT = ["plain", "", "tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "中文 路名·一", None,
                "trailing\\", "emoji 🚧", "a\tb\nc\\d"]
FLOATS = [0.1, 1 / 3, 1e-300, -0.0, 123456789.123456789, float("nan"), float("inf"), 2.5e16, None]


def make_tables(db: Session, *names: str) -> None:
    for name in names:
        db.execute(text(f"CREATE TEMP TABLE {name} {TABLE_DDL}"))


def write_row_by_row(db: Session, table: str, rows: list[tuple]) -> None:
    """The former path, one psycopg write_row per row: the reference."""
    conn = db.connection().connection.driver_connection
    cols = ", ".join(COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([frames._clean(v) for v in row])


def differences(db: Session, a: str, b: str) -> list[tuple]:
    cols = "id, n, label, x::text, flag, day, at, ST_AsEWKB(geom)"
    return db.execute(text(f"(SELECT {cols} FROM {a} EXCEPT SELECT {cols} FROM {b}) UNION ALL "
                           f"(SELECT {cols} FROM {b} EXCEPT SELECT {cols} FROM {a})")).all()


def awkward_rows() -> list[tuple]:
    tz = dt.timezone(dt.timedelta(hours=8))
    geoms = ewkb_hex([shapely.Point(118.78, 32.04), None, shapely.box(118.7, 32.0, 118.8, 32.1),
                      shapely.Point(118.78, 32.04, 12.5), shapely.Polygon()])
    rows = []
    for i, label in enumerate(AWKWARD_TEXT):
        rows.append((
            [1, np.int64(-(2**62)), 0, None, np.int32(7)][i % 5],
            label,
            [*FLOATS, np.float32(0.1), np.float64(2 / 3)][i % 11],
            [True, False, None, np.bool_(True)][i % 4],
            [dt.date(2026, 2, 28), None, pd.Timestamp("2024-02-29").date()][i % 3],
            [dt.datetime(2026, 12, 6, 18, 40, 1, 123456, tzinfo=tz), pd.NaT, pd.Timestamp("2026-01-01T00:00:00Z"),
             dt.datetime(2026, 6, 1, 12, 0)][i % 4],
            geoms[i % len(geoms)],
        ))
    return rows


def test_copy_rows_gives_text_back_byte_for_byte(db: Session) -> None:
    make_tables(db, "by_buffer", "by_row")
    rows = awkward_rows()
    assert copy_rows(db, "by_buffer", COLUMNS, rows) == len(rows)
    write_row_by_row(db, "by_row", rows)
    assert db.execute(text("SELECT count(*) FROM by_buffer")).scalar_one() == len(rows)
    assert differences(db, "by_buffer", "by_row") == []
    labels = db.execute(text("SELECT label FROM by_buffer ORDER BY id")).scalars().all()
    assert labels == AWKWARD_TEXT, "text must come back byte for byte, '' and NULL kept apart"
    x = db.execute(text("SELECT x FROM by_buffer ORDER BY id")).scalars().all()
    assert x[1] == 1 / 3 and math.isinf(x[6]) and x[5] is None and x[9] == float(np.float32(0.1))


def test_copy_frame_stores_what_write_row_stored(db: Session) -> None:
    make_tables(db, "frame_buffer", "frame_row")
    rows = awkward_rows()
    frame = gpd.GeoDataFrame({
        "n": pd.array([r[0] if r[0] is None else int(r[0]) for r in rows], dtype="Int64"),
        "label": pd.array([r[1] for r in rows], dtype="string"),
        "x": [np.nan if r[2] is None else float(r[2]) for r in rows],
        "flag": [bool(r[3]) if r[3] is not None else False for r in rows],
        "day": [r[4] for r in rows],
        "at": [r[5] for r in rows],
    }, geometry=shapely.from_wkb([None if r[6] is None else bytes.fromhex(r[6]) for r in rows]), crs="EPSG:4490")
    assert copy_frame(db, "frame_buffer", frame, COLUMNS) == len(frame)
    write_row_by_row(db, "frame_row", [
        (n, label, x, flag, day, at, g) for n, label, x, flag, day, at, g
        in zip(frame["n"].tolist(), frame["label"].tolist(), frame["x"].tolist(), frame["flag"].tolist(),
               frame["day"].tolist(), frame["at"].tolist(), ewkb_hex(frame.geometry), strict=True)])
    assert differences(db, "frame_buffer", "frame_row") == []


def test_a_frame_column_psycopg_adapts_is_written_as_before(db: Session) -> None:
    db.execute(text("CREATE TEMP TABLE tagged (k int, tags text[], label text)"))
    frame = pd.DataFrame({"k": [1, 2], "tags": [["独居老人", "低保"], []], "label": ["a\tb", None]})
    assert copy_frame(db, "tagged", frame, ("k", "tags", "label")) == 2
    stored = db.execute(text("SELECT k, tags, label FROM tagged ORDER BY k")).all()
    assert [tuple(r) for r in stored] == [(1, ["独居老人", "低保"], "a\tb"), (2, [], None)]


def test_a_nul_in_text_is_refused_as_before(db: Session) -> None:
    db.execute(text("CREATE TEMP TABLE nul (label text)"))
    with pytest.raises(Exception, match="NUL|0x00"):
        copy_rows(db, "nul", ("label",), [("ok",), ("bad\x00byte",)])


def test_ewkb_hex_is_set_srid_and_to_wkb() -> None:
    geoms = [shapely.Point(1, 2), shapely.Point(1, 2, 3), shapely.LineString([(0, 0), (1, 1)]), shapely.box(0, 0, 1, 1),
             shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]), None, shapely.Polygon(), shapely.Point(),
             shapely.GeometryCollection([shapely.Point(0, 0)]), shapely.set_srid(shapely.Point(5, 5), 4326)]
    expected = shapely.to_wkb(shapely.set_srid(np.asarray(geoms, dtype=object), 4490), hex=True, include_srid=True)
    assert ewkb_hex(geoms) == [None if e is None else str(e) for e in expected]


def test_allocated_ids_are_fresh_and_ascending(db: Session) -> None:
    ids = frames.allocate_ids(db, "walk_node", 5)
    assert ids.dtype == np.int64 and len(ids) == 5 and (np.diff(ids) > 0).all()
    assert len(frames.allocate_ids(db, "walk_node", 0)) == 0
