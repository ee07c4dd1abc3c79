"""Boundary files of streets, communities and grids: reading, validating and writing.

``read_boundaries`` accepts GeoJSON, GeoPackage, shapefiles (also zipped) and CSV with a
WKT column, and returns a frame in EPSG:4490 with ``code``, ``name``, ``parent_code``,
``attrs`` (the other attributes, as a dict) and MultiPolygon geometries.

Boundaries are never repaired here: a self-intersecting or unreadable polygon is
reported with its row, code and location so the planner fixes the source data. Each
problem raises one ``gis.errors`` class with a one-line message for the first problem;
``details["problems"]`` lists every problem found (``{row, code, problem, error}``).

Attribute encodings of shapefiles: an explicit ``encoding`` wins, then the ``.cpg``, then
detection from the ``.dbf`` bytes (UTF-8, else GB18030 if it yields Chinese text). A
declared encoding that does not decode the ``.dbf`` is an error naming the row and field,
not a silent fallback: a wrong ``.cpg`` means the file's producer is misconfigured, and
guessing against an explicit declaration could store garbled names unnoticed.
"""

from __future__ import annotations

import codecs
import datetime as _dt
import io
import json
import math
import re
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS
from shapely.validation import explain_validity

from gis.crs import OBFUSCATED_SYSTEMS, to_storage_crs
from gis.errors import CRSMismatch, InvalidGeometry, InvalidInput, WanggeError
from gis.layers import STORAGE_CRS

__all__ = ["BoundaryFile", "LEVELS", "FORMATS", "read_boundaries", "write_boundaries"]


@dataclass(frozen=True)
class _Level:
    digits: int
    parent_digits: int
    parent_name: str
    code_fields: tuple[str, ...]
    name_fields: tuple[str, ...]
    parent_fields: tuple[str, ...]


_GENERIC_CODE = ("code", "编码", "代码")
_GENERIC_NAME = ("name", "名称", "mc")
_GENERIC_PARENT = ("parent_code", "parent_cod", "parent", "上级编码")

LEVELS: dict[str, _Level] = {
    "street": _Level(
        9, 6, "district",
        ("code", "street_code", "街道编码", "街道代码", "编码", "代码", "jdbm"),
        ("name", "street_name", "街道名称", "名称", "mc"),
        (*_GENERIC_PARENT, "district_code", "区县编码", "区编码"),
    ),
    "community": _Level(
        12, 9, "street",
        ("code", "community_code", "社区编码", "社区代码", "编码", "代码", "sqbm"),
        ("name", "community_name", "社区名称", "名称", "mc"),
        (*_GENERIC_PARENT, "street_code", "街道编码"),
    ),
    "grid": _Level(
        15, 12, "community",
        ("code", "grid_code", "gridcode", "网格编码", "网格代码", "wgbm", "编码", "代码"),
        ("name", "grid_name", "网格名称", "名称", "mc"),
        (*_GENERIC_PARENT, "community_code", "社区编码", "所属社区编码"),
    ),
}

FORMATS = ("geojson", "gpkg", "shp", "csv")
_READ_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".csv")
_WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_POLYGONAL = ("Polygon", "MultiPolygon")
_MAX_GDAL_TEXT = 160


@dataclass
class BoundaryFile:
    """A boundary file as read: the validated frame and how it was interpreted.

    frame: EPSG:4490, columns ``code``, ``name``, ``parent_code``, ``attrs``, ``geometry``
        (MultiPolygon), one row per feature in file order.
    source_crs: the CRS the coordinates were read in (``"EPSG:4549"``, ``"gcj02"``, ...).
    encoding: the attribute encoding used (None where the format fixes it, e.g. GeoPackage).
    warnings: things worth telling the user that did not stop the import.
    """

    frame: gpd.GeoDataFrame
    level: str
    source_crs: str
    encoding: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Raw:
    """What a format reader hands to validation: geometries, attributes and metadata."""

    geoms: np.ndarray  # shapely geometries, None where missing or unreadable
    fields: dict[str, np.ndarray]
    crs: str | None
    encoding: str | None = None
    unreadable: dict[int, str] = field(default_factory=dict)  # 0-based row -> reason
    warnings: list[str] = field(default_factory=list)
    crs_assumed: bool = False


# --------------------------------------------------------------------------- helpers


def _one_line(text: str, limit: int | None = None) -> str:
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _gdal_text(exc: BaseException) -> str:
    return _one_line(str(exc) or type(exc).__name__, _MAX_GDAL_TEXT)


def _fail(cls: type[WanggeError], where: str, text: str, **details: Any) -> WanggeError:
    return cls(_one_line(f"{where}: {text}"), details={"file": where, **details})


def _sidecar(path: Path, suffix: str) -> Path | None:
    """The file next to ``path`` with the same stem and ``suffix``, matched case-insensitively."""
    exact = path.with_suffix(suffix)
    if exact.exists():
        return exact
    for candidate in path.parent.iterdir():
        if candidate.stem == path.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def _gdal_warnings(caught: list[warnings.WarningMessage], where: str) -> list[str]:
    return [f"{where}: GDAL: {_one_line(str(w.message), _MAX_GDAL_TEXT)}" for w in caught]


def _read_ogr(path: Path | str, where: str, kind: str, **kwargs: Any) -> _Raw:
    """Read one layer through pyogrio; GDAL failures become InvalidInput naming the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meta, _fids, wkb, field_data = pyogrio.raw.read(str(path), **kwargs)
        except Exception as exc:  # pyogrio.errors.* and GDAL's RuntimeErrors: never let them escape
            raise _fail(
                InvalidInput, where, f"cannot be read as {kind} (truncated or corrupt file?): {_gdal_text(exc)}"
            ) from None
    if wkb is None:
        raise _fail(InvalidInput, where, f"has no geometry column; expected a {kind} of polygons")
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    unreadable: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms) & ~pd.isna(wkb)):
        try:
            shapely.from_wkb(wkb[i])
        except Exception as exc:  # GEOS names the defect, e.g. an unclosed ring
            unreadable[int(i)] = _one_line(str(exc).removeprefix("IllegalArgumentException: "), _MAX_GDAL_TEXT)
        else:
            unreadable[int(i)] = "unreadable geometry"
    fields = {str(name): np.asarray(values) for name, values in zip(meta["fields"], field_data, strict=True)}
    return _Raw(
        geoms=np.asarray(geoms, dtype=object),
        fields=fields,
        crs=meta.get("crs"),
        encoding=meta.get("encoding"),
        unreadable=unreadable,
        warnings=_gdal_warnings(caught, where),
    )


# --------------------------------------------------------------------------- GeoJSON

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


def _read_geojson(path: Path, where: str) -> _Raw:
    data = path.read_bytes()
    what = _sniff(data[:16])
    if what is not None:
        raise _fail(InvalidInput, where, f"is not a geometry file: it is {what}; expected GeoJSON text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _fail(
            InvalidInput, where, f"is not a geometry file: byte {exc.start} is not UTF-8 text; expected GeoJSON"
        ) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.lstrip().startswith(("{", "[")):
            raise _fail(
                InvalidInput, where, f"is not a geometry file: it does not start with JSON ({text.strip()[:30]!r}); "
                "expected GeoJSON"
            ) from None
        truncated = exc.pos >= len(text.rstrip()) - 1
        kind = "truncated JSON (the file ends early)" if truncated else "malformed JSON"
        raise _fail(
            InvalidInput, where, f"is {kind}: {exc.msg} at line {exc.lineno} column {exc.colno}; expected GeoJSON"
        ) from None
    if not isinstance(doc, dict) or doc.get("type") not in _GEOJSON_TYPES:
        got = (
            f"an object with keys {sorted(doc)[:6]}" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}"
        )
        raise _fail(InvalidInput, where, f"is JSON but not GeoJSON: got {got}; expected a FeatureCollection")
    if doc["type"] == "FeatureCollection" and not doc.get("features"):
        raise _fail(InvalidInput, where, "has no features (empty FeatureCollection)")
    return _read_ogr(path, where, "GeoJSON")


# --------------------------------------------------------------------------- GeoPackage


def _check_sqlite_size(path: Path, where: str) -> None:
    """Compare the page count in the SQLite header with the file size: a cut file says so plainly."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100:
        raise _fail(InvalidInput, where, f"is truncated: {size} bytes is less than an SQLite header")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The page count is only trustworthy when "version-valid-for" equals the change counter.
    if pages and head[92:96] == head[24:28] and size < pages * page_size:
        raise _fail(
            InvalidInput, where,
            f"is truncated: its SQLite header says {pages * page_size} bytes, the file has {size}",
        )


def _read_gpkg(path: Path, where: str) -> _Raw:
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head.startswith(b"SQLite format 3"):
        what = _sniff(head) or "not an SQLite database"
        raise _fail(InvalidInput, where, f"is not a GeoPackage: it is {what}")
    _check_sqlite_size(path, where)
    try:
        layers = pyogrio.list_layers(str(path))
    except Exception as exc:
        raise _fail(
            InvalidInput, where, f"cannot be read as GeoPackage (truncated or corrupt file?): {_gdal_text(exc)}"
        ) from None
    spatial = [(str(name), gtype) for name, gtype in layers if gtype is not None]
    if not spatial:
        raise _fail(InvalidInput, where, "has no geometry layer; expected a layer of polygons")
    polygonal = [name for name, gtype in spatial if "Polygon" in str(gtype)]
    layer = (polygonal or [spatial[0][0]])[0]
    raw = _read_ogr(path, where, "GeoPackage", layer=layer)
    if len(spatial) > 1:
        raw.warnings.append(f"{where}: has {len(spatial)} geometry layers; read layer {layer!r}")
    return raw


# --------------------------------------------------------------------------- shapefile


def _check_shp_header(path: Path, where: str, part: str) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or int.from_bytes(head[0:4], "big") != 9994:
        raise _fail(InvalidInput, where, f"the {part} is not a shapefile (bad header, {size} bytes)")
    declared = int.from_bytes(head[24:28], "big") * 2
    if size < declared:
        raise _fail(
            InvalidInput, where, f"the {part} is truncated: its header says {declared} bytes, the file has {size}"
        )


def _dbf_layout(data: bytes) -> tuple[int, int, int, list[tuple[bytes, str, int]]]:
    n_records = int.from_bytes(data[4:8], "little")
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields: list[tuple[bytes, str, int]] = []
    pos = 32
    while pos + 32 <= min(header_len, len(data)) and data[pos] != 0x0D:
        desc = data[pos : pos + 32]
        fields.append((desc[:11].split(b"\0", 1)[0], chr(desc[11]), desc[16]))
        pos += 32
    return n_records, header_len, record_len, fields


def _dbf_text_cells(data: bytes) -> list[tuple[int, bytes, bytes]]:
    """(1-based row, field name, raw bytes) of every non-blank character cell, plus field names as row 0."""
    n_records, header_len, record_len, fields = _dbf_layout(data)
    cells = [(0, name, name) for name, _t, _l in fields]
    row = 0
    for r in range(n_records):
        start = header_len + r * record_len
        record = data[start : start + record_len]
        if len(record) < record_len:
            break
        if record[:1] == b"*":  # deleted records are not returned by GDAL either
            continue
        row += 1
        offset = 1
        for name, ftype, length in fields:
            if ftype == "C":
                value = record[offset : offset + length].rstrip(b" \0")
                if value:
                    cells.append((row, name, value))
            offset += length
    return cells


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        # Writers cut long values at the field width, possibly inside a multi-byte character.
        return exc.reason == "unexpected end of data" and exc.start >= len(raw) - 3
    return True


def _python_codec(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _encoding_from_cpg(text: str) -> str:
    value = text.strip().strip("\ufeff").upper()
    if value in {"UTF-8", "UTF8", "65001"}:
        return "UTF-8"
    # GB18030 is a superset of GBK/GB2312/CP936: decoding with it loses nothing.
    if value in {"GBK", "CP936", "936", "GB2312", "GB18030", "ANSI 936", "54936"}:
        return "GB18030"
    if value.isdigit():
        return f"CP{value}"
    return text.strip()


def _cell_label(row: int, name: bytes) -> str:
    field_name = name.decode("ascii", "backslashreplace")
    return f"the field names ({field_name})" if row == 0 else f"row {row}, field {field_name!r}"


def _shapefile_encoding(shp: Path, dbf: Path, where: str, encoding: str | None) -> tuple[str, list[str]]:
    """The encoding to read ``dbf`` with: explicit, else .cpg, else detected; checked against the bytes."""
    data = dbf.read_bytes()
    cells = _dbf_text_cells(data)
    notes: list[str] = []
    cpg = _sidecar(shp, ".cpg")
    if encoding is not None:
        declared, source = encoding, f"encoding {encoding}"
    elif cpg is not None:
        declared = _encoding_from_cpg(cpg.read_text("ascii", errors="replace"))
        source = f"the .cpg ({cpg.read_text('ascii', errors='replace').strip()!r})"
    else:
        declared, source = None, None

    if declared is not None:
        codec = _python_codec(declared)
        if codec is None:
            if encoding is not None:
                raise _fail(InvalidInput, where, f"encoding {encoding!r} is not an encoding Python knows",
                            field="encoding")
            notes.append(f"{where}: the .cpg names encoding {declared!r}, which cannot be checked; used as given")
            return declared, notes
        for row, name, raw in cells:
            if not _decodes(raw, codec):
                hint = ""
                if _decodes(raw, "gb18030") and _CJK.search(raw.decode("gb18030", "replace")):
                    hint = f" (the bytes read as GB18030: {raw.decode('gb18030', 'replace')[:20]!r})"
                raise _fail(
                    InvalidInput, where,
                    f"{_cell_label(row, name)}: attribute bytes are not valid {declared} although {source} says so"
                    f"{hint}; fix or delete the .cpg, or pass encoding GB18030",
                    row=row or None, field="encoding",
                )
        return declared, notes

    if all(_decodes(raw, "utf-8") for _r, _n, raw in cells):
        return "UTF-8", notes
    if all(_decodes(raw, "gb18030") for _r, _n, raw in cells) and any(
        _CJK.search(raw.decode("gb18030", "replace")) for _r, _n, raw in cells
    ):
        notes.append(f"{where}: no .cpg file; attributes detected as GB18030 (GBK) Chinese text")
        return "GB18030", notes
    row, name, _raw = next(c for c in cells if not _decodes(c[2], "utf-8"))
    raise _fail(
        InvalidInput, where,
        f"{_cell_label(row, name)}: attributes are neither UTF-8 nor GBK/GB18030 and there is no .cpg; "
        "pass the encoding (e.g. BIG5)",
        row=row or None, field="encoding",
    )


def _read_shapefile(shp: Path, where: str, encoding: str | None) -> _Raw:
    missing = [s for s in (".shx", ".dbf") if _sidecar(shp, s) is None]
    if missing:
        raise _fail(
            InvalidInput, where,
            f"the {' and '.join(missing)} next to the .shp {'is' if len(missing) == 1 else 'are'} missing; "
            "expected .shp, .shx, .dbf (and .prj) with the same name",
        )
    _check_shp_header(shp, where, ".shp")
    _check_shp_header(_sidecar(shp, ".shx"), where, ".shx")  # type: ignore[arg-type]
    dbf = _sidecar(shp, ".dbf")
    assert dbf is not None
    data = dbf.read_bytes()
    n_records, header_len, record_len, _fields = _dbf_layout(data) if len(data) >= 32 else (0, 0, 0, [])
    if len(data) < 32 or len(data) < header_len + n_records * record_len:
        raise _fail(
            InvalidInput, where,
            f"the .dbf is truncated: {len(data)} bytes for {n_records} records of {record_len} bytes",
        )
    used, notes = _shapefile_encoding(shp, dbf, where, encoding)
    raw = _read_ogr(shp, where, "shapefile", encoding=used)
    raw.encoding = used
    raw.warnings = notes + raw.warnings
    return raw


def _read_zip(path: Path, where: str, encoding: str | None) -> _Raw:
    if not zipfile.is_zipfile(path):
        raise _fail(InvalidInput, where, "is not a zip archive (or it is truncated); expected a zipped shapefile")
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/") and not n.startswith("__MACOSX")]
        shps = sorted(n for n in names if n.lower().endswith(".shp"))
        if not shps:
            raise _fail(
                InvalidInput, where, f"contains no .shp file (entries: {', '.join(names[:8]) or 'none'}); "
                "expected a zipped shapefile",
            )
        inner = shps[0]
        stem = inner[: -len(".shp")]
        with tempfile.TemporaryDirectory(prefix="wangge-zip-") as tmp:
            for member in names:
                if member.lower().startswith(stem.lower() + ".") and "/" not in member[len(stem) :]:
                    # Flatten to the base name: archive paths must not choose where files land.
                    target = Path(tmp) / ("layer" + member[len(stem) :])
                    try:
                        target.write_bytes(archive.read(member))
                    except (zipfile.BadZipFile, OSError, EOFError) as exc:
                        raise _fail(InvalidInput, where,
                                    f"entry {member!r} cannot be extracted: {_gdal_text(exc)}") from None
            raw = _read_shapefile(Path(tmp) / "layer.shp", f"{where}/{inner}", encoding)
    if len(shps) > 1:
        raw.warnings.append(f"{where}: contains {len(shps)} shapefiles; read {inner!r}")
    return raw


# --------------------------------------------------------------------------- CSV


def _read_csv(path: Path, where: str, encoding: str | None) -> _Raw:
    data = path.read_bytes()
    what = _sniff(data[:16])
    if what is not None:
        raise _fail(InvalidInput, where, f"is not a CSV file: it is {what}")
    notes: list[str] = []
    if encoding is not None:
        try:
            text, used = data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            raise _fail(InvalidInput, where, f"cannot be decoded with encoding {encoding}: {_gdal_text(exc)}",
                        field="encoding") from None
    else:
        try:
            text, used = data.decode("utf-8-sig"), "UTF-8"
        except UnicodeDecodeError:
            try:
                text, used = data.decode("gb18030"), "GB18030"
            except UnicodeDecodeError as exc:
                raise _fail(
                    InvalidInput, where, f"byte {exc.start} is neither UTF-8 nor GBK text; pass the encoding",
                    field="encoding",
                ) from None
            notes.append(f"{where}: not UTF-8; read as GB18030 (GBK)")
    try:
        table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise _fail(InvalidInput, where, f"cannot be read as CSV: {_gdal_text(exc)}") from None
    table.columns = [str(c).strip() for c in table.columns]
    lower = {c.lower(): c for c in table.columns}
    column = next((lower[c] for c in _WKT_COLUMNS if c in lower), None)
    if column is None:
        raise _fail(
            InvalidInput, where,
            f"has no WKT column: expected a column named wkt, geometry or geom; got columns {list(table.columns)[:10]}",
        )
    if len(table) == 0:
        raise _fail(InvalidInput, where, "has no features (no data rows)")
    texts = table[column].str.strip()
    blank = texts == ""
    geoms = shapely.from_wkt(np.where(blank, None, texts.to_numpy(dtype=object)), on_invalid="ignore")
    unreadable: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms) & ~blank.to_numpy()):
        snippet = _one_line(texts.iloc[i], 40)
        try:
            shapely.from_wkt(texts.iloc[i])
        except Exception as exc:
            unreadable[int(i)] = f"the WKT text {snippet!r} cannot be parsed ({_one_line(str(exc), 80)})"
    fields = {c: table[c].to_numpy(dtype=object) for c in table.columns if c != column}
    return _Raw(
        geoms=np.asarray(geoms, dtype=object), fields=fields, crs=None, encoding=used,
        unreadable=unreadable, warnings=notes,
    )


# --------------------------------------------------------------------------- validation


def _find_field(fields: dict[str, np.ndarray], candidates: tuple[str, ...]) -> str | None:
    lower = {name.lower(): name for name in fields}
    for candidate in candidates:
        if candidate.lower() in lower:
            return lower[candidate.lower()]
    return None


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and value.strip() == "":
        return True
    return bool(pd.isna(value)) if np.isscalar(value) else False


def _code_text(value: Any) -> str | None:
    """A code cell as text; integral floats become digit strings (1e15 is still exact in float64)."""
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    return str(value).strip()


def _json_value(value: Any) -> Any:
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (_dt.date, _dt.datetime, _dt.time, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def _row_label(row: int, code: str | None) -> str:
    return f"row {row} (code {code})" if code else f"row {row}"


def _validate(
    raw: _Raw, *, where: str, level: str, code_field: str | None, name_field: str | None
) -> tuple[pd.DataFrame, list[dict[str, Any]], list[str]]:
    spec = LEVELS[level]
    notes: list[str] = []
    n = len(raw.geoms)
    if n == 0:
        raise _fail(InvalidInput, where, "has no features; expected at least one boundary")

    present = list(raw.fields)
    if code_field is not None:
        if code_field not in raw.fields:
            raise _fail(InvalidInput, where, f"code_field {code_field!r} is not a field; fields present: {present}",
                        field="code_field")
        code_col = code_field
    else:
        found = _find_field(raw.fields, spec.code_fields)
        if found is None:
            raise _fail(
                InvalidInput, where,
                f"no code field found: expected one of {', '.join(spec.code_fields)}; fields present: {present}; "
                "pass code_field",
                field="code_field",
            )
        code_col = found
    if name_field is not None:
        if name_field not in raw.fields:
            raise _fail(InvalidInput, where, f"name_field {name_field!r} is not a field; fields present: {present}",
                        field="name_field")
        name_col: str | None = name_field
    else:
        name_col = _find_field({k: v for k, v in raw.fields.items() if k != code_col}, spec.name_fields)
        if name_col is None:
            notes.append(f"{where}: no name field found (expected one of {', '.join(spec.name_fields)}); "
                         "names left empty")
    parent_col = _find_field({k: v for k, v in raw.fields.items() if k not in (code_col, name_col)}, spec.parent_fields)

    code_values = raw.fields[code_col]
    if code_values.dtype.kind in "iuf":
        notes.append(
            f"{where}: code field {code_col!r} is numeric ({code_values.dtype}); codes converted to digit strings "
            "(store codes as text so leading zeros cannot be lost)"
        )
    codes = [_code_text(v) for v in code_values]
    names = [None if _is_missing(v) else str(v).strip() for v in raw.fields[name_col]] if name_col else [None] * n
    given_parents = [_code_text(v) for v in raw.fields[parent_col]] if parent_col else [None] * n

    problems: list[dict[str, Any]] = []

    def add(row0: int, code: str | None, cls: type[WanggeError], problem: str) -> None:
        problems.append({"row": row0 + 1, "code": code, "problem": problem, "error": cls.__name__})

    code_re = re.compile(rf"[0-9]{{{spec.digits}}}", re.ASCII)
    parents: list[str | None] = []
    seen: dict[str, int] = {}
    for i in range(n):
        code = codes[i]
        geom = raw.geoms[i]
        if i in raw.unreadable:
            add(i, code, InvalidGeometry, f"unreadable geometry: {raw.unreadable[i]}")
        elif geom is None or shapely.is_empty(geom):
            add(i, code, InvalidGeometry, "empty geometry (no coordinates); expected a polygon")
        elif geom.geom_type not in _POLYGONAL:
            add(i, code, InvalidGeometry, f"geometry is a {geom.geom_type}; expected Polygon or MultiPolygon")
        elif not shapely.is_valid(geom):
            add(
                i, code, InvalidGeometry,
                f"invalid polygon: {explain_validity(geom)}; boundaries are not repaired automatically, "
                "fix it in the source data",
            )

        parent = None
        if code is None:
            add(i, None, InvalidInput, f"missing code (field {code_col!r} is empty)")
        elif not code_re.fullmatch(code):
            got = (
                f"got {len(code)} characters" if len(code) != spec.digits
                else "got characters other than 0-9"
            )
            add(i, code, InvalidInput, f"malformed {level} code {code!r}: expected {spec.digits} digits, {got}")
        else:
            parent = code[: spec.parent_digits]
            if code in seen:
                add(i, code, InvalidInput, f"duplicate code {code}, also used by row {seen[code] + 1}")
            else:
                seen[code] = i
            given = given_parents[i]
            if given is not None and given != parent:
                add(
                    i, code, InvalidInput,
                    f"parent {spec.parent_name} code {given} (field {parent_col!r}) does not match the code's "
                    f"prefix {parent}",
                )
        parents.append(parent)

    skip = {code_col, name_col, parent_col}
    extra = {k: v for k, v in raw.fields.items() if k not in skip}
    attrs: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, values in extra.items():
        for i, value in enumerate(values):
            value = _json_value(value)
            # Our own exports carry the attributes as one JSON object in ``attrs``.
            if key == "attrs" and isinstance(value, str) and value.startswith("{"):
                try:
                    attrs[i].update(json.loads(value))
                    continue
                except json.JSONDecodeError:
                    pass
            attrs[i][key] = value

    table = pd.DataFrame({"code": codes, "name": names, "parent_code": parents, "attrs": attrs})
    return table, problems, notes


def _to_multipolygons(geoms: np.ndarray) -> tuple[np.ndarray, bool]:
    has_z = bool(np.any(shapely.has_z(geoms)))
    if has_z:
        geoms = shapely.force_2d(geoms)
    out = np.array(
        [shapely.MultiPolygon([g]) if g is not None and g.geom_type == "Polygon" else g for g in geoms], dtype=object
    )
    return out, has_z


def _raise_problems(problems: list[dict[str, Any]], where: str) -> None:
    first = problems[0]
    cls = {"InvalidGeometry": InvalidGeometry, "CRSMismatch": CRSMismatch}.get(first["error"], InvalidInput)
    if first.get("message"):
        text = first["message"]
    else:
        text = f"{where}: {_row_label(first['row'], first['code'])}: {first['problem']}"
    if len(problems) > 1:
        text += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''}, see details)"
    clean = [{k: v for k, v in p.items() if k != "message"} for p in problems]
    raise cls(_one_line(text), details={"file": where, "problems": clean})


# --------------------------------------------------------------------------- public API


def read_boundaries(
    path: str | Path,
    *,
    level: str,
    source_crs: str | None = None,
    code_field: str | None = None,
    name_field: str | None = None,
    encoding: str | None = None,
) -> BoundaryFile:
    """Read and validate a boundary file of one level, returning it in EPSG:4490.

    Parameters
    ----------
    path
        A .geojson/.json, .gpkg, .shp, .zip (holding a shapefile) or .csv (WKT column
        ``wkt``/``geometry``/``geom``) file.
    level
        ``street`` (9-digit codes), ``community`` (12) or ``grid`` (15).
    source_crs
        Overrides the file's CRS: an EPSG code, or ``gcj02``/``bd09`` for lon/lat from AMap
        or Baidu. Required when the file has none, except for CSV, which is then taken as
        EPSG:4490 with a warning.
    code_field, name_field
        Attribute names to use instead of the recognised ones (``code``, ``网格编码``, ...).
    encoding
        Attribute encoding of a shapefile or CSV, overriding the .cpg and detection.

    Raises
    ------
    InvalidInput, InvalidGeometry, CRSMismatch
        With a one-line message naming the file, the row (1-based) and code, and the
        problem; ``details["problems"]`` lists every row problem found.
    """
    path = Path(path)
    where = path.name
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    if not path.exists():
        raise _fail(InvalidInput, where, f"file not found ({path})")
    if path.is_dir():
        raise _fail(InvalidInput, where, "is a directory; expected a boundary file")
    if path.stat().st_size == 0:
        raise _fail(InvalidInput, where, "is empty (0 bytes); expected a boundary file")

    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        raw = _read_geojson(path, where)
    elif suffix == ".gpkg":
        raw = _read_gpkg(path, where)
    elif suffix == ".shp":
        raw = _read_shapefile(path, where, encoding)
    elif suffix == ".zip":
        raw = _read_zip(path, where, encoding)
    elif suffix == ".csv":
        raw = _read_csv(path, where, encoding)
    else:
        raise _fail(
            InvalidInput, where,
            f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(_READ_SUFFIXES)}"
        )

    table, problems, notes = _validate(raw, where=where, level=level, code_field=code_field, name_field=name_field)
    file_warnings = [*raw.warnings, *notes]

    if source_crs is not None and source_crs.strip() == "":
        source_crs = None
    if source_crs is None and raw.crs is None and suffix == ".csv":
        source_crs = STORAGE_CRS
        file_warnings.append(f"{where}: CSV carries no CRS; assumed EPSG:4490 (pass source_crs if it is not)")
    recorded = _describe_crs(source_crs, raw.crs)
    if source_crs is not None and raw.crs is not None and suffix != ".csv":
        file_crs = CRS.from_user_input(raw.crs)
        implicit = suffix in (".geojson", ".json") and file_crs.to_epsg() == 4326
        if not implicit and recorded != _describe_crs(None, raw.crs):
            file_warnings.append(
                f"{where}: source_crs {recorded} overrides the file's CRS {_describe_crs(None, raw.crs)}")

    geoms, has_z = _to_multipolygons(raw.geoms)
    if has_z:
        file_warnings.append(f"{where}: Z coordinates dropped; boundaries are stored in 2D")
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms), crs=raw.crs)

    try:
        frame = to_storage_crs(frame, source_crs, where=where)
    except CRSMismatch as exc:
        problems.insert(0, {"row": None, "code": None, "problem": exc.message, "error": "CRSMismatch",
                            "message": exc.message})
    if problems:
        _raise_problems(problems, where)

    frame = frame.reset_index(drop=True)
    return BoundaryFile(frame=frame, level=level, source_crs=recorded, encoding=raw.encoding, warnings=file_warnings)


def _describe_crs(source_crs: str | None, file_crs: str | None) -> str:
    value = source_crs if source_crs is not None else file_crs
    if value is None:
        return "unknown"
    key = value.strip().lower().replace("-", "").replace("_", "")
    if key in OBFUSCATED_SYSTEMS:
        return key
    try:
        crs = CRS.from_user_input(value)
    except Exception:
        return value
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.name


_FORMAT_ALIASES = {
    "geojson": "geojson", "json": "geojson", "gpkg": "gpkg", "geopackage": "gpkg",
    "shp": "shp", "shapefile": "shp", "csv": "csv",
}


def write_boundaries(frame: gpd.GeoDataFrame, path: str | Path, *, format: str | None = None) -> Path:
    """Write boundaries (``code``, ``name``, ``parent_code``, ``attrs``, geometry) as geojson, gpkg, shp or csv.

    The frame's CRS is kept (EPSG:4490 for stored data). ``format`` defaults to the file's
    extension. Shapefiles are written in UTF-8 with a ``.cpg`` and without ``attrs`` (the
    .dbf cannot hold it); the others carry ``attrs`` as one JSON object, which
    ``read_boundaries`` expands again. CSV has the geometry as full-precision WKT in ``wkt``.
    Existing files at ``path`` are replaced. Returns the path written.
    """
    path = Path(path)
    key = (format or path.suffix.lstrip(".")).lower()
    fmt = _FORMAT_ALIASES.get(key)
    if fmt is None:
        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}; got {format or path.suffix!r} for {path.name}")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InvalidInput(f"frame must be a GeoDataFrame; got {type(frame).__name__}")
    missing = [c for c in ("code", "name") if c not in frame.columns]
    if missing:
        raise InvalidInput(f"frame lacks column(s) {missing} needed to write {path.name}; got {list(frame.columns)}")
    if frame.crs is None:
        raise CRSMismatch(f"frame has no CRS; expected EPSG:4490 to write {path.name}")

    out = pd.DataFrame(
        {
            "code": frame["code"].astype(object).where(frame["code"].notna(), None),
            "name": frame["name"].astype(object).where(frame["name"].notna(), None),
            "parent_code": (
                frame["parent_code"].astype(object).where(frame["parent_code"].notna(), None)
                if "parent_code" in frame.columns else None
            ),
        },
        index=frame.index,
    )
    if fmt != "shp" and "attrs" in frame.columns:
        out["attrs"] = [json.dumps(a, ensure_ascii=False, default=str) if isinstance(a, dict) else None
                        for a in frame["attrs"]]
    geoms = frame.geometry.values

    _remove_existing(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        table = pd.DataFrame({"wkt": shapely.to_wkt(np.asarray(geoms), rounding_precision=-1)}, index=frame.index)
        table = pd.concat([table, out], axis=1)
        # utf-8-sig so Excel, which planners open CSVs with, shows the Chinese names.
        table.to_csv(path, index=False, encoding="utf-8-sig")
        return path

    layer = gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=frame.crs)
    try:
        if fmt == "shp":
            layer = layer.rename(columns={"parent_code": "parent_cod"})  # .dbf names are at most 10 bytes
            pyogrio.write_dataframe(layer, path, driver="ESRI Shapefile", encoding="UTF-8")
        elif fmt == "gpkg":
            pyogrio.write_dataframe(layer, path, driver="GPKG", layer=path.stem)
        else:
            pyogrio.write_dataframe(layer, path, driver="GeoJSON")
    except Exception as exc:
        raise InvalidInput(f"{path.name}: cannot be written as {fmt}: {_gdal_text(exc)}") from None
    return path


def _remove_existing(path: Path, fmt: str) -> None:
    targets = [path]
    if fmt == "shp":
        targets += [path.with_suffix(s) for s in (".shx", ".dbf", ".prj", ".cpg")]
    for target in targets:
        if target.is_file():
            target.unlink()
