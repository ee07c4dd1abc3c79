"""``wangge visits`` (cadence, due list, monthly coverage) and ``wangge grids`` (unstaffed grids, reassignment).

The command line acts as the system administrator: it sees every grid, and every list of
households it prints is kept in the audit log with ``--reason``, as an API read would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from rich.markup import escape

from gis.cli.output import JsonOption, db_transaction, emit

app = typer.Typer(help="Household visits (入户走访): cadence per group, who is due, coverage per month.",
                  no_args_is_help=True)
grids_app = typer.Typer(help="Grid staffing (一格一员): grids without a worker, staff of retired grids.",
                        no_args_is_help=True)

Reason = typer.Option("命令行查询 command-line query", "--reason",
                      help="Why the households are listed (kept in the audit log).")


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


@app.command("cadence")
def cadence(
    set_: list[str] = typer.Option(None, "--set", metavar="TAG=DAYS",
                                   help="Days allowed between visits for a group (repeatable), e.g. elderly_alone=7; "
                                        "'other' is every household in no group."),
    district: str = typer.Option(None, "--district", help="6-digit district code (default: the only one stored)."),
    as_json: JsonOption = False,
) -> None:
    """Show (or set) how often households of each resident group must be visited."""
    from gis import visits as rules
    from gis.services import visits as visit_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        if set_:
            changes = dict(rules.parse_cadence_setting(item) for item in set_)
            table = visit_service.set_cadence(session, SYSTEM, district_code=district, changes=changes)
        else:
            table = visit_service.show_cadence(session, SYSTEM, district_code=district)
    lines = [f"visit cadence of district {table['district_code']} ({table['source']}):"]
    lines += [f"  {r['tag']:<22} every {r['days']:>3} days" for r in table["rules"]]
    emit(table, as_json=as_json, human=escape("\n".join(lines)))


@app.command("due")
def due(
    grid: str = typer.Option(None, "--grid", help="15-digit grid code (default: every grid)."),
    within_days: int = typer.Option(0, "--within-days", min=0, help="Also households due within this many days."),
    limit: int = typer.Option(500, "--limit", min=1, help="How many households to list."),
    reason: str = Reason,
    as_json: JsonOption = False,
) -> None:
    """Households due a visit by their group's cadence, most overdue first (heads' names masked)."""
    from gis.services import visits as visit_service
    from gis.services.residents import Reader
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        result = visit_service.due_visits(session, Reader(principal=SYSTEM, reason=reason), grid_code=grid,
                                          within_days=within_days, limit=limit)
    emit(result, as_json=as_json, human=escape(_due_text(result)))


def _due_text(result: Mapping[str, Any]) -> str:
    where = f"grid {result['grid']}" if result["grid"] else "every grid"
    lines = [f"{result['total']} of {result['households']} households in {where} due a visit by {result['until']}"
             + (f"; the first {len(result['items'])}:" if result["total"] > len(result["items"]) else ":"
                if result["items"] else "")]
    for d in result["items"]:
        last = d["last_visit"][:10] if d["last_visit"] else "never"
        late = f"{d['overdue_days']} days overdue" if d["overdue_days"] > 0 else (
            "due today" if d["overdue_days"] == 0 else f"due in {-d['overdue_days']} days")
        lines.append(f"  household {d['household_id']:<8} {d['grid_code'] or '–':<15} {d['head_name'] or '–':<6} "
                     f"{d['tag']:<18} every {d['cadence_days']:>3} d  last {last:<10}  due {d['due_date']}  {late}")
    return "\n".join(lines)


@app.command("stats")
def stats(
    month: str = typer.Option(..., "--month", help="YYYY-MM (Asia/Shanghai)."),
    district: str = typer.Option(None, "--district", help="6-digit district code (default: the only one stored)."),
    grid: str = typer.Option(None, "--grid", help="One grid instead of a district."),
    as_json: JsonOption = False,
) -> None:
    """Per grid, one month: households due a visit and visited, beside households patrols walked past."""
    from gis.cli.output import settings
    from gis.services import visits as visit_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        result = visit_service.visit_stats(session, SYSTEM, month=month, settings=settings(), district_code=district,
                                           grid_code=grid)
    sm = result["summary"]
    lines = [f"visits {result['month']}: {sm['visited']} of {sm['households_due']} households due were visited "
             f"({_share(sm['coverage_share'])}); {sm['visits']} visits in {sm['grids']} grids; "
             f"patrols walked past buildings of {sm['households_walked_past']} of {sm['households_of_record']} "
             "households of record"]
    for i in result["items"]:
        lines.append(f"  {i['grid_code']} {i['grid_name'] or '':<10} due {i['households_due']:>5}  visited "
                     f"{i['visited']:>5} {_share(i['coverage_share']):>5}  visits {i['visits']:>4}  walked past "
                     f"{i['households_walked_past']:>5}/{i['households_of_record']:<5}")
    emit(result, as_json=as_json, human=escape("\n".join(lines)))


@app.command("reseal")
def reseal(as_json: JsonOption = False) -> None:
    """Seal visit findings again under the current WANGGE_ID_KEY (after `wangge keys rotate`)."""
    from gis.cli.output import settings
    from gis.services import privacy
    from gis.services import visits as visit_service

    keys = privacy.id_keys(settings())
    with db_transaction() as session:
        counts = visit_service.reseal_findings(session, keys)
    emit(counts, as_json=as_json, human=f"{counts['resealed']} of {counts['checked']} visits' findings sealed again "
                                        f"under key {keys.current_id}")


@grids_app.command("unstaffed")
def unstaffed(
    district: str = typer.Option(None, "--district", help="6-digit district code (default: every district)."),
    as_json: JsonOption = False,
) -> None:
    """Current grids without a worker (一格一员)."""
    from gis.services import staffing as staffing_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        result = staffing_service.unstaffed_grids(session, SYSTEM, district_code=district)
    lines = [f"{result['unstaffed']} of {result['grids']} grids without a worker"
             + (":" if result["items"] else "")]
    lines += [f"  {i['grid_code']} {i['grid_name'] or ''} (leaders: {i['leaders']})" for i in result["items"]]
    emit(result, as_json=as_json, human=escape("\n".join(lines)))


@grids_app.command("reassign")
def reassign(
    plan: int = typer.Option(..., "--plan", help="The adopted plan whose retired grids' staff move."),
    apply: bool = typer.Option(False, "--apply", help="Move them (default: show the proposal only)."),
    as_json: JsonOption = False,
) -> None:
    """Where the staff of grids retired by a plan should go (the grid holding most of their households)."""
    from gis.services import staffing as staffing_service
    from gis.services.users import SYSTEM

    result: Mapping[str, Any]
    with db_transaction() as session:
        if apply:
            result = staffing_service.apply_reassignments(session, SYSTEM, plan)
        else:
            result = staffing_service.propose_reassignments(session, SYSTEM, plan)
    emit(result, as_json=as_json, human=escape(_reassign_text(result, applied=apply)))


def _reassign_text(result: Mapping[str, Any], *, applied: bool) -> str:
    if applied:
        lines = [f"plan {result['plan_id']}: {len(result['applied'])} assignment(s) moved"]
        lines += [f"  {m['username']} ({m['duty']}): {m['from_grid']} → {m['to_grid']}" for m in result["applied"]]
    else:
        lines = [f"plan {result['plan_id']}: {len(result['retired_grids'])} retired grid(s), "
                 f"{len(result['reassignments'])} assignment(s) to move"]
        for g in result["retired_grids"]:
            target = (f"→ {g['to_grid']} ({g['households_following']} of {g['households']} households)"
                      if g["to_grid"] else "→ no current grid holds its households yet")
            lines.append(f"  {g['grid_code']} {g['grid_name'] or ''} {target}; staff {g['staff']}")
        lines += [f"    {m['username']} ({m['duty']}): {m['from_grid']} → {m['to_grid'] or '–'}"
                  + (" (already there)" if m["already_assigned"] else "") for m in result["reassignments"]]
        if result["reassignments"]:
            lines.append("  apply with --apply")
    if result["without_target"]:
        lines.append(f"  staying put (no target): {', '.join(result['without_target'])}")
    un = result["unstaffed"]
    lines.append(f"  grids without a worker: {un['unstaffed']} of {un['grids']}"
                 + (f" ({', '.join(i['grid_code'] for i in un['items'])})" if un["items"] else ""))
    return "\n".join(lines)
