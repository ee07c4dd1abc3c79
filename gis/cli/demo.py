"""``wangge demo``: the whole demo in one command (what `make demo` runs)."""

from __future__ import annotations

import typer

from gis.cli.output import console, log, settings
from gis.cli.serve import run_server
from gis.db.engine import describe_url
from gis.db.setup import prepare_database


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Serve the web app when ready."),
        port: int = typer.Option(None, help="HTTP port (default: WANGGE_PORT or 8000)."),
    ) -> None:
        """Start the local PostGIS, load the demo district, compute analyses and serve the web app."""
        s = settings()
        url = prepare_database(s, log=log)
        console.print(f"database ready at {describe_url(url)}", highlight=False)
        if serve:
            run_server(s, port=port)
