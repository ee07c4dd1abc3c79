"""``wangge party``: party branches per grid, groups per building or level-2 grid, and their checks."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.output import JsonOption, db_transaction, emit, settings

app = typer.Typer(help="Party organisation per grid (网格党支部, 楼栋党小组) and the seed-practice checks.",
                  no_args_is_help=True)

NameOption = Annotated[str | None, typer.Option("--name", help="Name (default: the grid's name and the kind).")]
SecretaryOption = Annotated[int | None, typer.Option("--secretary", help="Resident id of the secretary (a full "
                                                                         "party member living in the grid).")]


@app.command("add-branch")
def add_branch(
    grid: Annotated[str, typer.Option("--grid", help="15-digit code of a level-1 grid.")],
    name: NameOption = None,
    secretary: SecretaryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set up a grid's party branch (网格党支部); one per grid."""
    from gis.services import party as party_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        org = party_service.create_org(session, SYSTEM, kind="grid_branch", grid_code=grid, name=name,
                                       secretary_id=secretary)
    emit(org, as_json=as_json,
         human=f"party org {org['id']}: {org['name']} ({org['kind_zh']}, grid {org['grid_code']})")


@app.command("add-group")
def add_group(
    building: Annotated[int | None, typer.Option("--building", help="Building id.")] = None,
    grid: Annotated[str | None, typer.Option("--grid", help="15-digit code of a level-2 grid.")] = None,
    name: NameOption = None,
    secretary: SecretaryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set up a party group (党小组) of a building or a level-2 grid."""
    from gis.services import party as party_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        org = party_service.create_org(session, SYSTEM, kind="building_group", grid_code=grid, building_id=building,
                                       name=name, secretary_id=secretary)
    emit(org, as_json=as_json,
         human=f"party org {org['id']}: {org['name']} ({org['kind_zh']}, grid {org['grid_code']})")


@app.command("remove")
def remove(org_id: Annotated[int, typer.Argument(help="Party organisation id.")], as_json: JsonOption = False) -> None:
    """Dissolve a party branch or group."""
    from gis.services import party as party_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        out = party_service.delete_org(session, SYSTEM, org_id)
    emit(out, as_json=as_json, human=f"party org {org_id} dissolved")


@app.command("list")
def list_orgs(
    district: Annotated[str | None, typer.Option("--district", help="6-digit district code.")] = None,
    grid: Annotated[str | None, typer.Option("--grid", help="15-digit grid code.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Party branches and groups."""
    from gis.services import party as party_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        items = party_service.list_orgs(session, SYSTEM, grid_code=grid, district_code=district)
    emit({"items": items}, as_json=as_json,
         human="\n".join(f"{o['id']}  {o['grid_code']}  {o['kind_zh']}  {o['name']}" for o in items)
         or "no party organisations")


@app.command("check")
def check(
    district: Annotated[str | None, typer.Option("--district", help="6-digit district code.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Branches under the minimum of full members, grids with members but no branch, grids without one."""
    from gis.services import party as party_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        report = party_service.check_party(session, settings(), SYSTEM, district_code=district)
    lines = [f"{report['grids']} grids, {report['branches']} branches, {report['groups']} groups; "
             f"{len(report['findings'])} findings"]
    lines += [f"  {f['grid_code']} {f['kind']}: {f['reason_text_zh']} · {f['reason_text']}" for f in report["findings"]]
    emit(report, as_json=as_json, human="\n".join(lines))
