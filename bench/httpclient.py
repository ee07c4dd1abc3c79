"""A lean asyncio HTTP/1.1 keep-alive client for the benches: one ``Connection`` per simulated client.

A load generator on the same machine as the server must cost far less than the server it measures.
Measured here: httpx's AsyncClient spent 1.5 ms of CPU a request against our tile server with 8
in flight (a bare client 0.07 ms), and 8.6–10 ms a request in ``bench/load.py`` with 50–200
connections in one pool (the server 9–11 ms), so the clients ate more than a core of the two and
set the pace; with this client on uvloop, ``bench/load.py --clients 50 --think-time 0`` spends
0.2 ms. It parses a response straight from the bytes the event loop hands it (``asyncio.Protocol``,
no stream layer) and keeps one connection per simulated client, with no pool.

What it does: ``Connection.request(method, target, headers, body)`` → ``Response(status, headers,
body)``; bodies framed by ``Content-Length``, ``Transfer-Encoding: chunked`` (trailers skipped) or
the end of the connection; no compression (it sends no ``Accept-Encoding``), no redirects, no
cookies, no TLS. Every failure to get an answer is raised as ``TransportError`` whose ``kind`` uses
httpx's names (``ConnectError``, ``WriteError``, ``ReadError``, ``RemoteProtocolError``,
``ReadTimeout``), with the underlying exception as its ``__cause__``.

When a request is sent again. A server closes an idle keep-alive connection whenever it likes (uvicorn
after ``timeout_keep_alive``), and a client may send on it in the same instant. The request is sent
again, once, on a new connection, only when all of these hold:

* the connection was reused (it already carried an answer): a fresh connection that fails is the
  server's failure, reported as it is;
* not one byte of an answer came back;
* the failure was the connection closing: found closed before sending (then nothing was sent at
  all), refused or reset at write time, or the end of the stream or a reset while waiting for the
  first byte of the answer.

A server drops an idle connection only between requests, with our request unread in its socket
(the kernel then answers with a reset or the stream just ends): that request was never handled, so
sending it again cannot apply a write twice. A timeout or an answer cut off part-way is never sent
again, since the server may have acted on it. ``Connection.resent`` counts the requests sent twice.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, NamedTuple, cast

__all__ = ["Connection", "Response", "TransportError"]

NO_BODY_STATUSES = frozenset({204, 304})


class TransportError(Exception):
    """A request that got no HTTP answer; ``kind`` says what failed, the cause is chained (``raise ... from``)."""

    def __init__(self, kind: str, message: str, *, nothing_read: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        # The connection closed (at write time or before the first byte of an answer): may be sent again.
        self.nothing_read = nothing_read


class Response(NamedTuple):
    """An answer: status, header fields (names lower-cased, the last of repeated fields) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Parser:
    """One response being read from the bytes as they arrive."""

    __slots__ = ("buffer", "head_end", "status", "headers", "length", "chunked", "position", "body", "received")

    def __init__(self, no_body: bool) -> None:
        self.buffer = bytearray()
        self.head_end = -1
        self.status = 0
        self.headers: dict[str, str] = {}
        self.length: int | None = 0 if no_body else None  # None: until the connection ends (or chunked)
        self.chunked = False
        self.position = 0  # chunked: where the next chunk's size line starts
        self.body = bytearray()
        self.received = 0

    def feed(self, data: bytes) -> Response | None:
        """Take more bytes; the response once complete, else None. Raises ValueError on a malformed one."""
        self.received += len(data)
        self.buffer += data
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            self.head_end = end + 4
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            version, _, rest = lines[0].partition(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(f"not an HTTP/1 status line: {lines[0][:80]!r}")
            self.status = int(rest[:3])
            headers = self.headers
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if self.status < 200:  # 100 Continue and the like: skip it, the answer follows
                del self.buffer[:self.head_end]
                self.head_end, self.status, self.headers = -1, 0, {}
                return self.feed(b"")
            if self.length is None and self.status not in NO_BODY_STATUSES:
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    self.chunked, self.position = True, self.head_end
                elif "content-length" in headers:
                    self.length = int(headers["content-length"])
            else:
                self.length = 0
        if self.chunked:
            return self._chunks()
        if self.length is not None and len(self.buffer) >= self.head_end + self.length:
            return Response(self.status, self.headers, bytes(self.buffer[self.head_end:self.head_end + self.length]))
        return None

    def _chunks(self) -> Response | None:
        buffer = self.buffer
        while True:
            line_end = buffer.find(b"\r\n", self.position)
            if line_end < 0:
                return None
            size = int(buffer[self.position:line_end].split(b";", 1)[0], 16)
            if size == 0:  # the last chunk, then trailer lines up to a blank line
                end = buffer.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return None
                return Response(self.status, self.headers, bytes(self.body))
            start = line_end + 2
            if len(buffer) < start + size + 2:
                return None
            self.body += buffer[start:start + size]
            self.position = start + size + 2

    def at_end(self) -> Response | None:
        """The response when the connection ended, if its body runs to the end (no length given)."""
        if self.head_end >= 0 and self.length is None and not self.chunked:
            return Response(self.status, self.headers, bytes(self.buffer[self.head_end:]))
        return None


class _Protocol(asyncio.Protocol):
    """The socket's side of a connection: hands the bytes to the parser of the response awaited."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser: _Parser | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        waiter, parser = self.waiter, self.parser
        if waiter is None or parser is None or waiter.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        try:
            response = parser.feed(data)
        except (ValueError, IndexError) as error:
            self.abort()
            failure = TransportError("RemoteProtocolError", f"malformed response: {error}")
            failure.__cause__ = error
            waiter.set_exception(failure)
            return
        if response is not None:
            self.parser = None
            self.answered += 1
            if response.headers.get("connection", "").lower() == "close":
                self.abort()
            waiter.set_result(response)

    def eof_received(self) -> bool:
        self.closed = True
        self._ended(None)
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        waiter, parser = self.waiter, self.parser
        if waiter is None or parser is None or waiter.done():
            return
        self.parser = None
        if exc is None and (response := parser.at_end()) is not None:
            self.answered += 1
            waiter.set_result(response)
            return
        nothing = parser.received == 0
        if exc is None:
            kind = "RemoteProtocolError"
            message = ("server disconnected without sending a response" if nothing
                       else f"server disconnected after {parser.received} bytes of an incomplete response")
        else:
            kind, message = "ReadError", f"connection lost: {exc!r}"
        failure = TransportError(kind, message, nothing_read=nothing)
        failure.__cause__ = exc
        waiter.set_exception(failure)

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``, opened on first use and again when it closed.

    ``headers`` go with every request; ``timeout`` (seconds, None: none) bounds each request from
    sending to the last byte of the answer. One request at a time: a simulated client awaits its
    answer before it asks again.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None, *,
                 timeout: float | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.preamble = f"Host: {host}:{port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.protocol: _Protocol | None = None
        self.resent = 0

    async def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                      body: bytes | None = None) -> Response:
        """Send one request and read its answer; a ``TransportError`` when there is none."""
        head = f"{method} {target} HTTP/1.1\r\n{self.preamble}"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        payload = (head + "\r\n").encode("latin-1") + (body or b"")
        no_body = method == "HEAD"
        protocol = self.protocol
        if protocol is not None and (protocol.closed or protocol.transport is None
                                     or protocol.transport.is_closing()):
            self.close()  # closed while idle: nothing was sent, open another
            protocol = None
        reused = protocol is not None and protocol.answered > 0
        try:
            return await self._exchange(payload, no_body)
        except TransportError as error:
            if not (reused and error.nothing_read):
                raise
        self.resent += 1
        return await self._exchange(payload, no_body)

    async def _exchange(self, payload: bytes, no_body: bool) -> Response:
        loop = asyncio.get_running_loop()
        if self.protocol is None:
            try:
                _, self.protocol = await loop.create_connection(_Protocol, self.host, self.port)
            except OSError as error:
                raise TransportError("ConnectError", f"cannot connect to {self.host}:{self.port}: {error}") from error
        protocol = self.protocol
        assert protocol.transport is not None
        waiter: asyncio.Future[Response] = loop.create_future()
        protocol.waiter, protocol.parser = waiter, _Parser(no_body)
        try:
            protocol.transport.write(payload)
        except (OSError, RuntimeError) as error:
            self.close()
            raise TransportError("WriteError", f"write failed: {error}", nothing_read=True) from error
        timer = loop.call_later(self.timeout, self._time_out, waiter) if self.timeout is not None else None
        try:
            return await waiter
        except BaseException:  # no answer, or the caller gave up on it (cancelled): its bytes must not be
            self.close()       # taken for the next request's answer
            raise
        finally:
            protocol.waiter = None
            if timer is not None:
                timer.cancel()

    def _time_out(self, waiter: asyncio.Future[Response]) -> None:
        if not waiter.done():
            waiter.set_exception(TransportError("ReadTimeout", f"no complete answer within {self.timeout:g} s"))

    def close(self) -> None:
        """Drop the connection (the next request opens another)."""
        if self.protocol is not None:
            self.protocol.abort()
            self.protocol = None

    async def aclose(self) -> None:
        self.close()
