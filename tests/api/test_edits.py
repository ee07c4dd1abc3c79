"""Boundary editing over HTTP: versions and If-Match, 409 on stale writes, refusals that change nothing.

The last test runs two clients at once against an app with its own engine on a scratch database
(real, concurrent transactions): exactly one edit of a grid at version 1 wins, the other gets 409
with the current version and succeeds when redone on it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import api_world
import coverage_town as town
import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from helpers import count_rows, fresh_database
from shapely.geometry import LineString, box, mapping
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.app import create_app
from gis.db.engine import make_engine
from gis.settings import Settings

A, B = api_world.GRID_A, api_world.GRID_B
X0, Y0 = town.X0, town.Y0
REPO = Path(__file__).resolve().parents[2]
TABLES = ("grid", "community", "plan", "plan_unit", "plan_assignment", "audit_log")


def polygon(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """A box in the town's metric frame, as lon/lat GeoJSON."""
    return mapping(town._lonlat([box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)])[0])


def line(*points: tuple[float, float]) -> dict[str, Any]:
    return mapping(town._lonlat([LineString([(X0 + x, Y0 + y) for x, y in points])])[0])


def counts(session: Session) -> dict[str, int]:
    return {t: count_rows(session, t) for t in TABLES}


def metric_area(wkt: str) -> float:
    return float(gpd.GeoSeries([shapely.from_wkt(wkt)], crs="EPSG:4490").to_crs(town.CRS).area.iloc[0])


def test_patching_a_grid_answers_the_new_version_counts_and_findings(
        client: TestClient, as_user: Callable, api_session: Session) -> None:
    response = client.patch(f"/grids/{A}", json={"geometry": polygon(-100, -100, 420, 300),
                                                  "reason": "the lane east of N belongs to A"},
                            headers={**as_user("planner"), "If-Match": '"1"', "X-Request-ID": "edit-1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["ETag"] == '"2"' and body["version"] == 2 and body["code"] == A
    assert [(f["kind"], f["units"], round(f["area_m2"], -2)) for f in body["findings"]["created"]] == [
        ("overlap", [A, B], 8_000)]
    assert {u["code"]: (u["households"], u["in_range"]) for u in body["units"]} == {A: (120, False),
                                                                                  B: (60, False)}
    assert body["written"][0]["four_limits"]
    history = api_session.execute(text("SELECT version, valid_to IS NULL, plan_id, reason FROM grid WHERE code = :c "
                                       "ORDER BY version"), {"c": A}).all()
    assert [tuple(h)[:2] for h in history] == [(1, False), (2, True)]
    assert history[1].plan_id == body["plan_id"] and history[1].reason == "the lane east of N belongs to A"
    plan = api_session.execute(text("SELECT kind, status, created_by FROM plan WHERE id = :p"),
                               {"p": body["plan_id"]}).one()
    assert plan.kind == "manual_edit" and plan.status == "adopted"
    audit = api_session.execute(text("SELECT username, action, client_request_id FROM audit_log "
                                     "ORDER BY id DESC LIMIT 1"))
    assert tuple(audit.one()) == ("planner", "update", "edit-1")
    # The version can come in the body too; the next edit builds on version 2.
    again = client.patch(f"/grids/{A}", json={"geometry": polygon(-100, -100, 400, 300), "reason": "undo",
                                              "version": 2}, headers=as_user("admin"))
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 3 and again.json()["findings"]["created"] == []
    assert [f["kind"] for f in again.json()["findings"]["resolved"]] == ["overlap"]


def test_a_stale_or_missing_version_changes_nothing(client: TestClient, as_user: Callable,
                                                    api_session: Session) -> None:
    before = counts(api_session)
    stale = client.patch(f"/grids/{A}", json={"geometry": polygon(-100, -100, 390, 300), "reason": "r"},
                         headers={**as_user("planner"), "If-Match": '"7"'})
    assert stale.status_code == 409
    assert stale.json()["error"] == "conflict" and stale.json()["details"]["current_version"] == 1
    missing = client.patch(f"/grids/{A}", json={"geometry": polygon(-100, -100, 390, 300), "reason": "r"},
                           headers=as_user("planner"))
    assert missing.status_code == 422 and "send the version you read" in missing.json()["message"]
    both = client.patch(f"/grids/{A}", json={"geometry": polygon(-100, -100, 390, 300), "reason": "r", "version": 2},
                        headers={**as_user("planner"), "If-Match": '"1"'})
    assert both.status_code == 422 and "If-Match says version 1 but the body says 2" in both.json()["message"]
    assert counts(api_session) == before


@pytest.mark.parametrize(("geometry", "status", "error", "words"), [
    ({"type": "Polygon", "coordinates": [[[118.0, 32.0], [118.01, 32.01], [118.01, 32.0], [118.0, 32.01],
                                          [118.0, 32.0]]]}, 422, "invalid_geometry", "Self-intersection near"),
    ({"type": "Point", "coordinates": [118.0, 32.0]}, 422, "invalid_geometry", "received Point"),
    ({"type": "Polygon", "coordinates": [[[32.0, 118.0], [32.01, 118.0], [32.01, 118.01], [32.0, 118.0]]]}, 422,
     "crs_mismatch", "latitude, longitude swapped"),
    ({"type": "Polygon", "coordinates": [[[390000, 3545000], [390100, 3545000], [390100, 3545100],
                                          [390000, 3545000]]]}, 422, "crs_mismatch", "projected metres"),
    (polygon(-100, -100, 400, 400), 422, "invalid_geometry", "must lie inside community 320199001001"),
], ids=["bowtie", "point", "swapped", "metres", "outside-parent"])
def test_bad_geometry_is_a_422_that_writes_nothing(client: TestClient, as_user: Callable, api_session: Session,
                                                   geometry: dict, status: int, error: str, words: str) -> None:
    before = counts(api_session)
    response = client.patch(f"/grids/{A}", json={"geometry": geometry, "reason": "r"},
                            headers={**as_user("planner"), "If-Match": '"1"'})
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and words in response.json()["message"]
    assert counts(api_session) == before


def test_patching_a_community(client: TestClient, as_user: Callable) -> None:
    response = client.patch(f"/communities/{town.NORTH}", json={
        "geometry": polygon(-100, -100, 700, 280), "reason": "river bank", "name": "北社区"},
        headers={**as_user("planner"), "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["level"] == "community" and body["parent_code"] == town.STREET and body["version"] == 2
    assert [f["kind"] for f in body["findings"]["created"]] == ["gap"]
    assert sorted(f["units"][0] for f in body["grid_findings"]["created"]) == [A, B]


def test_move_split_and_merge_over_http(client: TestClient, as_user: Callable, world: dict,
                                        api_session: Session) -> None:
    planner = as_user("planner")
    moved = client.post(f"/grids/{A}/move-buildings", json={
        "building_ids": [world["N"]], "to_grid": B, "reason": "N is reached from B", "versions": {A: 1, B: 1}},
        headers=planner)
    assert moved.status_code == 200, moved.text
    assert {u["code"]: u["households"] for u in moved.json()["units"]} == {A: 0, B: 180}
    assert moved.json()["findings"]["created"] == []

    bad_line = client.post(f"/grids/{B}/split", json={"line": line((500, -150), (500, 100)), "reason": "r",
                                                      "version": 2}, headers=planner)
    assert bad_line.status_code == 422 and "does not cut grid" in bad_line.json()["message"]
    split = client.post(f"/grids/{B}/split", json={"line": line((550, -150), (550, 350)), "reason": "two halves"},
                        headers={**planner, "If-Match": '"2"'})
    assert split.status_code == 200, split.text
    west, east = split.json()["new_codes"]
    assert split.json()["retired"] == [B] and (west, east) == ("320199001001003", "320199001001004")
    assert [s["username"] for s in split.json()["staff_to_reassign"]] == ["worker_b"]

    stale = client.post("/grids/merge", json={"codes": [west, east], "reason": "r", "versions": {west: 1, east: 2}},
                        headers=planner)
    assert stale.status_code == 409 and stale.json()["details"]["current_versions"] == {west: 1, east: 1}
    merged = client.post("/grids/merge", json={"codes": [west, east], "reason": "back to one",
                                               "versions": {west: 1, east: 1}}, headers=planner)
    assert merged.status_code == 200, merged.text
    assert merged.json()["code"] == west and merged.json()["retired"] == [east]
    assert merged.headers["ETag"] == '"2"'
    current = api_session.execute(text("SELECT code FROM grid WHERE community_code = :c AND valid_to IS NULL "
                                       "ORDER BY code"), {"c": town.NORTH}).scalars().all()
    assert current == [A, west]
    kinds = api_session.execute(text("SELECT parameters->>'operation' FROM plan WHERE kind = 'manual_edit' "
                                     "ORDER BY id")).scalars().all()
    assert kinds == ["move_buildings", "split", "merge"]


# --- real concurrency ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def committing_app(template_database_url: str) -> Iterator[tuple[Any, str]]:
    """An app with its own engine (no session override) on a scratch database holding the committed world."""
    settings = Settings(database_url=None, home=REPO / ".wangge", secret_key=api_world.SECRET)
    with fresh_database(template_database_url, prefix="wangge_edits") as url:
        engine = make_engine(url)
        with Session(engine) as session, session.begin():
            api_world.build_world(session)
        engine.dispose()
        app = create_app(settings, url=url)
        yield app, url
        app.state.engine.dispose()


def test_two_clients_editing_one_grid_at_once_one_wins_the_other_gets_409(committing_app: tuple[Any, str]) -> None:
    app, url = committing_app
    geometries = {"planner": polygon(-100, -100, 380, 300), "admin": polygon(-100, -100, 420, 300)}
    start = threading.Barrier(2)
    answers: dict[str, Any] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        tokens = {u: client.post("/auth/token", data={"username": u, "password": api_world.PASSWORD}
                                 ).json()["access_token"] for u in geometries}

        def edit(user: str) -> None:
            headers = {"Authorization": f"Bearer {tokens[user]}", "If-Match": '"1"'}
            start.wait()
            answers[user] = client.patch(f"/grids/{A}", json={"geometry": geometries[user], "reason": f"by {user}"},
                                         headers=headers)

        threads = [threading.Thread(target=edit, args=(u,)) for u in geometries]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        statuses = sorted(r.status_code for r in answers.values())
        assert statuses == [200, 409], {u: r.text for u, r in answers.items()}
        winner = next(u for u, r in answers.items() if r.status_code == 200)
        loser = next(u for u in answers if u != winner)
        assert answers[loser].json()["details"]["current_version"] == 2

        engine = make_engine(url)
        try:
            with Session(engine) as session:
                rows = session.execute(text("SELECT version, valid_to IS NULL AS current, reason, ST_AsText(geom) "
                                            "FROM grid WHERE code = :c ORDER BY version"), {"c": A}).all()
                assert [(r.version, r.current) for r in rows] == [(1, False), (2, True)]
                assert rows[1].reason == f"by {winner}"
                width = {"planner": 480, "admin": 520}[winner]
                assert metric_area(rows[1][3]) == pytest.approx(width * 400, rel=1e-3)
                assert session.execute(text("SELECT count(*) FROM plan WHERE kind = 'manual_edit'")).scalar_one() == 1

            # Nothing is lost: the loser redoes the edit on the version the 409 named, and both are in history.
            retry = client.patch(f"/grids/{A}", json={"geometry": geometries[loser], "reason": f"by {loser}"},
                                 headers={"Authorization": f"Bearer {tokens[loser]}", "If-Match": '"2"'})
            assert retry.status_code == 200, retry.text
            with Session(engine) as session:
                history = session.execute(text("SELECT version, reason FROM grid WHERE code = :c ORDER BY version"),
                                          {"c": A}).all()
                assert [tuple(h) for h in history][1:] == [(2, f"by {winner}"), (3, f"by {loser}")]
        finally:
            engine.dispose()
