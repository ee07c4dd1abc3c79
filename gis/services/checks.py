"""The checker (``gis.checker``) on stored data.

What a plan's suggestion, its adoption and ``wangge check boundaries`` are judged by, loaded from
PostGIS the same way for all three.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from sqlalchemy.orm import Session

from gis.checker import CheckOptions, check_units
from gis.db.frames import read_frame
from gis.settings import Settings
from gis.topology import Finding


def options_from(settings: Settings, *, allow_crossing: tuple[str, ...] = ()) -> CheckOptions:
    """The checker's options from the settings (and the crossings a plan was allowed)."""
    return CheckOptions(closing_m=settings.barrier_closing_m, allow_crossing=tuple(allow_crossing),
                        split_share=settings.split_building_share)


def stored_context(session: Session, parents: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Buildings, main roads and barriers around ``parents`` (EPSG:4490), as stored."""
    minx, miny, maxx, maxy = parents.total_bounds
    # A little beyond the parents, so that a barrier ending just outside still closes.
    params: dict[str, Any] = {"x0": minx - 0.001, "y0": miny - 0.001, "x1": maxx + 0.001, "y1": maxy + 0.001}
    box = "ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)"
    return {
        "buildings": read_frame(session, f"""
            SELECT b.id, b.households, ST_AsBinary(b.geom) AS geom FROM building b
            WHERE b.geom && {box} ORDER BY b.id""", params),
        "roads": read_frame(session, f"""
            SELECT e.is_main_road, e.name, ST_AsBinary(e.geom) AS geom FROM walk_edge e
            WHERE e.is_main_road AND e.geom && {box} ORDER BY e.id""", params),
        "barriers": read_frame(session, f"""
            SELECT w.name, w.kind, ST_AsBinary(w.geom) AS geom FROM barrier w
            WHERE w.geom && {box} ORDER BY w.id""", params),
    }


def check_stored(session: Session, settings: Settings, children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, *,
                 child_level: str, allow_crossing: tuple[str, ...] = (), parent_level: str | None = None,
                 **bounds: Any) -> list[Finding]:
    """Every finding on ``children`` against ``parents`` with the stored buildings and barriers around them."""
    context = stored_context(session, parents if not parents.empty else children)
    return check_units(children, parents, child_level=child_level, buildings=context["buildings"],
                       roads=context["roads"], barriers=context["barriers"], parent_level=parent_level,
                       options=options_from(settings, allow_crossing=allow_crossing), **bounds)
