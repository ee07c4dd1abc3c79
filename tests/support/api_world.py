"""The API tests' world: the coverage town (district 320199) with grids, private data and one user per role.

Grids (lon/lat from the town's metric frame)::

    north community 320199001001:  grid A 320199001001001 (x < 400: building N)
                                   grid B 320199001001002 (x >= 400: building Q, in a compound)
    south community 320199001002:  grid C 320199001002001 (building R)

``leader_a`` and ``worker_a`` hold grid A, ``worker_b`` grid B. Every password is PASSWORD.
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

import coverage_town as town
from gis.services import users as user_service

PASSWORD = "test-password-1"
SECRET = "test-secret-key-for-the-api-tests-only-0123456789"
GRID_A, GRID_B, GRID_C = "320199001001001", "320199001001002", "320199001002001"
USERS = {  # username: (role, grids)
    "admin": ("admin", []),
    "planner": ("district_planner", []),
    "facility": ("facility_planner", []),
    "leader_a": ("grid_leader", [GRID_A]),
    "worker_a": ("grid_worker", [GRID_A]),
    "worker_b": ("grid_worker", [GRID_B]),
    "viewer": ("viewer", []),
}
# One user per role, for walking the access matrix.
ROLE_USERS = {"admin": "admin", "district_planner": "planner", "facility_planner": "facility",
              "grid_leader": "leader_a", "grid_worker": "worker_a", "viewer": "viewer"}


def build_world(session: Session) -> dict[str, Any]:
    """Write the town, its grids, residents' private data and the users; returns the ids tests need."""
    ids = town.store_town(session, residents=True)
    x0, y0 = town.X0, town.Y0
    grids = {
        GRID_A: (town.NORTH, "北一网格", box(x0 - 100, y0 - 100, x0 + 400, y0 + 300)),
        GRID_B: (town.NORTH, "北二网格", box(x0 + 400, y0 - 100, x0 + 700, y0 + 300)),
        GRID_C: (town.SOUTH, "南一网格", box(x0 - 100, y0 - 300, x0 + 700, y0 - 100)),
    }
    lonlat = town._lonlat([g for _c, _n, g in grids.values()])
    for (code, (community, name, _g)), geom in zip(grids.items(), lonlat, strict=True):
        session.execute(text("INSERT INTO grid (code, community_code, district_code, name, geom) VALUES "
                             "(:c, :p, :d, :n, ST_GeomFromEWKT(:g))"),
                        {"c": code, "p": community, "d": town.DISTRICT, "n": name, "g": town._ewkt(geom, True)})
    # Q's retired couple also live in grid B; give everyone private data to mask.
    residents = session.execute(text("SELECT r.id, b.name FROM resident r JOIN building b ON b.id = r.building_id "
                                     "ORDER BY r.id")).all()
    for i, (rid, building) in enumerate(residents):
        session.execute(text("INSERT INTO resident_private (resident_id, district_code, id_number, phone, tags) "
                             "VALUES (:r, :d, :i, :p, :t)"),
                        {"r": rid, "d": town.DISTRICT, "i": f"32010219800101{i:03d}X", "p": f"1380000{i:04d}",
                         "t": ["elderly_alone"] if building == "Q" else []})
    user_ids = {}
    for username, (role, grid_codes) in USERS.items():
        user = user_service.create_user(session, username=username, password=PASSWORD, role=role,
                                        district_code=town.DISTRICT)
        if grid_codes:
            user_service.assign_grids(session, user.id, grid_codes)
        user_ids[username] = user.id
    session.flush()
    return {**ids, "users": user_ids, "residents": {b: [r for r, bb in residents if bb == b] for b in "NQR"}}
