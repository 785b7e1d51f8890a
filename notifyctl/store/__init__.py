"""Store adapters behind one port. ``open_store`` picks one by URL scheme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, cast

from notifyctl.config import Config
from notifyctl.errors import ConfigError
from notifyctl.store.base import Store

__all__ = ["InsertListener", "Store", "listen_for_inserts", "open_store"]

POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def open_store(config: Config, *, durable_writes: bool = True) -> Store:
    """Open the store that ``config.store_url`` names.

    ``durable_writes=False`` lets a role trade fsync-per-commit for speed where a lost write after
    power loss only causes a redelivery (worker completions), never a lost notification.
    """
    url = config.store_url
    if url.startswith("sqlite:///"):
        from notifyctl.store.sqlite.store import SqliteStore

        synchronous = config.sqlite_synchronous if durable_writes else "normal"
        return SqliteStore(
            url, synchronous=synchronous, priority_ageing_ms=config.priority_ageing_ms,
            dead_letter_outbox=dead_letter_outbox(config),
        )  # fmt: skip
    if url.startswith(("mongodb://", "mongodb+srv://")):
        return open_mongodb(config)
    if url.startswith(POSTGRESQL_SCHEMES):
        return open_postgresql(config, durable_writes)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigError(
        f"NOTIFYCTL_STORE_URL: unsupported store {scheme!r} in {url!r}; "
        "use sqlite:///path/to/notifyctl.db, mongodb://host/database or "
        "postgresql://user@host/database"
    )


class InsertListener(Protocol):
    def close(self) -> None: ...


def listen_for_inserts(store: Store, on_insert: Callable[[], None]) -> InsertListener | None:
    """Wake-ups without a broker, where the store sends them (PostgreSQL's LISTEN/NOTIFY):
    ``on_insert`` is called, on a thread of the store's, whenever something due now may have
    been stored. None for a store that sends none (its workers poll)."""
    listen = getattr(store, "listen_for_inserts", None)
    return None if listen is None else cast(InsertListener, listen(on_insert))


def dead_letter_outbox(config: Config) -> bool:
    """Deaths are marked for the dead-letter publisher only where a broker will publish them
    (see ``notifyctl.store.base``)."""
    return config.rabbitmq_url != "none"


def open_mongodb(config: Config) -> Store:
    try:
        from notifyctl.store.mongodb.store import MongoStore
    except ModuleNotFoundError as exc:
        if exc.name not in ("pymongo", "bson"):
            raise
        raise ConfigError(
            "store URL: a mongodb:// store needs the pymongo driver, which is not installed "
            "here; pip install pymongo (or reinstall notifyctl with its dependencies)"
        ) from None
    return MongoStore.from_config(config)


def open_postgresql(config: Config, durable_writes: bool) -> Store:
    try:
        from notifyctl.store.postgresql.store import PostgresStore
    except ModuleNotFoundError as exc:
        if exc.name not in ("psycopg", "psycopg_pool", "psycopg_binary"):
            raise
        raise ConfigError(
            "store URL: a postgresql:// store needs the psycopg driver and its pool, which are "
            "not installed here; pip install 'psycopg[binary,pool]' (or reinstall notifyctl "
            "with its dependencies)"
        ) from None
    return PostgresStore.from_config(config, durable=durable_writes)
