"""Connections: which database, engines, and turning connection failures into one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from gis.db.cluster import EXTENSIONS, EmbeddedCluster
from gis.errors import DatabaseUnreachable, SetupError
from gis.settings import Settings

if TYPE_CHECKING:
    # The ORM is imported by the functions that make sessions: `wangge db status` needs none.
    from sqlalchemy.orm import Session, sessionmaker


def cluster_for(settings: Settings, **kwargs: Any) -> EmbeddedCluster:
    """The embedded cluster these settings describe."""
    return EmbeddedCluster(
        settings.state_dir(), port=settings.pg_port, auto_install=settings.auto_install, **kwargs
    )


def database_url(settings: Settings) -> str:
    """The libpq URL of the database: ``WANGGE_DATABASE_URL`` or the embedded cluster's."""
    if settings.database_url:
        return settings.database_url
    return cluster_for(settings).url(settings.db_name)


def sqlalchemy_url(url: str) -> str:
    """The same URL with the psycopg 3 driver named, as SQLAlchemy needs it."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The URL as libpq and psycopg take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """host:port/dbname, with no password: safe to print and log."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine that checks connections before use, so a restarted database is survived."""
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("connect_args", {"connect_timeout": 5, "application_name": "wangge"})
    return create_engine(sqlalchemy_url(url), **kwargs)


def unavailable(url: str, exc: BaseException) -> DatabaseUnreachable:
    """A one-line error naming the server that could not be reached and why (for logs and the CLI, not callers)."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = reason[0] if reason else type(exc).__name__
    # libpq repeats the address in its message; keep the part that says why.
    first = first.split(": ", 1)[-1] if first.startswith("connection") else first
    return DatabaseUnreachable(f"cannot reach PostgreSQL at {describe_url(url)}: {first}")


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailable (one line, naming the host) unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (OperationalError, DBAPIError) as exc:
        raise unavailable(engine.url.render_as_string(hide_password=True), exc) from None


def versions(engine: Engine) -> dict[str, str | None]:
    """Versions of PostgreSQL, PostGIS and pgRouting in this database."""
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar_one()
        installed: dict[str, str] = dict(conn.execute(text("SELECT extname, extversion FROM pg_extension")).all())
    return {"postgresql": pg, "postgis": installed.get("postgis"), "pgrouting": installed.get("pgrouting")}


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it is missing, with PostGIS and pgRouting."""
    target = make_url(url)
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{target.database}"')
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None
    except psycopg.errors.InsufficientPrivilege:
        pass  # no right to create databases: the database must exist already; the next step says so
    create_extensions(url)


def create_extensions(url: str) -> None:
    """CREATE EXTENSION postgis and pgrouting, with a clear error when the server lacks them."""
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
            for ext in EXTENSIONS:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None
    except (psycopg.errors.FeatureNotSupported, psycopg.errors.UndefinedFile) as exc:
        raise SetupError(f"the server at {describe_url(url)} lacks an extension: {str(exc).splitlines()[0]}") from None
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SetupError(
            f"cannot create extensions postgis and pgrouting in {describe_url(url)}: {str(exc).splitlines()[0]}; "
            "ask a superuser to run CREATE EXTENSION for them"
        ) from None


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (closing other sessions first)."""
    target = make_url(url)
    admin = libpq_url(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back entirely on any error."""
    from sqlalchemy.orm import Session

    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
