"""The shared map (web/static/map.js) in a real browser: names of roads and units drawn from our own tiles and
data, a legend and a layer switcher, search by code, name and address (and residents for staff, audited), and
the card of a community or grid. Every figure the page shows is checked against the database."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine, transaction
from gis.services.demo import DEMO_DISTRICT

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "白下路 217 号"  # written into the copy of the demo below: the demo has no addresses
STANDARD_ADDRESS = "白下路 219 号 2 幢"


def _rows(url: str, sql: str, **params: object) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())
    finally:
        engine.dispose()


def _search(page: Any, q: str) -> Any:
    page.fill("#map-search-input", q)
    page.click("#map-search-go")
    hits = page.locator("#map-search-results .hit, #map-search-none")
    expect(hits.first).to_be_visible()
    return page.locator("#map-search-results .hit")


def test_search_finds_a_grid_by_code_and_by_name_and_an_address(open_page, web_database_url: str) -> None:
    code, name, four_limits = _rows(web_database_url, """
        SELECT code, name, four_limits->>'text' FROM grid WHERE valid_to IS NULL AND district_code = :d
        ORDER BY code DESC LIMIT 1""", d=DEMO_DISTRICT[0])[0]
    engine = make_engine(web_database_url)
    try:
        with transaction(engine) as session:
            building = session.execute(text("""
                UPDATE building SET address = :a WHERE id = (SELECT min(id) FROM building WHERE district_code = :d
                AND households > 0) RETURNING id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))"""),
                {"a": ADDRESS, "d": DEMO_DISTRICT[0]}).one()
            session.execute(text("""
                INSERT INTO standard_address (district_code, address, address_key, building_id, match, geom)
                SELECT :d, :a, :a, id, 'building_id', ST_PointOnSurface(geom) FROM building WHERE id = :b"""),
                {"d": DEMO_DISTRICT[0], "a": STANDARD_ADDRESS, "b": building[0]})
    finally:
        engine.dispose()
    page = open_page()
    sign_in(page, "demo_planner")

    hits = _search(page, code)  # by code
    first = hits.first
    expect(first).to_have_attribute("data-code", code)
    first.click()
    expect(page.locator("#unit-code")).to_have_text(code)  # the grid's panel, as a click on the map opens it
    assert page.inner_text("#unit-four-limits") == four_limits
    expect(page.locator("#map path[stroke='#e8590c']")).to_have_count(1)  # outlined on the map

    hits = _search(page, name)  # by name
    assert code in [hits.nth(i).get_attribute("data-code") for i in range(hits.count())]

    hits = _search(page, "白下路 21")  # by address: the building's and the standard address
    kinds = [hits.nth(i).get_attribute("data-kind") for i in range(hits.count())]
    texts = hits.all_inner_texts()
    assert kinds == ["building", "address"], texts
    assert ADDRESS in texts[0] and STANDARD_ADDRESS in texts[1] and "楼栋" in texts[0] and "标准地址" in texts[1]
    hits.first.click()
    found = page.locator(".found-label")
    expect(found).to_have_count(1)
    # The marker sits on the building's point on surface.
    at = page.evaluate("""() => { const m = document.querySelector('.leaflet-interactive[stroke="#e8590c"]');
        return m ? m.getAttribute('d') : null; }""")
    assert at
    screenshot(page, "map-search-address")

    none = _search(page, "没有这样的地方")
    assert none.count() == 0 and "未找到" in page.inner_text("#map-search-none")


def test_clicking_a_community_shows_its_four_limits_staff_and_history(open_page, web_database_url: str) -> None:
    # The community of the demo worker's grid: it has staff.
    community, name, four_limits, grids = _rows(web_database_url, """
        SELECT c.code, c.name, c.four_limits->>'text',
               (SELECT count(*) FROM grid g WHERE g.community_code = c.code AND g.valid_to IS NULL)
        FROM community c WHERE c.valid_to IS NULL AND c.code = (
            SELECT left(ga.grid_code, 12) FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
            WHERE u.username = 'demo_worker')""")[0]
    staff = _rows(web_database_url, """
        SELECT COALESCE(u.display_name, u.username) FROM grid_assignment ga JOIN app_user u ON u.id = ga.user_id
        WHERE ga.grid_code LIKE :c || '%' AND ga.valid_to IS NULL AND u.is_active""", c=community)
    page = open_page()
    sign_in(page, "demo_planner")
    label = page.locator(f".community-label span[data-code='{community}']")
    expect(label).to_have_text(name)
    label.click()
    expect(page.locator("#card-four-limits")).to_have_text(four_limits)
    assert page.inner_text("#card-code") == community
    assert page.inner_text("#card-name").startswith(name)
    shown_staff = page.locator("#card-staff tr").all_inner_texts()[1:]
    assert len(shown_staff) == len(staff) >= 1
    assert all(any(s in row for row in shown_staff) for (s,) in staff)
    assert page.locator("#card-history tr").count() >= 2  # header and the current version
    grid_row = page.locator("#community-card tr", has_text="网格数")
    assert re.search(rf"\b{grids}\b", grid_row.inner_text())
    # The language toggle draws the card again in English, without a reload.
    page.click(".lang-toggle")
    expect(page.locator("#community-card")).to_contain_text("Boundaries (四至)")
    expect(page.locator("#card-four-limits")).to_have_text(four_limits)
    expect(page.locator(".layer-switcher summary")).to_have_text("Layers")
    page.click(".lang-toggle")
    screenshot(page, "map-community-card")


def test_the_map_names_roads_and_units_and_has_a_legend_and_layer_switcher(open_page, web_database_url: str) -> None:
    grids = _rows(web_database_url, "SELECT count(*) FROM grid WHERE valid_to IS NULL AND district_code = :d",
                  d=DEMO_DISTRICT[0])[0][0]
    communities = _rows(web_database_url, "SELECT count(*) FROM community WHERE valid_to IS NULL "
                                          "AND district_code = :d", d=DEMO_DISTRICT[0])[0][0]
    page = open_page()
    sign_in(page, "demo_planner")
    expect(page.locator(".grid-label")).to_have_count(grids)
    expect(page.locator(".community-label")).to_have_count(communities)
    legend = page.locator(".legend")
    for words in ("网格户数", "主干道", "楼栋", "水系", "社区边界"):
        expect(legend).to_contain_text(words)
    # Zoomed in on a grid: road names are drawn from the walk_network tiles (canvases counting their labels).
    code = _rows(web_database_url, "SELECT code FROM grid WHERE valid_to IS NULL AND district_code = :d "
                                   "ORDER BY code LIMIT 1", d=DEMO_DISTRICT[0])[0][0]
    page.locator(f"#map path[data-code='{code}']").dispatch_event("click")
    page.fill("#map-search-input", code)
    page.click("#map-search-go")
    page.locator("#map-search-results .hit").first.click()
    labelled = page.locator("canvas.road-labels[data-labels]:not([data-labels='0'])")
    expect(labelled.first).to_be_attached(timeout=30_000)
    names = _rows(web_database_url, "SELECT DISTINCT name FROM walk_edge WHERE name IS NOT NULL")
    assert names
    # The layer switcher hides and shows a layer.
    page.click(".layer-switcher summary")
    box = page.locator(".layer-switcher input[data-layer='grid_names']")
    expect(box).to_be_checked()
    box.uncheck()
    expect(page.locator(".grid-label")).to_have_count(0)
    box.check()
    expect(page.locator(".grid-label")).to_have_count(grids)
    switcher = page.locator(".layer-switcher").inner_text()
    for words in ("道路", "路名", "社区名称", "网格名称", "网格（按户数着色）"):
        assert words in switcher, switcher
    screenshot(page, "map-names-legend-switcher")


def _give_reason(page: Any) -> None:
    """Answer the question why personal records are read, when the page asks it."""
    if page.locator("#reason-dialog[open]").count():
        page.fill("#reason-input", "浏览器测试：查找居民")
        page.click("#reason-ok")


def test_staff_find_residents_within_scope_through_the_audited_api(open_page, web_database_url: str) -> None:
    # An admin (personal access, whole district) searches a resident by name: the list read is audited with the reason.
    (surname,) = _rows(web_database_url, "SELECT left(name, 1) FROM resident ORDER BY id LIMIT 1")[0]
    before = _rows(web_database_url, "SELECT count(*) FROM audit_log WHERE entity = 'resident'")[0][0]
    page = open_page()
    sign_in(page, "demo_admin", reason="浏览器测试：查找居民")
    page.goto("/app/?view=planner")  # an admin lands on the user list; the planner's map is one tab away
    page.wait_for_selector("body[data-ready='1'], #reason-dialog[open]")
    _give_reason(page)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#map-search-input", surname)
    page.check("#map-search-residents")
    page.click("#map-search-go")
    # Asked why (when this view has not asked yet): the answer goes with the read into the audit log.
    page.wait_for_selector("#map-search-results .hit, #reason-dialog[open]")
    _give_reason(page)
    people = page.locator("#map-search-results .hit[data-kind='resident']")
    expect(people.first).to_be_visible()
    assert people.count() >= 1
    rows = _rows(web_database_url, "SELECT count(*) FROM audit_log WHERE entity = 'resident'")[0][0]
    assert rows > before
    reasons = _rows(web_database_url, "SELECT reason FROM audit_log WHERE entity = 'resident' ORDER BY id DESC LIMIT 1")
    assert reasons[0][0] == "浏览器测试：查找居民"


def _words() -> dict[str, list[str]]:
    """Every key of the i18n tables (web/static/i18n.js and web/static/i18n/*.js) with its [zh, en] pair."""
    static = REPO / "web" / "static"
    found: dict[str, list[str]] = {}
    for path in [static / "i18n.js", *sorted((static / "i18n").glob("*.js"))]:
        for key, zh, en in re.findall(r'^\s*"([^"]+)":\s*\[\s*"((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"\s*\]',
                                      path.read_text(encoding="utf-8"), flags=re.M):
            found[key] = [zh, en]
    return found


def test_every_code_these_pages_word_has_words_in_both_languages() -> None:
    import csv  # noqa: PLC0415

    from gis.checker import BLOCKING, BOUNDS, CROSSINGS, NOTES  # noqa: PLC0415
    from gis.services.plans import PLAN_KINDS, PLAN_STATUSES  # noqa: PLC0415

    words = _words()
    with (REPO / "gis" / "data" / "facility_catalogue.csv").open(encoding="utf-8") as f:
        levels = {row["level"] for row in csv.DictReader(f)}
    needed = ({f"planner.status.{s}" for s in PLAN_STATUSES} | {f"planner.kind.{k}" for k in PLAN_KINDS}
              | {f"check.{k}" for k in BLOCKING | CROSSINGS | BOUNDS | NOTES | {"empty_parent"}}
              | {f"check.kind.{k}" for k in BLOCKING | CROSSINGS | BOUNDS | NOTES | {"empty_parent"}}
              | {f"infeasible.{r}" for r in ("building_too_large", "below_minimum", "between_bounds",
                                             "no_contiguous_split")}
              | {f"facility.level.{lv}" for lv in levels} | {"map.duty.leader", "map.duty.worker"}
              | {f"map.kind.{k}" for k in ("grid", "community", "street", "building", "address", "resident")})
    assert sorted(needed - set(words)) == []
    assert all(words[k][0] and words[k][1] and words[k][0] != words[k][1] for k in needed)
    # And every word the map, planner and facility pages ask for by a literal key is in the tables.
    used = set()
    for name in ("map.js", "planner.js", "facility.js"):
        used |= set(re.findall(r'\bt\(\s*"([^"]+)"', (REPO / "web" / "static" / name).read_text(encoding="utf-8")))
    assert sorted(k for k in used if k not in words and not k.endswith(".")) == []  # "x." + code: above
