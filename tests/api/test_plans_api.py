"""Plans over HTTP: suggestions stored as drafts, listing, showing, diffing and adopting them."""

from __future__ import annotations

import coverage_town as town
import pandas as pd
from api_world import GRID_A, GRID_B, GRID_C
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def suggest(client: TestClient, headers: dict, **body) -> dict:
    response = client.post("/plans/grid-suggestions", json={"community_code": town.NORTH, **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_grid_suggestion_for_the_north_community_is_a_stored_draft(client: TestClient, as_user,
                                                                     world: dict) -> None:
    headers = as_user("planner")
    body = suggest(client, headers, min=50, max=150)
    [plan] = body["plans"]
    assert plan["kind"] == "grid_split" and plan["scope_code"] == town.NORTH
    assert sorted(u["households"] for u in plan["units"]) == [60, 120]
    assert {u["status"] for u in plan["units"]} == {"in_range"} and plan["infeasible"] == [] == body["infeasible"]
    assert plan["metrics"]["in_range_share"] == 1.0
    shown = client.get(plan["href"], headers=as_user("viewer"))
    assert shown.status_code == 200 and shown.headers["etag"] == '"1"'
    detail = shown.json()
    assert detail["status"] == "draft" and detail["created_by"] == "planner"
    assert detail["summary"]["units"] == 2 and detail["summary"]["households"] == 180
    geojson = detail["geojson"]
    assert geojson["type"] == "FeatureCollection" and len(geojson["features"]) == 2
    lon, lat = geojson["features"][0]["geometry"]["coordinates"][0][0][0]
    assert 118 < lon < 120 and 31 < lat < 33  # lon/lat order
    listed = client.get("/plans", params={"status": "draft", "scope_code": town.NORTH},
                        headers=as_user("viewer")).json()
    assert [p["id"] for p in listed["items"]] == [plan["plan_id"], world["plan"]] and listed["total"] == 2
    assert listed["items"][0]["href"] == plan["href"]
    paged = client.get("/plans", params={"limit": 1, "offset": 1}, headers=as_user("viewer")).json()
    assert [p["id"] for p in paged["items"]] == [world["plan"]] and paged["next"] is None
    assert client.get("/plans", params={"status": "adopted"}, headers=as_user("viewer")).json()["total"] == 0
    assert client.get("/plans", params={"status": "dreaming"}, headers=as_user("viewer")).status_code == 422


def test_an_infeasible_area_is_listed_not_hidden(client: TestClient, as_user) -> None:
    body = suggest(client, as_user("planner"), min=300, max=500)
    [plan] = body["plans"]
    assert plan["infeasible"], plan["metrics"]
    assert body["infeasible"][0]["plan_id"] == plan["plan_id"]


def test_suggestion_requests_are_checked_before_any_work(client: TestClient, as_user) -> None:
    headers = as_user("planner")
    both = client.post("/plans/grid-suggestions", json={"community_code": town.NORTH, "all": True}, headers=headers)
    assert both.status_code == 422 and both.json()["details"]["field"] == "community_code"
    bounds = client.post("/plans/grid-suggestions", json={"community_code": town.NORTH, "min": 200, "max": 100},
                         headers=headers)
    assert bounds.status_code == 422 and "min must not exceed max" in bounds.json()["message"]
    unknown = client.post("/plans/grid-suggestions", json={"community_code": "320199001009"}, headers=headers)
    assert unknown.status_code == 404
    # Another district is out of the planner's district before it is looked up (issue 23, finding 6).
    no_district = client.post("/plans/grid-suggestions", json={"district_code": "320198"}, headers=headers)
    assert no_district.status_code == 403 and "320198" in no_district.json()["message"]
    bad_code = client.post("/plans/grid-suggestions", json={"community_code": "3201"}, headers=headers)
    assert bad_code.status_code == 422


def test_all_communities_of_the_district_in_one_request(client: TestClient, as_user) -> None:
    response = client.post("/plans/grid-suggestions", json={"district_code": town.DISTRICT, "min": 30, "max": 150},
                           headers=as_user("planner"))
    assert response.status_code == 201, response.text
    plans = response.json()["plans"]
    assert sorted(p["scope_code"] for p in plans) == [town.NORTH, town.SOUTH]
    assert "location" not in response.headers  # several plans: each has its href


def test_a_community_suggestion_for_the_street(client: TestClient, as_user) -> None:
    response = client.post("/plans/community-suggestions", json={"street_code": town.STREET, "min": 30, "max": 200},
                           headers=as_user("planner"))
    assert response.status_code == 201, response.text
    [plan] = response.json()["plans"]
    assert plan["kind"] == "community_redraw" and response.headers["location"] == plan["href"]
    assert sum(u["households"] for u in plan["units"]) == 220


def test_diff_names_the_households_that_change_grid(client: TestClient, as_user, world: dict) -> None:
    headers = as_user("planner")
    two = suggest(client, headers, min=50, max=150)["plans"][0]["plan_id"]
    one = suggest(client, headers, min=150, max=200)["plans"][0]["plan_id"]
    response = client.get(f"/plans/{two}/diff/{one}", headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["a"]["units"] == 2 and diff["b"]["units"] == 1
    assert diff["buildings_moved"] == 1 and diff["households_moved"] == 60
    assert [m["building_id"] for m in diff["moves"]] == [world["Q"]]
    against_current = client.get(f"/plans/{two}/diff/current", headers=headers).json()
    assert against_current["households_moved"] == 0  # the suggestion redraws today's grids A and B
    bad = client.get(f"/plans/{two}/diff/yesterday", headers=headers)
    assert bad.status_code == 422


def test_adopting_writes_new_grid_versions_and_retires_the_old(client: TestClient, as_user,
                                                                api_session: Session) -> None:
    headers = as_user("planner")
    plan_id = suggest(client, headers, min=50, max=150)["plans"][0]["plan_id"]
    missing_reason = client.post(f"/plans/{plan_id}/adopt", json={"reason": ""}, headers=headers)
    assert missing_reason.status_code == 422
    stale = client.post(f"/plans/{plan_id}/adopt", json={"reason": "2026 review"},
                        headers={**headers, "If-Match": '"7"'})
    assert stale.status_code == 409 and stale.json()["details"]["current_version"] == 1
    # The world's grids are far below the default bounds [300, 500]: adopt them as an exception.
    response = client.post(f"/plans/{plan_id}/adopt", json={"reason": "2026 review", "allow_out_of_range": True},
                           headers={**headers, "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    adopted = response.json()
    assert adopted["status"] == "adopted" and response.headers["etag"] == f'"{adopted["version"]}"'
    assert sorted(u["code"] for u in adopted["units"]) == [GRID_A, GRID_B]
    rows = api_session.execute(text("""
        SELECT code, version, valid_to IS NULL AS current, plan_id, reason FROM grid
        WHERE community_code = :c ORDER BY code, version"""), {"c": town.NORTH}).all()
    assert [(r.code, r.version, r.current) for r in rows] == [
        (GRID_A, 1, False), (GRID_A, 2, True), (GRID_B, 1, False), (GRID_B, 2, True)]
    assert {r.plan_id for r in rows if r.current} == {plan_id}
    assert all(r.reason.startswith("2026 review (adopted with 2 grids out of range") for r in rows if r.current)
    approver = api_session.execute(text("SELECT u.username FROM grid g JOIN app_user u ON u.id = g.approved_by "
                                        "WHERE g.code = :c AND g.valid_to IS NULL"), {"c": GRID_A}).scalar()
    assert approver == "planner"
    history = client.get(f"/grids/{GRID_A}/history", headers=headers).json()["versions"]
    assert [(v["version"], v["plan_id"], v["approved_by"]) for v in history] == [(1, None, None),
                                                                                  (2, plan_id, "planner")]
    again = client.post(f"/plans/{plan_id}/adopt", json={"reason": "twice"}, headers=headers)
    assert again.status_code == 409
    assert client.get(f"/grids/{GRID_C}", headers=headers).headers["etag"] == '"1"'  # the south is untouched


def test_a_plan_computed_before_another_was_adopted_is_stale(client: TestClient, as_user) -> None:
    headers = as_user("planner")
    first = suggest(client, headers, min=50, max=150)["plans"][0]["plan_id"]
    second = suggest(client, headers, min=50, max=150, seed=1)["plans"][0]["plan_id"]
    assert client.post(f"/plans/{first}/adopt", json={"reason": "first", "allow_out_of_range": True},
                       headers=headers).status_code == 200
    response = client.post(f"/plans/{second}/adopt", json={"reason": "second", "allow_out_of_range": True},
                           headers=headers)
    assert response.status_code == 409
    assert "stale" in response.json()["message"]


def test_out_of_range_units_are_refused_unless_allowed(client: TestClient, as_user) -> None:
    headers = as_user("planner")
    plan_id = suggest(client, headers, min=150, max=200)["plans"][0]["plan_id"]  # one grid of 180 households
    refused = client.post(f"/plans/{plan_id}/adopt", json={"reason": "merge"}, headers=headers)
    assert refused.status_code == 422
    assert "outside the household bounds [300, 500]" in refused.json()["message"]
    allowed = client.post(f"/plans/{plan_id}/adopt", json={"reason": "merge", "allow_out_of_range": True},
                          headers=headers)
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["retired"] and "out of range" in allowed.json()["reason"]


def test_a_plan_that_does_not_tile_its_community_is_refused_naming_why(client: TestClient, as_user, world: dict,
                                                                        api_session: Session) -> None:
    from gis.db.frames import read_frame
    from gis.services.plans import store_plan

    grid_a = read_frame(api_session, "SELECT ST_AsBinary(geom) AS geom FROM grid WHERE code = :c AND valid_to IS NULL",
                        {"c": GRID_A})
    units = grid_a.assign(label="G01", kind="general", locked=False, households=120, parent_code=town.NORTH,
                          code=None)[["label", "kind", "locked", "households", "parent_code", "code", "geometry"]]
    plan_id = store_plan(api_session, kind="manual_edit", scope_code=town.NORTH, district_code=town.DISTRICT,
                         units=units, assignment=pd.DataFrame({"building_id": [world["N"]], "label": ["G01"]}),
                         parameters={}, metrics={})
    api_session.flush()
    response = client.post(f"/plans/{plan_id}/adopt", json={"reason": "half a community",
                                                            "allow_out_of_range": True}, headers=as_user("planner"))
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["error"] == "invalid_geometry"
    assert "fail the boundary check against community 320199001001" in error["message"]
    assert error["details"]["findings"]
