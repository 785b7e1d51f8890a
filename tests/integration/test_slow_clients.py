"""A client trickling its request one byte a second cannot hold a connection to the served API:
the head and the body each have a deadline (NOTIFYCTL_HEADER_TIMEOUT_MS, _BODY_TIMEOUT_MS).

A real ``notifyctl api`` process and a real socket; every loop is bounded by the bytes it sends,
and nothing asserts how long anything took."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import api_health, free_port, start_api, stop, wait_until

pytestmark = pytest.mark.integration  # a real API process and real sockets

HEAD = b"GET /health HTTP/1.1\r\nHost: api\r\nX-Pad: abcdefghij\r\n\r\n"
BODY = b'{"user_id": "u", "channel": "log", "title": "slow"}'
BODY_HEAD = (
    b"POST /v1/notifications HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
    + b"Content-Length: %d\r\n\r\n" % len(BODY)
)


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp("slow-clients")
    config = make_config(directory, header_timeout_ms=1_000, body_timeout_ms=1_000)
    open_store(config).close()  # the store exists before the API starts
    chosen = free_port()
    process = start_api(config, chosen)
    try:
        wait_until(lambda: api_health(f"http://127.0.0.1:{chosen}") is not None, 60, "the API")
        yield chosen
    finally:
        stop(process)


def trickle(sock: socket.socket, data: bytes) -> tuple[int, bytes]:
    """Send ``data`` one byte a second until the server answers or closes: how many bytes went
    out, and what came back (nothing if all of it went out unanswered)."""
    for sent in range(len(data)):
        try:
            sock.sendall(data[sent : sent + 1])
        except OSError:  # closed on us
            return sent, b""
        readable, _, _ = select.select([sock], [], [], 1.0)  # the second between two bytes
        if readable:
            return sent + 1, read_to_end(sock)
    return len(data), b""


def read_to_end(sock: socket.socket) -> bytes:
    chunks = []
    for _ in range(100):  # bounded: a closed connection reads empty
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def test_a_trickled_head_gets_408_and_the_connection_closed(port: int) -> None:
    with connect(port) as sock:
        sent, answer = trickle(sock, HEAD)
    assert sent < len(HEAD), "the whole head went out one byte a second: no deadline"
    assert answer.startswith(b"HTTP/1.1 408") and b"header_timeout" in answer


def test_a_trickled_body_gets_408_and_the_connection_closed(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(BODY_HEAD)
        sent, answer = trickle(sock, BODY)
    assert sent < len(BODY), "the whole body went out one byte a second: no deadline"
    assert answer.startswith(b"HTTP/1.1 408") and b"body_timeout" in answer
    assert b"connection: close" in answer.lower()


def test_a_keep_alive_connection_may_idle_longer_than_the_head_deadline(port: int) -> None:
    # nginx keeps idle upstream connections open: the clock starts at a head's first byte
    request = b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n"
    with connect(port) as sock:
        for _ in range(2):
            sock.sendall(request)
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(2)  # twice the head deadline, idle


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head, then Content-Length bytes) off a kept-alive connection."""
    data = b""
    for _ in range(100):  # bounded: a response comes in a few reads
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                       if line.startswith(b"content-length:")), None)  # fmt: skip
        if length is not None and len(body) >= length:
            return data
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data
