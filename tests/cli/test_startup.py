"""`wangge` starts without loading any engine: commands import their services when they run.

Importing every service at start-up made `wangge --help` take seconds (scipy, dask, folium,
GeoPandas...). Time is measured in bench/cli_startup.py; here we check what is imported, which
does not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gis.cli import app
from gis.db import migrate as migrations
from gis.map_views import DEFAULT_CASE_DAYS, VIEWS
from gis.roles import ROLES
from gis.schedulers import LOCAL_CLUSTER

# Top-level packages no help page may need, and the package's own heavy layers.
HEAVY_PACKAGES = {
    "scipy", "geopandas", "shapely", "pandas", "folium", "branca", "dask", "distributed", "sqlalchemy",
    "geoalchemy2", "numpy", "highspy", "pyproj", "pyogrio", "osmium", "pymetis", "alembic", "psycopg",
    "pydantic_settings", "uvicorn", "fastapi",
}
HEAVY_PREFIXES = ("gis.services", "gis.db", "gis.settings", "gis.maps", "gis.partition", "gis.coverage", "api")

PROBE = """
import json, sys
import gis.cli
try:
    gis.cli.app(args=sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_loaded(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules
            if m.split(".")[0] in HEAVY_PACKAGES or any(m == p or m.startswith(p + ".") for p in HEAVY_PREFIXES)]


@pytest.mark.parametrize("args", [
    (), ("--help",), ("db", "--help"), ("db", "status", "--help"), ("check", "boundaries", "--help"),
    ("user", "add", "--help"), ("map", "export", "--help"), ("coverage", "compute", "--help"),
    ("partition", "grids", "--help"),
], ids=lambda a: " ".join(a) or "bare")
def test_help_loads_no_engine(args: tuple[str, ...]) -> None:
    loaded = modules_loaded(*args)
    assert "gis.cli" in loaded and "typer" in loaded
    assert heavy(loaded) == [], f"`wangge {' '.join(args)}` imports {heavy(loaded)}"


def test_a_command_loads_what_it_needs_when_it_runs() -> None:
    # A refusal before any work stays light; a command that does its work imports its layer then.
    assert "gis.services.maps" not in modules_loaded("map", "export", "--view", "nope", "--out", "/tmp/never.html")
    assert "gis.db.engine" in modules_loaded("db", "url")


def test_db_status_asks_the_database_without_sqlalchemy_or_alembic() -> None:
    # A whole light command: settings, psycopg and one connection; the ORM layers are a third of its time.
    loaded = modules_loaded("db", "status")
    assert "gis.db.status" in loaded and "psycopg" in loaded
    assert not [m for m in loaded if m.split(".")[0] in {"sqlalchemy", "alembic", "geoalchemy2", "numpy"}]


def test_the_light_constants_are_the_ones_the_services_use() -> None:
    from gis.db import models
    from gis.services import maps as map_service
    from gis.services import scale as scale_service

    assert models.ROLES is ROLES
    assert map_service.VIEWS is VIEWS and map_service.DEFAULT_CASE_DAYS == DEFAULT_CASE_DAYS
    assert scale_service.LOCAL_CLUSTER == LOCAL_CLUSTER
    assert app.info.name == "wangge"


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config("postgresql://x@localhost/x"))
    assert migrations.head_revision() == script.get_current_head()
