"""The PostgreSQL store's connections: the pool, the start-up wait and migration, and errors.

Apart from the store's statements because this is where the server's availability is dealt
with: a store started before its server waits for it here (with backoff), and ``translated`` is
the one place driver errors become the port's StoreUnavailable (the server cannot be reached, a
connection broke, the pool has none to give) or StoreError (anything else), so none leaves the
adapter. Connections are in autocommit: a single statement is its own transaction, and a call
that needs more than one statement asks for ``transaction``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from notifyctl.config import redacted
from notifyctl.errors import ConfigError, StoreError, StoreUnavailable
from notifyctl.store.postgresql.migrations import migrate
from notifyctl.store.postgresql.pool import PoolSize, pool_stats, without_pool_options
from notifyctl.store.postgresql.startup_errors import (
    lasting_advice,
    require_database,
    rights_advice,
)

log = logging.getLogger("notifyctl.store.postgresql")
STARTUP_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 10
#: how long a call waits for a free connection before the store counts as unavailable
CHECKOUT_TIMEOUT_S = 30.0


@contextmanager
def translated(url: str, doing: str) -> Iterator[None]:
    """``url`` is the redacted one: it goes into the message."""
    try:
        yield
    except (psycopg.OperationalError, PoolTimeout) as exc:
        raise StoreUnavailable(f"postgresql store {url}: {doing}: {one_line(exc)}") from exc
    except psycopg.Error as exc:
        raise StoreError(f"postgresql store {url}: {doing}: {one_line(exc)}") from exc


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def connection_options(conninfo: str) -> dict[str, Any]:
    """Autocommit, and defaults for what the URL leaves out (the URL's own options win)."""
    given = psycopg.conninfo.conninfo_to_dict(conninfo)
    options: dict[str, Any] = {"autocommit": True, "fallback_application_name": "notifyctl"}
    if "connect_timeout" not in given:
        options["connect_timeout"] = CONNECT_TIMEOUT_S
    return options


def configure(durable: bool) -> Callable[[psycopg.Connection[Any]], None]:
    """Each new connection's session settings. ``durable=False``: commits do not wait for the
    WAL flush (``synchronous_commit=off``), for writes whose loss after a server crash only
    causes a redelivery (a worker's outcomes), as SQLite's ``synchronous=normal`` for workers."""

    def configured(conn: psycopg.Connection[Any]) -> None:
        if not durable:
            conn.execute("SET synchronous_commit = off")

    return configured


def connect_once(conninfo: str) -> psycopg.Connection[Any]:
    """One connection outside the pool (start-up, and the LISTEN of wake-ups)."""
    return psycopg.connect(conninfo, **connection_options(conninfo))


def prepare_schema(conninfo: str, url: str, attempts: int) -> None:
    """Reach the server and migrate the schema, retrying with backoff while it is down; a
    refusal no retry mends (``startup_errors``) stops at once, saying what to do."""
    for attempt in range(1, attempts + 1):
        try:
            with translated(url, "start-up"), connect_once(conninfo) as conn:
                migrate_as_role(conn, url)
            return
        except StoreUnavailable as exc:
            if (advice := lasting_advice(str(exc))) is not None:
                raise StoreUnavailable(f"{exc}: {advice}") from None
            if attempt == attempts:
                raise StoreUnavailable(
                    f"{exc}; gave up after {attempts} attempts: check the store URL (host, port, "
                    "database, user), that PostgreSQL is running and that this host may connect"
                ) from None
            pause = min(0.5 * 2 ** (attempt - 1), 8.0)
            log.warning("%s (attempt %d of %d); again in %.1f s", exc, attempt, attempts, pause)
            time.sleep(pause)


def migrate_as_role(conn: psycopg.Connection[Any], url: str) -> None:
    """``migrate``, a role without the rights to create the tables told what to grant."""
    try:
        migrate(conn)
    except psycopg.Error as exc:
        advice = rights_advice(exc)
        if advice is None:
            raise
        refusal = exc.diag.message_primary or one_line(exc)
        raise StoreError(
            f"postgresql store {url}: start-up: creating notifyctl's tables as role "
            f"{conn.info.user!r}: {refusal}: {advice}"
        ) from None


def wakeup_channel(schema: str) -> str:
    """The NOTIFY channel of the store in ``schema``: channels are per database, so stores in
    other schemas of the same database do not wake each other (at most 63 bytes, a name's)."""
    return f"notifyctl.{schema}".encode()[:63].decode(errors="ignore")


class Database:
    """The pool of one store object, shared by a process's threads."""

    def __init__(
        self, url: str, size: PoolSize, durable: bool = True, attempts: int = STARTUP_ATTEMPTS
    ) -> None:
        self.url = redacted(url)
        self.conninfo = without_pool_options(url)
        self.size = size
        try:
            psycopg.conninfo.conninfo_to_dict(self.conninfo)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(
                f"store URL {self.url}: not a usable PostgreSQL URL ({exc})"
            ) from None
        require_database(self.conninfo, self.url)
        prepare_schema(self.conninfo, self.url, attempts)
        self._pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.conninfo, min_size=size.min, max_size=size.max, open=False,
            kwargs=connection_options(self.conninfo), configure=configure(durable),
            timeout=CHECKOUT_TIMEOUT_S, name="notifyctl",
        )  # fmt: skip
        self._pool.open()
        self._checker: threading.Thread | None = None
        self._checking = threading.Lock()
        self.wakeup_channel = wakeup_channel(self._schema())

    def _schema(self) -> str:
        with self.connection("start-up") as conn:
            row = conn.execute("SELECT current_schema()").fetchone()
        return str(row[0]) if row else "public"

    @contextmanager
    def connection(
        self, doing: str, timeout: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection in autocommit, errors translated; ``timeout``: the wait for a
        free connection (the pool's own by default)."""
        with translated(self.url, doing), self._pool.connection(timeout) as conn:
            try:
                yield conn
            finally:
                if conn.broken:
                    self._connection_lost()

    def _connection_lost(self) -> None:
        """A pooled connection broke: the server restarted, failed over or ended our sessions,
        so the idle ones are most likely broken too. The pool would find each only when a call
        fails on it (one 503 or failed claim per connection); check them all now instead, on a
        thread of its own (a check of a connection that hangs must not hold up the caller),
        one check at a time."""
        if not self._checking.acquire(blocking=False):
            return
        self._checker = threading.Thread(
            target=self._check_idle, name="notifyctl-pool-check", daemon=True
        )
        self._checker.start()

    def _check_idle(self) -> None:
        try:
            self._pool.check()  # each idle connection: kept if it answers, else replaced
        except Exception as exc:  # a failed check only leaves the pool as it was
            log.warning("postgresql store %s: checking idle connections: %s", self.url, exc)
        finally:
            self._checking.release()

    def wait_checked(self, timeout: float) -> None:
        """Wait for a check of the idle connections under way (tests)."""
        if self._checker is not None:
            self._checker.join(timeout)

    @contextmanager
    def transaction(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction: committed, or rolled back on any error."""
        with self.connection(doing) as conn, conn.transaction():
            yield conn

    @contextmanager
    def cursor(self, doing: str) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor of a pooled connection, for one statement (its own transaction)."""
        with self.connection(doing) as conn, conn.cursor() as cur:
            yield cur

    def pool_stats(self) -> dict[str, int]:
        return pool_stats(self._pool, self.size)

    def close(self) -> None:
        self._pool.close()
