"""Level-2 grids through the API on the real database: suggested, shown, adopted, their heads."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from api_world import GRID_A, GRID_C
from fastapi.testclient import TestClient


def test_a_planner_splits_a_grid_and_field_staff_record_its_heads(client: TestClient, as_user: Callable,
                                                                  world: dict) -> None:
    quality = client.get("/stats/grids", params={"district_code": town.DISTRICT},
                         headers=as_user("planner")).json()["communities"]
    made = client.post("/plans/micro-suggestions", json={"grid_code": GRID_A, "max": 100},
                       headers=as_user("planner"))
    assert made.status_code == 201, made.text
    plan = made.json()
    assert plan["kind"] == "micro_split" and plan["units"]
    shown = client.get(f"/plans/{plan['plan_id']}", headers=as_user("viewer")).json()
    assert shown["level"] == "level-2 grid" and shown["bounds"] == {"min": 1, "max": 100}
    adopted = client.post(f"/plans/{plan['plan_id']}/adopt", headers={**as_user("planner"), "If-Match": '"1"'},
                          json={"reason": "微网格"})
    assert adopted.status_code == 200, adopted.text
    micro = adopted.json()["units"][0]["code"]
    answer = client.get("/stats/grids", params={"district_code": town.DISTRICT}, headers=as_user("planner")).json()
    stats = {g["grid_code"]: g for g in answer["items"]}
    assert (stats[micro]["level"], stats[micro]["parent_grid_code"]) == (2, GRID_A)
    assert answer["communities"] == quality  # a level-2 grid's buildings are not counted twice
    building = client.get(f"/buildings/{world['N']}", headers=as_user("viewer")).json()
    assert building["properties"]["grid_code"] == GRID_A  # a building's grid is its level-1 grid

    # worker_a holds grid A, so its level-2 grids too; worker_b does not.
    head = {"role": "unit_head", "name": "赵敏", "phone": "13900001111", "unit": "2单元"}
    assert client.post(f"/grids/{micro}/contacts", json=head, headers=as_user("worker_b")).status_code == 403
    added = client.post(f"/grids/{micro}/contacts", json=head, headers=as_user("worker_a"))
    assert added.status_code == 201, added.text
    listed = client.get(f"/grids/{GRID_A}/contacts", headers=as_user("leader_a")).json()["items"]
    assert [(c["name"], c["role_zh"], c["phone_masked"], c["unit"]) for c in listed] == [
        ("赵敏", "单元长", "139****1111", "2单元")]
    assert client.get(f"/grids/{micro}/contacts", headers=as_user("worker_b")).status_code == 403
    client.headers.pop("X-Access-Reason")
    assert client.get(f"/grids/{micro}/contacts", headers=as_user("leader_a")).status_code == 428


def test_a_planner_of_another_district_may_not_split(client: TestClient, as_user: Callable) -> None:
    refused = client.post("/plans/micro-suggestions", json={"grid_code": "110101001001001"},
                          headers=as_user("planner"))
    assert refused.status_code == 403, refused.text
    assert client.post("/plans/micro-suggestions", json={"grid_code": GRID_C},
                       headers=as_user("viewer")).status_code == 403

