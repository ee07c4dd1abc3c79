"""``wangge patrols import | coverage | weekly | purge``: patrol tracks in, coverage figures out, old tracks deleted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis.cli.output import JsonOption, console, db_transaction, emit, settings
from gis.errors import InvalidInput

app = typer.Typer(help="Patrol tracks (巡查): import GPX/GeoJSON, weekly coverage per grid, purge after retention.",
                  no_args_is_help=True)

Week = Annotated[str | None, typer.Option("--week", help="ISO week in Beijing time, e.g. 2026-W47 (default: this "
                                                         "week).")]


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@app.command("import")
def import_track(
    file: Annotated[Path, typer.Argument(help="A .gpx or .geojson track.", dir_okay=False)],
    worker: str = typer.Option(..., "--worker", help="Whose track it is: user id or username."),
    grid: str = typer.Option(None, "--grid", help="The grid patrolled (default: the worker's only grid)."),
    source_crs: str = typer.Option(None, "--source-crs", help="gcj02 or bd09 for AMap/Tencent/Baidu exports."),
    assume_timezone: str = typer.Option("UTC", "--timezone",
                                        help="Zone of times written without an offset, e.g. Asia/Shanghai."),
    as_json: JsonOption = False,
) -> None:
    """Read, clean and store a patrol track; print the cleaning report."""
    from gis.services import patrols as patrol_service
    from gis.services.users import SYSTEM

    s = settings()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{file}: cannot read the file ({exc.strerror})") from None
    with db_transaction() as session:
        result = patrol_service.import_patrol(session, data, uploader=SYSTEM, worker=worker, grid_code=grid,
                                              source_name=file.name, source_crs=source_crs,
                                              assume_timezone=assume_timezone, max_bytes=s.patrol_max_upload_bytes)
    if as_json:
        emit(result, as_json=True)
        return
    p, r = result["patrol"], result["report"]
    console.print(f"patrol {p['id']} stored: {p['worker']} in grid {p['grid_code']}, {p['started_at']} to "
                  f"{p['ended_at']} (week {p['week']}), {p['length_m']:,.0f} m, {p['point_count']} of "
                  f"{r['input_points']} points kept", highlight=False)
    for message in r["messages"]:
        console.print(f"  · {message}", highlight=False)


@app.command("coverage")
def coverage(
    grid: str = typer.Option(..., "--grid", help="15-digit grid code."),
    week: Week = None,
    as_json: JsonOption = False,
) -> None:
    """Buildings (with households) and street segments of a grid that its patrols of a week passed."""
    from gis.services import patrols as patrol_service

    s = settings()
    with db_transaction() as session:
        result = patrol_service.patrol_coverage(session, grid_code=grid, week=week or patrol_service.current_week(),
                                                building_radius_m=s.patrol_building_radius_m,
                                                segment_radius_m=s.patrol_segment_radius_m,
                                                retention_days=s.patrol_retention_days)
    if as_json:
        emit(result, as_json=True)
        return
    sm = result["summary"]
    console.print(
        f"grid {result['grid_code']} {result['grid_name'] or ''}, week {result['period']['week']}: "
        f"{result['patrols']} patrol(s){' (missed)' if result['missed'] else ''}\n"
        f"  households walked past {sm['households_walked_past']:,}/{sm['households_total']:,} "
        f"({_share(sm['household_walked_past_share'])}), buildings {sm['buildings_covered']}/{sm['buildings_total']} "
        f"within {sm['building_radius_m']:g} m\n"
        f"  street covered {sm['street_covered_m']:,.0f}/{sm['street_length_m']:,.0f} m "
        f"({_share(sm['street_share'])}), segments {sm['segments_covered']}/{sm['segments_total']} "
        f"within {sm['segment_radius_m']:g} m", highlight=False)


@app.command("weekly")
def weekly(
    district: str = typer.Option(None, "--district", help="6-digit district code."),
    community: str = typer.Option(None, "--community", help="12-digit community code, instead of a district."),
    week: Week = None,
    as_json: JsonOption = False,
) -> None:
    """Per grid, one week: share of households in buildings the patrols walked past, and the grids that missed."""
    from gis.services import patrols as patrol_service

    s = settings()
    if district is None and community is None:
        raise typer.BadParameter("name a district (or --community)", param_hint="--district")
    with db_transaction() as session:
        result = patrol_service.weekly_coverage(session, district_code=district, community_code=community,
                                                week=week or patrol_service.current_week(),
                                                building_radius_m=s.patrol_building_radius_m,
                                                segment_radius_m=s.patrol_segment_radius_m,
                                                retention_days=s.patrol_retention_days)
    if as_json:
        emit(result, as_json=True)
        return
    sm = result["summary"]
    console.print(f"week {result['week']}: {sm['patrolled']} of {sm['grids']} grids patrolled, households walked "
                  f"past {sm['households_walked_past']:,}/{sm['households_total']:,} "
                  f"({_share(sm['household_walked_past_share'])})",
                  highlight=False)
    for row in result["grids"]:
        console.print(f"  {row['grid_code']} {row['grid_name'] or '':<10} patrols {row['patrols']:>2}  households "
                      f"{row['households_walked_past']:>5,}/{row['households_total']:<5,} "
                      f"{_share(row['household_walked_past_share']):>5}"
                      f"{'  MISSED' if row['missed'] else ''}", highlight=False)


@app.command("purge")
def purge(
    older_than_days: int = typer.Option(None, "--older-than-days",
                                        help="Retention in days (default: WANGGE_PATROL_RETENTION_DAYS)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
    as_json: JsonOption = False,
) -> None:
    """Delete patrol tracks (and their points) older than the retention period; audited."""
    from gis.services import patrols as patrol_service

    days = older_than_days if older_than_days is not None else settings().patrol_retention_days
    if days < 1:
        raise typer.BadParameter(f"1 or more days, got {days}", param_hint="--older-than-days")
    with db_transaction() as session:
        result = patrol_service.purge_patrols(session, retention_days=days, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    emit(result, as_json=as_json,
         human=f"{verb} {result['patrols']} patrol(s) with {result['points']:,} points that started before "
               f"{result['cutoff']} (retention {days} days)")
