"""Vector tiles served again without the database: what each server process keeps, and how it learns of changes.

A tile of a given layer version is fixed, so each process keeps three things in memory:

* rendered tiles, least recently used first out, bounded by bytes, keyed by (layer, version,
  z, x, y, scope, facility type); the scope is the caller's full incident scope on per-user
  layers (``gis.services.tiles.scope_name``), empty elsewhere, so a grid worker's key never equals
  that of a wider scope;
* every layer's current version;
* the principal of each bearer token that a full request has already signed in (``api.deps.authorize``
  keeps it for every route, not only tiles), until the token expires or the user's grid assignments
  next start or end.

Behind them sits the shared table ``tile_cache`` (``gis.services.tiles.draw_or_fetch_tile``):
a process that misses in memory reads another process's rendering before drawing its own.

The process learns of changes by LISTEN (migration 0011): a committed change of
``layer_version`` makes it re-read the versions, a change of a user or of their grid assignments
drops that user's tokens. Until it listens, after the connection drops, and while the app's
sessions are replaced (tests run every request in one transaction that is never committed, whose
changes no notice announces), nothing kept is used: every request takes the full route.

``TileFastPath`` answers a tile request from memory before FastAPI's routing, dependencies and
thread pool (about a millisecond of CPU a request, more than the rest of a warm tile) when it
has everything: the token's principal, the layer version, and the tile or a matching
``If-None-Match``. Anything else (no or unknown token, a version newer than ours in ``?v=``, a
tile not in memory, any error) goes to the route, which answers exactly as before and fills the
caches. A notice arrives a moment after its commit; in that moment a process may still answer
with the previous version (or let a just-revoked token fetch a tile it fetched before), as a
request that began just before the commit would.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt
import psycopg
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import get_session
from api.routes.tiles import below_min_zoom, matches, not_modified, tile_body, tile_headers
from gis.db.engine import libpq_url
from gis.services import tiles as tile_service
from gis.services.users import Principal

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

logger = logging.getLogger("wangge.api.tiles")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_TOKENS = 10_000
# How long the listener waits for a notice before checking whether it should stop.
POLL_SECONDS = 0.5
LAYER_CHANNEL = "wangge_layer_version"
PRINCIPAL_CHANNEL = "wangge_principal"
BARRIER_CHANNEL = "wangge_tile_cache_barrier"
# Canonical numbers only: anything pydantic might read differently ("014", "+1") takes the route.
_TILE_PATH = re.compile(r"/tiles/(?P<layer>[a-z_]{1,40})/(?P<z>0|[1-9][0-9]?)/(?P<x>0|[1-9][0-9]{0,7})/"
                        r"(?P<y>0|[1-9][0-9]{0,7})\.mvt")
_VERSION = re.compile(r"0|[1-9][0-9]{0,17}")
# Bytes a kept tile costs beyond its body (key tuple, dict slot), so that empty tiles count too.
_ENTRY_OVERHEAD = 200

TileKey = tuple[str, int, int, int, int, str, str | None]


def tile_key(layer: tile_service.TileLayer, version: int, z: int, x: int, y: int, principal: Principal,
             type_code: str | None) -> TileKey:
    """The in-memory key of a tile: everything its content depends on."""
    kind = (type_code or None) if layer.name == "coverage_gaps" else None
    return layer.name, version, z, x, y, tile_service.tile_scope(layer, principal), kind


def bearer_token(headers: Headers) -> str | None:
    """The bearer token of ``Authorization``, read as ``OAuth2PasswordBearer`` reads it."""
    scheme, token = get_authorization_scheme_param(headers.get("authorization"))
    return token if scheme.lower() == "bearer" and token else None


def route_path(scope: Scope) -> str:
    """The path below the app's root path, as Starlette's router matches it."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] == "/":
        return path[len(root):]
    return path


class _Tiles:
    """Rendered tiles, least recently used dropped first once ``max_bytes`` is exceeded."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[TileKey, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: TileKey) -> bytes | None:
        with self._lock:
            data = self._entries.get(key)
            if data is not None:
                self._entries.move_to_end(key)
            return data

    def put(self, key: TileKey, data: bytes) -> None:
        size = len(data) + _ENTRY_OVERHEAD
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + _ENTRY_OVERHEAD
            self._entries[key] = data
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped) + _ENTRY_OVERHEAD

    def drop_older(self, versions: dict[str, int]) -> None:
        """Forget tiles of versions older than ``versions`` (they can no longer be asked for)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] in versions and k[1] < versions[k[0]]]:
                self._bytes -= len(self._entries.pop(key)) + _ENTRY_OVERHEAD

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def size(self) -> tuple[int, int]:
        """Tiles kept and the bytes they count for."""
        return len(self._entries), self._bytes


@dataclass(frozen=True)
class _SignedIn:
    principal: Principal
    until: float  # epoch seconds: the token's expiry or the next change of the user's grid assignments


class TileCache:
    """The tiles, layer versions and signed-in principals one server process keeps, and its listener."""

    def __init__(self, engine: Engine, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._engine = engine
        self.tiles = _Tiles(max_bytes)
        self._tokens: dict[str, _SignedIn] = {}
        self._versions: dict[str, int] = {}  # replaced whole, never changed in place
        self._generation = 0  # bumped whenever kept principals are dropped
        self._listening = False
        self._lock = threading.Lock()
        self._handled = threading.Condition()
        self._barriers: set[str] = set()
        self._connections = 0  # how many times the listener has connected
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.counts = {"memory": 0, "not_modified": 0, "route": 0}

    # --- state ------------------------------------------------------------------------------

    def is_usable(self, app: FastAPI) -> bool:
        """Whether kept state may answer requests of ``app``: only while listening, with the app's own sessions."""
        if get_session in app.dependency_overrides:
            return False
        if not self._listening:
            self.start()
            return False
        return True

    @property
    def generation(self) -> int:
        return self._generation

    def version(self, layer: str) -> int | None:
        return self._versions.get(layer)

    def signed_in(self, token: str) -> Principal | None:
        """The kept principal of ``token`` while it is valid, else None."""
        entry = self._tokens.get(token)
        if entry is None or entry.until <= time.time():
            return None
        return entry.principal

    def remember(self, request: Request, session: Session, principal: Principal, *, started_in: int) -> None:
        """Keep the principal that ``authorize`` found for this request's token, unless it may have changed since.

        ``started_in`` is the generation read before the principal was read from the database: a
        notice handled in between may concern this user, and then nothing is kept.
        """
        token = bearer_token(request.headers)
        if token is None or self.signed_in(token) is not None or not self.is_usable(request.app):
            return
        # authorize has verified this token in this request; only its expiry is read here.
        until = float(jwt.decode(token, options={"verify_signature": False})["exp"])
        if principal.is_grid_scoped:
            change = session.scalar(text(
                "SELECT min(t) FROM (SELECT valid_from AS t FROM grid_assignment WHERE user_id = :u "
                "AND valid_from > now() UNION ALL SELECT valid_to FROM grid_assignment WHERE user_id = :u "
                "AND valid_to > now()) s"), {"u": principal.user_id})
            if change is not None:
                until = min(until, change.timestamp())
        with self._lock:
            # A notice handled since the request began may concern this user: keep nothing then.
            if self._generation != started_in or not self._listening:
                return
            if len(self._tokens) >= MAX_TOKENS:
                del self._tokens[next(iter(self._tokens))]
            self._tokens[token] = _SignedIn(principal, until)

    def _forget_users(self, user_ids: set[int] | None) -> None:
        with self._lock:
            self._generation += 1
            if user_ids is None:
                self._tokens.clear()
            else:
                for token in [t for t, e in self._tokens.items() if e.principal.user_id in user_ids]:
                    del self._tokens[token]

    def _reset(self) -> None:
        """Forget everything: notices may have been missed."""
        self._versions = {}
        self._forget_users(None)
        self.tiles.clear()

    def _read_versions(self, conn: psycopg.Connection[Any]) -> None:
        # On the listener's own connection: from the app's pool, this thread would take a connection
        # the requests count on (and hold one while the database comes back after an outage).
        versions = tile_service.versions_from_counters(dict(conn.execute(tile_service.LAYER_COUNTERS).fetchall()))
        self._versions = versions
        self.tiles.drop_older(versions)

    # --- the listener -------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening for changes in a background thread (once)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            # A stop signal per thread: one that outlived close()'s wait must not run on with the next.
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._listen, args=(self._stop,), name="wangge-tile-cache",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop listening and forget everything (the app is shutting down)."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        self._thread = None
        self._listening = False
        self._reset()

    def _listen(self, stop: threading.Event) -> None:
        dsn = libpq_url(self._engine.url.render_as_string(hide_password=False))
        delay = 0.1
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5,
                                     application_name="wangge tile cache") as conn:
                    conn.execute(f"LISTEN {LAYER_CHANNEL}")
                    conn.execute(f"LISTEN {PRINCIPAL_CHANNEL}")
                    conn.execute(f"LISTEN {BARRIER_CHANNEL}")
                    # Listening first: any change committed from here on is announced.
                    self._reset()
                    self._read_versions(conn)
                    with self._handled:
                        self._listening = True
                        self._connections += 1
                        self._handled.notify_all()
                    delay = 0.1
                    while not stop.is_set():
                        self._handle(list(conn.notifies(timeout=POLL_SECONDS, stop_after=1)), conn)
            except Exception as exc:  # noqa: BLE001 - whatever broke, stop trusting what is kept and retry
                if not stop.is_set():
                    logger.warning("tile cache listener: %s; serving every tile through the database until "
                                   "it reconnects", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            finally:
                if stop is self._stop:  # a thread close() gave up waiting for must not touch its successor's state
                    self._listening = False
                    self._reset()
            stop.wait(delay)
            delay = min(delay * 2, 5.0)

    def _handle(self, notices: list[psycopg.Notify], conn: psycopg.Connection[Any]) -> None:
        sources = {n.payload for n in notices if n.channel == LAYER_CHANNEL}
        users = {int(n.payload) for n in notices if n.channel == PRINCIPAL_CHANNEL and n.payload.isdigit()}
        if users:
            self._forget_users(users)
        if sources:
            # Stop answering for the changed layers at once; the re-read takes a moment.
            self._versions = {name: v for name, v in self._versions.items()
                              if not sources & set(tile_service.LAYERS[name].sources)}
            self._read_versions(conn)
        barriers = {n.payload for n in notices if n.channel == BARRIER_CHANNEL}
        if barriers:
            with self._handled:
                self._barriers |= barriers
                self._handled.notify_all()

    def barrier(self, timeout: float = 30.0) -> bool:
        """Wait until every change committed before this call has been handled; False if that took over ``timeout``.

        PostgreSQL delivers notices in commit order, so once a notice sent now comes back, all
        earlier ones have been handled. A notice sent while the listener's connection was already
        lost is sent again once it has reconnected. For tests and benchmarks: requests never wait.
        """
        self.start()
        deadline = time.monotonic() + timeout
        dsn = libpq_url(self._engine.url.render_as_string(hide_password=False))
        mark = uuid.uuid4().hex
        with self._handled:
            while True:
                if not self._handled.wait_for(lambda: self._listening, timeout=max(0.0, deadline - time.monotonic())):
                    return False
                connection = self._connections
                with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute("SELECT pg_notify(%s, %s)", (BARRIER_CHANNEL, mark))
                # Bound now: the predicate runs within this iteration, against this iteration's connection.
                done = self._handled.wait_for(
                    lambda seen=connection: mark in self._barriers or self._connections != seen,  # type: ignore[misc]
                    timeout=max(0.0, deadline - time.monotonic()))
                if mark in self._barriers:
                    self._barriers.discard(mark)
                    return True
                if not done:
                    return False

    def describe(self) -> dict[str, Any]:
        """What is kept and how tile requests were answered so far (for tests and the bench)."""
        tiles, size = self.tiles.size
        return {"listening": self._listening, "tiles": tiles, "bytes": size, "tokens": len(self._tokens),
                "versions": dict(self._versions), **self.counts}

    # --- answering ----------------------------------------------------------------------------

    def tile(self, request: Request, session: Session, principal: Principal, *, layer: tile_service.TileLayer,
             z: int, x: int, y: int, version: int, type_code: str | None) -> bytes:
        """The tile's bytes: from memory, else from the shared table, else drawn (and kept in both)."""
        usable = self.is_usable(request.app)
        key = tile_key(layer, version, z, x, y, principal, type_code)
        data = self.tiles.get(key) if usable else None
        if data is None:
            data = tile_service.draw_or_fetch_tile(session, principal, layer=layer, z=z, x=x, y=y, version=version,
                                                   type_code=type_code)
            if usable:
                self.tiles.put(key, data)
        return data

    def answer(self, scope: Scope, found: re.Match[str]) -> Response | None:
        """The response to a tile request from memory alone, or None when the route must answer."""
        headers = Headers(scope=scope)
        token = bearer_token(headers)
        principal = self.signed_in(token) if token else None
        layer = tile_service.LAYERS.get(found["layer"])
        if principal is None or layer is None:
            return None
        z, x, y = int(found["z"]), int(found["x"]), int(found["y"])
        if z > tile_service.MAX_ZOOM or x >> z or y >> z:
            return None
        if z < layer.min_zoom:
            return below_min_zoom()
        version = self.version(layer.name)
        query = QueryParams(scope["query_string"])
        pinned = query.get("v")
        if version is None or (pinned is not None and not _VERSION.fullmatch(pinned)):
            return None
        if pinned is not None and int(pinned) > version:
            return None  # the client has seen a newer version than we know of: ask the database
        etag = tile_service.tile_etag(layer, version, principal)
        response_headers = tile_headers(etag, version, None if pinned is None else int(pinned))
        if matches(headers.get("if-none-match"), etag):
            self.counts["not_modified"] += 1
            return not_modified(response_headers)
        data = self.tiles.get(tile_key(layer, version, z, x, y, principal, query.get("type")))
        if data is None:
            return None
        self.counts["memory"] += 1
        return tile_body(data, response_headers)


class TileFastPath:
    """ASGI middleware: tile requests answered from ``TileCache`` when it can, everything else passed on."""

    def __init__(self, app: ASGIApp, *, cache: TileCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = _TILE_PATH.fullmatch(route_path(scope))
            if found is not None:
                response = None
                if self.cache.is_usable(scope["app"]):
                    try:
                        response = self.cache.answer(scope, found)
                    except Exception:  # noqa: BLE001 - the route answers (and reports) whatever went wrong here
                        logger.exception("tile fast path failed; the route answers instead")
                if response is not None:
                    await response(scope, receive, send)
                    return
                self.cache.counts["route"] += 1
        await self.app(scope, receive, send)

