"""The store adapters' fixtures. ``store`` and ``outbox_store`` are parametrised over every
adapter (through ``adapter``), so each test that takes one is part of the contract suite.

Where the port lets adapters differ, a test says so with
``@pytest.mark.adapter_may_differ("<difference>")`` and reads what the adapter under test does
from ``adapter_gives``, instead of asking which adapter it runs on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl.store import Store, open_store
from notifyctl.store.mongodb.store import MongoStore
from notifyctl.store.postgresql.clock import CALLERS_NOW
from notifyctl.store.postgresql.store import PostgresStore
from tests.conftest import make_config
from tests.mongodb_server import callers_now
from tests.postgres_server import postgresql_server, postgresql_url

__all__ = ["postgresql_server", "postgresql_url"]  # fixtures, for every test under tests/store

STORE_ADAPTERS = ["sqlite", "mongodb", "postgresql"]

#: where the port lets adapters differ, what each one does: the same facts as the "Features"
#: block of ``notifyctl/store/<adapter>/__init__.py`` (a new adapter adds its column here)
ADAPTER_DIFFERENCES: dict[str, dict[str, bool]] = {
    # claim_ids itself buries an exhausted id it was named (else it waits for claim_batch)
    "claim_ids burial": {"sqlite": False, "mongodb": True, "postgresql": True},
    # a failed insert_many stored nothing (one transaction), rather than the items before the error
    "insert_many all or nothing": {"sqlite": True, "mongodb": False, "postgresql": True},
}


@pytest.fixture(params=STORE_ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """The name of the store adapter under test."""
    name: str = request.param
    return name


@pytest.fixture
def adapter_gives(request: pytest.FixtureRequest, adapter: str) -> bool:
    """Whether the adapter under test gives what the test's ``adapter_may_differ`` marker
    names (see ``ADAPTER_DIFFERENCES``)."""
    marker = request.node.get_closest_marker("adapter_may_differ")
    if marker is None:
        raise pytest.UsageError("adapter_gives needs @pytest.mark.adapter_may_differ(...)")
    (difference,) = marker.args
    if difference not in ADAPTER_DIFFERENCES:
        raise pytest.UsageError(f"{difference!r} is not in ADAPTER_DIFFERENCES")
    return ADAPTER_DIFFERENCES[difference][adapter]


def open_adapter(
    request: pytest.FixtureRequest, adapter: str, tmp_path: Path, **overrides: object
) -> Store:
    """The store adapter named ``adapter``, opened as ``make_config`` configures it."""
    if adapter == "sqlite":
        return open_store(make_config(tmp_path, **overrides))
    if adapter == "mongodb":
        # the contract passes time in explicitly: the server's clock is the caller's here
        url = request.getfixturevalue("mongodb_url")
        config = make_config(tmp_path, store_url=url, **overrides)
        return MongoStore.from_config(config, now_expression=callers_now)
    if adapter == "postgresql":
        # as on MongoDB: the caller's time stands in for the server's clock
        url = request.getfixturevalue("postgresql_url")
        config = make_config(tmp_path, store_url=url, **overrides)
        return PostgresStore.from_config(config, clock=CALLERS_NOW)
    raise AssertionError(adapter)  # pragma: no cover - a new adapter must add its case


@pytest.fixture
def store(request: pytest.FixtureRequest, adapter: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_adapter(request, adapter, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def outbox_store(request: pytest.FixtureRequest, adapter: str, tmp_path: Path) -> Iterator[Store]:
    """A store of a deployment with a broker: it keeps the dead-letter outbox (nothing here
    connects to the broker; the URL only has to name one)."""
    overrides = {"rabbitmq_url": "amqp://guest:guest@127.0.0.1:1/%2F"}
    opened = open_adapter(request, adapter, tmp_path, **overrides)
    yield opened
    opened.close()
