"""Backups: ``wangge backup FILE`` and ``wangge restore FILE``.

A backup is an uncompressed tar with two members, in this order:

- ``manifest.json``: the format, the Wangge version, the Alembic schema revision, the PostgreSQL and
  PostGIS versions, the row count of every table and the SHA-256 of the dump;
- ``database.pgdump``: ``pg_dump --format=custom`` of the whole database (compressed by pg_dump).

The revision and the row counts are read in the same snapshot that pg_dump dumps
(``pg_export_snapshot``), so they describe exactly the rows in the file even while the app writes.
A restore checks the manifest before it touches anything, restores into a new database on the same
server, checks PostGIS and the row counts there, and only then swaps it in for the configured one;
a failed restore leaves the target as it was. Passwords reach pg_dump/pg_restore through
``PGPASSWORD`` in their environment, never on a command line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

import gis
from gis.db import migrate as migrations
from gis.db.cluster import Server, find_servers
from gis.db.engine import describe_url, drop_database, libpq_url, unavailable
from gis.db.setup import migrate_and_seed
from gis.errors import Conflict, InvalidInput, SetupError
from gis.progress import Progress, noop_progress

FORMAT = "wangge-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP = "database.pgdump"
# Tables that say nothing about whether a database holds a deployment's data: what every migrated
# database is seeded with (schema revision, roles, facility catalogue, the kinds of need a community
# starts from) and the tile-cache counters.
BOOKKEEPING = frozenset({"alembic_version", "role", "facility_type", "need_kind", "layer_version"})

@dataclass
class Manifest:
    """What a backup says about itself (``manifest.json``)."""

    wangge_version: str
    schema_revision: str | None
    postgresql: str
    postgis: str | None
    database: str
    created_at: str
    dump_sha256: str
    dump_bytes: int
    row_counts: dict[str, int] = field(default_factory=dict)
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- connections and programs -------------------------------------------------------------------


def _connect(url: str, **kwargs: Any) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(libpq_url(url), connect_timeout=5, **kwargs)
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None


def libpq_env(url: str) -> dict[str, str]:
    """The environment that points libpq programs at ``url``: the password in PGPASSWORD, never in argv."""
    parsed = make_url(libpq_url(url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update({"PGHOST": parsed.host or "localhost", "PGPORT": str(parsed.port or 5432),
                "PGDATABASE": parsed.database or "", "PGCONNECT_TIMEOUT": "10"})
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    for key, value in parsed.query.items():
        if key in {"sslmode", "sslrootcert", "sslcert", "sslkey", "options"}:
            env[f"PG{key.upper()}"] = value if isinstance(value, str) else value[-1]
    return env


def client_for(server_version_num: int, *, servers: list[Server] | None = None) -> Server:
    """The installed PostgreSQL programs for a server: the same major, else the nearest newer one."""
    major = server_version_num // 10000
    candidates = find_servers() if servers is None else servers
    usable = sorted((s for s in candidates if s.major >= major and (s.bin_dir / "pg_dump").exists()),
                    key=lambda s: s.major)
    if not usable:
        raise SetupError(f"the database runs PostgreSQL {major} but no pg_dump of version {major} or newer is "
                         f"installed; run: sudo apt-get install -y postgresql-client-{major}")
    return usable[0]


def _run(args: list[str], *, env: Mapping[str, str], what: str, progress: Progress, marker: str,
         total: int) -> None:
    """Run pg_dump/pg_restore --verbose, advancing progress once per table it reports."""
    seen, tail = 0, []
    with subprocess.Popen(args, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          errors="replace") as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if marker in line:
                seen += 1
                progress(line.rsplit(" ", 1)[-1].strip().strip('"'), min(seen / max(total, 1), 1.0))
            elif "error" in line.lower() or "fatal" in line.lower():
                tail.append(line.strip())
    if proc.returncode != 0:
        raise SetupError(f"{what} failed (exit {proc.returncode}): {tail[0] if tail else 'no message'}")


def _user_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """Ordinary tables in the public schema that no extension owns (PostGIS's spatial_ref_sys is left out)."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT EXISTS ("
        "  SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') "
        "ORDER BY c.relname").fetchall()
    return [r[0] for r in rows]


def _value(conn: psycopg.Connection[Any], sql: str) -> Any:
    """The one value of a query that always answers one row (SHOW, count, a function call)."""
    row = conn.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from {sql!r}")
    return row[0]


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact row counts of every table of ours."""
    return {t: _value(conn, f'SELECT count(*) FROM public."{t}"') for t in _user_tables(conn)}


def _revision(conn: psycopg.Connection[Any]) -> str | None:
    if "alembic_version" not in _user_tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


# -- backup -------------------------------------------------------------------------------------


def backup_database(url: str, path: Path, *, progress: Progress = noop_progress) -> Manifest:
    """Write a backup of the database at ``url`` to ``path`` (replaced only once the backup is complete)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; name the backup file to write")
    if not path.parent.exists():
        raise InvalidInput(f"cannot write {path}: folder {path.parent} does not exist")
    database = make_url(url).database or ""
    with _connect(url) as conn:
        progress("reading schema revision and row counts", 0.0)
        version_num = int(_value(conn, "SHOW server_version_num"))
        postgresql = _value(conn, "SHOW server_version")
        postgis = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
        conn.commit()
        # One snapshot for the manifest and the dump: counts and revision match the rows in the file.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = _value(conn, "SELECT pg_export_snapshot()")
        counts = row_counts(conn)
        revision = _revision(conn)
        server = client_for(version_num)
        with tempfile.TemporaryDirectory(prefix=".wangge-backup-", dir=path.parent) as tmp:
            dump = Path(tmp) / DUMP
            _run([str(server.bin_dir / "pg_dump"), "--format=custom", "--verbose", f"--snapshot={snapshot}",
                  f"--file={dump}"],
                 env=libpq_env(url), what=f"pg_dump of {describe_url(url)}", progress=progress,
                 marker="dumping contents of table", total=len(counts))
            conn.rollback()
            progress("writing the archive", 1.0)
            manifest = Manifest(wangge_version=gis.__version__, schema_revision=revision, postgresql=postgresql,
                                postgis=postgis[0] if postgis else None, database=database,
                                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                                dump_sha256=_sha256(dump), dump_bytes=dump.stat().st_size, row_counts=counts)
            partial = Path(tmp) / "backup.tar"
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                body = json.dumps(manifest.as_dict(), indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(body), int(datetime.now(UTC).timestamp()), 0o600
                tar.addfile(info, io.BytesIO(body))
                tar.add(dump, arcname=DUMP)
            partial.chmod(0o600)  # residents' personal data is in there
            os.replace(partial, path)
    return manifest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading a backup ---------------------------------------------------------------------------


@contextmanager
def open_backup(path: Path) -> Iterator[tuple[Manifest, Path]]:
    """The manifest and the checked dump (in a temporary folder) of a backup file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such backup file")

    def damaged(why: str) -> InvalidInput:
        return InvalidInput(f"{path} is not a readable Wangge backup (truncated or damaged: {why})")

    # Next to the file (the dump may be large for /tmp), unless that folder is read-only (a mounted medium).
    scratch = path.parent if os.access(path.parent, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix=".wangge-restore-", dir=scratch) as tmp:
        try:
            with tarfile.open(path, "r:") as tar:
                member = tar.next()
                if member is None or member.name != MANIFEST:
                    raise damaged(f"it does not start with {MANIFEST}")
                raw = tar.extractfile(member)
                data = json.loads(raw.read() if raw else b"")
                dump_member = tar.next()
                if dump_member is None or dump_member.name != DUMP or not dump_member.isfile():
                    raise damaged(f"{DUMP} is missing")
                dump = Path(tmp) / DUMP
                source = tar.extractfile(dump_member)
                assert source is not None
                with dump.open("wb") as out:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        out.write(block)
        except (tarfile.TarError, EOFError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise damaged(str(exc) or type(exc).__name__) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise damaged(f"{MANIFEST} is not a {FORMAT} manifest")
        if int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise InvalidInput(f"{path} uses backup format {data['format_version']}; this Wangge reads up to "
                               f"{FORMAT_VERSION}: upgrade Wangge to restore it")
        try:
            manifest = Manifest(**{k: data[k] for k in Manifest.__dataclass_fields__ if k in data})
        except TypeError as exc:
            raise damaged(f"{MANIFEST}: {exc}") from None
        if dump.stat().st_size != manifest.dump_bytes or _sha256(dump) != manifest.dump_sha256:
            raise damaged(f"{DUMP} holds {dump.stat().st_size} of {manifest.dump_bytes} bytes or its checksum differs")
        yield manifest, dump


def check_revision(manifest: Manifest, *, path: Path) -> bool:
    """Refuse a backup from a newer schema than this code knows; True when it needs migrating to head."""
    head = migrations.head_revision()
    backup = manifest.schema_revision
    if backup is None or backup == head:
        return backup is None
    scripts = ScriptDirectory.from_config(migrations.alembic_config("postgresql://x@localhost/x"))
    try:
        known = scripts.get_revision(backup) is not None
    except CommandError:
        known = False
    if not known:
        raise InvalidInput(f"{path} holds schema revision {backup} (Wangge {manifest.wangge_version}), newer than "
                           f"this code's head {head} (Wangge {gis.__version__}): upgrade Wangge, then restore")
    return True


# -- restore ------------------------------------------------------------------------------------


def describe_contents(url: str) -> dict[str, int] | None:
    """Non-empty tables of ours in the database at ``url`` (bookkeeping aside); None when it does not exist."""
    target = make_url(url)
    with _connect(target.set(database="postgres").render_as_string(hide_password=False), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)).fetchone() is None:
            return None
    with _connect(url) as conn:
        return {t: n for t, n in row_counts(conn).items() if n and t not in BOOKKEEPING}


def restore_database(url: str, path: Path, *, replace: bool = False,
                     progress: Progress = noop_progress) -> dict[str, Any]:
    """Restore a backup into the database at ``url`` (refused when it holds data, unless ``replace``)."""
    path = Path(path)
    with open_backup(path) as (manifest, dump):
        needs_migration = check_revision(manifest, path=path)
        target = make_url(url)
        held = describe_contents(url)
        if held and not replace:
            raise Conflict(f"replace: {describe_url(url)} holds data ({sum(held.values())} rows in {len(held)} "
                           f"tables, e.g. {', '.join(sorted(held)[:3])}); confirm to replace it with {path}",
                           details={"field": "replace", "tables": held})
        progress("creating a staging database", 0.0)
        admin = target.set(database="postgres").render_as_string(hide_password=False)
        staging_name = f"{target.database}_restoring_{uuid.uuid4().hex[:8]}"[:63]
        staging = target.set(database=staging_name).render_as_string(hide_password=False)
        with _connect(admin, autocommit=True) as conn:
            version_num = int(_value(conn, "SHOW server_version_num"))
            try:
                conn.execute(f'CREATE DATABASE "{staging_name}" TEMPLATE template0 ENCODING \'UTF8\'')
            except psycopg.errors.InsufficientPrivilege as exc:
                raise SetupError(f"cannot create a database on {describe_url(admin)} to restore into: "
                                 f"{str(exc).splitlines()[0]}") from None
        try:
            server = client_for(version_num)
            # --no-owner: objects belong to whoever restores, so a backup moves between servers and roles.
            # --single-transaction + --exit-on-error: the staging database is whole or untouched.
            _run([str(server.bin_dir / "pg_restore"), "--verbose", "--no-owner", "--no-privileges",
                  "--single-transaction", "--exit-on-error", f"--dbname={staging_name}", str(dump)],
                 env=libpq_env(staging), what=f"pg_restore of {path}", progress=progress,
                 marker="processing data for table", total=len(manifest.row_counts))
            with _connect(staging) as conn:
                postgis = _value(conn, "SELECT postgis_lib_version()")
                restored = row_counts(conn)
            missing = {t: (n, restored.get(t)) for t, n in manifest.row_counts.items() if restored.get(t) != n}
            if missing:
                raise InvalidInput(f"{path}: the restored rows differ from the backup's manifest "
                                   f"(table: manifest, restored) {missing}")
        except BaseException:
            drop_database(staging)
            raise
        progress("swapping in the restored database", 1.0)
        drop_database(url)
        with _connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{staging_name}" RENAME TO "{target.database}"')
    revision = manifest.schema_revision
    if needs_migration:
        progress(f"migrating from {revision} to head", 1.0)
        migrate_and_seed(url)
        revision = migrations.head_revision()
    return {"file": str(path), "database": describe_url(url), "replaced": bool(held),
            "backup_revision": manifest.schema_revision, "revision": revision, "migrated": needs_migration,
            "postgis": postgis, "tables": len(manifest.row_counts), "rows": sum(manifest.row_counts.values()),
            "created_at": manifest.created_at, "wangge_version": manifest.wangge_version}
