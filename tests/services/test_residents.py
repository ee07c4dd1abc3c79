"""The residents and cases services without HTTP: what the CLI gets is just as scoped, masked and audited."""

from __future__ import annotations

import datetime as dt

import api_world
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, NotFound, PermissionDenied
from gis.services import cases as case_service
from gis.services import residents as resident_service
from gis.services.residents import Reader
from gis.services.users import Principal, get_user_by_name, principal_for


@pytest.fixture
def world(db: Session) -> dict:
    return api_world.build_world(db)


def reader(db: Session, username: str) -> Reader:
    return Reader(principal=principal_for(db, get_user_by_name(db, username)), reason="test")


def audit_count(db: Session) -> int:
    return db.execute(text("SELECT count(*) FROM audit_log")).scalar_one()


@pytest.mark.parametrize("role", ["district_planner", "facility_planner", "viewer"])
def test_roles_without_personal_access_are_refused_by_the_services_themselves(db: Session, world: dict,
                                                                              role: str) -> None:
    someone = Reader(principal=Principal(user_id=world["users"]["viewer"], username="x", role=role,
                                         district_code="320199"))
    calls = [
        lambda: resident_service.list_residents(db, someone),
        lambda: resident_service.residents_geojson(db, someone),
        lambda: resident_service.export_residents_csv(db, someone),
        lambda: resident_service.get_resident(db, someone, world["residents"]["N"][0]),
        lambda: resident_service.update_resident(db, someone, world["residents"]["N"][0], expected_version=1,
                                                 changes={"tags": []}),
        lambda: resident_service.list_households(db, someone),
        lambda: resident_service.get_household(db, someone, world["households"]["N"]),
        lambda: resident_service.building_residents(db, someone, world["N"]),
        lambda: case_service.list_patrols(db, someone, retention_days=180),
        lambda: case_service.get_patrol(db, someone, world["patrols"]["worker_a"], retention_days=180),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert audit_count(db) == 0


def test_a_worker_principal_reads_only_their_grid_and_each_read_is_one_audit_row(db: Session, world: dict) -> None:
    worker = reader(db, "worker_a")
    page = resident_service.list_residents(db, worker, min_age=0)
    assert [r["id"] for r in page["items"]] == world["residents"]["N"] and page["total"] == 3
    assert page["items"][0]["id_number"] == "320102********000X"
    body, count = resident_service.export_residents_csv(db, worker, grid_code=api_world.GRID_B)
    assert count == 0 and body.count("\r\n") == 1  # the header alone
    with pytest.raises(NotFound):
        resident_service.get_resident(db, worker, world["residents"]["R"][0])
    rows = db.execute(text("SELECT action, entity, reason, detail FROM audit_log ORDER BY id")).all()
    assert [(r.action, r.entity, r.reason) for r in rows] == [("list", "resident", "test")]
    assert rows[0].detail["filters"] == {"min_age": 0}


def test_two_edits_from_the_same_version_one_wins(db: Session, world: dict) -> None:
    resident = world["residents"]["Q"][1]
    worker = reader(db, "worker_b")
    done = resident_service.update_resident(db, worker, resident, expected_version=1,
                                            changes={"tags": ["elderly_alone", "disabled"]})
    assert done["version"] == 2 and done["tags"] == ["disabled", "elderly_alone"]
    with pytest.raises(Conflict) as stale:
        resident_service.update_resident(db, reader(db, "admin"), resident, expected_version=1,
                                         changes={"tags": []})
    assert stale.value.details == {"current_version": 2}
    assert db.execute(text("SELECT tags FROM resident_private WHERE resident_id = :r"),
                      {"r": resident}).scalar_one() == ["disabled", "elderly_alone"]


def test_a_resident_without_private_data_gets_a_row_on_first_edit(db: Session, world: dict) -> None:
    resident = world["residents"]["R"][0]
    db.execute(text("DELETE FROM resident_private WHERE resident_id = :r"), {"r": resident})
    admin = reader(db, "admin")
    assert resident_service.get_resident(db, admin, resident)["phone"] is None
    done = resident_service.update_resident(db, admin, resident, expected_version=1,
                                            changes={"phone": "025 8888 1234"})
    assert done["phone"] == "025****1234"


def test_grid_stats_and_retention_through_the_services(db: Session, world: dict) -> None:
    stats = {g["grid_code"]: g for g in resident_service.grid_stats(db, reader(db, "viewer").principal)}
    assert [stats[g]["residents"] for g in (api_world.GRID_A, api_world.GRID_B, api_world.GRID_C)] == [3, 2, 2]
    worker = reader(db, "worker_a")
    patrol = world["patrols"]["worker_a"]
    # The world's patrol started two days ago: a one-day retention hides it, a three-day one keeps it.
    assert case_service.list_patrols(db, worker, retention_days=1)["items"] == []
    with pytest.raises(NotFound):
        case_service.get_patrol(db, worker, patrol, retention_days=1)
    assert [p["id"] for p in case_service.list_patrols(db, worker, retention_days=3)["items"]] == [patrol]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    assert case_service.list_patrols(db, worker, retention_days=3, now=later)["items"] == []
