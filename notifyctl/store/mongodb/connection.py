"""The MongoDB store's client: opening it, waiting for the server at start-up, translating errors.

Apart from the store's queries because this is where the server's availability is dealt with:
a store started before its server waits for it here (with backoff), and ``translated`` is the one
place driver exceptions become the port's StoreUnavailable or StoreError, so none leaves the
adapter. ``MongoStore`` wraps every call to the server in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from bson.errors import BSONError
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError, ConnectionFailure, PyMongoError

from notifyctl.config import redacted
from notifyctl.errors import ConfigError, StoreError, StoreUnavailable
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.pool import PoolSize, PoolStats, client_options

# the adapter logs under one name, as it did when it was one module
log = logging.getLogger("notifyctl.store.mongodb")
Document = dict[str, Any]
DEFAULT_DATABASE = "notifyctl"
STARTUP_ATTEMPTS = 5


@contextmanager
def translated(url: str, doing: str) -> Iterator[None]:
    """``url`` is the redacted one: it goes into the message."""
    try:
        yield
    except ConnectionFailure as exc:
        raise StoreUnavailable(f"mongodb store {url}: {doing}: {exc}") from exc
    except (PyMongoError, BSONError) as exc:
        raise StoreError(f"mongodb store {url}: {doing}: {exc}") from exc


def open_client(
    url: str, size: PoolSize, stats: PoolStats
) -> tuple[MongoClient[Document], Database[Document]]:
    """The client (it connects in the background) and the URL's database; nothing is sent yet."""
    try:
        client: MongoClient[Document] = MongoClient(
            url, event_listeners=[stats], **client_options(url, size)
        )
        database = client.get_default_database(DEFAULT_DATABASE)
    except (ConfigurationError, ValueError, TypeError) as exc:
        raise ConfigError(f"store URL {redacted(url)}: not a usable MongoDB URL ({exc})") from None
    return client, database


def start(
    client: MongoClient[Document],
    database: Database[Document],
    url: str,
    attempts: int,
    retention_days: int,
) -> None:
    """Reach the server and set up the indexes, retrying with backoff while it is down.

    The client is closed when this raises, so a store that failed to start holds no sockets.
    """
    for attempt in range(1, attempts + 1):
        try:
            with translated(url, "start-up"):
                client.admin.command("ping")
                schema.ensure_indexes(database, retention_days)
            return
        except StoreUnavailable as exc:
            if attempt == attempts:
                client.close()
                raise StoreUnavailable(
                    f"{exc}; gave up after {attempts} attempts: check the store URL, that "
                    "MongoDB is running and that this host can reach it"
                ) from None
            pause = min(0.5 * 2 ** (attempt - 1), 8.0)
            log.warning("%s (attempt %d of %d); again in %.1f s", exc, attempt, attempts, pause)
            time.sleep(pause)
        except StoreError:
            client.close()
            raise


class Translating:
    """What the store's parts share: ``_translated``, driver errors as ``StoreError`` naming the
    store (``url``, redacted) and what it was doing."""

    url: str

    def _translated(self, doing: str) -> AbstractContextManager[None]:
        return translated(self.url, doing)
