"""The facility planner in a real browser: what-if move and close on the map change the figures exactly as the
coverage service computes them; several types side by side; a chosen gap highlighted; siting answers naming the
building and the community."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine, transaction
from gis.services import coverage as coverage_service
from gis.services.demo import DEMO_DISTRICT

FIGURE = re.compile(r"覆盖目标人口：([\d,]+) → ([\d,]+)（([+-][\d,]+)）")


def _number(s: str) -> int:
    return int(s.replace(",", "").replace("+", ""))


def _service(url: str, **change: Any) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        with transaction(engine) as session:
            answer = coverage_service.what_if(session, type_code="kindergarten", district_code=DEMO_DISTRICT[0],
                                              **change)
            session.rollback()
    finally:
        engine.dispose()
    return answer


def _figure(page: Any) -> tuple[int, int, int]:
    shown = page.inner_text("#whatif-figure")
    found = FIGURE.search(shown)
    assert found, shown
    before, after, delta = found.groups()
    return _number(before), _number(after), int(delta.replace(",", ""))


def test_what_if_close_and_move_on_the_map_change_the_figures(open_page, web_database_url: str) -> None:
    page = open_page()
    sign_in(page, "demo_facility")
    expect(page.locator("#coverage-figure")).to_be_visible()
    facility = page.locator("#map path[data-facility][data-type='kindergarten']").first
    expect(facility).to_be_attached()
    facility_id = int(facility.get_attribute("data-facility"))

    page.click("#whatif-close")  # close: click the facility
    expect(page.locator("#whatif-hint")).to_be_visible()
    facility.dispatch_event("click")
    expect(page.locator("#whatif-figure[data-mode='close']")).to_be_visible(timeout=120_000)
    before, after, delta = _figure(page)
    closed = _service(web_database_url, remove=facility_id)
    assert (before, after) == (closed["target_population_covered_before"], closed["target_population_covered_after"])
    assert delta == after - before < 0  # closing the district's kindergarten loses children
    assert "关闭" in page.inner_text("#whatif-action")

    page.click("#whatif-move")  # move: click the facility, then its new place
    page.locator("#map path[data-facility][data-type='kindergarten']").first.dispatch_event("click")
    expect(page.locator("#whatif-hint")).to_contain_text("再点击地图上的新位置")
    page.locator("#gaps tr[data-lon]").first.click()  # to the largest gap
    expect(page.locator("#map path[stroke='#c2255c']")).to_have_count(1)  # the chosen gap, highlighted
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    figure = page.locator("#whatif-figure[data-mode='move']")
    expect(figure).to_be_visible(timeout=120_000)
    lon, lat = (float(v) for v in figure.get_attribute("data-point").split(","))
    assert int(figure.get_attribute("data-facility")) == facility_id
    before, after, delta = _figure(page)
    moved = _service(web_database_url, move=(facility_id, lon, lat))
    assert (before, after) == (moved["target_population_covered_before"], moved["target_population_covered_after"])
    assert after != before and delta == after - before
    screenshot(page, "facility-what-if-move")


def test_several_types_side_by_side_and_siting_with_building_and_community(open_page, web_database_url: str) -> None:
    engine = make_engine(web_database_url)
    try:
        with transaction(engine) as session:
            expected = coverage_service.suggest_sites(session, type_code="kindergarten", k=2,
                                                      district_code=DEMO_DISTRICT[0])["greedy"]["sites"]
            session.rollback()
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT count(*) FROM coverage_run WHERE status = 'done' "
                                     "AND 'primary_school' = ANY(type_codes)")).scalar_one()
    finally:
        engine.dispose()
    page = open_page()
    sign_in(page, "demo_facility")
    expect(page.locator("#coverage-figure")).to_be_visible()
    page.click("#panel details summary")
    page.locator("#types input[value='primary_school']").check()
    rows = page.locator("#type-figures tr[data-type]")
    expect(rows).to_have_count(2)
    assert rows.nth(0).get_attribute("data-type") == "kindergarten"
    assert "小学" in rows.nth(1).inner_text() and "10 分钟生活圈" in rows.nth(1).inner_text()
    if not runs:
        assert "尚无覆盖计算结果" in rows.nth(1).inner_text()
    page.fill("#site-k", "2")
    page.click("#site-run")
    sites = page.locator("#sites li")
    expect(sites).to_have_count(len(expected), timeout=120_000)
    for item, site in zip(sites.all(), expected, strict=True):
        assert item.get_attribute("data-building") == str(site["building_id"] or "")
        assert item.locator(".site-community").inner_text() == (site["community_name"] or "—")
        assert f"+{site['newly_covered_target_population']:,}" in item.inner_text()
        if site["building_id"]:
            assert f"楼栋 {site['building_id']}" in item.inner_text() or item.locator(".site-building").inner_text()
    screenshot(page, "facility-types-and-sites")
