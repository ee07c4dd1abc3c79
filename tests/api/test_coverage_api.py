"""Coverage over HTTP on the world's town: kindergartens reach N on foot, not Q (437 m) nor R (843 m)."""

from __future__ import annotations

import coverage_town as town
from api_world import GRID_A, GRID_B, GRID_C
from fastapi.testclient import TestClient


def compute(client: TestClient, headers: dict, **body) -> dict:
    response = client.post("/coverage/runs", json={"district_code": town.DISTRICT, "types": ["kindergarten"], **body},
                           headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/coverage/runs/{response.json()['run_id']}"
    return response.json()


def test_a_run_is_stored_listed_and_summarised_per_unit(client: TestClient, as_user) -> None:
    run = compute(client, as_user("facility"))
    viewer = as_user("viewer")
    listed = client.get("/coverage/runs", params={"district_code": town.DISTRICT}, headers=viewer).json()
    assert [(r["id"], r["stale"], r["created_by"]) for r in listed["items"]] == [(run["run_id"], False, "facility")]
    assert client.get("/coverage/runs", params={"type": "clinic_xyz"}, headers=viewer).json()["total"] == 0
    response = client.get(f"/coverage/runs/{run['run_id']}", headers=viewer)
    assert response.status_code == 200
    report = response.json()
    assert report["mode"] == "network" and report["stale"] is False and report["type_codes"] == ["kindergarten"]
    kg = report["types"]["kindergarten"]
    assert kg["district"]["households"] == 220 and kg["district"]["households_covered"] == 120
    assert kg["headline"].startswith("households 120/220 (55%), target population 2/3")
    grids = {g["grid_code"]: g["households_covered"] for g in kg["grids"]}
    assert grids == {GRID_A: 120, GRID_B: 0, GRID_C: 0}
    communities = {c["community_code"]: (c["households_covered"], c["households"]) for c in kg["communities"]}
    assert communities == {town.NORTH: (120, 180), town.SOUTH: (0, 40)}
    assert report["links"]["gaps_kindergarten"] == f"/coverage/runs/{run['run_id']}/gaps?type=kindergarten"


def test_gaps_are_geojson_of_what_the_walk_leaves_out(client: TestClient, as_user, world: dict) -> None:
    run = compute(client, as_user("facility"))
    response = client.get(f"/coverage/runs/{run['run_id']}/gaps", params={"buildings": True},
                          headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["type_code"] == "kindergarten"
    assert body["uncovered_households"] == 100  # Q 60 + R 40
    gaps = [f for f in body["features"] if f["properties"]["feature"] == "gap"]
    uncovered = [f for f in body["features"] if f["properties"]["feature"] == "uncovered_building"]
    assert gaps and sum(g["properties"]["households"] for g in gaps) == 100
    assert sorted(f["properties"]["building_id"] for f in uncovered) == sorted([world["Q"], world["R"]])
    distance = {f["properties"]["building_id"]: f["properties"]["distance_m"] for f in uncovered}
    assert 300 < distance[world["Q"]] < 600 and distance[world["R"]] is None  # R: beyond twice the radius
    r = next(f for f in uncovered if f["properties"]["building_id"] == world["R"])
    lon, lat = r["geometry"]["coordinates"][0][0][0]
    assert 118 < lon < 120 and 31 < lat < 33
    wrong = client.get(f"/coverage/runs/{run['run_id']}/gaps", params={"type": "clinic"}, headers=as_user("viewer"))
    assert wrong.status_code == 422 and wrong.json()["details"]["field"] == "type"
    assert client.get("/coverage/runs/999999/gaps", headers=as_user("viewer")).status_code == 404


def test_a_facility_edit_makes_the_run_stale(client: TestClient, as_user, world: dict) -> None:
    run = compute(client, as_user("facility"))
    moved = client.patch(f"/facilities/{world['F1']}", json={"name": "F1幼儿园（扩建）", "capacity": 120},
                         headers={**as_user("facility"), "If-Match": '"1"'})
    assert moved.status_code == 200, moved.text
    assert client.get(f"/coverage/runs/{run['run_id']}", headers=as_user("viewer")).json()["stale"] is True


def test_bad_run_requests_answer_at_once(client: TestClient, as_user) -> None:
    headers = as_user("facility")
    unknown = client.post("/coverage/runs", json={"district_code": town.DISTRICT, "types": ["spaceport"]},
                          headers=headers)
    assert unknown.status_code == 422 and unknown.json()["details"]["field"] == "types"
    assert client.post("/coverage/runs", json={"district_code": "320198"}, headers=headers).status_code == 404
    compute(client, headers)
    compute(client, headers, mode="straight_line")
    page = client.get("/coverage/runs", params={"limit": 1}, headers=headers).json()
    assert page["total"] == 2 and page["items"][0]["mode"] == "straight_line" and "offset=1" in page["next"]
    assert client.get("/coverage/runs", params={"mode": "network"}, headers=headers).json()["total"] == 1
    mode = client.post("/coverage/runs", json={"district_code": town.DISTRICT, "mode": "by_helicopter"},
                       headers=headers)
    assert mode.status_code == 422
    assert client.get("/coverage/runs/999999", headers=headers).status_code == 404


def test_siting_suggests_a_place_that_reaches_the_uncovered_children(client: TestClient, as_user) -> None:
    response = client.post("/coverage/site", json={"type_code": "kindergarten", "k": 1,
                                                   "district_code": town.DISTRICT}, headers=as_user("facility"))
    assert response.status_code == 200, response.text
    greedy = response.json()["greedy"]
    assert len(greedy["sites"]) == 1
    assert greedy["target_population_after"] > greedy["target_population_before"] == 2
    bad = client.post("/coverage/site", json={"type_code": "kindergarten", "candidates": [[200.0, 32.0]]},
                      headers=as_user("facility"))
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "candidates.0"


def test_supply_and_cover_all_over_http(client: TestClient, as_user) -> None:
    viewer = as_user("viewer")
    response = client.get("/coverage/supply", params={"district_code": town.DISTRICT, "type_code": "kindergarten"},
                          headers=viewer)
    assert response.status_code == 200, response.text
    rows = response.json()["types"]["kindergarten"]["communities"]
    assert {r["community_code"] for r in rows} == {town.NORTH, town.SOUTH}
    assert client.get("/coverage/supply", params={"level": "grid"}, headers=viewer).status_code == 422
    per_child = client.get("/coverage/supply", params={"district_code": town.DISTRICT, "type_code": "kindergarten",
                                                       "per": "target_group"}, headers=viewer).json()
    assert {r["community_code"]: r["places_needed"] for r in per_child["types"]["kindergarten"]["communities"]} \
        == {town.NORTH: 2, town.SOUTH: 1}
    site = client.post("/coverage/site", json={"type_code": "kindergarten", "cover_all": True,
                                               "district_code": town.DISTRICT}, headers=as_user("facility"))
    assert site.status_code == 200, site.text
    body = site.json()
    assert body["sites_needed"] == 1 and body["sites"][0]["community_code"] == town.SOUTH
    bad = client.post("/coverage/site", json={"type_code": "kindergarten", "cover_all": True, "exact": True,
                                              "district_code": town.DISTRICT}, headers=as_user("facility"))
    assert bad.status_code == 422 and bad.json()["details"]["field"] == "cover_all"
