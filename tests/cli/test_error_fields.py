"""Errors reach the terminal in the flags of the command that ran (gis.cli.errors).

Services name an input by its API field (``details["field"]``); the CLI shows the same error under
the running command's flag, and turns any other field named in the message into its flag too. The
API's answer for the same bad value (tests/api/test_error_fields.py) names the field.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gis.cli import app
from gis.cli.errors import describe, invoked_command
from gis.errors import Conflict, InvalidInput, WanggeError


def line(args: list[str], error: WanggeError) -> str:
    return describe(error, *invoked_command(app, args))


@pytest.mark.parametrize(("args", "error", "expected"), [
    # the field is the command's parameter: its flag
    (["partition", "grids", "--community", "320102001001", "--seed", "-3"],
     InvalidInput.for_field("seed", "must be a non-negative integer, got -3"),
     "--seed: must be a non-negative integer, got -3"),
    # a *_code field is the command's parameter without the suffix; the second field in the message too
    (["map", "export", "--view", "grid", "--out", "x.html"],
     InvalidInput.for_field("grid_code", "or community_code: the grid view needs one of the two"),
     "--grid or --community: the grid view needs one of the two"),
    (["map", "export", "--view", "facility", "--out", "x.html"],
     InvalidInput.for_field("type_code", "is needed by the facility view"),
     "--type: is needed by the facility view"),
    # one command spells it its own way (COMMAND_FLAGS), every command spells it another way (FIELD_FLAGS)
    (["restore", "b.tar"], Conflict("replace: x holds data; confirm to replace it", details={"field": "replace"}),
     "--yes: x holds data; confirm to replace it"),
    (["partition", "grids", "--all-districts", "--dask", "tcp://10.0.0.5:8786"],
     InvalidInput.for_field("scheduler", "scheduler: cannot reach a Dask scheduler at 'tcp://10.0.0.5:8786'"),
     "--dask: cannot reach a Dask scheduler at 'tcp://10.0.0.5:8786'"),
    # a bilingual message: the field once, as the flag in front
    (["party", "add-group", "--building", "7", "--grid", "320102001001001"],
     InvalidInput("党小组须指定楼栋或二级网格之一 · building_id: a party group needs exactly one of building_id and "
                  "grid_code (a level-2 grid)", details={"field": "building_id"}),
     "--building: 党小组须指定楼栋或二级网格之一 · a party group needs exactly one of --building and --grid "
     "(a level-2 grid)"),
    # a positional argument: its name as the help shows it
    (["import", "boundaries", "x.shp", "--level", "grid"], InvalidInput.for_field("file", "is not a shapefile"),
     "FILE: is not a shapefile"),
    # no such parameter: the default spelling
    (["households", "review"], InvalidInput.for_field("radius_m", "must be a positive number of metres; got -3"),
     "--radius-m: must be a positive number of metres; got -3"),
])
def test_a_field_is_shown_as_the_commands_flag(args: list[str], error: WanggeError, expected: str) -> None:
    assert line(args, error) == expected


def test_an_error_without_a_field_is_shown_as_it_is() -> None:
    assert line(["plan", "show", "9"], Conflict("plan 9 is stale")) == "plan 9 is stale"


def test_a_bad_value_names_the_flag_at_the_terminal(database_url: str) -> None:
    # Both a building and a grid: the service refuses (details field building_id) before it reads anything.
    env = {**os.environ, "WANGGE_DATABASE_URL": database_url}
    done = subprocess.run([sys.executable, "-m", "gis.cli", "party", "add-group", "--building", "1", "--grid",
                           "320102001001001"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --building: 党小组须指定楼栋或二级网格之一 · "
                     "a party group needs exactly one of --building and --grid (a level-2 grid)"], done.stderr
