"""``wangge map``: self-contained report maps (folium) that open with no network."""

from __future__ import annotations

from pathlib import Path

import typer

from gis.cli.output import JsonOption, db_transaction, emit, settings
from gis.map_views import DEFAULT_CASE_DAYS, VIEWS

app = typer.Typer(help="Report maps: self-contained HTML pages that open offline (folium).", no_args_is_help=True)


@app.command("export")
def export(
    view: str = typer.Option(..., "--view", help="planner, grid, facility or cases."),
    out: Path = typer.Option(..., "--out", dir_okay=False, help="HTML file to write."),
    community: str = typer.Option(None, "--community", help="Only this community (12-digit code)."),
    grid: str = typer.Option(None, "--grid", help="Only this grid (15-digit code): grid and cases views."),
    type_code: str = typer.Option(None, "--type", help="Facility type for the facility view, e.g. kindergarten."),
    days: int = typer.Option(DEFAULT_CASE_DAYS, "--days", min=1,
                             help="Cases view: incidents and patrols of the last N days."),
    district_code: str = typer.Option(None, "--district-code", help="6-digit adcode; default: the only district."),
    reason: str = typer.Option("map export", "--reason", help="Cases view: why patrol tracks are read (audited)."),
    as_json: JsonOption = False,
) -> None:
    """Write one report map (titles, legend, scale bar, OSM attribution; libraries inlined)."""
    if view not in VIEWS:
        raise typer.BadParameter(f"expected one of {', '.join(VIEWS)}; got {view!r}", param_hint="--view")
    from gis.services import maps as map_service

    with db_transaction() as session:
        report = map_service.export_map(session, view=view, settings=settings(), district_code=district_code,
                                        community_code=community, grid_code=grid, type_code=type_code, days=days,
                                        reason=reason)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.pop("html"), encoding="utf-8")
    report["out"] = str(out)
    human = (f"{view} map written to {out} ({report['bytes'] / 1e6:.2f} MB); layers: " + ", ".join(report["layers"]))
    emit(report, as_json=as_json, human=human)
