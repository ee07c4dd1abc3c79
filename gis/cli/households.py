"""``wangge households``: review doubtful household estimates, record counts by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import typer
from rich.markup import escape

from gis.cli.output import JsonOption, db_transaction, emit, err_console, settings

app = typer.Typer(help="Household counts per building: review estimates, record counts.", no_args_is_help=True)


def print_warnings(warnings: list[str]) -> None:
    """Each warning as one line on stderr."""
    for warning in warnings:
        err_console.print(f"[bold yellow]warning:[/] {warning}", highlight=False, markup=True, soft_wrap=True)


def print_review(review: dict[str, Any], *, heading: str) -> None:
    """The review's buildings as lines on stderr (nothing when none is doubtful)."""
    if not review["buildings"]:
        return
    err_console.print(f"{heading}: {review['buildings_with_concerns']} buildings, "
                      f"{review['households_with_concerns']} of {review['estimated_households']} estimated "
                      "households", highlight=False)
    for line in _lines(review["buildings"]):
        err_console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)


def _lines(buildings: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"building {b['building_id']} {b['name'] or '(no name)'}: {b['households']} households; "
            f"{b['reason_text']} [{b['reason']}]; check: {', '.join(b['concerns_text'])}" for b in buildings]


@app.command("review")
def review(
    district: str = typer.Option(None, "--district", help="6-digit district code (default: every district)."),
    top: int = typer.Option(20, "--top", min=1, help="How many buildings to list."),
    as_json: JsonOption = False,
) -> None:
    """The estimated homes most likely wrong: largest, against their name or area, huge footprints."""
    from gis.services import households as household_service

    with db_transaction() as session:
        report = household_service.review_households(session, settings(), district_code=district, top=top)
    head = (f"{report['buildings_with_concerns']} estimated buildings to check, holding "
            f"{report['households_with_concerns']} of {report['estimated_households']} estimated households"
            + (f"; the first {len(report['buildings'])}:" if report["buildings"] else ""))
    # escape: the reason codes are printed in [brackets], which rich would take for markup.
    emit(report, as_json=as_json,
         human=escape("\n".join([head, *(f"  {line}" for line in _lines(report["buildings"]))])))


@app.command("show")
def show(building_id: int = typer.Argument(..., help="Building id."), as_json: JsonOption = False) -> None:
    """One building's households, recorded or estimated, and why."""
    from gis.services import households as household_service

    with db_transaction() as session:
        report = household_service.building_households(session, building_id)
    emit(report, as_json=as_json, human=escape(_describe(report)))


@app.command("set")
def set_count(
    building_id: int = typer.Argument(..., help="Building id."),
    households: int = typer.Argument(..., min=0, help="The recorded number of households."),
    by: str = typer.Option(..., "--by", help="Who counted (kept with the count)."),
    reason: str = typer.Option(..., "--reason", help="Why / how it was counted (kept with the count)."),
    as_json: JsonOption = False,
) -> None:
    """Record a building's households: a recorded count wins over any estimate, also on re-import."""
    from gis.services import households as household_service

    with db_transaction() as session:
        report = household_service.set_households(session, building_id=building_id, households=households, by=by,
                                                  reason=reason)
    emit(report, as_json=as_json, human=escape(_describe(report)))


def _describe(b: Mapping[str, Any]) -> str:
    return (f"building {b['building_id']} {b['name'] or '(no name)'} ({b['district_code']}): {b['households']} "
            f"households, {b['households_source']}; {b['reason_text'] or 'no reason stored'}"
            + (f" [{b['reason']}]" if b["reason"] else ""))
