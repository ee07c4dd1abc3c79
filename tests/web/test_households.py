"""Households per building in the planner's page: estimated or recorded and why, a recorded count set through the
page, and the data quality of the grid clicked (recorded share, residents per household)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from sqlalchemy import text
from sqlalchemy.orm import Session
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine
from gis.services import households as household_service
from gis.services.demo import DEMO_DISTRICT
from gis.services.registers import data_quality

# Communities the other browser tests plan or edit (test_pages suggests for 003008 and adopts for 003012, the
# move test takes the second community with three or more grids): a recorded count there would change their sums.
KEEP_OUT = ("320102003008", "320102003012")


def _read(url: str, work: Any) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            session = Session(bind=conn)
            try:
                return work(session)
            finally:
                session.close()
                conn.rollback()
    finally:
        engine.dispose()


def _building(session: Session) -> tuple[str, int, int]:
    """(grid, building, its households): an estimated home with a stored reason, in a grid no other test edits."""
    communities = [c for (c,) in session.execute(text("""
        SELECT community_code FROM grid WHERE valid_to IS NULL AND kind = 'general' AND district_code = :d
        GROUP BY community_code HAVING count(*) >= 3 ORDER BY community_code"""), {"d": DEMO_DISTRICT[0]})
        if c not in KEEP_OUT]
    row = session.execute(text("""
        SELECT g.code, b.id, b.households FROM grid g JOIN building b
          ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.valid_to IS NULL AND g.kind = 'general' AND g.community_code = :c
          AND NOT EXISTS (SELECT 1 FROM grid_assignment a WHERE a.grid_code = g.code)
          AND b.households_source = 'estimated' AND b.households > 0 AND b.households_reason IS NOT NULL
        ORDER BY g.code, b.households DESC, b.id LIMIT 1"""), {"c": communities[-1]}).one()
    return row[0], int(row[1]), int(row[2])


def _quality_text(q: dict[str, Any]) -> tuple[str, str]:
    share = "无数据" if q["recorded_share"] is None else (
        f"{q['recorded_share'] * 100:.1f}%（登记 {q['households_recorded']:,} 户，"
        f"估算 {q['households_estimated']:,} 户）")
    rph = "无数据" if q["residents_per_household"] is None else f"{q['residents_per_household']:.2f}"
    return share, rph


def test_planner_records_a_buildings_households_and_sees_the_grids_data_quality(open_page,
                                                                                  web_database_url: str) -> None:
    grid, building, estimate = _read(web_database_url, _building)
    before = _read(web_database_url, lambda s: household_service.building_households(s, building))
    quality = _read(web_database_url, lambda s: data_quality(s, district_code=DEMO_DISTRICT[0])["grids"][grid])
    page = open_page()
    sign_in(page, "demo_planner")
    page.locator(f"#map path[data-code='{grid}']").dispatch_event("click")
    expect(page.locator("#unit-code")).to_have_text(grid)
    # The grid's data quality, as /stats/grids computes it.
    share, rph = _quality_text(quality)
    expect(page.locator("#dq-share")).to_have_text(share)
    expect(page.locator("#dq-rph")).to_have_text(rph)

    # The building: estimated, and why in words (never the code), in Chinese and with the toggle in English.
    home = page.locator(f"#map path[data-building='{building}']")
    expect(home).to_have_count(1)
    home.dispatch_event("click")
    expect(page.locator("#hh-source")).to_have_text("估算")
    expect(page.locator("#hh-count")).to_have_text(f"{estimate:,}")
    expect(page.locator("#hh-reason")).to_have_text(before["reason_text_zh"])
    assert before["reason"] not in page.inner_text("#hh-reason")
    page.click(".lang-toggle")
    expect(page.locator("#hh-source")).to_have_text("Estimated")
    expect(page.locator("#hh-reason")).to_have_text(before["reason_text"])
    page.click(".lang-toggle")
    expect(page.locator("#hh-source")).to_have_text("估算")

    # A count without a reason is refused in words, before any request.
    counted = estimate + 7
    page.fill("#hh-input", str(counted))
    page.click("#hh-save")
    expect(page.locator("#message")).to_have_text("请填写原因")
    page.fill("#hh-reason-input", "浏览器测试：入户核查")
    page.click("#hh-save")
    expect(page.locator("#hh-source")).to_have_text("登记")
    expect(page.locator("#hh-count")).to_have_text(f"{counted:,}")
    expect(page.locator("#hh-by")).to_have_text("demo_planner")
    expect(page.locator("#hh-why")).to_have_text("浏览器测试：入户核查")
    expect(page.locator("#hh-at")).not_to_be_empty()
    after = _read(web_database_url, lambda s: household_service.building_households(s, building))
    expect(page.locator("#hh-reason")).to_have_text(after["reason_text_zh"])
    row = _read(web_database_url, lambda s: s.execute(text(
        "SELECT households, households_source, households_recorded_by, households_recorded_reason FROM building "
        "WHERE id = :b"), {"b": building}).one())
    assert tuple(row) == (counted, "recorded", "demo_planner", "浏览器测试：入户核查")

    # The grid's data quality follows: this building's households now count as recorded.
    quality = _read(web_database_url, lambda s: data_quality(s, district_code=DEMO_DISTRICT[0])["grids"][grid])
    assert quality["households_recorded"] >= counted
    share, rph = _quality_text(quality)
    expect(page.locator("#dq-share")).to_have_text(share)
    expect(page.locator("#dq-rph")).to_have_text(rph)
    # And so do the grid's households in the panel (the recorded count in place of the estimate).
    expect(page.locator("#unit-households")).to_contain_text(
        f"{quality['households_recorded'] + quality['households_estimated']:,}")
    screenshot(page, "planner-households")
