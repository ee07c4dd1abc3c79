"""``wangge serve --workers 2`` for real: two processes, each answers /health and the status of one job.

The one subprocess test of the several-process server (the rest of the queue is tested in-process,
tests/api/test_jobs_queue.py). Which process answered a request is read from the operating system:
the worker process holding the server end of the request's TCP connection.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import api_world
import coverage_town as town
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

WAIT_S = 600  # an upper bound against a hang, not a speed requirement
TRIES = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(api_database_url: str, api_engine: Engine) -> Iterator[tuple[int, psutil.Process]]:
    """``wangge serve --workers 2`` on the API world's database; its port and its supervisor process."""
    with api_engine.begin() as conn:
        run_max = conn.execute(text("SELECT coalesce(max(id), 0) FROM coverage_run")).scalar_one()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANGGE_")}
    env.update(WANGGE_DATABASE_URL=api_database_url, WANGGE_SECRET_KEY=api_world.SECRET, WANGGE_JOB_POLL_SECONDS="0.2")
    log = tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen([str(Path(sys.executable).parent / "wangge"), "serve", "--host", "127.0.0.1",
                                "--port", str(port), "--workers", "2"], env=env, cwd=tempfile.gettempdir(),
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(3_000):  # polls, a bound only against a hang
            assert process.poll() is None, f"wangge serve exited with {process.returncode}: {_tail(log)}"
            try:
                if ask(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"wangge serve never answered: {_tail(log)}")
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(60)
        log.close()
        with api_engine.begin() as conn:
            conn.execute(text("DELETE FROM coverage_run WHERE id > :m"), {"m": run_max})


def _tail(log) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


def ask(port: int, path: str, *, method: str = "GET", headers: dict | None = None, body: dict | None = None,
        supervisor: psutil.Process | None = None) -> tuple[int, dict, int | None]:
    """Status, JSON body and (given the supervisor) the pid of the worker process that answered, on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload, headers={**(headers or {}),
                                                          **({"Content-Type": "application/json"} if payload else {})})
        response = conn.getresponse()
        data = json.loads(response.read() or b"null")
        pid = None
        if supervisor is not None:  # the connection is still open (keep-alive): find its server end
            mine = conn.sock.getsockname()[1]
            for child in supervisor.children(recursive=True):
                try:
                    ends = child.net_connections(kind="tcp")
                except psutil.Error:
                    continue
                if any(c.laddr and c.laddr.port == port and c.raddr and c.raddr.port == mine for c in ends):
                    pid = child.pid
        return response.status, data, pid
    finally:
        conn.close()


def test_two_server_processes_each_answer_health_and_the_same_job(server, tokens: dict) -> None:
    port, supervisor = server
    headers = {"Authorization": f"Bearer {tokens['facility']}", **api_world.REASON_HEADER}
    status, job, _ = ask(port, "/coverage/runs", method="POST", headers=headers,
                         body={"district_code": town.DISTRICT, "types": ["kindergarten"], "background": True})
    assert status == 202, job
    health: dict[int, int] = {}
    statuses: dict[int, list[str]] = {}
    for _ in range(TRIES):
        code, body, pid = ask(port, "/health", supervisor=supervisor)
        assert code == 200 and body == {"status": "ok"}
        health[pid] = health.get(pid, 0) + 1
        code, shown, pid = ask(port, f"/jobs/{job['id']}", headers=headers, supervisor=supervisor)
        assert code == 200 and shown["id"] == job["id"]
        statuses.setdefault(pid, []).append(shown["status"])
        if len(health) >= 2 and len([p for p, seen in statuses.items() if "done" in seen]) >= 2:
            break
        time.sleep(0.05)
    workers = {p.pid for p in supervisor.children(recursive=True)}
    assert None not in health and None not in statuses  # every request was traced to a process
    assert len(health) == 2 and set(health) <= workers, health
    # Both processes answered for the job, and both saw it done: its state is not in either's memory.
    assert len(statuses) == 2 and all("done" in seen for seen in statuses.values()), statuses
    code, done, _ = ask(port, f"/jobs/{job['id']}", headers=headers)
    assert done["status"] == "done" and done["links"] == [f"/coverage/runs/{done['result']['run_id']}"]


def test_serve_splits_the_default_pool_among_its_processes_and_keeps_an_explicit_one() -> None:
    from gis.cli.serve import share_pool
    from gis.settings import Settings

    split = share_pool(Settings(database_url=None), 2)
    assert (split.db_pool_size, split.db_max_overflow) == (10, 5)  # one process's 20 + 10, halved
    kept = share_pool(Settings(database_url=None, db_pool_size=6, db_max_overflow=0), 2)
    assert (kept.db_pool_size, kept.db_max_overflow) == (6, 0)
    assert share_pool(Settings(database_url=None), 64).db_pool_size == 2  # never below two connections


def test_a_process_admits_only_requests_its_kept_connections_can_serve() -> None:
    """Admitting into the overflow made each request past the kept connections open and close its own."""
    from api.app import admitted_requests
    from gis.cli.serve import share_pool
    from gis.settings import Settings

    one = Settings(database_url=None)
    assert admitted_requests(one) == one.db_pool_size - 1 == 19
    assert admitted_requests(share_pool(one, 2)) == 9  # 10 kept by each of two processes
    assert admitted_requests(Settings(database_url=None, db_pool_size=1, db_max_overflow=0)) == 1
    assert admitted_requests(Settings(database_url=None, db_pool_size=100)) == 39  # below the 40 threads
