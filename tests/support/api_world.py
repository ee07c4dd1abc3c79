"""The API tests' world: the coverage town (district 320199) with grids, private data and one user per role.

Grids (lon/lat from the town's metric frame)::

    north community 320199001001:  grid A 320199001001001 (x < 400: building N)
                                   grid B 320199001001002 (x >= 400: building Q, in a compound)
    south community 320199001002:  grid C 320199001002001 (building R)

``leader_a`` and ``worker_a`` hold grid A, ``worker_b`` grid B. Every password is PASSWORD.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import coverage_town as town
from helpers import ID_KEY
from shapely.geometry import box
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import privacy
from gis.services import users as user_service
from gis.settings import Settings

PASSWORD = "test-password-1"
SECRET = "test-secret-key-for-the-api-tests-only-0123456789"
# What the test clients send as X-Access-Reason by default (percent-encoded, as the web app sends it).
ACCESS_REASON = "自动化测试 automated test"
REASON_HEADER = {"X-Access-Reason": quote(ACCESS_REASON)}
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


_HASHES: dict[str, str] = {}


@contextmanager
def password_hashed_once() -> Iterator[None]:
    """Users created meanwhile get one argon2id hash per password, computed once per process.

    An argon2 hash costs a tenth of a second or more by design, and dozens of tests create users:
    seven hashes per world built added up to minutes of the suite. The hash is still the app's own,
    so signing in still verifies it; tests/services/test_users.py covers the hashing itself.
    """
    real = user_service.hash_password

    def once(password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = real(password)
        return _HASHES[password]

    user_service.hash_password = once  # type: ignore[assignment]
    try:
        yield
    finally:
        user_service.hash_password = real  # type: ignore[assignment]


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
    keys = privacy.id_keys(Settings(id_key=ID_KEY))  # stored as the app stores them: ciphertext, hash, mask
    for i, (rid, building) in enumerate(residents):
        token, digest, masked = privacy.seal_id_number(keys, f"32010219800101{i:03d}X")
        session.execute(text("INSERT INTO resident_private (resident_id, district_code, id_number, id_number_hash, "
                             "id_number_masked, phone, tags) VALUES (:r, :d, :i, :h, :m, :p, :t)"),
                        {"r": rid, "d": town.DISTRICT, "i": token, "h": digest, "m": masked, "p": f"1380000{i:04d}",
                         "t": ["elderly_alone"] if building == "Q" else []})
    user_ids = {}
    with password_hashed_once():
        for username, (role, grid_codes) in USERS.items():
            user = user_service.create_user(session, username=username, password=PASSWORD, role=role,
                                            district_code=town.DISTRICT)
            if grid_codes:
                user_service.assign_grids(session, user.id, grid_codes)
            user_ids[username] = user.id
    session.flush()
    return {**ids, "users": user_ids, "residents": {b: [r for r, bb in residents if bb == b] for b in "NQR"},
            **add_households_and_patrols(session, user_ids), **add_plan(session, user_ids)}


# --- households, patrols, incidents (appended for the people/cases endpoints) ---------------

INCIDENT_CONTACT = "13912345678"


def add_households_and_patrols(session: Session, user_ids: dict[str, int]) -> dict[str, Any]:
    """The household id of each building, and one recent patrol each by worker_a (grid A) and worker_b (grid B).

    Returns ``{"households": {"N": id, ..}, "patrols": {"worker_a": id, "worker_b": id}}``.
    """
    import datetime as dt

    households = {name: hid for hid, name in session.execute(text(
        "SELECT h.id, b.name FROM household h JOIN building b ON b.id = h.building_id ORDER BY h.id"))}
    now = dt.datetime.now(dt.UTC)
    tracks = {"worker_a": (GRID_A, [(50, 50), (200, 50), (350, 100)]),
              "worker_b": (GRID_B, [(450, 50), (600, 50), (650, 150)])}
    patrols = {username: add_patrol(session, worker_id=user_ids[username], grid_code=grid, xys=xys,
                                    started_at=now - dt.timedelta(days=2))
               for username, (grid, xys) in tracks.items()}
    session.flush()
    return {"households": households, "patrols": patrols}


def add_incidents(session: Session, user_ids: dict[str, int]) -> dict[str, int]:
    """One incident in each grid ("A", "B", "C"), reported by a resident with INCIDENT_CONTACT; returns their ids.

    Not part of the world (the tile tests count the world's incidents): tests add them in their own transaction.
    """
    grid_of = {"A": (GRID_A, town.NORTH, (300, 60)), "B": (GRID_B, town.NORTH, (480, 60)),
               "C": (GRID_C, town.SOUTH, (300, -200))}
    points = dict(zip(grid_of, town._lonlat([town.p(*xy) for _g, _c, xy in grid_of.values()]), strict=True))
    incidents = {}
    for key, (grid, community, _xy) in grid_of.items():
        incidents[key] = session.execute(text("""
            INSERT INTO incident (district_code, street_code, community_code, grid_code, category_class, category,
                                  description, source, reporter_contact, reported_by, geom)
            VALUES (:d, :s, :c, :g, 'event', '市容环境', :desc, 'resident', :contact, :by, ST_GeomFromEWKT(:geom))
            RETURNING id"""), {"d": town.DISTRICT, "s": town.STREET, "c": community, "g": grid,
                               "desc": f"网格{key}: 垃圾堆放", "contact": INCIDENT_CONTACT,
                               "by": user_ids["worker_a"], "geom": town._ewkt(points[key])}).scalar_one()
        session.execute(text("INSERT INTO incident_event (incident_id, district_code, actor_id, action, to_status) "
                             "VALUES (:i, :d, :a, 'report', 'reported')"),
                        {"i": incidents[key], "d": town.DISTRICT, "a": user_ids["worker_a"]})
    session.flush()
    return incidents


def add_patrol(session: Session, *, worker_id: int, grid_code: str, xys: list[tuple[float, float]],
               started_at: Any) -> int:
    """A patrol with one point a minute along ``xys`` (town metres); returns its id. Tests use it too."""
    import datetime as dt

    from shapely.geometry import LineString

    lonlat = town._lonlat([town.p(*xy) for xy in xys])
    line = LineString([(pt.x, pt.y) for pt in lonlat])
    patrol = session.execute(text("""
        INSERT INTO patrol (district_code, worker_id, grid_code, started_at, ended_at, point_count, geom)
        VALUES (:d, :w, :g, :s, :e, :n, ST_GeomFromEWKT(:geom)) RETURNING id"""),
        {"d": town.DISTRICT, "w": worker_id, "g": grid_code, "s": started_at,
         "e": started_at + dt.timedelta(minutes=len(xys) - 1), "n": len(xys),
         "geom": town._ewkt(line)}).scalar_one()
    for i, pt in enumerate(lonlat):
        session.execute(text("INSERT INTO patrol_point (patrol_id, district_code, at, geom) "
                             "VALUES (:p, :d, :at, ST_GeomFromEWKT(:g))"),
                        {"p": patrol, "d": town.DISTRICT, "at": started_at + dt.timedelta(minutes=i),
                         "g": town._ewkt(pt)})
    return patrol


# --- a draft plan (appended for the plans endpoints) ---------------------------------------


def add_plan(session: Session, user_ids: dict[str, int]) -> dict[str, Any]:
    """A draft grid plan for the north community (grids of 120 and 60 households, by ``planner``).

    No coverage run: tests that need one compute it, so that "no run yet" stays the world's state.
    """
    from gis.services import partition as partition_service
    from gis.settings import Settings

    plan = partition_service.suggest_grids(session, Settings(), community_code=town.NORTH, lo=50, hi=150,
                                           created_by=user_ids["planner"])
    session.flush()
    return {"plan": plan["plan_id"]}
