"""Report maps (folium): frames in, a self-contained HTML page out, opening with no network.

This package may import folium but never the database: :mod:`gis.services.maps` reads the data.
"""

from gis.maps.assets import ALLOWED_LINKS, ASSETS, asset_for, remote_references, strip_assets, to_offline_html
from gis.maps.base import MAX_HTML_BYTES, Background, layer_names, render_html
from gis.maps.views import cases_map, facility_map, grid_map, household_status, planner_map

__all__ = [
    "ALLOWED_LINKS", "ASSETS", "asset_for", "MAX_HTML_BYTES", "Background", "cases_map", "facility_map", "grid_map",
    "household_status", "layer_names", "planner_map", "remote_references", "render_html", "strip_assets",
    "to_offline_html",
]
