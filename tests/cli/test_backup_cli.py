"""`wangge backup` / `wangge restore` round trips between scratch databases on the embedded cluster.

The source holds the API test world (boundaries, buildings, residents with private data, walk
network, users); it is backed up once per module. Each restore goes into a database of its own
that the test drops afterwards. The error paths run through the console script's entry point: one
line on stderr naming the file, exit status 1.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import api_world
import cli_run
import psycopg
import pytest
from helpers import fresh_database
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db import migrate as migrations
from gis.db.engine import drop_database, ensure_database, libpq_url, make_engine, transaction
from gis.db.setup import migrate_and_seed, scratch_database
from gis.errors import InvalidInput
from gis.services import backup as backup_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GEOMETRY_TABLES = ("district", "street", "community", "grid", "building", "walk_node", "walk_edge")


@pytest.fixture(scope="module")
def source_url(template_database_url: str) -> Iterator[str]:
    with fresh_database(template_database_url, prefix="wangge_backup_src") as url:
        engine = make_engine(url)
        try:
            with transaction(engine) as session:
                api_world.build_world(session)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(scope="module")
def backup_file(source_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "world.wangge-backup"
    done = wangge(source_url, "backup", str(path), "--json")
    assert done.exit_code == 0, done.output + repr(done.exception)
    summary = json.loads(done.stdout)
    assert summary["schema_revision"] == migrations.head_revision() and summary["rows"] > 0
    return path


@pytest.fixture
def target_url(source_url: str) -> Iterator[str]:
    """The name of a database that does not exist yet (restore creates it); dropped after the test."""
    url = make_url(source_url).set(database=f"wangge_backup_dst_{uuid.uuid4().hex[:10]}").render_as_string(
        hide_password=False)
    try:
        yield url
    finally:
        drop_database(url)


def wangge(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"WANGGE_DATABASE_URL": url, "COLUMNS": "200"})


def one_error_line(url: str, *args: str) -> str:
    """Run the real ``wangge ARGS`` through the console script's entry point and return its one error line."""
    env = {**os.environ, "WANGGE_DATABASE_URL": url}
    done = cli_run.wangge(env, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_the_password_never_reaches_the_output(source_url: str, tmp_path: Path) -> None:
    password = make_url(source_url).password
    assert password
    done = wangge(source_url, "backup", str(tmp_path / "b.tar"))
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert password not in done.stdout + done.stderr
    assert oct((tmp_path / "b.tar").stat().st_mode & 0o777) == oct(0o600)  # it holds residents' personal data
    assert [p.name for p in tmp_path.iterdir()] == ["b.tar"]  # no temporary files left behind
    env = backup_service.libpq_env(source_url)
    assert env["PGPASSWORD"] == password and password not in "".join(v for k, v in env.items() if k != "PGPASSWORD")


def snapshot(url: str) -> dict[str, list[tuple[str, bytes | None]]]:
    """Every row of every table of ours: its non-geometry columns as JSON and its geometry as EWKB."""
    with psycopg.connect(libpq_url(url)) as conn:
        tables = backup_service._user_tables(conn)
        with_geom = {r[0] for r in conn.execute(
            "SELECT f_table_name FROM geometry_columns WHERE f_table_schema = 'public' AND f_geometry_column = 'geom'")}
        rows = {}
        for t in tables:
            if t in with_geom:
                query = f'SELECT (to_jsonb(x) - \'geom\')::text, ST_AsEWKB(geom) FROM public."{t}" x'
            else:
                query = f'SELECT to_jsonb(x)::text, NULL::bytea FROM public."{t}" x'
            rows[t] = sorted((j, bytes(g) if g is not None else None) for j, g in conn.execute(query))
        return rows


def test_round_trip_keeps_every_row_and_geometry(source_url: str, backup_file: Path, target_url: str) -> None:
    done = wangge(target_url, "restore", str(backup_file), "--json")
    assert done.exit_code == 0, done.output + repr(done.exception)
    result = json.loads(done.stdout)
    assert result["revision"] == migrations.head_revision() and not result["migrated"] and result["postgis"]

    before, after = snapshot(source_url), snapshot(target_url)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    for table in GEOMETRY_TABLES:
        assert before[table], f"the world has no {table} rows to compare"
        assert after[table] == before[table], table
    assert after == before
    # PostGIS works in the restored database and its geometries are equal in PostGIS's own terms too.
    with psycopg.connect(libpq_url(target_url)) as conn:
        assert conn.execute("SELECT count(*) FROM grid WHERE ST_SRID(geom) = 4490 AND ST_IsValid(geom)").fetchone()[0] \
            == len(before["grid"])
        area = conn.execute("SELECT sum(ST_Area(geom::geography)) FROM grid").fetchone()[0]
    with psycopg.connect(libpq_url(source_url)) as conn:
        assert conn.execute("SELECT sum(ST_Area(geom::geography)) FROM grid").fetchone()[0] == area


def test_a_database_with_data_is_replaced_only_with_yes(backup_file: Path, target_url: str) -> None:
    assert wangge(target_url, "restore", str(backup_file)).exit_code == 0
    line = one_error_line(target_url, "restore", str(backup_file))
    assert "holds data" in line and "--yes" in line and str(backup_file) in line
    done = wangge(target_url, "restore", str(backup_file), "--yes", "--json")
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert json.loads(done.stdout)["replaced"] is True


def test_a_truncated_backup_is_refused_naming_the_file(backup_file: Path, target_url: str, tmp_path: Path) -> None:
    data = backup_file.read_bytes()
    half = tmp_path / "half.wangge-backup"
    half.write_bytes(data[: len(data) // 2])
    line = one_error_line(target_url, "restore", str(half))
    assert str(half) in line and "truncated or damaged" in line, line
    # Cut inside the manifest, and not a backup at all: the same refusal (in-process, to spare a start-up).
    head, notes = tmp_path / "head.wangge-backup", tmp_path / "notes.txt"
    head.write_bytes(data[:700])
    notes.write_text("hello\n")
    for damaged in (head, notes):
        done = wangge(target_url, "restore", str(damaged))
        assert done.exit_code == 1 and isinstance(done.exception, InvalidInput), done.output + repr(done.exception)
        assert str(damaged) in str(done.exception) and "not a readable Wangge backup" in str(done.exception)
    admin = make_url(target_url).set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(libpq_url(admin)) as conn:
        exists = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                              (make_url(target_url).database,)).fetchone()[0]
    assert exists == 0, "a refused restore created the target database"


def test_a_backup_from_a_newer_schema_is_refused(backup_file: Path, target_url: str, tmp_path: Path) -> None:
    newer = tmp_path / "newer.wangge-backup"
    with tarfile.open(backup_file) as src, tarfile.open(newer, "w") as out:
        for member in src.getmembers():
            body = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == backup_service.MANIFEST:
                manifest = json.loads(body)
                manifest["schema_revision"], manifest["wangge_version"] = "f00dfeedbeef", "9.9.9"
                body = json.dumps(manifest).encode()
                member.size = len(body)
            out.addfile(member, io.BytesIO(body))
    line = one_error_line(target_url, "restore", str(newer))
    assert "f00dfeedbeef" in line and migrations.head_revision() in line and "newer" in line, line


def test_a_backup_from_an_older_schema_is_migrated_to_head(source_url: str, target_url: str, tmp_path: Path) -> None:
    settings = Settings(database_url=None, home=REPO / ".wangge")
    server = make_url(source_url).set(database="postgres").render_as_string(hide_password=False)
    with scratch_database(settings, prefix="wangge_backup_old", server_url=server) as old_url:
        migrations.downgrade(old_url, "-1")
        engine = make_engine(old_url)
        try:
            previous = migrations.current_revision(engine)
        finally:
            engine.dispose()
        assert previous != migrations.head_revision()
        path = tmp_path / "old.wangge-backup"
        assert wangge(old_url, "backup", str(path)).exit_code == 0
    # The target is a freshly set-up, empty database (seeded roles and catalogue only): no --yes needed.
    ensure_database(target_url)
    migrate_and_seed(target_url)
    done = wangge(target_url, "restore", str(path), "--json")
    assert done.exit_code == 0, done.output + repr(done.exception)
    result = json.loads(done.stdout)
    assert result["replaced"] is False
    assert (result["backup_revision"], result["revision"], result["migrated"]) == (
        previous, migrations.head_revision(), True)
    engine = make_engine(target_url)
    try:
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()
