"""``wangge coverage``: life-circle walking coverage, gaps, siting, what-if, isochrones, catalogue."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from gis.cli.output import (
    DaskOption,
    JsonOption,
    console,
    db_transaction,
    emit,
    exit_if_districts_failed,
    progress_bar,
    settings,
)

coverage_app = typer.Typer(
    help="Life-circle walking coverage (十分钟服务圈, GB 50180-2018): compute, gaps, site, what-if, isochrones.",
    no_args_is_help=True,
)
catalogue_app = typer.Typer(help="The facility catalogue: types, life-circle levels, walking radii, target groups.",
                            invoke_without_command=True)

DistrictCode = Annotated[str | None, typer.Option("--district-code",
                                                  help="6-digit adcode; default: the only district loaded.")]
TypeCode = Annotated[str, typer.Option("--type", help="Facility type code, e.g. kindergarten (see `coverage "
                                                      "catalogue`).")]


def _share(part: int, whole: int) -> str:
    return f"{part:,}/{whole:,} ({part / whole:.0%})" if whole else f"{part:,}/0"


def _lonlat(value: str, param: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in value.split(","))
    except ValueError:
        raise typer.BadParameter(f"expected lon,lat such as 118.785,32.045; got {value!r}", param_hint=param) from None
    return lon, lat


@coverage_app.command("compute")
def compute(
    types: str = typer.Option(None, "--types", help="Comma-separated type codes (default: the whole catalogue)."),
    district_code: DistrictCode = None,
    straight_line: bool = typer.Option(False, "--straight-line",
                                       help="Straight-line distances: a draft for areas without a walk network."),
    level: str = typer.Option("district", "--level", help="What the text output lists: district, street, "
                                                          "community or grid (--json always has all)."),
    all_districts: bool = typer.Option(False, "--all-districts",
                                       help="A coverage run for every district that has buildings, each in its "
                                            "own transaction (serially here, or on Dask with --dask)."),
    dask: DaskOption = None,
    as_json: JsonOption = False,
) -> None:
    """Nearest facility and walking distance for every residential building; store a coverage run."""
    if level not in ("district", "street", "community", "grid"):
        raise typer.BadParameter("expected district, street, community or grid", param_hint="--level")
    type_codes = types.split(",") if types else None
    mode = "straight_line" if straight_line else "network"
    if dask is not None and not all_districts:
        raise typer.BadParameter("--dask fans out the districts of --all-districts; add --all-districts",
                                 param_hint="--dask")
    if all_districts:
        if district_code:
            raise typer.BadParameter("give either --district-code or --all-districts", param_hint="--all-districts")
        if level != "district":
            raise typer.BadParameter("with --all-districts the text output lists districts; per-unit figures of a "
                                     "run: `wangge coverage summary --district-code CODE --level LEVEL`",
                                     param_hint="--level")
        _compute_all_districts(type_codes, mode, dask, as_json)
        return
    from gis.services import coverage as coverage_service

    with progress_bar("coverage") as update, db_transaction() as session:
        report = coverage_service.compute_coverage(session, district_code=district_code, types=type_codes, mode=mode,
                                                   progress=update)
    if as_json:
        emit(report, as_json=True)
        return
    _print_run(report, level)


def _compute_all_districts(types: list[str] | None, mode: str, scheduler: str | None, as_json: bool) -> None:
    from gis.db.engine import database_url
    from gis.services import scale as scale_service

    with progress_bar("coverage by district") as update:
        report = scale_service.compute_coverage_for_districts(database_url(settings()), types=types, mode=mode,
                                                              scheduler=scheduler, progress=update)
    if as_json:
        emit(report, as_json=True)
    else:
        for run in report["districts"]:
            console.print(f"[bold]{run['district_code']} {run['district_name']}[/]: coverage run {run['run_id']}, "
                          f"{run['buildings']:,} residential buildings, {run['households']:,} households, "
                          f"{run['population']:,} people ({run['population_source']}), {run['elapsed_s']} s",
                          highlight=False)
            for code, entry in run["types"].items():
                d = entry["district"]
                console.print(f"  {code:<26} households {_share(d['households_covered'], d['households']):>24}   "
                              f"target population {_share(d['target_population_covered'], d['target_population'])}",
                              highlight=False)
        console.print(f"[bold]{len(report['districts'])} of {len(report['district_codes'])} districts[/] stored a "
                      f"coverage run; {report['runner']}, {report['elapsed_s']} s", highlight=False)
    exit_if_districts_failed(report, "runs")



def _print_run(report: Mapping[str, Any], level: str) -> None:
    from gis.services import coverage as coverage_service

    console.print(
        f"coverage run {report['run_id']}: {report['district_name']} ({report['district_code']}), network version "
        f"{report['network_version']}, {report['buildings']:,} residential buildings, {report['households']:,} "
        f"households, {report['population']:,} people ({report['population_source']})\n{report['distance']}",
        highlight=False)
    for code, entry in report["types"].items():
        console.print(f"\n{code} {entry['name_zh']}: {entry['level']}, {entry['radius_m']:.0f} m, target "
                      f"{entry['target_group']}, {entry['facilities']} facilities", highlight=False)
        rows = [("district", entry["district"])] if level == "district" else [
            (f"{r.get(f'{level}_code') or '-'} {r.get('name') or ''}", r)
            for r in entry[coverage_service.PLURAL[level]]]
        for unit, r in rows:
            console.print(f"  {unit:<24} households {_share(r['households_covered'], r['households']):>24}"
                          f"   target population {_share(r['target_population_covered'], r['target_population'])}",
                          highlight=False)


@coverage_app.command("summary")
def summary(
    run_id: int = typer.Option(None, "--run-id", help="A stored run (default: the district's latest)."),
    district_code: DistrictCode = None,
    level: str = typer.Option("community", "--level", help="district, street, community or grid."),
    as_json: JsonOption = False,
) -> None:
    """Figures of a stored coverage run at one level."""
    from gis.services import coverage as coverage_service

    with db_transaction() as session:
        report = coverage_service.coverage_summary(session, district_code=district_code, run_id=run_id, level=level)
    emit(report, as_json=as_json)


@coverage_app.command("gaps")
def gaps(
    type_code: TypeCode,
    district_code: DistrictCode = None,
    run_id: int = typer.Option(None, "--run-id", help="Use this stored run (default: the latest current one, "
                                                      "computed now if there is none)."),
    top: int = typer.Option(None, "--top", min=1, help="Only the N largest gaps."),
    max_span_m: float = typer.Option(None, "--max-span-m", help="Widest gap in metres (default: the walking radius)."),
    geojson: Path = typer.Option(None, "--geojson", help="Also write the gap outlines as GeoJSON here."),
    as_json: JsonOption = False,
) -> None:
    """Uncovered buildings clustered into gap areas, ranked by uncovered target population."""
    from gis.services import coverage as coverage_service

    with progress_bar(f"gaps: {type_code}") as update, db_transaction() as session:
        report = coverage_service.coverage_gaps(session, type_code=type_code, district_code=district_code,
                                                run_id=run_id, top=top, max_span_m=max_span_m, progress=update)
    if geojson:
        geojson.write_text(json.dumps(report["geojson"], ensure_ascii=False))
    if as_json:
        emit({k: v for k, v in report.items() if k != "geojson"}, as_json=True)
        return
    console.print(
        f"{type_code} {report['name_zh']} ({report['radius_m']:.0f} m, target {report['target_group']}), run "
        f"{report['run_id']}: {report.get('uncovered_households', 0):,} households and "
        f"{report.get('uncovered_target_population', 0):,} target population uncovered, in "
        f"{report.get('gaps_total', 0)} gaps", highlight=False)
    for g in report["gaps"]:
        nearest = f"nearest {g['nearest_m']} m" if g["nearest_m"] is not None else "nearest beyond the search"
        console.print(
            f"  {g['rank']:>3}. {g['target_population']:>6,} target pop. {g['households']:>6,} households "
            f"{g['buildings']:>4} buildings, {nearest}; {g['community_code'] or '-'} {g['community_name'] or ''}"
            + (f", grid {g['grid_code']}" if g["grid_code"] else "") + f" at {g['lon']}, {g['lat']}",
            highlight=False)


@coverage_app.command("site")
def site(
    type_code: TypeCode,
    k: int = typer.Option(3, "--k", min=1, help="How many new sites."),
    exact: bool = typer.Option(False, "--exact", help="Also solve the exact MCLP (HiGHS); never worse than greedy."),
    capacity: float = typer.Option(None, "--capacity", help="Places per facility: count people served within "
                                   "capacities (existing facilities without a recorded capacity get this too)."),
    candidates: Path = typer.Option(None, "--candidates", exists=True, dir_okay=False,
                                    help="Candidate points: CSV with lon,lat columns, or a GeoJSON/GeoPackage "
                                         "of points (default: building points near uncovered people)."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds the exact solver may take."),
    cover_all: bool = typer.Option(False, "--cover-all", help="The least number of new sites so every reachable "
                                   "target household is within the radius (set covering, HiGHS); --k is ignored."),
    district_code: DistrictCode = None,
    as_json: JsonOption = False,
) -> None:
    """Suggest k new sites that newly cover the most target population (greedy, and exact with --exact)."""
    from gis.services import coverage as coverage_service

    points = coverage_service.read_points(candidates) if candidates else None
    if cover_all:
        if capacity is not None or exact:
            raise typer.BadParameter("--cover-all is a set covering of its own: leave out --capacity and --exact",
                                     param_hint="--cover-all")
        with progress_bar(f"full coverage: {type_code}") as update, db_transaction() as session:
            report = coverage_service.cover_all_sites(session, type_code=type_code, candidates=points,
                                                      district_code=district_code, time_limit_s=time_limit,
                                                      progress=update)
        if as_json:
            emit(report, as_json=True)
            return
        _print_cover_all(report)
        return
    with progress_bar(f"siting: {type_code}") as update, db_transaction() as session:
        report = coverage_service.suggest_sites(session, type_code=type_code, k=k, exact=exact, capacity=capacity,
                                                candidates=points, district_code=district_code,
                                                time_limit_s=time_limit, progress=update)
    if as_json:
        emit(report, as_json=True)
        return
    what = "served within capacities" if capacity else "covered"
    console.print(
        f"{type_code} {report['name_zh']} ({report['radius_m']:.0f} m, target {report['target_group']}): "
        f"{report['existing_facilities']} existing, {report['candidates']} candidate sites "
        f"({report['candidate_source']})",
        highlight=False)
    for method in ("greedy", "exact"):
        if method not in report:
            continue
        ans = report[method]
        console.print(
            f"[bold]{method}[/] ({ans['status']}, {ans['solve_s']} s): target population {what} "
            f"{ans['target_population_before']:,.0f} → {ans['target_population_after']:,.0f} of "
            f"{report['target_population']:,} (+{ans['target_population_added']:,.0f}); households covered "
            f"{ans['households_covered_before']:,} → {ans['households_covered_after']:,}", highlight=False)
        for i, s in enumerate(ans["sites"], start=1):
            console.print(
                f"  {i}. {s['lon']}, {s['lat']}" + (f" (building {s['building_id']})" if s["building_id"] else "")
                + f" in {s['community_code'] or '?'} {s['community_name'] or ''}: newly covers "
                f"{s['newly_covered_target_population']:,} target population, {s['newly_covered_households']:,} "
                "households", highlight=False)


def _print_cover_all(report: dict[str, Any]) -> None:
    console.print(
        f"{report['type_code']} {report['name_zh']} ({report['radius_m']:.0f} m, target {report['target_group']}): "
        f"{report['existing_facilities']} existing, {report['candidates']} candidate sites "
        f"({report['candidate_source']}); {report['population_source']}", highlight=False)
    console.print(
        f"[bold]{report['sites_needed']} new sites[/] ({report['status']}, {report['solve_s']} s) "
        f"cover every reachable "
        f"target building; greedy until full coverage needs {report['greedy']['sites_needed']}. Target population "
        f"covered {report['target_population_covered_before']:,} → {report['target_population_covered_after']:,} of "
        f"{report['target_population']:,}; households {report['households_covered_before']:,} → "
        f"{report['households_covered_after']:,} of {report['households']:,}", highlight=False)
    for i, s in enumerate(report["sites"], start=1):
        where = s["building_name"] or s["address"] or (f"building {s['building_id']}" if s["building_id"] else "")
        console.print(
            f"  {i}. {where or 'point'} ({s['lon']}, {s['lat']})"
            + (f", {s['address']}" if s["address"] and s["address"] != where else "")
            + f" in {s['community_code'] or '?'} {s['community_name'] or ''}: newly covers "
            f"{s['newly_covered_target_population']:,} target population, {s['newly_covered_households']:,} households",
            highlight=False)
    if report["unreachable"]:
        console.print(
            f"unreachable: {report['unreachable_buildings']} buildings, {report['unreachable_households']:,} "
            f"households, {report['unreachable_target_population']:,} target population", highlight=False)
        for r in report["unreachable"][:10]:
            console.print(f"  building {r['building_id']} {r['building_name'] or ''} in {r['community_code'] or '?'}: "
                          f"{r['target_population']} target population; {r['reason']}", highlight=False)
    else:
        console.print("unreachable: none", highlight=False)


@coverage_app.command("supply")
def supply(
    type_code: str = typer.Option(None, "--type", help="One facility type (default: every type with a "
                                  "capacity_per_1000)."),
    level: str = typer.Option("community", "--level", help="community or street."),
    per: str = typer.Option("residents", "--per", help="residents (capacity_per_1000 × residents, 千人指标) or "
                            "target_group (a place for every person of the type's target group)."),
    top: int = typer.Option(10, "--top", min=1, help="Rows shown per type (JSON has all)."),
    district_code: DistrictCode = None,
    as_json: JsonOption = False,
) -> None:
    """Places needed (千人指标 × residents) against places provided, per community or street, shortfall first."""
    from gis.services import coverage as coverage_service

    if level not in coverage_service.SUPPLY_LEVELS:
        raise typer.BadParameter(f"expected community or street; got {level!r}", param_hint="--level")
    if per not in coverage_service.SUPPLY_BASES:
        raise typer.BadParameter(f"expected residents or target_group; got {per!r}", param_hint="--per")
    with db_transaction() as session:
        report = coverage_service.supply_demand(session, type_code=type_code, level=level, per=per,
                                                district_code=district_code)
    if as_json:
        emit(report, as_json=True)
        return
    plural = "communities" if level == "community" else "streets"
    column = f"{level}_code"
    console.print(f"{report['district_code']} {report['district_name']}: {report['basis']}; population from "
                  f"{report['population_source']}", highlight=False)
    for tc, entry in report["types"].items():
        d = entry["district"]
        console.print(f"[bold]{tc}[/] {entry['name_zh']} ({entry['places_per_1000']:g} per 1,000 "
                      f"{'residents' if entry['per'] == 'residents' else entry['target_group']}): needed "
                      f"{d['places_needed']:,}, provided {d['places_provided']:,} by {d['facilities']} facilities, "
                      f"short {d['shortfall']:,} in the {plural} short of places", highlight=False)
        if entry["capacity_note"]:
            console.print(f"  ({entry['capacity_note']})", highlight=False)
        for r in entry[plural][:top]:
            if not r["shortfall"]:
                break
            console.print(f"  {r[column] or '-'} {r['name'] or ''}: needs {r['places_needed']:,}, has "
                          f"{r['places_provided']:,} ({r['facilities']} facilities), short {r['shortfall']:,}; "
                          f"{r['residents']:,} residents, target {r['target_population']:,}", highlight=False)
    if report["no_standard"] and per == "residents":
        console.print("no capacity_per_1000 set for: " + ", ".join(report["no_standard"])
                      + " (wangge coverage catalogue set TYPE --capacity-per-1000 N, or --per target_group)",
                      highlight=False)


@coverage_app.command("what-if")
def what_if(
    type_code: TypeCode,
    add: str = typer.Option(None, "--add", help="lon,lat of a new facility."),
    remove: int = typer.Option(None, "--remove", help="Id of a facility to close."),
    move: int = typer.Option(None, "--move", help="Id of a facility to move (with --to)."),
    to: str = typer.Option(None, "--to", help="lon,lat to move it to."),
    district_code: DistrictCode = None,
    as_json: JsonOption = False,
) -> None:
    """Coverage of one type if one facility were added, moved or removed (nothing is stored)."""
    from gis.services import coverage as coverage_service

    if (move is None) != (to is None):
        raise typer.BadParameter("--move needs --to (and --to needs --move)", param_hint="--move/--to")
    with db_transaction() as session:
        report = coverage_service.what_if(
            session, type_code=type_code, district_code=district_code,
            add=_lonlat(add, "--add") if add else None, remove=remove,
            move=(move, *_lonlat(to, "--to")) if move is not None else None)
    human = (f"{type_code} within {report['radius_m']:.0f} m: households covered "
             f"{report['households_covered_before']:,} → {report['households_covered_after']:,}, target population "
             f"{report['target_population_covered_before']:,} → {report['target_population_covered_after']:,} "
             f"({report['buildings_gaining']} buildings gain, {report['buildings_losing']} lose)")
    emit(report, as_json=as_json, human=human)


@coverage_app.command("isochrones")
def isochrones(
    out: Path = typer.Option(..., "--out", help="GeoJSON file to write."),
    type_code: str = typer.Option(None, "--type", help="Only this facility type."),
    straight_line: bool = typer.Option(False, "--straight-line", help="Circles instead (a draft view only)."),
    district_code: DistrictCode = None,
    as_json: JsonOption = False,
) -> None:
    """Write isochrone polygons per facility (display geometry; the figures come from `coverage compute`)."""
    from gis.services import coverage as coverage_service

    with progress_bar("isochrones") as update, db_transaction() as session:
        collection = coverage_service.facility_isochrones(
            session, district_code=district_code, type_code=type_code,
            mode="straight_line" if straight_line else "network", progress=update)
    out.write_text(json.dumps(collection, ensure_ascii=False))
    report = {"file": str(out), "facilities": len(collection["features"]), **collection["properties"]}
    emit(report, as_json=as_json, human=f"wrote {report['facilities']} isochrones to {out} ({report['note']})")


@catalogue_app.callback()
def catalogue(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the catalogue as the database holds it (edit with `coverage catalogue set`)."""
    if ctx.invoked_subcommand is not None:
        return
    from gis.services import coverage as coverage_service

    with db_transaction() as session:
        rows = coverage_service.list_facility_types(session)
    if as_json:
        emit(rows, as_json=True)
        return
    for r in rows:
        console.print(_describe(r) + f"; {r['facilities']} facilities", highlight=False)


@catalogue_app.command("set")
def catalogue_set(
    code: str = typer.Argument(..., help="Type code, e.g. kindergarten."),
    radius_m: float = typer.Option(None, "--radius-m"),
    level: str = typer.Option(None, "--level", help="5min, 10min, 15min or block."),
    target_group: str = typer.Option(None, "--target-group",
                                     help="all, age_0_3, age_3_6, school_age, age_12_15 or age_60_plus."),
    capacity_per_1000: float = typer.Option(None, "--capacity-per-1000", help="Places per 1,000 residents."),
    as_json: JsonOption = False,
) -> None:
    """Edit one catalogue row in the database (a deployment's local standard)."""
    from gis.services import coverage as coverage_service

    with db_transaction() as session:
        row = coverage_service.update_facility_type(session, code, radius_m=radius_m, level=level,
                                                    target_group=target_group, capacity_per_1000=capacity_per_1000)
    emit(row, as_json=as_json, human=_describe(row))


def _describe(row: Mapping[str, Any]) -> str:
    return (f"{row['code']} {row['name_zh']}: {row['level']}, {row['radius_m']:.0f} m, target {row['target_group']}"
            + (f", {row['capacity_per_1000']:g} places per 1,000 residents" if row["capacity_per_1000"] else ""))


coverage_app.add_typer(catalogue_app, name="catalogue")


def register(app: typer.Typer) -> None:
    app.add_typer(coverage_app, name="coverage")
