"""``wangge serve``: the HTTP API and web app."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from gis.cli.output import console, settings

if TYPE_CHECKING:
    from gis.settings import Settings


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None) -> None:
    """Serve the app until interrupted."""
    import uvicorn

    from api.app import create_app

    bind_host, bind_port = host or settings.host, port or settings.port
    app = create_app(settings, host=bind_host)
    console.print(f"Wangge is at http://{bind_host}:{bind_port}/  (health: /health, API docs: /docs)",
                  highlight=False)
    # No proxy headers from uvicorn: it would believe X-Forwarded-For from loopback, where a local
    # nginx and an attacker look alike; the app trusts only WANGGE_TRUSTED_PROXIES.
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="info", proxy_headers=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default: WANGGE_HOST or 127.0.0.1)."),
        port: int = typer.Option(None, help="Port (default: WANGGE_PORT or 8000)."),
    ) -> None:
        """Run the HTTP API and web app."""
        run_server(settings(), host=host, port=port)
