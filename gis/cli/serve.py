"""``wangge serve``: the HTTP API and web app, in one process or several (``--workers N``).

Several processes share nothing in memory: jobs, the sign-in limiter, the tile cache's versions
and tokens live in PostgreSQL (or are announced through it), so any process answers any request.
uvicorn starts each worker process from an import string, and each reads its settings from the
environment and ``.env`` as this command did; what this command set beyond them (``wangge demo``'s
demo mode, say) travels as JSON in ``WANGGE_SERVE_SETTINGS``, only the fields that differ, so that
secrets read from a file are not copied into the environment.
"""

from __future__ import annotations

import json
import math
import os
from typing import TYPE_CHECKING, Any

import typer

from gis.cli.output import console, settings

if TYPE_CHECKING:
    from gis.settings import Settings

SETTINGS_ENV = "WANGGE_SERVE_SETTINGS"
HOST_ENV = "WANGGE_SERVE_HOST"


def app_factory() -> Any:
    """The app of one worker process, from the settings the parent resolved (uvicorn calls this)."""
    from api.app import create_app
    from gis.settings import Settings

    resolved = Settings(**json.loads(os.environ.get(SETTINGS_ENV) or "{}"))
    return create_app(resolved, host=os.environ.get(HOST_ENV) or resolved.host)


def run_server(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Serve the app until interrupted, in ``workers`` processes."""
    import uvicorn

    from api.app import check_secret

    bind_host, bind_port = host or settings.host, port or settings.port
    workers = max(1, workers)
    # No proxy headers from uvicorn: it would believe X-Forwarded-For from loopback, where a local
    # nginx and an attacker look alike; the app trusts only WANGGE_TRUSTED_PROXIES.
    # Idle keep-alive connections are kept 20 s, not uvicorn's 5: under overload the server's and the
    # clients' event loops lag by seconds, a client's pause between two requests then looks longer
    # than 5 s to the server, which closes the connection just as the client sends on it: the
    # client sees a ReadError with no answer (bench/load.py's transport errors, issue 20).
    options: dict[str, Any] = {"host": bind_host, "port": bind_port, "log_level": "info", "proxy_headers": False,
                               "timeout_keep_alive": 20}
    if workers == 1:
        from api.app import create_app

        app = create_app(settings, host=bind_host)
        announce(bind_host, bind_port, settings, workers)
        uvicorn.run(app, **options)
        return
    check_secret(settings, host=bind_host)  # refused here once, not in every child
    settings = share_pool(settings, workers)
    from gis.settings import Settings

    fresh = Settings().model_dump(mode="json")
    os.environ[SETTINGS_ENV] = json.dumps({k: v for k, v in settings.model_dump(mode="json").items()
                                           if fresh.get(k) != v})
    os.environ[HOST_ENV] = bind_host
    announce(bind_host, bind_port, settings, workers)
    uvicorn.run("gis.cli.serve:app_factory", factory=True, workers=workers, **options)


def share_pool(settings: Settings, workers: int) -> Settings:
    """Settings whose default connection pool is split among ``workers`` processes (a pool set explicitly stays).

    Each process admits as many requests at once as its pool holds (api.ratelimit.ConcurrencyLimit);
    N processes with one process's pool would put N times the queries on the same database and
    cores, and N × 40 connections run into PostgreSQL's max_connections (100–200) at a handful of
    processes. Split, the whole server holds what one process did.
    """
    changes = {}
    for name in ("db_pool_size", "db_max_overflow"):
        if name not in settings.model_fields_set:
            default = type(settings).model_fields[name].default
            changes[name] = max(2 if name == "db_pool_size" else 0, math.ceil(default / workers))
    return settings.model_copy(update=changes) if changes else settings


def announce(host: str, port: int, settings: Settings, workers: int) -> None:
    processes = "one process" if workers == 1 else f"{workers} processes"
    console.print(f"Wangge is at http://{host}:{port}/  (health: /health, API docs: /docs; {processes}, "
                  f"{settings.job_workers} job worker(s) each)", highlight=False)


def default_workers() -> int:
    """Every core of the machine (what ``wangge demo`` serves with)."""
    return max(1, os.cpu_count() or 1)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option(None, help="Address to listen on (default: WANGGE_HOST or 127.0.0.1)."),
        port: int = typer.Option(None, help="Port (default: WANGGE_PORT or 8000)."),
        workers: int = typer.Option(1, min=1, help="Server processes; each runs WANGGE_JOB_WORKERS job workers "
                                                   "(default 1). Jobs, sign-in limits and caches are shared "
                                                   "through PostgreSQL, so any process answers any request."),
    ) -> None:
        """Run the HTTP API and web app."""
        run_server(settings(), host=host, port=port, workers=workers)
