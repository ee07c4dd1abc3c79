"""The district dashboard in a real browser: ECharts charts with the district's figures, each filtering the map."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from sqlalchemy import text
from visible_codes import visible_codes
from web_pages import screenshot, sign_in

from gis.cases.workflow import STATUSES
from gis.db.engine import make_engine, transaction
from gis.services import cases as case_service
from gis.services.demo import DEMO_PASSWORD
from gis.services.residents import Reader
from gis.services.users import Principal
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DISTRICT = "320102"


def _token(server: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{server}/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _report_cases(url: str) -> None:
    """Two cases in the demo's first grid, one registered, so the status chart has two bars at least."""
    settings = Settings(database_url=None, home=REPO / ".wangge", demo_mode=True)
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            admin = session.execute(text("SELECT id FROM app_user WHERE username = 'demo_admin'")).scalar_one()
            grid = session.execute(text("SELECT code FROM grid WHERE district_code = :d AND valid_to IS NULL "
                                        "ORDER BY code DESC LIMIT 1"), {"d": DISTRICT}).scalar_one()
            lon, lat = session.execute(text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
                                            "FROM grid WHERE code = :c AND valid_to IS NULL"), {"c": grid}).one()
            principal = Principal(user_id=admin, username="demo_admin", role="admin", district_code=DISTRICT)
            now = dt.datetime.now(dt.UTC)
            for n in range(2):
                report = case_service.report_incident(session, principal, settings=settings, point=(lon, lat),
                                                      category_code="E0101", description=f"看板测试 {n}", at=now)
            incident = report["incident"]
            case_service.act_on_incident(session, Reader(principal), incident["id"], action="register",
                                         expected_version=incident["version"], settings=settings)
    finally:
        engine.dispose()


def _scalar_rows(url: str, sql: str, **params: object) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def _option(page: object, chart: str, path: str) -> object:
    return page.evaluate(f"window.wanggeCharts['{chart}'].getOption().{path}")  # type: ignore[attr-defined]


def _click_bar(page: object, chart: str, index: int) -> None:
    """A real mouse click in the middle of bar ``index`` (ECharts says where it drew it)."""
    x, y_top = page.evaluate(  # type: ignore[attr-defined]
        f"""(() => {{ const c = window.wanggeCharts['{chart}'];
              const v = c.getOption().series[0].data[{index}];
              return c.convertToPixel({{ seriesIndex: 0 }}, [{index}, (v && v.value !== undefined ? v.value : v) / 2]);
            }})()""")
    page.locator(f"#chart-{chart}").scroll_into_view_if_needed()  # type: ignore[attr-defined]
    box = page.locator(f"#chart-{chart}").bounding_box()  # type: ignore[attr-defined]
    page.mouse.click(box["x"] + x, box["y"] + y_top)  # type: ignore[attr-defined]


def test_dashboard_draws_the_districts_figures_and_each_chart_filters_the_map(open_page, server: str,
                                                                             web_database_url: str) -> None:
    _report_cases(web_database_url)
    page = open_page()
    sign_in(page, "demo_planner")
    # The planner's own page first; the dashboard is one link away.
    page.click("#view-nav a[data-view='dashboard']")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("window.wanggeCharts && window.wanggeCharts.patrols")
    assert page.locator("#chart-bands svg").count() == 1  # drawn by ECharts' SVG renderer

    # Grids within bounds: the counts of /stats/grids against the configured 300–500.
    headers = _token(server, "demo_planner")
    stats = httpx.get(f"{server}/stats/grids", params={"district_code": DISTRICT}, headers=headers).json()["items"]
    bands = {"under": [], "ok": [], "over": []}
    for s in stats:
        bands["under" if s["households"] < 300 else "over" if s["households"] > 500 else "ok"].append(s["grid_code"])
    assert [d["value"] for d in _option(page, "bands", "series[0].data")] == [len(v) for v in bands.values()]
    assert _option(page, "bands", "xAxis[0].data") == ["少于下限", "范围内", "多于上限"]
    ok, n = len(bands["ok"]), len(stats)
    assert page.inner_text("#figure-grids-in-range .value").startswith(f"{ok}/{n}")

    # Cases by status: the stored cases of the district, counted by SQL, in words on the axis.
    counts = dict(_scalar_rows(web_database_url, "SELECT status, count(*) FROM incident WHERE district_code = :d "
                                                 "GROUP BY status", d=DISTRICT))
    order = [code for code in STATUSES if code in counts]
    assert _option(page, "cases", "xAxis[0].data") == [STATUSES[code] for code in order]
    assert [d["value"] for d in _option(page, "cases", "series[0].data")] == [counts[c] for c in order]

    # Coverage per facility type: the newest kindergarten run's district share, in percent (other tests may
    # have stored runs of other types in the demo database this one copies: they stand beside it).
    runs = httpx.get(f"{server}/coverage/runs", params={"district_code": DISTRICT}, headers=headers).json()["items"]
    newest = (httpx.get(f"{server}/coverage/runs/{r['id']}", headers=headers).json() for r in runs)
    run = next(r for r in newest if "kindergarten" in r["types"])
    share = run["types"]["kindergarten"]["district"]["households_covered_share"]
    axis = _option(page, "coverage", "xAxis[0].data")
    assert "幼儿园" in axis
    assert _option(page, "coverage", "series[0].data")[axis.index("幼儿园")]["value"] == round(share * 1000) / 10

    # Households recorded and estimated: one stacked bar per community, summing to the district's households.
    recorded = sum(_option(page, "households", "series[0].data"))
    estimated = sum(_option(page, "households", "series[1].data"))
    assert recorded + estimated == sum(s["households"] for s in stats)

    # Click the "under the minimum" bar: the map shows exactly those grids.
    _click_bar(page, "bands", 0)
    page.wait_for_selector("#map[data-filter='bands:under']")
    assert sorted(page.get_attribute("#map", "data-filter-grids").split(",")) == sorted(bands["under"])
    assert page.locator("#map path.leaflet-interactive[stroke='#d63384']").count() == len(bands["under"])
    assert page.inner_text("#filter-text") == f"地图筛选：户数少于下限（{len(bands['under'])} 个网格）"
    screenshot(page, "dashboard-under")

    # Click the 已立案 bar: the grids holding a registered case, by SQL.
    _click_bar(page, "cases", order.index("registered"))
    page.wait_for_selector("#map[data-filter='cases:registered']")
    registered = [r[0] for r in _scalar_rows(
        web_database_url, "SELECT DISTINCT grid_code FROM incident WHERE district_code = :d AND status = 'registered' "
                          "ORDER BY 1", d=DISTRICT)]
    assert page.get_attribute("#map", "data-filter-grids").split(",") == registered

    # The same filters from the chart's data table, by keyboard: the patrols' "missed" row.
    weekly = httpx.get(f"{server}/patrols/weekly", params={"district_code": DISTRICT}, headers=headers).json()
    page.locator("#table-patrols").locator("xpath=..").locator("summary").click()
    button = page.locator("#table-patrols button[data-index='1']")
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#map[data-filter='patrols:missed']")
    assert sorted(page.get_attribute("#map", "data-filter-grids").split(",")) == sorted(weekly["missed"])
    page.click("#filter-clear")
    assert page.get_attribute("#map", "data-filter") == ""
    assert page.locator("#map path.leaflet-interactive[stroke='#d63384']").count() == 0

    # Chinese mode: no code shows through (the SVG charts' axis labels included); English relabels the charts.
    assert visible_codes(page.inner_text("body")) == []
    page.click(".lang-toggle")
    assert _option(page, "bands", "xAxis[0].data") == ["Under the minimum", "Within bounds", "Over the maximum"]
    assert page.inner_text("#chart-title-cases") == "Cases by status"


def test_viewer_starts_on_the_dashboard_on_a_phone(open_page) -> None:
    page = open_page({"width": 390, "height": 844})
    sign_in(page, "demo_viewer")
    assert page.get_attribute("#view-nav a[aria-current='page']", "data-view") == "dashboard"
    page.wait_for_function("window.wanggeCharts && window.wanggeCharts.bands")
    assert page.locator(".figure").count() == 5
    assert visible_codes(page.inner_text("body")) == []
    screenshot(page, "dashboard-viewer-phone")
