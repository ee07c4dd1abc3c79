"""Shared CLI plumbing: consoles, the --json option, progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from gis.settings import Settings

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
# A bare --dask gets the value "local" from gis.cli.with_dask_default (click has no optional values).
DaskOption = Annotated[str | None, typer.Option(
    "--dask", metavar="[ADDRESS]",
    help="With --all-districts: one Dask task per district. A bare --dask starts a LocalCluster on this machine; "
         "--dask tcp://HOST:8786 uses a running scheduler (its workers need wangge and must reach the database).")]


def settings() -> Settings:
    """Settings for this invocation, read from the environment now (never at import)."""
    from gis.settings import Settings

    return Settings()


def log(message: str) -> None:
    err_console.print(f"[dim]·[/] {message}", highlight=False)


def emit(data: Any, *, as_json: bool, human: str | None = None) -> None:
    """Figures to stdout: JSON when asked, else the human text (or pretty-printed data)."""
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif human is not None:
        console.print(human, highlight=False)
    else:
        console.print_json(data=data, default=str)


@contextmanager
def progress_bar(description: str, total: float = 1.0) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``update(stage, fraction)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=total)

        def update(stage: str, fraction: float) -> None:
            progress.update(task, description=f"{description}: {stage}", completed=fraction * total)

        yield update
        progress.update(task, completed=total)


@contextmanager
def db_transaction() -> Iterator[Any]:
    """A session on the configured database, committed on success, rolled back on any error."""
    from gis.db.engine import check_connection, database_url, make_engine, transaction

    engine = make_engine(database_url(settings()))
    try:
        check_connection(engine)
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


def exit_if_districts_failed(report: Mapping[str, Any], stored: str) -> None:
    """After an --all-districts run: name each failed district on stderr and exit 1 (the others' ``stored`` landed)."""
    failed = report["failed"]
    if not failed:
        return
    err_console.print(f"[bold red]error:[/] {len(failed)} of {len(report['district_codes'])} districts failed "
                      f"(nothing was stored for them; the others' {stored} are stored): "
                      + "; ".join(f"{f['district_code']}: {f['error']}" for f in failed), highlight=False)
    raise typer.Exit(1)
