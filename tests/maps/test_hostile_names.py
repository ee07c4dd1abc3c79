"""Finding 3 of issue 23: names in exported report maps are text, never markup or script.

Every string a report map shows comes from somewhere a stranger can write: OSM building and
facility names, grid and community names, 四至 (road names), incident categories, the catalogue's
type label, titles built from those names. Each view is rendered with hostile names in every one
of them, opened in Debian's Chromium, every tooltip is hovered (markers inside clusters too), and
no payload may run. The names must still be readable as text, and the file carries a CSP.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from browser import chromium
from shapely import box
from shapely.geometry import LineString, Point

from gis.maps import Background, cases_map, facility_map, grid_map, planner_map, render_html

# Each payload records its name in window.__pwned when it runs.
PAYLOADS = (
    '<img src=x onerror="window.__pwned=(window.__pwned||[]).concat([\'img\'])">',
    "${window.__pwned=['template']}",
    "`+(window.__pwned=['backtick'])+`",
    "</script><script>window.__pwned=['script']</script>",
    '<svg onload="window.__pwned=[\'svg\']"></svg>',
    "\\${window.__pwned=['backslash']}",
)


def hostile(i: int, what: str) -> str:
    return f"{what}{i} {PAYLOADS[i % len(PAYLOADS)]}"


def _cells(n: int) -> list[Any]:
    return [box(118.780 + 0.003 * i, 32.040, 118.783 + 0.003 * i, 32.043) for i in range(n)]


def _background() -> Background:
    roads = gpd.GeoDataFrame({"main": [True, False], "name": [hostile(0, "路"), hostile(1, "街")]},
                             geometry=[LineString([(118.78, 32.041), (118.80, 32.041)]),
                                       LineString([(118.785, 32.04), (118.785, 32.043)])], crs="EPSG:4490")
    return Background(roads=roads)


def _planner() -> str:
    n = len(PAYLOADS)
    grids = gpd.GeoDataFrame({"code": [f"3201020010010{i:02d}" for i in range(n)],
                              "name": [hostile(i, "网格") for i in range(n)], "households": [400] * n},
                             geometry=_cells(n), crs="EPSG:4490")
    communities = gpd.GeoDataFrame({"code": ["320102001001"], "name": [hostile(1, "社区")]},
                                   geometry=[box(118.780, 32.040, 118.780 + 0.003 * n, 32.043)], crs="EPSG:4490")
    return render_html(planner_map(grids, communities, _background(), min_households=300, max_households=500,
                                   title=hostile(3, "标题"), subtitle=hostile(0, "副标题")))


def _grid() -> str:
    n = len(PAYLOADS)
    buildings = gpd.GeoDataFrame({"id": list(range(n)), "name": [hostile(i, "楼") for i in range(n)],
                                  "households": [20] * n},
                                 geometry=[box(118.7805 + 0.003 * i, 32.0405, 118.7815 + 0.003 * i, 32.0415)
                                           for i in range(n)], crs="EPSG:4490")
    units = gpd.GeoDataFrame({"code": [f"3201020010010{i:02d}" for i in range(n)],
                              "name": [hostile(i + 1, "网格") for i in range(n)], "households": [20] * n,
                              "four_limits": [f"东至{hostile(i, '大道')}、南至{hostile(i + 2, '河')}"
                                              for i in range(n)]},
                             geometry=_cells(n), crs="EPSG:4490")
    outline = gpd.GeoDataFrame({"code": ["320102001001"], "name": [hostile(4, "社区")],
                                "four_limits": [hostile(1, "东至")]},
                               geometry=[box(118.780, 32.040, 118.780 + 0.003 * n, 32.043)], crs="EPSG:4490")
    return render_html(grid_map(buildings, units, _background(), title=hostile(1, "楼栋"), outline=outline,
                                subtitle=hostile(2, "副")))


def _facility() -> str:
    n = len(PAYLOADS)
    facilities = gpd.GeoDataFrame({"name": [hostile(i, "幼儿园") for i in range(n)]},
                                  geometry=[Point(118.781 + 0.003 * i, 32.041) for i in range(n)], crs="EPSG:4490")
    uncovered = gpd.GeoDataFrame({"households": [10] * n, "target_population": [3] * n,
                                  "distance_m": [450.0] * n},
                                 geometry=[Point(118.782 + 0.003 * i, 32.042) for i in range(n)], crs="EPSG:4490")
    gaps = gpd.GeoDataFrame({"rank": [1], "households": [60], "target_population": [18], "buildings": [6]},
                            geometry=[box(118.78, 32.039, 118.79, 32.041)], crs="EPSG:4490")
    area = gpd.GeoDataFrame({"code": ["320102001001"], "name": [hostile(5, "社区")]},
                            geometry=[box(118.780, 32.039, 118.780 + 0.003 * n, 32.043)], crs="EPSG:4490")
    return render_html(facility_map(facilities=facilities, uncovered=uncovered, gaps=gaps, background=_background(),
                                    type_label=hostile(1, "类型"), radius_m=300, level=hostile(2, "级"),
                                    title=hostile(0, "设施"), subtitle=hostile(4, "副"), area=area))


def _cases() -> str:
    n = len(PAYLOADS)
    at = pd.Timestamp("2024-05-06", tz="UTC")
    incidents = gpd.GeoDataFrame({"id": list(range(n)), "category": [hostile(i, "类") for i in range(n)],
                                  "status": [hostile(i + 3, "状态") for i in range(n)], "is_open": [True] * n,
                                  "reported_at": [at] * n},
                                 geometry=[Point(118.781 + 0.003 * i, 32.041) for i in range(n)], crs="EPSG:4490")
    start = dt.datetime(2024, 5, 6, 1, 0, tzinfo=dt.UTC)
    tracks = pd.DataFrame({"patrol_id": [1] * 30, "grid_code": [hostile(1, "网格")] * 30,
                           "at": [start + dt.timedelta(minutes=i) for i in range(30)],
                           "lon": [118.78 + 5e-4 * i for i in range(30)], "lat": [32.042] * 30})
    area = gpd.GeoDataFrame({"code": ["320102001001"], "name": [hostile(2, "网格")]},
                            geometry=[box(118.780, 32.039, 118.780 + 0.003 * n, 32.043)], crs="EPSG:4490")
    return render_html(cases_map(incidents=incidents, tracks=tracks, background=_background(),
                                 title=hostile(5, "事件"), subtitle=hostile(3, "副"), area=area))


VIEWS = {"planner": _planner, "grid": _grid, "facility": _facility, "cases": _cases}

# Hover every feature as a user would: each leaf layer gets a mouseover (propagated to the GeoJSON
# group that holds the tooltip); markers inside a cluster are put on the map first.
_HOVER_ALL = """() => {
    const maps = Object.keys(window).filter(k => k.startsWith('map_') && window[k] instanceof L.Map)
        .map(k => window[k]);
    const seen = new Set();
    let hovered = 0;
    const hover = (map, layer) => {
        const at = layer.getLatLng ? layer.getLatLng() : layer.getBounds().getCenter();
        layer.fire('mouseover', {latlng: at, layerPoint: map.latLngToLayerPoint(at),
                                 containerPoint: map.latLngToContainerPoint(at)}, true);
        hovered += 1;
        document.querySelectorAll('.leaflet-tooltip').forEach(t => seen.add(t.textContent));
    };
    for (const map of maps) {
        const layers = [];
        map.eachLayer(l => layers.push(l));
        for (const layer of layers) {
            if (L.MarkerClusterGroup && layer instanceof L.MarkerClusterGroup) {
                layer.eachLayer(m => { map.addLayer(m); hover(map, m); });
            } else if (!layer.eachLayer && (layer.getLatLng || layer.getBounds)) {
                hover(map, layer);
            }
        }
    }
    return {hovered: hovered, tooltips: Array.from(seen), pwned: window.__pwned || null};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.mark.parametrize("view", sorted(VIEWS))
def test_hostile_names_run_no_script_and_read_as_text(view: str, browser: Any, tmp_path: Path) -> None:
    page_html = VIEWS[view]()
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page_html)
    assert meta is not None and page_html.index(meta.group(0)) < page_html.lower().index("<script")
    assert "default-src &#x27;none&#x27;" in meta.group(1) and "unsafe-inline&#x27;; img-src" in meta.group(1)
    assert "script-src &#x27;sha256-" in meta.group(1) and "unsafe-eval" not in meta.group(1)
    path = tmp_path / f"{view}.html"
    path.write_text(page_html, encoding="utf-8")
    context = browser.new_context(offline=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector(".leaflet-control-layers")
        result = page.evaluate(_HOVER_ALL)
        body = page.inner_text("body")
        title = page.title()
        pwned = page.evaluate("() => window.__pwned || null")
    finally:
        context.close()
    assert errors == []  # every script of the page ran to its end (a broken literal would throw)
    assert result["hovered"] >= len(PAYLOADS) and pwned is None and result["pwned"] is None
    shown = body + "\n".join(result["tooltips"]) + title
    # The payloads are shown as the text they are (each view shows at least these).
    assert "<img src=x onerror=" in shown and "</script><script>" in shown
    assert "${window.__pwned=['template']}" in shown
