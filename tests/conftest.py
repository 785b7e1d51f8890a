"""Shared fixtures. The ``store`` fixture is parametrised over every store adapter, so each test
that takes it is part of the store contract suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl import config as config_module
from notifyctl.config import Config
from notifyctl.destinations import LOOPBACK_ONLY
from notifyctl.store import Store, open_store

STORE_ADAPTERS = ["sqlite"]


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


@pytest.fixture(params=STORE_ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = open_store(make_config(tmp_path))
    else:  # pragma: no cover - a new adapter must add its fixture here
        raise AssertionError(request.param)
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
