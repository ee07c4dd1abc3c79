"""A community's three lists together (the printable page's data) and as files: XLSX with three sheets, or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services.ledgers.figures import CommunityFigures, ledger_stats
from gis.services.ledgers.needs import NeedRecord, list_needs
from gis.services.ledgers.projects import ProjectSummary, list_projects
from gis.services.ledgers.resources import ResourceRecord, list_resources
from gis.services.residents import defuse_formula
from gis.services.users import Principal, require_district


class CommunityLists(TypedDict):
    """A community's three lists, its figures, and when they were read."""

    community: dict[str, Any]
    needs: list[NeedRecord]
    resources: list[ResourceRecord]
    projects: list[ProjectSummary]
    figures: CommunityFigures | None
    generated_at: str


def community_lists(session: Session, principal: Principal, community_code: str, *,
                    reason: str | None = None) -> CommunityLists:
    """A community's three lists (needs, resources, projects), as the printable page and the export show them."""
    community = session.execute(text(
        "SELECT c.code, c.name, c.district_code, c.street_code, s.name AS street_name, d.name AS district_name "
        "FROM community c LEFT JOIN street s ON s.code = c.street_code AND s.valid_to IS NULL "
        "LEFT JOIN district d ON d.code = c.district_code WHERE c.code = :c AND c.valid_to IS NULL"),
        {"c": community_code}).mappings().first()
    if community is None:
        raise NotFound(f"社区 {community_code} 不存在 · community {community_code} does not exist",
                       details={"field": "code"})
    require_district(principal, community["district_code"], f"community {community_code}")
    needs = list_needs(session, principal, community_code=community_code, reason=reason)
    resources = list_resources(session, principal, community_code=community_code, reason=reason)
    projects = list_projects(session, principal, community_code=community_code)
    stats = next((c for c in ledger_stats(session, principal, district_code=community["district_code"])["communities"]
                  if c["community_code"] == community_code), None)
    return {"community": dict(community), "needs": needs, "resources": resources, "projects": projects,
            "figures": stats, "generated_at": dt.datetime.now(dt.UTC).isoformat()}


# Export columns: (header, record key). Chinese headers: the files are for community staff and Excel.
NEED_EXPORT = (("编号", "id"), ("类型", "kind_zh"), ("需求", "title"), ("网格", "grid_code"),
               ("涉及户数", "affected_households"), ("涉及人数", "affected_people"), ("来源", "source"),
               ("状态", "status"), ("结果", "outcome"), ("登记时间", "created_at"))
RESOURCE_EXPORT = (("编号", "id"), ("名称", "name"), ("提供方", "provider_kind"), ("单位", "unit_name"),
                   ("可服务类型", "kind_codes"), ("开放时间", "available"), ("容量", "capacity"), ("地址", "address"),
                   ("联系人", "contact_name"), ("联系电话(脱敏)", "contact_phone"))
PROJECT_EXPORT = (("编号", "id"), ("项目", "title"), ("需求编号", "need_id"), ("类型", "kind_code"), ("状态", "status"),
                  ("开始", "starts_on"), ("结束", "ends_on"), ("认领单位数", "units"), ("报到党员数", "party_members"),
                  ("志愿者", "volunteers"), ("志愿服务时长", "hours"), ("资源", "resources"), ("成效", "outcome"))


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "、".join(str(v) for v in value)
    return defuse_formula(value)


def _rows(lists: CommunityLists, which: str) -> Sequence[Mapping[str, Any]]:
    rows: Sequence[Mapping[str, Any]] = (lists["needs"] if which == "needs" else lists["resources"]
                                         if which == "resources" else lists["projects"])
    return rows


def export_lists(lists: CommunityLists, *, fmt: str, which: str = "needs") -> tuple[bytes, str, str]:
    """The lists as XLSX (three sheets) or one list as CSV (UTF-8 with BOM, for Excel): bytes, type, file name."""
    tables = {"needs": ("需求清单", NEED_EXPORT), "resources": ("资源清单", RESOURCE_EXPORT),
              "projects": ("项目清单", PROJECT_EXPORT)}
    code = lists["community"]["code"]
    if fmt == "csv":
        if which not in tables:
            raise InvalidInput(f"list: one of {', '.join(tables)}, got {which!r}", details={"field": "list"})
        out = io.StringIO()
        writer = csv.writer(out)
        columns = tables[which][1]
        writer.writerow([h for h, _ in columns])
        for r in _rows(lists, which):
            writer.writerow([_cell(r.get(k)) for _, k in columns])
        return ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", f"ledgers-{code}-{which}.csv"
    if fmt != "xlsx":
        raise InvalidInput(f"format: csv or xlsx, got {fmt!r}", details={"field": "format"})
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for key, (title, columns) in tables.items():
        sheet = book.create_sheet(title)
        sheet.append([h for h, _ in columns])
        for r in _rows(lists, key):
            sheet.append([_cell(r.get(k)) for _, k in columns])
    buffer = io.BytesIO()
    book.save(buffer)
    return (buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            f"ledgers-{code}.xlsx")
