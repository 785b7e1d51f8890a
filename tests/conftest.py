"""Shared fixtures: a configuration in a temporary directory, the session's MongoDB server (the
store tests, the configuration's and the integration tests use it) and a RabbitMQ group of a
test's own. The store adapters' fixtures are in ``tests/store/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl import config as config_module
from notifyctl.channels.destinations import LOOPBACK_ONLY
from notifyctl.config import Config
from tests.mongodb_server import drop_database, fresh_database_name, mongodb_base_url, with_database


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
