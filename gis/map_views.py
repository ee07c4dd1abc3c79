"""The report maps' views and the cases view's default period, as the CLI names them in its help.

No imports: :mod:`gis.maps` draws with folium and :mod:`gis.services.maps` reads the database;
``wangge`` shows these before it loads either.
"""

from __future__ import annotations

VIEWS = ("planner", "grid", "facility", "cases")
DEFAULT_CASE_DAYS = 30
