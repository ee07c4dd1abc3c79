"""Mapbox vector tiles from PostGIS ST_AsMVT, versioned so that an edit shows at once.

Caching: every tile carries an ETag naming its layer version (and, for incidents, the
caller's scope); ``If-None-Match`` with the current ETag gets 304. A URL pinned to the current
version (``?v=`` as ``GET /tiles`` gives it) may be kept for a year, since a new version means a
new URL; anything else must be revalidated on each use (``no-cache``). Every tile needs sign-in,
so caches are ``private``. On the server, a drawn tile is kept in memory and in the shared
``tile_cache`` table, and repeats are answered before this route is reached (``api.tilecache``):
this route answers the first request of a token, tile or version, with the same headers.

Below a layer's minimum zoom the answer is 204 No Content (no database work); within the
zoom range an empty area is a 200 with an empty body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response

from api.deps import PrincipalDep, SessionDep
from api.errors import ERROR_RESPONSES
from api.schemas.tiles import MVT, MVT_BODY, TileLayersPublic
from gis.services import tiles as tile_service

if TYPE_CHECKING:
    from api.tilecache import TileCache

router = APIRouter(tags=["tiles"], responses=ERROR_RESPONSES)

PINNED = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"
# Nothing is drawn below a layer's minimum zoom whatever the data: a day's cache is safe.
BELOW_MIN_ZOOM = "private, max-age=86400"


def matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2) of ``If-None-Match`` against ``etag``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def tile_headers(etag: str, version: int, pinned_to: int | None) -> dict[str, str]:
    """The caching headers of a tile (or its 304) at ``version``, asked for with ``?v=pinned_to``."""
    return {"ETag": etag, "Cache-Control": PINNED if pinned_to == version else REVALIDATE, "Vary": "Authorization",
            "X-Layer-Version": str(version)}


def tile_body(data: bytes, headers: dict[str, str]) -> Response:
    return Response(content=data, media_type=MVT, headers=headers)


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)


def below_min_zoom() -> Response:
    return Response(status_code=204, headers={"Cache-Control": BELOW_MIN_ZOOM})


@router.get("/tiles", summary="Tile layers: fields, zoom range, current version and URL template",
            response_model=TileLayersPublic)
def list_tile_layers(session: SessionDep, request: Request) -> dict[str, Any]:
    """Every tile layer with its current version; the URL template pins it (``?v=``)."""
    prefix = request.scope.get("root_path", "")
    return {"layers": tile_service.list_layers(session, url_prefix=prefix),
            "tile_size": 512, "extent": tile_service.EXTENT, "format": "mvt",
            "attribution": "© OpenStreetMap contributors (ODbL)"}


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", summary="One Mapbox vector tile",
            response_class=Response,
            responses={200: MVT_BODY, 204: {"description": "below the layer's minimum zoom"},
                       304: {"description": "the cached tile is current"}})
def get_tile(
    request: Request,
    layer: str,
    z: Annotated[int, Path(description="zoom, 0..22")],
    x: Annotated[int, Path(description="column, 0..2^z-1")],
    y: Annotated[int, Path(description="row from the top (XYZ), 0..2^z-1")],
    session: SessionDep,
    principal: PrincipalDep,
    v: Annotated[int | None, Query(description="layer version the URL is pinned to (from GET /tiles)")] = None,
    type_code: Annotated[str | None, Query(alias="type", description="coverage_gaps only: one facility type")] = None,
    if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
) -> Response:
    """A tile of ``layer``; ETag from the layer version, 304 when ``If-None-Match`` is current."""
    spec = tile_service.get_layer(layer)
    tile_service.check_tile(z, x, y)
    if z < spec.min_zoom:
        return below_min_zoom()
    cache: TileCache = request.app.state.tile_cache
    version = tile_service.layer_version(session, layer)
    etag = tile_service.tile_etag(spec, version, principal)
    headers = tile_headers(etag, version, v)
    if matches(if_none_match, etag):
        return not_modified(headers)
    return tile_body(cache.tile(request, session, principal, layer=spec, z=z, x=x, y=y, version=version,
                                type_code=type_code), headers)
