"""``wangge import addresses | residents | facilities | units`` and ``wangge keys``: registers in (一标三实)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gis.cli.output import JsonOption, db_transaction, emit, settings

keys_app = typer.Typer(help="ID-number keys: make one, rotate, check that the key reads the data.",
                       no_args_is_help=True)

RegisterFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                              help="CSV (UTF-8 or GBK) or XLSX; Chinese or English headers.")]
DistrictCode = Annotated[str, typer.Option("--district-code", help="6-digit adcode, e.g. 320102.")]
SourceCrs = Annotated[str, typer.Option("--source-crs", help="Datum of lon/lat: wgs84, gcj02 or bd09.")]
Strict = Annotated[bool, typer.Option("--strict", help="Refuse the file if any address is not matched.")]
Encoding = Annotated[str | None, typer.Option("--encoding", help="Text encoding of a CSV if not detected.")]


def _listed(rows: list[dict[str, Any]], what: str) -> str:
    shown = "".join(f"\n  row {r['row']}: {r['address']}" for r in rows[:10])
    more = f"\n  ... {len(rows) - 10} more (--json lists up to 50)" if len(rows) > 10 else ""
    return f"\n{what}:{shown}{more}" if rows else ""


def import_addresses(file: RegisterFile, district_code: DistrictCode, source_crs: SourceCrs = "wgs84",
                     strict: Strict = False, encoding: Encoding = None, as_json: JsonOption = False) -> None:
    """Standard addresses (标准地址) attached to buildings: point in footprint, else nearest within a distance."""
    from gis.services import registers as register_service

    config = settings()
    with db_transaction() as session:
        report = register_service.import_addresses(session, file, district_code=district_code, source_crs=source_crs,
                                                   max_distance_m=config.address_match_distance_m, strict=strict,
                                                   encoding=encoding)
    by = report["matched_by"]
    human = (f"{report['rows']} addresses from {report['file']}: {report['matched']} matched "
             f"({by['inside']} inside a footprint, {by['nearest']} nearest within {report['max_distance_m']:g} m, "
             f"{by['building_id']} by building id), {report['ambiguous']} ambiguous, {report['unmatched']} unmatched; "
             f"{report['inserted']} new, {report['updated']} updated, {report['unchanged']} unchanged"
             + _listed(report["ambiguous_rows"], "ambiguous") + _listed(report["unmatched_rows"], "unmatched"))
    emit(report, as_json=as_json, human=human)


def import_residents(file: RegisterFile, district_code: DistrictCode, strict: Strict = False,
                     encoding: Encoding = None,
                     drop_synthetic: bool = typer.Option(False, "--drop-synthetic",
                                                         help="Delete the district's synthetic residents first."),
                     as_json: JsonOption = False) -> None:
    """A population register: ID numbers checked and encrypted, addresses resolved, recorded counts set."""
    from gis.services import privacy
    from gis.services import registers as register_service

    keys = privacy.id_keys(settings())
    with db_transaction() as session:
        report = register_service.import_residents(session, file, district_code=district_code, keys=keys,
                                                   strict=strict, encoding=encoding, drop_synthetic=drop_synthetic)
    m = report["address_match"]
    human = (f"{report['rows']} people from {report['file']} ({report['encoding'] or 'xlsx'}): "
             f"{report['living_here']} living here in {report['households']} households, "
             f"{report['registered_here_living_elsewhere']} registered here living elsewhere, "
             f"{report['living_here_registered_elsewhere']} living here registered elsewhere (人户分离), "
             f"{report['unmatched']} unmatched\naddresses: {m['exact']} exact, {m['normalised']} normalised, "
             f"{m['building']} by building, {m['ambiguous']} ambiguous, {m['unmatched']} unmatched\n"
             f"people: {report['inserted']} new, {report['updated']} updated, {report['unchanged']} unchanged, "
             f"{report['moved']} moved; {report['buildings_recorded']} buildings recorded "
             f"({report['recorded_households']} households, {report['buildings_changed']} changed)"
             + _listed(report["unmatched_rows"], "unmatched"))
    emit(report, as_json=as_json, human=human)


def import_facilities(file: RegisterFile, district_code: DistrictCode, source_crs: SourceCrs = "wgs84",
                      strict: Strict = False, encoding: Encoding = None, as_json: JsonOption = False) -> None:
    """Facilities: name, catalogue type, address or lon/lat, capacity, floor area."""
    from gis.services import registers as register_service

    config = settings()
    with db_transaction() as session:
        report = register_service.import_facilities(session, file, district_code=district_code,
                                                    source_crs=source_crs, strict=strict, encoding=encoding,
                                                    max_distance_m=config.address_match_distance_m)
    emit(report, as_json=as_json,
         human=f"{report['rows']} facilities from {report['file']}: {report['inserted']} new, {report['updated']} "
               f"updated, {report['unchanged']} unchanged; by type: "
               + ", ".join(f"{k} {v}" for k, v in sorted(report["by_type"].items())))


def import_units(file: RegisterFile, district_code: DistrictCode, source_crs: SourceCrs = "wgs84",
                 strict: Strict = False, encoding: Encoding = None, as_json: JsonOption = False) -> None:
    """实有单位: organisations and shops with a contact, by address or lon/lat."""
    from gis.services import registers as register_service

    config = settings()
    with db_transaction() as session:
        report = register_service.import_units(session, file, district_code=district_code, source_crs=source_crs,
                                               strict=strict, encoding=encoding,
                                               max_distance_m=config.address_match_distance_m)
    emit(report, as_json=as_json,
         human=f"{report['rows']} units from {report['file']}: {report['inserted']} new, {report['updated']} "
               f"updated, {report['unchanged']} unchanged; {report['in_buildings']} in a building")


@keys_app.command("new")
def keys_new() -> None:
    """Print a fresh random key for WANGGE_ID_KEY (keep it outside the database and its backups)."""
    from gis.idnumbers import new_key

    typer.echo(new_key())


@keys_app.command("rotate")
def keys_rotate(as_json: JsonOption = False) -> None:
    """Re-encrypt every ID number under WANGGE_ID_KEY (old keys in WANGGE_ID_KEYS_PREVIOUS); atomic."""
    from gis.services import privacy

    keys = privacy.id_keys(settings())
    with db_transaction() as session:
        report = privacy.rotate_id_keys(session, keys)
    emit({**report, "current_key": keys.current_id}, as_json=as_json,
         human=f"{report['checked']} ID numbers: {report['reencrypted']} re-encrypted under key {keys.current_id}, "
               f"{report['rehashed']} lookup hashes recomputed")


@keys_app.command("check")
def keys_check(as_json: JsonOption = False) -> None:
    """Decrypt every stored ID number and check it against its lookup hash and mask; exit 1 if any fails."""
    from gis.services import privacy

    keys = privacy.id_keys(settings())
    with db_transaction() as session:
        report = privacy.check_id_numbers(session, keys)
    emit(report, as_json=as_json,
         human=f"{report['checked']} ID numbers: {report['plain']} still plain, {report['bad']} bad; by key: "
               + (", ".join(f"{k} {n}" for k, n in report["keys"].items()) or "none")
               + f" (current key {report['current_key']})")
    if report["bad"] or report["plain"]:
        raise typer.Exit(1)


def register(app: typer.Typer, import_app: typer.Typer) -> None:
    """Add the register imports to ``wangge import`` and the ``wangge keys`` group."""
    import_app.command("addresses")(import_addresses)
    import_app.command("residents")(import_residents)
    import_app.command("facilities")(import_facilities)
    import_app.command("units")(import_units)
    app.add_typer(keys_app, name="keys")
