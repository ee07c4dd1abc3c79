"""``wangge user add | list | passwd | grids | deactivate``: accounts, roles and grid assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from gis.cli.output import JsonOption, console, db_transaction, emit
from gis.roles import ROLES

if TYPE_CHECKING:
    from gis.services.users import UserView

app = typer.Typer(help="User accounts: roles, passwords, grid assignments.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(help="Sign-in name.")]


def _password(given: str | None) -> tuple[str, bool]:
    from gis.services import users as user_service

    return (given, False) if given else (user_service.generate_password(), True)


@app.command("add")
def add(
    username: Username,
    role: str = typer.Option(..., "--role", help=f"One of: {', '.join(ROLES)}."),
    password: str = typer.Option(None, "--password", help="Initial password (default: a random one, printed)."),
    display_name: str = typer.Option(None, "--name", help="Display name."),
    district: str = typer.Option(None, "--district", help="6-digit district code the user works in."),
    street: str = typer.Option(None, "--street", help="9-digit street of that district: a street-scoped user "
                                                       "(proposes plans in the approval chain)."),
    grids: list[str] = typer.Option([], "--grid", help="Grid code (repeatable), for grid leaders and workers."),
    as_json: JsonOption = False,
) -> None:
    """Create a user."""
    from gis.services import users as user_service
    from gis.services.privacy import record_change
    from gis.services.users import SYSTEM

    secret, generated = _password(password)
    with db_transaction() as session:
        user = user_service.create_user(session, username=username, password=secret, role=role,
                                        display_name=display_name, district_code=district, street_code=street)
        if grids:
            user_service.assign_grids(session, user.id, grids)
        record_change(session, SYSTEM, entity="app_user", entity_id=user.id, action="create",
                      detail={"role": role, "grids": grids, "via": "cli"})
        described = user_service.describe_user(session, user)
    # A generated password is shown once, here: it is in no view of the user.
    shown: dict[str, Any] = {**described, "password": secret} if generated else dict(described)
    emit(shown, as_json=as_json,
         human=f"user {username} ({role}) created" + (f"; password: {secret}" if generated else ""))


@app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """List users."""
    from gis.services import users as user_service

    with db_transaction() as session:
        rows = [user_service.describe_user(session, u) for u in user_service.list_users(session)]
    if as_json:
        emit(rows, as_json=True)
        return
    table = Table()
    for column in ("id", "username", "role", "district", "grids", "active"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["id"]), row["username"], row["role"], row["district_code"] or "–",
                      " ".join(row["grids"]) or "–", "yes" if row["is_active"] else "no")
    console.print(table)


def _update(username: str, changes: dict[str, Any], action: str) -> UserView:
    from gis.services import users as user_service
    from gis.services.privacy import record_change
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        user = user_service.get_user_by_name(session, username)
        user = user_service.update_user(session, user.id, expected_version=user.version, changes=changes)
        record_change(session, SYSTEM, entity="app_user", entity_id=user.id, action=action,
                      detail={"fields": sorted(changes), "via": "cli"})
        return user_service.describe_user(session, user)


@app.command("passwd")
def passwd(username: Username,
           password: str = typer.Option(None, "--password", help="New password (default: a random one, printed).")
           ) -> None:
    """Set a user's password (their open sessions end)."""
    secret, generated = _password(password)
    _update(username, {"password": secret}, "password")
    console.print(f"password of {username} changed" + (f": {secret}" if generated else ""), highlight=False)


@app.command("deactivate")
def deactivate(username: Username) -> None:
    """Stop a user from signing in (history and audit rows stay)."""
    _update(username, {"is_active": False}, "deactivate")
    console.print(f"{username} deactivated", highlight=False)


@app.command("grids")
def grids(username: Username,
          codes: Annotated[list[str], typer.Argument(help="Grid codes the user is now responsible for.")],
          as_json: JsonOption = False) -> None:
    """Set the grids of a grid leader or worker (ended assignments keep their dates)."""
    from gis.services import users as user_service
    from gis.services.privacy import record_change
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        user = user_service.get_user_by_name(session, username)
        user_service.assign_grids(session, user.id, codes)
        record_change(session, SYSTEM, entity="app_user", entity_id=user.id, action="assign_grids",
                      detail={"grids": codes, "via": "cli"})
        described = user_service.describe_user(session, user)
    emit(described, as_json=as_json, human=f"{username}: grids {' '.join(described['grids'])}")
