"""Shapes every area shares: GeoJSON features typed by their properties, pages of rows, plain acknowledgements."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

P = TypeVar("P")
T = TypeVar("T")


class Public(BaseModel):
    """Base of every response model: unknown keys are kept (a new key is not a breaking change for clients)."""

    model_config = ConfigDict(extra="allow")


class Geometry(BaseModel):
    """A GeoJSON geometry (RFC 7946 §3.1) in EPSG:4490 lon/lat."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                  "GeometryCollection"]
    coordinates: Any = None


class Feature(BaseModel, Generic[P]):
    """A GeoJSON Feature whose ``properties`` are ``P``."""

    model_config = ConfigDict(extra="allow")
    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: Geometry | None
    properties: P


class FeatureCollection(BaseModel, Generic[P]):
    """A GeoJSON FeatureCollection of ``Feature[P]``; lists add the paging members (foreign members, RFC 7946 §6.1)."""

    model_config = ConfigDict(extra="allow")
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[Feature[P]]


class PagedFeatureCollection(FeatureCollection[P], Generic[P]):
    """A page of features: ``total`` matching, this page's ``limit`` and ``offset``, the ``next`` page's URL."""

    total: int = Field(description="how many features match the filters")
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page with the same filters, or null on the last page")


class Page(BaseModel, Generic[T]):
    """A page of plain rows, as ``api.geojson.paged_json`` writes it."""

    model_config = ConfigDict(extra="allow")
    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None


def _isoformat(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


# Services write times as ISO 8601 strings (some hand a datetime or date): either reaches the client as the string.
Timestamp = Annotated[str, BeforeValidator(_isoformat), WithJsonSchema({"type": "string", "format": "date-time"})]
Day = Annotated[str, BeforeValidator(_isoformat), WithJsonSchema({"type": "string", "format": "date"})]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its definitions written in place.

    For a second media type of one response (``responses={200: {"content": {GEOJSON: {"schema": ...}}}}``),
    which FastAPI does not collect into the document's components.
    """
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
