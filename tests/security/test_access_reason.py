"""Finding 9 of issue 23, its last part: ``X-Access-Reason`` was optional.

Every route that returns or counts personal records (people, households, case descriptions and
notes for the roles that see them, photos, patrol tracks, exports) now refuses a read without a
reason: 428 in the error model, in Chinese and English, nothing returned, and the refused probe
kept in the audit log like other refusals. A reason is one line of at most 200 characters; the
OpenAPI schema declares it required on those routes (so Schemathesis sends it, tests/fuzz).
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from urllib.parse import quote

import api_world
import pytest
from access_examples_incidents import POINT_A
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.access import ACCESS, PERSONAL
from api.deps import MAX_ACCESS_REASON

HEADER = "X-Access-Reason"
NOTE = "5号楼李某反映楼道堆物"
# Every operation that returns or counts personal records: the schema must say the reason is required.
PERSONAL_OPERATIONS = {
    "GET /residents", "GET /residents/export", "GET /residents/{resident_id}", "PATCH /residents/{resident_id}",
    "GET /households", "GET /households/{household_id}", "GET /buildings/{building_id}/residents",
    "GET /incidents", "GET /incidents/{incident_id}", "GET /incidents/{incident_id}/photos/{photo_id}",
    "GET /patrols", "GET /patrols/{patrol_id}",
    "GET /grids/{code}/contacts",  # building and unit heads of level-2 grids: names and (masked) phones
    "GET /visits", "GET /visits/due",  # household visits and the households due one (issue 18)
    # community ledgers (issue 22): needs' contacts and descriptions, resources' contacts, volunteers, members' claims
    "GET /ledgers/needs", "GET /ledgers/needs/{need_id}", "GET /ledgers/resources",
    "GET /ledgers/projects/{project_id}",
    "GET /ledgers/volunteers", "GET /ledgers/communities/{code}/lists", "GET /ledgers/communities/{code}/export",
}


def _rows(session: Session, rid: str) -> list:
    return session.execute(text("SELECT username, action, entity, reason, detail FROM audit_log "
                                "WHERE client_request_id = :r ORDER BY id"), {"r": rid}).all()


def _traced(headers: dict[str, str], **extra: str) -> tuple[dict[str, str], str]:
    rid = uuid.uuid4().hex[:16]
    return {**headers, "X-Request-ID": rid, **extra}, rid


@pytest.fixture
def case(client: TestClient, as_user, api_app, tmp_path: Path) -> dict[str, str]:
    """A case in grid A with a description and a note, and a photo of it: their URLs."""
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"home": tmp_path})  # photos go to a scratch folder
    made = client.post("/incidents", json={"point": POINT_A, "category_code": "E0101", "description": NOTE,
                                           "note": NOTE}, headers=as_user("worker_a"))
    assert made.status_code == 201, made.text
    url = f"/incidents/{made.json()['incident']['id']}"
    image = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 120, 200)).save(image, format="PNG")
    photo = client.post(f"{url}/photos", files={"file": ("p.png", image.getvalue(), "image/png")},
                        headers=as_user("worker_a"))
    assert photo.status_code == 201, photo.text
    yield {"case": url, "photo": photo.json()["href"]}
    api_app.state.settings = original


def _reads(world: dict, case: dict[str, str]) -> list[tuple[str, str, str, dict]]:
    """(route, method, url, extra) for one request of every personal-data route, as worker_a of grid A may make."""
    resident = world["residents"]["N"][0]
    return [
        ("GET /residents", "GET", "/residents", {}),
        ("GET /residents/export", "GET", "/residents/export", {}),
        ("GET /residents/{resident_id}", "GET", f"/residents/{resident}", {}),
        ("PATCH /residents/{resident_id}", "PATCH", f"/residents/{resident}",
         {"json": {"phone": "13900001111"}, "headers": {"If-Match": '"1"'}}),
        ("GET /households", "GET", "/households", {}),
        ("GET /visits/due", "GET", "/visits/due", {}),
        ("GET /households/{household_id}", "GET", f"/households/{world['households']['N']}", {}),
        ("GET /buildings/{building_id}/residents", "GET", f"/buildings/{world['N']}/residents", {}),
        ("GET /incidents", "GET", "/incidents", {}),
        ("GET /incidents/{incident_id}", "GET", case["case"], {}),
        ("GET /incidents/{incident_id}/photos/{photo_id}", "GET", case["photo"], {}),
        ("GET /patrols", "GET", "/patrols", {}),
        ("GET /patrols/{patrol_id}", "GET", f"/patrols/{world['patrols']['worker_a']}", {}),
    ]


def _call(client: TestClient, method: str, url: str, extra: dict, headers: dict[str, str]):
    return client.request(method, url, json=extra.get("json"), headers={**headers, **extra.get("headers", {})})


def test_every_personal_data_route_refuses_a_read_without_a_reason_and_keeps_the_probe(
        client: TestClient, as_user, world: dict, case: dict[str, str], api_session: Session) -> None:
    client.headers.pop(HEADER)
    for route, method, url, extra in _reads(world, case):
        headers, rid = _traced(as_user("worker_a"))
        response = _call(client, method, url, extra, headers)
        assert response.status_code == 428, f"{route}: {response.status_code} {response.text[:200]}"
        body = response.json()
        assert set(body) == {"error", "message", "details"} and body["error"] == "access_reason_required", route
        assert "查阅个人信息的原因" in body["message"] and "X-Access-Reason is required" in body["message"], route
        assert body["details"]["header"] == HEADER and body["details"]["max_length"] == MAX_ACCESS_REASON
        assert NOTE not in response.text and "138" not in response.text, route  # nothing personal came back
        [row] = _rows(api_session, rid)  # the refused probe, and no read
        assert (row.username, row.action, row.entity) == ("worker_a", "refused", route), route
        assert row.detail["status"] == 428, route
    # The PATCH changed nothing.
    again = client.get(f"/residents/{world['residents']['N'][0]}", headers={**as_user("worker_a"),
                                                                           HEADER: "check"})
    assert again.json()["version"] == 1 and again.json()["phone"] == "138****0000"


@pytest.mark.parametrize("blank", ["", "   ", "%20%20", "%E3%80%80"])  # the last: an ideographic space
def test_a_blank_reason_is_no_reason(client: TestClient, as_user, world: dict, api_session: Session,
                                     blank: str) -> None:
    headers, rid = _traced(as_user("admin"), **{HEADER: blank})
    response = client.get("/residents", headers=headers)
    assert response.status_code == 428 and "items" not in response.json()
    assert [(r.action, r.detail["status"]) for r in _rows(api_session, rid)] == [("refused", 428)]


@pytest.mark.parametrize(("given", "problem"), [
    (quote("走" * (MAX_ACCESS_REASON + 1)), "at most 200 characters"),
    ("visit%0Aadmin read everything", "one line"),
    ("visit%00", "one line"),
])
def test_an_overlong_or_multiline_reason_is_refused(client: TestClient, as_user, api_session: Session,
                                                    given: str, problem: str) -> None:
    headers, rid = _traced(as_user("leader_a"), **{HEADER: given})
    response = client.get("/residents", headers=headers)
    assert response.status_code == 422 and problem in response.json()["message"]
    assert "items" not in response.json() and _rows(api_session, rid) == []


def test_the_reason_given_is_the_reason_kept(client: TestClient, as_user, world: dict, case: dict[str, str],
                                            api_session: Session) -> None:
    reason = "走" * MAX_ACCESS_REASON  # the longest allowed, percent-encoded
    for route, method, url, extra in _reads(world, case):
        headers, rid = _traced(as_user("worker_a"), **{HEADER: quote(reason)})
        response = _call(client, method, url, extra, headers)
        assert response.status_code == 200, f"{route}: {response.text[:200]}"
        rows = _rows(api_session, rid)
        assert rows and {r.reason for r in rows} == {reason}, route


def test_planners_and_viewers_read_cases_without_a_reason_for_they_see_nothing_personal(
        client: TestClient, as_user, case: dict[str, str], api_session: Session) -> None:
    client.headers.pop(HEADER)
    for user in ("viewer", "planner", "facility"):
        for url in ("/incidents", case["case"]):
            headers, rid = _traced(as_user(user))
            response = client.get(url, headers=headers)
            assert response.status_code == 200 and NOTE not in response.text, (user, url)
            assert _rows(api_session, rid) == []
        # A photo may show people and homes: a reason from everyone.
        assert client.get(case["photo"], headers=as_user(user)).status_code == 428


def test_changes_and_aggregates_need_no_reason(client: TestClient, as_user, world: dict) -> None:
    client.headers.pop(HEADER)
    assert client.get("/stats/grids", headers=as_user("worker_a")).status_code == 200
    assert client.get("/incidents/overdue", headers=as_user("worker_a")).status_code == 200
    made = client.post("/incidents", json={"point": POINT_A, "category_code": "E0101"}, headers=as_user("worker_a"))
    assert made.status_code == 201


def test_the_schema_declares_the_reason_required_on_every_personal_data_route(api_app) -> None:
    required = set()
    for path, operations in api_app.openapi()["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == HEADER and parameter["in"] == "header" and parameter["required"]:
                    assert parameter["schema"]["minLength"] == 1
                    required.add(f"{method.upper()} {path}")
    assert required == PERSONAL_OPERATIONS
    # A read open to the personal-data roles alone is a read of personal data, now and in routes yet to come.
    assert {key for key, roles in ACCESS.items() if roles == PERSONAL and key.startswith("GET ")} <= required


def test_the_test_clients_send_a_reason_by_default(client: TestClient) -> None:
    # Other tests read personal data through this default; the refusals above remove it.
    assert client.headers[HEADER] == api_world.REASON_HEADER[HEADER]
