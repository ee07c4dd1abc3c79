"""`wangge map export` on the demo district: every view rendered by the CLI, then opened in headless Chromium.

Each page is opened from its file with every request other than the file itself blocked and
counted (there must be none), and with no JavaScript error; the tests then count what Leaflet drew
(SVG paths by class, cluster bubbles, labels, the heat canvas) against the database. A test that
cannot start the browser fails: it never skips.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from map_exports import ARTIFACTS, INCIDENTS, wangge_map, wangge_map_process
from sqlalchemy import text

from gis.db.engine import make_engine
from gis.maps import ALLOWED_LINKS, MAX_HTML_BYTES, remote_references, strip_assets
from gis.services.demo import DEMO_DISTRICT

CODE = DEMO_DISTRICT[0]


@dataclass
class Expected:
    """Figures read from the maps database, to compare with what the pages draw."""

    grids: int
    communities: int
    community: str
    community_grids: int
    grid: str
    grid_buildings: int
    uncovered: int
    community_uncovered: int
    facilities: int
    patrol_ids: list[int]


@pytest.fixture(scope="module")
def expected(maps_database_url: str) -> Iterator[Expected]:
    engine = make_engine(maps_database_url)
    try:
        with engine.connect() as conn:
            q = lambda sql, **p: conn.execute(text(sql), p).scalar_one()  # noqa: E731
            grid = q("""SELECT a.grid_code FROM grid_assignment a JOIN app_user u ON u.id = a.user_id
                        WHERE u.username = 'demo_worker' ORDER BY a.grid_code LIMIT 1""")
            community = q("SELECT community_code FROM grid WHERE code = :g AND valid_to IS NULL", g=grid)
            yield Expected(
                grids=q("SELECT count(*) FROM grid WHERE valid_to IS NULL AND district_code = :d", d=CODE),
                communities=q("SELECT count(*) FROM community WHERE valid_to IS NULL AND district_code = :d", d=CODE),
                community=community,
                community_grids=q("SELECT count(*) FROM grid WHERE valid_to IS NULL AND community_code = :c",
                                  c=community),
                grid=grid,
                grid_buildings=q("""SELECT count(*) FROM building b JOIN grid g ON g.code = :g AND g.valid_to IS NULL
                                    AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))""", g=grid),
                uncovered=q("""SELECT count(*) FROM building_coverage WHERE type_code = 'kindergarten'
                               AND NOT within_standard AND run_id = (SELECT max(id) FROM coverage_run)"""),
                community_uncovered=q("""
                    SELECT count(*) FROM building_coverage c JOIN building b ON b.id = c.building_id
                    JOIN community u ON u.code = :c AND u.valid_to IS NULL
                     AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))
                    WHERE c.type_code = 'kindergarten' AND NOT c.within_standard
                      AND c.run_id = (SELECT max(id) FROM coverage_run)""", c=community),
                facilities=q("SELECT count(*) FROM facility WHERE type_code = 'kindergarten' AND district_code = :d",
                             d=CODE),
                patrol_ids=list(conn.execute(text("SELECT id FROM patrol ORDER BY id")).scalars()),
            )
    finally:
        engine.dispose()


@dataclass
class Rendered:
    path: Path
    report: dict[str, Any]


@pytest.fixture(scope="module")
def maps(maps_env: dict[str, str], expected: Expected, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[str, Rendered]:
    """Each view written by the CLI (with --json), keyed by a short name."""
    out = tmp_path_factory.mktemp("maps")
    runs = {
        "planner": ["--view", "planner"],
        "planner_community": ["--view", "planner", "--community", expected.community],
        "grid": ["--view", "grid", "--grid", expected.grid],
        "grid_community": ["--view", "grid", "--community", expected.community],
        "facility": ["--view", "facility", "--type", "kindergarten"],
        "facility_community": ["--view", "facility", "--type", "kindergarten", "--community", expected.community],
        "cases": ["--view", "cases"],
        "cases_grid": ["--view", "cases", "--grid", expected.grid, "--reason", "map test"],
    }
    rendered = {}
    for name, args in runs.items():
        path = out / f"{name}.html"
        done = wangge_map(maps_env, *args, "--out", str(path), "--json")
        assert done.returncode == 0, f"{name}: {done.stderr}"
        rendered[name] = Rendered(path, json.loads(done.stdout))
    return rendered


@dataclass
class Visit:
    """What one page did when opened: requests seen, requests blocked, errors, and the page for queries."""

    page: Any
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def layers(self) -> list[str]:
        return [t.strip() for t in self.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()]

    def clustered(self, marker_class: str) -> int:
        """Points behind the cluster bubbles plus the single markers drawn, once the clusters settle.

        While Leaflet.markercluster animates (the map pane carries ``leaflet-cluster-anim``) a point
        can be drawn both as a marker and inside a bubble; a slow machine caught it there (18 for 9).
        """
        def count() -> int:
            self.page.wait_for_function("!document.querySelector('.leaflet-cluster-anim')")
            bubbles = sum(int(t) for t in self.page.locator(".marker-cluster span").all_inner_texts())
            return bubbles + self.count(f"path.{marker_class}")

        seen = count()
        for _ in range(20):  # the same figure twice in a row, 100 ms apart
            self.page.wait_for_timeout(100)
            again = count()
            if again == seen:
                return seen
            seen = again
        return seen


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (module scope: one Playwright per process at a time)."""
    with chromium() as b:
        yield b


def _recorder(visit: Visit) -> Any:
    """A route handler that lets the page's own file through and blocks (and records) everything else."""

    def route(r: Any) -> None:
        url = r.request.url
        visit.requests.append(url)
        if url.startswith("file:"):
            r.continue_()
        else:
            visit.blocked.append(url)
            r.abort()

    return route


@pytest.fixture(scope="module")
def visits(browser: Any, maps: dict[str, Rendered]) -> Iterator[dict[str, Visit]]:
    """Every rendered map opened offline; a screenshot of each under test-artifacts/maps."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    opened = {}
    for name, rendered in maps.items():
        page = context.new_page()
        visit = Visit(page)
        page.route("**/*", _recorder(visit))
        page.on("pageerror", lambda e, visit=visit: visit.errors.append(str(e)))
        page.on("console", lambda m, visit=visit: visit.errors.append(m.text) if m.type == "error" else None)
        page.goto(rendered.path.as_uri(), wait_until="load")
        page.wait_for_selector(".leaflet-control-layers")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        opened[name] = visit
    yield opened
    context.close()


VIEWS = ("planner", "planner_community", "grid", "grid_community", "facility", "facility_community", "cases",
         "cases_grid")


@pytest.mark.parametrize("name", VIEWS)
def test_the_file_names_no_remote_address(maps: dict[str, Rendered], name: str) -> None:
    html = maps[name].path.read_text(encoding="utf-8")
    assert maps[name].report["bytes"] == len(html.encode("utf-8")) < MAX_HTML_BYTES
    # No script or stylesheet is linked: every library is inline.
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet", html, re.IGNORECASE)
    # The map's own content (all but the inlined libraries) names no address but the OSM copyright link.
    own = strip_assets(html)
    assert set(re.findall(r"https?://[^\s\"'<>)\\]+", own)) == set(ALLOWED_LINKS)
    assert remote_references(own) == []
    assert 'data-asset="leaflet.js"' in html and "OpenStreetMap" in own


@pytest.mark.parametrize("name", VIEWS)
def test_the_page_opens_offline_with_no_request_and_no_error(visits: dict[str, Visit], maps: dict[str, Rendered],
                                                            name: str) -> None:
    visit = visits[name]
    assert visit.blocked == []
    assert visit.requests == [maps[name].path.as_uri()]
    assert visit.errors == []
    assert visit.layers() == maps[name].report["layers"]
    assert visit.count(".leaflet-control-scale") == 1
    assert "© OpenStreetMap contributors" in visit.text(".leaflet-control-attribution")
    assert visit.count(".wangge-title h1") == 1 and visit.count(".wangge-legend") == 1
    # The background is drawn from our own roads: there are no tiles.
    assert visit.count(".leaflet-tile") == 0 and visit.count(".leaflet-overlay-pane path") > 0


def test_planner_view_colours_every_grid_against_the_bounds(visits: dict[str, Visit], maps: dict[str, Rendered],
                                                            expected: Expected) -> None:
    visit = visits["planner"]
    assert visit.count("path.wangge-grid") == expected.grids == maps["planner"].report["grids"]
    assert visit.count("path.wangge-community") == expected.communities
    assert visit.count(".wangge-label") == expected.grids
    legend = visit.text(".wangge-legend")
    assert "300–500" in legend and "below" in legend and "in range" in legend and "above" in legend
    shown = sum(int(n) for n in re.findall(r"(?:below|in range|above): (\d+)", legend))
    assert shown == expected.grids
    assert visit.layers()[1:] == ["网格户数 Households per grid (300–500 户)", "社区边界 Community outlines",
                                  "标注 Labels"]


def test_planner_view_of_one_community(visits: dict[str, Visit], expected: Expected) -> None:
    visit = visits["planner_community"]
    assert visit.count("path.wangge-grid") == expected.community_grids
    assert visit.count("path.wangge-community") == 1
    assert visit.count(".wangge-label") == expected.community_grids


def test_grid_view_colours_buildings_and_states_the_four_limits(visits: dict[str, Visit], maps: dict[str, Rendered],
                                                               expected: Expected) -> None:
    visit = visits["grid"]
    assert visit.count("path.wangge-building") == expected.grid_buildings == maps["grid"].report["buildings"]
    assert visit.count("path.wangge-grid") == 1
    legend = visit.text(".wangge-legend")
    assert "四至" in legend and "东至" in legend and "户" in legend
    community = visits["grid_community"]
    assert community.count("path.wangge-grid") == expected.community_grids
    assert community.count("path.wangge-community") == 1
    assert community.count("path.wangge-building") == maps["grid_community"].report["buildings"] > 0


def test_facility_view_ranks_gaps_and_clusters_uncovered_buildings(visits: dict[str, Visit],
                                                                  maps: dict[str, Rendered],
                                                                  expected: Expected) -> None:
    visit, report = visits["facility"], maps["facility"].report
    assert report["uncovered_buildings"] == expected.uncovered > 0
    assert visit.clustered("wangge-uncovered") == expected.uncovered
    assert visit.count("path.wangge-gap") == report["gaps"] > 0
    assert visit.count("path.wangge-facility") == expected.facilities
    assert visit.count(".wangge-label") == min(10, report["gaps"])
    legend = visit.text(".wangge-legend")
    assert "300 m" in legend and "#1:" in legend and "walking radius" in legend
    # One community: its outline, and only its uncovered buildings.
    one, in_one = visits["facility_community"], maps["facility_community"].report
    assert one.count("path.wangge-area") == 1
    assert one.clustered("wangge-uncovered") == in_one["uncovered_buildings"] == expected.community_uncovered


def test_cases_view_clusters_incidents_draws_heat_and_timed_tracks(visits: dict[str, Visit],
                                                                  maps: dict[str, Rendered],
                                                                  expected: Expected) -> None:
    visit, report = visits["cases"], maps["cases"].report
    assert report["incidents"] == INCIDENTS and report["patrols"] == len(expected.patrol_ids) == 2
    assert visit.clustered("wangge-incident") == INCIDENTS
    assert visit.count("canvas.leaflet-heatmap-layer") == 1
    # Each patrol is cut into time steps coloured start → end: several pieces per track.
    assert visit.count("path.wangge-track") > 2 * 2
    assert "patrol start" in visit.text(".wangge-legend")
    in_grid = maps["cases_grid"].report
    assert in_grid["patrols"] == 2 and 0 < in_grid["incidents"] <= INCIDENTS
    assert visits["cases_grid"].clustered("wangge-incident") == in_grid["incidents"]


def test_reading_patrol_tracks_for_a_map_is_audited(maps: dict[str, Rendered], maps_database_url: str,
                                                    expected: Expected) -> None:
    engine = make_engine(maps_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("""SELECT username, reason, detail FROM audit_log
                                        WHERE entity = 'patrol' AND action = 'map_export' ORDER BY id""")).all()
    finally:
        engine.dispose()
    assert [r.reason for r in rows] == ["map export", "map test"]
    assert all(r.username == "system" for r in rows)
    assert all(r.detail["ids"] == [str(i) for i in expected.patrol_ids] for r in rows)


def test_bad_requests_are_one_line_errors(maps_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    for args, words in [(("--view", "grid"), "--grid or --community: the grid view needs one"),
                        (("--view", "facility"), "--type: is needed by the facility view"),
                        (("--view", "planner", "--community", "320102999999"), "320102999999")]:
        done = wangge_map(maps_env, *args, "--out", str(out))
        assert done.returncode == 1 and words in done.stderr, done.stderr
        assert len([ln for ln in done.stderr.splitlines() if ln.startswith("error:")]) == 1, done.stderr
        assert "Traceback" not in done.stderr and not out.exists()
    # One in a real process: what a user sees, a usage error and no traceback.
    done = wangge_map_process(maps_env, "--view", "atlas", "--out", str(out))
    assert done.returncode == 2 and "--view" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
