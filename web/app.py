"""The web app: one Leaflet page per role, the printable grid notice and local copies of the front-end libraries.

Pages hold no data: they are static shells whose scripts call the HTTP API with the signed-in
user's token, so the access table (api/access.py) decides what each role sees. They are mounted
as plain Starlette routes, outside the API's routes and its access check. Everything a page loads
comes from this app (no CDN): the libraries are installed by ``npm ci`` in web/ at set-up time.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from gis import __version__
from gis.db.engine import unavailable
from gis.errors import DatabaseUnreachable, InvalidInput, NotFound
from gis.services import cases as case_service
from gis.services import notice as notice_service
from gis.settings import Settings

logger = logging.getLogger("wangge.web")

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
TEMPLATES = WEB / "templates"
NODE_MODULES = WEB / "node_modules"
# URL name under /app/vendor/ → the package folder a page loads files from (nothing else is served).
VENDOR = {
    "leaflet": "leaflet/dist",
    "vectorgrid": "leaflet.vectorgrid/dist",
    "geoman": "@geoman-io/leaflet-geoman-free/dist",
    "heat": "leaflet.heat/dist",  # the ledgers page's heat view (issue 22)
    "echarts": "echarts/dist",  # the dashboard's charts (issue 17)
    "idb": "idb/build",  # the field app's offline queue in IndexedDB (issue 17)
}
NOTICE_WIDTH = 680  # px of the notice map's viewBox; print CSS scales it to the A4 column

_templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def app_config(settings: Settings) -> dict[str, Any]:
    """What the pages need to know of the settings: basemap, household bounds, hotline, incident categories."""
    basemap = None
    if settings.basemap_url:
        basemap = {"url": settings.basemap_url, "crs": settings.basemap_crs,
                   "attribution": settings.basemap_attribution}
    categories = [{"code": c.code, "class": c.category_class, "category": c.category, "category_en": c.category_en,
                   "subcategory": c.subcategory, "subcategory_en": c.subcategory_en, "quick_fix": c.quick_fix}
                  for c in case_service.incident_categories(settings)]
    return {
        "version": __version__,
        "basemap": basemap,
        "grid_bounds": {"min": settings.grid_min_households, "max": settings.grid_max_households},
        "hotline": settings.supervision_hotline,
        "incident_categories": categories,
    }


def _page(name: str) -> FileResponse:
    # Pages change with the code, not per user: no-cache makes a browser revalidate after an upgrade.
    return FileResponse(STATIC / name, media_type="text/html", headers={"Cache-Control": "no-cache"})


async def _login(_request: Request) -> Response:
    return _page("login.html")


async def _index(_request: Request) -> Response:
    return _page("index.html")


async def _ledgers(_request: Request) -> Response:
    return _page("ledgers.html")  # a community's three lists, printable (issue 22)


async def _to_login(_request: Request) -> Response:
    return RedirectResponse("/app/login", status_code=307)


async def _to_app(_request: Request) -> Response:
    return RedirectResponse("/app/", status_code=307)


# --- the field app (issue 17): an installable page whose service worker keeps a shift working offline ---


async def _field(_request: Request) -> Response:
    return _page("field.html")


async def _service_worker(_request: Request) -> Response:
    # Served from /app/ so that its scope covers every page under /app/; never cached by HTTP, so an
    # upgrade reaches phones at their next visit. Its own CSP: the default one for non-pages
    # (default-src 'none') would forbid the worker's own fetches of the app's files.
    return FileResponse(STATIC / "sw.js", media_type="text/javascript", headers={
        "Cache-Control": "no-cache", "Service-Worker-Allowed": "/app/",
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; connect-src 'self'"})


async def _manifest(_request: Request) -> Response:
    return FileResponse(STATIC / "manifest.webmanifest", media_type="application/manifest+json",
                        headers={"Cache-Control": "no-cache"})


async def _config(request: Request) -> Response:
    return JSONResponse(app_config(request.app.state.settings), headers={"Cache-Control": "no-cache"})


# --- the grid notice -------------------------------------------------------------------------


class _Projection:
    """lon/lat → SVG pixels: equirectangular, x scaled by cos(latitude) so that shapes keep their proportions."""

    def __init__(self, bbox: list[float], width: int) -> None:
        x0, y0, x1, y1 = bbox
        self.kx = math.cos(math.radians((y0 + y1) / 2))
        self.x0, self.y1 = x0, y1
        self.scale = width / max((x1 - x0) * self.kx, 1e-9)
        self.width, self.height = width, round((y1 - y0) * self.scale)

    def point(self, lon: float, lat: float) -> str:
        return f"{(lon - self.x0) * self.kx * self.scale:.1f} {(self.y1 - lat) * self.scale:.1f}"


def _rings(geometry: dict[str, Any]) -> list[tuple[list[list[float]], bool]]:
    """Every ring or line of a GeoJSON geometry, with whether it closes."""
    kind, coords = geometry["type"], geometry.get("coordinates") or []
    if kind == "Polygon":
        return [(ring, True) for ring in coords]
    if kind == "MultiPolygon":
        return [(ring, True) for polygon in coords for ring in polygon]
    if kind == "LineString":
        return [(coords, False)]
    if kind == "MultiLineString":
        return [(line, False) for line in coords]
    if kind == "GeometryCollection":
        return [r for g in geometry["geometries"] for r in _rings(g)]
    return []


def svg_path(geometry: dict[str, Any], projection: _Projection) -> str:
    """The SVG path data of a GeoJSON geometry (polygons closed, even-odd holes)."""
    parts = []
    for ring, closed in _rings(geometry):
        if len(ring) < 2:
            continue
        parts.append("M" + " L".join(projection.point(x, y) for x, y, *_ in ring) + (" Z" if closed else ""))
    return " ".join(parts)


def notice_context(notice: dict[str, Any]) -> dict[str, Any]:
    """The notice's facts plus its map as SVG paths."""
    shapes = notice["map"]
    projection = _Projection(shapes["bbox"], NOTICE_WIDTH)
    svg = {
        "width": projection.width, "height": projection.height,
        "water": [svg_path(g, projection) for g in shapes["water"]],
        "roads": [(svg_path(r["geometry"], projection), r["main"]) for r in shapes["roads"]],
        "buildings": [svg_path(g, projection) for g in shapes["buildings"]],
        "grid": svg_path(shapes["grid"], projection),
    }
    # Road names along their roads and a scale bar (issue 17).
    svg.update(notice_service.svg_extras(shapes.get("labels", []), projection.point, scale=projection.scale,
                                         width=projection.width, height=projection.height))
    return {**notice, "svg": svg}


def _notice(request: Request) -> Response:
    code = request.path_params["grid_code"]
    settings: Settings = request.app.state.settings
    try:
        with Session(request.app.state.engine) as session:
            notice = notice_service.grid_notice(session, code, hotline=settings.supervision_hotline)
    except (NotFound, InvalidInput) as exc:
        status = 404 if isinstance(exc, NotFound) else 422
        html = _templates.get_template("notice_missing.html").render(code=code, message=exc.message)
        return HTMLResponse(html, status_code=status)
    except OperationalError as exc:
        # A notice is printed and posted at the gate: say plainly that it is the server, not the code;
        # which server, and why, is for the log, not for whoever opens the public page.
        logger.warning("grid notice %s: %s", code,
                       unavailable(request.app.state.engine.url.render_as_string(hide_password=True), exc).message)
        message = DatabaseUnreachable.public_message
        html = _templates.get_template("notice_missing.html").render(code=code, message=message)
        return HTMLResponse(html, status_code=503, headers={"Retry-After": "5"})
    html = _templates.get_template("notice.html").render(n=notice_context(notice), version=__version__)
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI) -> None:
    """Add the web app to ``app``: ``/`` → login, ``/app/…`` pages, ``/app/static``, ``/app/vendor``."""
    # add_route makes plain Starlette routes: not API routes, so neither the access check nor /docs sees them.
    app.add_route("/", _to_login, methods=["GET"], include_in_schema=False)
    app.add_route("/app", _to_app, methods=["GET"], include_in_schema=False)
    app.add_route("/app/", _index, methods=["GET"], include_in_schema=False)
    app.add_route("/app/login", _login, methods=["GET"], include_in_schema=False)
    app.add_route("/app/config.json", _config, methods=["GET"], include_in_schema=False)
    app.add_route("/app/field", _field, methods=["GET"], include_in_schema=False)
    app.add_route("/app/sw.js", _service_worker, methods=["GET"], include_in_schema=False)
    app.add_route("/app/manifest.webmanifest", _manifest, methods=["GET"], include_in_schema=False)
    app.add_route("/app/notice/{grid_code}", _notice, methods=["GET"], include_in_schema=False)
    app.add_route("/app/ledgers", _ledgers, methods=["GET"], include_in_schema=False)  # issue 22
    app.mount("/app/static", StaticFiles(directory=STATIC), name="web-static")
    missing = []
    for name, folder in VENDOR.items():
        path = NODE_MODULES / folder
        if path.is_dir():
            app.mount(f"/app/vendor/{name}", StaticFiles(directory=path), name=f"web-vendor-{name}")
        else:
            missing.append(folder)
    if missing:  # the pages say so too; the API works without them
        logger.warning("web app libraries missing (%s): run `npm ci` in web/ (make demo does)", ", ".join(missing))
