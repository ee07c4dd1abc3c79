"""Findings 7 and 2 of issue 23: patrol uploads tell nobody about users; patrol figures cannot follow a worker.

7. ``POST /patrols`` with ``worker_id=N`` answered with N's username, role and active flag before
   the own-tracks check. Now scope comes first and "not yours" reads as "not there".
2. ``/patrols/coverage`` took start/end to the second and gave each building's distance to the
   track, to every role: narrowing the window timed the walk. Anyone but the grid's own worker,
   leader and admins now gets whole weeks and no per-building rows; and tracks past retention are
   never read, purged or not.
"""

from __future__ import annotations

import api_world
import pytest
from fastapi.testclient import TestClient
from patrol_tracks import MAIN_ROAD_WALK, WEEK, town_gpx
from sqlalchemy.orm import Session

from gis.services import users as user_service

A = api_world.GRID_A


def upload(client: TestClient, headers: dict, **fields: str):
    return client.post("/patrols", headers=headers, data=fields,
                       files={"file": ("walk.gpx", town_gpx(MAIN_ROAD_WALK), "application/gpx+xml")})


@pytest.mark.parametrize("target", ["admin", "viewer", "planner", "worker_b", "inactive"])
def test_the_enumeration_probe_learns_nothing_about_other_users(client: TestClient, as_user, world: dict,
                                                                api_session: Session, target: str) -> None:
    if target == "inactive":
        user = user_service.create_user(api_session, username="gone_worker", password=api_world.PASSWORD,
                                        role="grid_worker", district_code="320199")
        user.is_active = False
        api_session.flush()
        ident = user.id
    else:
        ident = world["users"][target]
    probe = upload(client, as_user("worker_a"), worker_id=str(ident))
    missing = upload(client, as_user("worker_a"), worker_id="987654")
    assert probe.status_code == missing.status_code == 404
    assert probe.json()["message"].replace(str(ident), "N") == missing.json()["message"].replace("987654", "N")
    # Equal messages already say it; and no name, role or flag of anyone appears.
    for word in ("viewer", "district_planner", "deactivated", "gone_worker", "worker_b", " is a "):
        assert word not in probe.text


def test_a_leader_learns_nothing_about_workers_outside_their_grids(client: TestClient, as_user,
                                                                   world: dict) -> None:
    probe = upload(client, as_user("leader_a"), worker_id=str(world["users"]["worker_b"]), grid_code=A)
    assert probe.status_code == 404 and "worker_b" not in probe.text


def test_the_timing_probe_as_a_viewer_gets_a_whole_week_and_no_distances(client: TestClient, as_user) -> None:
    assert upload(client, as_user("worker_a")).status_code == 201
    viewer = as_user("viewer")
    # The attack: a window of a few minutes, moved until the patrol falls in or out.
    for start, end in (("2026-10-05T09:00:00", "2026-10-05T09:03:00"), ("2026-10-05", "2026-10-05")):
        narrowed = client.get("/patrols/coverage", params={"grid_code": A, "start": start, "end": end},
                              headers=viewer)
        assert narrowed.status_code == 422 and "per ISO week" in narrowed.json()["message"]
    weekly = client.get("/patrols/coverage", params={"grid_code": A, "week": WEEK}, headers=viewer)
    assert weekly.status_code == 200
    body = weekly.json()
    assert body["patrols"] == 1 and body["period"] == {"week": WEEK, "timezone": "Asia/Shanghai"}
    assert "buildings" not in body and "segments" not in body and "nearest_m" not in weekly.text
    assert "2026-10-05T" not in weekly.text  # no time of day anywhere
    # The grid's own worker still gets the detail, with free periods.
    own = client.get("/patrols/coverage", params={"grid_code": A, "start": "2026-10-05T09:00:00",
                                                  "end": "2026-10-05T09:03:00"}, headers=as_user("worker_a"))
    assert own.status_code == 200 and "nearest_m" in own.text


def test_tracks_past_retention_are_not_read_before_they_are_purged(client: TestClient, as_user, api_app,
                                                                   monkeypatch) -> None:
    assert upload(client, as_user("worker_a")).status_code == 201
    admin = as_user("admin")
    kept = client.get("/patrols/coverage", params={"grid_code": A, "week": WEEK}, headers=admin).json()
    assert kept["patrols"] == 1
    # The W41 patrol is older than 30 days: with that retention it is gone from every figure.
    monkeypatch.setattr(api_app.state.settings, "patrol_retention_days", 30)
    expired = client.get("/patrols/coverage", params={"grid_code": A, "week": WEEK}, headers=admin).json()
    assert expired["patrols"] == 0 and expired["missed"] is True
    weekly = client.get("/patrols/weekly", params={"week": WEEK}, headers=admin).json()
    assert weekly["summary"]["patrols"] == 0 and A in weekly["missed"]
