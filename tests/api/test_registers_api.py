"""What the registers change at the HTTP edge: /stats/grids carries data quality, and residents stay masked."""

from __future__ import annotations

import api_world
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_stats_grids_carry_data_quality_per_grid_and_per_community(client: TestClient, as_user,
                                                                    api_session: Session) -> None:
    body = client.get("/stats/grids", headers=as_user("viewer")).json()
    grid_a = next(g for g in body["items"] if g["grid_code"] == api_world.GRID_A)
    assert set(grid_a["data_quality"]) == {"households_recorded", "households_estimated", "recorded_share",
                                           "residents_per_household", "unmatched_addresses"}
    quality = grid_a["data_quality"]
    assert quality["households_recorded"] + quality["households_estimated"] == grid_a["building_households"] == 120
    sources = set(api_session.execute(text("SELECT households_source FROM building WHERE households > 0")).scalars())
    assert sources == {"recorded"} and quality["recorded_share"] == 1.0  # the test world's counts are recorded
    assert grid_a["data_quality"]["residents_per_household"] == 3.0  # three residents, one household
    assert set(body["communities"]) == {g["community_code"] for g in body["items"]}


def test_every_resident_route_shows_masked_numbers_only(client: TestClient, as_user, api_session: Session) -> None:
    stored = api_session.execute(text("SELECT id_number, id_number_masked FROM resident_private")).all()
    assert stored and all(s.id_number.startswith("wg1.") for s in stored)
    headers = as_user("admin")
    listed = client.get("/residents", params={"limit": 100}, headers=headers).json()["items"]
    assert {r["id_number"] for r in listed} <= {s.id_number_masked for s in stored}
    assert all(len(r["id_number"]) == 18 and "********" in r["id_number"] for r in listed)
    one = client.get(f"/residents/{listed[0]['id']}", headers=headers).json()
    assert one["id_number"] == listed[0]["id_number"]
    export = client.get("/residents/export", headers=headers)
    assert export.status_code == 200 and not any(s.id_number in export.text for s in stored)
