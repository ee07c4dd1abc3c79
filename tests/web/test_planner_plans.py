"""The planner in a real browser: draft plans listed and reopened with their full figures and the moving
households from → to, adopted through the page (checked by SQL); the district summary; plain controls; and in
Chinese no raw status, level, finding or reason code anywhere on the planner and facility pages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.checker import BLOCKING, BOUNDS, CROSSINGS, NOTES
from gis.db.engine import make_engine, transaction
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.services.demo import DEMO_DISTRICT
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# Communities other browser tests suggest, adopt or edit in: kept out of this test's way.
TAKEN = {"320102003008", "320102003012", "320102001005"}


def _rows(url: str, sql: str, **params: object) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _draft(url: str) -> tuple[int, str, dict[str, Any], dict[str, Any]]:
    """A draft grid plan stored as the page's suggest button stores it: (id, community, plan, diff)."""
    community = _rows(url, """
        SELECT community_code FROM grid WHERE valid_to IS NULL AND kind = 'general' AND district_code = :d
        GROUP BY community_code HAVING count(*) >= 2 ORDER BY community_code DESC""", d=DEMO_DISTRICT[0])
    code = next(c for (c,) in community if c not in TAKEN)
    settings = Settings(database_url=None, home=REPO / ".wangge")
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            made = partition_service.suggest_grids(session, settings, community_code=code, seed=3)
            plan_id = made["plan_id"]
        with transaction(engine) as session:
            shown = plan_service.show_plan(session, plan_id, settings=settings)
            diff = plan_service.diff_plans(session, plan_id, "current")
    finally:
        engine.dispose()
    return plan_id, code, shown, diff


def test_a_draft_plan_is_listed_reopened_with_its_figures_and_adopted(open_page, web_database_url: str) -> None:
    plan_id, community, shown, diff = _draft(web_database_url)
    m = shown["metrics"]
    page = open_page()
    sign_in(page, "demo_planner")
    row = page.locator(f"#draft-list tr[data-plan='{plan_id}']")
    expect(row).to_be_visible()
    name = _rows(web_database_url, "SELECT name FROM community WHERE code = :c AND valid_to IS NULL", c=community)[0][0]
    assert name in row.inner_text()
    row.locator("[data-open]").click()
    expect(page.locator("#plan-title")).to_contain_text(f"方案 {plan_id}")
    assert "草稿" in page.inner_text("#plan-title")
    # The full figures, as the API stores them.
    assert page.inner_text("#fig-units") == str(m["units"])
    assert page.inner_text("#fig-compactness") == f"{m['polsby_popper_min']:.2f} / {m['polsby_popper_mean']:.2f}"
    assert page.inner_text("#fig-crossings") == str(m["main_road_crossings"])
    assert page.inner_text("#fig-split") == str(m["split_buildings"])
    assert page.inner_text("#fig-in-range") == f"{shown['summary']['in_range']} / {shown['summary']['units']}"
    assert page.locator("#plan-units tr").count() == 1 + len(shown["units"])
    # Moved households from their current grid to the suggested one, one row per building.
    moves = diff["moves"]
    if moves:
        rows = page.locator("#plan-move-table tr[data-building]")
        expect(rows).to_have_count(len(moves))
        first = max(moves, key=lambda mv: mv["households"])
        cells = rows.first.locator("td").all_inner_texts()
        assert int(cells[1].replace(",", "")) == first["households"]
        assert cells[2] == first["to"]["label"] and cells[3] == first["from"]["label"]
    assert re.search(r"将调整 \d+ 栋楼、\d+ 户", page.inner_text("#plan-moves"))
    screenshot(page, "planner-reopened-plan")
    page.fill("#adopt-reason", "浏览器测试：重新打开草稿后采用")
    if page.locator("#allow-out").count():
        page.check("#allow-out")
    page.click("#adopt")
    expect(page.locator("#adopted")).to_contain_text(f"方案 {plan_id} 已采用")
    status, reason = _rows(web_database_url, "SELECT status, reason FROM plan WHERE id = :p", p=plan_id)[0]
    assert status == "adopted" and reason.startswith("浏览器测试：重新打开草稿后采用")
    grids = _rows(web_database_url, "SELECT count(*) FROM grid WHERE valid_to IS NULL AND plan_id = :p", p=plan_id)
    assert grids[0][0] == len(shown["units"])
    expect(page.locator(f"#draft-list tr[data-plan='{plan_id}']")).to_have_count(0)  # no longer a draft


def test_the_district_summary_counts_grids_against_the_bounds(open_page, web_database_url: str) -> None:
    page = open_page()
    sign_in(page, "demo_planner")
    counts = _rows(web_database_url, """
        WITH g AS (SELECT g.code, COALESCE(SUM(b.households), 0) AS h FROM grid g LEFT JOIN building b
                   ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
                   WHERE g.valid_to IS NULL AND g.district_code = :d AND g.level = 1 GROUP BY g.code)
        SELECT count(*) FILTER (WHERE h < 300), count(*) FILTER (WHERE h BETWEEN 300 AND 500),
               count(*) FILTER (WHERE h > 500), count(*) FROM g""", d=DEMO_DISTRICT[0])[0]
    below, inside, above, n = counts
    expect(page.locator("#summary-line")).to_have_text(
        f"少于 300 户：{below} 个 · 300–500 户：{inside} 个 · 多于 500 户：{above} 个（共 {n} 个一般网格）")
    # Plain words for the controls: no jargon.
    panel = page.inner_text("#panel")
    assert "随机种子" not in panel and "换一种划分" in panel
    page.click(".lang-toggle")  # everything drawn again in English without a reload
    expect(page.locator("#summary-line")).to_have_text(
        f"{below} below 300 · {inside} within 300–500 · {above} above 500 (of {n} general grids)")
    expect(page.locator("#another")).to_have_text("Another try")


def _codes() -> set[str]:
    """The codes the planner and facility APIs send that a person must never read as they are."""
    kinds = set(BLOCKING | CROSSINGS | BOUNDS | NOTES)
    reasons = {"building_too_large", "below_minimum", "between_bounds", "no_contiguous_split"}
    levels = {"5min", "10min", "15min", "block"}
    plan_kinds = {"grid_split", "community_redraw", "manual_edit"}
    roles_and_grid_kinds = {"leader", "worker", "general", "dedicated"}
    return set(plan_service.PLAN_STATUSES) | kinds | reasons | levels | plan_kinds | roles_and_grid_kinds


def _raw_codes(page: Any) -> list[str]:
    # What people typed (reasons in the boundary history, names) is theirs, in whatever words: left out.
    body = page.evaluate("""() => { let text = document.body.innerText;
        for (const el of document.querySelectorAll('.free-text')) text = text.replace(el.innerText, '');
        return text; }""")
    return sorted(c for c in _codes() if re.search(rf"(?<![A-Za-z0-9_]){re.escape(c)}(?![A-Za-z0-9_])", body))


def test_no_raw_codes_in_chinese_on_the_planner_and_facility_pages(open_page, web_database_url: str) -> None:
    page = open_page()
    sign_in(page, "demo_planner")
    expect(page.locator("#draft-list, #draft-none").first).to_be_visible()
    code = _rows(web_database_url, "SELECT code FROM grid WHERE valid_to IS NULL AND district_code = :d "
                                   "ORDER BY code LIMIT 1", d=DEMO_DISTRICT[0])[0][0]
    page.locator(f"#map path[data-code='{code}']").dispatch_event("click")
    expect(page.locator("#unit-staff")).to_be_visible()
    if page.locator("#draft-list [data-open]").count():
        page.locator("#draft-list [data-open]").first.click()
        expect(page.locator("#plan-figures")).to_be_visible()
    assert _raw_codes(page) == []
    facility = open_page()
    sign_in(facility, "demo_facility")
    expect(facility.locator("#coverage-figure")).to_be_visible()
    facility.select_option("#level", "")
    assert _raw_codes(facility) == []
    screenshot(facility, "facility-no-codes")
