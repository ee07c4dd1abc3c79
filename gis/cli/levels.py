"""``wangge partition micro`` and ``wangge heads``: level-2 grids (微网格) and their building heads."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.output import JsonOption, db_transaction, emit, settings

heads_app = typer.Typer(help="Building and unit heads (楼栋长/单元长) of level-2 grids; phones shown masked.",
                        no_args_is_help=True)


def micro(
    grid: Annotated[str, typer.Option("--grid", help="15-digit code of a level-1 grid.")],
    hi: Annotated[int | None, typer.Option("--max", help="Most households per level-2 grid (default from settings, "
                                                          "100).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same suggestion.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Suggest level-2 grids inside one grid from whole buildings (stored as a draft plan; adopt with `plan adopt`)."""
    from gis.services import levels as level_service

    with db_transaction() as session:
        result = level_service.suggest_micro_grids(session, settings(), grid_code=grid, hi=hi, seed=seed)
    lines = [f"plan {result['plan_id']}: {len(result['units'])} level-2 grids in grid {grid} {result['scope_name']}"]
    lines += [f"  {u['label']}: {u['households']} households, {u['buildings']} buildings"
              + (" (flagged: one building over the maximum)" if u["flagged"] else "") for u in result["units"]]
    emit(result, as_json=as_json, human="\n".join(lines))


@heads_app.command("add")
def add(
    grid: Annotated[str, typer.Option("--grid", help="15-digit code of a level-2 grid.")],
    name: Annotated[str, typer.Option("--name", help="The head's name.")],
    role: Annotated[str, typer.Option(
        "--role", help="building_head (楼栋长) or unit_head (单元长).")] = "building_head",
    phone: Annotated[str | None, typer.Option("--phone", help="Phone (stored, only ever shown masked).")] = None,
    building: Annotated[int | None, typer.Option("--building", help="Building id.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Unit (单元) of the building.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a building or unit head of a level-2 grid."""
    from gis.services import levels as level_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        out = level_service.add_contact(session, SYSTEM, grid_code=grid, role=role, name=name, phone=phone,
                                        building_id=building, unit=unit)
    emit(out, as_json=as_json, human=f"{out['role_zh']} {out['name']} {out['phone_masked'] or ''} (grid {grid})")


@heads_app.command("list")
def list_heads(grid: Annotated[str, typer.Option("--grid", help="A level-2 grid, or a level-1 grid for all of its "
                                                               "level-2 grids.")],
               as_json: JsonOption = False) -> None:
    """The heads of a level-2 grid (or of every level-2 grid of a level-1 grid), phones masked."""
    from gis.services import levels as level_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        items = level_service.list_contacts(session, SYSTEM, grid_code=grid, reason="command line")
    emit({"items": items}, as_json=as_json,
         human="\n".join(f"{c['grid_code']}  {c['role_zh']}  {c['name']}  {c['phone_masked'] or ''}" for c in items)
         or "no heads recorded")


def register(app: typer.Typer, partition_app: typer.Typer) -> None:
    """Add ``partition micro`` and ``heads`` to the command line."""
    partition_app.command("micro")(micro)
    app.add_typer(heads_app, name="heads")
