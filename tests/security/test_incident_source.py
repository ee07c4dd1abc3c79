"""Finding 8 of issue 23: staff notes must not reach the anonymous Open311 feed.

The attack: a staff member files ``POST /incidents`` with ``source: "open311"`` and a description
naming a resident; the public feed showed descriptions of every "open311" case. Now only the
server sets that source (for what /open311/v2 receives), and the feed shows a description only
for a case no signed-in user reported.
"""

from __future__ import annotations

from access_examples_incidents import POINT_A
from fastapi.testclient import TestClient
from helpers import count_rows
from sqlalchemy import text
from sqlalchemy.orm import Session

NOTE = "3号楼张某某（独居老人）家门口堆放杂物"


def test_staff_cannot_mark_a_report_as_open311(client: TestClient, as_user, api_session: Session) -> None:
    before = count_rows(api_session, "incident")
    for user in ("worker_a", "leader_a", "admin"):
        response = client.post("/incidents", json={"point": POINT_A, "category_code": "E0101", "description": NOTE,
                                                   "source": "open311"}, headers=as_user(user))
        assert response.status_code == 422, response.text
        assert response.json()["details"]["field"] == "source" and "set by the server" in response.json()["message"]
    assert count_rows(api_session, "incident") == before
    feed = client.get("/open311/v2/requests.json")
    assert feed.status_code == 200 and NOTE not in feed.text


def test_a_staff_case_stored_as_open311_shows_no_description(client: TestClient, as_user, world: dict,
                                                             api_session: Session) -> None:
    # A row written before the fix: staff-reported, marked open311.
    made = client.post("/incidents", json={"point": POINT_A, "category_code": "E0101", "description": NOTE},
                       headers=as_user("worker_a"))
    assert made.status_code == 201, made.text
    case = made.json()["incident"]["id"]
    api_session.execute(text("UPDATE incident SET source = 'open311' WHERE id = :i"), {"i": case})
    one = client.get(f"/open311/v2/requests/{case}.json")
    assert one.status_code == 200 and NOTE not in one.text
    assert NOTE not in client.get("/open311/v2/requests.json").text


def test_a_citizen_filing_still_shows_its_own_description(client: TestClient) -> None:
    filed = client.post("/open311/v2/requests.json", data={"service_code": "E0101", "lat": str(POINT_A[1]),
                                                           "long": str(POINT_A[0]), "description": "路边垃圾桶满了"})
    assert filed.status_code == 201, filed.text
    request_id = filed.json()[0]["service_request_id"]
    assert client.get(f"/open311/v2/requests/{request_id}.json").json()[0]["description"] == "路边垃圾桶满了"
