"""Wake-ups without a broker: workers ``LISTEN`` for the ``NOTIFY`` an insert sends.

``insert_many`` sends one ``NOTIFY`` per batch with something due now, delivered by PostgreSQL
only once the batch commits (``inserts.py``). A worker without a broker listens on a connection
of its own (LISTEN holds a session, so never a pooled one), on a thread of its own, and calls
``on_insert`` for each notification it receives: the worker's sweep claims at once instead of
waiting out its rest. A lost connection is opened again with backoff, and ``on_insert`` is
called once it listens again (inserts meanwhile sent their NOTIFY to nobody). A missed wake-up
costs latency only: the sweep still finds everything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg import sql

from notifyctl.store.postgresql.connection import connect_once, one_line

log = logging.getLogger("notifyctl.store.postgresql")
#: how long one wait for notifications lasts, so a close is noticed soon
WAIT_S = 1.0
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 30.0


class InsertListener:
    """One thread, one connection: ``on_insert`` (called on that thread) for every NOTIFY."""

    def __init__(self, conninfo: str, channel: str, url: str, on_insert: Callable[[], None]):
        self._conninfo, self._channel, self._url = conninfo, channel, url
        self._on_insert = on_insert
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notifyctl-listen", daemon=True)

    def start(self) -> InsertListener:
        self._thread.start()
        return self

    def _run(self) -> None:
        pause = RECONNECT_FIRST_S
        while not self._closing.is_set():
            try:
                self._listen()
                pause = RECONNECT_FIRST_S
            except psycopg.Error as exc:
                log.warning(
                    "postgresql store %s: listening for inserts: %s; again in %.1f s",
                    self._url, one_line(exc), pause,
                )  # fmt: skip
                self._closing.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_S)

    def _listen(self) -> None:
        with connect_once(self._conninfo) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self._on_insert()  # what was inserted while nobody listened
            while not self._closing.is_set():
                for _ in conn.notifies(timeout=WAIT_S):
                    self._on_insert()
                    if self._closing.is_set():
                        return

    def close(self) -> None:
        self._closing.set()
        self._thread.join(WAIT_S * 5)
