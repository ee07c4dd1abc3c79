"""Finding 9 of issue 23: reads and probes that left no audit row.

Photo reads (tests/security/test_photos.py), incident descriptions and event notes read by
viewers and planners (now hidden from them, and audited for the roles that see them), count-only
queries on personal data, refused out-of-scope probes, and change rows without the client's
address (tests/security/test_forwarded_for.py) are each tried here.
"""

from __future__ import annotations

import uuid

from access_examples_incidents import POINT_A
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

NOTE = "3号楼王某家属来电，门前杂物"


def _rows(session: Session, rid: str) -> list:
    return session.execute(text("SELECT username, action, entity, entity_id, client_ip, detail FROM audit_log "
                                "WHERE client_request_id = :r ORDER BY id"), {"r": rid}).all()


def _traced(headers: dict) -> tuple[dict, str]:
    rid = uuid.uuid4().hex[:16]
    return {**headers, "X-Request-ID": rid}, rid


def _case(client: TestClient, as_user) -> int:
    made = client.post("/incidents", json={"point": POINT_A, "category_code": "E0101", "description": NOTE,
                                           "note": NOTE}, headers=as_user("worker_a"))
    assert made.status_code == 201, made.text
    return made.json()["incident"]["id"]


def test_planners_and_viewers_get_no_description_or_note(client: TestClient, as_user, api_session: Session) -> None:
    case = _case(client, as_user)
    for user in ("viewer", "planner", "facility"):
        headers, rid = _traced(as_user(user))
        one = client.get(f"/incidents/{case}", headers=headers)
        listed = client.get("/incidents", headers=headers)
        assert one.status_code == listed.status_code == 200
        assert NOTE not in one.text and NOTE not in listed.text
        assert one.json()["description"] is None and all(e["note"] is None for e in one.json()["events"])
        assert _rows(api_session, rid) == []  # nothing personal was shown


def test_staff_reads_of_descriptions_and_notes_are_audited(client: TestClient, as_user, api_session: Session) -> None:
    case = _case(client, as_user)
    headers, rid = _traced(as_user("leader_a"))
    one = client.get(f"/incidents/{case}", headers=headers)
    assert NOTE in one.text
    [row] = _rows(api_session, rid)
    assert (row.username, row.action, row.entity, row.entity_id) == ("leader_a", "read", "incident", str(case))
    assert {"description", "notes"} <= set(row.detail["fields"]) and row.client_ip == "testclient"


def test_a_count_only_query_is_audited(client: TestClient, as_user, api_session: Session) -> None:
    headers, rid = _traced(as_user("admin"))
    page = client.get("/residents", params={"tag": "elderly_alone", "offset": 50}, headers=headers).json()
    assert page["items"] == [] and page["total"] == 2  # no row shown, yet it says how many people match
    [row] = _rows(api_session, rid)
    assert row.action == "list" and row.detail["total"] == 2 and row.detail["ids"] == []
    assert row.detail["filters"]["tag"] == "elderly_alone"


def test_a_refused_probe_is_kept(client: TestClient, as_user, world: dict, api_session: Session) -> None:
    headers, rid = _traced(as_user("worker_a"))
    probe = client.get(f"/residents/{world['residents']['Q'][0]}", headers=headers)
    assert probe.status_code == 404
    [row] = _rows(api_session, rid)
    assert (row.username, row.action, row.entity) == ("worker_a", "refused", "GET /residents/{resident_id}")
    assert row.detail["status"] == 404 and row.client_ip == "testclient"
