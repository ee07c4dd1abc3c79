"""Vector tiles against the API world: decoded MVT content, zoom rules, versions and ETags, privacy."""

from __future__ import annotations

import math
from typing import Any

import api_world
import coverage_town as town
import mapbox_vector_tile
import pytest
from access_examples_tiles import WORLD_TILE
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import coverage as coverage_service

GRIDS = {api_world.GRID_A: 120, api_world.GRID_B: 60, api_world.GRID_C: 40}  # households: N, Q, R


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The XYZ tile holding a lon/lat point."""
    n = 1 << z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def building_tile(session: Session, name: str, z: int) -> tuple[int, int, int]:
    lon, lat = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                    "FROM building WHERE name = :n) s"), {"n": name}).one()
    return tile_of(lon, lat, z)


def get_tile(client: TestClient, headers: dict[str, str], layer: str, zxy: tuple[int, int, int], **kwargs: Any):
    z, x, y = zxy
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", headers=headers, **kwargs)


def features(response, layer: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    return decoded[layer]["features"] if layer in decoded else []


def test_the_water_layer_draws_the_river_for_the_web_map_background(client: TestClient, as_user) -> None:
    z, x, y = 14, 13600, 6652  # the world's tile (tests/support/access_examples_tiles.py)
    water = features(client.get(f"/tiles/water/{z}/{x}/{y}.mvt", headers=as_user("viewer")), "water")
    assert [(f["properties"]["kind"], f["properties"]["name"]) for f in water] == [("waterway", "玉带河")]


def test_the_layer_list_names_fields_zooms_versions_and_url_templates(client: TestClient, as_user) -> None:
    response = client.get("/tiles", headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    layers = {layer["name"]: layer for layer in response.json()["layers"]}
    assert set(layers) == {"communities", "grids", "buildings", "walk_network", "facilities", "incidents",
                           "coverage_gaps", "water"}
    grids = layers["grids"]
    assert "households" in grids["fields"]
    assert grids["min_zoom"] < layers["buildings"]["min_zoom"] <= 15 <= grids["max_zoom"]
    assert grids["version"] > 0  # the world's inserts already bumped it
    assert grids["url"] == f"/tiles/grids/{{z}}/{{x}}/{{y}}.mvt?v={grids['version']}"


def test_the_grid_tile_holds_grids_a_b_and_c_with_their_household_counts(client: TestClient, as_user) -> None:
    found = features(get_tile(client, as_user("viewer"), "grids", WORLD_TILE), "grids")
    assert {f["properties"]["code"]: f["properties"]["households"] for f in found} == GRIDS
    assert {f["geometry"]["type"] for f in found} == {"Polygon"}
    communities = features(get_tile(client, as_user("viewer"), "communities", WORLD_TILE), "communities")
    households = {f["properties"]["code"]: f["properties"]["households"] for f in communities}
    assert households == {"320199001001": 180, "320199001002": 40}


def test_buildings_appear_at_z15_and_not_below_the_layer_min_zoom(client: TestClient, as_user,
                                                                  api_session: Session) -> None:
    headers = as_user("worker_a")
    seen = {}
    for name in "NQR":
        for f in features(get_tile(client, headers, "buildings", building_tile(api_session, name, 15)), "buildings"):
            seen[f["properties"]["name"]] = f["properties"]
    assert {n: p["households"] for n, p in seen.items()} == {"N": 120, "Q": 60, "R": 40}
    assert seen["N"]["households_estimated"] is False
    below = get_tile(client, headers, "buildings", building_tile(api_session, "N", 13))
    assert below.status_code == 204 and below.content == b""
    assert "ETag" not in below.headers


def test_an_edit_changes_the_etag_and_the_content_at_once(client: TestClient, as_user, api_session: Session) -> None:
    headers = as_user("planner")
    before = get_tile(client, headers, "grids", WORLD_TILE)
    names = {f["properties"]["code"]: f["properties"]["name"] for f in features(before, "grids")}
    assert names[api_world.GRID_A] == "北一网格"
    # A new version of grid A, as an edit or an adopted plan writes it.
    api_session.execute(text("""
        WITH old AS (UPDATE grid SET valid_to = now() WHERE code = :c AND valid_to IS NULL RETURNING *)
        INSERT INTO grid (code, community_code, district_code, name, version, reason, geom)
        SELECT code, community_code, district_code, '北一网格（调整）', version + 1, 'test edit', geom FROM old"""),
                        {"c": api_world.GRID_A})
    after = get_tile(client, headers, "grids", WORLD_TILE)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert int(after.headers["X-Layer-Version"]) > int(before.headers["X-Layer-Version"])
    edited = {f["properties"]["code"]: f["properties"] for f in features(after, "grids")}
    assert edited[api_world.GRID_A]["name"] == "北一网格（调整）"
    assert edited[api_world.GRID_A]["version"] == 2
    # The old ETag is stale now: the client gets the new tile, not a 304.
    stale = client.get("/tiles/grids/{}/{}/{}.mvt".format(*WORLD_TILE),
                       headers={**headers, "If-None-Match": before.headers["ETag"]})
    assert stale.status_code == 200 and stale.content == after.content


def test_a_moved_facility_and_a_new_incident_bump_their_layers_only(client: TestClient, as_user,
                                                                    api_session: Session, world: dict) -> None:
    def versions() -> dict[str, int]:
        return {layer["name"]: layer["version"] for layer in client.get("/tiles", headers=as_user("admin")).json()
                ["layers"]}

    start = versions()
    api_session.execute(text("UPDATE facility SET geom = ST_Translate(geom, 0.0001, 0), version = version + 1 "
                             "WHERE id = :f"), {"f": world["F1"]})
    moved = versions()
    assert moved["facilities"] > start["facilities"]
    assert {k: v for k, v in moved.items() if k != "facilities"} == {k: v for k, v in start.items()
                                                                     if k != "facilities"}
    insert_incidents(api_session, [("N", "市容环境", "reported")])
    # Incident versions are bumped by a deferred trigger at commit; this test's transaction never commits.
    api_session.execute(text("SET CONSTRAINTS incident_layer_version IMMEDIATE"))
    assert versions()["incidents"] > moved["incidents"]


def test_if_none_match_gets_304_and_a_pinned_url_may_be_cached(client: TestClient, as_user) -> None:
    headers = as_user("viewer")
    first = get_tile(client, headers, "grids", WORLD_TILE)
    etag, version = first.headers["ETag"], first.headers["X-Layer-Version"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    cached = get_tile(client, {**headers, "If-None-Match": etag}, "grids", WORLD_TILE)
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["ETag"] == etag
    pinned = get_tile(client, headers, "grids", WORLD_TILE, params={"v": version})
    assert "immutable" in pinned.headers["Cache-Control"] and pinned.content == first.content
    stale_pin = get_tile(client, headers, "grids", WORLD_TILE, params={"v": int(version) - 1})
    assert stale_pin.headers["Cache-Control"] == "private, no-cache"


def test_an_unknown_layer_is_404_with_the_error_model(client: TestClient, as_user) -> None:
    response = client.get("/tiles/residents/15/27200/13304.mvt", headers=as_user("admin"))
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found" and "residents" in body["message"] and "grids" in body["details"]["layers"]


@pytest.mark.parametrize("zxy", [(23, 0, 0), (15, 32768, 0), (15, 0, 32768), (3, -1, 0), (-1, 0, 0)])
def test_a_tile_out_of_range_is_422(client: TestClient, as_user, zxy: tuple[int, int, int]) -> None:
    response = get_tile(client, as_user("admin"), "grids", zxy)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_input"


def test_point_layers_are_thinned_below_z15_with_a_count(client: TestClient, as_user, api_session: Session) -> None:
    headers = as_user("admin")
    mine = set(insert_incidents(api_session, [("N", "瓦片测试甲", "reported")] * 12))
    z15 = [f for f in features(get_tile(client, headers, "incidents", building_tile(api_session, "N", 15)),
                               "incidents") if f["properties"]["id"] in mine]
    assert len(z15) == 12 and {f["properties"]["count"] for f in z15} == {1}
    z12 = features(get_tile(client, headers, "incidents", building_tile(api_session, "N", 12)), "incidents")
    total = api_session.scalar(text("SELECT count(*) FROM incident"))
    assert sum(f["properties"]["count"] for f in z12) == total
    assert len(z12) < total and max(f["properties"]["count"] for f in z12) >= 12
    facilities = features(get_tile(client, headers, "facilities", WORLD_TILE), "facilities")
    assert sum(f["properties"]["count"] for f in facilities) == 2


def insert_incidents(session: Session, rows: list[tuple[str, str, str]]) -> list[int]:
    """Incidents at buildings of the world, with the personal details a tile must never carry; their ids."""
    return [session.execute(text("""
            INSERT INTO incident (district_code, grid_code, category_class, category, description, source, status,
                                  reporter_contact, address, geom)
            SELECT b.district_code, g.code, 'event', :cat, '张三家门口堆放杂物', 'resident', :status,
                   '13800001234', '幸福路1号', ST_PointOnSurface(b.geom)
            FROM building b JOIN grid g ON g.valid_to IS NULL AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))
            WHERE b.name = :b RETURNING id"""), {"b": building, "cat": category, "status": status}).scalar_one()
            for building, category, status in rows]


def test_grid_staff_see_incidents_of_their_grids_only_and_planners_only_category_and_status(
        client: TestClient, as_user, api_session: Session) -> None:
    categories = {"瓦片测试甲": api_world.GRID_A, "瓦片测试乙": api_world.GRID_B, "瓦片测试丙": api_world.GRID_C}
    mine = set(insert_incidents(api_session, [("N", "瓦片测试甲", "reported"), ("Q", "瓦片测试乙", "dispatched"),
                                              ("R", "瓦片测试丙", "closed")]))
    tiles = {building_tile(api_session, name, 15) for name in "NQR"}

    def seen(username: str) -> list[dict[str, Any]]:
        return [f["properties"] for zxy in sorted(tiles)
                for f in features(get_tile(client, as_user(username), "incidents", zxy), "incidents")]

    def grids_seen(username: str) -> list[str]:
        return sorted(p["grid_code"] for p in seen(username) if p["id"] in mine)

    assert {p["grid_code"] for p in seen("worker_a")} == {api_world.GRID_A}
    assert grids_seen("worker_a") == [api_world.GRID_A]
    assert {p["grid_code"] for p in seen("worker_b")} == {api_world.GRID_B}
    assert grids_seen("admin") == sorted(GRIDS)
    planner = [p for p in seen("planner") if p.get("category") in categories]
    assert sorted(p["category"] for p in planner) == sorted(categories)
    assert all(set(p) <= {"category_class", "category", "status", "count"} for p in seen("planner"))
    everything = [p for username in ("admin", "worker_a", "planner", "viewer") for p in seen(username)]
    assert not {"description", "reporter_contact", "address"} & {k for p in everything for k in p}
    assert not any("13800001234" in str(v) or "张三" in str(v) for p in everything for v in p.values())
    # Each scope has its own ETag, so a shared browser cache never hands one user's tile to another.
    zxy = building_tile(api_session, "N", 15)
    etags = {u: get_tile(client, as_user(u), "incidents", zxy).headers["ETag"] for u in ("worker_a", "worker_b",
                                                                                          "planner", "viewer")}
    assert len({etags["worker_a"], etags["worker_b"], etags["planner"]}) == 3
    assert etags["planner"] == etags["viewer"]


def test_no_tile_carries_residents(client: TestClient, as_user, api_session: Session) -> None:
    names = set(api_session.scalars(text("SELECT name FROM resident")))
    secrets = set(api_session.scalars(text("SELECT id_number FROM resident_private"))) | set(
        api_session.scalars(text("SELECT phone FROM resident_private")))
    assert names and secrets
    for layer in ("communities", "grids", "buildings", "walk_network", "facilities", "incidents", "coverage_gaps"):
        for name in "NQR":
            for f in features(get_tile(client, as_user("admin"), layer, building_tile(api_session, name, 15)), layer):
                values = {str(v) for v in f["properties"].values()}
                assert not values & (names | secrets), (layer, f["properties"])


def test_coverage_gaps_follow_the_latest_run(client: TestClient, as_user, api_session: Session) -> None:
    headers = as_user("facility")

    def gaps() -> tuple[dict[str, dict[str, Any]], set[str]]:
        ids = dict(api_session.execute(text("SELECT id, name FROM building")).all())
        found, etags = {}, set()
        for name in "NQR":
            response = get_tile(client, headers, "coverage_gaps", building_tile(api_session, name, 15),
                                params={"type": "kindergarten"})
            etags.add(response.headers["ETag"])
            for f in features(response, "coverage_gaps"):
                found[ids[f["properties"]["building_id"]]] = f["properties"]
        return found, etags

    coverage_service.compute_coverage(api_session, district_code="320199", types=["kindergarten"])
    before, etags_before = gaps()
    # Kindergartens serve 300 m: N walks 152 m to F2; Q needs 437 m and R 843 m (coverage_town.py).
    assert set(before) == {"Q", "R"}
    assert before["Q"]["type_code"] == "kindergarten" and before["Q"]["households"] == 60
    assert before["Q"]["distance_m"] == pytest.approx(437, abs=2)
    # A new kindergarten on the street just outside Q's gate, and a new run: Q is covered now.
    where = town._ewkt(town._lonlat([town.p(600, 150)])[0])
    api_session.execute(text("INSERT INTO facility (district_code, type_code, name, source, geom) VALUES "
                             "('320199', 'kindergarten', '新幼儿园', 'manual', ST_GeomFromEWKT(:g))"), {"g": where})
    coverage_service.compute_coverage(api_session, district_code="320199", types=["kindergarten"])
    after, etags_after = gaps()
    assert set(after) == {"R"}
    assert after["R"]["run_id"] > before["R"]["run_id"]
    assert not etags_before & etags_after
