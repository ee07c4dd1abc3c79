"""What the boundary readers and the validation share: the levels, the raw read, error helpers, OGR."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import shapely

from gis.errors import InvalidInput, WanggeError


@dataclass(frozen=True)
class Level:
    """A boundary level: code digits, its parent's, and the field names its code, name and parent go by."""

    digits: int
    parent_digits: int
    parent_name: str
    code_fields: tuple[str, ...]
    name_fields: tuple[str, ...]
    parent_fields: tuple[str, ...]


_GENERIC_CODE = ("code", "编码", "代码")
_GENERIC_NAME = ("name", "名称", "mc")
_GENERIC_PARENT = ("parent_code", "parent_cod", "parent", "上级编码")

LEVELS: dict[str, Level] = {
    "street": Level(
        9, 6, "district",
        ("code", "street_code", "街道编码", "街道代码", "编码", "代码", "jdbm"),
        ("name", "street_name", "街道名称", "名称", "mc"),
        (*_GENERIC_PARENT, "district_code", "区县编码", "区编码"),
    ),
    "community": Level(
        12, 9, "street",
        ("code", "community_code", "社区编码", "社区代码", "编码", "代码", "sqbm"),
        ("name", "community_name", "社区名称", "名称", "mc"),
        (*_GENERIC_PARENT, "street_code", "街道编码"),
    ),
    "grid": Level(
        15, 12, "community",
        ("code", "grid_code", "gridcode", "网格编码", "网格代码", "wgbm", "编码", "代码"),
        ("name", "grid_name", "网格名称", "名称", "mc"),
        (*_GENERIC_PARENT, "community_code", "社区编码", "所属社区编码"),
    ),
}

FORMATS = ("geojson", "gpkg", "shp", "csv")
READ_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".zip", ".csv")
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
POLYGONAL = ("Polygon", "MultiPolygon")
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
class Raw:
    """What a format reader hands to validation: geometries, attributes and metadata."""

    geoms: np.ndarray  # shapely geometries, None where missing or unreadable
    fields: dict[str, np.ndarray]
    crs: str | None
    encoding: str | None = None
    unreadable: dict[int, str] = field(default_factory=dict)  # 0-based row -> reason
    warnings: list[str] = field(default_factory=list)
    crs_assumed: bool = False


def one_line(text: str, limit: int | None = None) -> str:
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def gdal_text(exc: BaseException) -> str:
    return one_line(str(exc) or type(exc).__name__, _MAX_GDAL_TEXT)


def fail(cls: type[WanggeError], where: str, text: str, **details: Any) -> WanggeError:
    return cls(one_line(f"{where}: {text}"), details={"file": where, **details})


def sidecar(path: Path, suffix: str) -> Path | None:
    """The file next to ``path`` with the same stem and ``suffix``, matched case-insensitively."""
    exact = path.with_suffix(suffix)
    if exact.exists():
        return exact
    for candidate in path.parent.iterdir():
        if candidate.stem == path.stem and candidate.suffix.lower() == suffix:
            return candidate
    return None


def _gdal_warnings(caught: list[warnings.WarningMessage], where: str) -> list[str]:
    return [f"{where}: GDAL: {one_line(str(w.message), _MAX_GDAL_TEXT)}" for w in caught]


def read_ogr(path: Path | str, where: str, kind: str, **kwargs: Any) -> Raw:
    """Read one layer through pyogrio; GDAL failures become InvalidInput naming the file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            meta, _fids, wkb, field_data = pyogrio.raw.read(str(path), **kwargs)
        except Exception as exc:  # pyogrio.errors.* and GDAL's RuntimeErrors: never let them escape
            raise fail(
                InvalidInput, where, f"cannot be read as {kind} (truncated or corrupt file?): {gdal_text(exc)}"
            ) from None
    if wkb is None:
        raise fail(InvalidInput, where, f"has no geometry column; expected a {kind} of polygons")
    geoms = shapely.from_wkb(wkb, on_invalid="ignore")
    unreadable: dict[int, str] = {}
    for i in np.flatnonzero(pd.isna(geoms) & ~pd.isna(wkb)):
        try:
            shapely.from_wkb(wkb[i])
        except Exception as exc:  # GEOS names the defect, e.g. an unclosed ring
            unreadable[int(i)] = one_line(str(exc).removeprefix("IllegalArgumentException: "), _MAX_GDAL_TEXT)
        else:
            unreadable[int(i)] = "unreadable geometry"
    fields = {str(name): np.asarray(values) for name, values in zip(meta["fields"], field_data, strict=True)}
    return Raw(
        geoms=np.asarray(geoms, dtype=object),
        fields=fields,
        crs=meta.get("crs"),
        encoding=meta.get("encoding"),
        unreadable=unreadable,
        warnings=_gdal_warnings(caught, where),
    )
