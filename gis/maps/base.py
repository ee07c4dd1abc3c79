"""What every report map shares: a tile-less Leaflet map, title, legend, scale bar, attribution, background, budget.

No basemap tiles are fetched: the light background (roads as thin lines, water) is drawn from our
own data, simplified and with coordinates rounded to 6 decimals (~0.1 m), so that a map stays
small enough to mail and opens with no network.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element, Figure, MacroElement
from folium.map import Layer
from jinja2 import Template

from gis.errors import CRSMismatch, Infeasible
from gis.jsonable import plain
from gis.maps.assets import NODE_MODULES, to_offline_html

ATTRIBUTION = ('© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors')
PRECISION = 6
# Display simplification in degrees (~1 m at 32°N): invisible at report zooms, halves vertex counts.
SIMPLIFY_DEG = 1e-5
# The whole exported file, libraries included (~200 kB of them): a report map must stay mailable.
MAX_HTML_BYTES = 5_000_000
GEOGRAPHIC = ("EPSG:4490", "EPSG:4326")
MAX_ZOOM = 20


@dataclass
class Background:
    """The light background drawn under a view: roads (``main`` True/False) and water, lon/lat frames."""

    roads: gpd.GeoDataFrame | None = None
    water: gpd.GeoDataFrame | None = None


@dataclass
class LegendItem:
    """One legend row: a swatch (``fill``, ``line`` or ``dot``) in a colour, and its label."""

    colour: str
    label: str
    kind: str = "fill"


@dataclass
class Legend:
    """A legend box: heading, rows and free lines of text (notes, bounds, radii)."""

    heading: str
    items: list[LegendItem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# Characters that are harmless in HTML but live in a JavaScript template literal, where folium puts a
# Tooltip's text (`...${expr}...`): a backtick ends it, ${ runs code, a backslash escapes.
_TEMPLATE_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def escape_text(value: Any) -> str:
    """``value`` as text safe in HTML that Leaflet inserts with innerHTML and in folium's JS template literals.

    Every name that reaches a report map (OSM, facility, grid, community, road names, 四至) comes
    from people outside the office, so none is ever written as markup.
    """
    return html.escape(str(value), quote=True).translate(_TEMPLATE_LITERAL)


def check_geographic(frame: gpd.GeoDataFrame, name: str) -> None:
    """CRSMismatch unless ``frame`` is in lon/lat (EPSG:4490 or 4326): a map draws nothing else."""
    crs = frame.crs.to_string() if frame.crs is not None else None
    if crs not in GEOGRAPHIC:
        raise CRSMismatch(f"{name}: expected lon/lat in EPSG:4490 (or 4326), got {crs}")


def compact(geoms: Any, *, simplify: float = SIMPLIFY_DEG) -> np.ndarray:
    """Geometries simplified for display and rounded to :data:`PRECISION` decimals."""
    arr = np.asarray(geoms, dtype=object)
    if simplify:
        arr = shapely.simplify(arr, simplify, preserve_topology=True)
    return shapely.transform(arr, lambda xy: np.round(xy, PRECISION))


def _display(value: Any) -> Any:
    value = plain(value)
    return escape_text(value) if isinstance(value, str) else value


def to_features(frame: gpd.GeoDataFrame, *, name: str, columns: Sequence[str] = (),
                simplify: float = SIMPLIFY_DEG) -> dict[str, Any]:
    """A compact RFC 7946 FeatureCollection of ``frame`` (lon/lat) with the named property columns.

    String properties are HTML-escaped: the collection is for display, and GeoJsonTooltip writes
    them with innerHTML.
    """
    check_geographic(frame, name)
    geoms = compact(frame.geometry.values, simplify=simplify)
    records = frame[list(columns)].to_dict("records") if columns else [{} for _ in range(len(frame))]
    features = [{"type": "Feature", "properties": {k: _display(v) for k, v in props.items()},
                 "geometry": shapely.geometry.mapping(g)}
                for props, g in zip(records, geoms, strict=True) if g is not None and not g.is_empty]
    return {"type": "FeatureCollection", "features": features}


def lonlat_bounds(*frames: gpd.GeoDataFrame | None) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) over the non-empty frames; Infeasible when all are empty."""
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        raise Infeasible("nothing to draw: every layer of this view is empty")
    b = np.array(boxes)
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())


class TextLabels(Layer):
    """Permanent text labels at points (one compact array, one tooltip each), as one toggleable layer."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.featureGroup();
            {{ this.rows|tojson }}.forEach(function (row) {
                L.circleMarker([row[0], row[1]], {radius: 0, opacity: 0, fillOpacity: 0, interactive: false})
                    .bindTooltip(row[2], {permanent: true, direction: "center", className: "wangge-label"})
                    .addTo({{ this.get_name() }});
            });
        {% endmacro %}
    """)

    def __init__(self, rows: Sequence[tuple[float, float, str]], *, name: str, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "TextLabels"
        # Leaflet writes a tooltip's string with innerHTML.
        self.rows = [[round(float(lat), PRECISION), round(float(lon), PRECISION), escape_text(label)]
                     for lat, lon, label in rows]


def text_labels(frame: gpd.GeoDataFrame, labels: Sequence[str], *, name: str, show: bool = True) -> TextLabels:
    """Labels at each feature's representative point."""
    check_geographic(frame, name)
    points = frame.geometry.representative_point()
    return TextLabels(list(zip(points.y, points.x, labels, strict=True)), name=name, show=show)


class _Attribution(MacroElement):
    """The attribution line of a tile-less map (folium only writes one with tiles)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
    """)

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text


_PAGE_CSS = """
<style>
  body .leaflet-container { background: #f6f5f1; font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; }
  .wangge-title { position: absolute; top: 10px; left: 56px; z-index: 1000; background: rgba(255,255,255,.92);
                  padding: 6px 12px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); max-width: 60%; }
  .wangge-title h1 { font-size: 17px; margin: 0; }
  .wangge-title p { font-size: 12px; margin: 2px 0 0; color: #444; }
  .wangge-legend { position: absolute; bottom: 28px; right: 10px; z-index: 1000; background: rgba(255,255,255,.94);
                   padding: 8px 10px; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,.3); font-size: 12px;
                   max-width: 320px; max-height: 60%; overflow: auto; }
  .wangge-legend h2 { font-size: 13px; margin: 0 0 4px; }
  .wangge-legend .row { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
  .wangge-legend .swatch { width: 16px; height: 12px; flex: none; border: 1px solid #555; }
  .wangge-legend .swatch.line { height: 0; border: none; border-top: 3px solid; }
  .wangge-legend .swatch.dot { width: 10px; height: 10px; border-radius: 50%; }
  .wangge-legend p { margin: 4px 0 0; color: #333; }
  .wangge-label { background: rgba(255,255,255,.8); border: none; box-shadow: none; font-size: 11px;
                  padding: 0 3px; color: #222; }
</style>
"""


def new_map(*, bounds: tuple[float, float, float, float], title: str, subtitle: str | None = None) -> folium.Map:
    """A tile-less map fitted to ``bounds`` (lon/lat), with its title, scale bar and OSM attribution."""
    minx, miny, maxx, maxy = bounds
    m = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None, control_scale=True, zoom_start=15)
    # Without tiles nothing tells Leaflet the deepest zoom, and marker clustering needs it.
    m.options["maxZoom"] = MAX_ZOOM
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    m.add_child(_Attribution(ATTRIBUTION))
    root = _figure(m)
    root.header.add_child(Element(_PAGE_CSS), name="wangge_css")
    root.title = escape_text(title)  # branca writes it into <title> as it is
    sub = f"<p>{html.escape(subtitle)}</p>" if subtitle else ""
    root.html.add_child(Element(f'<div class="wangge-title"><h1>{html.escape(title)}</h1>{sub}</div>'),
                        name="wangge_title")
    return m


def _figure(m: folium.Map) -> Figure:
    """The page a map sits in; ``get_root`` is typed as any element, but a map's root is always a Figure."""
    root = m.get_root()
    assert isinstance(root, Figure)
    return root


def add_legend(m: folium.Map, legend: Legend) -> None:
    """A legend box in the lower right corner."""
    rows = "".join(
        f'<div class="row"><span class="swatch {i.kind}" style="'
        + (f"border-top-color:{i.colour}" if i.kind == "line" else f"background:{i.colour}")
        + f'"></span><span>{html.escape(i.label)}</span></div>' for i in legend.items)
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in legend.notes)
    _figure(m).html.add_child(Element(
        f'<div class="wangge-legend"><h2>{html.escape(legend.heading)}</h2>{rows}{notes}</div>'),
        name="wangge_legend")


def add_background(m: folium.Map, background: Background) -> None:
    """Water and roads as one non-interactive layer under everything else (none when both are empty)."""
    if not any(f is not None and len(f) for f in (background.roads, background.water)):
        return
    group = folium.FeatureGroup(name="背景 Background (roads, water)", control=True)
    if background.water is not None and len(background.water):
        folium.GeoJson(to_features(background.water, name="water", simplify=2 * SIMPLIFY_DEG),
                       style_function=lambda _f: {"color": "#9cc3e6", "weight": 1, "fillColor": "#cfe3f5",
                                                  "fillOpacity": 0.9},
                       interactive=False, name="water").add_to(group)
    if background.roads is not None and len(background.roads):
        folium.GeoJson(to_features(background.roads, name="roads", columns=["main"], simplify=2 * SIMPLIFY_DEG),
                       style_function=lambda f: {"color": "#c9c4b8" if f["properties"]["main"] else "#dedad0",
                                                 "weight": 2.5 if f["properties"]["main"] else 1, "opacity": 1},
                       interactive=False, name="roads").add_to(group)
    group.add_to(m)


_INLINE_SCRIPT = re.compile(r"<script(?:\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def content_security_policy(page: str) -> str:
    """The CSP of an exported map: its own inline scripts (by hash), inline styles, data: images, no fetch.

    A second line behind :func:`escape_text`: no event-handler attribute, eval, frame, form or
    network request can run from the file, whatever markup a name might smuggle into the DOM.
    """
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
                     + "'" for body in _INLINE_SCRIPT.findall(page)})
    return ("default-src 'none'; script-src " + " ".join(hashes) + "; style-src 'unsafe-inline'; "
            "img-src data: blob:; font-src data:; connect-src 'none'; object-src 'none'; base-uri 'none'; "
            "form-action 'none'")


def with_csp(page: str) -> str:
    """``page`` with its Content-Security-Policy meta tag first in <head> (before any script)."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(content_security_policy(page))}">'
    head = re.search(r"<head[^>]*>", page, re.IGNORECASE)
    if head is None:
        raise Infeasible("the rendered map has no <head> to carry its Content-Security-Policy")
    return page[:head.end()] + "\n    " + meta + page[head.end():]


def render_html(m: folium.Map, *, max_bytes: int = MAX_HTML_BYTES, node_modules: Path = NODE_MODULES) -> str:
    """The map as one self-contained HTML page with a CSP meta tag; Infeasible when it would exceed ``max_bytes``."""
    page = with_csp(to_offline_html(m.get_root().render(), node_modules=node_modules))
    size = len(page.encode("utf-8"))
    if size > max_bytes:
        raise Infeasible(f"the map would be {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB budget: "
                         "narrow it (community_code, grid_code, days)",
                         details={"field": "community_code", "narrow_by": ["community_code", "grid_code", "days"]})
    return page


def layer_names(m: folium.Map) -> list[str]:
    """Names of the layers a layer control would list, in order (for reports and tests)."""
    return [name for child in m._children.values()
            if getattr(child, "control", False) and (name := getattr(child, "layer_name", None))]
