"""Boundary readers for GeoJSON, GeoPackage and CSV with a WKT column, each checked before GDAL sees it.

A file is recognised by its first bytes, so a shapefile renamed to .geojson or an HTML error page
saved as one is named for what it is, not for a parser error.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

from gis.errors import InvalidInput
from gis.io.boundaries.common import WKT_COLUMNS, Raw, fail, gdal_text, one_line, read_ogr

_GEOJSON_TYPES = {
    "FeatureCollection", "Feature", "Point", "MultiPoint", "LineString", "MultiLineString",
    "Polygon", "MultiPolygon", "GeometryCollection",
}
_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive",
    b"SQLite format 3": "an SQLite/GeoPackage database",
    b"\xd0\xcf\x11\xe0": "an old Microsoft Office document",
}


def _sniff(head: bytes) -> str | None:
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            return what
    return None


def read_geojson(path: Path, where: str) -> Raw:
    data = path.read_bytes()
    what = _sniff(data[:16])
    if what is not None:
        raise fail(InvalidInput, where, f"is not a geometry file: it is {what}; expected GeoJSON text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise fail(
            InvalidInput, where, f"is not a geometry file: byte {exc.start} is not UTF-8 text; expected GeoJSON"
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise fail(
                InvalidInput, where, f"is not a geometry file: it does not start with JSON ({text.strip()[:30]!r}); "
                "expected GeoJSON"
            ) from None
        truncated = exc.pos >= len(text.rstrip()) - 1
        kind = "truncated JSON (the file ends early)" if truncated else "malformed JSON"
        raise fail(
            InvalidInput, where, f"is {kind}: {exc.msg} at line {exc.lineno} column {exc.colno}; expected GeoJSON"
        ) from None
    if not isinstance(doc, dict) or doc.get("type") not in _GEOJSON_TYPES:
        got = (
            f"an object with keys {sorted(doc)[:6]}" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
        )
        raise fail(InvalidInput, where, f"is JSON but not GeoJSON: got {got}; expected a FeatureCollection")
    if doc["type"] == "FeatureCollection" and not doc.get("features"):
        raise fail(InvalidInput, where, "has no features (empty FeatureCollection)")
    return read_ogr(path, where, "GeoJSON")


def _check_sqlite_size(path: Path, where: str) -> None:
    """Compare the page count in the SQLite header with the file size: a cut file says so plainly."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise fail(InvalidInput, where, f"is truncated: {size} bytes is less than an SQLite header")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The page count is only trustworthy when "version-valid-for" equals the change counter.
    if pages and head[92:96] == head[24:28] and size < pages * page_size:
        raise fail(
            InvalidInput, where,
            f"is truncated: its SQLite header says {pages * page_size} bytes, the file has {size}",
        )


def read_gpkg(path: Path, where: str) -> Raw:
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head.startswith(b"SQLite format 3"):
        what = _sniff(head) or "not an SQLite database"
        raise fail(InvalidInput, where, f"is not a GeoPackage: it is {what}")
    _check_sqlite_size(path, where)
    try:
        layers = pyogrio.list_layers(str(path))
    except Exception as exc:
        raise fail(
            InvalidInput, where, f"cannot be read as GeoPackage (truncated or corrupt file?): {gdal_text(exc)}"
        ) from None
    spatial = [(str(name), gtype) for name, gtype in layers if gtype is not None]
    if not spatial:
        raise fail(InvalidInput, where, "has no geometry layer; expected a layer of polygons")
    polygonal = [name for name, gtype in spatial if "Polygon" in str(gtype)]
    layer = (polygonal or [spatial[0][0]])[0]
    raw = read_ogr(path, where, "GeoPackage", layer=layer)
    if len(spatial) > 1:
        raw.warnings.append(f"{where}: has {len(spatial)} geometry layers; read layer {layer!r}")
    return raw


def read_csv_file(path: Path, where: str, encoding: str | None) -> Raw:
    data = path.read_bytes()
    what = _sniff(data[:16])
    if what is not None:
        raise fail(InvalidInput, where, f"is not a CSV file: it is {what}")
    notes: list[str] = []
    if encoding is not None:
        try:
            text, used = data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise fail(InvalidInput, where, f"cannot be decoded with encoding {encoding}: {gdal_text(exc)}",
                        field="encoding") from None
    else:
        try:
            text, used = data.decode("utf-8-sig"), "UTF-8"
        except UnicodeDecodeError:
            try:
                text, used = data.decode("gb18030"), "GB18030"
            except UnicodeDecodeError as exc:
                raise fail(
                    InvalidInput, where, f"byte {exc.start} is neither UTF-8 nor GBK text; pass the encoding",
                    field="encoding",
                ) from None
            notes.append(f"{where}: not UTF-8; read as GB18030 (GBK)")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise fail(InvalidInput, where, f"cannot be read as CSV: {gdal_text(exc)}") from None
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    column = next((lower[c] for c in WKT_COLUMNS if c in lower), None)
    if column is None:
        raise fail(
            InvalidInput, where,
            f"has no WKT column: expected a column named wkt, geometry or geom; got columns {list(table.columns)[:10]}",
        )
    if len(table) == 0:
        raise fail(InvalidInput, where, "has no features (no data rows)")
    texts = table[column].str.strip()
    blank = texts == ""
    geoms = shapely.from_wkt(np.where(blank, None, texts.to_numpy(dtype=object)), on_invalid="ignore")
    unreadable: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms) & ~blank.to_numpy()):
        snippet = one_line(texts.iloc[i], 40)
        try:
            shapely.from_wkt(texts.iloc[i])
        except Exception as exc:
            unreadable[int(i)] = f"the WKT text {snippet!r} cannot be parsed ({one_line(str(exc), 80)})"
    fields = {c: table[c].to_numpy(dtype=object) for c in table.columns if c != column}
    return Raw(
        geoms=np.asarray(geoms, dtype=object), fields=fields, crs=None, encoding=used,
        unreadable=unreadable, warnings=notes,
    )
