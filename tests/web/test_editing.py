"""Browser tests of what the planner, facility and grid-worker views do beyond their main task.

Redrawing a grid with geoman, moving buildings between grids, siting suggestions with isochrones
and the week's patrol coverage: each is driven through the page on the demo copy database and
the figures the page shows are checked against the database (or the service the API calls).
Every wait is on a page state (a selector, a count), never a fixed sleep.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import text
from sqlalchemy.orm import Session
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine, transaction
from gis.errors import WanggeError
from gis.services import coverage as coverage_service
from gis.services import edits as edit_service
from gis.services import patrols as patrol_service
from gis.services.demo import DEMO_DISTRICT, demo_patrol
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]
ADOPTED_BY_OTHER_TEST = "320102003012"  # test_pages adopts a suggestion for this community: keep out of it
# The edits below also keep off the grids staff are assigned to (the worker and notice tests read those).
# The same rule the API counts households by: a building belongs to the grid holding its point on surface.
HOUSEHOLDS_SQL = """
    SELECT g.code, g.name, COALESCE(SUM(b.households), 0) FROM grid g LEFT JOIN building b
      ON ST_Intersects(g.geom, b.geom) AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
    WHERE g.valid_to IS NULL AND g.community_code = :c GROUP BY g.code, g.name"""


def _rows(url: str, sql: str, **params: object) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _number(s: str) -> int:
    return int(s.replace(",", "").strip())


def _communities(url: str) -> list[str]:
    """Communities of the demo district with at least three general grids, other than the one test_pages adopts."""
    return [c for (c,) in _rows(url, """
        SELECT community_code FROM grid WHERE valid_to IS NULL AND kind = 'general' AND district_code = :d
        GROUP BY community_code HAVING count(*) >= 3 ORDER BY community_code""", d=DEMO_DISTRICT[0])
        if c != ADOPTED_BY_OTHER_TEST]


def _move_community(url: str) -> str:
    """The community the move test edits (the redraw test keeps out of it)."""
    return _communities(url)[1]


def _edit_units(page: Any) -> dict[str, tuple[int | None, int]]:
    """The page's table of unit counts after an edit: name → (households before or None, households)."""
    shown = {}
    for row in page.locator("#edit-units tr").all()[1:]:
        cells = row.locator("td").all_inner_texts()
        numbers = [_number(n) for n in re.findall(r"[\d,]+", cells[1])]
        shown[cells[0].strip()] = (numbers[0], numbers[1]) if len(numbers) == 2 else (None, numbers[0])
    return shown


def _open_grid(page: Any, code: str) -> None:
    """Select a grid on the planner's map (its path carries data-code) and wait for its details."""
    page.locator(f"#map path[data-code='{code}']").dispatch_event("click")
    expect(page.locator("#unit-code")).to_have_text(code)


def test_planner_redraws_a_grid_with_geoman_and_sees_counts_and_findings(open_page, web_database_url: str) -> None:
    # The most nearly convex grid in one piece: a vertex dragged towards its middle cannot make it cross itself.
    skip = [ADOPTED_BY_OTHER_TEST, _move_community(web_database_url)]
    community, code, version, area = _rows(web_database_url, """
        SELECT community_code, code, version, ST_Area(geom::geography) FROM grid g
        WHERE valid_to IS NULL AND district_code = :d AND kind = 'general' AND ST_NumGeometries(geom) = 1
          AND ST_NumInteriorRings(ST_GeometryN(geom, 1)) = 0 AND community_code <> ALL(:skip)
          AND NOT EXISTS (SELECT 1 FROM grid_assignment a WHERE a.grid_code = g.code)
        ORDER BY ST_Area(ST_ConvexHull(geom)) / ST_Area(geom), code LIMIT 1""",
                                           d=DEMO_DISTRICT[0], skip=skip)[0]
    page = open_page()
    sign_in(page, "demo_planner")
    _open_grid(page, code)
    page.click("#edit-shape")
    edit_path = page.locator("#map path[stroke='#fd7e14']")
    expect(edit_path).to_have_count(1)
    vertices = page.locator(".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")
    expect(vertices.first).to_be_visible()
    # Drag the vertex farthest from the grid's middle a quarter of the way in: the grid gets smaller.
    box = edit_path.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in
               (v.bounding_box() for v in vertices.all())]
    vx, vy = max(centres, key=lambda p: (p[0] - cx) ** 2 + (p[1] - cy) ** 2)
    page.mouse.move(vx, vy)
    page.mouse.down()
    page.mouse.move(vx + (cx - vx) / 4, vy + (cy - vy) / 4, steps=12)
    page.mouse.up()
    page.fill("#edit-reason", "浏览器测试：重绘边界")
    page.click("#edit-save")
    expect(page.locator("#edit-result #edit-units")).to_be_visible(timeout=60_000)

    new_version, new_area, plan_id = _rows(web_database_url, """
        SELECT version, ST_Area(geom::geography), plan_id FROM grid WHERE code = :c AND valid_to IS NULL""",
                                           c=code)[0]
    assert new_version == version + 1 and new_area < area  # a new, smaller version
    assert page.inner_text("#edit-result p") == f"已保存为第 {new_version} 版"
    # The counts the page shows are the database's, for every grid of the community.
    counts = {name: households for _, name, households in _rows(web_database_url, HOUSEHOLDS_SQL, c=community)}
    shown = _edit_units(page)
    assert {name: after for name, (_, after) in shown.items()} == counts
    # The topology findings shown (list and map markers) are the ones stored with the edit: a gap at least.
    (created,) = _rows(web_database_url, "SELECT metrics->'findings'->'created' FROM plan WHERE id = :p",
                       p=plan_id)[0]
    assert created and any(f["kind"] == "gap" for f in created)
    # Worded from their codes in the page's language (the API's English message is not shown as it is).
    items = page.locator("#findings li")
    assert [items.nth(i).get_attribute("data-kind") for i in range(items.count())] == [f["kind"] for f in created]
    assert all(f["message"] not in text for f, text in zip(created, items.all_inner_texts(), strict=True))
    assert any("空隙" in text for text in items.all_inner_texts())
    expect(page.locator("#map path[stroke='#dc3545']")).to_have_count(sum(1 for f in created if f["location"]))
    expect(page.locator(f"#map path[data-code='{code}']")).to_have_count(1)  # the map was reloaded
    screenshot(page, "planner-redraw")


def _movable_building(url: str, community: str) -> tuple[str, str, int, int]:
    """(from grid, to grid, building id, its households): the first border building the service lets move."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            pairs = conn.execute(text("""
                SELECT s.code, s.version, t.code, t.version, (
                    SELECT b.id FROM building b WHERE ST_Contains(s.geom, ST_PointOnSurface(b.geom))
                    AND b.households > 0 ORDER BY ST_Distance(b.geom, t.geom), b.id LIMIT 1) AS building
                FROM grid s JOIN grid t ON t.community_code = s.community_code AND t.code <> s.code
                  AND t.valid_to IS NULL AND ST_Intersects(s.geom, t.geom)
                WHERE s.valid_to IS NULL AND s.community_code = :c AND s.kind = 'general' AND t.kind = 'general'
                  AND NOT EXISTS (SELECT 1 FROM grid_assignment a WHERE a.grid_code IN (s.code, t.code))
                ORDER BY s.code, t.code"""), {"c": community}).all()
        for source, source_version, target, target_version, building in pairs:
            if building is None:
                continue
            # Try the move in a transaction that is rolled back: the first one the service accepts is the one to do.
            with engine.connect() as conn:
                session = Session(bind=conn)
                try:
                    edit_service.move_buildings(session, from_grid=source, building_ids=[building], to_grid=target,
                                                reason="trial", versions={source: source_version,
                                                                          target: target_version})
                except WanggeError:
                    continue
                finally:
                    session.close()
                    conn.rollback()
                households = conn.execute(text("SELECT households FROM building WHERE id = :b"),
                                          {"b": building}).scalar_one()
            return source, target, building, int(households)
    finally:
        engine.dispose()
    raise AssertionError(f"no building of community {community} can move to a bordering grid")


def test_planner_moves_a_building_to_a_bordering_grid_with_live_counts(open_page, web_database_url: str) -> None:
    community = _move_community(web_database_url)
    source, target, building, households = _movable_building(web_database_url, community)
    before = {code: n for code, _, n in _rows(web_database_url, HOUSEHOLDS_SQL, c=community)}
    page = open_page()
    sign_in(page, "demo_planner")
    _open_grid(page, source)
    page.click("#move-start")
    pick = page.locator(f"#map path[data-building='{building}']")
    expect(pick).to_have_count(1)
    expect(page.locator("#move-to")).to_be_attached()
    pick.dispatch_event("click")
    expect(page.locator("#move-count")).to_have_text("已选 1 栋")
    page.select_option("#move-to", target)
    page.fill("#move-reason", "浏览器测试：移动楼栋")
    page.click("#move-do")
    expect(page.locator("#move-result #edit-units")).to_be_visible(timeout=60_000)

    inside = _rows(web_database_url, """
        SELECT g.code FROM grid g JOIN building b ON b.id = :b AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.valid_to IS NULL""", b=building)
    assert [c for (c,) in inside] == [target]
    after = {code: n for code, _, n in _rows(web_database_url, HOUSEHOLDS_SQL, c=community)}
    assert after[source] == before[source] - households and after[target] == before[target] + households
    names = {code: name for code, name, _ in _rows(web_database_url, HOUSEHOLDS_SQL, c=community)}
    shown = _edit_units(page)
    assert shown[names[source]] == (before[source], after[source])
    assert shown[names[target]] == (before[target], after[target])
    assert {name: n for name, (_, n) in shown.items()} == {names[c]: n for c, n in after.items()}
    expect(page.locator("#map path[data-building]")).to_have_count(0)  # the picking layer is gone
    screenshot(page, "planner-move-buildings")


def test_facility_planner_gets_siting_suggestions_and_isochrones(open_page, web_database_url: str) -> None:
    engine = make_engine(web_database_url)
    try:
        with transaction(engine) as session:
            expected = coverage_service.suggest_sites(session, type_code="kindergarten", k=2,
                                                      district_code=DEMO_DISTRICT[0])["greedy"]["sites"]
            isochrones = coverage_service.facility_isochrones(session, district_code=DEMO_DISTRICT[0],
                                                              type_code="kindergarten", mode="network")
            session.rollback()
    finally:
        engine.dispose()
    page = open_page()
    sign_in(page, "demo_facility")
    expect(page.locator("#coverage-figure")).to_be_visible()
    expect(page.locator("#type")).to_have_value("kindergarten")
    page.fill("#site-k", "2")
    page.click("#site-run")
    sites = page.locator("#sites li")
    expect(sites).to_have_count(len(expected), timeout=120_000)
    assert len(expected) == 2
    # Each site named by its building and community, placed where the service puts it.
    for item, s in zip(sites.all(), expected, strict=True):
        assert (float(item.get_attribute("data-lon")), float(item.get_attribute("data-lat"))) == (s["lon"], s["lat"])
        assert f"+{s['newly_covered_target_population']:,}" in item.inner_text()
        assert item.locator(".site-community").inner_text() == (s["community_name"] or "—")
    assert all(s["newly_covered_target_population"] > 0 for s in expected)
    labels = page.locator(".leaflet-tooltip-pane .leaflet-tooltip")
    expect(labels).to_have_count(len(expected))
    assert labels.all_inner_texts() == [f"{i}: +{s['newly_covered_target_population']:,}"
                                        for i, s in enumerate(expected, start=1)]
    page.click("#iso-run")
    drawn = [f for f in isochrones["features"] if f.get("geometry")]
    assert drawn
    expect(page.locator("#map path[stroke='#0d6efd']")).to_have_count(len(drawn), timeout=60_000)
    screenshot(page, "facility-sites-isochrones")


def _patrol_start(now: dt.datetime) -> dt.datetime:
    """An hour and a half ago, but not before this week began (Monday, Beijing time): the patrol is this week's."""
    tz = zoneinfo.ZoneInfo(patrol_service.DEFAULT_TIMEZONE)
    local = now.astimezone(tz)
    monday = (local - dt.timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - dt.timedelta(minutes=90), monday.astimezone(dt.UTC) + dt.timedelta(minutes=1)).replace(
        second=0, microsecond=0)


def test_grid_worker_sees_the_weeks_patrols_and_the_buildings_not_covered(open_page, web_database_url: str) -> None:
    settings = Settings(database_url=None, home=REPO / ".wangge")
    engine = make_engine(web_database_url)
    try:
        with transaction(engine) as session:
            stored = demo_patrol(session, settings, start=_patrol_start(dt.datetime.now(dt.UTC)))
        assert "patrol_id" in stored, stored
        grid = stored["grid_code"]
        page = open_page({"width": 390, "height": 844})
        sign_in(page, "demo_worker")
        summary = page.locator("#patrol-summary")
        expect(summary).to_be_visible()
        found = re.fullmatch(r"(\d{4}-W\d{2}): (\d+) · 本周未巡查楼栋：(\d+)", summary.inner_text().strip())
        assert found, summary.inner_text()
        week, patrols, uncovered = found.group(1), int(found.group(2)), int(found.group(3))
        with transaction(engine) as session:
            coverage = patrol_service.patrol_coverage(session, grid_code=grid, week=week,
                                                      building_radius_m=settings.patrol_building_radius_m,
                                                      segment_radius_m=settings.patrol_segment_radius_m)
            tracks = session.execute(text("SELECT count(*) FROM patrol p JOIN app_user u ON u.id = p.worker_id "
                                          "WHERE u.username = 'demo_worker'")).scalar_one()
    finally:
        engine.dispose()
    missing = [b for b in coverage["buildings"] if not b["covered"]]
    assert (patrols, uncovered) == (coverage["patrols"], len(missing))
    if week == stored["week"]:  # the page's week is the patrol's (unless the week turned in between)
        assert patrols >= 1 and 0 < uncovered < len(coverage["buildings"])
    # On the map: the uncovered buildings outlined in orange, the stored track in green.
    expect(page.locator("#map path[stroke='#fd7e14']")).to_have_count(len(missing))
    expect(page.locator("#map path[stroke='#198754']")).to_have_count(min(tracks, 10))
    screenshot(page, "grid-worker-patrols")
