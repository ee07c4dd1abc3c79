"""Web views: Leaflet pages and folium report maps, served offline by the API app."""

from __future__ import annotations

from typing import Any


def mount(app: Any) -> None:
    """Mount the web app's pages and static files on the FastAPI ``app`` (see web/app.py)."""
    from web.app import mount as mount_web

    mount_web(app)
