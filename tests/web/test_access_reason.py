"""Why personal records are read, in the browser: asked once per browser session with the view's default,
sent with every request, kept in each audit row, changeable from the header bar, in Chinese and in English."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine
from gis.services.demo import DEMO_PASSWORD


def _rows(url: str, after: int, username: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT id, action, entity, reason, detail FROM audit_log "
                                          "WHERE id > :after AND username = :u ORDER BY id"),
                                     {"after": after, "u": username}).all())
    finally:
        engine.dispose()


def _last_id(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT COALESCE(max(id), 0) FROM audit_log")).scalar_one()
    finally:
        engine.dispose()


def _drill(page: object) -> None:
    """Open the residents behind the first count of the worker's panel (a read of personal records).

    The click empties the drill-down box at once, so the title waited for is the new answer's.
    """
    page.locator("[data-drill]").first.click()
    page.wait_for_selector("#drill-title")


def _resident_reads(url: str, after: int) -> list:
    return [r for r in _rows(url, after, "demo_worker") if r.entity == "resident"]


def test_the_worker_view_asks_why_once_per_session_and_the_reason_reaches_the_audit_log(
        open_page, web_database_url: str) -> None:
    start = _last_id(web_database_url)
    page = open_page()
    page.goto("/app/login")
    page.fill("#username", "demo_worker")
    page.fill("#password", DEMO_PASSWORD)
    page.click("#login-button")
    # The first view that reads personal records asks before it reads any, offering its default.
    page.wait_for_selector("#reason-dialog[open]", timeout=60_000)
    assert page.inner_text("#reason-title") == "查阅个人信息的原因"
    assert "审计日志" in page.inner_text("#reason-hint")
    assert (page.inner_text("#reason-ok"), page.inner_text("#reason-cancel")) == ("确定", "取消")
    expect(page.locator("#reason-input")).to_have_value("网格走访")
    screenshot(page, "worker-access-reason")
    assert page.get_attribute("body", "data-ready") is None
    assert _rows(web_database_url, start, "demo_worker") == []
    # An empty answer is not taken.
    page.fill("#reason-input", "  ")
    page.click("#reason-ok")
    expect(page.locator("#reason-error")).to_have_text("请填写原因")
    reason = f"入户核查 浏览器测试 {uuid.uuid4().hex[:6]}"
    page.fill("#reason-input", reason)
    page.click("#reason-ok")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    expect(page.locator("#reason-change")).to_have_text(f"查阅原因：{reason}")

    # A second view of personal records in the same session: the residents behind a count. No question.
    _drill(page)
    assert page.locator("#reason-dialog[open]").count() == 0
    reads = _resident_reads(web_database_url, start)
    assert reads and {r.reason for r in reads} == {reason}
    seen = reads[-1].id
    # No request went without the reason: nothing of the worker's was refused.
    assert not [r for r in _rows(web_database_url, start, "demo_worker") if r.action == "refused"]

    # The same tab after a reload is the same session: the view loads without asking.
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert page.locator("#reason-dialog[open]").count() == 0
    _drill(page)
    again = _resident_reads(web_database_url, seen)
    assert again and {r.reason for r in again} == {reason}
    seen = again[-1].id

    # In English, and changed from the header bar.
    page.click(".lang-toggle")
    expect(page.locator("#reason-change")).to_have_text(f"Reason: {reason}")
    page.click("#reason-change")
    page.wait_for_selector("#reason-dialog[open]")
    assert page.inner_text("#reason-title") == "Why you are reading personal records"
    assert "audit log" in page.inner_text("#reason-hint")
    assert (page.inner_text("#reason-ok"), page.inner_text("#reason-cancel")) == ("OK", "Cancel")
    expect(page.locator("#reason-input")).to_have_value(reason)
    changed = f"welfare follow-up {uuid.uuid4().hex[:6]}"
    page.fill("#reason-input", changed)
    page.click("#reason-ok")
    expect(page.locator("#reason-change")).to_have_text(f"Reason: {changed}")
    _drill(page)
    after = _resident_reads(web_database_url, seen)
    assert after and {r.reason for r in after} == {changed}


def test_views_without_personal_records_do_not_ask(open_page) -> None:
    page = open_page()
    sign_in(page, "demo_planner", reason="should not be asked")
    assert page.locator("#reason-change").is_hidden()
    assert page.evaluate("sessionStorage.getItem('wangge.reason')") is None
