"""Departments as a service: created with the categories the city's table gives their name, staff and community
officers scoped, and bad requests refused naming the field, with nothing written."""

from __future__ import annotations

import api_world
import coverage_town as town
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gis.services import departments as department_service
from gis.services import users as user_service
from gis.services.users import SYSTEM, Principal
from gis.settings import Settings

SETTINGS = Settings(database_url=None)
ADMIN = Principal(user_id=0, username="district_admin", role="admin", district_code=town.DISTRICT)


@pytest.fixture
def world(db: Session) -> dict:
    ids = api_world.build_world(db)
    with api_world.password_hashed_once():  # argon2 by design takes long: hashed once per process
        for name, role in [("dept_a", "department_staff"), ("dept_b", "department_staff"),
                           ("comm", "community_officer")]:
            ids["users"][name] = user_service.create_user(db, username=name, password=api_world.PASSWORD,
                                                          role=role, district_code=town.DISTRICT).id
    return ids


def count(db: Session, table: str) -> int:
    return db.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_a_department_takes_its_categories_from_the_city_table_and_its_staff(db: Session, world: dict) -> None:
    made = department_service.create_department(db, ADMIN, settings=SETTINGS, name="司法所", kind="functional",
                                                staff=[world["users"]["dept_a"]])
    assert made.categories == ["S0101", "S0102"] and made.district_code == town.DISTRICT
    assert [s["username"] for s in made.staff] == ["dept_a"]
    assert db.execute(text("SELECT department_id FROM app_user WHERE id = :u"),
                      {"u": world["users"]["dept_a"]}).scalar_one() == made.id
    # Replacing the staff moves dept_a out, dept_b in.
    again = department_service.set_staff(db, ADMIN, made.id, [world["users"]["dept_b"]])
    assert [s["username"] for s in again.staff] == ["dept_b"]
    assert db.execute(text("SELECT department_id FROM app_user WHERE id = :u"),
                      {"u": world["users"]["dept_a"]}).scalar_one() is None
    # Others see the office, not who works there.
    viewer = Principal(user_id=world["users"]["viewer"], username="viewer", role="viewer",
                       district_code=town.DISTRICT)
    (seen,) = department_service.list_departments(db, viewer)
    assert (seen.name, seen.staff, seen.staff_count) == ("司法所", None, 1)
    own = Principal(user_id=world["users"]["dept_b"], username="dept_b", role="department_staff",
                    district_code=town.DISTRICT)
    assert department_service.get_department(db, own, made.id).staff is not None


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"name": "某办", "kind": "bureau"}, InvalidInput, "kind 'bureau'"),
    ({"name": " ", "kind": "member"}, InvalidInput, "name: 1 to 100"),
    ({"name": "某办", "kind": "member", "categories": ["E0101", "Z9"]}, InvalidInput, "categories: Z9"),
    ({"name": "某办", "kind": "member", "street_code": "320288001"}, InvalidInput, "street_code"),
    ({"name": "某办", "kind": "member", "district_code": "320288"}, PermissionDenied, "district 320288"),
    ({"name": "环卫所", "kind": "functional"}, Conflict, "already has a department named '环卫所'"),
])
def test_bad_departments_are_refused_naming_the_field_and_nothing_is_written(db: Session, world: dict, kwargs: dict,
                                                                             error: type, words: str) -> None:
    department_service.create_department(db, ADMIN, settings=SETTINGS, name="环卫所", kind="functional")
    before = (count(db, "department"), count(db, "department_category"))
    with pytest.raises(error, match=words):
        with db.begin_nested():
            department_service.create_department(db, ADMIN, settings=SETTINGS, **kwargs)
    assert (count(db, "department"), count(db, "department_category")) == before


def test_staff_must_be_department_staff_of_the_district_and_officers_get_one_community(db: Session,
                                                                                      world: dict) -> None:
    made = department_service.create_department(db, SYSTEM, settings=SETTINGS, name="水务所", kind="functional",
                                                district_code=town.DISTRICT)
    with pytest.raises(InvalidInput, match="worker_a is a grid_worker"):
        department_service.set_staff(db, ADMIN, made.id, [world["users"]["worker_a"]])
    with pytest.raises(NotFound, match="user 999999"):
        department_service.set_staff(db, ADMIN, made.id, [999999])
    done = department_service.set_community(db, world["users"]["comm"], town.NORTH)
    assert done["community_code"] == town.NORTH
    with pytest.raises(InvalidInput, match="12-digit community of the user's district"):
        department_service.set_community(db, world["users"]["comm"], "320288001001")
    with pytest.raises(InvalidInput, match="only community officers"):
        department_service.set_community(db, world["users"]["worker_a"], town.NORTH)
    with pytest.raises(NotFound):
        department_service.get_department(db, Principal(user_id=1, username="x", role="viewer",
                                                        district_code="320288"), made.id)
