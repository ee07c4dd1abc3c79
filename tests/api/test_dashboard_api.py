"""GET /stats/case-status: a district's cases by status, in total and per grid; counts only, district-scoped."""

from __future__ import annotations

import api_world
import coverage_town as town
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_cases_by_status_per_grid_match_the_stored_cases(client: TestClient, as_user, api_session: Session,
                                                         world: dict) -> None:
    ids = api_world.add_incidents(api_session, world["users"])
    # Grid B's case is registered; one case reported outside every current grid (a grid since redrawn away).
    api_session.execute(text("UPDATE incident SET status = 'registered' WHERE id = :i"), {"i": ids["B"]})
    api_session.execute(text("UPDATE incident SET grid_code = '999999999999999', status = 'closed' WHERE id = :i"),
                        {"i": ids["C"]})
    expected = dict(api_session.execute(text("SELECT status, count(*) FROM incident WHERE district_code = :d "
                                             "GROUP BY status"), {"d": town.DISTRICT}).all())
    answer = client.get("/stats/case-status", headers=as_user("viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["district_code"] == town.DISTRICT
    assert body["statuses"] == expected and body["total"] == sum(expected.values())
    assert body["open"] == sum(n for s, n in expected.items() if s != "closed")
    assert body["outside_grids"] == 1
    per_grid = {g["grid_code"]: g["statuses"] for g in body["grids"]}
    assert per_grid[api_world.GRID_A] == {"reported": 1}
    assert per_grid[api_world.GRID_B] == {"registered": 1}
    assert "999999999999999" not in per_grid
    # Counts name no case and no person.
    assert set(body["grids"][0]) == {"grid_code", "grid_name", "community_code", "statuses", "open", "total"}


def test_another_district_is_refused_naming_it(client: TestClient, as_user) -> None:
    answer = client.get("/stats/case-status", params={"district_code": "110101"}, headers=as_user("planner"))
    assert answer.status_code == 403
    assert answer.json()["details"] == {"district_code": "110101"}
    bad = client.get("/stats/case-status", params={"district_code": "32"}, headers=as_user("planner"))
    assert bad.status_code == 422 and "district_code" in bad.text


def test_dispatch_list_names_the_grids_staff_within_scope(client: TestClient, as_user, world: dict) -> None:
    mine = client.get(f"/grids/{api_world.GRID_A}/staff", headers=as_user("leader_a"))
    assert mine.status_code == 200, mine.text
    staff = {(s["username"], s["role"], s["duty"], s["user_id"]) for s in mine.json()["items"]}
    assert staff == {("leader_a", "grid_leader", "leader", world["users"]["leader_a"]),
                     ("worker_a", "grid_worker", "worker", world["users"]["worker_a"])}
    assert client.get(f"/grids/{api_world.GRID_B}/staff", headers=as_user("admin")).json()["items"][0]["username"] \
        == "worker_b"
    # Another grid answers as a missing one does: the leader of grid A learns nothing of grid B's staff.
    other = client.get(f"/grids/{api_world.GRID_B}/staff", headers=as_user("leader_a"))
    missing = client.get("/grids/320199999999999/staff", headers=as_user("leader_a"))
    assert other.status_code == missing.status_code == 404
    assert other.json()["details"] == {"field": "grid_code"}
