"""The suite never reaches beyond this machine: pytest-socket (configured in pyproject's ``addopts``)
refuses a connection to any address but the loopback ones, and lets loopback and Unix sockets through."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pytest_socket import SocketConnectBlockedError


def test_a_connection_beyond_the_loopback_is_refused_before_it_leaves() -> None:
    # The guard also warns, which ``filterwarnings = ["error"]`` turns into a failure where not expected.
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.warns(UserWarning, match="192.0.2.1"),
        pytest.raises(SocketConnectBlockedError),
    ):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routed, refused by the guard first


def test_loopback_connections_are_allowed() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            conn, _ = server.accept()
            conn.close()


def test_unix_sockets_are_allowed(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            conn, _ = server.accept()
            conn.close()
