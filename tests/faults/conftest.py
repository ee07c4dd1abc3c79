"""Fault fixtures: a PostgreSQL cluster of the tests' own, which they stop and start at will.

The shared test cluster cannot be restarted under the other tests, so this module creates a
second embedded cluster in a temporary folder (a few seconds) and destroys it afterwards. It is
used whatever ``WANGGE_TEST_DATABASE_URL`` says: restarting someone else's server is not ours to do.

``Outage`` stops the server from inside the operation under test, right before a chosen SQL
statement, so the fault lands at an exact, repeatable point rather than after a sleep.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import api_world
import pytest
from faults import Outage, fault_settings
from helpers import fresh_database
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis.db.cluster import EmbeddedCluster
from gis.db.engine import make_engine
from gis.db.setup import scratch_database


@pytest.fixture(scope="session")
def fault_cluster() -> Iterator[EmbeddedCluster]:
    # Not tmp_path: pytest's base folder is private (0700), and when the tests run as root the
    # server runs as the postgres user, who must be able to reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="wangge-faults-"))
    home.chmod(0o755)
    cluster = EmbeddedCluster(home)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def running(fault_cluster: EmbeddedCluster) -> Iterator[EmbeddedCluster]:
    """The fault cluster, guaranteed up before and after the test whatever the test did to it."""
    fault_cluster.start()
    yield fault_cluster
    fault_cluster.start()


@pytest.fixture(scope="session")
def fault_template(fault_cluster: EmbeddedCluster) -> Iterator[str]:
    """A database at head on the fault cluster that no test opens: each test gets a copy, not a migration."""
    fault_cluster.start()
    with scratch_database(fault_settings(), prefix="wangge_fault_template",
                          server_url=fault_cluster.url("postgres")) as url:
        yield url


@pytest.fixture(scope="session")
def fault_world_template(fault_template: str) -> Iterator[tuple[str, dict]]:
    """The API world (town, grids, residents, users of every role) committed in a template of its own."""
    with fresh_database(fault_template, prefix="wangge_fault_world") as url:
        engine = make_engine(url)
        try:
            with Session(engine) as session, session.begin():
                world = api_world.build_world(session)
        finally:
            engine.dispose()
        yield url, world


@pytest.fixture
def fault_db(running: EmbeddedCluster, fault_template: str) -> Iterator[str]:
    """A fresh database at head on the fault cluster."""
    with fresh_database(fault_template, prefix="wangge_fault") as url:
        yield url


@pytest.fixture
def world_db(running: EmbeddedCluster, fault_world_template: tuple[str, dict]) -> Iterator[tuple[str, dict]]:
    """A fresh copy of the API world in a fault database (the same ids in every copy)."""
    template, world = fault_world_template
    with fresh_database(template, prefix="wangge_fault") as url:
        yield url, world


@pytest.fixture
def outage(running: EmbeddedCluster) -> Iterator[Callable[..., Outage]]:
    """``outage(engine, pattern=..., at=..., at_commit=..., mode=...)`` arms an Outage on ``engine`` for this test."""
    armed: list[tuple[Engine, Outage]] = []

    def arm(engine: Engine, **kwargs) -> Outage:
        fault = Outage(running, **kwargs)
        event.listen(engine, "before_cursor_execute", fault.before_statement)
        event.listen(engine, "commit", fault.before_commit)
        armed.append((engine, fault))
        return fault

    yield arm
    for engine, fault in armed:
        event.remove(engine, "before_cursor_execute", fault.before_statement)
        event.remove(engine, "commit", fault.before_commit)
