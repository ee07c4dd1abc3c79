"""``wangge partition grids | communities``: suggestions stored as draft plans."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

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
from gis.errors import InvalidInput

app = typer.Typer(help="Suggest grid splits and community redraws (stored as draft plans).", no_args_is_help=True)

MinOption = Annotated[int | None, typer.Option("--min", help="Fewest households per unit (default from settings).")]
MaxOption = Annotated[int | None, typer.Option("--max", help="Most households per unit (default from settings).")]
KeepCurrent = Annotated[bool, typer.Option("--keep-current", help="Start from the current units and move as few "
                                                                  "households as the bounds allow.")]
AllowCrossing = Annotated[list[str] | None, typer.Option("--allow-crossing", help="A main road (by name) that units "
                                                                                 "may span; repeatable.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same suggestion.")]


@app.command("grids")
def grids(
    community: Annotated[str | None, typer.Option("--community", help="12-digit community code.")] = None,
    all_communities: Annotated[bool, typer.Option("--all", help="Every current community.")] = False,
    district: Annotated[str | None, typer.Option("--district", help="With --all: only this district.")] = None,
    all_districts: Annotated[bool, typer.Option(
        "--all-districts", help="Every current community of every district, each district in its own transaction "
                                "(serially here, or on Dask with --dask).")] = False,
    dask: DaskOption = None,
    lo: MinOption = None,
    hi: MaxOption = None,
    keep_current: KeepCurrent = False,
    lock: Annotated[list[str] | None, typer.Option("--lock", help="A current grid code the suggestion must not "
                                                                  "touch; repeatable.")] = None,
    allow_crossing: AllowCrossing = None,
    seed: Seed = 0,
    as_json: JsonOption = False,
) -> None:
    """Split a community into grids of --min..--max households (dedicated grids are kept as they are)."""
    if dask is not None and not all_districts:
        raise typer.BadParameter("--dask fans out the districts of --all-districts; add --all-districts",
                                 param_hint="--dask")
    if all_districts:
        if community or all_communities or district:
            raise typer.BadParameter("--all-districts takes every district; drop --community, --all and --district",
                                     param_hint="--all-districts")
        if lock or allow_crossing:
            raise typer.BadParameter("--lock and --allow-crossing name grids and roads of one community; use "
                                     "--community CODE for them", param_hint="--all-districts")
        _grids_all_districts(lo, hi, keep_current, seed, dask, as_json)
        return
    if bool(community) == bool(all_communities):
        raise InvalidInput("give either --community CODE or --all (or --all-districts)")
    from gis.services import partition as partition_service

    with progress_bar("suggesting grids") as update, db_transaction() as session:
        if all_communities:
            results = partition_service.suggest_all_grids(session, settings(), district_code=district, lo=lo, hi=hi,
                                                          keep_current=keep_current, seed=seed, progress=update)
        else:
            results = [partition_service.suggest_grids(
                session, settings(), community_code=community, lo=lo, hi=hi,  # type: ignore[arg-type]
                keep_current=keep_current, locked=tuple(lock or ()), allow_crossing=tuple(allow_crossing or ()),
                seed=seed, progress=update)]
    if as_json:
        emit(results if all_communities else results[0], as_json=True)
        return
    for result in results:
        _print_suggestion(result)
    if all_communities:
        _print_overall(results)


def _grids_all_districts(lo: int | None, hi: int | None, keep_current: bool, seed: int, scheduler: str | None,
                        as_json: bool) -> None:
    from gis.db.engine import database_url
    from gis.services import scale as scale_service

    config = settings()
    with progress_bar("grids by district") as update:
        report = scale_service.suggest_grids_for_districts(database_url(config), config, lo=lo, hi=hi,
                                                           keep_current=keep_current, seed=seed,
                                                           scheduler=scheduler, progress=update)
    if as_json:
        emit(report, as_json=True)
    else:
        for d in report["districts"]:
            console.print(f"{d['district_code']}: {d['communities']} communities, {d['general_units']} general grids "
                          f"({d['units_in_range']} units in range), {d['infeasible_areas']} infeasible areas reported; "
                          f"draft plans {', '.join(map(str, d['plan_ids']))}; {d['elapsed_s']} s", highlight=False)
        console.print(f"[bold]{len(report['districts'])} of {len(report['district_codes'])} districts[/] stored "
                      f"draft grid plans; {report['runner']}, {report['elapsed_s']} s", highlight=False)
    exit_if_districts_failed(report, "plans")


@app.command("communities")
def communities(
    street: Annotated[str | None, typer.Option("--street", help="9-digit street code.")] = None,
    district: Annotated[str | None, typer.Option("--district", help="6-digit district code (one area when the "
                                                                    "district has no streets).")] = None,
    lo: MinOption = None,
    hi: MaxOption = None,
    keep_current: KeepCurrent = False,
    allow_crossing: AllowCrossing = None,
    seed: Seed = 0,
    as_json: JsonOption = False,
) -> None:
    """Suggest communities of --min..--max households inside a street (merge or split toward the target)."""
    from gis.services import partition as partition_service

    with progress_bar("suggesting communities") as update, db_transaction() as session:
        result = partition_service.suggest_communities(
            session, settings(), street_code=street, district_code=district, lo=lo, hi=hi,
            keep_current=keep_current, allow_crossing=tuple(allow_crossing or ()), seed=seed, progress=update)
    if as_json:
        emit(result, as_json=True)
        return
    _print_suggestion(result)


def _print_suggestion(result: Mapping[str, Any]) -> None:
    m = result["metrics"]
    console.print(f"[bold]plan {result['plan_id']}[/] (draft) · {result['kind']} · {result['scope_name']} "
                  f"({result['scope_code']})", highlight=False)
    table = Table(show_header=True, header_style="bold")
    for column in ("unit", "households", "buildings", "kind", "status"):
        table.add_column(column, justify="right" if column in ("households", "buildings") else "left")
    for unit in result["units"]:
        style = "" if unit["status"] in ("in_range", "fixed") else "yellow"
        table.add_row(unit["label"] + (f" ({unit['code']})" if unit["code"] else ""), str(unit["households"]),
                      str(unit["buildings"]), unit["kind"], unit["status"], style=style)
    console.print(table)
    moved = ("" if m.get("households_moved") is None
             else f"; moved against current: {m['households_moved']} households, {m['buildings_moved']} buildings")
    console.print(
        f"in range {_pct(m['in_range_share'])} (feasible areas {_pct(m['in_range_share_feasible_areas'])}); "
        f"households {m['households_min']}–{m['households_max']}; "
        f"Polsby-Popper mean {m['polsby_popper_mean']} min {m['polsby_popper_min']}; "
        f"boundary on roads {_pct(m['boundary_on_roads_share'])}{moved}; {m['runtime_s']} s", highlight=False)
    console.print(
        f"checked on the result: multi-part {m['multipart_units']}; gap {m['gap_m2']} m², overlap "
        f"{m['overlap_m2']} m²; households across a main road/river/rail {m['main_road_crossings']}; "
        f"joined around a barrier's end {m.get('joined_around_barrier_ends', 0)}; "
        f"split homes {m.get('split_buildings', 0)}", highlight=False)
    for item in m["infeasible"]:
        console.print(f"[yellow]infeasible:[/] {item['message']} (unit {item['unit']}); options: "
                      + "; ".join(item["options"]), highlight=False)
    for item in m["attached_empty_land"]:
        across = f" across {item['across']}" if item["across"] else ""
        console.print(f"[dim]empty land of {item['area_m2']} m² joined to {item['unit']}{across}[/]", highlight=False)


def _print_overall(results: Sequence[Mapping[str, Any]]) -> None:
    units = sum(r["metrics"]["general_units"] for r in results)
    infeasible = sum(len(r["metrics"]["infeasible"]) for r in results)
    console.print(f"[bold]{len(results)} communities[/], {units} general grids, {infeasible} infeasible areas "
                  f"reported; plans {results[0]['plan_id']}–{results[-1]['plan_id']}", highlight=False)


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f}%"
