"""Idempotency-Key on writes: a retry gets the first answer and writes nothing; a key reused for another request
is refused; keys belong to one user.

The keys are committed by the middleware (its own short transactions), outside each test's rolled-back
session: every test draws fresh keys. The records they guard are counted in the test's session.
"""

from __future__ import annotations

import json
import struct
import uuid
import zlib

import coverage_town as town
import pytest
from api_world import SECRET
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session


def lonlat(x: float, y: float) -> list[float]:
    pt = town._lonlat([town.p(x, y)])[0]
    return [pt.x, pt.y]


def png(width: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" + b"\xff\x00\x00" * width)) + chunk(b"IEND", b""))


@pytest.fixture
def upload_home(api_app, tmp_path):
    """Photos go to a temporary state folder (the app's settings restored after)."""
    original = api_app.state.settings
    api_app.state.settings = original.model_copy(update={"home": tmp_path})
    try:
        yield tmp_path
    finally:
        api_app.state.settings = original


def _count(session: Session, description: str) -> int:
    return session.execute(text("SELECT count(*) FROM incident WHERE description = :d"),
                           {"d": description}).scalar_one()


def _body(description: str, xy: tuple[float, float] = (300, 60)) -> dict:
    return {"point": lonlat(*xy), "category_code": "E0101", "description": description, "source": "patrol"}


def test_a_retry_gets_the_first_answer_and_writes_once(client: TestClient, as_user, api_session: Session) -> None:
    key, description = str(uuid.uuid4()), f"idem {uuid.uuid4()}"
    headers = {**as_user("worker_a"), "Idempotency-Key": key}
    first = client.post("/incidents", json=_body(description), headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # The same data sent again, as a queue would after a dropped answer (other key order and spacing: the same data).
    raw = json.dumps(dict(reversed(list(_body(description).items()))), indent=2)
    again = client.post("/incidents", content=raw, headers={**headers, "Content-Type": "application/json"})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert _count(api_session, description) == 1
    stored = api_session.execute(text("SELECT status_code, method, path FROM idempotency_key WHERE key = :k"),
                                 {"k": key}).one()
    assert tuple(stored) == (201, "POST", "/incidents")


def test_the_same_key_for_another_request_is_refused_and_writes_nothing(client: TestClient, as_user,
                                                                         api_session: Session) -> None:
    key, description = str(uuid.uuid4()), f"idem {uuid.uuid4()}"
    headers = {**as_user("worker_a"), "Idempotency-Key": key}
    assert client.post("/incidents", json=_body(description), headers=headers).status_code == 201
    other = client.post("/incidents", json=_body(description + " changed"), headers=headers)
    assert other.status_code == 422
    error = other.json()
    assert error["error"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["message"] and "POST /incidents" in error["message"]
    assert error["details"] == {"header": "Idempotency-Key", "key": key, "first_used_for": "POST /incidents"}
    # Another route under the same key is another request too.
    case_id = client.post("/incidents", json=_body(description), headers=headers).json()["incident"]["id"]
    elsewhere = client.post(f"/incidents/{case_id}/actions", json={"action": "accept"},
                            headers={**headers, "If-Match": '"1"'})
    assert elsewhere.status_code == 422 and elsewhere.json()["error"] == "idempotency_key_reused"
    assert _count(api_session, description) == 1
    assert _count(api_session, description + " changed") == 0


def test_keys_are_per_user(client: TestClient, as_user, api_session: Session) -> None:
    key, description = str(uuid.uuid4()), f"idem {uuid.uuid4()}"
    mine = client.post("/incidents", json=_body(description), headers={**as_user("worker_a"), "Idempotency-Key": key})
    theirs = client.post("/incidents", json=_body(description, xy=(500, 60)),
                         headers={**as_user("worker_b"), "Idempotency-Key": key})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["incident"]["id"] != theirs.json()["incident"]["id"]
    assert _count(api_session, description) == 2
    users = api_session.execute(text("SELECT count(DISTINCT user_id) FROM idempotency_key WHERE key = :k"),
                                {"k": key}).scalar_one()
    assert users == 2


def test_a_conflict_is_kept_and_replayed_so_a_retry_never_applies_a_stale_step(client: TestClient, as_user,
                                                                              api_session: Session) -> None:
    case = client.post("/incidents", json=_body(f"idem {uuid.uuid4()}"), headers=as_user("worker_a")).json()["incident"]
    key = str(uuid.uuid4())
    stale = {**as_user("worker_a"), "Idempotency-Key": key, "If-Match": f'"{case["version"] + 5}"'}
    first = client.post(f"/incidents/{case['id']}/actions", json={"action": "accept"}, headers=stale)
    assert first.status_code == 409, first.text
    again = client.post(f"/incidents/{case['id']}/actions", json={"action": "accept"}, headers=stale)
    assert again.status_code == 409 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    version = api_session.execute(text("SELECT version FROM incident WHERE id = :i"), {"i": case["id"]}).scalar_one()
    assert version == case["version"]


def test_answers_a_retry_may_change_are_not_kept(client: TestClient, as_user, api_session: Session) -> None:
    key, description = str(uuid.uuid4()), f"idem {uuid.uuid4()}"
    headers = {**as_user("worker_a"), "Idempotency-Key": key}
    bump = "UPDATE app_user SET version = version + :d WHERE username = 'worker_a'"
    # A token revoked meanwhile (401): the worker signs in again and sends the same record under the same key.
    api_session.execute(text(bump), {"d": 1})
    refused = client.post("/incidents", json=_body(description), headers=headers)
    assert refused.status_code == 401
    held = api_session.execute(text("SELECT count(*) FROM idempotency_key WHERE key = :k"), {"k": key}).scalar_one()
    assert held == 0
    api_session.execute(text(bump), {"d": -1})
    done = client.post("/incidents", json=_body(description), headers=headers)
    assert done.status_code == 201 and "idempotent-replayed" not in done.headers
    assert _count(api_session, description) == 1


def test_a_key_must_be_visible_ascii(client: TestClient, as_user) -> None:
    bad = client.post("/incidents", json=_body("x"), headers={**as_user("worker_a"), "Idempotency-Key": "a" * 256})
    assert bad.status_code == 422
    assert bad.json()["details"]["header"] == "Idempotency-Key"


def test_a_photo_sent_again_with_a_new_multipart_boundary_is_the_same_request(client: TestClient, as_user,
                                                                               api_session: Session,
                                                                               upload_home) -> None:
    case = client.post("/incidents", json=_body(f"idem {uuid.uuid4()}"), headers=as_user("worker_a")).json()["incident"]
    headers = {**as_user("worker_a"), "Idempotency-Key": str(uuid.uuid4())}
    url = f"/incidents/{case['id']}/photos"

    def send(boundary: str):
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + png(2) + f"\r\n--{boundary}--\r\n".encode()
        return client.post(url, content=body,
                           headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})

    first, again = send("----first0boundary"), send("----other1boundary")
    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    photos = api_session.execute(text("SELECT count(*) FROM incident_photo WHERE incident_id = :i"),
                                 {"i": case["id"]}).scalar_one()
    assert photos == 1


def test_a_key_held_by_a_running_request_is_refused_until_it_is_answered_or_stale(api_engine, world: dict) -> None:
    from gis.services import idempotency as store

    user, key, digest = world["users"]["worker_a"], str(uuid.uuid4()), b"\x01" * 32
    claim = dict(user_id=user, key=key, method="POST", path="/visits", request_hash=digest, secret=SECRET)
    assert store.claim_key(api_engine, **claim).outcome == "new"
    assert store.claim_key(api_engine, **claim).outcome == "in_progress"  # the first is still running
    assert store.claim_key(api_engine, **{**claim, "request_hash": b"\x02" * 32}).outcome == "mismatch"
    # A process that died holding the key: after STALE_AFTER a retry runs the request.
    with api_engine.begin() as conn:
        conn.execute(text("UPDATE idempotency_key SET created_at = now() - interval '1 hour' "
                          "WHERE user_id = :u AND key = :k"), {"u": user, "k": key})
    assert store.claim_key(api_engine, **claim).outcome == "new"
    answer = b'{"id": 7, "findings": "\xe7\x8b\xac\xe5\xb1\x85\xe8\x80\x81\xe4\xba\xba"}'
    store.store_response(api_engine, user_id=user, key=key, secret=SECRET,
                         response=store.StoredResponse(201, [("content-type", "application/json")], answer))
    replay = store.claim_key(api_engine, **claim)
    assert replay.outcome == "replay" and replay.response == store.StoredResponse(
        201, [("content-type", "application/json")], answer)
    # At rest the answer is sealed (a visit's findings are sealed in their own table too) ...
    with api_engine.connect() as conn:
        kept = bytes(conn.execute(text("SELECT response_body FROM idempotency_key WHERE user_id = :u AND key = :k"),
                                  {"u": user, "k": key}).scalar_one())
    assert answer not in kept and "独居老人".encode() not in kept and len(kept) == len(answer) + 28
    # ... and under another server secret it cannot be opened: the retry is told it ran, not run again.
    other = store.claim_key(api_engine, **{**claim, "secret": "another-server-secret-of-32-characters!"})
    assert other.outcome == "unreadable" and other.first_use == "POST /visits"
    # A failed request gives its key back; an answered one keeps it.
    store.release_key(api_engine, user_id=user, key=key)
    assert store.claim_key(api_engine, **claim).outcome == "replay"
