"""Boundaries, buildings, compounds and facilities over HTTP: filters, paging, GeoJSON, as-of, writes."""

from __future__ import annotations

from urllib.parse import urlsplit

import coverage_town as town
import pytest
from api_world import GRID_A, GRID_B, GRID_C
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

GEOJSON = "application/geo+json"


def lonlat(x: float, y: float) -> tuple[float, float]:
    """The town's metric (x, y) as (lon, lat)."""
    point = town._lonlat([town.p(x, y)])[0]
    return point.x, point.y


def bbox_around(x: float, y: float, r: float = 20) -> str:
    (x0, y0), (x1, y1) = lonlat(x - r, y - r), lonlat(x + r, y + r)
    return f"{x0},{y0},{x1},{y1}"


def all_positions(geometry: dict) -> list[list[float]]:
    coords = geometry["coordinates"]
    while isinstance(coords[0][0], list):
        coords = [c for part in coords for c in part]
    return coords if isinstance(coords[0], list) else [coords]


def test_grids_are_a_feature_collection_in_lon_lat_with_households(client: TestClient, as_user) -> None:
    response = client.get("/grids", headers=as_user("viewer"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GEOJSON)
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["total"] == 3 and body["next"] is None
    by_code = {f["id"]: f for f in body["features"]}
    assert sorted(by_code) == [GRID_A, GRID_B, GRID_C]
    assert {c: f["properties"]["households"] for c, f in by_code.items()} == {GRID_A: 120, GRID_B: 60, GRID_C: 40}
    a = by_code[GRID_A]
    assert a["type"] == "Feature" and a["geometry"]["type"] == "MultiPolygon"
    assert "crs" not in a["geometry"]  # RFC 7946 has no crs member
    assert a["properties"]["version"] == 1 and a["properties"]["community_code"] == town.NORTH
    lon, lat = lonlat(300, 30)  # the town lies near 118.8 E, 32.0 N: lon first
    for x, y in all_positions(a["geometry"]):
        assert abs(x - lon) < 0.01 and abs(y - lat) < 0.01


def test_bbox_finds_what_it_covers_and_nothing_else(client: TestClient, as_user) -> None:
    headers = as_user("viewer")
    hit = client.get("/buildings", params={"bbox": bbox_around(300, 30)}, headers=headers).json()
    assert [f["properties"]["name"] for f in hit["features"]] == ["N"] and hit["total"] == 1
    assert hit["features"][0]["properties"]["grid_code"] == GRID_A
    miss = client.get("/buildings", params={"bbox": bbox_around(3000, 3000)}, headers=headers).json()
    assert miss["total"] == 0 and miss["features"] == []
    grids = client.get("/grids", params={"bbox": bbox_around(500, 150, 5)}, headers=headers).json()
    assert [f["id"] for f in grids["features"]] == [GRID_B]
    facilities = client.get("/facilities", params={"bbox": bbox_around(420, 12, 5)}, headers=headers).json()
    assert [f["properties"]["name"] for f in facilities["features"]] == ["F2幼儿园"]


@pytest.mark.parametrize("bbox, problem", [
    ("118.8,32.0,118.9", "four numbers"),
    ("a,b,c,d", "four numbers"),
    ("118.9,32.0,118.8,32.1", "minlon must be below maxlon"),
    ("32.0,118.8,32.1,118.9", "latitudes in [-90, 90]"),
])
def test_a_bad_bbox_is_refused_naming_it(client: TestClient, as_user, bbox: str, problem: str) -> None:
    response = client.get("/grids", params={"bbox": bbox}, headers=as_user("viewer"))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_input" and body["details"]["field"] == "bbox"
    assert problem in body["message"]


def test_code_prefix_parent_and_attribute_filters(client: TestClient, as_user) -> None:
    headers = as_user("viewer")

    def codes(url: str, **params) -> list:
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["features"]]

    assert codes("/grids", code=town.NORTH) == [GRID_A, GRID_B]
    assert codes("/grids", community_code=town.SOUTH) == [GRID_C]
    assert codes("/grids", street_code=town.STREET) == [GRID_A, GRID_B, GRID_C]
    assert codes("/grids", kind="dedicated") == []
    assert codes("/communities", street_code=town.STREET) == [town.NORTH, town.SOUTH]
    assert codes("/streets", district_code=town.DISTRICT) == [town.STREET]
    assert codes("/streets", code="320198") == []
    buildings = client.get("/buildings", params={"grid_code": GRID_B}, headers=headers).json()
    assert [f["properties"]["name"] for f in buildings["features"]] == ["Q"]
    north = client.get("/buildings", params={"community_code": town.NORTH}, headers=headers).json()
    assert sorted(f["properties"]["name"] for f in north["features"]) == ["N", "Q"]
    assert client.get("/buildings", params={"households_source": "estimated"}, headers=headers).json()["total"] == 0
    assert client.get("/buildings", params={"min_households": 100}, headers=headers).json()["total"] == 1
    compounds = client.get("/compounds", headers=headers).json()["features"]
    assert [(c["properties"]["buildings"], c["properties"]["households"]) for c in compounds] == [(1, 60)]
    bad = client.get("/grids", params={"community_code": "3201"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "community_code"


def test_paging_gives_the_total_and_a_next_link(client: TestClient, as_user) -> None:
    headers = as_user("viewer")
    first = client.get("/grids", params={"limit": 2}, headers=headers)
    body = first.json()
    assert body["total"] == 3 and len(body["features"]) == 2 and body["offset"] == 0
    assert body["next"] and first.headers["link"] == f'<{body["next"]}>; rel="next"'
    nxt = urlsplit(body["next"])
    second = client.get(f"{nxt.path}?{nxt.query}", headers=headers).json()
    assert [f["id"] for f in second["features"]] == [GRID_C] and second["next"] is None
    assert client.get("/grids", params={"limit": 0}, headers=headers).status_code == 422


def test_single_resources_send_their_version_as_etag(client: TestClient, as_user, world: dict) -> None:
    headers = as_user("viewer")
    grid = client.get(f"/grids/{GRID_A}", headers=headers)
    assert grid.status_code == 200 and grid.headers["etag"] == '"1"'
    assert grid.headers["content-type"].startswith(GEOJSON)
    assert grid.json()["properties"]["households"] == 120
    for url in (f"/streets/{town.STREET}", f"/communities/{town.NORTH}", f"/facilities/{world['F1']}"):
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and response.headers["etag"] == '"1"', url
    building = client.get(f"/buildings/{world['Q']}", headers=headers).json()
    assert building["properties"]["compound_id"] is not None and building["properties"]["grid_code"] == GRID_B
    missing = client.get("/grids/320199001001009", headers=headers)
    assert missing.status_code == 404 and "320199001001009" in missing.json()["message"]
    assert client.get("/buildings/999999", headers=headers).status_code == 404


def _new_grid_version(session: Session, code: str, name: str) -> str:
    """Retire the current version of ``code`` now and insert version 2; returns the old valid_from."""
    old = session.execute(text("SELECT valid_from FROM grid WHERE code = :c AND valid_to IS NULL"),
                          {"c": code}).scalar()
    session.execute(text("UPDATE grid SET valid_to = now() WHERE code = :c AND valid_to IS NULL"), {"c": code})
    session.execute(text("""
        INSERT INTO grid (code, community_code, district_code, name, kind, level, geom, valid_from, version, reason)
        SELECT code, community_code, district_code, :n, kind, level, geom, now(), 2, 'renamed for the test'
        FROM grid WHERE code = :c AND version = 1"""), {"c": code, "n": name})
    session.flush()
    return old.isoformat()


def test_as_of_a_date_returns_the_version_valid_then(client: TestClient, as_user, api_session: Session) -> None:
    headers = as_user("viewer")
    old_from = _new_grid_version(api_session, GRID_A, "北一网格（新）")
    now = client.get(f"/grids/{GRID_A}", headers=headers)
    assert now.headers["etag"] == '"2"' and now.json()["properties"]["name"] == "北一网格（新）"
    then = client.get(f"/grids/{GRID_A}", params={"at": old_from}, headers=headers)
    assert then.status_code == 200, then.text
    assert then.headers["etag"] == '"1"' and then.json()["properties"]["name"] == "北一网格"
    listed = client.get("/grids", params={"at": old_from, "code": GRID_A}, headers=headers).json()["features"]
    assert [(f["id"], f["properties"]["version"]) for f in listed] == [(GRID_A, 1)]
    before = client.get(f"/grids/{GRID_A}", params={"at": "2000-01-01T00:00:00+08:00"}, headers=headers)
    assert before.status_code == 404
    naive = client.get(f"/grids/{GRID_A}", params={"at": "2026-03-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422 and naive.json()["details"]["field"] == "at"


def test_history_lists_every_version_oldest_first(client: TestClient, as_user, api_session: Session) -> None:
    _new_grid_version(api_session, GRID_A, "北一网格（新）")
    response = client.get(f"/grids/{GRID_A}/history", headers=as_user("viewer"))
    assert response.status_code == 200
    versions = response.json()["versions"]
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    assert versions[0]["valid_to"] == versions[1]["valid_from"]
    assert versions[1]["reason"] == "renamed for the test" and {"plan_id", "approved_by"} <= set(versions[1])
    assert client.get("/grids/32019900/history", headers=as_user("viewer")).status_code == 422


def test_districts_and_the_facility_catalogue(client: TestClient, as_user) -> None:
    headers = as_user("viewer")
    districts = client.get("/districts", headers=headers).json()
    assert [(d["code"], d["grids"], d["households"]) for d in districts["items"]] == [(town.DISTRICT, 3, 220)]
    x0, y0, x1, y1 = districts["items"][0]["bbox"]
    assert x0 < x1 and 118 < x0 < 120 and 31 < y0 < 33
    types = {t["code"]: t for t in client.get("/facility-types", headers=headers).json()["items"]}
    assert types["kindergarten"]["facilities"] == 2 and types["kindergarten"]["radius_m"] == 300
    kg = client.get("/facilities", params={"type": "kindergarten"}, headers=headers).json()
    assert kg["total"] == 2
    bad = client.get("/facilities", params={"type": "spaceport"}, headers=headers)
    assert bad.status_code == 422 and "spaceport" in bad.json()["message"]


def _point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": list(lonlat(x, y))}


def _network_version(session: Session) -> int:
    return session.execute(text("SELECT network_version FROM district WHERE code = :d"),
                           {"d": town.DISTRICT}).scalar_one()


def test_a_new_facility_is_stored_and_marks_coverage_stale(client: TestClient, as_user,
                                                            api_session: Session) -> None:
    before = _network_version(api_session)
    response = client.post("/facilities", json={"type_code": "elderly_daycare", "name": "北社区日间照料中心",
                                                "geometry": _point(250, 60), "capacity": 40},
                           headers=as_user("facility"))
    assert response.status_code == 201, response.text
    feature = response.json()
    assert response.headers["etag"] == '"1"' and response.headers["location"] == f"/facilities/{feature['id']}"
    assert feature["properties"]["district_code"] == town.DISTRICT
    assert feature["geometry"]["coordinates"] == pytest.approx(list(lonlat(250, 60)), abs=1e-6)
    assert _network_version(api_session) == before + 1
    audit = api_session.execute(text("SELECT action FROM audit_log WHERE entity = 'facility' AND entity_id = :i"),
                                {"i": str(feature["id"])}).scalars().all()
    assert audit == ["create"]


@pytest.mark.parametrize("body, field, words", [
    ({"type_code": "kindergarten", "geometry": _point(2000, 0)}, "geometry", "outside every district"),
    ({"type_code": "kindergarten", "district_code": town.DISTRICT, "geometry": _point(2000, 0)}, "geometry",
     "outside district 320199"),
    ({"type_code": "kindergarten", "geometry": {"type": "Polygon", "coordinates": [[[118.8, 32.0], [118.81, 32.0],
                                                                                   [118.8, 32.01], [118.8, 32.0]]]}},
     "geometry", "Point; got a Polygon"),
    ({"type_code": "kindergarten", "geometry": {"type": "Point", "coordinates": [32.02, 118.84]}}, "geometry",
     "swapped"),
    ({"type_code": "spaceport", "geometry": _point(250, 60)}, "type_code", "not in the facility catalogue"),
])
def test_a_bad_facility_is_refused_naming_the_field(client: TestClient, as_user, body: dict, field: str,
                                                    words: str) -> None:
    response = client.post("/facilities", json=body, headers=as_user("facility"))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["details"]["field"] == field and words in error["message"], error


def test_a_facility_edit_needs_the_current_version(client: TestClient, as_user, world: dict,
                                                   api_session: Session) -> None:
    headers = as_user("facility")
    url = f"/facilities/{world['F2']}"
    moved = client.patch(url, json={"geometry": _point(430, 20), "capacity": 90},
                         headers={**headers, "If-Match": '"1"'})
    assert moved.status_code == 200, moved.text
    assert moved.headers["etag"] == '"2"' and moved.json()["properties"]["capacity"] == 90
    stale = client.patch(url, json={"name": "lost update"}, headers={**headers, "If-Match": '"1"'})
    assert stale.status_code == 409
    assert stale.json()["details"]["current_version"] == 2
    assert client.get(url, headers=headers).json()["properties"]["name"] == "F2幼儿园"
    by_body = client.patch(url, json={"name": "F2幼儿园（新址）", "version": 2}, headers=headers)
    assert by_body.status_code == 200 and by_body.json()["properties"]["version"] == 3
    unversioned = client.patch(url, json={"name": "x"}, headers=headers)
    assert unversioned.status_code == 422 and unversioned.json()["details"]["field"] == "version"
    outside = client.patch(url, json={"geometry": _point(2000, 0)}, headers={**headers, "If-Match": '"3"'})
    assert outside.status_code == 422 and outside.json()["details"]["field"] == "geometry"
    assert client.patch("/facilities/999999", json={"name": "x"},
                        headers={**headers, "If-Match": '"1"'}).status_code == 404
