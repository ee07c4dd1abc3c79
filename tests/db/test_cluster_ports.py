"""The embedded cluster's port check: a listener takes a port, a just-stopped server does not."""

from __future__ import annotations

import socket

from gis.db.cluster import _port_is_free


def test_a_listening_port_is_taken_and_time_wait_leftovers_are_not() -> None:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert not _port_is_free(port)
    # The server side closes first, as PostgreSQL does on shutdown: its port is left in TIME_WAIT.
    accepted.close()
    client.close()
    server.close()
    assert _port_is_free(port)
