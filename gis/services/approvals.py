"""A plan's approval chain (propose → review → approve → adopt) and the confirmation of community codes.

Every step locks the plan, checks the step against :mod:`gis.approvals` (order, role, scope)
before writing anything, moves the plan's status, bumps its version and records a
``plan_approval`` row (who, when, note, document number). Adoption itself is
``gis.services.plans.adopt_plan``, which calls :func:`check_adoption` and :func:`record_adoption`.

Times are stored in UTC and shown in Asia/Shanghai (``at_local``), the planners' clock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis import approvals as rules
from gis.db.models import AppUser, CommunityCode, Plan, PlanApproval
from gis.errors import Conflict, Infeasible, InvalidInput, NotFound, PermissionDenied
from gis.settings import Settings

SHOWN_ZONE = ZoneInfo("Asia/Shanghai")
PLAN_APPROVAL_CHOICES = ("none", "community", "all")


def _lock_plan(session: Session, plan_id: int) -> Plan:
    plan = session.execute(
        select(Plan).where(Plan.id == int(plan_id)).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"方案 {plan_id} 不存在 · plan {plan_id} does not exist")
    return plan


def actor_of(session: Session, user_id: int | None, what: str) -> rules.Actor:
    """The user taking a step, with their scope; InvalidInput without one, NotFound for an unknown id."""
    if user_id is None:
        raise InvalidInput(f"{what}须记名办理 · user: {what} is recorded with who took it: give the user",
                           details={"field": "user"})
    user = session.get(AppUser, int(user_id))
    if user is None:
        raise NotFound(f"用户 {user_id} 不存在 · user {user_id} does not exist")
    if not user.is_active:
        raise PermissionDenied(f"用户 {user.username} 已停用 · user {user.username} is deactivated")
    return rules.Actor(username=user.username, role=user.role_code, district_code=user.district_code,
                       street_code=user.street_code)


def _record(session: Session, plan: Plan, *, step: str, from_status: str, to_status: str, user_id: int | None,
            note: str | None, document_no: str | None = None) -> PlanApproval:
    row = PlanApproval(plan_id=plan.id, district_code=plan.district_code, step=step, from_status=from_status,
                       to_status=to_status, user_id=user_id, note=note, document_no=document_no,
                       at=session.execute(text("SELECT clock_timestamp()")).scalar_one())
    session.add(row)
    session.flush()
    return row


def _check_version(plan: Plan, expected_version: int | None) -> None:
    if expected_version is not None and plan.version != int(expected_version):
        raise Conflict(f"方案 {plan.id} 已被修改（当前版本 {plan.version}，而非 {expected_version}） · plan {plan.id} "
                       f"is at version {plan.version}, not {expected_version}: it changed since you read it",
                       details={"plan_id": plan.id, "current_version": plan.version, "status": plan.status})


def take_step(session: Session, plan_id: int, step: str, *, user_id: int | None, note: str | None = None,
              document_no: str | None = None, expected_version: int | None = None) -> dict[str, Any]:
    """Move a plan one step along the chain (propose, review, approve, return); refused steps change nothing.

    Parameters
    ----------
    step
        ``propose`` (street scope: draft → proposed), ``review`` (district: proposed → reviewed),
        ``approve`` (district: reviewed → approved, needs ``document_no``) or ``return``
        (district: back to draft, needs a ``note``). Adoption is ``plans.adopt_plan``.
    document_no
        The approval's document number (批复文号), required by ``approve``.
    """
    if step == "adopt":
        raise InvalidInput("采用请用 wangge plan adopt · step: adopt is not an approval step; adopt a plan with "
                           "`wangge plan adopt` (POST /plans/{id}/adopt)", details={"field": "step"})
    if step not in rules.STEPS:
        raise InvalidInput(f"步骤 {step!r} 不存在 · step {step!r} does not exist; choose one of "
                           f"{', '.join(s for s in rules.STEPS if s != 'adopt')}")
    plan = _lock_plan(session, plan_id)
    if plan.kind == "micro_split":
        # Level-2 grids are the community's own work inside one grid, adopted by their own one-step adoption.
        raise InvalidInput(f"二级网格方案直接采用，不走审批 · plan {plan.id} splits a grid into level-2 grids, which "
                           f"are adopted directly (wangge plan adopt), not through the approval chain",
                           details={"plan_id": plan.id, "kind": plan.kind})
    _check_version(plan, expected_version)
    actor = actor_of(session, user_id, rules.STEP_NAMES[step])
    assert user_id is not None  # actor_of refused a step without one
    target = rules.check_step(step, plan_id=plan.id, status=plan.status, plan_district=plan.district_code,
                              plan_scope=plan.scope_code, actor=actor)
    doc = rules.check_document_no(document_no) if step == "approve" else None
    if step != "approve" and document_no is not None and document_no.strip():
        raise InvalidInput(f"批复文号只在批复时填写 · document_no belongs to the approve step, not {step}",
                           details={"field": "document_no"})
    text_note = rules.check_note(note, required=step == "return", step=step)
    before = plan.status
    plan.status = target
    plan.version = plan.version + 1
    if step == "approve":
        plan.document_no = doc
    elif step == "return":
        plan.document_no = None
    row = _record(session, plan, step=step, from_status=before, to_status=target, user_id=user_id,
                  note=text_note, document_no=doc)
    return {"plan_id": plan.id, "status": plan.status, "version": plan.version, "document_no": plan.document_no,
            "step": _describe(row, actor.username), "approvals": approval_history(session, plan.id)}


def needs_approval(settings: Settings, level: str) -> bool:
    """Whether a plan of this level (grid or community) must be approved before it is adopted."""
    choice = settings.plan_approval
    return choice == "all" or (choice == "community" and level == "community")


def check_adoption(session: Session, plan: Plan, *, level: str, user_id: int | None, settings: Settings) -> None:
    """Refuse adopting a plan that is inside the chain, or a draft the settings want approved first."""
    if plan.status in ("proposed", "reviewed"):
        raise Conflict(f"方案 {plan.id} 正在审批中（{rules.STATUS_NAMES[plan.status]}），批复后才能采用 · plan "
                       f"{plan.id} is {plan.status}: it is adopted once approved (with its document number)",
                       details={"plan_id": plan.id, "status": plan.status})
    if plan.status == "approved":
        actor = actor_of(session, user_id, "采用已批复的方案")
        rules.check_step("adopt", plan_id=plan.id, status=plan.status, plan_district=plan.district_code,
                         plan_scope=plan.scope_code, actor=actor)
        return
    if plan.status == "draft" and needs_approval(settings, level):
        raise Conflict(f"方案 {plan.id} 须先经街道报送、区审核并批复（批复文号）才能采用 · "
                       f"plan {plan.id} is a draft of {'communities' if level == 'community' else level + 's'}, "
                       f"which are adopted only after the chain: propose (street), review (district), "
                       f"approve with a document number",
                       details={"plan_id": plan.id, "status": plan.status, "plan_approval": settings.plan_approval})


def record_adoption(session: Session, plan: Plan, *, from_status: str, user_id: int | None,
                    reason: str) -> None:
    """The adopt step in the plan's history (also for a draft adopted directly, where that is allowed)."""
    _record(session, plan, step="adopt", from_status=from_status, to_status="adopted", user_id=user_id,
            note=reason, document_no=plan.document_no)


def _local(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(SHOWN_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _describe(row: PlanApproval, username: str | None) -> dict[str, Any]:
    return {"step": row.step, "step_zh": rules.STEP_NAMES[row.step], "from_status": row.from_status,
            "to_status": row.to_status, "by": username, "at": row.at.isoformat() if row.at else None,
            "at_local": _local(row.at), "note": row.note, "document_no": row.document_no}


def approval_history(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """Every step a plan went through, oldest first: who, when (UTC and Asia/Shanghai), note, document number."""
    rows = session.execute(
        select(PlanApproval, AppUser.username).join(AppUser, AppUser.id == PlanApproval.user_id, isouter=True)
        .where(PlanApproval.plan_id == int(plan_id)).order_by(PlanApproval.at, PlanApproval.id)).all()
    return [_describe(row, username) for row, username in rows]


# --- community codes ----------------------------------------------------------------------


def record_new_codes(session: Session, *, codes: dict[str, str], plan_id: int) -> None:
    """Community codes a plan gave out, provisional until confirmed; ``codes`` maps code → committee kind."""
    for code, committee in codes.items():
        if not rules.in_range(code, committee):
            raise InvalidInput(f"社区代码 {code} 不在{rules.COMMITTEE_NAMES[committee][0]}代码范围内 · community code "
                               f"{code} is outside the {rules.COMMITTEE_NAMES[committee][1]} range "
                               f"{rules.COMMITTEE_RANGES[committee]}")
        session.add(CommunityCode(code=code, district_code=code[:6], status="provisional", committee=committee,
                                  plan_id=plan_id))
    session.flush()


def code_statuses(session: Session, codes: list[str]) -> dict[str, dict[str, Any]]:
    """Status of each community code: provisional or confirmed (imported codes have no record: confirmed)."""
    rows = session.execute(
        select(CommunityCode, AppUser.username).join(AppUser, AppUser.id == CommunityCode.confirmed_by, isouter=True)
        .where(CommunityCode.code.in_(list(codes)))).all() if codes else []
    found = {row.code: {"code": row.code, "status": row.status, "committee": row.committee, "plan_id": row.plan_id,
                        "confirmed_by": username, "confirmed_at_local": _local(row.confirmed_at), "note": row.note}
             for row, username in rows}
    return {c: found.get(c) or {"code": c, "status": "confirmed", "committee": rules.committee_of(c),
                                "plan_id": None, "confirmed_by": None, "confirmed_at_local": None, "note": None}
            for c in codes}


def confirm_code(session: Session, code: str, *, user_id: int | None, note: str | None = None) -> dict[str, Any]:
    """Mark a provisional community code as confirmed by the statistics bureau, by a district-scoped user."""
    code = str(code or "").strip()
    if len(code) != 12 or not code.isdigit():
        raise InvalidInput(f"社区代码为 12 位数字 · code must be a 12-digit community code; received {code!r}")
    row = session.execute(
        select(CommunityCode).where(CommunityCode.code == code).with_for_update()).scalar_one_or_none()
    if row is None:
        raise NotFound(f"社区代码 {code} 不是方案发放的暂定代码（导入的代码已为正式代码） · "
                       f"community code {code} was not given out by a plan, so it is not provisional "
                       "(imported codes count as confirmed)")
    if row.status == "confirmed":
        raise Conflict(f"社区代码 {code} 已确认 · community code {code} is already confirmed",
                       details={"code": code, "status": row.status})
    actor = actor_of(session, user_id, "确认社区代码")
    if actor.role not in rules.APPROVAL_ROLES or actor.scope != "district" or actor.district_code != code[:6]:
        raise PermissionDenied(f"确认社区代码须由区 {code[:6]} 的区级规划人员或管理员办理 · a code of district "
                               f"{code[:6]} is confirmed by a district-scoped district_planner or admin of it; "
                               f"{actor.username} is a {actor.role}"
                               + (f" of street {actor.street_code}" if actor.street_code else
                                  f" of district {actor.district_code}" if actor.district_code else ""),
                               details={"code": code})
    row.status = "confirmed"
    row.confirmed_by = int(user_id)  # type: ignore[arg-type]
    row.confirmed_at = session.execute(text("SELECT clock_timestamp()")).scalar_one()
    row.note = rules.check_note(note, required=False, step="confirm")
    session.flush()
    return code_statuses(session, [code])[code]


def committee_of(code: str | None) -> str | None:
    """The committee kind a community code's number says (居委会 001–199, 村委会 200–399), or None."""
    return rules.committee_of(code)


def next_code_in_range(used: list[str], *, street_code: str, committee: str, what: str) -> str:
    """The next community code of a street inside a committee's range, after every code ever used in it."""
    lo, hi = rules.COMMITTEE_RANGES[committee]
    numbers = [int(c[-3:]) for c in used if c.startswith(street_code) and rules.in_range(c, committee)]
    n = max(numbers, default=lo - 1) + 1
    if n > hi:
        zh, en = rules.COMMITTEE_NAMES[committee]
        raise Infeasible(f"街道 {street_code} 的{zh}代码（{lo:03d}–{hi:03d}）已用尽 · {what}: street "
                         f"{street_code} has no {en} codes left in {lo:03d}-{hi:03d} (retired codes are never given "
                         f"out again)", details={"street_code": street_code, "committee": committee})
    return f"{street_code}{n:03d}"
