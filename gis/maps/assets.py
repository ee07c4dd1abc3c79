"""Offline HTML: every CDN link folium writes is replaced by the local file's content, inlined.

folium names its JavaScript and CSS by CDN URL. An exported map must open with no network, so
:data:`ASSETS` maps each library file folium may link to a file installed from the npm registry at set-up
time (``web/node_modules``, by ``npm ci``) or shipped inside the folium package, or marks it as
deliberately left out (with the reason). A URL that is in neither list is an error: a new folium
version cannot slip a CDN link into an exported map unnoticed.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

import folium

from gis.errors import SetupError

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "web" / "node_modules"
FOLIUM_TEMPLATES = Path(folium.__file__).resolve().parent / "templates"

# Links that may stay in the page: they are anchors a reader may click, never fetched by the page.
ALLOWED_LINKS = ("https://www.openstreetmap.org/copyright",)


@dataclass(frozen=True)
class Npm:
    """A file of an npm package installed in web/node_modules."""

    path: str


@dataclass(frozen=True)
class FoliumFile:
    """A file shipped inside the folium package (folium/templates)."""

    name: str


@dataclass(frozen=True)
class Omit:
    """A library our maps do not use: its link is dropped, for the reason given."""

    reason: str


_NO_ICONS = "our maps draw CircleMarkers and text labels, never icon-font markers"
_NO_BOOTSTRAP = "no Bootstrap widgets in our maps: titles and legends are plain HTML with inline styles"

# Keyed by the file name at the end of the URL folium writes (folium 0.20 pins versions and hosts we
# do not need to repeat here: whatever host or version, the page gets our local copy or nothing).
ASSETS: dict[str, Npm | FoliumFile | Omit] = {
    # folium.Map
    "leaflet.js": Npm("leaflet/dist/leaflet.js"),
    "leaflet.css": Npm("leaflet/dist/leaflet.css"),
    "jquery-3.7.1.min.js": Omit("only Bootstrap and awesome-markers need jQuery"),
    "bootstrap.bundle.min.js": Omit(_NO_BOOTSTRAP),
    "bootstrap.min.css": Omit(_NO_BOOTSTRAP),
    "bootstrap-glyphicons.css": Omit(_NO_ICONS),
    "leaflet.awesome-markers.js": Omit(_NO_ICONS),
    "leaflet.awesome-markers.css": Omit(_NO_ICONS),
    "all.min.css": Omit(_NO_ICONS),  # Font Awesome
    "leaflet.awesome.rotate.min.css": Omit(_NO_ICONS),
    # folium.plugins.MarkerCluster
    "leaflet.markercluster.js": Npm("leaflet.markercluster/dist/leaflet.markercluster.js"),
    "MarkerCluster.css": Npm("leaflet.markercluster/dist/MarkerCluster.css"),
    "MarkerCluster.Default.css": Npm("leaflet.markercluster/dist/MarkerCluster.Default.css"),
    # folium.plugins.HeatMap: folium ships its own build of leaflet.heat
    "leaflet_heat.min.js": FoliumFile("leaflet_heat.min.js"),
}


def asset_for(url: str) -> Npm | FoliumFile | Omit | None:
    """The local copy (or the omission) for a library URL folium writes; None when it has none."""
    return ASSETS.get(_name(url))

_SCRIPT = re.compile(r"""<script\s+src=["'](?P<url>[^"']+)["']\s*>\s*</script>""", re.IGNORECASE)
_STYLESHEET = re.compile(r"""<link\s+(?=[^>]*rel=["']stylesheet["'])[^>]*href=["'](?P<url>[^"']+)["'][^>]*/?>""",
                         re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<url>[^"')]+)(?P=q)\s*\)""")
# What a page could fetch: an absolute or protocol-relative address in src/href/url(), or in an @import.
_REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?P<a>(?:https?:)?//[^"'\s>]+)"""
                     r"""|url\(\s*["']?(?P<b>(?:https?:)?//[^"')\s]+)"""
                     r"""|@import\s+["'](?P<c>(?:https?:)?//[^"']+)""", re.IGNORECASE)
_ANY_URL = re.compile(r"https?://[^\s\"'<>)\\]+")


def _local_file(asset: Npm | FoliumFile, *, node_modules: Path) -> Path:
    if isinstance(asset, Npm):
        path = node_modules / asset.path
        hint = f"run `npm ci` in {node_modules.parent} (scripts/bootstrap.sh does)"
    else:
        path = FOLIUM_TEMPLATES / asset.name
        hint = f"the folium package ({folium.__version__}) no longer ships it: update gis.maps.assets.ASSETS"
    if not path.is_file():
        raise SetupError(f"map asset {path} is missing: {hint}")
    return path


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline_css_urls(css: str, source: Path) -> str:
    """Images a stylesheet names relative to itself, as data: URIs (a page opened from a file has no server)."""

    def replace(match: re.Match[str]) -> str:
        url = match.group("url").strip()
        if url.startswith(("data:", "#")):
            return match.group(0)
        if url.startswith(("http:", "https:", "//")):
            raise SetupError(f"{source} refers to {url}: inline it or drop the rule before using the stylesheet")
        target = (source.parent / url.split("?")[0].split("#")[0]).resolve()
        if not target.is_file():
            raise SetupError(f"{source} refers to {url}, which is not at {target}")
        return f'url("{_data_uri(target)}")'

    return _CSS_URL.sub(replace, css)


def _asset_text(url: str, *, node_modules: Path, kind: str) -> str | None:
    asset = asset_for(url)
    if asset is None:
        raise SetupError(
            f"the map refers to {url} ({kind}), which has no local copy: add it to gis.maps.assets.ASSETS "
            "(an npm file in web/package.json, a file in folium/templates, or Omit with a reason)")
    if isinstance(asset, Omit):
        return None
    path = _local_file(asset, node_modules=node_modules)
    content = path.read_text(encoding="utf-8")
    return _inline_css_urls(content, path) if kind == "css" else content


def remote_references(html: str) -> list[str]:
    """Addresses the page could fetch (src, href, CSS url() and @import), other than :data:`ALLOWED_LINKS`."""
    found = [m.group("a") or m.group("b") or m.group("c") for m in _REMOTE.finditer(html)]
    return sorted({u for u in found if u not in ALLOWED_LINKS})


def to_offline_html(html: str, *, node_modules: Path = NODE_MODULES) -> str:
    """``html`` with every CDN script and stylesheet inlined from local files; SetupError if one has no copy.

    Inlined blocks carry ``data-asset="<file>"`` so that a reader (or a test) can tell library code
    from the map's own content.
    """
    blocks: list[str] = []

    def keep(block: str) -> str:
        blocks.append(block)
        return f"\x00asset{len(blocks) - 1}\x00"

    def script(match: re.Match[str]) -> str:
        content = _asset_text(match.group("url"), node_modules=node_modules, kind="js")
        if content is None:
            return ""
        # A literal "</script" inside the code would end the inline block early.
        content = re.sub(r"</(script)", r"<\\/\1", content, flags=re.IGNORECASE)
        return keep(f'<script data-asset="{_name(match.group("url"))}">\n{content}\n</script>')

    def stylesheet(match: re.Match[str]) -> str:
        content = _asset_text(match.group("url"), node_modules=node_modules, kind="css")
        if content is None:
            return ""
        return keep(f'<style data-asset="{_name(match.group("url"))}">\n{content}\n</style>')

    page = _SCRIPT.sub(script, html)
    page = _STYLESHEET.sub(stylesheet, page)
    remaining = remote_references(page)
    if remaining:
        raise SetupError("the map still refers to " + ", ".join(remaining)
                         + ": map each to a local file in gis.maps.assets.ASSETS")
    stray = sorted({u for u in _ANY_URL.findall(page) if u not in ALLOWED_LINKS})
    if stray:
        raise SetupError("the map's own content names " + ", ".join(stray) + "; only local content may be used")
    return re.sub("\x00asset(\\d+)\x00", lambda m: blocks[int(m.group(1))], page)


def _name(url: str) -> str:
    return url.rsplit("/", 1)[-1]


def strip_assets(html: str) -> str:
    """``html`` without the inlined library blocks: what is left is the map's own content."""
    return re.sub(r"<(script|style) data-asset=\"[^\"]*\">.*?</\1>", "", html, flags=re.DOTALL)
