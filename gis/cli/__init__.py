"""The ``wangge`` command line: thin commands over the service functions.

Errors of the WanggeError family become one line on stderr and exit status 1; figures go to
stdout (as one JSON document with ``--json``); progress and logs go to stderr.

Every command module imports its services, the database layer and the settings inside its
commands, never at the top: ``wangge --help`` and each command would otherwise pay for loading
all of them (scipy, dask, folium, GeoPandas: seconds). tests/cli/test_startup.py keeps it so.
"""

from __future__ import annotations

import sys

import typer

from gis.cli import data as data_commands
from gis.cli import db as db_commands
from gis.cli import demo as demo_commands
from gis.cli import partition as partition_commands
from gis.cli import plan as plan_commands
from gis.cli import serve as serve_commands
from gis.cli import users as user_commands
from gis.cli.output import err_console
from gis.errors import WanggeError
from gis.schedulers import LOCAL_CLUSTER

app = typer.Typer(
    name="wangge",
    help="Wangge 网格: community grid management (社区网格化管理).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_commands.app, name="db")
app.add_typer(partition_commands.app, name="partition")
app.add_typer(user_commands.app, name="user")
serve_commands.register(app)
demo_commands.register(app)
data_commands.register(app)
from gis.cli import coverage as coverage_commands; coverage_commands.register(app)  # noqa: E402, E702
plan_commands.register(app)
from gis.cli import maps as map_commands; app.add_typer(map_commands.app, name="map")  # noqa: E402, E702
from gis.cli import patrols as patrol_commands; app.add_typer(patrol_commands.app, name="patrols")  # noqa: E402, E702
from gis.cli import cases as case_commands; case_commands.register(app)  # noqa: E402, E702
from gis.cli import backup as backup_commands; backup_commands.register(app)  # noqa: E402, E702
from gis.cli import registers as register_commands; register_commands.register(app, data_commands.import_app)  # noqa: E402, E702, E501
from gis.cli import households as household_commands; app.add_typer(household_commands.app, name="households")  # noqa: E402, E702, E501
from gis.cli import levels as level_commands; level_commands.register(app, partition_commands.app)  # noqa: E402, E702, E501
from gis.cli import party as party_commands; app.add_typer(party_commands.app, name="party")  # noqa: E402, E702
from gis.cli import ledgers as ledger_commands; app.add_typer(ledger_commands.app, name="ledgers")  # noqa: E402, E702, E501  (issue 22)
from gis.cli import visits as visit_commands; app.add_typer(visit_commands.app, name="visits"); app.add_typer(visit_commands.grids_app, name="grids")  # noqa: E402, E702, E501  (issue 18)


def with_dask_default(args: list[str]) -> list[str]:
    """Give a bare ``--dask`` its implied value ``local`` (a LocalCluster).

    Click options take a value or none, never an optional one, so ``--dask`` alone (last, or
    followed by another option) is rewritten to ``--dask local`` before parsing.
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        out.append(arg)
        if arg == "--dask" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append(LOCAL_CLUSTER)
    return out


def main() -> None:
    """Console-script entry point."""
    try:
        app(args=with_dask_default(sys.argv[1:]))
    except WanggeError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
