"""Users: argon2 hashes, demo accounts and their refusal in production, principals with grids."""

from __future__ import annotations

import pytest
from helpers import GRID_WKT, ewkt
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput, NotAuthenticated
from gis.services import demo, users


def test_passwords_are_argon2_hashes_and_short_ones_are_refused(db: Session) -> None:
    user = users.create_user(db, username="wang_wu", password="long-enough-1", role="viewer")
    assert user.password_hash.startswith("$argon2id$") and "long-enough-1" not in user.password_hash
    assert users.authenticate(db, "wang_wu", "long-enough-1").id == user.id
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        users.create_user(db, username="short", password="abc", role="viewer")


def test_demo_accounts_get_grids_and_are_refused_in_production(db: Session) -> None:
    db.execute(text("INSERT INTO grid (code, community_code, district_code, name, geom) VALUES "
                    "('320102001001001', '320102001001', '320102', '一网格', ST_GeomFromEWKT(:g))"),
               {"g": ewkt(GRID_WKT)})
    accounts = demo.ensure_demo_users(db)
    assert sorted(a["role"] for a in accounts) == sorted(
        ["admin", "district_planner", "facility_planner", "grid_leader", "grid_worker", "viewer"])
    worker = next(a for a in accounts if a["username"] == "demo_worker")
    assert worker["grids"] == ["320102001001001"]
    assert len(demo.ensure_demo_users(db)) == 6  # idempotent
    assert db.scalar(text("SELECT count(*) FROM app_user WHERE username LIKE 'demo\\_%'")) == 6
    principal = users.principal_for(db, users.authenticate(db, "demo_worker", demo.DEMO_PASSWORD))
    assert principal.grid_codes == frozenset({"320102001001001"}) and principal.is_grid_scoped
    with pytest.raises(NotAuthenticated, match="demo accounts work in demo mode only"):
        users.authenticate(db, "demo_worker", demo.DEMO_PASSWORD, allow_demo_accounts=False)
