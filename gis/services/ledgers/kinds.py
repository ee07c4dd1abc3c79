"""Need kinds: the shared catalogue and the kinds a community adds for itself (e.g. 加装电梯)."""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import ledgers as rules
from gis.errors import Conflict, InvalidInput, NotFound
from gis.services.ledgers.scope import require_community_writer
from gis.services.privacy import record_change
from gis.services.users import Principal


class NeedKind(TypedDict):
    """A need kind: shared (no community) or a community's own."""

    code: str
    name_zh: str
    name_en: str
    community_code: str | None


def list_kinds(session: Session, *, community_code: str | None = None) -> list[NeedKind]:
    """The shared kinds and, with ``community_code``, that community's own."""
    rows = session.execute(text("SELECT code, name_zh, name_en, community_code FROM need_kind WHERE "
                                "community_code IS NULL OR community_code = :c ORDER BY community_code NULLS FIRST, "
                                "code"), {"c": community_code}).mappings().all()
    return [NeedKind(code=r["code"], name_zh=r["name_zh"], name_en=r["name_en"], community_code=r["community_code"])
            for r in rows]


def add_kind(session: Session, principal: Principal, *, code: str, name_zh: str, name_en: str,
             community_code: str) -> NeedKind:
    """A community's own need kind (e.g. 加装电梯), beside the shared catalogue."""
    code = rules.check_kind_code(code)
    community = session.execute(text("SELECT code, district_code FROM community WHERE code = :c AND valid_to IS NULL"),
                                {"c": community_code}).first()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist",
                       details={"field": "community_code"})
    require_community_writer(session, principal, community_code, community.district_code, "need kinds")
    if not name_zh.strip() or not name_en.strip():
        raise InvalidInput("需求类型须有中英文名称 · name_zh and name_en: both needed", details={"field": "name_zh"})
    if session.execute(text("SELECT 1 FROM need_kind WHERE code = :c"), {"c": code}).first():
        raise Conflict(f"需求类型 {code} 已存在 · need kind {code} already exists", details={"field": "code"})
    session.execute(text("INSERT INTO need_kind (code, district_code, community_code, name_zh, name_en) "
                         "VALUES (:c, :d, :cc, :zh, :en)"),
                    {"c": code, "d": community.district_code, "cc": community_code, "zh": name_zh.strip()[:100],
                     "en": name_en.strip()[:100]})
    record_change(session, principal, entity="need_kind", entity_id=code, action="create",
                  district_code=community.district_code, detail={"community_code": community_code})
    return {"code": code, "name_zh": name_zh.strip(), "name_en": name_en.strip(), "community_code": community_code}


def check_kind(session: Session, kind_code: str, community_code: str | None, field: str = "kind_code") -> str:
    """``kind_code`` if it is a shared kind or one of ``community_code``'s own; else InvalidInput on ``field``."""
    row = session.execute(text("SELECT community_code FROM need_kind WHERE code = :k"), {"k": kind_code}).first()
    if row is None or (row.community_code is not None and row.community_code != community_code):
        known = [k["code"] for k in list_kinds(session, community_code=community_code)]
        raise InvalidInput(f"需求类型 {kind_code!r} 不存在 · {field}: {kind_code!r} is not a need kind of this "
                           f"community; known: {', '.join(known)}", details={"field": field})
    return kind_code
