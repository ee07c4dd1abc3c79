"""The grid leader's workbench in a real browser: an overdue case urged (催办) through the page, the event stored;
patrol, visit and 三率 rows finding their grid on the map; no code shown as text in Chinese mode."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import expect
from sqlalchemy import text
from visible_codes import visible_codes
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine, transaction
from gis.services import cases as case_service
from gis.services import users as user_service
from gis.services.users import Principal
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
WORDS = REPO / "web" / "static" / "i18n" / "workbench.js"


def _leader_case(url: str, *, days_ago: float, description: str) -> tuple[int, str]:
    """A case reported by demo_leader in their first grid ``days_ago`` days ago (its deadline long past)."""
    settings = Settings(database_url=None, home=REPO / ".wangge", demo_mode=True)
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            user_id = session.execute(text("SELECT id FROM app_user WHERE username = 'demo_leader'")).scalar_one()
            grids = sorted(a.grid_code for a in user_service.assigned_grids(session, user_id))
            lon, lat = session.execute(text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid "
                "WHERE code = :c AND valid_to IS NULL) s"), {"c": grids[0]}).one()
            leader = Principal(user_id=user_id, username="demo_leader", role="grid_leader", district_code=grids[0][:6],
                               grid_codes=frozenset(grids))
            report = case_service.report_incident(
                session, leader, settings=settings, point=(lon, lat), category_code="E0101", description=description,
                at=dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago))
            return report["incident"]["id"], grids[0]
    finally:
        engine.dispose()


def _rows(url: str, sql: str, **params: object) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def test_the_workbench_words_cases_from_the_one_case_table() -> None:
    # tests/web/test_field_words.py checks that table against every status and action of gis/cases/workflow.py.
    source = WORDS.read_text(encoding="utf-8")
    assert 'export { ACTION_WORDS, STATUS_WORDS } from "./cases.js";' in source
    assert "export const STATUS_WORDS" not in source and "export const ACTION_WORDS" not in source


def test_leader_urges_an_overdue_case_from_the_workbench(open_page, web_database_url: str) -> None:
    # Twenty days back: past its dispatch deadline on the working-day clock whatever the holidays.
    case_id, grid = _leader_case(web_database_url, days_ago=20, description="工作台测试：超期未派遣")
    _leader_case(web_database_url, days_ago=0, description="工作台测试：本月新报")
    page = open_page()
    sign_in(page, "demo_leader")
    assert page.get_attribute("#view-nav a[aria-current='page']", "data-view") == "workbench"
    # Beside it the grid view, and the field app (every step's form with photos, offline) as its own page.
    assert page.locator("#view-nav a").all_inner_texts() == ["工作台", "我的网格", "现场办理"]
    assert page.get_attribute("#view-nav a[data-view='field']", "href") == "/app/field"
    row = page.locator(f"#overdue-list tr[data-case-row='{case_id}']")
    row.wait_for()
    assert row.get_attribute("data-kind") == "overdue"
    assert "已超期" in row.inner_text() and "已上报" in row.inner_text()
    # The case is also a to-do: registering it is the leader's next step.
    assert page.locator(f"#wb-todo table[data-group='register'] tr[data-case-row='{case_id}']").count() == 1
    # 催办 is one of the actions the API offers on the overdue case; the page words it and asks for a note.
    urge = row.locator("button[data-act='urge']")
    assert urge.inner_text() == "催办"
    urge.click()
    page.wait_for_selector("#act-form[data-action='urge']")
    assert page.inner_text("#act-note-label") == f"催办意见（事件 {case_id}）"
    page.fill("#act-note", "请今日内派遣处置")
    page.click("#act-submit")
    expect(page.locator("#message")).to_have_text(f"已催办：事件 {case_id}")
    events = _rows(web_database_url, "SELECT action, actor_role, note FROM incident_event WHERE incident_id = :i "
                   "ORDER BY id", i=case_id)
    assert [(e.action, e.actor_role, e.note) for e in events] == [
        ("report", "grid_leader", None), ("urge", "grid_leader", "请今日内派遣处置")]
    urgings = _rows(web_database_url, "SELECT kind, note FROM incident_urging WHERE incident_id = :i", i=case_id)
    assert [(u.kind, u.note) for u in urgings] == [("urge", "请今日内派遣处置")]
    # The overdue list counts the urging; the card shows the case's status unchanged (催办 does not move it).
    expect(row.locator("[data-urged]")).to_have_text("已催办 1 次")
    page.wait_for_selector("#case-title")
    assert page.inner_text("#case-status") == "已上报"
    assert page.get_attribute("#map", "data-highlight") == grid
    screenshot(page, "workbench-urged")

    # A grid row of this week's patrols finds the grid on the map.
    other = page.locator("#patrol-grids tr[data-grid]").last
    code = other.get_attribute("data-grid")
    other.click()
    assert page.get_attribute("#map", "data-highlight") == code
    assert page.locator("#map path.leaflet-interactive[stroke='#d63384']").count() == 1
    # Visits: the month's figures per grid, and a grid's households due a visit with masked names.
    page.locator(f"#visit-grids tr[data-visits='{grid}']").click()
    page.wait_for_selector("#visits-due tbody tr")
    first = page.locator("#visits-due tbody tr").first.inner_text()
    assert "*" in first  # the head's name is masked
    # Every household counted due this month and not visited yet is listed (the field app's tests may have
    # recorded visits in this grid before this test runs).
    cells = page.locator(f"#visit-grids tr[data-visits='{grid}'] td")
    due, visited = (int(cells.nth(k).inner_text().replace(",", "")) for k in (1, 2))
    assert due > 0 and page.locator("#visits-due tbody tr").count() == min(due - visited, 500)
    # The list of households is personal data: read with the session's reason, and audited.
    reads = _rows(web_database_url, "SELECT reason FROM audit_log WHERE username = 'demo_leader' AND "
                  "entity = 'household' AND action = 'due_list'")
    assert reads and {r.reason for r in reads} == {"网格走访"}
    # 三率 of the month (Beijing): this grid's reports are the cases stored for it this month (随手办 are
    # counted apart, not in the rates).
    reports = _rows(web_database_url, "SELECT count(*) FROM incident WHERE grid_code = :g AND NOT quick_fix "
                    "AND reported_at >= "
                    "date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') AT TIME ZONE 'Asia/Shanghai'",
                    g=grid)[0][0]
    rates = page.locator(f"#rate-grids tr[data-grid='{grid}']")
    assert int(rates.locator("td").nth(1).inner_text()) == reports >= 1

    # The to-do rows' own steps: register the case, then dispatch it to the grid's worker picked by name.
    row = f"#wb-todo table[data-group='register'] tr[data-case-row='{case_id}']"
    page.locator(f"{row} button[data-act='register']").click()
    page.wait_for_selector("#act-form[data-action='register']")
    page.click("#act-submit")
    expect(page.locator("#message")).to_have_text(f"已立案：事件 {case_id}")
    dispatch = page.locator(f"#wb-todo table[data-group='dispatch'] tr[data-case-row='{case_id}'] "
                            "button[data-act='dispatch']")
    dispatch.click()
    page.wait_for_selector("#act-form[data-action='dispatch'] select#act-handler")
    worker = _rows(web_database_url, "SELECT id FROM app_user WHERE username = 'demo_worker'")[0][0]
    assert page.locator(f"#act-handler option[value='{worker}']").inner_text() == "演示网格员 · 网格员"
    page.select_option("#act-handler", str(worker))
    page.click("#act-submit")
    expect(page.locator("#message")).to_have_text(f"已派遣：事件 {case_id}")
    stored = _rows(web_database_url, "SELECT status, handler_id FROM incident WHERE id = :i", i=case_id)[0]
    assert (stored.status, stored.handler_id) == ("dispatched", worker)
    assert page.inner_text("#case-status") == "已派遣"

    # A step shortcut narrows the to-do list to one group: the dispatched case is being handled.
    page.click("[data-shortcut='handling']")
    assert page.locator("#wb-todo table[data-group]").count() == 1
    assert page.locator(f"#wb-todo table[data-group='handling'] tr[data-case-row='{case_id}']").count() == 1
    assert page.get_attribute("[data-shortcut='handling']", "aria-pressed") == "true"

    # Chinese mode: no status, tag, level or action code shows through as text.
    assert visible_codes(page.inner_text("body")) == []
    # English relabels everything without a reload.
    page.click(".lang-toggle")
    assert page.inner_text("#wb-heading") == "Grid leader's workbench"
    assert page.inner_text("#case-status") == "Dispatched"
    assert page.inner_text("#patrol-grids thead th:first-child") == "Grid"


def test_workbench_fits_a_phone_and_is_keyboard_reachable(open_page, web_database_url: str) -> None:
    _leader_case(web_database_url, days_ago=20, description="手机测试")
    page = open_page({"width": 390, "height": 844})
    sign_in(page, "demo_leader")
    page.wait_for_selector("#overdue-list")
    # Every table has column headers; every button a name.
    for table in page.locator("#panel table").all():
        assert table.locator("th").count() >= 1
    for button in page.locator("#panel button").all():
        assert (button.get_attribute("aria-label") or button.inner_text()).strip()
    # A patrol row is reached with Tab and chosen with Enter.
    row = page.locator("#patrol-grids tr[data-grid]").first
    row.focus()
    page.keyboard.press("Enter")
    assert page.get_attribute("#map", "data-highlight") == row.get_attribute("data-grid")
    assert visible_codes(page.inner_text("body")) == []
    screenshot(page, "workbench-phone")
