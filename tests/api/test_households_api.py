"""Households per building over HTTP: a planner records a count (who and why kept, audited), others may not."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def test_a_planner_records_a_count_and_everyone_reads_it(client: TestClient, as_user: Callable, world: dict,
                                                         api_session: Session) -> None:
    building = world["N"]
    response = client.put(f"/buildings/{building}/households", headers=as_user("planner"),
                          json={"households": 48, "reason": "2026 入户核查", "by": "王网格员"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["households"], body["households_source"], body["reason"]) == (48, "recorded", "recorded")
    assert (body["recorded_by"], body["recorded_reason"]) == ("王网格员", "2026 入户核查")
    assert body["reason_text"].startswith("recorded count (by 王网格员: 2026 入户核查)")
    assert body["reason_text_zh"].startswith("登记户数")

    read = client.get(f"/buildings/{building}/households", headers=as_user("viewer"))
    assert read.status_code == 200 and read.json()["households"] == 48
    audit = api_session.execute(text("SELECT username, action, reason FROM audit_log WHERE entity = 'building' "
                                     "AND entity_id = :id ORDER BY id DESC LIMIT 1"), {"id": str(building)}).one()
    assert tuple(audit) == ("planner", "set_households", "2026 入户核查")


def test_bad_counts_and_other_roles_are_refused(client: TestClient, as_user: Callable, world: dict) -> None:
    url = f"/buildings/{world['N']}/households"
    for body in ({"households": -1, "reason": "x"}, {"households": 3}, {"households": 3, "reason": ""}):
        assert client.put(url, headers=as_user("planner"), json=body).status_code == 422
    assert client.put(url, headers=as_user("worker_a"), json={"households": 3, "reason": "x"}).status_code == 403
    assert client.put(url, json={"households": 3, "reason": "x"}).status_code == 401
    missing = client.put("/buildings/0/households", headers=as_user("admin"), json={"households": 3, "reason": "x"})
    assert missing.status_code == 404 and "building 0 does not exist" in missing.text


def test_review_lists_estimates_with_reasons(client: TestClient, as_user: Callable) -> None:
    response = client.get("/household-estimates/review", headers=as_user("viewer"), params={"top": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"estimated_households", "buildings_with_concerns", "buildings"}
    assert client.get("/household-estimates/review", headers=as_user("viewer"),
                      params={"district_code": "32"}).status_code == 422
