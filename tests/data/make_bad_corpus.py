"""Generate the boundary-file fixtures: tests/data/good, tests/data/encodings and tests/data/bad.

Run from the repository root: ``.venv/bin/python tests/data/make_bad_corpus.py``. The output
is deterministic (fixed dBase dates, GeoPackage timestamps and zip times) and committed;
``tests/data/bad/manifest.csv`` and ``README.md`` are written from ``BAD_CASES`` below and
drive ``tests/gis/io/test_boundaries.py``.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
from shapely.geometry import LineString, Point, box, mapping

HERE = Path(__file__).resolve().parent
GOOD = HERE / "good"
BAD = HERE / "bad"
ENCODINGS = HERE / "encodings"

FIXED_DATE = (124, 1, 1)  # dBase header date: 2024-01-01 (years since 1900)
FIXED_TIMESTAMP = "2024-01-01T00:00:00.000Z"
ZIP_TIME = (2024, 1, 1, 0, 0, 0)

# Nanjing, Xuanwu district (320102): one street, two communities, six grids.
STREET = ("320102001", "玄武门街道", box(118.77, 32.03, 118.80, 32.05))
COMMUNITIES = [
    ("320102001001", "红山社区", box(118.77, 32.03, 118.785, 32.05)),
    ("320102001002", "锁金村社区", box(118.785, 32.03, 118.80, 32.05)),
]
GRIDS = [
    ("320102001001001", "红山第一网格", box(118.77, 32.04, 118.7775, 32.05)),
    ("320102001001002", "红山第二网格", box(118.7775, 32.04, 118.785, 32.05)),
    ("320102001001003", "红山第三网格", box(118.77, 32.03, 118.7775, 32.04)),
    ("320102001001004", "红山第四网格", box(118.7775, 32.03, 118.785, 32.04)),
    ("320102001002001", "锁金村第一网格", box(118.785, 32.03, 118.80, 32.04)),
    ("320102001002002", "锁金村第二网格", box(118.785, 32.04, 118.80, 32.05)),
]

# (file, level, expected error class, keyword expected in the message, what is wrong)
BAD_CASES: list[tuple[str, str, str, str, str]] = [
    ("empty.geojson", "grid", "InvalidInput", "empty", "0-byte file"),
    ("truncated.geojson", "grid", "InvalidInput", "truncated", "GeoJSON cut off in the middle"),
    ("truncated.shp", "grid", "InvalidInput", "truncated", ".shp cut to half its length (.shx/.dbf intact)"),
    ("truncated.gpkg", "grid", "InvalidInput", "truncated", "GeoPackage cut to half its length"),
    ("png_renamed.geojson", "grid", "InvalidInput", "not a geometry file", "a PNG image renamed .geojson"),
    ("text_renamed.geojson", "grid", "InvalidInput", "not a geometry file", "plain text renamed .geojson"),
    ("not_geojson.json", "grid", "InvalidInput", "not GeoJSON", "valid JSON that is not GeoJSON"),
    ("empty_collection.geojson", "grid", "InvalidInput", "no features", "FeatureCollection without features"),
    ("bowtie.geojson", "grid", "InvalidGeometry", "Self-intersection", "self-intersecting (bow-tie) polygon"),
    ("unclosed_ring.geojson", "grid", "InvalidGeometry", "closed", "polygon ring whose last point is not the first"),
    ("too_few_points.geojson", "grid", "InvalidGeometry", "points", "closed ring with only 3 points"),
    ("projected_labelled_4326.geojson", "grid", "CRSMismatch", "out of range",
     "EPSG:4549 metres in a GeoJSON without crs member (= EPSG:4326)"),
    ("missing_prj.shp", "grid", "CRSMismatch", "CRS is missing", "shapefile without .prj"),
    ("latlon_swapped.geojson", "grid", "CRSMismatch", "swapped", "x = latitude, y = longitude"),
    ("outside_china_cgcs2000.gpkg", "grid", "CRSMismatch", "outside China", "EPSG:4490 data in Helsinki"),
    ("degrees_labelled_gk.gpkg", "grid", "CRSMismatch", "degrees", "lon/lat degrees labelled EPSG:4549 (GK CM 120E)"),
    ("mixed_types.geojson", "grid", "InvalidGeometry", "Point", "a Point among polygons"),
    ("linestring.geojson", "grid", "InvalidGeometry", "LineString", "a line instead of a polygon"),
    ("duplicate_codes.geojson", "grid", "InvalidInput", "duplicate code", "two grids with the same code"),
    ("missing_code.geojson", "grid", "InvalidInput", "missing code", "one grid with a null code"),
    ("no_code_field.geojson", "grid", "InvalidInput", "no code field", "no recognisable code attribute"),
    ("malformed_code_length.geojson", "grid", "InvalidInput", "malformed", "14-digit grid code"),
    ("malformed_code_letters.geojson", "grid", "InvalidInput", "malformed", "grid code with letters"),
    ("gbk_wrong_cpg.shp", "grid", "InvalidInput", "not valid UTF-8",
     "GBK attributes with a .cpg saying UTF-8: rejected naming the row (not guessed), hint --encoding GB18030"),
    ("empty_geometry.geojson", "grid", "InvalidGeometry", "empty geometry", "a feature with geometry null"),
    ("empty_polygon.geojson", "grid", "InvalidGeometry", "empty geometry", "a Polygon with no coordinates"),
    ("csv_no_wkt.csv", "grid", "InvalidInput", "WKT column", "CSV with lon/lat columns but no WKT"),
    ("csv_bad_wkt.csv", "grid", "InvalidGeometry", "cannot be parsed", "CSV whose WKT text is broken"),
    ("parent_mismatch.geojson", "grid", "InvalidInput", "does not match",
     "grid code 320102001001001 with 社区编码 320102001002"),
    ("zip_without_shp.zip", "grid", "InvalidInput", "no .shp", "zip holding only a .dbf and a text file"),
    ("not_a_zip.zip", "grid", "InvalidInput", "not a zip", "text file renamed .zip"),
    ("missing_dbf.shp", "grid", "InvalidInput", ".dbf", "shapefile without its .dbf"),
    ("boundaries.kml", "grid", "InvalidInput", "unsupported file type", "a format we do not read"),
    ("street_code_as_community.geojson", "community", "InvalidInput", "malformed",
     "a 9-digit street code read at community level"),
]
DB_ONLY_CASES = [
    ("grid_outside_community.geojson", "grid", "-", "outside",
     "valid grid 320102001001009 lying 15 km from its community in good/community_one.geojson; "
     "needs the database (reads cleanly here)"),
]


def feature(props: dict, geometry) -> dict:
    plain = geometry if isinstance(geometry, dict) or geometry is None else mapping(geometry)
    return {"type": "Feature", "properties": props, "geometry": plain}


def write_geojson(path: Path, features: list[dict], crs: str | None = None) -> None:
    doc: dict = {"type": "FeatureCollection"}
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": crs}}
    doc["features"] = features
    text = json.dumps(doc, ensure_ascii=False, indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def grid_features(rows=GRIDS, code_key="code", name_key="name") -> list[dict]:
    return [feature({code_key: c, name_key: n}, g) for c, n, g in rows]


def frame(rows, crs="EPSG:4490", code_key="code", name_key="name") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {code_key: [r[0] for r in rows], name_key: [r[1] for r in rows]}, geometry=[r[2] for r in rows], crs=crs
    )


def fix_dbf_date(dbf: Path) -> None:
    data = bytearray(dbf.read_bytes())
    data[1:4] = bytes(FIXED_DATE)
    dbf.write_bytes(bytes(data))


def write_shapefile(gdf: gpd.GeoDataFrame, path: Path, encoding: str = "UTF-8") -> None:
    for suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        path.with_suffix(suffix).unlink(missing_ok=True)
    pyogrio.write_dataframe(gdf, path, driver="ESRI Shapefile", encoding=encoding)
    fix_dbf_date(path.with_suffix(".dbf"))


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path) -> None:
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(gdf, path, driver="GPKG", layer=path.stem)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gpkg_contents SET last_change = ?", (FIXED_TIMESTAMP,))
    db.close()
    # sqlite3 leaves no journal, but GDAL may have: keep the fixture a single file.
    for extra in (path.with_name(path.name + "-journal"), path.with_name(path.name + "-wal")):
        extra.unlink(missing_ok=True)


def write_zip(path: Path, members: dict[str, bytes]) -> None:
    path.unlink(missing_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def make_good() -> None:
    GOOD.mkdir(exist_ok=True)
    write_geojson(GOOD / "street_one.geojson", [feature({"code": STREET[0], "name": STREET[1]}, STREET[2])])
    write_geojson(GOOD / "communities_two.geojson", grid_features(COMMUNITIES))
    write_geojson(GOOD / "community_one.geojson", grid_features(COMMUNITIES[:1]))
    write_geojson(GOOD / "grids.geojson", grid_features())
    # The same grids in CGCS2000 / GK CM 120E with Chinese field names, as a surveyor delivers them.
    gk = frame(GRIDS, code_key="网格编码", name_key="网格名称").to_crs("EPSG:4549")
    write_gpkg(gk, GOOD / "grids_gk_cm120.gpkg")
    # A zipped UTF-8 shapefile.
    tmp = GOOD / "_zip_tmp"
    tmp.mkdir(exist_ok=True)
    write_shapefile(frame(GRIDS), tmp / "grids.shp")
    parts = (".shp", ".shx", ".dbf", ".prj", ".cpg")
    write_zip(GOOD / "grids_shp.zip", {f"grids/grids{s}": (tmp / f"grids{s}").read_bytes() for s in parts})
    shutil.rmtree(tmp)


def make_encodings() -> None:
    ENCODINGS.mkdir(exist_ok=True)
    gdf = frame(GRIDS, code_key="网格编码", name_key="网格名称")
    path = ENCODINGS / "gbk_no_cpg.shp"
    write_shapefile(gdf, path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    path = ENCODINGS / "gbk_with_cpg.shp"
    write_shapefile(frame(GRIDS), path, encoding="GBK")
    rows = ["wkt,网格编码,网格名称"] + [f'"{g.wkt}",{c},{n}' for c, n, g in GRIDS]
    (ENCODINGS / "gbk.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("gbk"))


def make_bad() -> None:
    if BAD.exists():
        shutil.rmtree(BAD)
    BAD.mkdir()
    g1, g2 = GRIDS[0], GRIDS[1]
    ok = [feature({"code": g2[0], "name": g2[1]}, g2[2])]

    (BAD / "empty.geojson").write_bytes(b"")
    full = json.dumps({"type": "FeatureCollection", "features": grid_features()}, ensure_ascii=False)
    (BAD / "truncated.geojson").write_text(full[: len(full) // 2], encoding="utf-8")

    write_shapefile(frame(GRIDS), BAD / "truncated.shp")
    data = (BAD / "truncated.shp").read_bytes()
    (BAD / "truncated.shp").write_bytes(data[: len(data) // 2])

    write_gpkg(frame(GRIDS), BAD / "_full.gpkg")
    data = (BAD / "_full.gpkg").read_bytes()
    (BAD / "truncated.gpkg").write_bytes(data[: len(data) // 2])
    (BAD / "_full.gpkg").unlink()

    # A 1x1 PNG, byte for byte.
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
    (BAD / "png_renamed.geojson").write_bytes(png)
    (BAD / "text_renamed.geojson").write_text("网格边界 see attached spreadsheet\nrow 1: 红山第一网格\n",
                                              encoding="utf-8")
    (BAD / "not_geojson.json").write_text(json.dumps({"grids": [{"code": g1[0], "name": g1[1]}]}, ensure_ascii=False))
    write_geojson(BAD / "empty_collection.geojson", [])

    bowtie = {"type": "Polygon",
              "coordinates": [[[118.77, 32.04], [118.78, 32.05], [118.78, 32.04], [118.77, 32.05], [118.77, 32.04]]]}
    write_geojson(BAD / "bowtie.geojson", ok + [feature({"code": g1[0], "name": g1[1]}, bowtie)])
    unclosed = {"type": "Polygon",
                "coordinates": [[[118.77, 32.04], [118.78, 32.04], [118.78, 32.05], [118.77, 32.05]]]}
    write_geojson(BAD / "unclosed_ring.geojson", ok + [feature({"code": g1[0], "name": g1[1]}, unclosed)])
    few = {"type": "Polygon", "coordinates": [[[118.77, 32.04], [118.78, 32.04], [118.77, 32.04]]]}
    write_geojson(BAD / "too_few_points.geojson", ok + [feature({"code": g1[0], "name": g1[1]}, few)])

    gk_rows = [(c, n, gpd.GeoSeries([g], crs="EPSG:4490").to_crs("EPSG:4549").iloc[0]) for c, n, g in GRIDS[:2]]
    write_geojson(BAD / "projected_labelled_4326.geojson", grid_features(gk_rows))

    write_shapefile(frame(GRIDS[:2]), BAD / "missing_prj.shp")
    (BAD / "missing_prj.prj").unlink()

    swapped = [(c, n, box(g.bounds[1], g.bounds[0], g.bounds[3], g.bounds[2])) for c, n, g in GRIDS[:2]]
    write_geojson(BAD / "latlon_swapped.geojson", grid_features(swapped))

    helsinki = [(GRIDS[0][0], GRIDS[0][1], box(24.93, 60.16, 24.95, 60.17))]
    write_gpkg(frame(helsinki), BAD / "outside_china_cgcs2000.gpkg")
    write_gpkg(frame(GRIDS[:2], crs="EPSG:4549"), BAD / "degrees_labelled_gk.gpkg")

    write_geojson(BAD / "mixed_types.geojson", ok + [feature({"code": g1[0], "name": g1[1]}, Point(118.775, 32.045))])
    write_geojson(
        BAD / "linestring.geojson",
        [feature({"code": g1[0], "name": g1[1]}, LineString([(118.77, 32.04), (118.78, 32.05)]))],
    )
    write_geojson(BAD / "duplicate_codes.geojson",
                  [feature({"code": g1[0], "name": g1[1]}, g1[2]), feature({"code": g1[0], "name": g2[1]}, g2[2])])
    write_geojson(BAD / "missing_code.geojson", ok + [feature({"code": None, "name": g1[1]}, g1[2])])
    write_geojson(BAD / "no_code_field.geojson", [feature({"编号": 1, "name": g1[1]}, g1[2])])
    write_geojson(BAD / "malformed_code_length.geojson", ok + [feature({"code": g1[0][:-1], "name": g1[1]}, g1[2])])
    write_geojson(BAD / "malformed_code_letters.geojson",
                  ok + [feature({"code": "3201020010010AB", "name": g1[1]}, g1[2])])

    write_shapefile(frame(GRIDS[:2]), BAD / "gbk_wrong_cpg.shp", encoding="GBK")
    (BAD / "gbk_wrong_cpg.cpg").write_text("UTF-8", encoding="ascii")

    write_geojson(BAD / "empty_geometry.geojson", ok + [feature({"code": g1[0], "name": g1[1]}, None)])
    write_geojson(
        BAD / "empty_polygon.geojson",
        ok + [feature({"code": g1[0], "name": g1[1]}, {"type": "Polygon", "coordinates": []})]
    )

    with (BAD / "csv_no_wkt.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["code", "name", "lon", "lat"])
        for c, n, g in GRIDS[:2]:
            writer.writerow([c, n, round(g.centroid.x, 6), round(g.centroid.y, 6)])
    with (BAD / "csv_bad_wkt.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["wkt", "code", "name"])
        writer.writerow([g2[2].wkt, g2[0], g2[1]])
        writer.writerow(["POLYGON ((118.77 32.04, 118.78 32.04, 118.78", g1[0], g1[1]])

    write_geojson(
        BAD / "parent_mismatch.geojson",
        [feature({"code": g1[0], "name": g1[1], "社区编码": COMMUNITIES[1][0]}, g1[2])],
    )

    write_zip(BAD / "zip_without_shp.zip", {"grids.dbf": b"\x03", "readme.txt": "网格边界\n".encode()})
    (BAD / "not_a_zip.zip").write_text("this is not a zip archive\n", encoding="utf-8")

    write_shapefile(frame(GRIDS[:2]), BAD / "missing_dbf.shp")
    (BAD / "missing_dbf.dbf").unlink()

    (BAD / "boundaries.kml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>\n',
        encoding="utf-8",
    )
    write_geojson(BAD / "street_code_as_community.geojson",
                  [feature({"code": STREET[0], "name": STREET[1]}, STREET[2])])

    far = box(118.90, 32.10, 118.91, 32.11)  # ~15 km north-east of 红山社区
    write_geojson(
        BAD / "grid_outside_community.geojson",
        [feature({"code": "320102001001009", "name": "红山飞地网格", "社区编码": COMMUNITIES[0][0]}, far)],
    )

    write_manifest()


def write_manifest() -> None:
    with (BAD / "manifest.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "level", "error", "keyword", "what"])
        writer.writerows(BAD_CASES)
        writer.writerows(DB_ONLY_CASES)
    lines = [
        "# Bad boundary files",
        "",
        "Generated by `tests/data/make_bad_corpus.py` (do not edit by hand; rerun the script).",
        "Each file has one defect. `read_boundaries(file, level=...)` must raise the error class",
        "with a one-line message naming the file and containing the keyword; `manifest.csv` is",
        "the same table, read by `tests/gis/io/test_boundaries.py`.",
        "",
        "| file | level | error | keyword | what is wrong |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| `{f}` | {lv} | {e} | {k} | {w} |" for f, lv, e, k, w in BAD_CASES]
    lines += [
        "",
        "Needs the database (the file itself is valid and reads without error):",
        "",
        "| file | level | complaint | what |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| `{f}` | {lv} | grid {k} its community | {w} |" for f, lv, _e, k, w in DB_ONLY_CASES]
    lines += [
        "",
        "Shapefile cases keep their sidecars under the same stem (`truncated.shx`, `gbk_wrong_cpg.cpg`, ...).",
        "`tests/data/encodings/gbk_no_cpg.shp` (GBK, no .cpg) is not bad: it must read correctly.",
        "",
    ]
    (BAD / "README.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    make_good()
    make_encodings()
    make_bad()


if __name__ == "__main__":
    main()
