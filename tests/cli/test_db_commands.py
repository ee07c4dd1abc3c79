"""`wangge db`: the embedded cluster's lifecycle, and clear errors for an unreachable server.

These run the real command in a subprocess against a second, throw-away cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def wangge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gis.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


@pytest.fixture(scope="module")
def cluster_env() -> Iterator[dict[str, str]]:
    # Not pytest's tmp_path: as root the cluster belongs to the postgres user, who cannot enter
    # pytest's private temp folders.
    home = Path(tempfile.mkdtemp(prefix="wangge-cluster-", dir="/tmp"))
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env["WANGGE_HOME"] = str(home / "state")
    yield env
    wangge("db", "stop", env=env)
    shutil.rmtree(home, ignore_errors=True)


def status(env: dict[str, str]) -> dict:
    done = wangge("db", "status", "--json", env=env)
    return json.loads(done.stdout)


def test_start_twice_stop_start_reset(cluster_env: dict[str, str]) -> None:
    first = wangge("db", "start", "--json", env=cluster_env)
    assert first.returncode == 0, first.stderr
    started = json.loads(first.stdout)
    assert started["mode"] == "embedded" and started["running"]
    assert started["versions"]["postgis"] and started["versions"]["pgrouting"]
    assert started["revision"] == started["head"]

    again = wangge("db", "start", "--json", env=cluster_env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["pid"] == started["pid"], "a second start must reuse the running server"

    assert wangge("db", "stop", env=cluster_env).stdout.strip() == "stopped"
    stopped = wangge("db", "status", "--json", env=cluster_env)
    assert stopped.returncode == 3
    assert json.loads(stopped.stdout)["running"] is False
    assert wangge("db", "stop", env=cluster_env).stdout.strip() == "not running"

    # A stale pid file naming a live process that is not postgres must not block the start.
    pid_file = Path(cluster_env["WANGGE_HOME"]) / "pg" / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n/nowhere\n")
    restarted = wangge("db", "start", "--json", env=cluster_env)
    assert restarted.returncode == 0, restarted.stderr
    assert json.loads(restarted.stdout)["running"]
    assert "stale pid file" in restarted.stderr

    url = wangge("db", "url", env=cluster_env).stdout.strip()
    subprocess.run(["psql", url, "-qc", "CREATE TABLE leftover (x int)"], check=True, capture_output=True)
    reset = wangge("db", "reset", "--yes", env=cluster_env)
    assert reset.returncode == 0, reset.stderr
    tables = subprocess.run(["psql", url, "-tAc", "SELECT count(*) FROM pg_tables WHERE tablename = 'leftover'"],
                            capture_output=True, text=True, check=True)
    assert tables.stdout.strip() == "0"
    assert status(cluster_env)["revision"] == started["head"]


def test_unreachable_external_database_gives_one_line_naming_the_host(cluster_env: dict[str, str]) -> None:
    env = {**cluster_env, "WANGGE_DATABASE_URL": "postgresql://someone:secret@127.0.0.1:1/wangge"}
    done = wangge("db", "start", env=env)
    assert done.returncode == 1
    error_lines = [ln for ln in done.stderr.splitlines() if ln.startswith("error:")]
    assert len(error_lines) == 1
    assert "127.0.0.1:1" in error_lines[0]
    assert "Traceback" not in done.stderr
    assert "secret" not in done.stderr


def test_external_url_never_starts_a_server(cluster_env: dict[str, str]) -> None:
    env = {**cluster_env, "WANGGE_DATABASE_URL": "postgresql://someone:secret@127.0.0.1:1/wangge",
           "WANGGE_HOME": cluster_env["WANGGE_HOME"] + "-unused"}
    wangge("db", "start", env=env)
    assert not Path(env["WANGGE_HOME"]).exists()
