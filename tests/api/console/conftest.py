"""A console on a real SQLite store, with keys of every kind: the deployment's own
(NOTIFYCTL_API_KEYS: an operator), and store keys of tenant acme with ``read`` only, with
``read`` and ``admin``, and one of tenant globex."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.config import Config
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

OPERATOR = "operator-key-0123456789abcdef"
READER = "nk_acme_reader_0123456789abcdef"
ADMIN = "nk_acme_admin_0123456789abcdef"
GLOBEX = "nk_globex_0123456789abcdef"
KEYS = {
    READER: ("acme", {Scope.READ}),
    ADMIN: ("acme", {Scope.READ, Scope.ADMIN}),
    GLOBEX: ("globex", {Scope.READ, Scope.ADMIN}),
}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path, api_keys=OPERATOR)


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = open_store(config)
    for number, (key, (tenant, scopes)) in enumerate(KEYS.items()):
        opened.create_key(
            KeyRecord(f"key_{number:016x}", tenant, "", frozenset(scopes), key_digest(key), 1)
        )
    yield opened
    opened.close()


@pytest.fixture
def client(config: Config, store: Store) -> Iterator[TestClient]:
    with TestClient(build_app(config, store), base_url="http://testserver") as test_client:
        yield test_client


def sign_in(client: TestClient, key: str) -> None:
    answer = client.post("/console/login", data={"key": key}, follow_redirects=False)
    assert answer.status_code == 303, answer.text


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)
