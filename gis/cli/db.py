"""``wangge db``: the database, embedded or external."""

from __future__ import annotations

import typer

from gis.cli.output import JsonOption, emit, log, settings

app = typer.Typer(help="Start, stop and migrate the database.", no_args_is_help=True)


@app.command()
def start(as_json: JsonOption = False) -> None:
    """Create (first time) and start the project-local PostGIS, create the database, migrate."""
    from gis.db.engine import describe_url
    from gis.db.setup import prepare_database
    from gis.db.status import database_status

    s = settings()
    if s.database_url:
        log(f"WANGGE_DATABASE_URL is set: using {describe_url(s.database_url)}, starting no server")
    url = prepare_database(s, log=log)
    status = database_status(s)
    emit(status.as_dict(), as_json=as_json,
         human=f"database ready at {describe_url(url)} (schema {status.revision}); "
               f"PostGIS {(status.versions or {}).get('postgis')}, "
               f"pgRouting {(status.versions or {}).get('pgrouting')}")


@app.command()
def stop() -> None:
    """Stop the project-local server (external servers are never touched)."""
    from gis.db.engine import cluster_for

    s = settings()
    if s.database_url:
        log("WANGGE_DATABASE_URL is set: nothing to stop here")
        return
    stopped = cluster_for(s, log=log).stop()
    typer.echo("stopped" if stopped else "not running")


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Say what database is used, where, whether it answers, and at which schema revision."""
    from gis.db.status import database_status

    st = database_status(settings())
    if as_json:
        emit(st.as_dict(), as_json=True)
    else:
        lines = [f"mode:      {st.mode}", f"where:     {st.where}",
                 f"running:   {'yes' if st.running else 'no'}" + (f" (pid {st.pid})" if st.pid else "")]
        if st.data_dir:
            lines.append(f"data dir:  {st.data_dir}")
        if st.versions:
            lines.append("versions:  " + ", ".join(f"{k} {v}" for k, v in st.versions.items()))
        lines.append(f"schema:    {st.revision or '(none)'} (head {st.head})")
        if st.error:
            lines.append(f"note:      {st.error}")
        emit(None, as_json=False, human="\n".join(lines))
    if not st.running:
        raise typer.Exit(3)


@app.command()
def url() -> None:
    """Print the database URL (with its password: for psql and other tools)."""
    from gis.db.engine import database_url

    typer.echo(database_url(settings()))


@app.command()
def migrate(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Upgrade the schema to a revision (default: head); at head, fill the facility catalogue's missing types."""
    from gis.db.engine import database_url
    from gis.db.setup import migrate_and_seed

    target = database_url(settings())
    migrate_and_seed(target, revision)
    typer.echo(f"schema at {revision}")


@app.command()
def reset(yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")) -> None:
    """Drop the database and create it again, empty, at the newest schema."""
    from gis.db.engine import cluster_for, database_url, describe_url, drop_database
    from gis.db.setup import prepare_database

    s = settings()
    if not s.database_url:
        cluster_for(s, log=log).start()
    target = database_url(s)
    if not yes:
        typer.confirm(f"Delete every row in {describe_url(target)}?", abort=True)
    drop_database(target)
    prepare_database(s, log=log)
    typer.echo(f"reset {describe_url(target)}")
