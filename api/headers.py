"""Security headers on every response, and the API docs (Swagger UI, ReDoc) served from installed files.

Every response says ``nosniff`` and ``no-referrer`` and may not be framed. HTML pages get a CSP
that runs only the app's own script files (no inline script, no eval, nothing from other hosts
except the configured basemap's tiles); other responses get ``default-src 'none'``. A route that
needs its own policy (the docs pages' inline start-up script, a photo's sandbox) sets it and keeps it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.settings import Settings

DOCS_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_STATIC = "/docs-static"
_INLINE_SCRIPT = re.compile(r"<script(?:\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def tile_source(basemap_url: str | None) -> str:
    """The CSP source of a basemap URL template (``https://{s}.tiles.example`` → ``https://*.tiles.example``)."""
    if not basemap_url:
        return ""
    parts = urlsplit(basemap_url.replace("{s}", "x"))
    host = parts.netloc.replace("x.", "*.", 1) if "{s}." in basemap_url else parts.netloc
    return f" {parts.scheme}://{host}" if parts.scheme in {"http", "https"} and host else ""


def page_policy(settings: Settings) -> str:
    """The CSP of the web app's pages."""
    tiles = tile_source(settings.basemap_url)
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _script_hashes(html: str) -> str:
    return " ".join(sorted({"'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
                            for body in _INLINE_SCRIPT.findall(html) if body.strip()}))


class SecurityHeaders:
    """Adds the security headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, page_csp: str) -> None:
        self.app = app
        self.page_csp = page_csp.encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                html = any(n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers)
                wanted = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                          (b"x-frame-options", b"DENY"),
                          (b"content-security-policy", self.page_csp if html else API_POLICY.encode())]
                headers += [(n, v) for n, v in wanted if n not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _with_script_policy(response: HTMLResponse) -> HTMLResponse:
    html = bytes(response.body).decode("utf-8")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' {_script_hashes(html)}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    return response


def mount_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` from the files of the installed fastapi-offline package: no CDN."""
    title = f"{app.title} – docs"
    app.mount(DOCS_STATIC, StaticFiles(directory=DOCS_ASSETS), name="docs-static")

    async def swagger(_request: Request) -> HTMLResponse:
        return _with_script_policy(get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title, oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png"))

    async def redirect(_request: Request) -> HTMLResponse:
        return _with_script_policy(get_swagger_ui_oauth2_redirect_html())

    async def redoc(_request: Request) -> HTMLResponse:
        return _with_script_policy(get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js", redoc_favicon_url=f"{DOCS_STATIC}/favicon.png",
            with_google_fonts=False))

    # Plain routes, as FastAPI's own docs routes are: outside the access table and the schema.
    app.add_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", redirect, methods=["GET"], include_in_schema=False)
    app.add_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
