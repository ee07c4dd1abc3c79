"""``wangge backup FILE`` and ``wangge restore FILE``: the whole database, with its schema revision."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gis.cli.output import JsonOption, emit, log, progress_bar, settings
from gis.progress import Progress

if TYPE_CHECKING:
    pass

BackupFile = Annotated[Path, typer.Argument(help="The backup file (a tar: manifest.json + pg_dump custom format).")]


def _configured_url() -> str:
    """The configured database's URL, starting the embedded cluster when it is the one configured."""
    from gis.db.engine import cluster_for, database_url

    s = settings()
    if not s.database_url:
        cluster_for(s, log=log).start()
    return database_url(s)


@contextmanager
def _lazy_progress(description: str) -> Iterator[Progress]:
    """A progress bar that appears at the first update, so a refusal before any work prints one line only."""
    with ExitStack() as stack:
        bar: list[Progress] = []

        def update(stage: str, fraction: float) -> None:
            if not bar:
                bar.append(stack.enter_context(progress_bar(description)))
            bar[0](stage, fraction)

        yield update


def backup(file: BackupFile, as_json: JsonOption = False) -> None:
    """Back up the configured database to FILE (pg_dump custom format, with schema revision and row counts)."""
    from gis.db.engine import describe_url
    from gis.services import backup as backup_service

    url = _configured_url()
    with _lazy_progress(f"backing up {describe_url(url)}") as update:
        manifest = backup_service.backup_database(url, file, progress=update)
    summary = {"file": str(file), "database": describe_url(url), "schema_revision": manifest.schema_revision,
               "wangge_version": manifest.wangge_version, "tables": len(manifest.row_counts),
               "rows": sum(manifest.row_counts.values()), "bytes": file.stat().st_size}
    emit(summary, as_json=as_json,
         human=f"backed up {describe_url(url)} to {file}: {summary['rows']} rows in {summary['tables']} tables, "
               f"schema {manifest.schema_revision}, {summary['bytes']:,} bytes")


def restore(
    file: BackupFile,
    yes: bool = typer.Option(False, "--yes", "-y", help="Replace the configured database even if it holds data."),
    as_json: JsonOption = False,
) -> None:
    """Restore FILE into the configured database, then migrate it to this code's schema if it is older."""
    from gis.db.engine import describe_url
    from gis.services import backup as backup_service

    url = _configured_url()
    with _lazy_progress(f"restoring {file.name} into {describe_url(url)}") as update:
        result = backup_service.restore_database(url, file, replace=yes, progress=update)
    emit(result, as_json=as_json,
         human=f"restored {file} into {result['database']}: {result['rows']} rows in {result['tables']} tables, "
               f"schema {result['revision']}"
               + (f" (migrated from {result['backup_revision']})" if result["migrated"] else "")
               + f", PostGIS {result['postgis']}")


def register(root: typer.Typer) -> None:
    root.command("backup")(backup)
    root.command("restore")(restore)
