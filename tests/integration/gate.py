"""A TCP gate in front of the real RabbitMQ, for tests of broker outages that leave the shared
server alone (other tests, and other people, use it meanwhile).

Shut, the gate accepts each connection and drops it at once: to the client, the broker is down.
Open, it relays each new connection to RabbitMQ. ``shut`` also cuts the connections it relays.
Everything runs on daemon threads bounded by short socket timeouts; ``close`` stops them all.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

POLL_S = 0.2


class Gate:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self._upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL_S)
        self.port = int(self._listener.getsockname()[1])
        self._open = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._relayed: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def url(self, credentials: str = "guest:guest") -> str:
        return f"amqp://{credentials}@127.0.0.1:{self.port}/%2F"

    def open(self) -> None:
        self._open.set()

    def shut(self) -> None:
        self._open.clear()
        with self._lock:
            relayed, self._relayed = self._relayed, []
        for sock in relayed:
            close(sock)

    def close(self) -> None:
        self._closed.set()
        self.shut()
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if not self._open.is_set():
                close(client)
                continue
            self._relay(client)

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            close(client)
            return
        with self._lock:
            self._relayed += [client, upstream]
        for source, target in ((client, upstream), (upstream, client)):
            source.settimeout(None)
            thread = threading.Thread(target=pump, args=(source, target), daemon=True)
            self._threads.append(thread)
            thread.start()


def pump(source: socket.socket, target: socket.socket) -> None:
    """Copy one direction until either side closes; then close both."""
    try:
        while data := source.recv(65_536):
            target.sendall(data)
    except OSError:
        return
    finally:
        close(source)
        close(target)


def close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the other side
        sock.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv on it
    sock.close()
