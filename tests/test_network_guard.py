"""The test suite cannot reach the network: the guard in conftest.py refuses and records."""

import socket

import pytest

REFUSED = dict(match="tests must not use the network")


def test_outbound_connections_and_lookups_are_refused(network_attempts):
    with pytest.raises(RuntimeError, **REFUSED):
        socket.create_connection(("192.0.2.1", 443), timeout=0.5)
    with pytest.raises(RuntimeError, **REFUSED):
        socket.getaddrinfo("huggingface.co", 443)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    with pytest.raises(RuntimeError, **REFUSED):
        sock.connect_ex(("2001:db8::1", 80, 0, 0))
    sock.close()
    assert len(network_attempts) == 3
    network_attempts.clear()  # expected here; any other test with attempts fails


def test_loopback_stays_usable():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
