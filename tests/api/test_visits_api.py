"""Household visits through the API, on the API world (tests/support/api_world.py).

Building Q (grid B, worker_b) holds one household whose members are 独居老人 (elderly_alone: a
visit a week); N is grid A's (worker_a, leader_a). Each test's requests are rolled back.
The app seals findings with the tests' ID key (the demo key is refused outside demo mode).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from urllib.parse import quote

import api_world
import pytest
from fastapi.testclient import TestClient
from helpers import ID_KEY
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.services import patrols as patrol_service

A, B = api_world.GRID_A, api_world.GRID_B
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
FINDINGS = "李阿姨血压偏高，儿子每月来一次"


@pytest.fixture(autouse=True)
def sealing_key(api_app) -> Iterator[None]:
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"id_key": ID_KEY})
    yield
    api_app.state.settings = original


@pytest.fixture(autouse=True)
def households_known_for_a_month(api_session: Session) -> None:
    # The world is built when the session starts; a visit can only follow a household's recording.
    api_session.execute(text("UPDATE household SET created_at = now() - interval '30 days'"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _visit(client: TestClient, headers: dict, household: int, **extra) -> object:
    body = {"household_id": household, "visited_at": (_now() - dt.timedelta(hours=2)).isoformat(),
            "purpose": "care", "findings": FINDINGS, **extra}
    return client.post("/visits", json=body, headers=headers)


def _audit(session: Session, action: str, entity: str) -> list:
    return session.execute(text("SELECT username, reason, entity_id, detail FROM audit_log "
                                "WHERE action = :a AND entity = :e ORDER BY id"), {"a": action, "e": entity}).all()


def test_a_visit_sent_later_leaves_the_due_list_and_counts_in_the_month(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    q = world["households"]["Q"]
    worker_b = as_user("worker_b")
    due = client.get("/visits/due", params={"grid": B}, headers=worker_b)
    assert due.status_code == 200, due.text
    [item] = [i for i in due.json()["items"] if i["household_id"] == q]
    assert (item["tag"], item["cadence_days"], item["last_visit"], item["grid_code"]) == ("elderly_alone", 7, None, B)
    assert item["head_name"].endswith("*") and item["overdue_days"] >= 0

    # Two hours after the visit, back in signal: visited_at is the visit's own time.
    visited_at = _now() - dt.timedelta(hours=2)
    made = client.post("/visits", json={"household_id": q, "visited_at": visited_at.isoformat(), "purpose": "care",
                                        "findings": FINDINGS}, headers=worker_b)
    assert made.status_code == 201, made.text
    body = made.json()
    assert {k: body[k] for k in ("household_id", "grid_code", "purpose", "findings", "case_id")} == \
        {"household_id": q, "grid_code": B, "purpose": "care", "findings": FINDINGS, "case_id": None}
    assert dt.datetime.fromisoformat(body["visited_at"]) == visited_at
    stored = api_session.execute(text("SELECT worker_id, grid_code, visited_at, findings FROM visit WHERE id = :i"),
                                 {"i": body["id"]}).one()
    assert (stored.worker_id, stored.grid_code, stored.visited_at) == (world["users"]["worker_b"], B, visited_at)
    assert stored.findings.startswith("wv1.") and "血压" not in stored.findings  # sealed at rest

    due = client.get("/visits/due", params={"grid": B}, headers=worker_b).json()
    assert q not in [i["household_id"] for i in due["items"]]
    upcoming = client.get("/visits/due", params={"grid": B, "within_days": 7}, headers=worker_b).json()
    [item] = [i for i in upcoming["items"] if i["household_id"] == q]
    assert item["due_date"] == (visited_at.astimezone(SHANGHAI).date() + dt.timedelta(days=7)).isoformat()
    assert item["last_visit"] is not None and item["overdue_days"] == -7

    # The month of the visit: Q's household was due and is visited; beside it, the patrol figure of the
    # same month (a patrol of grid B at the time of the visit), which counts buildings walked past.
    api_world.add_patrol(api_session, worker_id=world["users"]["worker_b"], grid_code=B,
                         xys=[(450, 150), (550, 150), (650, 150)], started_at=visited_at)
    month = visited_at.astimezone(SHANGHAI).strftime("%Y-%m")
    stats = client.get("/stats/visits", params={"month": month}, headers=as_user("planner"))
    assert stats.status_code == 200, stats.text
    grid_b = next(i for i in stats.json()["items"] if i["grid_code"] == B)
    assert (grid_b["households"], grid_b["households_due"], grid_b["visited"], grid_b["coverage_share"],
            grid_b["visits"]) == (1, 1, 1, 1.0, 1)
    assert (grid_b["households_visited"], grid_b["visited_not_due"]) == (1, 0)
    lo = dt.datetime.strptime(month + "-01", "%Y-%m-%d").date()
    hi = (lo + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    patrol = patrol_service.patrol_coverage(api_session, grid_code=B, start=lo, end=hi)
    assert grid_b["households_walked_past"] == patrol["summary"]["households_walked_past"] == 60  # Q's of record
    assert (grid_b["households_of_record"], grid_b["walked_past_share"]) == (60, 1.0)
    assert grid_b["patrols"] == patrol["patrols"] >= 1
    grid_a = next(i for i in stats.json()["items"] if i["grid_code"] == A)
    assert (grid_a["visited"], grid_a["visits"]) == (0, 0)

    # Every read of visits or of the due list is in the audit log, with the reason given.
    listed = client.get("/visits", params={"grid": B}, headers=worker_b)
    assert [(v["id"], v["findings"], v["worker"]) for v in listed.json()["items"]] == \
        [(body["id"], FINDINGS, "worker_b")]
    since = {"since": (visited_at - dt.timedelta(days=1)).date().isoformat()}
    assert client.get("/visits", params=since, headers=worker_b).json()["total"] == 1
    later = {"since": (visited_at + dt.timedelta(minutes=1)).isoformat()}
    assert client.get("/visits", params=later, headers=worker_b).json()["total"] == 0
    naive = client.get("/visits", params={"since": "2026-12-01T08:00:00"}, headers=worker_b)
    assert naive.status_code == 422 and naive.json()["message"].startswith("since: a time with its UTC offset")
    reads = _audit(api_session, "list", "visit")
    assert reads and reads[-1].username == "worker_b" and reads[-1].reason == api_world.ACCESS_REASON
    assert reads[-1].detail["ids"] == [str(body["id"])]
    due_reads = _audit(api_session, "due_list", "household")
    # Three due lists were read; the one that listed nobody names nobody, and writes no row (as residents).
    assert [r.detail["ids"] for r in due_reads] == [[str(q)], [str(q)]]
    assert all(r.reason == api_world.ACCESS_REASON for r in due_reads)
    created = _audit(api_session, "create", "visit")
    assert [(r.username, r.entity_id) for r in created] == [("worker_b", str(body["id"]))]


def test_a_visit_with_a_follow_up_opens_a_case(client: TestClient, as_user, world: dict,
                                               api_session: Session) -> None:
    made = _visit(client, as_user("worker_b"), world["households"]["Q"], purpose="routine",
                  follow_up={"category": "E0101", "description": "楼道堆放垃圾，需清运"})
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    assert case_id is not None
    case = api_session.execute(text("SELECT grid_code, building_id, category_code, description, reported_by "
                                    "FROM incident WHERE id = :i"), {"i": case_id}).one()
    assert tuple(case) == (B, world["Q"], "E0101", "楼道堆放垃圾，需清运", world["users"]["worker_b"])
    assert api_session.execute(text("SELECT case_id FROM visit WHERE id = :i"),
                               {"i": made.json()["id"]}).scalar_one() == case_id
    assert client.get(f"/incidents/{case_id}", headers=as_user("worker_b")).status_code == 200


def test_a_grid_worker_records_and_reads_visits_in_their_grids_only(
        client: TestClient, as_user, world: dict, api_session: Session) -> None:
    q = world["households"]["Q"]
    assert _visit(client, as_user("worker_b"), q).status_code == 201
    # worker_a (grid A) may not record a visit to grid B's household: told exactly as for no household at all.
    outside = _visit(client, as_user("worker_a"), q)
    missing = _visit(client, as_user("worker_a"), 99_999_999)
    assert outside.status_code == missing.status_code == 404
    assert outside.json()["message"] == f"household_id: no household {q} within your grids"
    assert missing.json()["message"] == "household_id: no household 99999999 within your grids"
    refused = api_session.execute(text("SELECT username, detail FROM audit_log WHERE action = 'refused' "
                                       "AND entity = 'POST /visits' ORDER BY id")).all()
    assert [(r.username, r.detail["status"]) for r in refused][-2:] == [("worker_a", 404), ("worker_a", 404)]
    # ... nor read it: grid B's visits are not in worker_a's list, whatever the filter.
    for params in ({}, {"grid": B}, {"household_id": q}):
        listed = client.get("/visits", params=params, headers=as_user("worker_a"))
        assert listed.status_code == 200 and listed.json()["total"] == 0, params
    assert q not in [i["household_id"] for i in client.get("/visits/due", headers=as_user("worker_a")).json()["items"]]
    assert client.get("/visits", headers=as_user("admin")).json()["total"] == 1
    assert client.get("/visits", headers=as_user("leader_a")).json()["total"] == 0
    # Planners and viewers see counts, never visits.
    assert client.get("/visits", headers=as_user("planner")).status_code == 403
    assert _visit(client, as_user("viewer"), q).status_code == 403
    assert api_session.execute(text("SELECT count(*) FROM visit")).scalar_one() == 1


def test_reading_visits_needs_a_reason(client: TestClient, as_user, api_session: Session) -> None:
    client.headers.pop("X-Access-Reason")
    for url in ("/visits", "/visits/due"):
        response = client.get(url, headers=as_user("worker_b"))
        assert response.status_code == 428 and response.json()["error"] == "access_reason_required", url
    given = client.get("/visits/due", headers={**as_user("worker_b"), "X-Access-Reason": quote("季度走访 round")})
    assert given.status_code == 200
    assert _audit(api_session, "due_list", "household")[-1].reason == "季度走访 round"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"household_id": 99_999_999}, "household_id", "no household 99999999"),
    ({"visited_at": "2099-01-01T09:00:00+08:00"}, "visited_at", "is in the future"),
    ({"visited_at": "2001-01-01T09:00:00+08:00"}, "visited_at", "before the household was recorded"),
    ({"visited_at": "2026-12-01T09:00:00"}, "visited_at", "with its UTC offset"),
    ({"purpose": "chat"}, "purpose", "one of routine, care, info_check, case_follow_up, other"),
    ({"follow_up": {"category": "NOPE", "description": "x"}}, "follow_up.category", "not in the catalogue"),
    ({"follow_up": {"category": "E0101", "description": " "}}, "follow_up.description", "what is to be done"),
])
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
        client: TestClient, as_user, world: dict, api_session: Session, change: dict, field: str, words: str) -> None:
    before = api_session.execute(text("SELECT (SELECT count(*) FROM visit), (SELECT count(*) FROM incident)")).one()
    response = _visit(client, as_user("worker_b"), world["households"]["Q"], **change)
    assert response.status_code in (404, 422), response.text
    body = response.json()
    assert body["message"].startswith(f"{field}") and words in body["message"], body
    assert body["details"]["field"] == field
    after = api_session.execute(text("SELECT (SELECT count(*) FROM visit), (SELECT count(*) FROM incident)")).one()
    assert tuple(after) == tuple(before)


def test_the_cadence_is_the_districts(client: TestClient, as_user) -> None:
    table = client.get("/visits/cadence", headers=as_user("viewer")).json()
    days = {r["tag"]: r["days"] for r in table["rules"]}
    assert table["district_code"] == "320199"
    assert (days["elderly_alone"], days["key_person"], days["low_income"], days["other"]) == (7, 30, 30, 90)


def test_unstaffed_grids_through_the_api(client: TestClient, as_user) -> None:
    body = client.get("/grids/unstaffed", headers=as_user("planner")).json()
    assert (body["grids"], body["unstaffed"], [i["grid_code"] for i in body["items"]]) == \
        (3, 1, [api_world.GRID_C])
