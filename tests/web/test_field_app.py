"""The field app (/app/field) in Chromium, through its pages only: a case from report to close with photos across a
grid worker (phone) and a grid leader, a household visit, a patrol recorded from a simulated GPS feed, and a shift
offline whose records each reach the database exactly once when the network returns.

Positions come from the browser context (``set_geolocation`` with the permission granted); photos are small JPEGs
given to the camera inputs. What the pages did is checked in the database by separate SQL.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import text
from web_pages import screenshot, sign_in

from gis.db.engine import make_engine

PHONE = {"width": 390, "height": 844}
CASES_POLL_MS = 10_000  # POLL_MS in web/static/field/cases.js


@pytest.fixture(scope="module")
def db(web_database_url: str):
    engine = make_engine(web_database_url)
    yield engine
    engine.dispose()


def sql(engine, statement: str, **params: object) -> list:
    with engine.connect() as conn:
        return conn.execute(text(statement), params).all()


def one(engine, statement: str, **params: object) -> object:
    rows = sql(engine, statement, **params)
    assert len(rows) == 1, rows
    return rows[0][0]


def photo(colour: str) -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "JPEG")
    return {"name": f"{colour}.jpg", "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def grid_point(engine, username: str) -> tuple[str, float, float]:
    """The worker's first grid and a point inside it."""
    code, lon, lat = sql(engine, """
        SELECT g.code, ST_X(ST_PointOnSurface(g.geom)), ST_Y(ST_PointOnSurface(g.geom))
        FROM grid g JOIN grid_assignment ga ON ga.grid_code = g.code AND ga.valid_to IS NULL
        JOIN app_user u ON u.id = ga.user_id WHERE u.username = :u AND g.valid_to IS NULL
        ORDER BY g.code LIMIT 1""", u=username)[0]
    return code, lon, lat


def at(page, lon: float, lat: float, accuracy: float = 5.0) -> None:
    page.context.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": accuracy})


def field(page, username: str, lon: float, lat: float, *, clock: bool = False) -> None:
    """Sign in and open the field app at (lon, lat); with ``clock``, on Playwright's clock (see ``next_poll``)."""
    if clock:
        page.clock.install()  # time still flows; a test may jump it forward
    page.context.grant_permissions(["geolocation"])
    at(page, lon, lat)
    sign_in(page, username)
    page.goto("/app/field")
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)


def next_poll(page) -> None:
    """Jump the page's clock to its next refresh of the cases (web/static/field/cases.js polls every 10 s).

    What another person did reaches an open page at its next poll; the jump fires that poll now
    rather than waiting up to ten seconds of wall time for it.
    """
    page.clock.fast_forward(CASES_POLL_MS)


def wait_sent(page, n: int) -> None:
    """Until the outbox has sent exactly ``n`` records since the page loaded and holds none."""
    # Selectors, not wait_for_function: the page's CSP forbids the eval that one needs.
    try:
        page.wait_for_selector(f"body[data-sent='{n}'][data-outbox='0']", state="attached", timeout=60_000)
    except Exception:
        state = page.evaluate(
            "() => ({...document.body.dataset, message: document.querySelector('#message').textContent})")
        raise AssertionError(f"outbox did not send {n}: {state}") from None


def take(page, action: str, *, note: str = "", photo_file: dict | None = None, expect: str) -> None:
    steps = page.locator("#case-events li").count()
    page.click(f"#case-actions [data-action='{action}']")
    page.wait_for_selector(f"#step-form[data-step='{action}']")
    if note:
        page.fill("#step-note", note)
    if photo_file:
        page.set_input_files("#step-photo", photo_file)
    page.click("#step-submit")
    # The case drawn again with one more step (an act like 催办 leaves the status as it was).
    page.wait_for_selector(f"#case-events li:nth-child({steps + 1})", timeout=60_000)
    page.wait_for_selector(f"#case-status[data-status='{expect}']", timeout=60_000)


def test_a_case_from_report_to_close_with_photos_across_worker_and_leader(open_page, db) -> None:
    grid, lon, lat = grid_point(db, "demo_worker")
    leader = open_page()
    field(leader, "demo_leader", lon, lat, clock=True)
    worker = open_page(PHONE)
    field(worker, "demo_worker", lon, lat, clock=True)

    description = f"井盖缺失 {uuid.uuid4().hex[:8]}"
    worker.click("#tab-report")
    worker.click("#report-here")  # the worker's GPS position
    worker.wait_for_selector("#report-where[data-picked='1']")
    worker.select_option("#report-category", "E0101")
    worker.fill("#report-description", description)
    worker.set_input_files("#report-photo", photo("red"))
    worker.click("#report-submit")
    wait_sent(worker, 2)  # the report, then its photo under the case's new id
    case_id = one(db, "SELECT id FROM incident WHERE description = :d", d=description)
    assert one(db, "SELECT count(*) FROM incident_photo WHERE incident_id = :i", i=case_id) == 1
    assert one(db, "SELECT grid_code FROM incident WHERE id = :i", i=case_id) == grid

    # The leader's list shows the new case without a reload, at its next poll.
    next_poll(leader)
    leader.wait_for_selector(f"#case-list [data-case='{case_id}']", timeout=60_000)
    assert "已上报" in leader.inner_text(f"#case-list [data-case='{case_id}']")
    leader.click(f"#case-list [data-case='{case_id}']")
    leader.wait_for_selector("#case-title")
    # The deadline in Beijing time, whatever the browser's zone.
    due = one(db, "SELECT due_at FROM incident WHERE id = :i", i=case_id)
    assert due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y/%m/%d %H:%M") in leader.inner_text("#case-due")
    take(leader, "register", expect="registered")
    take(leader, "dispatch", note="请尽快处置", expect="dispatched")  # to the reporter, the first choice
    assert one(db, "SELECT u.username FROM incident i JOIN app_user u ON u.id = i.handler_id WHERE i.id = :i",
               i=case_id) == "demo_worker"

    next_poll(worker)
    worker.wait_for_selector(f"#case-list [data-case='{case_id}']", timeout=60_000)
    worker.click(f"#case-list [data-case='{case_id}']")
    worker.wait_for_selector("#case-actions [data-action='accept']", timeout=60_000)
    take(worker, "accept", expect="handling")
    take(worker, "feedback", note="已补装井盖", photo_file=photo("green"), expect="feedback")
    worker.wait_for_selector("#case-photos img[data-photo]", timeout=60_000)
    screenshot(worker, "field-case-phone")

    # The leader's open case follows (no reload), then verification on the spot and closing.
    next_poll(leader)
    leader.wait_for_selector("#case-actions [data-action='verify']", timeout=60_000)
    take(leader, "verify", note="现场核查属实", expect="verification")
    take(leader, "close", expect="closed")
    screenshot(leader, "field-case-leader")

    steps = [r[0] for r in sql(db, "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id",
                               i=case_id)]
    assert steps == ["report", "register", "dispatch", "accept", "feedback", "verify", "close"]
    assert one(db, "SELECT status FROM incident WHERE id = :i", i=case_id) == "closed"
    assert one(db, "SELECT count(*) FROM incident_photo WHERE incident_id = :i", i=case_id) == 2
    verify_distance = sql(db, "SELECT ST_X(geom), ST_Y(geom) FROM incident_event WHERE incident_id = :i "
                              "AND action = 'verify'", i=case_id)[0]
    assert verify_distance[0] == pytest.approx(lon, abs=1e-6) and verify_distance[1] == pytest.approx(lat, abs=1e-6)
    # Every step in words: no raw status or action code on the leader's page.
    body = leader.inner_text("#field-panel")
    for code in ("reported", "registered", "dispatched", "handling", "feedback", "verification", "closed"):
        assert code not in body
    # One language at a time: the toggle draws the case again in English.
    leader.click(".lang-toggle")
    leader.wait_for_selector("#case-status:text-is('Closed')")
    events = leader.inner_text("#case-events")  # the notes are what people wrote; the words around them are English
    assert "Verify ·" in events and "Grid leader → Closed" in events and "已结案" not in events


def test_a_household_visit(open_page, db) -> None:
    grid, lon, lat = grid_point(db, "demo_worker")
    page = open_page(PHONE)
    field(page, "demo_worker", lon, lat)
    # Locate me: the map centres on the worker's position, drawn with its accuracy.
    page.click("#locate-me")
    page.wait_for_selector("body[data-located='1']", state="attached")
    assert "精度约 5 米" in page.inner_text("#message")
    assert page.locator("#map input[data-layer='my_position']").count() == 1  # and in the layer switcher
    page.click("#tab-visit")
    page.wait_for_selector("#visit-form")
    household = page.eval_on_selector("#visit-household", "s => s.options.length > 1 ? s.options[1].value : ''")
    assert household, "no household of the grid is due a visit"
    page.select_option("#visit-household", household)
    page.select_option("#visit-purpose", "care")
    page.fill("#visit-findings", "老人身体状况良好")
    before = one(db, "SELECT count(*) FROM visit WHERE household_id = :h", h=int(household))
    page.click("#visit-submit")
    wait_sent(page, 1)
    rows = sql(db, "SELECT v.purpose, g.code FROM visit v JOIN app_user u ON u.id = v.worker_id "
                   "JOIN grid g ON g.code = v.grid_code AND g.valid_to IS NULL "
                   "WHERE v.household_id = :h AND u.username = 'demo_worker' ORDER BY v.id", h=int(household))
    assert len(rows) == before + 1 and rows[-1] == ("care", grid)
    assert "走访已记录" in page.inner_text("#message")


def test_a_patrol_recorded_from_a_simulated_gps_feed(open_page, db) -> None:
    grid, lon, lat = grid_point(db, "demo_worker")
    page = open_page(PHONE)
    field(page, "demo_worker", lon, lat)
    before = one(db, "SELECT count(*) FROM patrol p JOIN app_user u ON u.id = p.worker_id "
                     "WHERE u.username = 'demo_worker'")
    page.click("#tab-patrol")
    page.click("#patrol-start")
    page.wait_for_selector("#patrol-stop")
    walked = 0
    for k in range(6):
        # About 3.3 m north each step, a second or more apart: a walk, not a GPS jump.
        at(page, lon, lat + k * 0.00003)
        walked += 1
        page.wait_for_selector(f"#patrol-status[data-points='{walked}']", timeout=30_000)
        if k == 2:  # a poor fix in between: left out and counted
            at(page, lon + 0.001, lat, accuracy=200)
            page.wait_for_selector("#patrol-dropped[data-dropped='1']", timeout=30_000)
        page.wait_for_timeout(1100)
    assert "精度差" in page.inner_text("#patrol-dropped")
    page.click("#patrol-stop")
    wait_sent(page, 1)
    rows = sql(db, "SELECT p.id, p.grid_code, p.point_count FROM patrol p JOIN app_user u ON u.id = p.worker_id "
                   "WHERE u.username = 'demo_worker' ORDER BY p.id")
    assert len(rows) == before + 1
    patrol_id, patrol_grid, points = rows[-1]
    assert patrol_grid == grid and points == 6
    stored = one(db, "SELECT count(*) FROM patrol_point WHERE patrol_id = :p", p=patrol_id)
    assert stored == 6
    assert "轨迹已上传" in page.inner_text("#message")


def _api_case_dispatched_to_worker(server: str, lon: float, lat: float) -> dict:
    """A case reported by demo_worker and dispatched back to them by demo_leader (set-up through the API)."""
    import httpx

    from gis.services.demo import DEMO_PASSWORD

    def token(user: str) -> dict:
        answer = httpx.post(f"{server}/auth/token", data={"username": user, "password": DEMO_PASSWORD})
        return {"Authorization": f"Bearer {answer.json()['access_token']}", "X-Access-Reason": "test"}

    worker, leader = token("demo_worker"), token("demo_leader")
    me = httpx.get(f"{server}/auth/me", headers=worker).json()
    case = httpx.post(f"{server}/incidents", headers=worker, json={
        "point": [lon, lat], "category_code": "E0103",
        "description": f"道路不洁 {uuid.uuid4().hex[:8]}"}).json()["incident"]
    version = case["version"]
    for body in ({"action": "register"}, {"action": "dispatch", "handler_id": me["id"]}):
        answer = httpx.post(f"{server}/incidents/{case['id']}/actions", headers={**leader, "If-Match": f'"{version}"'},
                            json=body)
        assert answer.status_code == 200, answer.text
        version = answer.json()["incident"]["version"]
    return case


READ_OUTBOX = """() => new Promise((resolve, reject) => {
  const open = indexedDB.open("wangge-field");
  open.onerror = () => reject(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction("outbox").objectStore("outbox").getAll();
    get.onsuccess = () => resolve(get.result.filter((r) => r.json).map((r) => ({ ...r })));
    get.onerror = () => reject(get.error);
  };
})"""

PUT_OUTBOX = """(records) => new Promise((resolve, reject) => {
  const open = indexedDB.open("wangge-field");
  open.onsuccess = () => {
    const tx = open.result.transaction("outbox", "readwrite");
    for (const r of records) tx.objectStore("outbox").put(r);
    tx.oncomplete = () => resolve(records.length);
    tx.onerror = () => reject(tx.error);
  };
})"""


def test_a_shift_offline_then_online_sends_each_record_exactly_once(open_page, db, server: str) -> None:
    grid, lon, lat = grid_point(db, "demo_worker")
    started = dt.datetime.now(dt.UTC)
    prepared = _api_case_dispatched_to_worker(server, lon, lat)
    page = open_page(PHONE)
    field(page, "demo_worker", lon, lat)
    page.wait_for_selector("body[data-offline-ready='1']", state="attached", timeout=180_000)
    assert int(page.get_attribute("body", "data-tiles")) > 0

    page.context.set_offline(True)
    page.wait_for_selector("body[data-online='0']", state="attached")
    # The page itself comes from the service worker's copy: a reload offline still opens the app, signed in.
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert "离线" in page.inner_text("#net-status")

    # A case report with its photo.
    description = f"离线上报 {uuid.uuid4().hex[:8]}"
    page.click("#tab-report")
    page.click("#report-here")
    page.wait_for_selector("#report-where[data-picked='1']")
    page.select_option("#report-category", "E0101")
    page.fill("#report-description", description)
    page.set_input_files("#report-photo", photo("blue"))
    page.click("#report-submit")
    page.wait_for_selector("#queued-reports [data-queued]")
    # A step on the dispatched case, from the copy kept offline, with a photo.
    page.click(f"#case-list [data-case='{prepared['id']}']")
    page.wait_for_selector("#case-actions [data-action='accept']")
    page.click("#case-actions [data-action='accept']")
    page.uncheck("#step-position")
    page.set_input_files("#step-photo", photo("yellow"))
    page.click("#step-submit")
    page.wait_for_selector("#case-pending")
    # A household visit from the list of households due, kept offline.
    page.click("#tab-visit")
    page.wait_for_selector("#visit-form")
    household = int(page.eval_on_selector("#visit-household", "s => s.options[1].value"))
    page.select_option("#visit-household", str(household))
    page.select_option("#visit-purpose", "info_check")
    page.fill("#visit-findings", "信息已核对")
    page.click("#visit-submit")
    # A short patrol.
    page.click("#tab-patrol")
    page.click("#patrol-start")
    for k in range(3):
        at(page, lon + k * 0.00003, lat)
        page.wait_for_selector(f"#patrol-status[data-points='{k + 1}']", timeout=30_000)
        page.wait_for_timeout(1100)
    page.click("#patrol-stop")
    page.wait_for_selector("body[data-outbox='6']", state="attached")
    page.click("#tab-outbox")
    page.wait_for_selector("#outbox-list .outbox-row:nth-child(6)")
    assert page.locator("#outbox-list .outbox-row").count() == 6
    screenshot(page, "field-outbox-offline")
    # Nothing has reached the server.
    assert one(db, "SELECT count(*) FROM incident WHERE description = :d", d=description) == 0
    assert one(db, "SELECT count(*) FROM visit WHERE household_id = :h AND visited_at >= :t",
               h=household, t=started) == 0
    queued = page.evaluate(READ_OUTBOX)
    assert {r["kind"] for r in queued} == {"incident", "action", "visit"}

    page.context.set_offline(False)
    wait_sent(page, 6)
    # The answers were lost (as on a dropped connection): the same records go again under the same keys.
    assert page.evaluate(PUT_OUTBOX, queued) == 3
    page.click("#tab-cases")
    page.click("#tab-outbox")
    page.click("#outbox-send")
    wait_sent(page, 9)
    assert page.locator("#outbox-empty").count() == 1

    case_id = one(db, "SELECT id FROM incident WHERE description = :d", d=description)
    assert one(db, "SELECT count(*) FROM incident_photo WHERE incident_id = :i", i=case_id) == 1
    assert one(db, "SELECT count(*) FROM incident_event WHERE incident_id = :i AND action = 'accept'",
               i=prepared["id"]) == 1
    assert one(db, "SELECT status FROM incident WHERE id = :i", i=prepared["id"]) == "handling"
    assert one(db, "SELECT count(*) FROM incident_photo WHERE incident_id = :i", i=prepared["id"]) == 1
    assert one(db, "SELECT count(*) FROM visit WHERE household_id = :h AND visited_at >= :t",
               h=household, t=started) == 1
    assert one(db, "SELECT count(*) FROM patrol p JOIN app_user u ON u.id = p.worker_id "
                   "WHERE u.username = 'demo_worker' AND p.uploaded_at >= :t", t=started) == 1
    replays = one(db, "SELECT count(*) FROM idempotency_key k JOIN app_user u ON u.id = k.user_id "
                      "WHERE u.username = 'demo_worker' AND k.created_at >= :t AND k.status_code < 300", t=started)
    assert replays == 6  # one stored answer per record, the repeats answered from them


def test_a_step_on_a_case_changed_meanwhile_is_shown_as_a_conflict_and_resolved(open_page, db, server: str) -> None:
    import httpx

    from gis.services.demo import DEMO_PASSWORD

    _grid, lon, lat = grid_point(db, "demo_worker")
    prepared = _api_case_dispatched_to_worker(server, lon, lat)
    page = open_page(PHONE)
    field(page, "demo_worker", lon, lat)
    page.wait_for_selector("body[data-offline-ready='1']", state="attached", timeout=180_000)
    page.context.set_offline(True)
    page.wait_for_selector("body[data-online='0']", state="attached")
    page.click(f"#case-list [data-case='{prepared['id']}']")
    page.wait_for_selector("#case-actions [data-action='return']")
    take_version = int(page.get_attribute("body", "data-case-version"))
    page.click("#case-actions [data-action='return']")
    page.fill("#step-note", "不属于本网格职责")
    page.click("#step-submit")
    page.wait_for_selector("#case-pending")

    # Meanwhile the case is taken up from another device: the queued step was made on an older version.
    token = httpx.post(f"{server}/auth/token", data={"username": "demo_worker", "password": DEMO_PASSWORD}).json()
    answer = httpx.post(f"{server}/incidents/{prepared['id']}/actions", json={"action": "accept"},
                        headers={"Authorization": f"Bearer {token['access_token']}", "If-Match": f'"{take_version}"'})
    assert answer.status_code == 200, answer.text

    page.click("#tab-outbox")
    page.context.set_offline(False)
    page.wait_for_selector(".outbox-row[data-state='conflict']", timeout=60_000)
    shown = page.inner_text(".outbox-row[data-state='conflict']")
    assert "冲突" in shown and "事件已被他人更新" in shown and "someone else" not in shown  # Chinese only
    assert one(db, "SELECT status FROM incident WHERE id = :i", i=prepared["id"]) == "handling"
    screenshot(page, "field-conflict")
    # Resolved by the worker: the step again, on the case as it is now.
    page.click("[data-resolve='rebase']")
    wait_sent(page, 1)
    steps = [r[0] for r in sql(db, "SELECT action FROM incident_event WHERE incident_id = :i ORDER BY at, id",
                               i=prepared["id"])]
    assert steps == ["report", "register", "dispatch", "accept", "return"]
    assert one(db, "SELECT status FROM incident WHERE id = :i", i=prepared["id"]) == "returned"


def test_the_app_is_installable_from_local_files(server: str) -> None:
    import httpx

    manifest = httpx.get(f"{server}/app/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["start_url"], body["scope"], body["display"]) == ("/app/field", "/app/", "standalone")
    for icon in body["icons"]:
        got = httpx.get(f"{server}{icon['src']}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    worker = httpx.get(f"{server}/app/sw.js")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/app/" and worker.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in worker.headers["content-security-policy"]
    page = httpx.get(f"{server}/app/field")
    assert page.status_code == 200 and '<link rel="manifest" href="/app/manifest.webmanifest">' in page.text


def test_a_quick_fix_is_reported_with_its_before_and_after_photos(open_page, db) -> None:
    _grid, lon, lat = grid_point(db, "demo_worker")
    page = open_page(PHONE)
    field(page, "demo_worker", lon, lat)
    description = f"随手清理 {uuid.uuid4().hex[:8]}"
    page.click("#tab-report")
    page.click("#report-here")
    page.wait_for_selector("#report-where[data-picked='1']")
    page.select_option("#report-category", "E0101")  # 暴露垃圾: the city's table allows 随手办
    page.fill("#report-description", description)
    page.set_input_files("#report-photo", photo("gray"))
    page.check("#report-quick-fix")
    page.set_input_files("#report-photo-after", photo("white"))
    page.click("#report-submit")
    wait_sent(page, 1)  # one record: the photos travel inside the report
    case_id, quick, status = sql(db, "SELECT id, quick_fix, status FROM incident WHERE description = :d",
                                 d=description)[0]
    assert quick is True and status in ("quick_fixed", "closed")
    kinds = sorted(r[0] for r in sql(db, "SELECT kind FROM incident_photo WHERE incident_id = :i", i=case_id))
    assert kinds == ["after", "before"]
