"""Idempotency keys kept in PostgreSQL: a retried write gets the first answer instead of writing again.

The field app queues what a worker captures offline and sends each record with its own key; when
a network drops after the server wrote but before the answer arrived, the app cannot tell, so it
sends again. Each step runs in its own short transaction (like the rate limits), so the claim is
visible to every server process at once and no connection is held while the request itself runs.

A kept answer may hold personal data (a visit's findings, a case's description), which is sealed
everywhere else at rest: the body is kept sealed too (AES-GCM under a key derived from the server's
``WANGGE_SECRET_KEY``, which is in neither the database nor a backup). An answer kept under a former
secret cannot be opened: the retry is told the request already ran (``unreadable``), never run again.

The claim and the route's own transaction are separate: a process that dies after the route
committed and before the response was stored leaves a claim without a response; after
``STALE_AFTER`` a retry runs again. Storing the response inside the route's transaction would
close that gap but would need every route to know about keys, which the contract rules out.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text
from sqlalchemy.engine import Engine

# How long a key is remembered: longer than any shift offline, and any client's retry schedule.
RETENTION = dt.timedelta(days=30)
# A claim without a response this old belongs to a request that died with its process.
STALE_AFTER = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class StoredResponse:
    """What the first request under a key was answered."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming a key.

    ``new``: run the request (this caller holds the key); ``replay``: answer ``response``;
    ``mismatch``: the key was first used for another request (``first_use`` names it);
    ``in_progress``: the first request under the key is still running; ``no_user``: no such user;
    ``unreadable``: it ran, but its answer was sealed under a former server secret.
    """

    outcome: Literal["new", "replay", "mismatch", "in_progress", "no_user", "unreadable"]
    response: StoredResponse | None = None
    first_use: str | None = None


_AAD = b"wangge:idempotency_key.response_body"


def _body_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"wangge:idempotency").derive(secret.encode())


def _seal(secret: str, body: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_body_key(secret)).encrypt(nonce, body, _AAD)


def _open(secret: str, sealed: bytes) -> bytes | None:
    try:
        return AESGCM(_body_key(secret)).decrypt(sealed[:12], sealed[12:], _AAD)
    except (InvalidTag, ValueError):
        return None


def claim_key(engine: Engine, *, user_id: int, key: str, method: str, path: str, request_hash: bytes,
              secret: str) -> Claim:
    """Claim ``key`` for ``user_id``'s request, or say why the request must not run."""
    with engine.begin() as conn:
        inserted = conn.execute(text("""
            INSERT INTO idempotency_key (user_id, key, district_code, method, path, request_hash)
            SELECT id, :key, district_code, :method, :path, :hash FROM app_user WHERE id = :uid
            ON CONFLICT (user_id, key) DO NOTHING RETURNING 1"""),
            {"uid": user_id, "key": key, "method": method, "path": path, "hash": request_hash}).first()
        if inserted:
            # Forget keys past retention, a few at a time, as new ones arrive (no sweeper process needed).
            conn.execute(text("""
                DELETE FROM idempotency_key WHERE ctid IN (SELECT ctid FROM idempotency_key
                WHERE created_at < now() - make_interval(secs => :keep) LIMIT 100)"""),
                {"keep": RETENTION.total_seconds()})
            return Claim("new")
        row = conn.execute(text("""
            SELECT method, path, request_hash, status_code, response_headers, response_body,
                   created_at < now() - make_interval(secs => :stale) AS stale
            FROM idempotency_key WHERE user_id = :uid AND key = :key FOR UPDATE"""),
            {"uid": user_id, "key": key, "stale": STALE_AFTER.total_seconds()}).first()
        if row is None:
            exists = conn.execute(text("SELECT 1 FROM app_user WHERE id = :uid"), {"uid": user_id}).first()
            return Claim("no_user") if exists is None else Claim("in_progress")  # deleted between two statements
        if bytes(row.request_hash) != request_hash:
            return Claim("mismatch", first_use=f"{row.method} {row.path}")
        if row.status_code is not None:
            headers = [(str(n), str(v)) for n, v in (row.response_headers or [])]
            body = _open(secret, bytes(row.response_body or b""))
            if body is None:
                return Claim("unreadable", first_use=f"{row.method} {row.path}")
            return Claim("replay", StoredResponse(row.status_code, headers, body))
        if row.stale:
            conn.execute(text("UPDATE idempotency_key SET created_at = now() WHERE user_id = :uid AND key = :key"),
                         {"uid": user_id, "key": key})
            return Claim("new")
        return Claim("in_progress")


def store_response(engine: Engine, *, user_id: int, key: str, response: StoredResponse, secret: str) -> None:
    """Keep the response of the request that holds ``key`` (its body sealed under ``secret``)."""
    with engine.begin() as conn:
        conn.execute(text("""
            UPDATE idempotency_key SET status_code = :status, response_headers = CAST(:headers AS jsonb),
                   response_body = :body, completed_at = now()
            WHERE user_id = :uid AND key = :key"""),
            {"uid": user_id, "key": key, "status": response.status,
             "headers": json.dumps([list(h) for h in response.headers]), "body": _seal(secret, response.body)})


def release_key(engine: Engine, *, user_id: int, key: str) -> None:
    """Give ``key`` back unanswered (the request failed in a way a retry may fix)."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM idempotency_key WHERE user_id = :uid AND key = :key AND status_code IS NULL"),
                     {"uid": user_id, "key": key})
