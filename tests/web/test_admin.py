"""The admin pages in a real browser: a user created with grids, reassigned and changed, then found in the audit log."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import text
from visible_codes import visible_codes
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine
from gis.roles import ROLES

REPO = Path(__file__).resolve().parents[2]
DISTRICT = "320102"


def _rows(url: str, sql: str, **params: object) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def _current_grids(url: str, user_id: int) -> list[str]:
    return [r[0] for r in _rows(url, "SELECT grid_code FROM grid_assignment WHERE user_id = :u AND valid_to IS NULL "
                                     "ORDER BY grid_code", u=user_id)]


def test_the_admin_page_offers_every_role() -> None:
    source = (REPO / "web" / "static" / "admin.js").read_text(encoding="utf-8")
    listed = re.search(r"export const ROLE_CODES = \[(.*?)\];", source, re.S).group(1)
    assert re.findall(r'"([a-z_]+)"', listed) == list(ROLES)


def test_admin_creates_a_user_assigns_grids_and_filters_the_audit_log(open_page, web_database_url: str) -> None:
    grids = [r[0] for r in _rows(web_database_url, "SELECT code FROM grid "
                                                   "WHERE district_code = :d AND valid_to IS NULL "
                                                   "ORDER BY code LIMIT 3", d=DISTRICT)]
    page = open_page()
    sign_in(page, "demo_admin")
    assert page.get_attribute("#view-nav a[aria-current='page']", "data-view") == "users"
    assert page.locator("#user-list tbody tr").count() == _rows(
        web_database_url, "SELECT count(*) FROM app_user WHERE district_code = :d", d=DISTRICT)[0][0]

    # A new grid worker with two grids, picked from the filtered list.
    page.click("#new-user-box summary")
    page.fill("#new-username", "wb_admin_test")
    page.fill("#new-display-name", "测试网格员")
    page.select_option("#new-role", "grid_worker")
    assert page.locator("#new-role option:checked").inner_text() == "网格员"
    page.fill("#new-password", "a-long-password-1")
    page.fill("#new-grids-filter", grids[0][:-1])
    page.check(f"#new-grids input[value='{grids[0]}']")
    page.check(f"#new-grids input[value='{grids[1]}']")
    page.click("#new-create")
    expect(page.locator("#message")).to_have_text("已创建用户 wb_admin_test")
    user = _rows(web_database_url, "SELECT id, role_code, district_code, display_name, is_active, version "
                                   "FROM app_user WHERE username = 'wb_admin_test'")[0]
    assert (user.role_code, user.district_code, user.display_name, user.is_active) == (
        "grid_worker", DISTRICT, "测试网格员", True)
    assert _current_grids(web_database_url, user.id) == sorted(grids[:2])
    row = page.locator(f"#user-list tr[data-user='{user.id}']")
    assert "测试网格员" in row.inner_text() and "网格员" in row.inner_text()

    # Reassign: drop the first grid, add the third.
    row.locator("button[data-assign]").click()
    page.wait_for_selector("#assign-grids")
    page.uncheck(f"#assign-picker input[value='{grids[0]}']")
    page.check(f"#assign-picker input[value='{grids[2]}']")
    page.click("#assign-save")
    expect(page.locator("#message")).to_have_text("已为 测试网格员 分配 2 个网格")
    assert _current_grids(web_database_url, user.id) == sorted(grids[1:])
    ended = _rows(web_database_url, "SELECT grid_code FROM grid_assignment WHERE user_id = :u AND valid_to IS NOT NULL",
                  u=user.id)
    assert [r[0] for r in ended] == [grids[0]]  # history kept, not deleted

    # Change the name and deactivate the account (sent with the version read).
    page.locator(f"#user-list tr[data-user='{user.id}'] button[data-edit]").click()
    page.fill("#edit-display-name", "测试网格员（停用）")
    page.uncheck("#edit-active")
    page.click("#edit-save")
    expect(page.locator("#message")).to_have_text("已保存 wb_admin_test")
    changed = _rows(web_database_url, "SELECT display_name, is_active, version FROM app_user WHERE id = :u",
                    u=user.id)[0]
    assert (changed.display_name, changed.is_active, changed.version) == ("测试网格员（停用）", False, user.version + 1)
    assert visible_codes(page.inner_text("body")) == []
    screenshot(page, "admin-users")

    # The audit log: every change above, filtered to this user record, newest first, in words.
    page.click("#view-nav a[data-view='audit']")
    page.wait_for_selector("#audit-filters")
    page.select_option("#audit-entity", "app_user")
    page.fill("#audit-entity-id", str(user.id))
    page.click("#audit-apply")
    page.wait_for_selector("#audit-list tbody tr[data-entity='app_user']")
    expected = _rows(web_database_url, "SELECT id, action FROM audit_log WHERE entity = 'app_user' AND entity_id = :e "
                                       "ORDER BY id DESC", e=str(user.id))
    assert [r.action for r in expected] == ["update", "assign_grids", "create"]
    shown = page.locator("#audit-list tbody tr")
    # The unfiltered list (which holds app_user rows too) stays on screen until the filtered one replaces it.
    expect(shown).to_have_count(len(expected))
    expect(shown.first).to_have_attribute("data-audit", str(expected[0].id))
    assert [int(shown.nth(i).get_attribute("data-audit")) for i in range(shown.count())] == [r.id for r in expected]
    assert [shown.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == ["修改", "分配网格", "新建"]
    assert all(shown.nth(i).locator("td").nth(1).inner_text() == "demo_admin" for i in range(3))
    names = dict(_rows(web_database_url, "SELECT code, name FROM grid WHERE code = ANY(:c) AND valid_to IS NULL",
                       c=grids))
    assert [shown.nth(i).locator("td").nth(4).inner_text() for i in range(3)] == [
        "修改：姓名、启用状态", f"网格：{names[grids[1]]}、{names[grids[2]]}",
        f"网格：{names[grids[0]]}、{names[grids[1]]}；角色：网格员"]
    # By user and since a day: the admin's own entries of today (Beijing), at least the three above.
    page.fill("#audit-entity-id", "")
    page.select_option("#audit-entity", "")
    admin = _rows(web_database_url, "SELECT id FROM app_user WHERE username = 'demo_admin'")[0][0]
    page.select_option("#audit-user", str(admin))
    today = _rows(web_database_url, "SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")[0][0]
    page.fill("#audit-since", today.isoformat())
    page.click("#audit-apply")
    count = _rows(web_database_url, "SELECT count(*) FROM audit_log WHERE user_id = :u AND at >= CAST(:d AS timestamp) "
                  "AT TIME ZONE 'Asia/Shanghai'", u=admin, d=today.isoformat())[0][0]
    assert count >= 3
    expect(page.locator("#audit-list tbody tr")).to_have_count(min(count, 50))
    users = page.locator("#audit-list tbody tr td:nth-child(2)").all_inner_texts()
    assert set(users) == {"demo_admin"}
    assert visible_codes(page.inner_text("body")) == []
    screenshot(page, "admin-audit")
    # English relabels the log without a reload.
    page.click(".lang-toggle")
    assert page.inner_text("#admin-heading") == "Audit log"
    assert page.locator("#audit-list thead th").all_inner_texts()[:3] == ["When", "User", "Action"]


def test_admin_pages_on_a_phone_word_every_role(open_page) -> None:
    page = open_page({"width": 390, "height": 844})
    sign_in(page, "demo_admin")
    page.wait_for_selector("#user-list")
    assert page.locator("#new-role option").count() == len(ROLES)
    assert "—" not in page.locator("#new-role option").all_inner_texts()
    assert visible_codes(page.inner_text("body")) == []
    screenshot(page, "admin-users-phone")
