"""``read_boundaries`` and ``write_boundaries``: a boundary file in, validated, in EPSG:4490; a frame out."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS

from gis.crs import OBFUSCATED_SYSTEMS, to_storage_crs
from gis.errors import CRSMismatch, InvalidInput
from gis.io.boundaries.common import FORMATS, LEVELS, READ_SUFFIXES, BoundaryFile, Raw, fail, gdal_text
from gis.io.boundaries.formats import read_csv_file, read_geojson, read_gpkg
from gis.io.boundaries.shapefile import read_shapefile, read_zip
from gis.io.boundaries.validate import raise_problems, to_multipolygons, validate_raw
from gis.layers import STORAGE_CRS


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
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}; got {level!r}", details={"field": "level"})
    raw = _read_raw(path, where, encoding)
    suffix = path.suffix.lower()
    table, problems, notes = validate_raw(raw, where=where, level=level, code_field=code_field, name_field=name_field)
    file_warnings = [*raw.warnings, *notes]
    source_crs, recorded = _source_crs(source_crs, raw, suffix, where, file_warnings)

    geoms, has_z = to_multipolygons(raw.geoms)
    if has_z:
        file_warnings.append(f"{where}: Z coordinates dropped; boundaries are stored in 2D")
    frame = gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms), crs=raw.crs)

    try:
        frame = to_storage_crs(frame, source_crs, where=where)
    except CRSMismatch as exc:
        problems.insert(0, {"row": None, "code": None, "problem": exc.message, "error": "CRSMismatch",
                            "message": exc.message})
    if problems:
        raise_problems(problems, where)

    frame = frame.reset_index(drop=True)
    return BoundaryFile(frame=frame, level=level, source_crs=recorded, encoding=raw.encoding, warnings=file_warnings)


def _read_raw(path: Path, where: str, encoding: str | None) -> Raw:
    """The file read by the reader of its suffix, once it is known to exist and hold something."""
    if not path.exists():
        raise fail(InvalidInput, where, f"file not found ({path})")
    if path.is_dir():
        raise fail(InvalidInput, where, "is a directory; expected a boundary file")
    if path.stat().st_size == 0:
        raise fail(InvalidInput, where, "is empty (0 bytes); expected a boundary file")

    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        raw = read_geojson(path, where)
    elif suffix == ".gpkg":
        raw = read_gpkg(path, where)
    elif suffix == ".shp":
        raw = read_shapefile(path, where, encoding)
    elif suffix == ".zip":
        raw = read_zip(path, where, encoding)
    elif suffix == ".csv":
        raw = read_csv_file(path, where, encoding)
    else:
        raise fail(
            InvalidInput, where,
            f"unsupported file type {suffix or '(none)'!r}; expected one of {', '.join(READ_SUFFIXES)}"
        )
    return raw


def _source_crs(source_crs: str | None, raw: Raw, suffix: str, where: str,
                file_warnings: list[str]) -> tuple[str | None, str]:
    """The CRS to read the coordinates in (None: the file's), and how to record it; warnings on the way."""
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
    return source_crs, recorded


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
        raise InvalidInput(f"{path.name}: cannot be written as {fmt}: {gdal_text(exc)}") from None
    return path


def _remove_existing(path: Path, fmt: str) -> None:
    targets = [path]
    if fmt == "shp":
        targets += [path.with_suffix(s) for s in (".shx", ".dbf", ".prj", ".cpg")]
    for target in targets:
        if target.is_file():
            target.unlink()
