"""Each role's main task in a real browser on the demo district, with every non-local request blocked."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.crs import wgs84_to_gcj02
from gis.db.engine import make_engine

COMMUNITY = "320102003008"  # 太平南社区: four grids, all within 300–500 households (seed 1)


def _scalar(url: str, sql: str, **params: object) -> object:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        engine.dispose()


def _number(s: str) -> int:
    return int(s.replace(",", "").strip())


def test_root_redirects_to_login_and_pages_load_nothing_from_outside(server: str, open_page) -> None:
    first = httpx.get(f"{server}/", follow_redirects=False)
    assert first.status_code == 307 and first.headers["location"] == "/app/login"
    config = httpx.get(f"{server}/app/config.json").json()
    assert config["grid_bounds"] == {"min": 300, "max": 500} and config["basemap"] is None
    assert any(c["code"] == "E0101" for c in config["incident_categories"])
    page = open_page()
    page.goto("/")
    assert page.inner_text("#login-button") == "登录"
    page.click(".lang-toggle")
    assert page.inner_text("#login-button") == "Sign in"
    page.reload()  # the choice is kept in localStorage
    assert page.inner_text("#login-button") == "Sign in"
    page.fill("#username", "demo_planner")
    page.fill("#password", "wrong password")
    page.click("#login-button")
    page.wait_for_selector("#login-error:not(:empty)")
    assert "Sign-in failed" in page.inner_text("#login-error")


def test_planner_runs_a_suggestion_and_adopts_it(open_page, web_database_url: str) -> None:
    page = open_page()
    sign_in(page, "demo_planner")
    page.wait_for_selector("#community option", state="attached")
    # Click a grid on the map: its counts, 四至 and history.
    page.locator("#map path.leaflet-interactive").first.click(force=True)
    page.wait_for_selector("#unit-code")
    code = page.inner_text("#unit-code")
    four_limits = _scalar(web_database_url,
                          "SELECT four_limits->>'text' FROM grid WHERE code = :c AND valid_to IS NULL", c=code)
    assert page.inner_text("#unit-four-limits") == four_limits
    assert page.locator("#unit-history tr").count() >= 1
    page.select_option("#community", COMMUNITY)
    page.fill("#seed", "1")
    page.click("#suggest")
    page.wait_for_selector("#plan-title", timeout=120_000)
    plan_id = int(re.search(r"\d+", page.inner_text("#plan-title")).group())
    moved = _scalar(web_database_url, "SELECT count(*) FROM plan WHERE id = :p AND status = 'draft'", p=plan_id)
    assert moved == 1
    assert page.locator("#plan-units tr").count() == 5  # header + four suggested grids
    moves = page.inner_text("#plan-moves")
    assert re.search(r"将调整 \d+ 栋楼、\d+ 户", moves), moves
    screenshot(page, "planner-suggestion")
    page.fill("#adopt-reason", "浏览器测试：采用建议")
    page.click("#adopt")
    page.wait_for_selector("#adopted")
    assert f"方案 {plan_id} 已采用：4 个网格" in page.inner_text("#adopted")
    status = _scalar(web_database_url, "SELECT status FROM plan WHERE id = :p", p=plan_id)
    assert status == "adopted"
    screenshot(page, "planner-adopted")


def test_planner_sees_empty_land_joined_across_a_main_road_on_the_map(open_page, web_database_url: str) -> None:
    # 320102001005 (seed 1): a park without homes north of 莫愁路 joins grid G01 across the road.
    page = open_page()
    sign_in(page, "demo_planner")
    page.wait_for_selector("#community option", state="attached")
    page.select_option("#community", "320102001005")
    page.fill("#seed", "1")
    page.click("#suggest")
    page.wait_for_selector("#plan-joined li", timeout=120_000)
    plan_id = int(re.search(r"\d+", page.inner_text("#plan-title")).group())
    joined = _scalar(web_database_url, "SELECT count(*) "
                                       "FROM plan p, jsonb_array_elements(p.metrics->'attached_empty_land') j "
                                       "WHERE p.id = :p AND j->'geometry' IS NOT NULL AND j->>'geometry' <> 'null'",
                     p=plan_id)
    items = page.locator("#plan-joined li")
    assert items.count() == joined >= 1
    assert any("跨越莫愁路" in items.nth(k).inner_text() and "平方米" in items.nth(k).inner_text()
               for k in range(items.count()))
    # Drawn on the map: one dashed orange outline per joined piece.
    assert page.locator('#map path[stroke="#fd7e14"][stroke-dasharray="2 4"]').count() == joined
    screenshot(page, "planner-joined-land")


def test_grid_worker_reports_an_incident_by_clicking_the_map(open_page, web_database_url: str) -> None:
    page = open_page({"width": 390, "height": 844})  # a phone
    sign_in(page, "demo_worker")
    grid = _scalar(web_database_url, "SELECT grid_code FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id "
                                     "WHERE u.username = 'demo_worker'")
    households = _scalar(web_database_url, "SELECT count(*) FROM household h JOIN building b ON b.id = h.building_id "
                                           "JOIN grid g ON g.code = :g AND g.valid_to IS NULL "
                                           "AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))", g=grid)
    assert _number(page.inner_text("#stat-households")) == households
    # Drill down from a count to the residents behind it (masked, within scope).
    page.locator("[data-drill]").first.click()
    page.wait_for_selector("#drill-title")
    assert re.search(r"\d+", page.inner_text("#drill-title"))
    page.click("#report-start")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("document.querySelector('#report-hint').textContent.includes(',')")
    page.select_option("#report-category", "E0101")
    page.fill("#report-description", "楼下有暴露垃圾")
    page.click("#report-submit")
    page.wait_for_selector("#report-result:not(:empty)", timeout=30_000)
    shown = page.inner_text("#report-result")
    match = re.search(r"已上报事件 (\d+)，派至 (\d{15})", shown)
    assert match, shown
    row = _scalar(web_database_url, "SELECT description FROM incident WHERE id = :i", i=int(match.group(1)))
    assert row == "楼下有暴露垃圾"
    screenshot(page, "grid-worker-phone")


def test_facility_planner_does_a_what_if(open_page) -> None:
    page = open_page()
    sign_in(page, "demo_facility")
    page.wait_for_selector("#coverage-figure")
    assert re.search(r"覆盖目标人口 [\d,]+ / [\d,]+", page.inner_text("#coverage-figure"))
    page.wait_for_selector("#gaps tr[data-lon]")
    page.locator("#gaps tr[data-lon]").first.click()  # zoom to the largest gap
    page.click("#whatif-start")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#whatif-figure", timeout=120_000)
    figure = page.inner_text("#whatif-figure")
    found = re.search(r"覆盖目标人口：([\d,]+) → ([\d,]+)（\+([\d,]+)）", figure)
    assert found, figure
    before, after, gain = (_number(x) for x in found.groups())
    assert after - before == gain and gain > 0  # a new kindergarten in the largest gap covers children
    screenshot(page, "facility-what-if")


def test_grid_notice_is_public_and_printable(open_page, server: str, web_database_url: str) -> None:
    grid = _scalar(web_database_url, "SELECT grid_code FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id "
                                     "WHERE u.username = 'demo_worker'")
    page = open_page()
    page.goto(f"/app/notice/{grid}")  # no sign-in: the notice is what is posted on the wall
    assert page.inner_text("#grid-code") == grid
    four_limits = _scalar(web_database_url,
                          "SELECT four_limits->>'text' FROM grid WHERE code = :c AND valid_to IS NULL", c=grid)
    assert page.inner_text("#four-limits") == four_limits
    staff = page.inner_text("#staff")
    assert "演示网格员" in staff and "025-8400 1234" in staff
    assert page.locator("#notice-map path.building").count() > 0
    assert page.inner_text("#hotline") == "12345"
    page.emulate_media(media="print")
    assert not page.locator("button.no-print").is_visible()
    screenshot(page, "grid-notice")
    missing = httpx.get(f"{server}/app/notice/320102999999999")
    assert missing.status_code == 404 and "320102999999999" in missing.text


def test_gcj02_in_the_page_matches_gis_crs(open_page) -> None:
    page = open_page()
    page.goto("/app/login")
    points = [(118.7800, 32.0450), (121.4737, 31.2304), (116.3913, 39.9075), (113.2644, 23.1291)]
    shifted = page.evaluate("""async (points) => {
        const m = await import('/app/static/gcj02.js');
        return points.map(([x, y]) => [m.wgs84ToGcj02(x, y), m.gcj02ToWgs84(...m.wgs84ToGcj02(x, y))]);
    }""", points)
    for (lon, lat), (forward, back) in zip(points, shifted, strict=True):
        expected = wgs84_to_gcj02(lon, lat)
        assert abs(forward[0] - expected[0]) < 1e-9 and abs(forward[1] - expected[1]) < 1e-9
        assert abs(back[0] - lon) < 1e-8 and abs(back[1] - lat) < 1e-8
