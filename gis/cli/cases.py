"""``wangge cases overdue | stats | urge-overdue | summons | officer``: deadlines, figures, urging, summons.

Run from the command line the commands see every district (there is no signed-in user);
``urge-overdue`` acts as the pseudo-role ``system`` (催办 once per late stage; the clock keeps
running and the case stays on the overdue list) and is what a scheduler (cron, systemd timer)
calls, e.g. every five minutes. ``wangge departments ...`` (gis/cli/departments.py) is
registered from here too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from gis.cli.output import JsonOption, console, db_transaction, emit, settings
from gis.errors import InvalidInput

app = typer.Typer(help="Incidents (事件): overdue lists, figures per grid/department/person, urging, summons.",
                  no_args_is_help=True)

Now = Annotated[str | None, typer.Option("--now", help="Judge as of this ISO time (default: now), e.g. "
                                                       "2026-10-12T09:00+08:00.")]


def _moment(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"--now: expected an ISO time such as 2026-10-12T09:00+08:00, got {raw!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"--now: give a time zone, e.g. {raw}+08:00")
    return moment


def _hours(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 3600:+.1f} h"


@app.command("overdue")
def overdue(grid: str = typer.Option(None, "--grid", help="Only this 15-digit grid."), now: Now = None,
            as_json: JsonOption = False) -> None:
    """Open cases overdue or due soon, most urgent first."""
    from gis.services import cases as case_service

    with db_transaction() as session:
        found = case_service.overdue_incidents(session, None, settings=settings(), now=_moment(now), grid_code=grid)
    if as_json:
        emit(found, as_json=True)
        return
    for kind in ("overdue", "due_soon"):
        items = found[kind]
        console.print(f"{kind.replace('_', ' ')}: {len(items)}", highlight=False)
        if not items:
            continue
        table = Table("id", "grid", "category", "status", "stage", "due", "left")
        for c in items:
            table.add_row(str(c["id"]), c["grid_code"] or "–", c["subcategory"] or c["category"], c["status"],
                          c["sla"]["stage"] or "–", (c["sla"]["due_at"] or "–")[:16],
                          _hours(c["sla"]["remaining_seconds"]))
        console.print(table)


@app.command("stats")
def stats(period: str = typer.Option(..., "--period", help="2026, 2026-10 or 2026-Q4."),
          level: str = typer.Option("grid", "--level", help="grid, community, street or total."),
          district: str = typer.Option(None, "--district", help="Only this 6-digit district."),
          as_json: JsonOption = False) -> None:
    """Response, resolution, on-time closure and satisfaction rates (三率) over a period."""
    from gis.services import cases as case_service

    with db_transaction() as session:
        figures = case_service.case_statistics(session, period=period, level=level, settings=settings(),
                                               district_code=district)
    if as_json:
        emit(figures, as_json=True)
        return
    p = figures["period"]
    console.print(f"cases reported {p['start'][:10]} to {p['end'][:10]} (end excluded)", highlight=False)

    def pct(value: float | None) -> str:
        return "–" if value is None else f"{value:.0%}"

    table = Table("level", "code", "reports", "response", "resolution", "on-time closure", "satisfaction",
                  "handling h")
    for name, rows in figures["levels"].items():
        for r in rows:
            hours = r["mean_handling_hours"]
            table.add_row(name, str(r["code"]), str(r["reports"]), pct(r["response_rate"]), pct(r["resolution_rate"]),
                          pct(r["on_time_closure_rate"]), pct(r["satisfaction_rate"]),
                          "–" if hours is None else f"{hours:.1f}")
    console.print(table)
    if figures["by_department"]:
        departments = Table("department", "offered", "claimed", "response h", "closed", "closure h", "summoned",
                            "reported in on time", "missed", "urged", "supervised")
        for d in figures["by_department"]:
            departments.add_row(d["department"] or str(d["department_id"]), str(d["offered"]), str(d["claimed"]),
                                "–" if d["mean_response_hours"] is None else f"{d['mean_response_hours']:.1f}",
                                str(d["closed"]),
                                "–" if d["mean_closure_hours"] is None else f"{d['mean_closure_hours']:.1f}",
                                str(d["summoned"]), str(d["reported_in_on_time"]), str(d["missed"]),
                                str(d["urged"]), str(d["supervised"]))
        console.print(departments)
    quick = figures["quick_fix"]
    console.print(f"随手办 (quick fix, counted apart): {quick['reported']} reported, {quick['closed_automatically']} "
                  f"closed by the automatic check, {quick['sampled']} sampled, {quick['verified']} verified",
                  highlight=False)


@app.command("urge-overdue")
def urge_overdue(now: Now = None, district: str = typer.Option(None, "--district", help="Only this district."),
                 as_json: JsonOption = False) -> None:
    """Urge (催办) every case over its stage's limit, once per late stage, as the system; safe from a scheduler."""
    from gis.services import cases as case_service

    with db_transaction() as session:
        done = case_service.urge_overdue(session, settings=settings(), now=_moment(now), district_code=district)
    emit({"urged": done}, as_json=as_json,
         human=f"urged {len(done)} case(s)" + "".join(
             f"\n  #{c['id']} ({c['status']}): {c['stage']} overdue by {c['overdue_hours']:.1f} h, due "
             f"{(c['due_at'] or '–')[:16]}" for c in done))


@app.command("summons")
def summons(missed: bool = typer.Option(False, "--missed", help="Only missed report-ins (报到)."),
            now: Now = None, as_json: JsonOption = False) -> None:
    """Summons (吹哨) of departments on cases, and their report-ins; missed ones counted per department."""
    from gis.services import cases as case_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        found = case_service.list_summons(session, SYSTEM, missed=True if missed else None, now=_moment(now))
    if as_json:
        emit(found, as_json=True)
        return
    table = Table("case", "department", "summoned", "report in by", "reported in", "status")
    for s in found["items"]:
        table.add_row(str(s["incident_id"]), s["department"], s["summoned_at"][:16], s["report_in_due_at"][:16],
                      (s["reported_in_at"] or "–")[:16], s["status"])
    console.print(table)
    for c in found["by_department"]:
        console.print(f"{c['department']}: summoned {c['summoned']}, reported in {c['reported_in']} "
                      f"({c['reported_in_on_time']} on time), missed {c['missed']}", highlight=False)


@app.command("officer")
def officer(username: str = typer.Argument(..., help="A community_officer user."),
            community: str = typer.Option(..., "--community", help="Their 12-digit community code ('' clears).")
            ) -> None:
    """Scope a community officer (社区工作人员) to one community."""
    from gis.services import departments as department_service
    from gis.services.users import get_user_by_name

    with db_transaction() as session:
        done = department_service.set_community(session, get_user_by_name(session, username).id, community)
    emit(done, as_json=False, human=f"{done['username']}: community {done['community_code'] or '(none)'}")


def register(root: typer.Typer) -> None:
    from gis.cli.departments import app as departments_app

    root.add_typer(app, name="cases")
    root.add_typer(departments_app, name="departments")
