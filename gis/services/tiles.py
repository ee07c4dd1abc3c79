"""Mapbox vector tiles from PostGIS: one ``ST_AsMVT`` statement per tile, versioned by layer.

Each layer reads a few tables; triggers bump ``layer_version`` (per table and district) on
every change to them (migration 0003), so a layer's version is the sum of its tables'
counters and changes with every edit. Tiles carry no personal data: no residents, no
reporters, no incident descriptions. Incidents are the one layer that depends on who asks:
staff with personal access (admins, grid staff) get their scope's incidents with ids and
urgency, grid staff only those of their grids; planners and viewers get every incident's
point with its category and status only.

Zoom rules: below a layer's ``min_zoom`` there is no tile at all (the API answers 204
without touching the database); polygons and lines are simplified to about a quarter of a
screen pixel (512-px tiles); point layers are clustered below ``CLUSTER_BELOW`` on a grid of
1/64 of the tile, one point per cell with a ``count``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotFound
from gis.services.privacy import scope_filter
from gis.services.users import Principal

MAX_ZOOM = 22
EXTENT = 4096  # tile coordinate units
BUFFER = 64  # units drawn beyond the tile edge, so strokes do not break at seams
CLUSTER_BELOW = 15  # point layers are thinned below this zoom
CLUSTER_CELLS = 64  # cells per tile side when thinning points
SIMPLIFY_UNITS = 2.0  # tolerance in tile units (4096 per tile; 8 per screen pixel at 512 px)
WEB_MERCATOR_WIDTH = 2 * 20037508.342789244
# Bumped when a layer's attributes or geometry rules change, so that clients drop tiles cached before.
TILE_FORMAT = 1


@dataclass(frozen=True)
class TileLayer:
    """A tile layer: where it comes from, from which zoom it is drawn and what each feature carries."""

    name: str
    title: str
    geometry: str
    sources: tuple[str, ...]
    min_zoom: int
    fields: dict[str, str] = field(default_factory=dict)
    max_zoom: int = MAX_ZOOM
    per_user: bool = False  # content depends on the caller (incidents)


LAYERS: dict[str, TileLayer] = {layer.name: layer for layer in (
    TileLayer("communities", "社区 communities (current) with households", "polygon", ("community", "building"), 8,
              {"code": "string", "name": "string", "street_code": "string", "version": "number",
               "households": "number"}),
    TileLayer("grids", "网格 grids (current) with households", "polygon", ("grid", "building"), 11,
              {"code": "string", "name": "string", "community_code": "string", "kind": "string", "level": "number",
               "version": "number", "households": "number"}),
    TileLayer("buildings", "楼栋 buildings", "polygon", ("building",), 14,
              {"id": "number", "name": "string", "kind": "string", "floors": "number", "households": "number",
               "households_estimated": "boolean"}),
    TileLayer("walk_network", "walking network", "line", ("walk_edge",), 13,
              {"id": "number", "highway": "string", "name": "string", "is_main_road": "boolean",
               "length_m": "number"}),
    TileLayer("facilities", "public service facilities", "point", ("facility",), 10,
              {"id": "number", "type_code": "string", "name": "string", "capacity": "number",
               "count": "number (features merged below z15)"}),
    TileLayer("incidents", "事件 incidents (scope depends on the caller)", "point", ("incident",), 12,
              {"id": "number (personal-access roles)", "category_class": "string", "category": "string",
               "status": "string", "urgency": "string (personal-access roles)",
               "grid_code": "string (personal-access roles)", "count": "number (features merged below z15)"},
              per_user=True),
    TileLayer("coverage_gaps", "buildings not covered per facility type, latest coverage run of each district",
              "polygon", ("coverage_run", "building"), 14,
              {"building_id": "number", "type_code": "string", "households": "number",
               "target_population": "number", "distance_m": "number (absent: none within the search limit)",
               "run_id": "number"}),
    # Barriers have no change trigger; they are only written by an OSM import, which rewrites the walk
    # network too, so walk_edge's counter stands in for them.
    TileLayer("water", "水系 rivers, canals and water bodies (background)", "polygon/line", ("barrier", "walk_edge"),
              10, {"id": "number", "kind": "string (water or waterway)", "name": "string"}),
)}


@dataclass(frozen=True)
class Tile:
    """A rendered tile (possibly empty) and the layer version it was drawn at."""

    layer: str
    data: bytes
    version: int
    etag: str


def get_layer(name: str) -> TileLayer:
    """The layer called ``name``; NotFound names the layers there are."""
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(f"tile layer {name!r} does not exist; layers: {', '.join(LAYERS)}",
                       details={"layers": list(LAYERS)}) from None


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a zoom outside 0..MAX_ZOOM or a column/row outside 0..2^z-1."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"tile zoom z={z} is out of range: expected 0..{MAX_ZOOM}", details={"z": z})
    n = 1 << z
    for axis, value in (("x", x), ("y", y)):
        if not 0 <= value < n:
            raise InvalidInput(f"tile {axis}={value} is out of range at zoom {z}: expected 0..{n - 1}",
                               details={"z": z, axis: value})


# Each source table's change counter, summed over districts (plain SQL: the tile cache's listener runs it
# on its own psycopg connection).
LAYER_COUNTERS = "SELECT source, SUM(version) FROM layer_version GROUP BY source"


def layer_versions(session: Session) -> dict[str, int]:
    """The current version of every layer: the sum of its source tables' change counters."""
    return versions_from_counters(dict(session.execute(text(LAYER_COUNTERS)).all()))


def versions_from_counters(counters: Mapping[str, Any]) -> dict[str, int]:
    """Every layer's version from the source tables' counters (rows of ``LAYER_COUNTERS``)."""
    return {name: int(sum(int(counters.get(s) or 0) for s in layer.sources)) for name, layer in LAYERS.items()}


def layer_version(session: Session, name: str) -> int:
    """The current version of one layer (one indexed read of a tiny table)."""
    layer = get_layer(name)
    value = session.scalar(text("SELECT COALESCE(SUM(version), 0) FROM layer_version WHERE source = ANY(:s)"),
                           {"s": list(layer.sources)})
    return int(value or 0)


class LayerInfo(TypedDict):
    """A tile layer as the map pages see it: its fields, zoom range, version and URL template."""

    name: str
    title: str
    geometry: str
    fields: dict[str, str]
    min_zoom: int
    max_zoom: int
    version: int
    per_user: bool
    url: str


def list_layers(session: Session, *, url_prefix: str = "") -> list[LayerInfo]:
    """Every layer with its fields, zoom range, current version and URL template (``?v=`` pins the version)."""
    versions = layer_versions(session)
    return [{
        "name": layer.name, "title": layer.title, "geometry": layer.geometry, "fields": layer.fields,
        "min_zoom": layer.min_zoom, "max_zoom": layer.max_zoom, "version": versions[layer.name],
        "per_user": layer.per_user,
        "url": f"{url_prefix}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt?v={versions[layer.name]}",
    } for layer in LAYERS.values()]


def scope_name(principal: Principal) -> str:
    """Which incidents a caller sees, in full: ``public``, ``grids:<codes>`` or ``district:<code or *>``."""
    if not principal.may_read_personal_data:
        return "public"
    if principal.is_grid_scoped:
        return "grids:" + ",".join(sorted(principal.grid_codes))
    return f"district:{principal.district_code or '*'}"


def scope_key(principal: Principal) -> str:
    """Which incidents a caller sees, as a short key: the ETag of a per-user tile must differ between scopes."""
    return hashlib.sha1(scope_name(principal).encode()).hexdigest()[:10]


def tile_scope(layer: TileLayer, principal: Principal) -> str:
    """The part of a tile's cache key that depends on the caller: their scope on per-user layers, else nothing."""
    return scope_name(principal) if layer.per_user else ""


def tile_etag(layer: TileLayer, version: int, principal: Principal) -> str:
    """A weak ETag naming the layer version (and, for per-user layers, the caller's scope)."""
    scope = f".{scope_key(principal)}" if layer.per_user else ""
    return f'W/"{layer.name}.f{TILE_FORMAT}.v{version}{scope}"'


# --- SQL ------------------------------------------------------------------------------------

_ENV = "ST_TileEnvelope(:z, :x, :y)"
# CGCS2000 is taken as WGS84 lon/lat (PROJ's own 4490<->3857 path is a null datum shift too, with
# identical output), but going through 4326 spares each new database connection ~0.3 s of PROJ
# set-up. Features are fetched with the buffer margin, through the GiST index on the stored geometry.
_BBOX = f"ST_SetSRID(ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326), 4490)"


def _to_3857(column: str) -> str:
    return f"ST_Transform(ST_SetSRID({column}, 4326), 3857)"


def _mvt_geom(expr: str) -> str:
    return f"ST_AsMVTGeom({expr}, {_ENV}, {EXTENT}, {BUFFER}, true)"


def _simplified(column: str) -> str:
    return f"ST_Simplify({_to_3857(column)}, :tol, true)"


def _wrap(layer: str, inner: str, with_: str = "") -> str:
    # ST_AsMVT skips rows whose clipped geometry is NULL; filtering them here would clip everything twice.
    return f"{with_} SELECT ST_AsMVT(q, '{layer}', {EXTENT}, 'geom') FROM ({inner}) q"


def _units_sql(layer: TileLayer) -> str:
    table, columns = {
        "communities": ("community", "u.code, u.name, u.street_code, u.version"),
        "grids": ("grid", "u.code, u.name, u.community_code, u.kind, u.level, u.version"),
    }[layer.name]
    # Households per unit counted where each building's point on surface falls, as everywhere else.
    with_ = f"""WITH u AS (SELECT * FROM {table} WHERE valid_to IS NULL AND geom && {_BBOX}),
        h AS (SELECT u.id, CAST(COALESCE(SUM(b.households), 0) AS integer) AS households
              FROM u LEFT JOIN building b ON b.geom && u.geom AND ST_Contains(u.geom, ST_PointOnSurface(b.geom))
              GROUP BY u.id)"""
    inner = f"SELECT {columns}, h.households, {_mvt_geom(_simplified('u.geom'))} AS geom FROM u JOIN h USING (id)"
    return _wrap(layer.name, inner, with_)


def _buildings_sql(layer: TileLayer) -> str:
    inner = f"""SELECT b.id, b.name, b.kind, b.floors, b.households,
                       b.households_source = 'estimated' AS households_estimated,
                       {_mvt_geom(_simplified('b.geom'))} AS geom
                FROM building b WHERE b.geom && {_BBOX}"""
    return _wrap(layer.name, inner)


def _walk_sql(layer: TileLayer) -> str:
    inner = f"""SELECT e.id, e.highway, e.name, e.is_main_road, round(CAST(e.length_m AS numeric), 1)::float8
                       AS length_m, {_mvt_geom(_simplified('e.geom'))} AS geom
                FROM walk_edge e WHERE e.geom && {_BBOX}"""
    return _wrap(layer.name, inner)


def _water_sql(layer: TileLayer) -> str:
    inner = f"""SELECT w.id, w.kind, w.name, {_mvt_geom(_simplified('w.geom'))} AS geom
                FROM barrier w WHERE w.kind IN ('water', 'waterway') AND w.geom && {_BBOX}"""
    return _wrap(layer.name, inner)


def _points_sql(layer: TileLayer, *, table: str, columns: str, where: str, clustered: bool,
                cluster_columns: str, cluster_by: str = "") -> str:
    if not clustered:
        inner = f"""SELECT {columns}, 1 AS count, {_mvt_geom(_to_3857('t.geom'))} AS geom
                    FROM {table} t WHERE t.geom && {_BBOX} AND {where}"""
        return _wrap(layer.name, inner)
    # One point per cell of a grid 1/64 of the tile wide: the cell's first feature stands for all of them.
    inner = f"""SELECT {cluster_columns}, count(*) AS count,
                       {_mvt_geom(_to_3857('(array_agg(t.geom ORDER BY t.id))[1]'))} AS geom
                FROM {table} t WHERE t.geom && {_BBOX} AND {where}
                GROUP BY {cluster_by}ST_SnapToGrid({_to_3857('t.geom')}, :cell)"""
    return _wrap(layer.name, inner)


def _same(column: str) -> str:
    """The cluster's value of ``column`` when all its members share it (absent otherwise)."""
    return f"CASE WHEN count(DISTINCT t.{column}) = 1 THEN min(t.{column}) END AS {column}"


def _facilities_sql(layer: TileLayer, clustered: bool) -> str:
    return _points_sql(
        layer, table="facility", columns="t.id, t.type_code, t.name, t.capacity", where="TRUE", clustered=clustered,
        cluster_columns="min(t.id) AS id, t.type_code, CASE WHEN count(*) = 1 THEN min(t.name) END AS name",
        cluster_by="t.type_code, ",  # clusters never mix types: a kindergarten must not hide behind a clinic
    )


def _incidents_sql(layer: TileLayer, clustered: bool, *, detailed: bool, where: str) -> str:
    public = "t.category_class, t.category, t.status"
    columns = f"t.id, {public}, t.urgency, t.grid_code" if detailed else public
    cluster = ", ".join(_same(c) for c in ("category_class", "category", "status"))
    if detailed:
        cluster = f"min(t.id) AS id, {cluster}"
    return _points_sql(layer, table="incident", columns=columns, where=where, clustered=clustered,
                       cluster_columns=cluster)


def _gaps_sql(layer: TileLayer, *, type_code: str | None) -> str:
    type_filter = "AND t.code = :type_code" if type_code else ""
    # The newest finished run of each district that covers each type.
    with_ = f"""WITH latest AS (
        SELECT DISTINCT ON (r.district_code, t.code) r.id AS run_id, r.district_code, t.code AS type_code
        FROM coverage_run r CROSS JOIN LATERAL unnest(r.type_codes) AS t(code)
        WHERE r.status = 'done' {type_filter}
        ORDER BY r.district_code, t.code, r.id DESC)"""
    inner = f"""SELECT b.id AS building_id, l.type_code, c.households, c.target_population,
                       round(CAST(c.distance_m AS numeric))::float8 AS distance_m, l.run_id,
                       {_mvt_geom(_simplified('b.geom'))} AS geom
                FROM building b JOIN latest l ON l.district_code = b.district_code
                JOIN building_coverage c ON c.run_id = l.run_id AND c.type_code = l.type_code AND c.building_id = b.id
                WHERE b.geom && {_BBOX} AND NOT c.within_standard"""
    return _wrap(layer.name, inner, with_)


def tile_sql(layer: TileLayer, z: int, principal: Principal, *, type_code: str | None = None
             ) -> tuple[str, dict[str, Any]]:
    """The one statement that draws ``layer`` at zoom ``z`` for ``principal``, and its extra parameters."""
    clustered = z < CLUSTER_BELOW
    params: dict[str, Any] = {}
    if layer.name in ("communities", "grids"):
        sql = _units_sql(layer)
    elif layer.name == "buildings":
        sql = _buildings_sql(layer)
    elif layer.name == "walk_network":
        sql = _walk_sql(layer)
    elif layer.name == "water":
        sql = _water_sql(layer)
    elif layer.name == "facilities":
        sql = _facilities_sql(layer, clustered)
    elif layer.name == "incidents":
        if principal.may_read_personal_data:
            where, params = scope_filter(principal, grid_column="t.grid_code", district_column="t.district_code")
            sql = _incidents_sql(layer, clustered, detailed=True, where=where)
        else:  # planners and viewers: where incidents are and what kind, nothing about anyone
            sql = _incidents_sql(layer, clustered, detailed=False, where="TRUE")
    elif layer.name == "coverage_gaps":
        sql = _gaps_sql(layer, type_code=type_code)
        if type_code:
            params["type_code"] = type_code
    else:  # pragma: no cover - LAYERS and this dispatch are kept together
        raise NotFound(f"tile layer {layer.name!r} has no query")
    return sql, params


def tile_statement(layer: TileLayer, z: int, x: int, y: int, principal: Principal, *,
                   type_code: str | None = None) -> tuple[str, dict[str, Any]]:
    """The statement drawing one tile and all its parameters."""
    sql, extra = tile_sql(layer, z, principal, type_code=type_code)
    width = WEB_MERCATOR_WIDTH / (1 << z)
    return sql, {"z": z, "x": x, "y": y, "tol": width / EXTENT * SIMPLIFY_UNITS, "cell": width / CLUSTER_CELLS,
                 **extra}


def render_tile(session: Session, principal: Principal, *, layer: str, z: int, x: int, y: int,
                type_code: str | None = None, version: int | None = None) -> Tile:
    """Draw one tile of ``layer`` (empty bytes when nothing is there) with its version and ETag.

    ``version`` is the layer version read before drawing (read it first: the tile may then be
    newer than its ETag, never older, so a cache is at worst refreshed once more than needed).
    """
    spec = get_layer(layer)
    check_tile(z, x, y)
    if version is None:
        version = layer_version(session, layer)
    sql, params = tile_statement(spec, z, x, y, principal, type_code=type_code)
    data = session.scalar(text(sql), params)
    return Tile(layer=layer, data=bytes(data or b""), version=version, etag=tile_etag(spec, version, principal))


# --- the shared cache (table tile_cache, migration 0011) -------------------------------------

# One statement: the stored tile when there is one; otherwise draw it (the drawing is never
# executed on a hit: its NOT EXISTS is a one-time filter), store it, and delete this layer's rows
# of older versions. SKIP LOCKED: two processes pruning at once neither wait for nor deadlock on
# each other, and whatever one skips the next drawing deletes.
_CACHED = """WITH hit AS (SELECT data FROM tile_cache WHERE key = :tc_key),
drawn AS (SELECT COALESCE(t.mvt, '') AS data FROM ({sql}) t(mvt) WHERE NOT EXISTS (SELECT FROM hit)),
stored AS (INSERT INTO tile_cache (key, layer, version, z, x, y, scope, data)
           SELECT :tc_key, :tc_layer, :tc_version, :z, :x, :y, :tc_scope, data FROM drawn
           ON CONFLICT (key) DO NOTHING),
pruned AS (DELETE FROM tile_cache WHERE NOT EXISTS (SELECT FROM hit) AND key IN (
           SELECT key FROM tile_cache WHERE layer = :tc_layer AND version < :tc_version FOR UPDATE SKIP LOCKED))
SELECT COALESCE((SELECT data FROM hit), (SELECT data FROM drawn))"""


def cache_key(layer: TileLayer, version: int, sql: str, params: dict[str, Any], scope: str) -> bytes:
    """The shared cache's key: the layer version and the exact statement with its parameters.

    The statement's text is part of it, so rows drawn by an older release (other SQL) are never
    served by a newer one, and so are the scope and its parameters: a grid worker's key can never
    equal that of a wider scope.
    """
    named = repr((TILE_FORMAT, layer.name, version, scope, sql, sorted((k, repr(v)) for k, v in params.items())))
    return hashlib.sha256(named.encode()).digest()


def draw_or_fetch_tile(session: Session, principal: Principal, *, layer: TileLayer, z: int, x: int, y: int,
                       version: int, type_code: str | None = None) -> bytes:
    """One tile through the shared cache: the stored bytes for this version, or drawn (one ST_AsMVT) and stored.

    ``version`` is the layer version read before (see ``render_tile``). The row is written in the
    caller's transaction, so a rolled-back request leaves nothing behind.
    """
    sql, params = tile_statement(layer, z, x, y, principal, type_code=type_code)
    scope = tile_scope(layer, principal)
    key = cache_key(layer, version, sql, params, scope)
    data = session.scalar(text(_CACHED.format(sql=sql)),
                          {**params, "tc_key": key, "tc_layer": layer.name, "tc_version": version, "tc_scope": scope})
    return bytes(data or b"")
