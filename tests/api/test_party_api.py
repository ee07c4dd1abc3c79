"""Party organisation through the API on the real database: written orgs in /stats/grids, the seed checks."""

from __future__ import annotations

from collections.abc import Callable

import coverage_town as town
from api_world import GRID_A, GRID_B, GRID_C
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def _members(session: Session, building_id: int, *, full: int, probationary: int = 0) -> None:
    """Make the building's residents non-members, then add this many full and probationary members."""
    household = session.execute(text("SELECT id FROM household WHERE building_id = :b ORDER BY id LIMIT 1"),
                                {"b": building_id}).scalar_one()
    session.execute(text("UPDATE resident SET party_member = false, party_probationary = false "
                         "WHERE building_id = :b"), {"b": building_id})
    for i in range(full + probationary):
        session.execute(text("""
            INSERT INTO resident (district_code, household_id, building_id, name, sex, party_member,
                                  party_probationary)
            VALUES (:d, :h, :b, :n, 'F', true, :p)"""),
            {"d": town.DISTRICT, "h": household, "b": building_id, "n": f"党员{i}", "p": i >= full})
    session.flush()


def _stats(client: TestClient, as_user: Callable) -> dict[str, dict]:
    response = client.get("/stats/grids", params={"district_code": town.DISTRICT}, headers=as_user("planner"))
    assert response.status_code == 200, response.text
    return {g["grid_code"]: g for g in response.json()["items"]}


def test_written_orgs_appear_in_grid_stats(client: TestClient, as_user: Callable, world: dict) -> None:
    before = _stats(client, as_user)
    assert {c: g["party_orgs"] for c, g in before.items()} == {GRID_A: 0, GRID_B: 0, GRID_C: 0}
    assert {(g["level"], g["parent_grid_code"]) for g in before.values()} == {(1, None)}
    branch = client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_A},
                         headers=as_user("leader_a"))
    assert branch.status_code == 201, branch.text
    assert branch.json()["kind_zh"] == "网格党支部" and branch.json()["grid_code"] == GRID_A
    group = client.post("/party/orgs", json={"kind": "building_group", "building_id": world["N"]},
                        headers=as_user("admin"))
    assert group.status_code == 201, group.text
    assert group.json()["grid_code"] == GRID_A  # building N lies in grid A
    other = client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_C}, headers=as_user("admin"))
    assert other.status_code == 201, other.text
    assert {c: g["party_orgs"] for c, g in _stats(client, as_user).items()} == {GRID_A: 2, GRID_B: 0, GRID_C: 1}
    listed = client.get("/party/orgs", headers=as_user("viewer")).json()["items"]
    assert sorted((o["grid_code"], o["kind"]) for o in listed) == [
        (GRID_A, "building_group"), (GRID_A, "grid_branch"), (GRID_C, "grid_branch")]
    # A second branch in one grid is refused; dissolving one takes it out of the figures.
    again = client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_A}, headers=as_user("admin"))
    assert again.status_code == 409, again.text
    assert again.json()["message"] == f"网格 {GRID_A} 已有党支部 · grid {GRID_A} already has a party branch"
    assert client.delete(f"/party/orgs/{other.json()['id']}", headers=as_user("admin")).status_code == 200
    assert _stats(client, as_user)[GRID_C]["party_orgs"] == 0


def test_a_grid_leader_writes_only_in_their_grids(client: TestClient, as_user: Callable) -> None:
    refused = client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_B},
                          headers=as_user("leader_a"))
    assert refused.status_code == 403, refused.text
    assert client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_B},
                       headers=as_user("viewer")).status_code == 403


def test_the_checks_report_exactly_the_seeded_faults(client: TestClient, as_user: Callable, api_session: Session,
                                                      world: dict) -> None:
    for building in ("N", "Q", "R"):
        _members(api_session, world[building], full=0)
    empty = client.get("/party/check", params={"district_code": town.DISTRICT}, headers=as_user("viewer")).json()
    assert [(f["grid_code"], f["kind"]) for f in empty["findings"]] == [
        (GRID_A, "no_branch"), (GRID_B, "no_branch"), (GRID_C, "no_branch")]

    _members(api_session, world["N"], full=3)                   # grid A: a sound branch
    _members(api_session, world["Q"], full=2, probationary=2)   # grid B: a branch with 2 full members
    _members(api_session, world["R"], full=1, probationary=1)   # grid C: members but no branch
    for grid in (GRID_A, GRID_B):
        assert client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": grid},
                           headers=as_user("admin")).status_code == 201
    report = client.get("/party/check", params={"district_code": town.DISTRICT}, headers=as_user("viewer")).json()
    assert [(f["grid_code"], f["kind"], f["members"], f["full_members"]) for f in report["findings"]] == [
        (GRID_B, "branch_too_small", 4, 2), (GRID_C, "members_without_branch_too_few", 2, 1)]
    assert report["findings_by_kind"] == {"branch_too_small": 1, "members_without_branch_too_few": 1}
    assert report["branches"] == 2 and not report["clean"]
    too_small = report["findings"][0]
    assert too_small["reason_text_zh"] == "网格党支部正式党员2名，少于3名，不符合成立党支部的条件"
    assert too_small["reason_text"] == "the grid's party branch has 2 full members, fewer than the 3 a branch needs"

    # Three full members in grid C: now it should set up a branch of its own.
    _members(api_session, world["R"], full=3)
    report = client.get("/party/check", params={"district_code": town.DISTRICT}, headers=as_user("admin")).json()
    assert [(f["grid_code"], f["kind"]) for f in report["findings"]] == [
        (GRID_B, "branch_too_small"), (GRID_C, "members_without_branch")]
    stats = _stats(client, as_user)
    assert (stats[GRID_A]["party_members"], stats[GRID_B]["party_members"], stats[GRID_C]["party_members"]) == (3, 4, 3)


def test_a_secretary_must_be_a_full_member_of_the_grid(client: TestClient, as_user: Callable, api_session: Session,
                                                       world: dict) -> None:
    _members(api_session, world["N"], full=1, probationary=1)
    full, probationary = api_session.execute(text(
        "SELECT id FROM resident WHERE building_id = :b AND party_member ORDER BY party_probationary"),
        {"b": world["N"]}).scalars().all()
    body = {"kind": "grid_branch", "grid_code": GRID_A}
    assert client.post("/party/orgs", json={**body, "secretary_id": probationary},
                       headers=as_user("admin")).status_code == 422
    assert client.post("/party/orgs", json={"kind": "grid_branch", "grid_code": GRID_C, "secretary_id": full},
                       headers=as_user("admin")).status_code == 422  # lives in grid A
    made = client.post("/party/orgs", json={**body, "secretary_id": full}, headers=as_user("admin"))
    assert made.status_code == 201 and made.json()["secretary_id"] == full
    # Who the secretary is shows a membership: not to a viewer.
    seen = client.get("/party/orgs", params={"grid_code": GRID_A}, headers=as_user("viewer")).json()["items"]
    assert seen[0]["secretary_id"] is None
