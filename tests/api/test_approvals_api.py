"""The approval chain over HTTP: the planner scoped to the street proposes, the district admin reviews,
approves with the document number and adopts; refusals are 409/403/422 in both languages and change nothing."""

from __future__ import annotations

import coverage_town as town
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

DOC = "测政复[2026]5号"


def test_the_chain_over_http(client: TestClient, as_user, api_session: Session) -> None:
    # The planner works for the street (街道); the admin of the district reviews and approves.
    api_session.execute(text("UPDATE app_user SET street_code = :s WHERE username = 'planner'"), {"s": town.STREET})
    street, district = as_user("planner"), as_user("admin")
    created = client.post("/plans/grid-suggestions", json={"community_code": town.NORTH, "min": 50, "max": 150},
                          headers=district)
    assert created.status_code == 201, created.text
    plan_id = created.json()["plans"][0]["plan_id"]

    early = client.post(f"/plans/{plan_id}/review", json={}, headers=district)
    assert early.status_code == 409 and " · " in early.json()["message"]
    assert "review is allowed only from proposed" in early.json()["message"]
    wrong = client.post(f"/plans/{plan_id}/propose", json={}, headers=district)
    assert wrong.status_code == 403 and "street-scoped" in wrong.json()["message"]
    assert client.post(f"/plans/{plan_id}/propose", json={}, headers=as_user("worker_a")).status_code == 403

    stale = client.post(f"/plans/{plan_id}/propose", json={"note": "报送"}, headers={**street, "If-Match": '"9"'})
    assert stale.status_code == 409
    proposed = client.post(f"/plans/{plan_id}/propose", json={"note": "报送"}, headers={**street, "If-Match": '"1"'})
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["status"] == "proposed" and proposed.headers["etag"] == '"2"'
    assert client.post(f"/plans/{plan_id}/review", json={}, headers=street).status_code == 403
    assert client.post(f"/plans/{plan_id}/review", json={"note": "同意"}, headers=district).status_code == 200
    blank = client.post(f"/plans/{plan_id}/approve", json={"document_no": " "}, headers=district)
    assert blank.status_code == 422 and "批复文号" in blank.json()["message"]
    approved = client.post(f"/plans/{plan_id}/approve", json={"document_no": DOC}, headers=district)
    assert approved.status_code == 200 and approved.json()["document_no"] == DOC

    refused = client.post(f"/plans/{plan_id}/adopt", json={"reason": "实施", "allow_out_of_range": True},
                          headers=street)
    assert refused.status_code == 403
    adopted = client.post(f"/plans/{plan_id}/adopt", json={"reason": "实施", "allow_out_of_range": True},
                          headers=district)
    assert adopted.status_code == 200, adopted.text

    history = client.get(f"/plans/{plan_id}/approvals", headers=as_user("viewer")).json()
    assert history["status"] == "adopted" and history["document_no"] == DOC
    assert [(a["step"], a["by"]) for a in history["approvals"]] == [
        ("propose", "planner"), ("review", "admin"), ("approve", "admin"), ("adopt", "admin")]
    shown = client.get(f"/plans/{plan_id}", headers=as_user("viewer")).json()
    assert shown["approvals"] == history["approvals"]
    audited = api_session.execute(text("SELECT action FROM audit_log WHERE entity = 'plan' AND entity_id = :p "
                                       "ORDER BY id"), {"p": str(plan_id)}).scalars().all()
    assert audited == ["propose", "review", "approve", "adopt"]
