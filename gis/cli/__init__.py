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
from rich.text import Text

from gis.cli import backup as backup_commands
from gis.cli import cases as case_commands
from gis.cli import coverage as coverage_commands
from gis.cli import data as data_commands
from gis.cli import db as db_commands
from gis.cli import demo as demo_commands
from gis.cli import households as household_commands
from gis.cli import ledgers as ledger_commands
from gis.cli import levels as level_commands
from gis.cli import maps as map_commands
from gis.cli import partition as partition_commands
from gis.cli import party as party_commands
from gis.cli import patrols as patrol_commands
from gis.cli import plan as plan_commands
from gis.cli import registers as register_commands
from gis.cli import serve as serve_commands
from gis.cli import users as user_commands
from gis.cli import visits as visit_commands
from gis.cli.errors import describe, invoked_command
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
# The order of registration is the order of ``wangge --help``.
app.add_typer(db_commands.app, name="db")
app.add_typer(partition_commands.app, name="partition")
app.add_typer(user_commands.app, name="user")
serve_commands.register(app)
demo_commands.register(app)
data_commands.register(app)
coverage_commands.register(app)
plan_commands.register(app)
app.add_typer(map_commands.app, name="map")
app.add_typer(patrol_commands.app, name="patrols")
case_commands.register(app)
backup_commands.register(app)
register_commands.register(app, data_commands.import_app)
app.add_typer(household_commands.app, name="households")
level_commands.register(app, partition_commands.app)
app.add_typer(party_commands.app, name="party")
app.add_typer(ledger_commands.app, name="ledgers")  # issue 22
app.add_typer(visit_commands.app, name="visits")  # issue 18
app.add_typer(visit_commands.grids_app, name="grids")


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
    args = with_dask_default(sys.argv[1:])
    try:
        app(args=args)
    except WanggeError as exc:
        # The error names its input by the API's field; the user typed this command's flags.
        message = describe(exc, *invoked_command(app, args)) if exc.field else exc.message
        err_console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
