"""The suite cannot reach the internet by accident."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.network_guard import ExternalConnection


def test_a_connection_outside_loopback_fails_at_once() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(ExternalConnection, match=r"203\.0\.113\.7"),
    ):
        sock.connect(("203.0.113.7", 443))


def test_http_clients_are_refused_too() -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get("https://203.0.113.7/", timeout=1)


def test_loopback_is_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
