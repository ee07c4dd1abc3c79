"""Test harness: a real PostGIS, a throw-away database per session, each test rolled back.

The database comes from ``WANGGE_TEST_DATABASE_URL`` (a server where we may create
databases) or from the embedded cluster, started as ``wangge db start`` would. Under
``CI=true`` a skipped test fails the run: a database or browser test that did not run
proves nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import close_browser
from helpers import built_once_per_run, fresh_database, rolled_back_session
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from gis.db.engine import make_engine
from gis.db.setup import scratch_database
from gis.settings import Settings

REPO = Path(__file__).resolve().parent.parent
# The API world, its app and signed-in clients, shared by tests/api, tests/security and tests/fuzz.
pytest_plugins = ["api_fixtures"]

# A pytest-xdist worker inherits COLUMNS=80, which rich reads once when the CLI's console is made, so tables
# came out cut at 80 columns whatever width a CLI test asked for; a serial run leaves COLUMNS unset.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)


@pytest.fixture(scope="session")
def template_database_url() -> Iterator[str]:
    """A database migrated to head with the catalogue that no test opens; dropped afterwards.

    Migrating a database takes several seconds and a dozen modules want their own: they clone this
    one with ``helpers.fresh_database`` (CREATE DATABASE ... TEMPLATE, about a second) instead.
    """
    settings = Settings(database_url=None, home=REPO / ".wangge")
    with scratch_database(settings, prefix="wangge_template",
                          server_url=os.environ.get("WANGGE_TEST_DATABASE_URL")) as url:
        yield url


@pytest.fixture(scope="session")
def database_url(template_database_url: str) -> Iterator[str]:
    """URL of a fresh database with PostGIS, pgRouting, the schema at head and the catalogue; dropped afterwards."""
    with fresh_database(template_database_url, prefix="wangge_test") as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test, whatever it committed."""
    with rolled_back_session(engine) as session:
        yield session


def demo_of_run(run: str) -> str:
    """The name of the loaded demo that every worker of the run ``run`` (pytest-xdist's testrunuid) clones."""
    return f"wangge_demo_run_{run[:16]}"


def _load_demo(url: str) -> None:
    from gis.db.engine import transaction
    from gis.services.demo import demo_grid_plans, load_demo

    # Loaded as `wangge demo` loads it: in demo mode, the synthetic residents sealed with the demo key.
    settings = Settings(database_url=None, home=REPO / ".wangge", demo_mode=True)
    demo_engine = make_engine(url)
    try:
        with transaction(demo_engine) as session:
            load_demo(session, settings)
        with transaction(demo_engine) as session:
            demo_grid_plans(session, settings)
    finally:
        demo_engine.dispose()


@pytest.fixture(scope="session")
def demo_database_url(template_database_url: str, pytestconfig: pytest.Config) -> Iterator[str]:
    """A database holding the whole demo (OSM extract, 24 communities, synthetic residents) and its adopted grids.

    Loading takes a quarter of a minute of CPU, so a run loads it once: under pytest-xdist the first
    worker that needs it loads it into a database of the run (``helpers.built_once_per_run``) and every
    worker clones that. Tests read the clone or write in a rolled-back session; tests that commit (the
    coverage CLI) add coverage runs only, to their own worker's clone.
    """
    workerinput = getattr(pytestconfig, "workerinput", None)
    if workerinput is None:
        with fresh_database(template_database_url, prefix="wangge_demo") as url:
            _load_demo(url)
            yield url
        return
    loaded = built_once_per_run(template_database_url, name=demo_of_run(workerinput["testrunuid"]), build=_load_demo)
    with fresh_database(loaded, prefix="wangge_demo") as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    # The controller names the run, so that it knows which per-run databases to drop at the end.
    if not hasattr(config, "workerinput") and getattr(config.option, "testrunuid", "") is None:
        config.option.testrunuid = uuid.uuid4().hex


def _drop_per_run_databases(config: pytest.Config) -> None:
    """At the end of an xdist run, on the controller: drop the databases its workers built once for the run."""
    from gis.db.engine import cluster_for, drop_database

    run = getattr(config.option, "testrunuid", None)
    if not run or not config.pluginmanager.hasplugin("dsession"):
        return
    server = os.environ.get("WANGGE_TEST_DATABASE_URL") or cluster_for(
        Settings(database_url=None, home=REPO / ".wangge")).url("postgres")
    drop_database(make_url(server).set(database=demo_of_run(run)).render_as_string(hide_password=False))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    close_browser()
    if not hasattr(session.config, "workerinput"):
        _drop_per_run_databases(session.config)
    # Under pytest-xdist every worker reports to the controller, whose reporter holds every skip.
    if os.environ.get("CI", "").lower() not in {"1", "true", "yes"} or hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) skipped; a skipped database or browser test fails CI", red=True
        )
        for report in skipped:
            reporter.write_line(f"  skipped: {report.nodeid}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
