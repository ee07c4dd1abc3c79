"""Reading rows into GeoDataFrames (gis.db.frames.read_frame): the one path, run on a binary cursor.

The binary cursor bypasses SQLAlchemy's result rows, so each test checks that what comes back is what a
plain SQLAlchemy read gives: the same values and types, NULL geometries as None, the session's own
uncommitted rows, SQL text with ``:name`` parameters and Core statements alike.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import shapely
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.orm import Session

from gis.db.frames import copy_rows, ewkb_hex, read_frame
from gis.layers import STORAGE_CRS


@pytest.fixture
def places(db: Session) -> Table:
    db.execute(text("CREATE TEMP TABLE place (id serial PRIMARY KEY, name text, n numeric, at timestamptz, "
                    "flags text[], geom geometry)"))
    at = dt.datetime(2026, 12, 7, 1, 2, 3, tzinfo=dt.UTC)
    geoms = ewkb_hex([shapely.Point(118.78, 32.04), None, shapely.box(118.7, 32.0, 118.8, 32.1)])
    copy_rows(db, "place", ("name", "n", "at", "flags", "geom"),
              [("甲 100%", Decimal("1.5"), at, ["a", "b"], geoms[0]),
               (None, None, None, None, geoms[1]),
               ("c", Decimal("-2"), at, [], geoms[2])])
    return Table("place", MetaData(), Column("id", Integer), Column("name", Text), Column("geom", Text))


def test_rows_read_as_sqlalchemy_reads_them(db: Session, places: Table) -> None:
    sql = "SELECT id, name, n, at, flags, ST_AsBinary(geom) AS geom FROM place WHERE id = ANY(:ids) ORDER BY id"
    frame = read_frame(db, sql, {"ids": [1, 2, 3]})
    reference = db.execute(text(sql), {"ids": [1, 2, 3]}).all()
    assert list(frame.columns) == ["id", "name", "n", "at", "flags", "geometry"]
    assert frame.crs == STORAGE_CRS
    for (_, row), ref in zip(frame.iterrows(), reference, strict=True):
        values = [None if v is None or v != v else v for v in row.drop("geometry").tolist()]
        assert values == [None if v is None else v for v in ref[:-1]]
        assert (row.geometry is None) == (ref[-1] is None)
        if ref[-1] is not None:
            assert row.geometry.equals(shapely.from_wkb(bytes(ref[-1])))
    assert frame.loc[0, "name"] == "甲 100%"  # a literal % in the data, and in SQL below, survives pyformat


def test_core_statements_and_literal_percent_signs(db: Session, places: Table) -> None:
    stmt = (select(places.c.id, func.ST_AsBinary(places.c.geom).label("geom"))
            .where(places.c.id.in_([1, 3])).order_by(places.c.id))
    frame = read_frame(db, stmt)
    assert frame["id"].tolist() == [1, 3]
    assert frame.geometry.geom_type.tolist() == ["Point", "Polygon"]
    assert read_frame(db, "SELECT name FROM place WHERE name LIKE '%100%%' OR name LIKE '%100%'")["name"].tolist() \
        == ["甲 100%"]


def test_empty_results_and_frames_without_geometry(db: Session, places: Table) -> None:
    empty = read_frame(db, "SELECT id, ST_AsBinary(geom) AS geom FROM place WHERE false")
    assert empty.empty and list(empty.columns) == ["id", "geometry"] and empty.crs == STORAGE_CRS
    plain = read_frame(db, "SELECT count(*) AS n FROM place")
    assert plain["n"].tolist() == [3] and plain.geometry.isna().all()


def test_the_sessions_own_uncommitted_rows_are_read(db: Session, places: Table) -> None:
    db.execute(text("INSERT INTO place (name) VALUES ('mine, not committed')"))
    assert "mine, not committed" in read_frame(db, "SELECT name FROM place")["name"].tolist()
