"""GeoJSON responses (RFC 7946, ``application/geo+json``) and the paging every list shares.

A paged list, GeoJSON or plain, carries ``total`` (how many match), ``limit``, ``offset`` and
``next`` (the URL of the next page, or null), and a ``Link: <...>; rel="next"`` header. In a
FeatureCollection these are foreign members, which RFC 7946 §6.1 allows. Coordinates are
EPSG:4490 (CGCS2000) lon/lat, which GeoJSON readers take as WGS84 lon/lat: centimetres apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from gis.services.resources import Page

GEOJSON = "application/geo+json"


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (UTF-8, compact, like Starlette's), for the lists and features routes build.

    Routes with a response model are serialized by Pydantic; these bodies were rendered by the
    standard library's encoder, which took a third of the CPU of a ``/buildings`` page.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)


class GeoJSONResponse(FastJSONResponse):
    """JSON with the GeoJSON media type."""

    media_type = GEOJSON


def next_url(request: Request, page: Page) -> str | None:
    """The URL of the page after ``page`` (same filters), or None on the last page."""
    nxt = page.next_offset
    if nxt is None:
        return None
    return str(request.url.include_query_params(offset=nxt, limit=page.limit))


def _paging(request: Request, page: Page) -> tuple[dict[str, Any], dict[str, str]]:
    nxt = next_url(request, page)
    body = {"total": page.total, "limit": page.limit, "offset": page.offset, "next": nxt}
    headers = {"Link": f'<{nxt}>; rel="next"'} if nxt else {}
    return body, headers


def feature_collection(features: Sequence[Mapping[str, Any]], **members: Any) -> dict[str, Any]:
    """A FeatureCollection of ``features``, with any foreign members (e.g. ``plan``, ``run_id``)."""
    return {"type": "FeatureCollection", **members, "features": features}


def page_response(request: Request, page: Page) -> GeoJSONResponse:
    """A page of features as a FeatureCollection with the paging members and a Link header."""
    paging, headers = _paging(request, page)
    return GeoJSONResponse(feature_collection(page.items, **paging), headers=headers)


def feature_response(feature: Mapping[str, Any], *, etag: Any = None, status_code: int = 200,
                     headers: dict[str, str] | None = None) -> GeoJSONResponse:
    """One Feature, with ``ETag: "<version>"`` when a version is given."""
    out = dict(headers or {})
    if etag is not None:
        out["ETag"] = f'"{etag}"'
    return GeoJSONResponse(feature, status_code=status_code, headers=out)


def paged_json(request: Request, page: Page, **extra: Any) -> JSONResponse:
    """A page of plain rows: ``{"items": [...], "total", "limit", "offset", "next"}`` and a Link header."""
    paging, headers = _paging(request, page)
    return FastJSONResponse({"items": page.items, **paging, **extra}, headers=headers)
