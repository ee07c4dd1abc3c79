"""``wangge demo``: the whole demo in one command (what `make demo` runs)."""

from __future__ import annotations

import typer
from rich.table import Table

from gis.cli.output import console, db_transaction, log, progress_bar, settings
from gis.cli.serve import default_workers, run_server


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the web app when ready."),
        port: int = typer.Option(None, help="HTTP port (default: WANGGE_PORT or 8000)."),
    ) -> None:
        """Start the local PostGIS, load the demo district, compute analyses and serve the web app."""
        from gis.db.engine import describe_url
        from gis.db.setup import prepare_database
        from gis.services import coverage as coverage_service
        from gis.services import demo as demo_service

        # The demo runs in demo mode from its first step: its synthetic residents are sealed with the
        # public demo ID key, which every other command refuses.
        s = settings().model_copy(update={"demo_mode": True})
        url = prepare_database(s, log=log)
        console.print(f"database ready at {describe_url(url)}", highlight=False)
        with db_transaction() as session:
            loaded = demo_service.is_demo_loaded(session)
        if loaded:
            log("demo district already loaded (wangge db reset --yes to start over)")
        else:
            with progress_bar("loading the demo district") as update, db_transaction() as session:
                report = demo_service.load_demo(session, s, progress=update)
            osm = report["osm"]
            console.print(
                f"demo district {osm['name']} ({osm['district_code']}): {osm['buildings']} buildings, "
                f"{osm['households']} estimated households, {report['streets']} streets, "
                f"{report['communities']} communities, {report['residents']['residents']} synthetic residents. "
                "Map data © OpenStreetMap contributors (ODbL).", highlight=False)
        with progress_bar("grid suggestions") as update, db_transaction() as session:
            grids = demo_service.demo_grid_plans(session, s, progress=update)
        if grids.get("skipped"):
            log(f"grid plans: {grids['skipped']}")
        else:
            console.print(f"grid plans: {grids['grids']} grids suggested and adopted for {grids['communities']} "
                          f"communities ({grids['in_range']} within 300–500 households; "
                          f"{grids['infeasible_areas']} infeasible areas reported, see `wangge plan list`)",
                          highlight=False)
        with progress_bar("walking coverage") as update, db_transaction() as session:
            run = coverage_service.compute_coverage(session, district_code="320102", progress=update)
        console.print(f"coverage: run {run.get('run_id', run.get('id'))} stored for every facility type "
                      "(see `wangge coverage summary` and `wangge coverage gaps --type kindergarten`)",
                      highlight=False)
        with db_transaction() as session:
            accounts = demo_service.ensure_demo_users(session)
        table = Table(title="demo accounts (public passwords: signed in only by `wangge demo`, "
                            "never by `wangge serve`)")
        for column in ("username", "role", "password", "grids"):
            table.add_column(column)
        for account in accounts:
            table.add_row(account["username"], account["role"], account["password"], " ".join(account["grids"]))
        console.print(table)
        with db_transaction() as session:
            patrol = demo_service.demo_patrol(session, s)
        if patrol.get("skipped"):
            log(f"demo patrol: {patrol['skipped']}")
        else:
            sm = patrol["summary"]
            share = "–" if sm["household_share"] is None else f"{sm['household_share']:.0%}"
            console.print(f"demo patrol {patrol['patrol_id']} by demo_worker in grid {patrol['grid_code']} "
                          f"(week {patrol['week']}): households covered {sm['households_covered']:,}/"
                          f"{sm['households_total']:,} ({share}), street {sm['street_covered_m']:,.0f}/"
                          f"{sm['street_length_m']:,.0f} m (see `wangge patrols coverage --grid "
                          f"{patrol['grid_code']} --week {patrol['week']}`)", highlight=False)
        if serve:
            # The one start that may use the public demo secret and sign in the demo_* accounts; on every
            # core (issue 20: jobs, limits and caches are shared through PostgreSQL).
            run_server(s, port=port, workers=default_workers())
