"""Patrol uploads and coverage over HTTP: multipart in, cleaning report out; errors name the file and store nothing;
coverage and the weekly table name no worker; per-building rows go to the grid's own staff and admins.
"""

from __future__ import annotations

import api_world
import pytest
from fastapi.testclient import TestClient
from helpers import count_rows
from patrol_tracks import MAIN_ROAD_WALK, WEEK, town_gpx
from sqlalchemy import text

A, B, C = api_world.GRID_A, api_world.GRID_B, api_world.GRID_C


def upload(client: TestClient, headers: dict, content: bytes, *, filename: str = "walk.gpx", **fields: str):
    return client.post("/patrols", headers=headers, data=fields,
                       files={"file": (filename, content, "application/gpx+xml")})


def test_a_worker_uploads_a_track_and_reads_it_back(client: TestClient, as_user, api_session) -> None:
    response = upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK), filename="周一巡查.gpx")
    assert response.status_code == 201, response.text
    body = response.json()
    patrol = body["patrol"]
    assert response.headers["Location"] == f"/patrols/{patrol['id']}"
    assert (patrol["grid_code"], patrol["worker"], patrol["point_count"], patrol["week"]) == (A, "worker_a", 36, WEEK)
    assert patrol["started_at"] == "2026-10-05T01:00:00+00:00" and patrol["source_name"] == "周一巡查.gpx"
    assert body["report"]["kept_points"] == 36 and body["report"]["messages"] == []
    # The read side (GET /patrols/{id}) shows the stored track with a UTC time per vertex.
    track = client.get(response.headers["Location"], headers=as_user("worker_a"))
    assert track.status_code == 200 and len(track.json()["properties"]["coord_times"]) == 36
    assert track.json()["properties"]["coord_times"][0] == "2026-10-05T01:00:00+00:00"


def test_a_leader_uploads_for_a_worker_of_their_grid(client: TestClient, as_user, world: dict) -> None:
    response = upload(client, as_user("leader_a"), town_gpx(MAIN_ROAD_WALK),
                      worker_id=str(world["users"]["worker_a"]), grid_code=A)
    assert response.status_code == 201, response.text
    assert response.json()["patrol"]["worker_id"] == world["users"]["worker_a"]


@pytest.mark.parametrize(("user", "fields", "status", "words"), [
    ("worker_a", {"worker_id": "worker_b"}, 422, "worker_id"),  # not an integer
    ("worker_b", {"grid_code": A}, 403, "may not upload patrols for grid 320199001001001"),
    ("leader_a", {"grid_code": B}, 403, "their grids are 320199001001001"),
    ("admin", {}, 422, "name the worker"),
])
def test_uploads_outside_ones_scope_are_refused(client: TestClient, as_user, api_session, user: str, fields: dict,
                                                status: int, words: str) -> None:
    before = count_rows(api_session, "patrol")
    response = upload(client, as_user(user), town_gpx(MAIN_ROAD_WALK), **fields)
    assert response.status_code == status, response.text
    assert words in response.text
    assert count_rows(api_session, "patrol") == before


def test_a_worker_cannot_upload_for_someone_else(client: TestClient, as_user, world: dict) -> None:
    response = upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK),
                      worker_id=str(world["users"]["worker_b"]))
    assert response.status_code == 404, response.text  # as for a user that does not exist
    assert "grid workers upload their own" in response.json()["message"]


def test_a_bad_track_gets_a_clear_error_and_stores_nothing(client: TestClient, as_user, api_session) -> None:
    before = (count_rows(api_session, "patrol"), count_rows(api_session, "patrol_point"))
    truncated = town_gpx(MAIN_ROAD_WALK)[:-200]
    response = upload(client, as_user("worker_a"), truncated, filename="cut.gpx")
    assert response.status_code == 422, response.text
    message = response.json()["message"]
    assert message.startswith("cut.gpx") and "line" in message
    no_times = town_gpx(MAIN_ROAD_WALK).replace(b"<time>", b"<!--").replace(b"</time>", b"-->")
    response = upload(client, as_user("worker_a"), no_times, filename="notimes.gpx")
    assert response.status_code == 422 and "no timestamps" in response.json()["message"]
    assert (count_rows(api_session, "patrol"), count_rows(api_session, "patrol_point")) == before


def test_an_upload_over_the_size_cap_is_refused(client: TestClient, as_user, api_app, monkeypatch) -> None:
    monkeypatch.setattr(api_app.state.settings, "patrol_max_upload_bytes", 1000)
    response = upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK), filename="big.gpx")
    assert response.status_code == 422
    assert response.json()["details"]["max_bytes"] == 1000
    assert "tracks up to 1,000 bytes" in response.json()["message"]


def test_coverage_of_a_grid_for_every_role_without_workers(client: TestClient, as_user, tokens: dict) -> None:
    assert upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK)).status_code == 201
    for user in ("viewer", "planner", "worker_b", "worker_a", "leader_a", "admin"):
        response = client.get("/patrols/coverage", params={"grid_code": A, "week": WEEK}, headers=as_user(user))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["patrols"] == 1 and body["summary"]["household_share"] == 1.0
        assert body["summary"]["segments_covered"] == 1
        assert "worker" not in response.text and "patrol_id" not in response.text
        # Per-building rows (with distances) for the grid's own staff and admins only.
        assert ("buildings" in body) == (user in {"worker_a", "leader_a", "admin"})
        if "buildings" in body:
            assert body["buildings"][0]["covered"]
    wrong = client.get("/patrols/coverage", params={"grid_code": A, "week": "2026-41"}, headers=as_user("viewer"))
    assert wrong.status_code == 422
    unknown = client.get("/patrols/coverage", params={"grid_code": "320199001001009", "week": WEEK},
                         headers=as_user("viewer"))
    assert unknown.status_code == 404 and "320199001001009" in unknown.json()["message"]


def test_weekly_table_names_the_grids_that_missed_the_patrol(client: TestClient, as_user) -> None:
    assert upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK)).status_code == 201
    response = client.get("/patrols/weekly", params={"week": WEEK}, headers=as_user("viewer"))  # viewer's district
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["district_code"] == "320199" and body["missed"] == [B, C]
    assert body["summary"]["households_covered"] == 120 and body["summary"]["households_total"] == 220
    community = client.get("/patrols/weekly", params={"community_code": "320199001002", "week": WEEK},
                           headers=as_user("leader_a")).json()
    assert community["missed"] == [C] and len(community["grids"]) == 1


def test_the_stored_points_are_the_uploaded_ones_in_utc(client: TestClient, as_user, api_session) -> None:
    patrol = upload(client, as_user("worker_a"), town_gpx(MAIN_ROAD_WALK)).json()["patrol"]
    first, last, n = api_session.execute(text(
        "SELECT min(at), max(at), count(*) FROM patrol_point WHERE patrol_id = :p"), {"p": patrol["id"]}).one()
    assert (first.isoformat(), last.isoformat(), n) == ("2026-10-05T01:00:00+00:00", "2026-10-05T01:05:50+00:00", 36)
