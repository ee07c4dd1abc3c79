"""``wangge import | export | check | generate``: data in and out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gis.cli.output import JsonOption, console, db_transaction, emit, progress_bar, settings

import_app = typer.Typer(help="Import OSM extracts and boundary files (atomic: all or nothing).",
                         no_args_is_help=True)
check_app = typer.Typer(help="Check boundaries for gaps, overlaps and size.", no_args_is_help=True)
generate_app = typer.Typer(help="Generate synthetic data for demos and benchmarks.", no_args_is_help=True)

DistrictCode = Annotated[str, typer.Option("--district-code", help="6-digit adcode, e.g. 320102.")]
Level = Annotated[str, typer.Option("--level", help="street, community or grid.")]
ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]


@import_app.command("osm")
def import_osm(
    file: ExistingFile,
    district_code: DistrictCode,
    name: str = typer.Option(..., "--name", help="District name, e.g. 玄武区."),
    replace: bool = typer.Option(False, "--replace", help="Replace the district's buildings, network and people."),
    allow_overlap: bool = typer.Option(False, "--allow-overlap",
                                       help="Import even where the data lies on another district's buildings."),
    as_json: JsonOption = False,
) -> None:
    """Load buildings, walk network, barriers, compounds and facilities from .osm / .osm.pbf."""
    from gis.cli.households import print_review, print_warnings
    from gis.services import districts as district_service

    with progress_bar(f"importing {file.name}") as update, db_transaction() as session:
        report = district_service.import_osm(session, file, district_code=district_code, name=name,
                                             settings=settings(), replace=replace, allow_overlap=allow_overlap,
                                             progress=update)
    # Warnings and the estimates to check go to stderr, so that --json stays one document on stdout.
    print_warnings(report["warnings"])
    print_review(report["review"], heading="estimates to check first (wangge households review)")
    human = (
        f"{report['name']} ({report['district_code']}) from {file.name}: {report['buildings']} buildings "
        f"({report['residential_buildings']} residential, {report['households']} households, "
        f"{report['households_estimated']} estimated), {report['nodes']} network nodes, {report['edges']} edges "
        f"({report['main_road_edges']} on main roads), {report['compounds']} compounds, "
        f"{report['facilities']} facilities; invalid rings repaired {report['invalid_repaired']}, "
        f"skipped {report['invalid_skipped']}\nfacilities by type: "
        + ", ".join(f"{k} {v}" for k, v in report["facilities_by_type"].items())
        + f"\n{report['attribution']}"
    )
    emit(report, as_json=as_json, human=human)


@import_app.command("boundaries")
def import_boundaries(
    file: ExistingFile,
    level: Level,
    source_crs: str = typer.Option(None, "--source-crs", help="CRS of the file if missing or wrong: EPSG:xxxx, "
                                   "gcj02 or bd09."),
    encoding: str = typer.Option(None, "--encoding", help="Attribute encoding (e.g. GB18030) if not detected."),
    code_field: str = typer.Option(None, "--code-field"),
    name_field: str = typer.Option(None, "--name-field"),
    reason: str = typer.Option(None, "--reason", help="Why these boundaries change (kept in the history)."),
    as_json: JsonOption = False,
) -> None:
    """Import street, community or grid boundaries (GeoJSON, GeoPackage, Shapefile, CSV with WKT)."""
    from gis.services import boundaries as boundary_service

    with db_transaction() as session:
        report = boundary_service.import_boundaries(session, file, level=level, source_crs=source_crs,
                                                    encoding=encoding, code_field=code_field,
                                                    name_field=name_field, reason=reason)
    human = (f"{report['imported']} {level} boundaries from {report['file']} ({report['new']} new, "
             f"{report['new_versions']} new versions); CRS {report['source_crs']}"
             + (f", encoding {report['encoding']}" if report["encoding"] else "")
             + "".join(f"\nwarning: {w}" for w in report["warnings"]))
    emit(report, as_json=as_json, human=human)


def export(
    level: Level,
    out: Path = typer.Option(..., "--out", help="File to write."),
    fmt: str = typer.Option(None, "--format", help="geojson, gpkg, shp or csv (default: from --out)."),
    district_code: str = typer.Option(None, "--district-code"),
    as_json: JsonOption = False,
) -> None:
    """Export current boundaries of one level."""
    from gis.services import boundaries as boundary_service

    with db_transaction() as session:
        report = boundary_service.export_boundaries(session, level=level, path=out, fmt=fmt,
                                                    district_code=district_code)
    emit(report, as_json=as_json, human=f"wrote {report['units']} {level} boundaries to {report['file']}")


@check_app.command("boundaries")
def check_boundaries(
    geojson: Path = typer.Option(None, "--geojson", help="Also write the findings as GeoJSON here."),
    as_json: JsonOption = False,
) -> None:
    """Report overlaps, gaps, parts outside the parent, multi-part and invalid units, and size bounds."""
    from gis.services import boundaries as boundary_service

    with db_transaction() as session:
        report = boundary_service.check_boundaries(session, settings())
    if geojson:
        geojson.write_text(json.dumps(report["geojson"], ensure_ascii=False))
    if as_json:
        emit(report, as_json=True)
    else:
        head = f"{report['streets']} streets, {report['communities']} communities, {report['grids']} grids: "
        console.print(head + ("clean" if report["clean"] else f"{len(report['findings'])} findings"),
                      highlight=False)
        for line in report["findings"]:
            console.print(f"  {line}", highlight=False)
    if not report["clean"]:
        raise typer.Exit(1)


@generate_app.command("residents")
def generate_residents(
    district_code: DistrictCode,
    seed: int = typer.Option(0, "--seed"),
    replace: bool = typer.Option(False, "--replace", help="Replace the district's residents."),
    as_json: JsonOption = False,
) -> None:
    """Synthetic households and residents (marked synthetic) for the district's residential buildings."""
    from gis.services import districts as district_service
    from gis.services import privacy

    with progress_bar("generating residents") as update, db_transaction() as session:
        report = district_service.generate_residents_for_district(session, district_code=district_code, seed=seed,
                                                                  keys=privacy.id_keys(settings()),
                                                                  replace=replace, progress=update)
    emit(report, as_json=as_json,
         human=f"{report['households']} households, {report['residents']} residents (synthetic, seed {seed}); "
               f"60+: {report['aged_60_plus']}, aged 3-6: {report['aged_3_6']}")


@generate_app.command("district")
def generate_district(
    households: int = typer.Option(..., "--households", min=100),
    seed: int = typer.Option(0, "--seed"),
    district_code: str = typer.Option("990001", "--district-code"),
    name: str = typer.Option("合成区", "--name"),
    replace: bool = typer.Option(False, "--replace"),
    as_json: JsonOption = False,
) -> None:
    """A synthetic city (street grid, blocks, buildings, facilities) for benchmarks."""
    from gis.services import districts as district_service

    with progress_bar(f"generating {households} households") as update, db_transaction() as session:
        report = district_service.generate_and_store_district(session, households=households, seed=seed,
                                                              district_code=district_code, name=name,
                                                              replace=replace, progress=update)
    emit(report, as_json=as_json,
         human=f"{report['name']} ({report['district_code']}): {report['buildings']} buildings, "
               f"{report['households']} households, {report['nodes']} nodes, {report['edges']} edges, "
               f"{report['facilities']} facilities in {report['elapsed_s']} s")


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(check_app, name="check")
    app.add_typer(generate_app, name="generate")
    app.command("export")(export)
