"""The approval chain of a plan and the ranges of community codes: pure rules, no database.

A boundary change goes 街道 proposes → 区 reviews → approved by the 区/县 government with a document
number (批复文号) → adopted (domain §2). Here that is a table of steps: the statuses a step may
start from, the status it leads to and the scope of whoever may take it. A street-scoped planner
(or admin) proposes; a district-scoped planner (or admin) reviews, approves, returns and adopts.
The services load the plan and the user and call :func:`check_step`; a refusal changes nothing.

Community codes: the last three digits 001–199 are neighbourhood committees (居委会), 200–399
village committees (村委会), in the statistical division codes.

Messages are "中文 · English", as the app's other refusals shown to planners.
"""

from __future__ import annotations

from dataclasses import dataclass

from gis.errors import Conflict, InvalidInput, PermissionDenied

STATUS_NAMES: dict[str, str] = {
    "draft": "草稿",
    "proposed": "街道已报送",
    "reviewed": "区已审核",
    "approved": "已批复",
    "adopted": "已采用",
    "archived": "已归档",
}
STEP_NAMES: dict[str, str] = {
    "propose": "街道报送",
    "review": "区级审核",
    "approve": "批复",
    "return": "退回",
    "adopt": "采用",
}
SCOPE_NAMES = {"street": ("街道", "street"), "district": ("区", "district")}
# The roles that take steps; what narrows them is their street or district.
APPROVAL_ROLES = frozenset({"district_planner", "admin"})
DOCUMENT_NO_MAX = 100


@dataclass(frozen=True)
class Step:
    """A step of the chain: from which statuses, to which status, by which scope."""

    name: str
    sources: tuple[str, ...]
    target: str
    scope: str


STEPS: dict[str, Step] = {
    "propose": Step("propose", ("draft",), "proposed", "street"),
    "review": Step("review", ("proposed",), "reviewed", "district"),
    "approve": Step("approve", ("reviewed",), "approved", "district"),
    # Sent back for rework: a new proposal starts the chain again.
    "return": Step("return", ("proposed", "reviewed", "approved"), "draft", "district"),
    "adopt": Step("adopt", ("approved",), "adopted", "district"),
}
IN_CHAIN = frozenset({"proposed", "reviewed", "approved"})

COMMITTEE_RANGES: dict[str, tuple[int, int]] = {"neighbourhood": (1, 199), "village": (200, 399)}
COMMITTEE_NAMES = {"neighbourhood": ("居委会", "neighbourhood committee"), "village": ("村委会", "village committee")}


@dataclass(frozen=True)
class Actor:
    """Who takes a step: their role and scope (a district, and within it maybe one street)."""

    username: str
    role: str
    district_code: str | None
    street_code: str | None

    @property
    def scope(self) -> str | None:
        """``"street"``, ``"district"`` or None (a user with no district is above every district's chain)."""
        if self.street_code:
            return "street"
        return "district" if self.district_code else None


def _status(status: str) -> str:
    return f"{STATUS_NAMES.get(status, status)}（{status}）"


def check_step(step: str, *, plan_id: int, status: str, plan_district: str, plan_scope: str,
               actor: Actor) -> str:
    """The status ``step`` leads to; Conflict when out of order, PermissionDenied when by the wrong role or scope."""
    rule = STEPS.get(step)
    if rule is None:
        raise InvalidInput(f"步骤 {step!r} 不存在 · step {step!r} does not exist; choose one of {', '.join(STEPS)}",
                           details={"field": "step"})
    zh = STEP_NAMES[step]
    if status not in rule.sources:
        allowed = "、".join(_status(s) for s in rule.sources)
        raise Conflict(f"方案 {plan_id} 当前为{_status(status)}，不能{zh}，{zh}只能从{allowed}开始 · plan {plan_id} is "
                       f"{status}: {step} is allowed only from {', '.join(rule.sources)}",
                       details={"plan_id": plan_id, "status": status, "step": step, "allowed_from": rule.sources})
    scope_zh, scope_en = SCOPE_NAMES[rule.scope]
    if actor.role not in APPROVAL_ROLES:
        raise PermissionDenied(f"{actor.username} 的角色 {actor.role} 不能{zh}方案，需{scope_zh}级规划人员或管理员 · "
                               f"{actor.username} is a {actor.role} and may not {step} a plan; a {scope_en}-scoped "
                               f"district_planner or admin does",
                               details={"plan_id": plan_id, "step": step, "allowed_roles": sorted(APPROVAL_ROLES),
                                        "scope": rule.scope})
    if actor.district_code != plan_district or actor.scope != rule.scope:
        where = (f"街道 {actor.street_code}" if actor.scope == "street" else
                 f"区 {actor.district_code}" if actor.scope == "district" else "全市（无区）")
        where_en = (f"street {actor.street_code}" if actor.scope == "street" else
                    f"district {actor.district_code}" if actor.scope == "district" else "no district")
        raise PermissionDenied(f"{zh}须由区 {plan_district} 的{scope_zh}级账号办理，{actor.username} 属于{where} · "
                               f"{step} is taken by a {scope_en}-scoped user of district {plan_district}; "
                               f"{actor.username} is scoped to {where_en}",
                               details={"plan_id": plan_id, "step": step, "scope": rule.scope})
    if rule.scope == "street" and len(plan_scope) >= 9 and plan_scope[:9] != actor.street_code:
        raise PermissionDenied(f"方案 {plan_id} 属于街道 {plan_scope[:9]}，"
                               f"{actor.username} 属于街道 {actor.street_code}，"
                               f"只能报送本街道的方案 · plan {plan_id} is in street {plan_scope[:9]}; "
                               f"{actor.username} proposes plans of street {actor.street_code} only",
                               details={"plan_id": plan_id, "step": step, "street_code": plan_scope[:9]})
    return rule.target


def check_document_no(document_no: str | None) -> str:
    """The approval's document number (批复文号) stripped; InvalidInput when blank or too long."""
    doc = (document_no or "").strip()
    if not doc:
        raise InvalidInput("批复须填写批复文号（如 汝政办函[2004]54号） · approving needs the document number "
                           "(批复文号, e.g. 汝政办函[2004]54号); received nothing",
                           details={"field": "document_no"})
    if len(doc) > DOCUMENT_NO_MAX:
        raise InvalidInput(f"批复文号不超过 {DOCUMENT_NO_MAX} 个字符 · document_no: at most {DOCUMENT_NO_MAX} "
                           f"characters; received {len(doc)}", details={"field": "document_no"})
    return doc


def check_note(note: str | None, *, required: bool, step: str) -> str | None:
    """The step's note stripped (None when empty); InvalidInput when the step needs one."""
    text = (note or "").strip()
    if required and not text:
        raise InvalidInput(f"{STEP_NAMES.get(step, step)}须说明理由 · {step} needs a note saying why",
                           details={"field": "note"})
    return text or None


def committee_of(code: str | None) -> str | None:
    """``"neighbourhood"`` (last three digits 001–199), ``"village"`` (200–399) or None for other codes."""
    if not code or len(code) != 12 or not code.isdigit():
        return None
    n = int(code[-3:])
    for committee, (lo, hi) in COMMITTEE_RANGES.items():
        if lo <= n <= hi:
            return committee
    return None


def in_range(code: str, committee: str) -> bool:
    """Whether a community code's number lies in the range of its committee kind."""
    lo, hi = COMMITTEE_RANGES[committee]
    return code.isdigit() and lo <= int(code[-3:]) <= hi
