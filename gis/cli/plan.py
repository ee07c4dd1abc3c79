"""``wangge plan list | show | diff | propose | review | approve | return | adopt | history | revert | confirm-code``.

Draft plans, compared, taken through the approval chain and adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table

from gis.cli.output import JsonOption, console, db_transaction, emit, settings

app = typer.Typer(help="Draft plans (grid splits, community redraws): list, compare, adopt, revert.",
                  no_args_is_help=True)

PlanId = Annotated[int, typer.Argument(help="Plan id (see `wangge plan list`).")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the boundary history).")]
# Human output lists at most this many moved buildings; --json lists them all.
MAX_ROWS = 50


def _dash(value: Any) -> str:
    return "–" if value is None or value == "" else str(value)


@app.command("list")
def list_plans(
    scope: str = typer.Option(None, "--scope", help="Community, street or district code."),
    status: str = typer.Option(None, "--status", help="draft, proposed, reviewed, approved, adopted or archived."),
    kind: str = typer.Option(None, "--kind", help="grid_split, community_redraw, manual_edit or import."),
    as_json: JsonOption = False,
) -> None:
    """List plans, newest first."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        rows = plan_service.list_plans(session, scope_code=scope, kind=kind, status=status)
    if as_json:
        emit(rows, as_json=True)
        return
    if not rows:
        console.print("no plans", highlight=False)
        return
    table = Table("id", "kind", "scope", "status", "units", "households", "created", "by", "reason")
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["scope_code"], r["status"], str(r["units"]), str(r["households"]),
                      _dash(r["created_at"])[:16], _dash(r["created_by"]), _dash(r["reason"]))
    console.print(table)


@app.command("show")
def show(plan_id: PlanId, as_json: JsonOption = False) -> None:
    """A plan's units (households, in range or not), parameters and metrics."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        shown = plan_service.show_plan(session, plan_id, settings=settings())
    if as_json:
        emit(shown, as_json=True)
        return
    s, b = shown["summary"], shown["bounds"]
    console.print(f"plan {shown['id']}: {shown['kind']} of {shown['scope_code']}, {shown['status']} "
                  f"(version {shown['version']}); {s['units']} units, {s['households']} households, "
                  f"{s['buildings']} buildings; {s['in_range']} in [{b['min']}, {b['max']}], "
                  f"{s['out_of_range']} out of range, {s['dedicated']} dedicated", highlight=False)
    if shown["adopted_at"]:
        console.print(f"adopted {shown['adopted_at'][:16]} by {_dash(shown['adopted_by'])}: {_dash(shown['reason'])}",
                      highlight=False)
    if shown.get("document_no"):
        console.print(f"批复文号 document number: {shown['document_no']}", highlight=False)
    community = shown["level"] == "community"
    table = Table("label", "code", *(["code status"] if community else []), "kind", "locked", "households",
                  "in range")
    for u in shown["units"]:
        in_range = "exempt" if u["in_range"] is None else ("yes" if u["in_range"] else "[red]no[/]")
        table.add_row(u["label"], _dash(u["code"]), *([_dash(u.get("code_status"))] if community else []), u["kind"],
                      "yes" if u["locked"] else "", str(u["households"]), in_range)
    console.print(table)
    _print_approvals(shown.get("approvals") or [])
    metrics = {k: v for k, v in shown["metrics"].items() if not isinstance(v, dict | list)}
    if metrics:
        console.print("metrics: " + ", ".join(f"{k} {v}" for k, v in metrics.items()), highlight=False)


def _print_approvals(approvals: list[dict[str, Any]]) -> None:
    if not approvals:
        return
    table = Table("step", "from → to", "by", "at (Asia/Shanghai)", "document no.", "note", title="approvals 审批记录")
    for a in approvals:
        table.add_row(f"{a['step']} {a['step_zh']}", f"{a['from_status']} → {a['to_status']}", _dash(a["by"]),
                      _dash(a["at_local"]), _dash(a["document_no"]), _dash(a["note"]))
    console.print(table)


def _unit(ref: Mapping[str, Any] | None) -> str:
    if ref is None:
        return "–"
    label, code = ref.get("label"), ref.get("code")
    return f"{label} ({code})" if code and code != label else str(label)


@app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="Plan id or `current`.")],
    b: Annotated[str, typer.Argument(help="Plan id or `current`.")],
    as_json: JsonOption = False,
) -> None:
    """The buildings and households that change unit between two plans (or a plan and the current boundaries)."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        result = plan_service.diff_plans(session, a, b)
    if as_json:
        emit(result, as_json=True)
        return
    console.print(f"{result['a']['name']} → {result['b']['name']} ({result['level']}s of {result['scope_code']}): "
                  f"{result['buildings_moved']} buildings and {result['households_moved']} households change "
                  f"{result['level']} (of {result['buildings_compared']} buildings in both)", highlight=False)
    for ref in result["unmatched_a"]:
        console.print(f"  only in {result['a']['name']}: {_unit(ref)}", highlight=False)
    for ref in result["unmatched_b"]:
        console.print(f"  only in {result['b']['name']}: {_unit(ref)}", highlight=False)
    if result["moves"]:
        table = Table("building", "name / address", "households", "from", "to")
        for m in result["moves"][:MAX_ROWS]:
            table.add_row(str(m["building_id"]), _dash(m["name"] or m["address"]), str(m["households"]),
                          _unit(m["from"]), _unit(m["to"]))
        console.print(table)
        if len(result["moves"]) > MAX_ROWS:
            console.print(f"… and {len(result['moves']) - MAX_ROWS} more (--json lists them all)", highlight=False)
    for only, side in ((result["only_in_a"], result["a"]), (result["only_in_b"], result["b"])):
        if only:
            console.print(f"{len(only)} buildings ({sum(o['households'] for o in only)} households) are only in "
                          f"{side['name']}", highlight=False)


@app.command("adopt")
def adopt(
    plan_id: PlanId,
    reason: Reason,
    by: str = typer.Option(None, "--by", help="Username of who approves (else recorded in the reason)."),
    allow_out_of_range: bool = typer.Option(False, "--allow-out-of-range",
                                            help="Adopt even with general units outside the household bounds."),
    as_json: JsonOption = False,
) -> None:
    """Adopt a draft: check it again and write its units as new boundary versions."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        user_id, reason = _who(session, by, reason)
        result = plan_service.adopt_plan(session, plan_id, reason=reason, settings=settings(), user_id=user_id,
                                         allow_out_of_range=allow_out_of_range)
    if as_json:
        emit(result, as_json=True)
        return
    console.print(f"plan {result['plan_id']} adopted: {len(result['units'])} {result['level']}s of "
                  f"{result['scope_code']}" + (f"; retired {', '.join(result['retired'])}" if result["retired"] else "")
                  + (f"; archived plan(s) {', '.join(map(str, result['archived_plans']))}"
                     if result["archived_plans"] else ""), highlight=False)
    table = Table("label", "code", "", "version", "households", "four limits")
    for u in result["units"]:
        table.add_row(u["label"], u["code"], u["origin"], str(u["version"]), str(u["households"]),
                      _dash(result["four_limits"].get(u["code"])))
    console.print(table)
    for o in result["out_of_range"]:
        console.print(f"[yellow]out of range:[/] {o['text']}", highlight=False)
    for n in result["needs_grid_split"]:
        console.print(f"community {n['code']} needs a new grid split"
                      + (f" (grids {', '.join(n['retired_grids'])} retired)" if n["retired_grids"] else ""),
                      highlight=False)


@app.command("history")
def history(
    code: Annotated[str, typer.Argument(help="A grid, community, street or district code.")],
    as_json: JsonOption = False,
) -> None:
    """Every version of a unit and of the units under it, with the reason, the plan and who approved."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        result = plan_service.boundary_history(session, code)
    if as_json:
        emit(result, as_json=True)
        return
    table = Table("level", "code", "name", "v", "valid from", "valid to", "plan", "approved by", "reason")
    for v in result["versions"]:
        table.add_row(v["level"], v["code"], v["name"], str(v["version"]), _dash(v["valid_from"])[:19],
                      "current" if v["current"] else _dash(v["valid_to"])[:19], _dash(v["plan_id"]),
                      _dash(v["approved_by"]), _dash(v["reason"]))
    console.print(table)


@app.command("revert")
def revert(
    plan_id: PlanId,
    reason: Reason,
    by: str = typer.Option(None, "--by", help="Username of who approves (else recorded in the reason)."),
    as_json: JsonOption = False,
) -> None:
    """Undo an adopted plan: the boundaries before it come back as new versions."""
    from gis.services import plans as plan_service

    with db_transaction() as session:
        user_id, reason = _who(session, by, reason)
        result = plan_service.revert_plan(session, plan_id, reason=reason, settings=settings(), user_id=user_id)
    if as_json:
        emit(result, as_json=True)
        return
    restored = [f"{r['code']} (v{r['version']})" for r in result["restored"]]
    console.print(f"plan {result['plan_id']} reverted: restored {', '.join(restored) or 'nothing'}"
                  + (f"; retired {', '.join(result['retired'])}" if result["retired"] else "")
                  + (f"; restored grids {', '.join(r['code'] for r in result['restored_grids'])}"
                     if result["restored_grids"] else ""), highlight=False)
    for o in result["out_of_range"]:
        console.print(f"[yellow]out of range:[/] {o['text']}", highlight=False)


By = Annotated[str, typer.Option("--by", help="Username of who takes the step (recorded; their role and scope "
                                             "decide whether they may).")]
Note = Annotated[str | None, typer.Option("--note", help="Why (kept in the plan's approval history).")]


def _step(plan_id: int, step: str, by: str, note: str | None, document_no: str | None, as_json: bool) -> None:
    from gis.errors import NotFound
    from gis.services import approvals as approval_service
    from gis.services import plans as plan_service

    with db_transaction() as session:
        user_id = plan_service.find_user_id(session, by)
        if user_id is None:
            raise NotFound(f"用户 {by} 不存在 · no user {by!r} (see `wangge user list`)")
        result = approval_service.take_step(session, plan_id, step, user_id=user_id, note=note,
                                            document_no=document_no)
    if as_json:
        emit(result, as_json=True)
        return
    done = result["step"]
    console.print(f"plan {result['plan_id']}: {done['step_zh']} {step} by {done['by']} at {done['at_local']} "
                  f"(Asia/Shanghai) → {result['status']}"
                  + (f"; 批复文号 {result['document_no']}" if result["document_no"] else ""), highlight=False)


@app.command("propose")
def propose(plan_id: PlanId, by: By, note: Note = None, as_json: JsonOption = False) -> None:
    """街道报送: a street-scoped planner proposes a draft (draft → proposed)."""
    _step(plan_id, "propose", by, note, None, as_json)


@app.command("review")
def review(plan_id: PlanId, by: By, note: Note = None, as_json: JsonOption = False) -> None:
    """区级审核: a district-scoped planner reviews a proposed plan (proposed → reviewed)."""
    _step(plan_id, "review", by, note, None, as_json)


@app.command("approve")
def approve(
    plan_id: PlanId,
    by: By,
    document_no: str = typer.Option(..., "--document-no", help="批复文号, the approval's document number, e.g. "
                                                               "汝政办函[2004]54号."),
    note: Note = None,
    as_json: JsonOption = False,
) -> None:
    """批复: record the approval with its document number (reviewed → approved); then `plan adopt` it."""
    _step(plan_id, "approve", by, note, document_no, as_json)


@app.command("return")
def return_plan(plan_id: PlanId, by: By, note: Note, as_json: JsonOption = False) -> None:
    """退回: a district-scoped planner sends a plan in the chain back to draft, saying why."""
    _step(plan_id, "return", by, note, None, as_json)


@app.command("confirm-code")
def confirm_code(
    code: Annotated[str, typer.Argument(help="A 12-digit community code given out by a plan (provisional).")],
    by: By,
    note: Note = None,
    as_json: JsonOption = False,
) -> None:
    """Confirm a provisional community code once the statistics bureau has issued it."""
    from gis.errors import NotFound
    from gis.services import approvals as approval_service
    from gis.services import plans as plan_service

    with db_transaction() as session:
        user_id = plan_service.find_user_id(session, by)
        if user_id is None:
            raise NotFound(f"用户 {by} 不存在 · no user {by!r} (see `wangge user list`)")
        result = approval_service.confirm_code(session, code, user_id=user_id, note=note)
    emit(result, as_json=as_json, human=f"community code {result['code']} ({result['committee']}) confirmed by "
                                        f"{result['confirmed_by']} at {result['confirmed_at_local']} (Asia/Shanghai)")


def _who(session: Any, username: str | None, reason: str) -> tuple[int | None, str]:
    """The app user behind --by, or None with the name kept in the reason."""
    from gis.services import plans as plan_service

    if not username:
        return None, reason
    user_id = plan_service.find_user_id(session, username)
    return (user_id, reason) if user_id is not None else (None, f"{reason} (by {username})")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="plan")
