"""``Idempotency-Key`` on every POST, PUT and PATCH: a retry gets the first answer, and nothing is written twice.

Plain ASGI middleware rather than a dependency, so that every write route has it without knowing
(the contract: routes do nothing for it) and the whole response, status, headers and body, can be
kept. The key is per signed-in user (the bearer token's subject, read here without the checks the
access table makes; a request with a bad token is passed on and refused by the route as usual).

- A first request under a key is run and its answer stored (``gis.services.idempotency``).
- The same key with the same request (method, path, query, If-Match, content type and body; a JSON
  body compared as data, a multipart body without its random boundary) gets the stored answer
  again, with ``Idempotent-Replayed: true``.
- The same key with another request: 422 ``idempotency_key_reused``.
- The same key while the first is still running: 409 ``idempotency_key_in_progress`` (Retry-After).
- Answers a retry may change (401, 408, 425, 428, 429, 5xx, or a crash) are not kept: the key is
  given back, so that signing in again or waiting and sending the same request runs it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

import jwt
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from api.security import ALGORITHM
from gis.services import idempotency as store
from gis.settings import Settings

HEADER = "Idempotency-Key"
METHODS = frozenset({"POST", "PUT", "PATCH"})
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII: a UUID, a ULID, "visit-17-3"
# Answers that say nothing final about the request: a retry must run it again.
_NOT_KEPT = frozenset({401, 408, 425, 428, 429})
MAX_KEPT_BODY = 4 * 1024 * 1024  # larger answers are sent but not kept (and the key is given back)
_BOUNDARY = re.compile(rb"boundary=\"?([^\";]+)\"?", re.IGNORECASE)


def _json_response(status: int, body: dict[str, Any],
                   extra: Sequence[tuple[bytes, bytes]] = ()) -> tuple[Message, Message]:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()), *extra]
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": raw, "more_body": False})


def request_digest(method: str, path: str, query: bytes, headers: dict[bytes, bytes], body: bytes) -> bytes:
    """A digest of what makes two requests the same request."""
    content_type = headers.get(b"content-type", b"")
    kind = content_type.split(b";", 1)[0].strip().lower()
    if kind == b"application/json" or kind.endswith(b"+json"):
        try:  # the same data sent again with other spacing or key order is the same request
            body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode("utf-8")
        except ValueError:
            pass
    elif kind == b"multipart/form-data":
        found = _BOUNDARY.search(content_type)
        if found:  # a browser draws a new boundary for every send of the same form
            body = body.replace(found.group(1), b"")
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode("utf-8"), query, headers.get(b"if-match", b""), kind, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


class Idempotency:
    """Keeps the answer of each keyed write per user, and replays it to retries."""

    def __init__(self, app: ASGIApp, *, engine: Engine, settings: Settings) -> None:
        self.app = app
        self.engine = engine
        self.secret = settings.secret_key

    def _user_id(self, headers: dict[bytes, bytes]) -> int | None:
        auth = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(token.strip(), self.secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]})
        except jwt.PyJWTError:
            return None
        subject = str(claims.get("sub"))
        return int(subject) if subject.isdigit() else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not _KEY.fullmatch(key):
            for message in _json_response(422, error_body(
                    "invalid_input", f"幂等键须为 1–255 个可见 ASCII 字符 · {HEADER}: 1 to 255 visible ASCII "
                    "characters (e.g. a UUID)", {"header": HEADER, "max_length": 255})):
                await send(message)
            return
        user_id = self._user_id(headers)
        if user_id is None:  # not signed in (or a bad token): the route answers as it would without a key
            await self.app(scope, receive, send)
            return

        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        method, path = scope["method"], scope["path"]
        digest = request_digest(method, path, scope.get("query_string", b""), headers, body)
        claim = await run_in_threadpool(store.claim_key, self.engine, user_id=user_id, key=key, method=method,
                                        path=path, request_hash=digest, secret=self.secret)
        if claim.outcome == "replay":
            stored = claim.response
            assert stored is not None
            await send({"type": "http.response.start", "status": stored.status,
                        "headers": [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stored.headers]
                        + [(b"idempotent-replayed", b"true")]})
            await send({"type": "http.response.body", "body": stored.body, "more_body": False})
            return
        if claim.outcome == "mismatch":
            for message in _json_response(422, error_body(
                    "idempotency_key_reused",
                    f"此幂等键已用于另一个请求 · {HEADER} {key!r} was already used for a different request "
                    f"({claim.first_use}); send a new key for a new request",
                    {"header": HEADER, "key": key, "first_used_for": claim.first_use})):
                await send(message)
            return
        if claim.outcome == "unreadable":
            for message in _json_response(409, error_body(
                    "idempotency_key_unreadable",
                    f"{HEADER} {key!r}: this request already ran ({claim.first_use}); its answer was kept under "
                    "a former server key and cannot be shown again", {"header": HEADER, "key": key})):
                await send(message)
            return
        if claim.outcome == "in_progress":
            for message in _json_response(409, error_body(
                    "idempotency_key_in_progress",
                    f"同一请求仍在处理中，请稍后重试 · the first request under {HEADER} {key!r} is still running; "
                    "retry shortly", {"header": HEADER, "key": key}), [(b"retry-after", b"1")]):
                await send(message)
            return
        if claim.outcome == "no_user":
            await self.app(scope, self._replay_body(body, receive), send)
            return

        state: dict[str, Any] = {"status": None, "headers": [], "body": [], "size": 0, "done": False}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["headers"] = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                part = message.get("body", b"")
                state["size"] += len(part)
                if state["size"] <= MAX_KEPT_BODY:
                    state["body"].append(part)
                if not message.get("more_body", False):
                    state["done"] = True
                    # Kept before the last byte goes out: a retry arriving at once finds the answer, not the claim.
                    await self._finish(user_id, key, state)
            await send(message)

        try:
            await self.app(scope, self._replay_body(body, receive), keep)
        finally:
            if not state["done"]:
                await run_in_threadpool(store.release_key, self.engine, user_id=user_id, key=key)

    async def _finish(self, user_id: int, key: str, state: dict[str, Any]) -> None:
        status = state["status"]
        if status is None or status >= 500 or status in _NOT_KEPT or state["size"] > MAX_KEPT_BODY:
            await run_in_threadpool(store.release_key, self.engine, user_id=user_id, key=key)
            return
        response = store.StoredResponse(status, state["headers"], b"".join(state["body"]))
        await run_in_threadpool(store.store_response, self.engine, user_id=user_id, key=key, response=response,
                                secret=self.secret)

    @staticmethod
    def _replay_body(body: bytes, receive: Receive) -> Receive:
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay
