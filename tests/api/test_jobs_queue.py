"""The durable job queue across processes: one app queues, another runs; a restart; a worker that dies; the limiter.

Each "process" is an app (or a JobRunner) with an engine of its own on the API database: they
share nothing but PostgreSQL, as the processes of ``wangge serve --workers N`` do. A lease of a
fraction of a second stands in for a killed process's silence; nothing here asserts a duration.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import api_world
import coverage_town as town
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.app import create_app
from api.routes.jobs import describe_job
from gis.db.engine import make_engine
from gis.services.jobs import JobRunner, job_kind

WAIT_S = 600  # an upper bound for a stuck job, not a speed requirement
POLLS = 30_000  # polls of a condition before a test gives up on a hang
LEASE_S = 0.3


@pytest.fixture
def settings(api_app):
    """The API world's settings with ``changes`` (another process of the same deployment)."""
    return lambda **changes: api_app.state.settings.model_copy(update=changes)


@pytest.fixture
def committed(api_engine: Engine) -> Iterator[None]:
    """Remove the coverage runs and marker rows committed during the test."""
    with api_engine.begin() as conn:
        run_max = conn.execute(text("SELECT coalesce(max(id), 0) FROM coverage_run")).scalar_one()
    yield
    with api_engine.begin() as conn:
        conn.execute(text("DELETE FROM coverage_run WHERE id > :m"), {"m": run_max})
        conn.execute(text("DELETE FROM rate_limit WHERE bucket LIKE 'jobtest:%'"))


def until(condition, what: str):
    """Poll ``condition`` until it is true (a bounded number of polls, only against a hang; no clock is judged)."""
    for _ in range(POLLS):
        if found := condition():
            return found
        time.sleep(0.02)
    raise AssertionError(f"still waiting for {what} after {POLLS} polls")


def test_a_job_queued_by_one_app_is_run_by_another_and_read_from_both(api_database_url: str, tokens: dict,
                                                                      settings, committed) -> None:
    queuing = create_app(settings(job_workers=0), url=api_database_url)  # a process that only queues
    working = create_app(settings(job_workers=1), url=api_database_url)
    headers = {"Authorization": f"Bearer {tokens['facility']}", **api_world.REASON_HEADER}
    with TestClient(queuing) as first:
        started = first.post("/coverage/runs", headers=headers,
                             json={"district_code": town.DISTRICT, "types": ["kindergarten"], "background": True})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        assert first.get(f"/jobs/{job_id}", headers=headers).json()["status"] == "queued"  # nobody runs it here
        with TestClient(working) as second:
            done = working.state.jobs.wait(job_id, timeout=WAIT_S)
            assert done.status == "done", done.error
            there = second.get(f"/jobs/{job_id}", headers=headers).json()
        here = first.get(f"/jobs/{job_id}", headers=headers).json()
    assert here == there
    assert here["status"] == "done" and here["fraction"] == 1.0 and here["owner"] == "facility"
    assert here["links"] == [f"/coverage/runs/{here['result']['run_id']}"]
    with TestClient(queuing) as first:
        run = first.get(here["links"][0], headers=headers).json()
    assert run["types"]["kindergarten"]["district"]["households_covered"] == 120 and run["created_by"] == "facility"


MARKERS: dict[str, threading.Event] = {}
CALLS: dict[str, int] = {}


@job_kind("test.marker")
def _write_a_marker(session, progress, *, settings, owner_id, tag: str, block: bool = False) -> dict:
    """Write a row naming this call, then (on the first call of a ``block`` job) wait to be released."""
    CALLS[tag] = call = CALLS.get(tag, 0) + 1
    session.execute(text("INSERT INTO rate_limit (bucket, window_start, hits) VALUES (:b, now(), 1)"),
                    {"b": f"jobtest:{tag}:{call}"})
    progress("written", 0.5)
    if block and call == 1:
        MARKERS[tag].wait(WAIT_S)
    return {"call": call}


def markers(engine: Engine, tag: str) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text("SELECT bucket FROM rate_limit WHERE bucket LIKE :t ORDER BY bucket"),
                                 {"t": f"jobtest:{tag}:%"}))


def test_a_queued_job_is_run_after_a_restart(api_database_url: str, api_engine: Engine, committed) -> None:
    before = make_engine(api_database_url)
    tag = uuid.uuid4().hex[:8]
    gone = JobRunner(before, workers=0)
    queued = gone.submit(kind="test.marker", parameters={"tag": tag})
    gone.shutdown()
    before.dispose()  # the process is gone; its job is a row

    after = make_engine(api_database_url)  # a fresh process: new engine, new runner, nothing in memory
    runner = JobRunner(after, workers=1, poll_seconds=0.05).start()
    try:
        done = runner.wait(queued.id, timeout=WAIT_S)
    finally:
        runner.shutdown()
        after.dispose()
    assert (done.status, done.result, done.attempts) == ("done", {"call": 1}, 1)
    assert markers(api_engine, tag) == [f"jobtest:{tag}:1"]


def test_a_job_whose_worker_dies_is_requeued_once_then_failed_and_a_stalled_worker_cannot_commit(
        api_database_url: str, api_engine: Engine, committed) -> None:
    # A worker that "dies" mid-job: it never beats (a heartbeat an hour apart) and its job blocks.
    tag = uuid.uuid4().hex[:8]
    MARKERS[tag] = threading.Event()
    dying_engine = make_engine(api_database_url)
    dying = JobRunner(dying_engine, workers=1, lease_seconds=LEASE_S, heartbeat_seconds=3600,
                      poll_seconds=0.05).start()
    job = dying.submit(kind="test.marker", parameters={"tag": tag, "block": True})
    until(lambda: CALLS.get(tag) == 1, "the first worker to start the job")

    survivor = JobRunner(make_engine(api_database_url), workers=0, lease_seconds=LEASE_S)
    taken = until(lambda: survivor.reap(), "the lease to run out")
    assert taken == [(job.id, "queued")]
    assert survivor.get(job.id).status == "queued"
    assert survivor.run_one() == job.id  # run again, from its parameters, by another process
    done = survivor.get(job.id)
    assert (done.status, done.result, done.attempts) == ("done", {"call": 2}, 2)

    # The first worker was only stalled: released, it finds its job taken back and rolls its work back.
    MARKERS[tag].set()
    dying.shutdown()  # waits for its thread: the job's work returns, finds the fence moved, rolls back
    dying_engine.dispose()
    assert survivor.get(job.id).result == {"call": 2}
    assert markers(api_engine, tag) == [f"jobtest:{tag}:2"]  # call 1's row was never committed

    # With no attempts left, a lost job fails with job_lost rather than taking down worker after worker.
    tag = uuid.uuid4().hex[:8]
    MARKERS[tag] = threading.Event()
    dying_engine = make_engine(api_database_url)
    dying = JobRunner(dying_engine, workers=1, lease_seconds=LEASE_S, heartbeat_seconds=3600, poll_seconds=0.05,
                      max_attempts=1).start()
    job = dying.submit(kind="test.marker", parameters={"tag": tag, "block": True})
    until(lambda: CALLS.get(tag) == 1, "the worker to start the job")
    last = JobRunner(survivor._engine, workers=0, lease_seconds=LEASE_S, max_attempts=1)
    assert until(lambda: last.reap(), "the lease to run out") == [(job.id, "failed")]
    MARKERS[tag].set()
    dying.shutdown()
    dying_engine.dispose()
    failed = last.get(job.id)
    shown = describe_job(failed)
    assert failed.status == "failed" and shown["error"]["error"] == "job_lost" and shown["error"]["status"] == 500
    assert "stopped 1 time(s) before it finished" in shown["error"]["message"]
    assert shown["stage"].startswith("failed: ") and markers(api_engine, tag) == []
    last.shutdown()
    survivor.shutdown()
    survivor._engine.dispose()


def test_failed_sign_ins_count_across_two_app_instances(api_database_url: str, api_engine: Engine,
                                                       settings) -> None:
    username, ip = f"nobody_{uuid.uuid4().hex[:8]}", f"10.{uuid.uuid4().int % 250}.0.9"
    one = create_app(settings(job_workers=0), url=api_database_url)
    two = create_app(settings(job_workers=0), url=api_database_url)
    try:
        with TestClient(one, client=(ip, 1000)) as a, TestClient(two, client=(ip, 1001)) as b:
            statuses = [c.post("/auth/token", data={"username": username, "password": f"wrong-{i}"}).status_code
                        for i, c in enumerate((a, b, a, b, a))]
            assert statuses == [401] * 5
            # Five failures in all, two of them on the other process: both now refuse this name.
            for client in (a, b):
                refused = client.post("/auth/token", data={"username": username, "password": "again"})
                assert refused.status_code == 429 and refused.json()["error"] == "too_many_requests"
            # Another name from the same address still gets its own count.
            assert b.post("/auth/token", data={"username": "viewer", "password": api_world.PASSWORD}).status_code \
                == 200
    finally:
        with api_engine.begin() as conn:
            conn.execute(text("DELETE FROM rate_limit WHERE bucket IN (:u, :i)"),
                         {"u": f"login:user:{username}", "i": f"login:ip:{ip}"})


def test_the_job_queue_migration_goes_down_and_up_again(api_database_url: str) -> None:
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from gis.db import migrate as migrations
    from gis.db.engine import drop_database, ensure_database

    url = make_url(api_database_url).set(database=f"wangge_jobmig_{uuid.uuid4().hex[:8]}").render_as_string(
        hide_password=False)
    ensure_database(url)
    engine = make_engine(url)
    try:
        migrations.upgrade(url)
        queue = JobRunner(engine, workers=0)
        queue.submit(kind="test.marker", parameters={"tag": "migration"})
        queue.shutdown()  # its connections closed, so that the database can be dropped
        migrations.downgrade(url, "0013")
        assert "job" not in inspect(engine).get_table_names()
        migrations.upgrade(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM job")).scalar_one() == 0
        assert migrations.current_revision(engine) == migrations.head_revision()
    finally:
        engine.dispose()
        drop_database(url)
