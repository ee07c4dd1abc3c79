"""``wangge departments list | add | staff``: the departments cases are handed over to and summoned.

Run from the command line the commands act for every district (there is no signed-in user).
"""

from __future__ import annotations

import typer
from rich.table import Table

from gis.cli.output import JsonOption, console, db_transaction, emit, settings

app = typer.Typer(help="Departments (职能部门, 成员单位, 驻区单位): who handles which case categories.",
                  no_args_is_help=True)


def _show(records: list, as_json: bool) -> None:
    if as_json:
        emit([r.to_dict() for r in records], as_json=True)
        return
    table = Table("id", "district", "name", "kind", "street", "categories", "staff")
    for r in records:
        table.add_row(str(r.id), r.district_code, r.name, r.kind, r.street_code or "–",
                      " ".join(r.categories) or "–", str(r.staff_count))
    console.print(table)


@app.command("list")
def list_departments(district: str = typer.Option(None, "--district", help="Only this 6-digit district."),
                     category: str = typer.Option(None, "--category", help="Only those handling this code."),
                     as_json: JsonOption = False) -> None:
    """The departments, with the categories they handle and how many staff they have."""
    from gis.services import departments as department_service
    from gis.services.users import SYSTEM, Principal

    principal = Principal(user_id=0, username="system", role="admin", district_code=district) if district else SYSTEM
    with db_transaction() as session:
        found = department_service.list_departments(session, principal, category_code=category)
    _show(found, as_json)


@app.command("add")
def add(name: str = typer.Argument(..., help="e.g. 城管执法中队 (the category table names departments)."),
        kind: str = typer.Option(..., "--kind", help="functional (职能部门), member (成员单位), stationed (驻区单位)."),
        district: str = typer.Option(..., "--district", help="Its 6-digit district."),
        street: str = typer.Option(None, "--street", help="A department of one 9-digit street."),
        categories: str = typer.Option(None, "--categories", help="Codes it handles, comma-separated (default: "
                                                                  "those the category table gives its name)."),
        staff: str = typer.Option(None, "--staff", help="Usernames of department_staff users, comma-separated."),
        as_json: JsonOption = False) -> None:
    """Register a department."""
    from gis.services import departments as department_service
    from gis.services.users import SYSTEM, get_user_by_name

    with db_transaction() as session:
        ids = [get_user_by_name(session, u).id for u in (staff or "").split(",") if u.strip()]
        codes = [c for c in categories.split(",")] if categories is not None else None
        record = department_service.create_department(session, SYSTEM, settings=settings(), name=name, kind=kind,
                                                      district_code=district, street_code=street, categories=codes,
                                                      staff=ids or None)
    _show([record], as_json)


@app.command("staff")
def staff(department_id: int = typer.Argument(..., help="The department's id."),
          usernames: str = typer.Argument(..., help="department_staff usernames, comma-separated ('' for none)."),
          as_json: JsonOption = False) -> None:
    """Set who works for a department (the others leave it)."""
    from gis.services import departments as department_service
    from gis.services.users import SYSTEM, get_user_by_name

    with db_transaction() as session:
        ids = [get_user_by_name(session, u).id for u in usernames.split(",") if u.strip()]
        record = department_service.set_staff(session, SYSTEM, department_id, ids)
    _show([record], as_json)
