"""Staffing after a plan, on the real database: the API world's north community merged into one grid.

The world (tests/support/api_world.py): grid A (building N, 120 households; worker_a, leader_a),
grid B (building Q, 60 households; worker_b) in the north community, grid C (building R) in the
south with nobody. A plan of one north grid (150–250 households) keeps code A (most households)
and retires B: worker_b should follow B's 60 households to A.
"""

from __future__ import annotations

import api_world
import coverage_town as town
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, PermissionDenied
from gis.services import partition as partition_service
from gis.services import plans as plan_service
from gis.services import staffing
from gis.services import users as user_service
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings

A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C


@pytest.fixture
def world(db: Session) -> dict:
    return api_world.build_world(db)


def _merge_north(db: Session, world: dict) -> tuple[int, dict]:
    planner = world["users"]["planner"]
    plan = partition_service.suggest_grids(db, Settings(), community_code=town.NORTH, lo=150, hi=250,
                                           created_by=planner)
    adopted = plan_service.adopt_plan(db, plan["plan_id"], reason="合并北社区网格 merge the north grids",
                                      settings=Settings(), user_id=planner, allow_out_of_range=True)
    return plan["plan_id"], adopted


def _assignments(db: Session, username: str) -> list[tuple[str, bool]]:
    return [tuple(r) for r in db.execute(text(
        "SELECT a.grid_code, a.valid_to IS NULL FROM grid_assignment a JOIN app_user u ON u.id = a.user_id "
        "WHERE u.username = :u ORDER BY a.id"), {"u": username}).all()]


def test_a_grid_without_a_worker_is_listed(db: Session, world: dict) -> None:
    report = staffing.unstaffed_grids(db, SYSTEM, district_code=town.DISTRICT)
    assert (report["grids"], report["unstaffed"]) == (3, 1)
    assert [(i["grid_code"], i["workers"], i["leaders"]) for i in report["items"]] == [(C, 0, 0)]
    # A leader alone does not staff a grid: with worker_a gone, A is listed with its one leader.
    user_service.assign_grids(db, world["users"]["worker_a"], [C])
    report = staffing.unstaffed_grids(db, SYSTEM, district_code=town.DISTRICT)
    assert [(i["grid_code"], i["leaders"]) for i in report["items"]] == [(A, 1)]


def test_adopting_a_plan_that_retires_a_grid_proposes_that_its_staff_follow_their_households(
        db: Session, world: dict) -> None:
    plan_id, adopted = _merge_north(db, world)
    assert adopted["retired"] == [B] and [u["code"] for u in adopted["units"]] == [A]
    proposal = adopted["staffing"]
    [grid] = proposal["retired_grids"]
    assert (grid["grid_code"], grid["to_grid"], grid["households"], grid["households_following"], grid["share"],
            grid["staff"]) == (B, A, 60, 60, 1.0, 1)
    [move] = proposal["reassignments"]
    assert (move["username"], move["duty"], move["from_grid"], move["to_grid"], move["already_assigned"]) == \
        ("worker_b", "worker", B, A, False)
    # Nothing moved yet: worker_b still holds the retired code, which scopes them to nothing.
    assert _assignments(db, "worker_b") == [(B, True)]
    assert [i["grid_code"] for i in proposal["unstaffed"]["items"]] == []  # the plan's community: A has worker_a
    assert [i["grid_code"] for i in staffing.unstaffed_grids(db, SYSTEM)["items"]] == [C]
    # The same proposal is there to read later.
    again = staffing.propose_reassignments(db, SYSTEM, plan_id)
    assert again["reassignments"] == proposal["reassignments"]


def test_applying_the_proposal_moves_the_staff_once_and_keeps_the_history(db: Session, world: dict) -> None:
    plan_id, _ = _merge_north(db, world)
    # A's own worker left: A is unstaffed until worker_b follows their households there.
    user_service.assign_grids(db, world["users"]["worker_a"], [C])
    assert [i["grid_code"] for i in staffing.unstaffed_grids(db, SYSTEM)["items"]] == [A]
    admin = Principal(user_id=world["users"]["admin"], username="admin", role="admin", district_code=town.DISTRICT)
    done = staffing.apply_reassignments(db, admin, plan_id)
    assert [(m["username"], m["from_grid"], m["to_grid"]) for m in done["applied"]] == [("worker_b", B, A)]
    assert _assignments(db, "worker_b") == [(B, False), (A, True)]
    assert done["unstaffed"]["items"] == []
    audit = db.execute(text("SELECT username, action, entity, entity_id, detail FROM audit_log "
                            "WHERE action = 'reassign_staff'")).one()
    assert (audit.username, audit.entity, audit.entity_id) == ("admin", "plan", str(plan_id))
    assert audit.detail["moves"][0]["to_grid"] == A
    # worker_b now reads grid A's households; applying again moves nobody.
    principal = user_service.principal_for(db, user_service.get_user(db, world["users"]["worker_b"]))
    assert principal.grid_codes == frozenset({A})
    assert staffing.apply_reassignments(db, admin, plan_id)["applied"] == []
    assert _assignments(db, "worker_b") == [(B, False), (A, True)]


def test_proposals_need_an_adopted_plan_and_the_right_role(db: Session, world: dict) -> None:
    with pytest.raises(Conflict, match="draft: staff are reassigned after a plan is adopted"):
        staffing.propose_reassignments(db, SYSTEM, world["plan"])
    plan_id, _ = _merge_north(db, world)
    worker = Principal(user_id=world["users"]["worker_a"], username="worker_a", role="grid_worker",
                       district_code=town.DISTRICT, grid_codes=frozenset({A}))
    with pytest.raises(PermissionDenied):
        staffing.propose_reassignments(db, worker, plan_id)
    planner = Principal(user_id=world["users"]["planner"], username="planner", role="district_planner",
                        district_code=town.DISTRICT)
    assert len(staffing.propose_reassignments(db, planner, plan_id)["reassignments"]) == 1
    with pytest.raises(PermissionDenied, match="an admin may"):
        staffing.apply_reassignments(db, planner, plan_id)
    assert _assignments(db, "worker_b") == [(B, True)]
