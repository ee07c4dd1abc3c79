"""The tile cache (api/tilecache.py, table tile_cache): repeats from memory with the route's exact answers,
never across scopes, never past a revocation, a scope change or an edit.

These tests commit, as a server's requests and an administrator's changes do: they run an app of
their own (its sessions are its own, so its caches are in use) on a scratch database holding the
API world. Changes are committed through a separate engine, as another process or the command
line would; ``cache.barrier()`` waits until the app's listener has heard of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import api_world
import coverage_town as town
import mapbox_vector_tile
import pytest
from access_examples_tiles import WORLD_TILE
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import fresh_database
from sqlalchemy import text
from sqlalchemy.engine import Engine

from api.app import create_app
from api.tilecache import TileCache, _Tiles
from gis.db.engine import make_engine, transaction
from gis.services import tiles as tile_service
from gis.services import users as user_service
from gis.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Served:
    app: FastAPI
    client: TestClient
    cache: TileCache
    engine: Engine  # another process's connection to the same database
    world: dict[str, Any]
    settings: Settings


@pytest.fixture(scope="module")
def served(template_database_url: str) -> Iterator[Served]:
    """The API world committed in a scratch database, incidents in grids A (two), B and C, and an app serving it."""
    settings = Settings(database_url=None, home=REPO / ".wangge", secret_key=api_world.SECRET)
    with fresh_database(template_database_url, prefix="wangge_tile_cache") as url:
        engine = make_engine(url)
        try:
            with transaction(engine) as session:
                world = api_world.build_world(session)
                world["incidents"] = api_world.add_incidents(session, world["users"])
                # One more in grid A, near its border with B: in the z15 tile of B's incident.
                world["incidents"]["A2"] = session.execute(text("""
                    INSERT INTO incident (district_code, grid_code, category_class, category, source, geom)
                    VALUES ('320199', :g, 'event', '市容环境', 'patrol', ST_GeomFromEWKT(:p)) RETURNING id"""),
                    {"g": api_world.GRID_A, "p": town._ewkt(town._lonlat([town.p(390, 60)])[0])}).scalar_one()
            app = create_app(settings, url=url)
            with TestClient(app, raise_server_exceptions=False) as client:
                cache = app.state.tile_cache
                assert cache.barrier(), "the tile cache never started listening"
                yield Served(app, client, cache, engine, world, settings)
        finally:
            engine.dispose()


def sign_in(served: Served, username: str) -> str:
    response = served.client.post("/auth/token", data={"username": username, "password": api_world.PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def get_tile(served: Served, token: str, layer: str, zxy: tuple[int, int, int], *,
             headers: dict[str, str] | None = None, **kwargs: Any):
    z, x, y = zxy
    return served.client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt",
                             headers={"Authorization": f"Bearer {token}", **(headers or {})}, **kwargs)


def from_memory(served: Served, request: Any) -> Any:
    """The response of ``request()``, checked to have been answered from memory (not by the route)."""
    before = dict(served.cache.counts)
    response = request()
    assert served.cache.counts["route"] == before["route"], "the route answered, not the cache"
    return response


def by_route(served: Served, request: Any) -> Any:
    before = served.cache.counts["route"]
    response = request()
    assert served.cache.counts["route"] == before + 1, "answered from memory, not by the route"
    return response


def features(response: Any, layer: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    decoded = mapbox_vector_tile.decode(response.content)
    return decoded[layer]["features"] if layer in decoded else []


def without_request_id(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in ("x-request-id", "x-client-request-id")}


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def incident_tile(served: Served, *keys: str) -> tuple[int, int, int]:
    """The z15 tile (the first unclustered zoom, whose features carry grid codes) holding incidents ``keys``."""
    with served.engine.connect() as conn:
        tiles = {tile_of(*conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM incident WHERE id = :i"),
                                       {"i": served.world["incidents"][k]}).one(), 15) for k in keys}
    assert len(tiles) == 1, f"incidents {keys} lie in different z15 tiles: {tiles}"
    return tiles.pop()


def new_user(served: Served, username: str, role: str, grids: list[str] | None = None) -> int:
    with transaction(served.engine) as session:
        user = user_service.create_user(session, username=username, password=api_world.PASSWORD, role=role,
                                        district_code="320199")
        if grids:
            user_service.assign_grids(session, user.id, grids)
        return user.id


def test_a_repeat_is_answered_from_memory_exactly_as_the_route_answered(served: Served) -> None:
    token = sign_in(served, "viewer")
    zxy = WORLD_TILE
    first = by_route(served, lambda: get_tile(served, token, "buildings", zxy))
    again = from_memory(served, lambda: get_tile(served, token, "buildings", zxy))
    assert again.status_code == 200 and again.content == first.content and features(again, "buildings")
    assert without_request_id(again) == without_request_id(first)
    # 304 from memory, with the headers the route gives a 304 (a token the cache has not met yet).
    etag = first.headers["ETag"]
    cached = from_memory(served, lambda: get_tile(served, token, "buildings", zxy, headers={"If-None-Match": etag}))
    planner = sign_in(served, "planner")
    routed = by_route(served, lambda: get_tile(served, planner, "buildings", zxy, headers={"If-None-Match": etag}))
    assert cached.status_code == routed.status_code == 304 and cached.content == b""
    assert without_request_id(cached) == without_request_id(routed)
    # A URL pinned to the current version may be kept; one pinned to a newer version than the
    # cache knows asks the database (the route), which says the version is not current.
    version = int(first.headers["X-Layer-Version"])
    pinned = from_memory(served, lambda: get_tile(served, token, "buildings", zxy, params={"v": version}))
    assert "immutable" in pinned.headers["Cache-Control"] and pinned.content == first.content
    ahead = by_route(served, lambda: get_tile(served, token, "buildings", zxy, params={"v": version + 1}))
    assert ahead.headers["Cache-Control"] == "private, no-cache" and ahead.headers["X-Layer-Version"] == str(version)
    # Below the layer's minimum zoom: the same 204 either way.
    z, x, y = zxy
    low = (z - 2, x >> 2, y >> 2)
    facility = sign_in(served, "facility")
    below = by_route(served, lambda: get_tile(served, facility, "buildings", low))
    below_again = from_memory(served, lambda: get_tile(served, facility, "buildings", low))
    assert below.status_code == below_again.status_code == 204
    assert without_request_id(below) == without_request_id(below_again)


def test_a_worker_and_an_admin_asking_for_the_same_tile_get_their_own_cached_bodies(served: Served) -> None:
    zxy = incident_tile(served, "A2", "B")
    answers = {}
    for username in ("admin", "worker_a"):  # the admin first: a tile kept for the wider scope is there to be found
        token = sign_in(served, username)
        first = get_tile(served, token, "incidents", zxy)
        again = from_memory(served, lambda token=token: get_tile(served, token, "incidents", zxy))
        assert again.content == first.content and again.headers["ETag"] == first.headers["ETag"]
        answers[username] = again
    assert answers["admin"].content != answers["worker_a"].content
    assert answers["admin"].headers["ETag"] != answers["worker_a"].headers["ETag"]
    grids = {u: {f["properties"]["grid_code"] for f in features(r, "incidents")} for u, r in answers.items()}
    assert grids["worker_a"] == {api_world.GRID_A}
    assert grids["admin"] >= {api_world.GRID_A, api_world.GRID_B}
    # The shared table holds one row per scope, each the body its scope was given.
    with served.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT scope, data FROM tile_cache WHERE layer = 'incidents' "
                                      "AND z = :z AND x = :x AND y = :y"), dict(zip("zxy", zxy, strict=True))).all())
    assert set(rows) == {f"grids:{api_world.GRID_A}", "district:320199"}
    assert rows[f"grids:{api_world.GRID_A}"] == answers["worker_a"].content
    assert rows["district:320199"] == answers["admin"].content


def test_a_deactivated_user_or_a_changed_role_is_refused_at_once_though_their_tiles_are_kept(served: Served) -> None:
    ids = {"tile_viewer": new_user(served, "tile_viewer", "viewer"),
           "tile_worker": new_user(served, "tile_worker", "grid_worker", [api_world.GRID_A])}
    tokens = {username: sign_in(served, username) for username in ids}
    for token in tokens.values():
        get_tile(served, token, "grids", WORLD_TILE)
        assert from_memory(served, lambda token=token: get_tile(served, token, "grids", WORLD_TILE)).status_code == 200
    with transaction(served.engine) as session:
        user_service.update_user(session, ids["tile_viewer"], expected_version=1, changes={"is_active": False})
        user_service.update_user(session, ids["tile_worker"], expected_version=1, changes={"role": "viewer"})
    assert served.cache.barrier()
    for token in tokens.values():
        refused = get_tile(served, token, "grids", WORLD_TILE)
        assert refused.status_code == 401 and "revoked" in refused.json()["message"]
        assert get_tile(served, token, "grids", WORLD_TILE, headers={"If-None-Match": "*"}).status_code == 401


def test_every_route_keeps_the_signed_in_principal_and_refuses_a_revoked_token(served: Served) -> None:
    """Not only tiles: any route reads a token's user once, then answers from the kept principal until a notice."""
    uid = new_user(served, "route_viewer", "viewer")
    token = sign_in(served, "route_viewer")
    headers = {"Authorization": f"Bearer {token}"}
    assert served.cache.signed_in(token) is None
    assert served.client.get("/grids", headers=headers).status_code == 200
    kept = served.cache.signed_in(token)
    assert kept is not None and kept.user_id == uid and kept.role == "viewer"
    assert served.client.get("/grids", headers=headers).status_code == 200
    with transaction(served.engine) as session:
        user_service.update_user(session, uid, expected_version=1, changes={"is_active": False})
    assert served.cache.barrier()
    assert served.cache.signed_in(token) is None
    refused = served.client.get("/grids", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.json()["message"]


def test_a_worker_moved_to_another_grid_sees_the_new_grid_at_once_with_the_same_token(served: Served) -> None:
    uid = new_user(served, "tile_mover", "grid_worker", [api_world.GRID_A])
    token = sign_in(served, "tile_mover")
    zxy = incident_tile(served, "A2", "B")

    def grids_seen() -> set[str]:
        return {f["properties"]["grid_code"] for f in features(get_tile(served, token, "incidents", zxy), "incidents")}

    assert grids_seen() == {api_world.GRID_A}
    assert from_memory(served, grids_seen) == {api_world.GRID_A}
    # Grid assignments do not bump the user's version: the token stays valid, its scope changes.
    with transaction(served.engine) as session:
        user_service.assign_grids(session, uid, [api_world.GRID_B])
    assert served.cache.barrier()
    assert by_route(served, grids_seen) == {api_world.GRID_B}
    assert from_memory(served, grids_seen) == {api_world.GRID_B}


def test_an_edit_committed_elsewhere_is_drawn_at_once_and_older_rows_are_pruned(served: Served) -> None:
    token = sign_in(served, "viewer")
    before = get_tile(served, token, "grids", WORLD_TILE)
    from_memory(served, lambda: get_tile(served, token, "grids", WORLD_TILE))
    with transaction(served.engine) as session:
        session.execute(text("""
            WITH old AS (UPDATE grid SET valid_to = now() WHERE code = :c AND valid_to IS NULL RETURNING *)
            INSERT INTO grid (code, community_code, district_code, name, version, reason, geom)
            SELECT code, community_code, district_code, '北二网格（调整）', version + 1, 'test edit', geom FROM old"""),
                        {"c": api_world.GRID_B})
    assert served.cache.barrier()
    after = by_route(served, lambda: get_tile(served, token, "grids", WORLD_TILE))
    assert int(after.headers["X-Layer-Version"]) > int(before.headers["X-Layer-Version"])
    names = {f["properties"]["code"]: f["properties"]["name"] for f in features(after, "grids")}
    assert names[api_world.GRID_B] == "北二网格（调整）"
    stale = get_tile(served, token, "grids", WORLD_TILE, headers={"If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200 and stale.content == after.content
    with served.engine.connect() as conn:
        versions = set(conn.scalars(text("SELECT DISTINCT version FROM tile_cache WHERE layer = 'grids'")))
    assert versions == {int(after.headers["X-Layer-Version"])}


def test_another_process_serves_what_is_in_the_shared_table_without_drawing(served: Served) -> None:
    # A row planted under the key of a tile nobody has drawn: a second app answers with it, so
    # it read the table before drawing.
    zxy = (16, *(2 * c for c in WORLD_TILE[1:]))
    with transaction(served.engine) as session:
        layer = tile_service.get_layer("walk_network")
        version = tile_service.layer_version(session, "walk_network")
        principal = user_service.Principal(user_id=0, username="", role="viewer")
        sql, params = tile_service.tile_statement(layer, *zxy, principal)
        key = tile_service.cache_key(layer, version, sql, params, "")
        session.execute(text("INSERT INTO tile_cache (key, layer, version, z, x, y, data) "
                             "VALUES (:k, 'walk_network', :v, :z, :x, :y, 'planted')"),
                        {"k": key, "v": version, **dict(zip("zxy", zxy, strict=True))})
    second = create_app(served.settings, url=served.engine.url.render_as_string(hide_password=False))
    try:
        with TestClient(second, raise_server_exceptions=False) as other:
            token = other.post("/auth/token", data={"username": "viewer", "password": api_world.PASSWORD}
                               ).json()["access_token"]
            z, x, y = zxy
            response = other.get(f"/tiles/walk_network/{z}/{x}/{y}.mvt", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200 and response.content == b"planted"
    finally:
        with transaction(served.engine) as session:
            session.execute(text("DELETE FROM tile_cache WHERE key = :k"), {"k": key})


def test_a_lost_listener_connection_forgets_everything_and_reconnects(served: Served) -> None:
    token = sign_in(served, "viewer")
    get_tile(served, token, "grids", WORLD_TILE)
    from_memory(served, lambda: get_tile(served, token, "grids", WORLD_TILE))
    with served.engine.connect() as conn:
        ended = conn.scalar(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                 "WHERE application_name = 'wangge tile cache' AND datname = current_database()"))
    assert ended == 1
    assert served.cache.barrier()  # listening again
    assert served.cache.describe()["tokens"] == 0 and served.cache.describe()["tiles"] == 0
    assert by_route(served, lambda: get_tile(served, token, "grids", WORLD_TILE)).status_code == 200


def test_kept_tiles_are_bounded_by_bytes_least_recently_used_first_out() -> None:
    tiles = _Tiles(max_bytes=3 * (1000 + 200))

    def key(i: int) -> tuple[str, int, int, int, int, str, None]:
        return ("buildings", 1, 15, i, 0, "", None)

    for i in range(3):
        tiles.put(key(i), bytes(1000))
    assert tiles.get(key(0)) is not None  # now the most recently used
    tiles.put(key(3), bytes(1000))
    assert tiles.get(key(1)) is None and all(tiles.get(key(i)) is not None for i in (0, 2, 3))
    assert tiles.size == (3, 3 * 1200)
    tiles.put(key(4), bytes(10_000))  # larger than the whole budget: not kept, nothing dropped for it
    assert tiles.get(key(4)) is None and tiles.size[0] == 3
    tiles.drop_older({"buildings": 2})
    assert tiles.size == (0, 0)
