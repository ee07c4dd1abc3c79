"""Response models of the tile routes: the layer list, and the media type of one vector tile."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from api.schemas.common import Public

MVT = "application/vnd.mapbox-vector-tile"
# A tile is a protobuf body (Mapbox Vector Tile 2.1), not JSON.
MVT_BODY: dict[str, Any] = {"description": "a Mapbox vector tile (an empty body: nothing in the area)",
                            "content": {MVT: {"schema": {"type": "string", "format": "binary"}}}}


class TileLayerPublic(Public):
    """A tile layer: its fields, zoom range, current version and URL template (``?v=`` pins the version)."""

    name: str
    title: str
    geometry: str = Field(description="point, line, polygon or polygon/line")
    fields: dict[str, str] = Field(description="attribute name -> type")
    min_zoom: int
    max_zoom: int
    version: int
    per_user: bool = Field(description="whether what a tile shows depends on the caller (e.g. incidents)")
    url: str = Field(description="URL template with {z}/{x}/{y}, pinned to the current version")


class TileLayersPublic(Public):
    """Every tile layer, with the tile size, extent and format they share."""

    layers: list[TileLayerPublic]
    tile_size: int
    extent: int
    format: str
    attribution: str
