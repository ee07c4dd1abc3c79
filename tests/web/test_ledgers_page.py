"""The community ledgers page in headless Chromium: a community's three lists, figures, the needs map, print.

The demo district (a copy, see tests/web/conftest.py) gets, through the API, three needs in the
grid leader's first grid: meals for elderly people, met by a project on a resource a few dozen metres
away, a second meals need still open beside it, and a parking need with no resource of its kind
within a 500 m walk.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis import ledgers
from gis.db.engine import make_engine
from gis.services.demo import DEMO_DISTRICT, DEMO_PASSWORD

REPO = Path(__file__).resolve().parents[2]
REASON = {"X-Access-Reason": "%E7%BD%91%E6%A0%BC%E8%B5%B0%E8%AE%BF"}  # 网格走访


def _token(server: str, username: str) -> dict[str, str]:
    response = httpx.post(f"{server}/auth/token", data={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}", **REASON}


def _call(method: str, url: str, headers: dict, json: dict, status: int = 201) -> dict:
    response = httpx.request(method, url, headers=headers, json=json, timeout=120)
    assert response.status_code == status, response.text
    return response.json()


def _seed(server: str, url: str) -> dict:
    """Two needs, a resource, a finished project with two volunteers' hours; returns what the page should show."""
    leader = _token(server, "demo_leader")
    me = httpx.get(f"{server}/auth/me", headers=leader).json()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            grid = sorted(me["grids"])[0] if me.get("grids") else conn.execute(text(
                "SELECT code FROM grid WHERE district_code = :d AND valid_to IS NULL ORDER BY code LIMIT 1"),
                {"d": DEMO_DISTRICT[0]}).scalar_one()
            community = conn.execute(text("SELECT community_code FROM grid WHERE code = :g AND valid_to IS NULL"),
                                     {"g": grid}).scalar_one()
            # Two residential buildings inside the grid, and a point 60 m from the first, also inside.
            rows = conn.execute(text("""
                SELECT b.id, ST_X(ST_PointOnSurface(b.geom)) AS x, ST_Y(ST_PointOnSurface(b.geom)) AS y
                FROM building b JOIN grid g ON g.code = :g AND g.valid_to IS NULL
                 AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
                WHERE b.households > 0 ORDER BY b.id LIMIT 2"""), {"g": grid}).all()
            near = conn.execute(text("""
                SELECT ST_X(p), ST_Y(p) FROM (
                    SELECT ST_Transform(ST_Translate(ST_Transform(ST_SetSRID(ST_MakePoint(:x, :y), 4490), 4549),
                                                     dx, dy), 4490) AS p, n
                    FROM (VALUES (1, 60, 0), (2, -60, 0), (3, 0, 60), (4, 0, -60), (5, 40, 40), (6, -40, -40),
                                 (7, 20, 0)) AS o(n, dx, dy)) s
                JOIN grid g ON g.code = :g AND g.valid_to IS NULL AND ST_Contains(g.geom, s.p)
                ORDER BY n LIMIT 1"""), {"x": rows[0].x, "y": rows[0].y, "g": grid}).one()
    finally:
        engine.dispose()
    base = f"{server}/ledgers"
    meals = _call("POST", f"{base}/needs", leader, {"kind_code": "elderly_meals", "title": "独居老人午餐",
                                                    "building_id": rows[0].id, "affected_households": 3,
                                                    "affected_people": 4})
    parking = _call("POST", f"{base}/needs", leader, {"kind_code": "parking", "title": "夜间停车位不足",
                                                      "building_id": rows[1].id, "affected_households": 20,
                                                      "affected_people": 20})
    lunch = _call("POST", f"{base}/needs", leader, {"kind_code": "elderly_meals", "title": "行动不便老人助餐",
                                                    "building_id": rows[0].id, "affected_people": 2})
    canteen = _call("POST", f"{base}/resources", leader, {
        "provider_kind": "other", "name": "社区长者食堂", "kind_codes": ["elderly_meals"], "lon": near[0],
        "lat": near[1], "available": "每日 11:00–13:00", "contact_name": "周阿姨", "contact_phone": "13500001234"})
    project = _call("POST", f"{base}/projects", leader, {"need_id": meals["id"], "title": "长者食堂送餐上门",
                                                         "resource_ids": [canteen["id"]], "posts": ["送餐"]})
    for name, hours in (("钱志愿", 1.5), ("孙志愿", 2.0)):
        volunteer = _call("POST", f"{base}/volunteers", leader, {"community_code": community, "name": name})
        shift = _call("POST", f"{base}/projects/{project['id']}/signups", leader,
                      {"volunteer_id": volunteer["id"], "post": "送餐"})
        _call("PUT", f"{base}/signups/{shift['id']}/hours", leader, {"hours": hours}, status=200)
    _call("POST", f"{base}/projects/{project['id']}/actions", leader, {"action": "start"}, status=200)
    _call("POST", f"{base}/projects/{project['id']}/actions", leader,
          {"action": "finish", "outcome": "每日送餐到户", "need_outcome": "met"}, status=200)
    return {"community": community, "meals": meals["id"], "parking": parking["id"], "lunch": lunch["id"],
            "project": project["id"]}


def test_the_printable_lists_page_shows_a_communitys_ledgers(server: str, web_database_url: str, open_page) -> None:
    seeded = _seed(server, web_database_url)
    page = open_page()
    sign_in(page, "demo_leader")
    page.goto(f"/app/ledgers?community={seeded['community']}")
    page.wait_for_selector("body[data-ready='1'], #reason-dialog[open]", timeout=120_000)
    if page.locator("#reason-dialog[open]").count():
        page.click("#reason-ok")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)

    assert page.inner_text("h1") == "社区三张清单"
    meals = page.locator(f"tr[data-need='{seeded['meals']}']")
    parking = page.locator(f"tr[data-need='{seeded['parking']}']")
    assert "独居老人午餐" in meals.inner_text() and meals.locator(".status").inner_text() == "已办结（已满足）"
    assert parking.locator(".status").inner_text() == "待办"
    # The closed need is not looked up any more; the open parking need has nothing of its kind within 500 m.
    assert parking.locator(".reach").inner_text() == "步行500米内无可用资源"
    assert "none" in parking.locator(".reach").get_attribute("class")
    resources = page.inner_text("#resources-table")
    assert "社区长者食堂" in resources and "135****1234" in resources
    project = page.locator(f"tr[data-project='{seeded['project']}']")
    assert project.locator(".status").inner_text() == "已完成" and "每日送餐到户" in project.inner_text()
    figures = {k: page.inner_text(f"#fig-{k}") for k in ("needs", "open", "met", "unserved", "hours")}
    assert figures == {"needs": "3", "open": "2", "met": "1", "unserved": "1", "hours": "3.5"}
    # The second meals need, still open, reaches the canteen on foot; the map joins them.
    lunch = page.locator(f"tr[data-need='{seeded['lunch']}'] .reach").inner_text()
    assert re.fullmatch(r"社区长者食堂（\d+米）", lunch), lunch
    assert page.get_attribute("body", "data-needs-on-map") == "3"
    assert page.get_attribute("body", "data-resources-on-map") == "1"
    assert page.get_attribute("body", "data-reach-lines") == "1"
    page.check("#heat-toggle")
    page.wait_for_selector("canvas.leaflet-heatmap-layer", state="attached")
    screenshot(page, "ledgers-page")

    # In English, statuses and reasons are worded too.
    page.click(".lang-toggle")
    assert page.inner_text("h1") == "Community ledgers"
    assert meals.locator(".status").inner_text() == "Closed (Met)"
    assert parking.locator(".reach").inner_text() == "No resource within 500 m on foot"
    page.click(".lang-toggle")

    # On paper: A4, without the tool bar.
    page.emulate_media(media="print")
    assert page.locator("header.bar").is_hidden()
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page[^s]", pdf)) >= 1
    page.emulate_media(media="screen")

    # The export downloads the three lists as a workbook.
    with page.expect_download() as download:
        page.click("#export-xlsx")
    assert download.value.suggested_filename == f"ledgers-{seeded['community']}.xlsx"


def test_every_code_the_api_sends_has_words_in_both_languages() -> None:
    source = (REPO / "web/static/i18n/ledgers.js").read_text(encoding="utf-8")

    def table(name: str) -> dict[str, int]:
        body = re.search(rf"export const {name} = \{{(.*?)\n?\}};", source, re.S).group(1)
        return {code: len(pair) for code, pair in re.findall(r"(\w+): \[(\"[^\"]+\", \"[^\"]+\")\]", body)}

    expected = {"NEED_STATUS": ledgers.NEED_STATUSES, "OUTCOME": ledgers.OUTCOMES, "NEED_SOURCE": ledgers.NEED_SOURCES,
                "PROJECT_STATUS": ledgers.PROJECT_STATUSES, "PROVIDER_KIND": ledgers.PROVIDER_KINDS,
                "CLAIMANT_KIND": ledgers.CLAIMANT_KINDS, "NEED_KIND": tuple(ledgers.DEFAULT_KINDS),
                "REACH_REASON": ("resources_within_radius", "no_resource_within_radius")}
    for name, codes in expected.items():
        assert sorted(table(name)) == sorted(codes), name
    assert '"role.unit_contact": ["单位联系人", "Unit contact"]' in source


def test_a_unit_contact_lands_on_the_ledgers_and_sees_its_own_resources(server: str, web_database_url: str,
                                                                        open_page) -> None:
    admin = _token(server, "demo_admin")
    engine = make_engine(web_database_url)
    try:
        with engine.begin() as conn:
            spot = conn.execute(text("""
                SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(g.geom) AS p FROM grid g
                WHERE g.district_code = :d AND g.valid_to IS NULL ORDER BY g.code DESC LIMIT 1) s"""),
                {"d": DEMO_DISTRICT[0]}).one()
            unit = conn.execute(text("""
                INSERT INTO org_unit (district_code, unit_key, name, kind, geom)
                VALUES (:d, 'name:新街口图书馆@', '新街口图书馆', 'institution', ST_SetSRID(ST_MakePoint(:x, :y), 4490))
                RETURNING id"""), {"d": DEMO_DISTRICT[0], "x": spot[0], "y": spot[1]}).scalar_one()
    finally:
        engine.dispose()
    user = _call("POST", f"{server}/users", admin, {"username": "unit_library", "password": DEMO_PASSWORD,
                                                    "role": "unit_contact", "district_code": DEMO_DISTRICT[0]})
    linked = _call("POST", f"{server}/ledgers/unit-contacts", admin, {"user_id": user["id"], "org_unit_id": unit})
    contact = _token(server, "unit_library")
    mine = _call("POST", f"{server}/ledgers/resources", contact, {
        "provider_kind": "unit", "name": "图书馆阅览室（周末向居民开放）", "kind_codes": ["venue", "after_school_care"],
        "available": "周六、周日 9:00–17:00", "contact_name": "吴馆员", "contact_phone": "13912340000"})

    page = open_page()
    sign_in(page, "unit_library")
    page.wait_for_url("**/app/ledgers**")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    page.select_option("#community-select", linked["community_code"])
    page.wait_for_selector(f"tr[data-resource='{mine['id']}']", timeout=120_000)
    rows = page.locator("#resources-table tbody tr")
    assert rows.count() == 1  # the unit's own resource only, with its own contact (masked)
    assert "139****0000" in rows.first.inner_text() and "课后托管" in rows.first.inner_text()
    assert page.locator("#projects-table tbody tr").first.inner_text() == "暂无"
