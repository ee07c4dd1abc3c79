"""``wangge db status`` without SQLAlchemy: where the database is, whether it answers, which versions and revision.

One psycopg connection and three queries. Loading SQLAlchemy for them was a third of the command's time (issue 20:
a typical command's overhead under 0.6 s); the URL is read with ``urllib`` for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from gis.db.cluster import EmbeddedCluster
from gis.db.revisions import head_revision
from gis.errors import DatabaseUnreachable, WanggeError
from gis.settings import Settings


@dataclass
class DatabaseStatus:
    """What ``wangge db status`` reports."""

    mode: str  # "embedded" | "external"
    where: str  # host:port/db, no password
    running: bool
    pid: int | None = None
    data_dir: str | None = None
    versions: Mapping[str, str | None] | None = None
    revision: str | None = None
    head: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _libpq(url: str) -> str:
    """``postgresql+psycopg://…`` as libpq takes it (``postgresql://…``)."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" if scheme.startswith("postgres") else scheme) + sep + rest


def _where(url: str) -> str:
    """host:port/dbname, with no password (as ``gis.db.engine.describe_url`` says it)."""
    parts = urlsplit(_libpq(url))
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{unquote(parts.path.lstrip('/'))}"


def _ask(url: str, status: DatabaseStatus) -> None:
    import psycopg

    try:
        with psycopg.connect(_libpq(url), connect_timeout=5, application_name="wangge") as conn:
            server = conn.execute("SHOW server_version").fetchone()
            installed: dict[str, str] = dict(conn.execute("SELECT extname, extversion FROM pg_extension").fetchall())
            has_table = conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL").fetchone()
            heads = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version").fetchall()] \
                if has_table and has_table[0] else []
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = reason.split(": ", 1)[-1] if reason.startswith("connection") else reason
        raise DatabaseUnreachable(f"cannot reach PostgreSQL at {_where(url)}: {reason}") from None
    status.running = True
    status.versions = {"postgresql": server[0] if server else None, "postgis": installed.get("postgis"),
                       "pgrouting": installed.get("pgrouting")}
    status.revision = heads[0] if len(heads) == 1 else (", ".join(heads) or None)


def database_status(settings: Settings) -> DatabaseStatus:
    """Where the database is, whether it answers, and at which versions and schema revision."""
    head = head_revision()
    if settings.database_url:
        url = settings.database_url
        status = DatabaseStatus(mode="external", where=_where(url), running=False, head=head)
    else:
        cluster = EmbeddedCluster(settings.state_dir(), port=settings.pg_port, auto_install=settings.auto_install)
        if not cluster.exists:
            return DatabaseStatus(mode="embedded", where="(not created)", running=False, head=head,
                                  data_dir=str(cluster.data_dir), error="no cluster yet: run `wangge db start`")
        url = cluster.url(settings.db_name)
        pid = cluster.pid()
        status = DatabaseStatus(mode="embedded", where=_where(url), running=pid is not None, pid=pid,
                                data_dir=str(cluster.data_dir), head=head)
        if pid is None:
            status.error = "stopped: run `wangge db start`"
            return status
    try:
        _ask(url, status)
    except WanggeError as exc:
        status.running = False
        status.error = str(exc)
    return status
