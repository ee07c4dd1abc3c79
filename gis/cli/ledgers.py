"""``wangge ledgers``: the community ledgers (三张清单) from the command line: import, reach, figures, export.

Thin over :mod:`gis.services.ledgers`, as the API is; the command line acts as the system user, so
its reads of personal fields are audited as ``system`` with the ``--reason`` given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis.cli.output import JsonOption, db_transaction, emit, progress_bar

app = typer.Typer(help="Community ledgers: needs, resources, projects (三张清单), 双报到 and volunteers.",
                  no_args_is_help=True)

DistrictOption = Annotated[str | None, typer.Option("--district", help="6-digit district code.")]
CommunityOption = Annotated[str | None, typer.Option("--community", help="12-digit community code.")]


@app.command("import-needs")
def import_needs(
    path: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or XLSX: 需求类型 and 户ID, 楼栋ID or 经度/纬度.")],
    encoding: Annotated[str | None, typer.Option("--encoding", help="The CSV's encoding when not detected.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Import needs: every row, or none with the problems named by file, row and column."""
    from gis.services import ledgers as ledger_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        out = ledger_service.import_needs(session, SYSTEM, path, encoding=encoding)
    emit(out, as_json=as_json, human=f"{out['file']}: {out['imported']} needs imported")


@app.command("reach")
def reach(
    district: DistrictOption = None,
    community: CommunityOption = None,
    radius: Annotated[float, typer.Option("--radius", help="Walking metres.")] = 500.0,
    as_json: JsonOption = False,
) -> None:
    """Open needs and the resources serving them within a walk; the needs with none."""
    from gis.services import ledgers as ledger_service
    from gis.services.users import SYSTEM

    with progress_bar("walking distances") as update, db_transaction() as session:
        update("loading the walk network", 0.1)
        out = ledger_service.needs_reach(session, SYSTEM, district_code=district, community_code=community,
                                         radius_m=radius)
        update("done", 1.0)
    lines = [f"{out['needs']} open needs, {out['needs_without_resource']} without a resource within "
             f"{out['radius_m']:g} m ({out['mode']})"]
    for item in out["items"]:
        best = item["resources"][0] if item["resources"] else None
        lines.append(f"  need {item['need_id']} {item['kind_code']} grid {item['grid_code']}: "
                     + (f"{best['name']} {best['distance_m']:.0f} m" if best else "none"))
    emit(out, as_json=as_json, human="\n".join(lines))


@app.command("stats")
def stats(district: DistrictOption = None, as_json: JsonOption = False) -> None:
    """Per community: needs, needs met, projects by status, claims and volunteer hours."""
    from gis.services import ledgers as ledger_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        out = ledger_service.ledger_stats(session, SYSTEM, district_code=district)
    lines = [f"{'community':<14}{'needs':>6}{'open':>6}{'met':>6}{'projects':>10}{'hours':>8}"]
    for c in out["communities"]:
        lines.append(f"{c['community_code'] or '-':<14}{c['needs']:>6}{c['needs_open']:>6}{c['needs_met']:>6}"
                     f"{sum(c['projects_by_status'].values()):>10}{c['volunteer_hours']:>8g}")
    emit(out, as_json=as_json, human="\n".join(lines))


@app.command("export")
def export(
    community: Annotated[str, typer.Argument(help="12-digit community code.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the file.")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx (three sheets) or csv (one list).")] = "xlsx",
    which: Annotated[str, typer.Option("--list", help="With csv: needs, resources or projects.")] = "needs",
    reason: Annotated[str, typer.Option(
        "--reason", help="Why contacts are read (kept in the audit log).")] = "清单导出",
    as_json: JsonOption = False,
) -> None:
    """A community's three lists as XLSX, or one as CSV (contacts masked; the read is audited)."""
    from gis.services import ledgers as ledger_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        lists = ledger_service.community_lists(session, SYSTEM, community, reason=reason)
        data, _media, name = ledger_service.export_lists(lists, fmt=fmt, which=which)
    out.write_bytes(data)
    emit({"file": str(out), "name": name, "bytes": len(data), "needs": len(lists["needs"]),
          "resources": len(lists["resources"]), "projects": len(lists["projects"])}, as_json=as_json,
         human=f"{out}: {len(lists['needs'])} needs, {len(lists['resources'])} resources, "
               f"{len(lists['projects'])} projects")


@app.command("link-unit")
def link_unit(
    username: Annotated[str, typer.Option("--user", help="A user with the role unit_contact.")],
    unit: Annotated[int, typer.Option("--unit", help="The org_unit id (实有单位) they speak for.")],
    as_json: JsonOption = False,
) -> None:
    """Tie a unit contact to their unit (双报到: the unit reports in to its community)."""
    from gis.services import ledgers as ledger_service
    from gis.services import users as user_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        user = user_service.get_user_by_name(session, username)
        out = ledger_service.link_unit_contact(session, SYSTEM, user_id=user.id, org_unit_id=unit)
    emit(out, as_json=as_json, human=f"{username} speaks for unit {unit} (community {out['community_code']})")


@app.command("add-kind")
def add_kind(
    code: Annotated[str, typer.Argument(help="lower-case code, e.g. lift_retrofit")],
    name_zh: Annotated[str, typer.Option("--zh", help="Chinese name, e.g. 加装电梯.")],
    name_en: Annotated[str, typer.Option("--en", help="English name.")],
    community: Annotated[str, typer.Option("--community", help="The community that adds it.")],
    as_json: JsonOption = False,
) -> None:
    """A community's own need kind, beside the shared catalogue."""
    from gis.services import ledgers as ledger_service
    from gis.services.users import SYSTEM

    with db_transaction() as session:
        out = ledger_service.add_kind(session, SYSTEM, code=code, name_zh=name_zh, name_en=name_en,
                                      community_code=community)
    emit(out, as_json=as_json, human=f"need kind {out['code']}: {out['name_zh']} / {out['name_en']}")
