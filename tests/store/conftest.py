"""The store adapters' fixtures. ``store`` and ``outbox_store`` are parametrised over every
adapter (through ``adapter``), so each test that takes one is part of the contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl.store import Store, open_store
from notifyctl.store.mongodb.store import MongoStore
from tests.conftest import make_config
from tests.mongodb_server import callers_now

STORE_ADAPTERS = ["sqlite", "mongodb"]


@pytest.fixture(params=STORE_ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    """The name of the store adapter under test."""
    name: str = request.param
    return name


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
