"""bench/httpclient.py against a scripted asyncio server: framing, keep-alive, and when a request is sent again."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import json
import socket
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

PATH = Path(__file__).resolve().parents[2] / "bench" / "httpclient.py"
spec = importlib.util.spec_from_file_location("bench_httpclient", PATH)
assert spec is not None and spec.loader is not None
httpclient = importlib.util.module_from_spec(spec)
spec.loader.exec_module(httpclient)


class Server:
    """Answers by path; records every connection and every request it read (connection number, method, path, body)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[tuple[int, str, str, bytes]] = []
        self.dropped: set[str] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            while True:
                try:
                    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                except asyncio.IncompleteReadError:
                    return
                method, path, _ = head[0].split(" ")
                fields = {k.strip().lower(): v.strip()
                          for k, _, v in (line.partition(":") for line in head[1:] if line)}
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                self.requests.append((number, method, path, body))
                if not await self.answer(method, path, body, fields, writer):
                    return
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: bytes, fields: dict[str, str],
                     writer: asyncio.StreamWriter) -> bool:
        """Write the answer for ``path``; False when the connection is to be closed."""
        if path.startswith("/len/"):
            size = int(path.removeprefix("/len/"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % size
                         + b"x" * size)
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Test: yes\r\n\r\n")
            await writer.drain()
            writer.write(b"5;name=value\r\nhello\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)  # the rest arrives separately
            writer.write(b"1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
        elif path == "/echo":
            answer = json.dumps({"method": method, "type": fields.get("content-type"), "body": body.decode(),
                                 "reason": fields.get("x-reason")}).encode()
            writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
        elif path == "/to-the-end":  # no length: the body ends with the connection
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
            return False
        elif path == "/then-close":  # answers, then closes the idle connection (no Connection: close)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            return False
        elif path == "/close-header":
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye")
            await writer.drain()
            await asyncio.sleep(0.2)  # the client closes first, on the header alone
            return False
        elif path == "/not-modified":
            writer.write(b"HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n")
        elif path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
        elif path == "/drop-once" and path not in self.dropped:  # read, then closed with no answer
            self.dropped.add(path)
            return False
        elif path == "/drop-once":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain")
        elif path == "/drop":
            return False
        elif path == "/partial":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
            return False
        elif path == "/slow":
            await asyncio.sleep(5)
            return False
        elif path == "/garbage":
            writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()
        return True


def run(scenario: Callable[[Server, Any], Awaitable[None]]) -> Server:
    """Start the server on a free loopback port, run ``scenario(server, connection)``, stop the server."""
    server = Server()

    async def main() -> None:
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = listening.sockets[0].getsockname()[1]
        connection = httpclient.Connection("127.0.0.1", port, {"X-Reason": "test"}, timeout=1)
        try:
            await scenario(server, connection)
        finally:
            connection.close()
            listening.close()
            await listening.wait_closed()

    run_in_thread(main())
    return server


def run_in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run(coroutine)`` in a thread of its own.

    A pytest-xdist worker that ran a browser test keeps Playwright's sync API started, whose event
    loop counts as running in the main thread, and asyncio.run() refuses to start there.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def test_keep_alive_framing_and_json() -> None:
    async def scenario(server: Server, connection: Any) -> None:
        response = await connection.request("GET", "/len/70000")
        assert (response.status, response.headers["content-type"], response.body) == (200, "text/plain",
                                                                                        b"x" * 70000)
        status, headers, body = await connection.request("GET", "/chunked")
        assert (status, headers["x-test"], body) == (200, "yes", b"hello world")
        answer = (await connection.request("POST", "/echo", {"Content-Type": "application/json"},
                                           json.dumps({"a": "网格"}).encode())).json()
        assert answer == {"method": "POST", "type": "application/json", "body": '{"a": "\\u7f51\\u683c"}',
                          "reason": "test"}
        assert (await connection.request("GET", "/not-modified"))[:2] == (304, {"etag": '"1"'})
        assert (await connection.request("GET", "/continue")).body == b"done"
        assert (await connection.request("GET", "/len/0")).body == b""

    server = run(scenario)
    assert server.connections == 1
    assert [r[2] for r in server.requests] == ["/len/70000", "/chunked", "/echo", "/not-modified", "/continue",
                                               "/len/0"]


def test_a_connection_closed_by_the_server_is_opened_again_without_resending() -> None:
    async def scenario(server: Server, connection: Any) -> None:
        assert (await connection.request("GET", "/to-the-end")).body == b"until the end"
        assert (await connection.request("GET", "/then-close")).body == b"ok"
        for _ in range(500):  # the server's close arrives while the connection is idle
            if connection.protocol.closed:
                break
            await asyncio.sleep(0.01)
        assert (await connection.request("GET", "/close-header")).body == b"bye"
        assert (await connection.request("GET", "/len/1")).body == b"x"
        assert connection.resent == 0

    server = run(scenario)
    assert server.connections == 4
    assert [(r[0], r[2]) for r in server.requests] == [(1, "/to-the-end"), (2, "/then-close"), (3, "/close-header"),
                                                       (4, "/len/1")]


def test_a_reused_connection_closed_before_any_answer_resends_once() -> None:
    async def scenario(server: Server, connection: Any) -> None:
        await connection.request("GET", "/len/1")
        response = await connection.request("POST", "/drop-once", body=b"{}")
        assert (response.status, response.body, connection.resent) == (200, b"again", 1)

    server = run(scenario)
    # The server dropped the first copy unanswered and read the second on a new connection.
    assert [(r[0], r[1], r[2]) for r in server.requests] == [(1, "GET", "/len/1"), (1, "POST", "/drop-once"),
                                                             (2, "POST", "/drop-once")]


@pytest.mark.parametrize(("path", "warm", "kind"), [
    ("/drop", False, "RemoteProtocolError"),  # a fresh connection: the server's failure, reported
    ("/drop", True, "RemoteProtocolError"),  # resent once, dropped again: reported, not sent a third time
    ("/partial", True, "RemoteProtocolError"),  # part of an answer came back: never resent
    ("/slow", True, "ReadTimeout"),
    ("/garbage", False, "RemoteProtocolError"),
])
def test_no_answer_is_a_transport_error_by_kind(path: str, warm: bool, kind: str) -> None:
    async def scenario(server: Server, connection: Any) -> None:
        if warm:
            await connection.request("GET", "/len/1")
        with pytest.raises(httpclient.TransportError) as raised:
            await connection.request("POST", path, body=b"{}")
        assert raised.value.kind == kind
        assert (await connection.request("GET", "/len/2")).body == b"xx"  # and the next request gets through

    server = run(scenario)
    sent = [r[2] for r in server.requests if r[2] == path]
    assert len(sent) == (2 if (warm and path == "/drop") else 1)


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused

        async def scenario() -> None:
            with pytest.raises(httpclient.TransportError) as raised:
                await httpclient.Connection("127.0.0.1", port).request("GET", "/")
            assert raised.value.kind == "ConnectError"
            assert isinstance(raised.value.__cause__, OSError)

        run_in_thread(scenario())
