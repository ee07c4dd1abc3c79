"""Map search and unit cards (GET /search, GET /units/{code}) on the API world: units by code and name,
buildings and standard addresses by address, within the caller's district; a unit's 四至, households, staff
(public phone only) and history. Neither returns anything personal."""

from __future__ import annotations

import api_world
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_search_finds_units_by_code_and_name_and_buildings_by_address(client: TestClient, as_user,
                                                                      api_session: Session) -> None:
    headers = as_user("viewer")
    by_code = client.get("/search", params={"q": api_world.GRID_A[:12]}, headers=headers).json()["items"]
    assert [(h["kind"], h["code"], h["match"]) for h in by_code] == [
        ("community", api_world.GRID_A[:12], "code"), ("grid", api_world.GRID_A, "code"),
        ("grid", api_world.GRID_B, "code")]
    by_name = client.get("/search", params={"q": "北二"}, headers=headers).json()["items"]
    assert [(h["kind"], h["code"], h["name"]) for h in by_name] == [("grid", api_world.GRID_B, "北二网格")]
    building = api_session.execute(text("UPDATE building SET address = '玉带河路 9 号' WHERE name = 'Q' "
                                        "RETURNING id, district_code")).one()
    api_session.execute(text("INSERT INTO standard_address (district_code, address, address_key, building_id, match) "
                             "VALUES (:d, '玉带河路 9 号 1 单元', 'k', :b, 'building_id')"),
                        {"d": building.district_code, "b": building.id})
    found = client.get("/search", params={"q": "玉带河路 9"}, headers=headers).json()["items"]
    assert [(h["kind"], h["building_id"], h["match"]) for h in found] == [
        ("building", building.id, "address"), ("address", building.id, "address")]
    assert all(-180 <= h["lon"] <= 180 and -90 <= h["lat"] <= 90 for h in found)
    # A wildcard is a character like any other, and a blank query is refused naming the field.
    assert client.get("/search", params={"q": "%"}, headers=headers).json()["items"] == []
    blank = client.get("/search", params={"q": "  "}, headers=headers)
    assert blank.status_code == 422 and "q" in blank.json()["message"]


def test_unit_card_gives_four_limits_households_staff_and_history(client: TestClient, as_user,
                                                                  api_session: Session) -> None:
    api_session.execute(text("UPDATE grid_assignment SET public_phone = '025-0000 0001'"))
    card = client.get(f"/units/{api_world.GRID_A}", headers=as_user("viewer")).json()
    households = api_session.execute(text("""
        SELECT COALESCE(sum(b.households), 0)
        FROM grid g JOIN building b ON ST_Contains(g.geom, ST_PointOnSurface(b.geom))
        WHERE g.code = :c AND g.valid_to IS NULL"""), {"c": api_world.GRID_A}).scalar_one()
    assert card["level"] == "grid" and card["households"] == households
    assert {(s["name"], s["duty"], s["public_phone"]) for s in card["staff"]} == {
        ("leader_a", "leader", "025-0000 0001"), ("worker_a", "worker", "025-0000 0001")}
    assert [v["version"] for v in card["history"]] == [1] and card["history"][0]["current"]
    community = client.get(f"/units/{api_world.GRID_A[:12]}", headers=as_user("viewer")).json()
    assert community["level"] == "community" and community["grids"] == 2
    assert {s["grid_code"] for s in community["staff"]} == {api_world.GRID_A, api_world.GRID_B}
    bad = client.get("/units/123", headers=as_user("viewer"))
    assert bad.status_code == 422 and "code" in bad.json()["message"]
    missing = client.get("/units/320199009009", headers=as_user("viewer"))
    assert missing.status_code == 404
