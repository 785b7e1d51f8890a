"""Shared fixtures. The ``store`` fixture is parametrised over every store adapter, so each test
that takes it is part of the store contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl import config as config_module
from notifyctl.channels.destinations import LOOPBACK_ONLY
from notifyctl.config import Config
from notifyctl.store import Store, open_store
from notifyctl.store.mongodb.store import MongoStore
from tests.mongodb_server import (
    callers_now,
    drop_database,
    fresh_database_name,
    mongodb_base_url,
    with_database,
)

STORE_ADAPTERS = ["sqlite", "mongodb"]


def make_config(tmp_path: Path, **overrides: object) -> Config:
    flags = {
        "data_dir": str(tmp_path / "data"),
        "monitor_port_base": 0,
        "webhook_allow": LOOPBACK_ONLY,  # the tests' receivers listen on loopback
        **overrides,
    }
    return config_module.load(flags, environ={})


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


@pytest.fixture(scope="session")
def mongodb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the MongoDB server of this test session (see tests/mongodb_server.py)."""
    with mongodb_base_url(tmp_path_factory.mktemp("mongodb")) as url:
        yield url


@pytest.fixture
def mongodb_url(mongodb_server: str) -> Iterator[str]:
    """A URL naming a fresh database of its own, dropped after the test."""
    url = with_database(mongodb_server, fresh_database_name())
    yield url
    drop_database(url)


def open_adapter(request: pytest.FixtureRequest, tmp_path: Path, **overrides: object) -> Store:
    """The store adapter ``request.param`` names, opened as ``make_config`` configures it."""
    if request.param == "sqlite":
        return open_store(make_config(tmp_path, **overrides))
    if request.param == "mongodb":
        # the contract passes time in explicitly: the server's clock is the caller's here
        url = request.getfixturevalue("mongodb_url")
        config = make_config(tmp_path, store_url=url, **overrides)
        return MongoStore.from_config(config, now_expression=callers_now)
    raise AssertionError(request.param)  # pragma: no cover - a new adapter must add its case


@pytest.fixture(params=STORE_ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened = open_adapter(request, tmp_path)
    yield opened
    opened.close()


@pytest.fixture(params=STORE_ADAPTERS)
def outbox_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of a deployment with a broker: it keeps the dead-letter outbox (nothing here
    connects to the broker; the URL only has to name one)."""
    opened = open_adapter(request, tmp_path, rabbitmq_url="amqp://guest:guest@127.0.0.1:1/%2F")
    yield opened
    opened.close()


@pytest.fixture
def rabbit_group() -> Iterator[str]:
    """A RabbitMQ consumer group (queue) of this test's own, deleted afterwards."""
    import uuid

    from tests.rabbit import delete_queues, rabbitmq_available, require_rabbitmq

    require_rabbitmq()
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    if rabbitmq_available():
        delete_queues(name, f"{name}.dead-letters")
