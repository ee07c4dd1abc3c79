"""`wangge import addresses|residents` and `wangge keys` on a scratch database, through the real command line:
a GBK register loads, a bad one is refused whole with one line naming the row, a re-import changes
nothing, and neither the database nor a `wangge backup` file shows an ID number without the key."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import register_files as rf
from helpers import ID_KEY, fresh_database
from sqlalchemy import text
from typer.testing import CliRunner, Result

from gis.cli import app
from gis.db.engine import libpq_url, make_engine, transaction
from gis.errors import SetupError
from gis.services import backup as backup_service
from gis.services import privacy
from gis.settings import DEMO_ID_KEY, Settings

REPO = Path(__file__).resolve().parents[2]
KEYS = privacy.id_keys(Settings(id_key=ID_KEY))


@pytest.fixture(scope="module")
def url(template_database_url: str) -> Iterator[str]:
    with fresh_database(template_database_url, prefix="wangge_registers") as db_url:
        yield db_url


@pytest.fixture(scope="module")
def files(url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("registers")
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            ids = rf.small_district(session)
            rows = rf.address_rows(session, ids)
    finally:
        engine.dispose()
    people = rf.register_rows(60, [r["地址"] for r in rows])
    bad = [dict(p) for p in people]
    bad[40]["身份证号"] = rf.with_bad_checksum(bad[40]["身份证号"])
    return {"addresses": rf.write_csv(out / "addresses.csv", rows),
            "register": rf.write_csv(out / "register.csv", people, encoding="gbk"),
            "bad": rf.write_csv(out / "register_bad.csv", bad, encoding="gbk"),
            "ids": [p["身份证号"] for p in people]}


def wangge(url: str, *args: str, **env: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"WANGGE_DATABASE_URL": url, "COLUMNS": "200",
                                                    "WANGGE_ID_KEY": ID_KEY, **env})


def snapshot(url: str) -> dict:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            from sqlalchemy.orm import Session

            return rf.snapshot(Session(bind=conn))
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def loaded(url: str, files: dict) -> dict:
    addresses = wangge(url, "import", "addresses", str(files["addresses"]), "--district-code", rf.DISTRICT, "--json")
    assert addresses.exit_code == 0, addresses.output
    register = wangge(url, "import", "residents", str(files["register"]), "--district-code", rf.DISTRICT, "--json")
    assert register.exit_code == 0, register.output
    return {"addresses": json.loads(addresses.stdout), "register": json.loads(register.stdout)}


def test_the_register_loads_and_every_registered_building_is_recorded(url: str, loaded: dict) -> None:
    assert loaded["addresses"]["matched"] == 6
    report = loaded["register"]
    assert report["encoding"] == "gb18030" and report["living_here"] == 60 and report["households"] == 20
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sources = conn.execute(text("SELECT households_source, sum(households) FROM building "
                                        "WHERE district_code = :d GROUP BY 1"), {"d": rf.DISTRICT}).all()
    finally:
        engine.dispose()
    assert dict(sources) == {"recorded": 20}


def test_a_bad_checksum_refuses_the_file_with_one_line_and_writes_nothing(url: str, files: dict,
                                                                           loaded: dict) -> None:
    before = snapshot(url)
    env = {**os.environ, "WANGGE_DATABASE_URL": url, "WANGGE_ID_KEY": ID_KEY}
    done = subprocess.run([sys.executable, "-m", "gis.cli", "import", "residents", str(files["bad"]),
                           "--district-code", rf.DISTRICT], capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: register_bad.csv: row 42, column 身份证号"), done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(url) == before


def test_a_second_import_changes_nothing(url: str, files: dict, loaded: dict) -> None:
    before = snapshot(url)
    again = wangge(url, "import", "residents", str(files["register"]), "--district-code", rf.DISTRICT, "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert (report["inserted"], report["updated"], report["unchanged"], report["moved"]) == (0, 0, 60, 0)
    assert snapshot(url) == before


def test_id_numbers_are_unreadable_in_the_database_and_the_backup_without_the_key(
        url: str, files: dict, loaded: dict, tmp_path: Path) -> None:
    with psycopg.connect(libpq_url(url)) as conn:
        stored = [row[0] for row in conn.execute("SELECT id_number FROM resident_private")]
        version = conn.info.server_version
    assert len(stored) == 60 and all(s.startswith("wg1.") for s in stored)
    assert not set(stored) & set(files["ids"])

    backup = tmp_path / "registers.wangge-backup"
    assert wangge(url, "backup", str(backup)).exit_code == 0
    with tarfile.open(backup) as tar:
        tar.extract("database.pgdump", tmp_path, filter="data")
    pg_restore = backup_service.client_for(version).bin_dir / "pg_restore"
    dump = subprocess.run([str(pg_restore), "-f", "-", "--data-only", str(tmp_path / "database.pgdump")],
                          capture_output=True, text=True, check=True).stdout
    assert not [i for i in files["ids"] if i in dump or i[:6] + i[6:14] in dump]
    tokens = re.findall(r"wg1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+", dump)
    assert len(tokens) == 60
    # With the key the backup is whole: every token decrypts to a number of the register.
    assert {KEYS.decrypt(t) for t in tokens} == set(files["ids"])


def test_keys_check_reads_with_the_key_and_fails_without_it(url: str, loaded: dict) -> None:
    good = wangge(url, "keys", "check", "--json")
    assert good.exit_code == 0 and json.loads(good.stdout)["checked"] == 60
    other = wangge(url, "keys", "new").stdout.strip()
    wrong = wangge(url, "keys", "check", WANGGE_ID_KEY=other)
    assert wrong.exit_code != 0 and "neither WANGGE_ID_KEY" in str(wrong.exception)


@pytest.mark.parametrize("environment", ["local", "production", "staging"])
def test_the_demo_key_is_refused_outside_demo_mode_whatever_the_environment(url: str, files: dict,
                                                                            environment: str) -> None:
    before = snapshot(url)
    for command in (["import", "residents", str(files["register"]), "--district-code", rf.DISTRICT],
                    ["keys", "check"], ["keys", "rotate"], ["generate", "residents", "--district-code", rf.DISTRICT]):
        done = wangge(url, *command, WANGGE_ID_KEY=DEMO_ID_KEY, WANGGE_ENVIRONMENT=environment)
        assert done.exit_code != 0 and "public demo key outside demo mode" in str(done.exception), command
    assert snapshot(url) == before


def test_the_demo_key_is_used_in_demo_mode_only_and_never_in_production() -> None:
    assert privacy.id_keys(Settings(id_key=DEMO_ID_KEY, demo_mode=True)).current_id
    with pytest.raises(SetupError, match="public demo key in production"):
        privacy.id_keys(Settings(id_key=DEMO_ID_KEY, demo_mode=True, environment="production"))


def test_key_rotation_reencrypts_and_people_are_still_found(url: str, files: dict, loaded: dict) -> None:
    old = ID_KEY
    new = wangge(url, "keys", "new").stdout.strip()
    rotated = wangge(url, "keys", "rotate", "--json", WANGGE_ID_KEY=new, WANGGE_ID_KEYS_PREVIOUS=json.dumps([old]))
    assert rotated.exit_code == 0 and json.loads(rotated.stdout)["reencrypted"] == 60
    assert wangge(url, "keys", "check", WANGGE_ID_KEY=new).exit_code == 0
    again = wangge(url, "import", "residents", str(files["register"]), "--district-code", rf.DISTRICT, "--json",
                   WANGGE_ID_KEY=new)
    assert json.loads(again.stdout)["unchanged"] == 60
    back = wangge(url, "keys", "rotate", WANGGE_ID_KEY=old, WANGGE_ID_KEYS_PREVIOUS=json.dumps([new]))
    assert back.exit_code == 0 and wangge(url, "keys", "check").exit_code == 0


def test_the_register_file_itself_is_gbk(files: dict) -> None:
    raw = files["register"].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert next(csv.reader([raw.decode("gbk").splitlines()[0]]))[:2] == ["姓名", "身份证号"]
